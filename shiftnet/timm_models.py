"""Register shiftnet's models with timm, so timm's ``create_model``, ``train.py`` and ``validate.py`` build them.

``import shiftnet.timm_models`` (timm must be installed: ``pip install 'shiftnet[timm]'``) registers every
name this project prints for the original's models: the families (``resnet20``, ``shiftresnet56``, ...) and
each row of the original's tables (``shiftresnet20_e3``, the reduced ResNets, the ``_c100`` variants), as
``ModelSpec.name`` writes them, except that a decimal point is written ``p`` (``resnet20_r3p3_block_legacy``):
timm reads everything after a ``.`` as a weight tag (``timm_name`` converts). Then
``timm.create_model("shiftresnet20_e3", num_classes=100)`` builds our
module, and ``checkpoint_path=".../final.safetensors"`` loads a run's weights through timm's own loader (the
keys are ours). Each model carries a timm ``pretrained_cfg`` with the original's CIFAR preprocessing (input
3x32x32, the seed's mean and std), which ``timm.data.resolve_data_config`` reads. timm loads ``checkpoint_path``
after the model is built, so that config cannot know the checkpoint: a run trained with each data set's own
statistics (``normalization: true``) needs ``pretrained_cfg_overlay=checkpoint_cfg(path)`` (or validate.py's
``--mean``/``--std``). No weights are hosted, so ``pretrained=True`` is refused.
"""

from __future__ import annotations

import yaml

try:
    from timm.models import register_model
except ImportError:
    raise ImportError("shiftnet.timm_models needs timm: pip install 'shiftnet[timm]'") from None

from .config import from_dict
from .data.datasets import SEED_MEAN, SEED_STD
from .models import create_model, list_models
from .models.names import parse_model_name
from .presets import find_preset, preset_names

__all__: list[str] = []
# timm's train.py and validate.py pass these; ours have no such knobs, so only their no-op values are accepted
NO_EFFECT = {"drop_rate": 0.0, "drop_path_rate": None, "drop_block_rate": None, "global_pool": None,
             "bn_momentum": None, "bn_eps": None, "in_chans": 3, "scriptable": False}


def cifar_pretrained_cfg(num_classes: int) -> dict:
    return {"input_size": (3, 32, 32), "mean": SEED_MEAN, "std": SEED_STD, "num_classes": num_classes,
            "crop_pct": 1.0, "crop_mode": "center", "interpolation": "bilinear", "first_conv": "conv1",
            "classifier": "linear", "pool_size": None, "fixed_input_size": True}


def checkpoint_cfg(path) -> dict:
    """The preprocessing a checkpoint was trained with, as a ``pretrained_cfg_overlay`` for
    ``timm.create_model(name, checkpoint_path=path, pretrained_cfg_overlay=checkpoint_cfg(path))``."""
    from .loading import load_model

    cfg = load_model(path).pretrained_cfg
    return {"mean": cfg["mean"], "std": cfg["std"]}


def timm_name(name: str) -> str:
    """The name timm knows a printed model name by: ``.`` (timm's tag separator) written ``p``."""
    return name.replace(".", "p")


def _entrypoint(name: str):
    def build(pretrained: bool = False, pretrained_cfg=None, pretrained_cfg_overlay=None, **kwargs):
        if pretrained:
            raise ValueError(f"{name}: no hosted weights; train one with `shiftnet train` and pass checkpoint_path=")
        unknown = {k: v for k, v in kwargs.items() if k != "num_classes" and NO_EFFECT.get(k, object()) != v}
        unknown = {k: v for k, v in unknown.items() if v is not None}
        if unknown:
            raise ValueError(f"{name} takes no {', '.join(sorted(unknown))} (CIFAR ResNets of the original)")
        spec = parse_model_name(name, **({"num_classes": kwargs["num_classes"]} if kwargs.get("num_classes") else {}))
        model = create_model(spec)
        model.num_classes = spec.num_classes  # validate.py reads it when --num-classes is not given
        model.pretrained_cfg = model.default_cfg = {**cifar_pretrained_cfg(spec.num_classes),
                                                    **(pretrained_cfg_overlay or {})}
        return model

    build.__name__ = build.__qualname__ = timm_name(name)
    build.__module__ = __name__
    build.__doc__ = f"shiftnet's {name} (see shiftnet.models.names for the name's grammar)."
    return build


def registered_names() -> list[str]:
    """The families and every preset's model name, each once."""
    names = list(list_models())
    for preset in preset_names():
        data = yaml.safe_load(find_preset(preset).read_text()) or {}
        data.pop("extends", None)
        names.append(from_dict(data).model_spec().name)
    return sorted(set(names))


for _name in registered_names():
    register_model(_entrypoint(_name))
