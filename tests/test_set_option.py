"""``shiftnet train --set section.key=value`` and the optimizer flags (issue 13): every config key from the
command line, typed by its dataclass field; file < --set < flags; a key given both ways is refused; a flag
left out (its default shown in help) overrides neither a config file nor a resumed run's saved config."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from shiftnet.cli import app
from shiftnet.config import load_config, section_keys

from .conftest import stderr_of
from .runs import QUICK, data_dir, one_thread  # noqa: F401 - fixtures

runner = CliRunner()


def _saved(out) -> dict:
    return yaml.safe_load((out / "config.yaml").read_text())


def _refused(tmp_path, *args: str, out: bool = True) -> str:
    """The one line a refused train command prints; nothing is written."""
    result = runner.invoke(app, ["train", *args, *(["--out", str(tmp_path / "never")] if out else [])])
    err = stderr_of(result)
    assert result.exit_code == 2, (err, result.output)
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    assert not (tmp_path / "never").exists()
    return err.strip()


def test_set_types_each_value_and_the_flags_land_in_the_config(data_dir, tmp_path):
    config = tmp_path / "base.yaml"
    config.write_text("optim: {lr: 0.2, momentum: 0.7, weight_decay: 0.002}\nrun: {limit_batches: 5}\n")
    out = tmp_path / "run"
    result = runner.invoke(app, [
        "train", *QUICK, "--config", str(config), "--out", str(out),
        "--set", "optim.reset_momentum_each_epoch=yes", "--set", "data.eval_batch_size=16",
        "--set", "run.bn_weight_init=uniform", "--set", "optim.momentum=0.5", "--set", "run.log_every=3",
        "--set", "data.normalization=true", "--set", "data.data_dir=none",
        "--weight-decay", "0.001", "--nesterov", "--schedule", "cosine", "--milestones", "1, 2", "--gamma", "0.5"])
    assert result.exit_code == 0, (result.output, stderr_of(result))
    saved = _saved(out)
    assert saved["optim"] == {**saved["optim"], "reset_momentum_each_epoch": True, "momentum": 0.5, "lr": 0.2,
                              "weight_decay": 0.001, "nesterov": True, "schedule": "cosine", "milestones": [1, 2],
                              "gamma": 0.5}
    assert saved["data"]["eval_batch_size"] == 16 and saved["data"]["normalization"] == "true"
    assert saved["run"]["bn_weight_init"] == "uniform" and saved["run"]["log_every"] == 3
    assert saved["data"]["data_dir"] is None and saved["run"]["limit_batches"] == 1  # file 5 < the flag's 1


def test_flags_left_out_change_nothing_on_resume(data_dir, tmp_path):
    out = tmp_path / "run"
    first = runner.invoke(app, ["train", *QUICK, "--epochs", "2", "--lr", "0.05", "--momentum", "0.8",
                                "--milestones", "1", "--set", "run.log_every=7", "--out", str(out)])
    assert first.exit_code == 0, stderr_of(first)
    before = _saved(out)
    again = runner.invoke(app, ["train", "--out", str(out), "--resume"])
    assert again.exit_code == 0, stderr_of(again)
    assert _saved(out) == before and before["optim"]["lr"] == 0.05 and before["optim"]["milestones"] == [1]
    changed = runner.invoke(app, ["train", "--out", str(out), "--resume", "--momentum", "0.9"])
    assert changed.exit_code == 2 and "momentum" in stderr_of(changed)


@pytest.mark.parametrize("args,message", [
    (["--set", "optim.nope=1"], "--set optim.nope: unknown key; valid optim keys: " + ", ".join(section_keys("optim"))),
    (["--set", "foo.bar=1"], "unknown section 'foo'; sections: model, data, optim, run"),
    (["--set", "model.num_classes=100"], "unknown key; valid model keys: arch, depth, expansion"),
    (["--set", "lr=0.1"], "write section.key=value"),
    (["--set", "optim.epochs"], "write section.key=value"),
    (["--set", "optim.epochs=ten"], "--set optim.epochs: expected an integer, got 'ten'"),
    (["--set", "optim.nesterov=maybe"], "--set optim.nesterov: expected true or false, got 'maybe'"),
    (["--set", "optim.lr=fast"], "--set optim.lr: expected a number"),
    (["--set", "optim.milestones=a,b"], "expected a comma-separated list of integers (e.g. 82,123)"),
    (["--set", "run.limit_batches=some"], "expected an integer or none"),
    (["--set", "optim.lr=1e300"], "lr must be a finite number in (0, 100], got 1e+300"),
    (["--set", "run.amp=fp8"], "amp must be one of off, bf16, fp16"),
    (["--set", "run.seed=1", "--set", "run.seed=2"], "--set run.seed is given twice"),
    (["--set", "optim.lr=0.1", "--lr", "0.2"], "--set optim.lr and the flag --lr both give optim.lr"),
    (["--set", "model.depth=56", "--arch", "resnet20"], "--set model.depth and the flag --arch both give model.depth"),
    (["--set", "run.wandb=false", "--wandb"], "--set run.wandb and the flag --wandb both give run.wandb"),
    (["--set", "data.dataset=cifar10", "--classes", "10"], "the flag --classes both give data.dataset"),
    (["--milestones", "82;123"], "--milestones takes epochs joined by commas"),
    (["--schedule", "linear"], "schedule must be one of step, cosine"),
    (["--momentum", "1.5"], "momentum must be a finite number in [0, 1)"),
    (["--classes", "100", "--dataset", "cifar10"], "--classes 100 and --dataset cifar10 (10 classes) disagree"),
    (["--classes", "7"], "--classes must be 10 or 100, got 7"),
])
def test_bad_set_and_flags_are_one_line(tmp_path, args, message):
    assert message in _refused(tmp_path, *args)


def test_every_config_key_can_be_set(tmp_path):
    """Each key's default, written back through --set as text, is read as the same value: the command then
    stops at a deliberately bad flag, so --set was parsed, typed and checked, and nothing ran."""
    for section, values in load_config(None).to_dict().items():
        assert sorted(values) == section_keys(section)
        for key, value in values.items():
            text = ",".join(map(str, value)) if isinstance(value, list) else "none" if value is None else str(value)
            bad, message = (["--lr", "0"], "lr must be") if key == "epochs" else (["--epochs", "0"], "epochs must be")
            line = _refused(tmp_path, "--set", f"{section}.{key}={text}", *bad, out=key != "out")
            assert message in line, (section, key, line)
