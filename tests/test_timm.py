"""timm builds shiftnet's models by the names this project prints, and loads a run's weights with its own loader."""

from __future__ import annotations

import pytest
import torch

import shiftnet
from shiftnet.models import ModelSpec, count_params

from .helpers import train_tiny_run

timm = pytest.importorskip("timm")
import shiftnet.timm_models  # noqa: E402,F401 - registers the names with timm


def test_printed_names_build_ours_through_timm():
    for spec in (ModelSpec("shiftresnet", 20, expansion=3.0),
                 ModelSpec("resnet", 20, reduction=3.3, shortcut_rule="legacy"),
                 ModelSpec("shiftresnet", 56, expansion=6.0, num_classes=100)):
        spec = spec.validated()
        model = timm.create_model(shiftnet.timm_models.timm_name(spec.name))
        assert model.spec == spec and type(model).__module__.startswith("shiftnet.")
    assert shiftnet.timm_models.timm_name("resnet20_r3.3_block_legacy") == "resnet20_r3p3_block_legacy"
    assert count_params(timm.create_model("shiftresnet20_e3")) == 95_642  # the original README's 0.10 M row
    assert timm.create_model("resnet56", num_classes=100).linear.out_features == 100
    config = timm.data.resolve_data_config({}, model=timm.create_model("shiftresnet20"))
    assert config["input_size"] == (3, 32, 32) and config["mean"] == pytest.approx((0.4914, 0.4822, 0.4465))
    with pytest.raises(ValueError, match="no hosted weights"):
        timm.create_model("shiftresnet20", pretrained=True)
    with pytest.raises(ValueError, match="takes no drop_path_rate"):
        timm.create_model("shiftresnet20", drop_path_rate=0.1)


def test_timm_loads_a_runs_weights_with_its_own_loader(tmp_path, monkeypatch):
    out = train_tiny_run(tmp_path, monkeypatch)
    model = timm.create_model("shiftresnet20_e1", checkpoint_path=str(out / "final.safetensors")).eval()
    reference = shiftnet.load_model(out)
    images = torch.randn(4, 3, 32, 32)
    assert torch.equal(model(images), reference(images))


def test_every_name_timm_knows_is_a_shiftnet_name():
    """timm's spelling (``p`` for ``.``) is read by shiftnet's own parser, so a name copied from timm works
    wherever shiftnet takes a model."""
    from shiftnet.models import parse_model_name

    names = shiftnet.timm_models.registered_names()
    assert "resnet20_r3.3_block_legacy" in names and len(names) > 50
    for name in names:
        assert parse_model_name(shiftnet.timm_models.timm_name(name)) == parse_model_name(name)
