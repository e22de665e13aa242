"""torch.hub entry points: ``torch.hub.load(REPO, "shiftresnet20", expansion=3, checkpoint_path=...)``.

One entry per registered architecture at the original's three depths (``shiftnet.models.list_models``:
resnet20 ... depthwiseresnet110), made from the model registry, so a new architecture gets its entries
without an edit here. Keyword arguments are ``ModelSpec``'s fields (expansion, reduction,
reduction_mode, shortcut_rule, num_classes). With ``checkpoint_path`` (a run folder, ``.safetensors``,
``last.pt`` or original ``.t7``) the weights are loaded as ``shiftnet.load_model`` loads them, with
``.spec`` and ``.pretrained_cfg`` (mean, std, input size) attached; a checkpoint of another
architecture than the entry's is refused, and so is an ``arch`` or ``depth`` keyword (the entry's
name fixes both). ``source="local"`` works offline from a checkout.
"""

import shiftnet.models as _models  # a private name: torch.hub lists every public callable here as an entry

dependencies = ["torch", "safetensors", "yaml"]


def _entry(arch: str, depth: int, checkpoint_path=None, **fields):
    from shiftnet import create_model

    return create_model(f"{arch}{depth}", checkpoint_path=checkpoint_path, **fields)


def _make_entry(name: str):
    fields = _models.name_fields(name)

    def entry(**kwargs):
        fixed = sorted({"arch", "depth"} & kwargs.keys())
        if fixed:  # else Python's "_entry() got multiple values for argument 'arch'"
            raise ValueError(f"torch.hub entry {name} fixes arch={fields['arch']!r} and depth={fields['depth']}, "
                             f"so it takes no {' or '.join(fixed)}; load another entry for another model "
                             f"(torch.hub.list names them: {', '.join(_models.list_models())})")
        return _entry(fields["arch"], fields["depth"], **kwargs)

    entry.__name__ = entry.__qualname__ = name
    entry.__doc__ = (f"CIFAR {name} (kwargs: the ModelSpec fields its architecture takes, e.g. expansion or "
                     f"reduction; num_classes; checkpoint_path).")
    return entry


for _name in _models.list_models():
    globals()[_name] = _make_entry(_name)
