"""Model names: one parser for every name the tool prints and for the command line's short form.

``ModelSpec.name`` prints ``<arch><depth>`` and then only the knobs that differ from the plain
model, in this order: ``_e<a>`` (ShiftResNet expansion), ``_r<r>_<block|net>`` (reduction and its
mode), ``_legacy`` (shortcut rule), ``_c<classes>`` (a head other than 10): ``shiftresnet20_e3``,
``resnet56_r3.3_block_legacy_c100``. The command line also takes ``<arch><depth>:<a>``,
``<arch><depth>:e<a>`` and ``<arch><depth>:r<r>`` (``shiftresnet20:3``, ``resnet20:r2.8``), and a
decimal point may be written ``p`` as in timm's names (``resnet20_r3p3_block_legacy``, see
``shiftnet/timm_models.py``). All forms read into the same ModelSpec fields, so whatever a table, a
run folder, a checkpoint or timm shows can be typed back where a model is asked for. The
architectures are the registry's (``archs.py``), read when a name is parsed.
"""

from __future__ import annotations

import functools
import re

from ..enums import REDUCTION_MODES
from .archs import arch_names
from .spec import ModelSpec

_NUMBER = r"(?:\d+(?:\.\d*|p\d+)?|\.\d+)(?:e[-+]?\d+)?"  # what ``_fmt`` prints (3, 0.98, 1e-07), or 0p98
_KNOB = re.compile(rf"(?P<kind>r|e?)(?P<value>{_NUMBER})")
EXAMPLES = "resnet20, shiftresnet56, shiftresnet20_e3, resnet20_r3.3_block_legacy, shiftresnet20:3, resnet20:r2.8"


@functools.lru_cache(maxsize=8)
def _grammar(archs: tuple[str, ...]) -> tuple[re.Pattern, re.Pattern]:
    """The long and the short form for these architectures (longest first, so no name shadows another)."""
    head = rf"(?P<arch>{'|'.join(sorted(archs, key=len, reverse=True))})(?P<depth>\d{{1,9}})"
    long = re.compile(rf"{head}(?:_e(?P<e>{_NUMBER}))?(?:_r(?P<r>{_NUMBER})_(?P<mode>{'|'.join(REDUCTION_MODES)}))?"
                      rf"(?P<legacy>_legacy)?(?:_c(?P<c>\d{{1,9}}))?")
    return long, re.compile(rf"{head}:(?P<knob>.*)")


def _number(text: str) -> float:
    return float(text.replace("p", "."))


def name_fields(name: str) -> dict:
    """The ModelSpec fields that ``name`` sets; the others are left to the caller (defaults, flags).

    ValueError with the accepted forms for anything else, including knobs in another order, so that
    a name is never half read."""
    if not isinstance(name, str):
        raise TypeError(f"a model name is a string, got {type(name).__name__}")
    text = name.strip().lower()
    long_form, short_form = _grammar(arch_names())
    long = long_form.fullmatch(text)
    if long:
        fields: dict = {"arch": long["arch"], "depth": int(long["depth"])}
        if long["e"] is not None:
            fields["expansion"] = _number(long["e"])
        if long["r"] is not None:
            fields.update(reduction=_number(long["r"]), reduction_mode=long["mode"])
        if long["legacy"]:
            fields["shortcut_rule"] = "legacy"
        if long["c"] is not None:
            fields["num_classes"] = int(long["c"])
        return fields
    short = short_form.fullmatch(text)
    if short:
        knob = _KNOB.fullmatch(short["knob"])
        if knob is None:
            raise ValueError(f"model {name[:60]!r}: after the colon give an expansion (shiftresnet20:3) "
                             f"or a reduction (resnet20:r2.8)")
        key = "reduction" if knob["kind"] == "r" else "expansion"
        return {"arch": short["arch"], "depth": int(short["depth"]), key: _number(knob["value"])}
    raise ValueError(f"unknown model {name[:60]!r}; names look like {EXAMPLES} (arch + CIFAR depth 6n+2)")


def parse_model_name(name: str, **overrides) -> ModelSpec:
    """The validated spec a name stands for, ``overrides`` (ModelSpec fields) applied on top:
    ``parse_model_name(spec.name) == spec`` for every validated spec."""
    return ModelSpec(**{**name_fields(name), **overrides}).validated()
