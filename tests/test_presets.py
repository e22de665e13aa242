"""Presets: the seed recipes and one preset per seed-table row, shipped inside the package (a plain
``pip install .`` keeps them), in sync with shiftnet.published."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from shiftnet.cli.train import resolve_config_path
from shiftnet.config import load_config
from shiftnet.errors import UsageError
from shiftnet.presets import find_preset, preset_names, presets_dir
from shiftnet.presets.rows import preset_rows
from shiftnet.published import SEED_C10_NOV2017

from .helpers import make_ready_cifar10

REPO = Path(__file__).resolve().parents[1]
PRESETS = REPO / "shiftnet" / "presets"
spec = importlib.util.spec_from_file_location("make_presets", REPO / "scripts" / "make_presets.py")
make_presets = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_presets)


def test_committed_presets_are_what_the_generator_writes():
    expected = {f"{p['dataset']}/{p['name']}.yaml": make_presets.render(p) for p in preset_rows()}
    committed = {path.relative_to(PRESETS).as_posix(): path.read_text() for path in PRESETS.glob("cifar*/*.yaml")}
    assert committed == expected, "run: python scripts/make_presets.py"


def test_there_is_one_home_for_presets():
    """The repository root has no second copy that could drift from the shipped one."""
    assert not (REPO / "configs").exists()
    assert presets_dir() == PRESETS


@pytest.mark.parametrize("preset", preset_rows(), ids=lambda p: p["name"])
def test_every_preset_loads_and_builds_its_row(preset):
    path = resolve_config_path(preset["name"])
    assert path == PRESETS / preset["dataset"] / f"{preset['name']}.yaml"
    config = load_config(path)
    model = config.model_spec()
    assert config.data.dataset == preset["dataset"] and config.optim.epochs == 164
    assert model.num_classes == (10 if preset["dataset"] == "cifar10" else 100)
    assert model.arch == preset["model"]["arch"] and model.depth == preset["model"]["depth"]


def test_every_table_row_has_presets():
    names = {p["name"] for p in preset_rows()}
    for dataset in ("cifar10", "cifar100"):
        for row in SEED_C10_NOV2017:
            assert f"{dataset}-shiftresnet{row.depth}-a{row.expansion}c" in names
            assert f"{dataset}-resnet{row.depth}-r{row.r:g}-legacy" in names
        for depth in (20, 56, 110):
            assert f"{dataset}-resnet{depth}" in names


def test_names_and_files(tmp_path, monkeypatch):
    assert set(preset_names()[:2]) == {"seed", "seed-faithful"}
    assert sorted(preset_names()) == sorted(["seed", "seed-faithful"] + [p["name"] for p in preset_rows()])
    for bad in ("", "../seed", "cifar10/cifar10-resnet20", ".hidden", "__init__", "no-such-preset"):
        assert find_preset(bad) is None, bad
    own = tmp_path / "seed-faithful"  # a file the user names wins over the preset of the same name
    own.write_text("optim:\n  epochs: 7\n")
    monkeypatch.chdir(tmp_path)
    assert resolve_config_path("seed-faithful") == Path("seed-faithful")
    assert load_config(resolve_config_path("seed-faithful")).optim.epochs == 7
    assert load_config(resolve_config_path(str(PRESETS / "seed.yaml"))).optim.epochs == 164
    with pytest.raises(UsageError, match=r"--config nope: no such file or preset .*shiftresnet20-a3c; 76 in all"):
        resolve_config_path("nope")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built the way ``pip install .`` builds one, from a copy of the source tree (so that the
    build folders setuptools leaves behind do not land in the repository)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    top = {".git", ".venv", "build", "results", "runs", "data", "checkpoints", ".pytest_cache"}

    def ignore(folder, names):
        return [n for n in names
                if n == "__pycache__" or n.endswith(".egg-info") or (Path(folder) == REPO and n in top)]

    shutil.copytree(REPO, source, ignore=ignore)
    out = work / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                    "--no-index", "-q", "-w", str(out)], check=True, capture_output=True, timeout=300)
    (built,) = out.glob("shiftnet-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_holds_every_preset(wheel):
    with zipfile.ZipFile(wheel) as archive:
        shipped = {n for n in archive.namelist() if n.startswith("shiftnet/presets/") and n.endswith(".yaml")}
        seed = yaml.safe_load(archive.read("shiftnet/presets/seed.yaml"))
    expected = {f"shiftnet/presets/{p.relative_to(PRESETS).as_posix()}" for p in PRESETS.rglob("*.yaml")}
    assert len(expected) == len(preset_rows()) + 2 and shipped == expected
    assert seed["optim"]["milestones"] == [82, 123]


@pytest.mark.slow
def test_installed_wheel_trains_seed_faithful_from_another_folder(wheel, tmp_path):
    """What ``pip install .`` (not -e) gives: the wheel's files in site-packages, the repository nowhere
    on the path; ``shiftnet train --config seed-faithful`` run from an unrelated folder."""
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "SHIFTNET_DATA": str(make_ready_cifar10(tmp_path / "data"))}
    probe = subprocess.run([sys.executable, "-c", "import importlib; "
                            "t = importlib.import_module('shiftnet.cli.train'); "
                            "print(t.__file__); print(t.resolve_config_path('seed-faithful'))"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert probe.returncode == 0, probe.stderr
    module, preset = probe.stdout.split()
    assert Path(module).is_relative_to(site) and Path(preset) == site / "shiftnet" / "presets" / "seed-faithful.yaml"
    run = subprocess.run([sys.executable, "-m", "shiftnet", "train", "--config", "seed-faithful", "--arch",
                          "shiftresnet8", "--expansion", "2", "--batch-size", "16", "--device", "cpu", "--epochs", "1",
                          "--limit-batches", "1", "--name", "faithful"],
                         cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "reported (seed-faithful, selected on the test set)" in run.stdout
    saved = yaml.safe_load((elsewhere / "runs" / "faithful" / "config.yaml").read_text())
    assert saved["optim"]["reset_momentum_each_epoch"] is True and saved["run"]["bn_weight_init"] == "uniform"
    assert saved["optim"]["milestones"] == [82, 124]
