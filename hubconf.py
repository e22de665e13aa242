"""torch.hub entry points: ``torch.hub.load(REPO, "shiftresnet20", expansion=3, checkpoint_path=...)``.

One entry per model family at the original's three depths; keyword arguments are ``ModelSpec``'s
fields (expansion, reduction, reduction_mode, shortcut_rule, num_classes). With ``checkpoint_path``
(a run folder, ``.safetensors``, ``last.pt`` or original ``.t7``) the weights are loaded as
``shiftnet.load_model`` loads them, with ``.spec`` and ``.pretrained_cfg`` (mean, std, input size)
attached; a checkpoint of another architecture than the entry's is refused. ``source="local"`` works
offline from a checkout.
"""

dependencies = ["torch", "safetensors", "yaml"]


def _entry(arch: str, depth: int, checkpoint_path=None, **fields):
    from shiftnet import load_model
    from shiftnet.models import ModelSpec, create_model

    requested = ModelSpec(arch, depth, **fields)
    if checkpoint_path is None:
        return create_model(requested)
    model = load_model(checkpoint_path)
    wanted = {"arch": arch, "depth": depth, **fields}
    differs = {key: (value, getattr(model.spec, key)) for key, value in wanted.items()
               if getattr(model.spec, key) != value}
    if differs:
        detail = ", ".join(f"{key} {want!r} but the checkpoint has {got!r}" for key, (want, got) in differs.items())
        raise ValueError(f"{checkpoint_path} holds {model.spec.name}: asked for {detail}")
    return model


def resnet20(**kwargs):
    """CIFAR ResNet20 (kwargs: reduction, reduction_mode, shortcut_rule, num_classes, checkpoint_path)."""
    return _entry("resnet", 20, **kwargs)


def resnet56(**kwargs):
    """CIFAR ResNet56 (kwargs as resnet20)."""
    return _entry("resnet", 56, **kwargs)


def resnet110(**kwargs):
    """CIFAR ResNet110 (kwargs as resnet20)."""
    return _entry("resnet", 110, **kwargs)


def shiftresnet20(**kwargs):
    """ShiftResNet20 (kwargs: expansion, default 1; num_classes; checkpoint_path)."""
    return _entry("shiftresnet", 20, **kwargs)


def shiftresnet56(**kwargs):
    """ShiftResNet56 (kwargs as shiftresnet20)."""
    return _entry("shiftresnet", 56, **kwargs)


def shiftresnet110(**kwargs):
    """ShiftResNet110 (kwargs as shiftresnet20)."""
    return _entry("shiftresnet", 110, **kwargs)
