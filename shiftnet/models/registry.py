"""``create_model`` / ``list_models``: one entry point from a name or spec to a module, like timm's."""

from __future__ import annotations

import dataclasses

from torch import nn

from .archs import arch_names
from .names import name_fields
from .resnet import CifarResNet
from .spec import ModelSpec, check_known_keys

NAMED_DEPTHS = (20, 56, 110)


def list_models() -> list[str]:
    """Names of the registered architectures at the seed's depths: resnet20 ... depthwiseresnet110
    (any depth 6n+2 also builds)."""
    return [f"{arch}{depth}" for arch in arch_names() for depth in NAMED_DEPTHS]


def resolve_spec(spec_or_name: ModelSpec | str, **overrides) -> ModelSpec:
    """Spec from a name (any that ``ModelSpec.name`` prints, ``shiftresnet20:3`` or a timm name) or a
    ModelSpec, with field overrides, validated."""
    if isinstance(spec_or_name, ModelSpec):
        spec = spec_or_name
    elif isinstance(spec_or_name, str):
        spec = ModelSpec(**name_fields(spec_or_name))
    else:
        raise TypeError(f"create_model takes a model name or a ModelSpec, got {type(spec_or_name).__name__}")
    check_known_keys(overrides, sorted(f.name for f in dataclasses.fields(ModelSpec)), "model option(s)")
    return dataclasses.replace(spec, **overrides).validated()


def create_model(spec_or_name: ModelSpec | str, *, shift_impl: str | None = None, **overrides) -> nn.Module:
    """Build a model: ``create_model("shiftresnet20", expansion=3, num_classes=100)``.

    ``shift_impl`` picks the implementation of every shift layer when the model is built ("auto", "torch",
    "cupy", "conv"; None: the process default, see ``kernels/op.py``); it changes speed, never the weights."""
    return CifarResNet(resolve_spec(spec_or_name, **overrides), shift_impl=shift_impl)
