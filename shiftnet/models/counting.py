"""Parameter and MAC counts, defined as the seed's ``count.py`` defines them (docs/original.md#counting).

Params: every element of ``named_parameters()`` (BN running stats excluded, the shift has none).
MACs: multiply-accumulates of every conv and linear layer at its true resolution for one 3x32x32
image. BN, ReLU, additions, pooling and the shift count zero. The seed's own FLOP formula had a
bug in the stem term; this is the corrected count, labelled MACs, never "FLOPs".

``model_stats`` (the rows of ``shiftnet params``) takes both from the spec's closed form
(``ModelSpec.counts``), building nothing; ``count_params`` and ``count_macs`` measure a built module
and are the oracle that the tests hold the closed form to.
"""

from __future__ import annotations

import torch
from torch import nn

from .spec import ModelSpec


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, image_size: int = 32) -> int:
    """Conv + linear MACs for one image, from the layers' actual output shapes."""
    total = 0

    def conv_hook(module: nn.Conv2d, _inputs, output):
        nonlocal total
        kh, kw = module.kernel_size
        total += output[0].numel() * (module.in_channels // module.groups) * kh * kw

    def linear_hook(module: nn.Linear, _inputs, output):
        nonlocal total
        total += output[0].numel() * module.in_features

    handles = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, 3, image_size, image_size))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return total


def reference_spec(spec: ModelSpec) -> ModelSpec:
    """The unreduced ResNet of the same depth and class count: the denominator of "reduction"."""
    return ModelSpec(arch="resnet", depth=spec.depth, num_classes=spec.num_classes)


def model_stats(spec: ModelSpec) -> dict:
    """Row of ``shiftnet params``: params, params in millions, reduction vs ResNet, MACs (nothing built)."""
    spec = spec.validated()
    params, macs = spec.counts()
    return {
        "name": spec.name,
        **spec.to_dict(),
        "params": params,
        "params_m": round(params / 1e6, 2),
        "reduction_factor": reference_spec(spec).parameter_count() / params,
        "macs": macs,
    }
