"""torch.hub entry points: ``torch.hub.load(REPO, "shiftresnet20", expansion=3, checkpoint_path=...)``.

One entry per registered architecture at the original's three depths (``shiftnet.models.list_models``:
resnet20 ... depthwiseresnet110), made from the model registry, so a new architecture gets its entries
without an edit here. Keyword arguments are ``ModelSpec``'s fields (expansion, reduction,
reduction_mode, shortcut_rule, num_classes). With ``checkpoint_path`` (a run folder, ``.safetensors``,
``last.pt`` or original ``.t7``) the weights are loaded as ``shiftnet.load_model`` loads them, with
``.spec`` and ``.pretrained_cfg`` (mean, std, input size) attached; a checkpoint of another
architecture than the entry's is refused. ``source="local"`` works offline from a checkout.
"""

import shiftnet.models as _models  # a private name: torch.hub lists every public callable here as an entry

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


def _make_entry(name: str):
    fields = _models.name_fields(name)

    def entry(**kwargs):
        return _entry(fields["arch"], fields["depth"], **kwargs)

    entry.__name__ = entry.__qualname__ = name
    entry.__doc__ = (f"CIFAR {name} (kwargs: the ModelSpec fields its architecture takes, e.g. expansion or "
                     f"reduction; num_classes; checkpoint_path).")
    return entry


for _name in _models.list_models():
    globals()[_name] = _make_entry(_name)
