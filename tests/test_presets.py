"""configs/: the seed recipes and one preset per seed-table row, in sync with shiftnet.report."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from shiftnet.config import load_config
from shiftnet.report import SEED_C10_NOV2017, preset_rows

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("make_presets", REPO / "scripts" / "make_presets.py")
make_presets = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_presets)


def test_committed_presets_are_what_the_generator_writes():
    expected = {f"{p['dataset']}/{p['name']}.yaml": make_presets.render(p) for p in preset_rows()}
    committed = {str(path.relative_to(REPO / "configs")): path.read_text()
                 for path in (REPO / "configs").glob("cifar*/*.yaml")}
    assert committed == expected, "run: python scripts/make_presets.py"


@pytest.mark.parametrize("preset", preset_rows(), ids=lambda p: p["name"])
def test_every_preset_loads_and_builds_its_row(preset):
    config = load_config(REPO / "configs" / preset["dataset"] / f"{preset['name']}.yaml")
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
