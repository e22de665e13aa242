"""Fixes from a hostile-user review: each test names the command that misbehaved and what it does now."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from shiftnet.cli import app
from shiftnet.config import dump_yaml, load_config
from shiftnet.errors import UsageError
from shiftnet.runtime import resolve_device

from .conftest import stderr_of
from .runs import QUICK, data_dir, one_line, one_thread  # noqa: F401 - fixtures

runner = CliRunner()


def test_set_none_unsets_a_key_the_config_file_gives(tmp_path):
    """``--set run.limit_batches=none`` over a file's ``limit_batches: 2`` trains every batch (it was ignored)."""
    path = tmp_path / "lim.yaml"
    path.write_text("run:\n  limit_batches: 2\ndata:\n  data_dir: /somewhere\n")
    assert load_config(path).run.limit_batches == 2
    config = load_config(path, {"run.limit_batches": None, "data.data_dir": None})
    assert config.run.limit_batches is None and config.data.data_dir is None


def test_set_none_through_the_cli_and_on_resume(data_dir, tmp_path):
    limited = tmp_path / "lim.yaml"
    limited.write_text("run:\n  limit_batches: 1\n")
    out = tmp_path / "run"
    args = ["train", *QUICK[:-2], "--config", str(limited), "--out", str(out)]
    first = runner.invoke(app, [*args, "--set", "run.limit_batches=none"])
    assert first.exit_code == 0, stderr_of(first)
    assert yaml.safe_load((out / "config.yaml").read_text())["run"]["limit_batches"] is None
    capped = tmp_path / "capped"
    assert runner.invoke(app, [*args[:-1], str(capped)]).exit_code == 0
    # a resumed run's saved limit is a setting like any other: unsetting it is a change, refused
    err = one_line(runner.invoke(app, ["train", "--out", str(capped), "--resume", "--set", "run.limit_batches=none"]),
                   2)
    assert "run.limit_batches: 1 -> None" in err


def _exported(args: list[str]):
    return runner.invoke(app, ["export", *args, "--images", "4", "--data-dir", "/nonexistent-data"])


@pytest.fixture
def weights(tmp_path) -> Path:
    from shiftnet.checkpoint import save_weights
    from shiftnet.models import ModelSpec, create_model

    spec = ModelSpec("shiftresnet", 8, expansion=1.0)
    path = tmp_path / "weights.safetensors"
    save_weights(path, create_model(spec), spec, dataset="cifar10")
    return path


def test_export_never_writes_over_a_file(weights, tmp_path):
    """A second export of the same checkpoint, or an --out that exists, is refused; the file is untouched."""
    mine = tmp_path / "mine.pt2"
    mine.write_bytes(b"the user's file")
    err = one_line(_exported([str(weights), "--format", "pt2", "--out", str(mine)]), 2)
    assert f"{mine} already exists; give another --out or remove the file" in err
    assert mine.read_bytes() == b"the user's file"
    first = _exported([str(weights), "--format", "pt2"])
    assert first.exit_code == 0, stderr_of(first)
    written = tmp_path / "weights.pt2"
    before = written.read_bytes()
    assert "already exists" in one_line(_exported([str(weights), "--format", "pt2"]), 2)
    assert written.read_bytes() == before


@pytest.mark.parametrize("fmt, name, suffixes", [("onnx", "m.pt2", ".onnx"), ("pt2", "m.onnx", ".pt2"),
                                                 ("torchscript", "m.onnx", ".pt or .torchscript"),
                                                 ("pt2", "m", ".pt2")])
def test_export_out_suffix_must_be_the_formats(weights, tmp_path, fmt, name, suffixes):
    err = one_line(_exported([str(weights), "--format", fmt, "--out", str(tmp_path / name)]), 2)
    assert f"{fmt} files end in {suffixes}" in err and not (tmp_path / name).exists()


def test_nesterov_without_momentum_is_refused_before_anything_runs(tmp_path):
    """torch's SGD refuses Nesterov with zero momentum only once the run has started, in its own words."""
    result = runner.invoke(app, ["train", "--nesterov", "--momentum", "0", "--out", str(tmp_path / "never")])
    err = one_line(result, 2)
    assert "optim.nesterov (--nesterov) needs momentum: optim.momentum (--momentum) is 0" in err
    assert not (tmp_path / "never").exists()
    with pytest.raises(UsageError, match="optim.nesterov"):
        load_config(None, {"optim.nesterov": True, "optim.momentum": 0.0})


def test_plain_resume_reads_the_default_folders_saved_config(data_dir, tmp_path, monkeypatch):
    """``train --resume`` in runs/<model>_<dataset>_s<seed> reuses its config.yaml as --name X --resume does:
    a flag left out (here --lr, --epochs, --limit-batches) takes the saved value, not the default."""
    monkeypatch.chdir(tmp_path)
    model = ["--arch", "shiftresnet8", "--expansion", "2", "--seed", "3", "--device", "cpu"]
    first = runner.invoke(app, ["train", *model, "--batch-size", "16", "--epochs", "1", "--limit-batches", "1",
                                "--lr", "0.05"])
    assert first.exit_code == 0, stderr_of(first)
    folder = tmp_path / "runs" / "shiftresnet8_e2_cifar10_s3"
    saved = (folder / "config.yaml").read_text()
    again = runner.invoke(app, ["train", *model, "--resume"])
    assert again.exit_code == 0, stderr_of(again)
    assert (folder / "config.yaml").read_text() == saved and yaml.safe_load(saved)["optim"]["lr"] == 0.05
    changed = one_line(runner.invoke(app, ["train", *model, "--resume", "--lr", "0.1"]), 2)
    assert "optim.lr: 0.05 -> 0.1" in changed


@pytest.mark.parametrize("kwargs", [{"depth": 56}, {"arch": "resnet"}, {"arch": "resnet", "depth": 20}])
def test_hub_entry_refuses_arch_and_depth(kwargs):
    """The entry's name fixes both; a keyword for either was Python's "got multiple values" TypeError."""
    root = Path(__file__).resolve().parents[1]
    with pytest.raises(ValueError, match=r"torch.hub entry shiftresnet20 fixes arch='shiftresnet' and depth=20"):
        torch.hub.load(str(root), "shiftresnet20", source="local", trust_repo=True, **kwargs)


def _run_folder(folder: Path, epochs_done: int | None, **overrides) -> Path:
    """A run folder as train leaves it: config.yaml, and metrics.csv with ``epochs_done`` rows (None: no file)."""
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(dump_yaml(load_config(None, {"optim.epochs": 4, **overrides})))
    if epochs_done is not None:
        rows = [f"{e},0.1,1.0,50.0,1.0,{60 + e},10.0,100.0" for e in range(epochs_done)]
        header = "epoch,lr,train_loss,train_acc,test_loss,test_acc,seconds,images_per_s"
        (folder / "metrics.csv").write_text("\n".join([header, *rows]) + "\n")
    return folder


def test_report_leaves_out_runs_without_a_finished_epoch_and_says_so(tmp_path):
    runs = tmp_path / "runs"
    _run_folder(runs / "done", 4)
    _run_folder(runs / "just-started", None)
    _run_folder(runs / "first-epoch", 0)
    result = runner.invoke(app, ["report", str(runs), "--markdown"])
    assert result.exit_code == 0, stderr_of(result)
    assert [line.split(" | ")[0] for line in result.stdout.splitlines()[2:]] == ["| done"]
    notes = stderr_of(result).strip().splitlines()
    assert len(notes) == 2 and all(note.startswith("note: ") and note.endswith("; left out") for note in notes)
    assert "first-epoch: metrics.csv has no finished epoch yet" in notes[0] and "just-started has no" in notes[1]
    alone = one_line(runner.invoke(app, ["report", str(runs / "just-started")]), 2)  # named itself: refused
    assert "no finished epoch" in alone


@pytest.mark.parametrize("overrides, label", [
    ({"optim.epochs": 1}, "sound, 1 epoch"),
    ({"optim.epochs": 164}, "sound, 164 epochs"),
    ({"run.limit_batches": 3}, "smoke (limit_batches 3); sound, 4 epochs"),
    ({"data.batch_size": 16, "data.normalization": "true", "optim.nesterov": True, "optim.schedule": "cosine"},
     "custom: batch 16, normalization true, nesterov, schedule cosine; sound, 4 epochs"),
    ({"optim.milestones": [1, 2], "optim.lr": 0.05, "run.amp": "bf16", "run.limit_batches": 1},
     "smoke (limit_batches 1); custom: lr 0.05, milestones 1,2, amp bf16; sound, 4 epochs"),
    ({"optim.milestones": [82, 124], "optim.reset_momentum_each_epoch": True, "run.select_on_test": True,
      "run.bn_weight_init": "uniform", "optim.epochs": 160, "run.shift_impl": "conv", "run.channels_last": True},
     "seed-faithful, 160 epochs"),  # the seed-faithful preset's own milestones; speed settings do not count
])
def test_report_recipe_says_what_differs_from_the_seed_recipe(tmp_path, overrides, label):
    _run_folder(tmp_path / "run", 1, **overrides)
    result = runner.invoke(app, ["report", str(tmp_path / "run"), "--markdown"])
    assert result.exit_code == 0, stderr_of(result)
    assert result.stdout.splitlines()[2].split(" | ")[3] == label


@pytest.mark.parametrize("device", ["cuda:x", "cuda:", "cuda:-1", "cuda:0x1", "cuda:²", "cuda:1.0"])
def test_device_must_be_cuda_and_an_index(tmp_path, device):
    with pytest.raises(ValueError, match=r"--device must be auto, cpu, cuda or cuda:<index> \(e.g. cuda:0\)"):
        resolve_device(device)
    err = one_line(runner.invoke(app, ["train", "--device", device, "--out", str(tmp_path / "never")]), 2)
    assert "device must be auto, cpu, cuda or cuda:<index>" in err and not (tmp_path / "never").exists()


def test_a_gpu_index_this_machine_lacks_is_one_line(tmp_path):
    count = torch.cuda.device_count()
    expected = "PyTorch sees no CUDA GPU" if count == 0 else f"--device cuda:{count}: PyTorch sees {count} GPU"
    with pytest.raises(ValueError, match=expected):
        resolve_device(f"cuda:{count}")
