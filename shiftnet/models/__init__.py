"""Models: CIFAR ResNet skeleton, its blocks, ModelSpec, the registry and parameter/MAC counting."""

from .blocks import BasicBlock, DepthwiseBlock, ShiftConv
from .counting import count_macs, count_params, model_stats
from .names import name_fields, parse_model_name
from .registry import create_model, list_models, resolve_spec
from .resnet import CifarResNet
from .spec import ARCHS, REDUCTION_MODES, SHORTCUT_RULES, ModelSpec

__all__ = [
    "ARCHS", "REDUCTION_MODES", "SHORTCUT_RULES", "BasicBlock", "CifarResNet", "DepthwiseBlock", "ModelSpec",
    "ShiftConv", "count_macs", "count_params", "create_model", "list_models", "model_stats", "name_fields",
    "parse_model_name", "resolve_spec",
]
