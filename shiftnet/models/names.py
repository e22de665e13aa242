"""Model names: one parser for every name the tool prints and for the command line's short form.

``ModelSpec.name`` prints ``<arch><depth>`` and then only the knobs that differ from the plain
model, in this order: ``_e<a>`` (ShiftResNet expansion), ``_r<r>_<block|net>`` (reduction and its
mode), ``_legacy`` (shortcut rule), ``_c<classes>`` (a head other than 10): ``shiftresnet20_e3``,
``resnet56_r3.3_block_legacy_c100``. The command line also takes ``<arch><depth>:<a>``,
``<arch><depth>:e<a>`` and ``<arch><depth>:r<r>`` (``shiftresnet20:3``, ``resnet20:r2.8``). Both
forms read into the same ModelSpec fields, so whatever a table, a run folder or a checkpoint shows
can be typed back where a model is asked for.
"""

from __future__ import annotations

import re

from .spec import ARCHS, REDUCTION_MODES, ModelSpec

_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?"  # what ``_fmt`` prints: 3, 0.98, 1e-07
_HEAD = rf"(?P<arch>{'|'.join(ARCHS)})(?P<depth>\d{{1,9}})"
_LONG = re.compile(rf"{_HEAD}(?:_e(?P<e>{_NUMBER}))?(?:_r(?P<r>{_NUMBER})_(?P<mode>{'|'.join(REDUCTION_MODES)}))?"
                   rf"(?P<legacy>_legacy)?(?:_c(?P<c>\d{{1,9}}))?")
_SHORT = re.compile(rf"{_HEAD}:(?P<knob>.*)")
_KNOB = re.compile(rf"(?P<kind>r|e?)(?P<value>{_NUMBER})")
EXAMPLES = "resnet20, shiftresnet56, shiftresnet20_e3, resnet20_r3.3_block_legacy, shiftresnet20:3, resnet20:r2.8"


def name_fields(name: str) -> dict:
    """The ModelSpec fields that ``name`` sets; the others are left to the caller (defaults, flags).

    ValueError with the accepted forms for anything else, including knobs in another order, so that
    a name is never half read."""
    if not isinstance(name, str):
        raise TypeError(f"a model name is a string, got {type(name).__name__}")
    text = name.strip().lower()
    long = _LONG.fullmatch(text)
    if long:
        fields: dict = {"arch": long["arch"], "depth": int(long["depth"])}
        if long["e"] is not None:
            fields["expansion"] = float(long["e"])
        if long["r"] is not None:
            fields.update(reduction=float(long["r"]), reduction_mode=long["mode"])
        if long["legacy"]:
            fields["shortcut_rule"] = "legacy"
        if long["c"] is not None:
            fields["num_classes"] = int(long["c"])
        return fields
    short = _SHORT.fullmatch(text)
    if short:
        knob = _KNOB.fullmatch(short["knob"])
        if knob is None:
            raise ValueError(f"model {name[:60]!r}: after the colon give an expansion (shiftresnet20:3) "
                             f"or a reduction (resnet20:r2.8)")
        key = "reduction" if knob["kind"] == "r" else "expansion"
        return {"arch": short["arch"], "depth": int(short["depth"]), key: float(knob["value"])}
    raise ValueError(f"unknown model {name[:60]!r}; names look like {EXAMPLES} (arch + CIFAR depth 6n+2)")


def parse_model_name(name: str, **overrides) -> ModelSpec:
    """The validated spec a name stands for, ``overrides`` (ModelSpec fields) applied on top:
    ``parse_model_name(spec.name) == spec`` for every validated spec."""
    return ModelSpec(**{**name_fields(name), **overrides}).validated()
