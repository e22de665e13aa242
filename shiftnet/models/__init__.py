"""Models: the architecture registry, the CIFAR ResNet skeleton, its blocks, ModelSpec, names and counting."""

from ..enums import DEFAULT_ARCH, REDUCTION_MODES, SHORTCUT_RULES
from .archs import Architecture, Conv, arch_names, get_arch, register, registered, unregister
from .blocks import BasicBlock, DepthwiseBlock, ShiftConv
from .counting import count_macs, count_params, model_stats
from .names import name_fields, parse_model_name
from .registry import create_model, list_models, resolve_spec
from .resnet import CifarResNet
from .spec import ModelSpec, architecture_key

__all__ = [
    "DEFAULT_ARCH", "REDUCTION_MODES", "SHORTCUT_RULES", "Architecture", "BasicBlock", "CifarResNet", "Conv",
    "DepthwiseBlock", "ModelSpec", "ShiftConv", "arch_names", "architecture_key", "count_macs", "count_params",
    "create_model", "get_arch", "list_models", "model_stats", "name_fields", "parse_model_name", "register",
    "registered", "resolve_spec", "unregister",
]
