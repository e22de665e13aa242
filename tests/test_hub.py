"""torch.hub from a checkout (source="local", no network): entries build our models and load a run's weights."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import shiftnet
from shiftnet.cli import app
from shiftnet.models import count_params, list_models

from .helpers import train_tiny_run

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def hub(entry: str, **kwargs):
    return torch.hub.load(str(ROOT), entry, source="local", trust_repo=True, **kwargs)


def test_every_entry_builds_the_seed_model():
    for arch in ("resnet", "shiftresnet"):
        for depth in (20, 56, 110):
            assert hub(f"{arch}{depth}").spec.name == f"{arch}{depth}" + ("_e1" if arch == "shiftresnet" else "")
    # parameter counts of the original README's tables (ResNet20 0.27 M; ShiftResNet20 a = 3c 0.10 M)
    assert count_params(hub("resnet20")) == 272_474
    assert count_params(hub("shiftresnet20", expansion=3)) == 95_642
    assert hub("shiftresnet56", expansion=6, num_classes=100).linear.out_features == 100


def test_checkpoint_path_loads_a_runs_weights_and_refuses_another_architecture(tmp_path, monkeypatch):
    out = train_tiny_run(tmp_path, monkeypatch)
    model = hub("shiftresnet20", checkpoint_path=str(out))
    reference = shiftnet.load_model(out)
    assert not model.training and model.pretrained_cfg == reference.pretrained_cfg
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), reference.state_dict().values()))
    images = torch.randn(4, 3, 32, 32)
    assert torch.equal(model(images), reference(images))
    with pytest.raises(ValueError, match="holds shiftresnet20_e1: asked for arch 'resnet'"):
        hub("resnet20", checkpoint_path=str(out))
    with pytest.raises(ValueError, match="expansion 3"):
        hub("shiftresnet20", expansion=3, checkpoint_path=str(out))


def test_version_flag():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"shiftnet {shiftnet.__version__}"


def test_every_registered_family_has_entries():
    """The entries torch.hub lists (public callables of hubconf.py, as ``torch.hub.list`` finds them)."""
    spec = importlib.util.spec_from_file_location("hubconf", ROOT / "hubconf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    entries = [name for name in dir(module) if callable(getattr(module, name)) and not name.startswith("_")]
    assert sorted(entries) == sorted(list_models())
    assert hub("depthwiseresnet20", reduction=2).spec.name == "depthwiseresnet20_r2_block"
