"""``shiftnet.create_model(name, checkpoint_path=...)``: timm's argument, the model's side of ``load_model``."""

from __future__ import annotations

import pytest
import torch

import shiftnet
from shiftnet.kernels import Shift
from shiftnet.models import ModelSpec

from .helpers import train_tiny_run


def test_create_model_with_checkpoint_path_is_load_model_and_checks_what_was_asked(tmp_path, monkeypatch):
    out = train_tiny_run(tmp_path, monkeypatch)
    reference = shiftnet.load_model(out)
    images = torch.randn(4, 3, 32, 32)
    for asked in ("shiftresnet20", "shiftresnet20_e1", ModelSpec("shiftresnet", 20, expansion=1.0)):
        model = shiftnet.create_model(asked, checkpoint_path=out / "final.safetensors")
        assert not model.training and model.spec == reference.spec
        assert model.pretrained_cfg["dataset"] == "cifar10"
        assert torch.equal(model(images), reference(images))
    fast = shiftnet.create_model("shiftresnet20", checkpoint_path=out, shift_impl="conv")
    assert {m.impl for m in fast.modules() if isinstance(m, Shift)} == {"conv"}
    torch.testing.assert_close(fast(images), reference(images), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="holds shiftresnet20_e1: asked for expansion 3 but the checkpoint has 1.0"):
        shiftnet.create_model("shiftresnet20", expansion=3, checkpoint_path=out)
    with pytest.raises(ValueError, match="asked for arch 'resnet' but the checkpoint has 'shiftresnet'"):
        shiftnet.create_model("resnet20", checkpoint_path=out)
    with pytest.raises(ValueError, match="asked for num_classes 100"):
        shiftnet.create_model(ModelSpec("shiftresnet", 20, num_classes=100), checkpoint_path=out)
    with pytest.raises(ValueError, match="depth must be 6n\\+2"):
        shiftnet.create_model("shiftresnet21", checkpoint_path=out)


def test_create_model_without_a_checkpoint_is_the_models_create_model():
    torch.manual_seed(0)
    ours = shiftnet.create_model("shiftresnet20", expansion=3, num_classes=100)
    torch.manual_seed(0)
    plain = shiftnet.models.create_model("shiftresnet20", expansion=3, num_classes=100)
    assert ours.spec == plain.spec and all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(),
                                                                             plain.state_dict().values()))
