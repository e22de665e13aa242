"""Export a trained model to ONNX, TorchScript or a ``torch.export`` archive, and prove the file works.

The exported network computes the shift with standard operators (``kernels.portable``: exact for every
input), so the file runs where ``shiftnet`` is not installed. A file is written under a temporary
name, loaded back with the runtime that will use it (onnxruntime, ``torch.jit.load``,
``torch.export.load``), run on test images next to the PyTorch model, and renamed into place only if
every prediction agrees: a file that would mis-predict is never left where the user expects one.
"""

from __future__ import annotations

import contextlib
import copy
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from .enums import EXPORT_FORMATS
from .errors import RunError, UsageError
from .kernels.op import replace_shifts
from .kernels.portable import PortableShift

ONNX_OPSET = 18


def portable_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode whose every ``Shift`` is a ``PortableShift`` (same function)."""
    clone = copy.deepcopy(model).eval()
    return replace_shifts(clone, lambda shift: PortableShift(shift.kernel_size, shift.dilation))


JIT_DEPRECATION = ("this torch deprecates TorchScript (torch.jit); the file works today, but --format pt2 "
                   "(torch.export) is its successor")


@contextlib.contextmanager
def _torchscript_calls(notes: list[str] | None):
    """torch.jit calls, with torch's TorchScript deprecation (a FutureWarning of two lines per call, four
    per export from torch 2.10 on) said once as one line in ``notes``; any other warning is shown as is,
    also when a call fails. The caller's warning filters apply (``-W error::FutureWarning`` still
    raises); without ``notes`` nothing is captured."""
    caught = None
    try:
        with warnings.catch_warnings(record=notes is not None) as caught:
            warnings.simplefilter("ignore", torch.jit.TracerWarning)  # the portable shift's ifs depend on shapes
            yield
    finally:  # outside the capture, so what is shown again is not caught again
        for item in caught or ():
            if issubclass(item.category, FutureWarning) and "torch.jit" in str(item.message):
                if JIT_DEPRECATION not in notes:
                    notes.append(JIT_DEPRECATION)
            else:
                warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)


def _write(model: nn.Module, fmt: str, path: Path, example: torch.Tensor, notes: list[str]) -> None:
    if fmt == "onnx":
        try:
            import onnxscript  # noqa: F401  (torch's ONNX exporter needs it)
        except ImportError:
            raise UsageError("ONNX export needs onnx, onnxscript and onnxruntime: "
                             "pip install 'shiftnet[export]'") from None
        batch = torch.export.Dim("batch", min=1, max=65536)
        program = torch.onnx.export(model, (example,), dynamo=True, opset_version=ONNX_OPSET, input_names=["images"],
                                    output_names=["logits"], dynamic_shapes={"x": {0: batch}}, verbose=False)
        program.save(str(path))
    elif fmt == "torchscript":
        with _torchscript_calls(notes):
            torch.jit.save(torch.jit.trace(model, example, check_trace=False), str(path))
    else:
        batch = torch.export.Dim("batch", min=1, max=65536)
        torch.export.save(torch.export.export(model, (example,), dynamic_shapes={"x": {0: batch}}), str(path))


def load_exported(path: Path, fmt: str, notes: list[str] | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
    """The written file as a function images -> logits, run by the runtime that format is for."""
    if fmt == "onnx":
        try:
            import onnxruntime
        except ImportError:
            raise UsageError("checking an ONNX file needs onnxruntime: pip install 'shiftnet[export]'") from None
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda images: torch.from_numpy(session.run(None, {name: images.numpy()})[0])
    if fmt == "torchscript":
        with _torchscript_calls(notes):
            module = torch.jit.load(str(path), map_location="cpu")
        return lambda images: module(images)
    program = torch.export.load(str(path)).module()
    return lambda images: program(images)


@dataclass
class Check:
    """How the exported file compared with PyTorch on the same images."""

    images: int
    agree: int
    max_logit_difference: float
    notes: list[str] = field(default_factory=list)  # what the user should know about the format, a line each

    @property
    def passed(self) -> bool:
        return self.agree == self.images


def compare(model: nn.Module, run: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor,
            batch_size: int = 250) -> Check:
    agree, worst = 0, 0.0
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size].contiguous()
            want, got = model(batch), run(batch)
            agree += int((want.argmax(1) == got.argmax(1)).sum())
            worst = max(worst, float((want - got).abs().max()))
    return Check(len(images), agree, worst)


def check_target(fmt: str, out: Path) -> None:
    """Refuse, in one line, an ``out`` that exists (export never writes over a file, as ``convert`` does not:
    an earlier export or the user's own file would be lost) or whose suffix is another format's (a file
    named ``.pt2`` that holds ONNX fails later, wherever it is loaded). A format's suffixes: the last part
    of ``EXPORT_FORMATS``' (``.onnx``, ``.pt``, ``.pt2``) and its name (``.torchscript``)."""
    suffixes = sorted({"." + EXPORT_FORMATS[fmt].rsplit(".", 1)[1], f".{fmt}"})
    if out.suffix not in suffixes:
        raise UsageError(f"--out {out}: {fmt} files end in {' or '.join(suffixes)}; "
                         f"name it e.g. {out.stem}{EXPORT_FORMATS[fmt]}")
    if out.exists() or out.is_symlink():
        raise UsageError(f"{out} already exists; give another --out or remove the file (export never writes "
                         f"over a file)")


def export_checked(model: nn.Module, fmt: str, out: Path, images: torch.Tensor) -> Check:
    """Write ``model`` as ``fmt`` to ``out`` only if the written file predicts as ``model`` does on ``images``
    (float, normalised, N x 3 x H x W on the CPU). Returns the comparison; raises RunError on disagreement."""
    if fmt not in EXPORT_FORMATS:
        raise UsageError(f"unknown format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    model = model.eval().cpu()
    temporary = out.with_name(f".{out.stem}.{os.getpid()}.tmp{out.suffix}")  # torch.export wants its suffix
    try:
        notes: list[str] = []
        _write(portable_copy(model), fmt, temporary, images[:2].contiguous(), notes)
        check = compare(model, load_exported(temporary, fmt, notes), images)
        check.notes = notes
        if not check.passed:
            raise RunError(f"the exported {fmt} file disagrees with PyTorch on {check.images - check.agree} of "
                           f"{check.images} images (max logit difference {check.max_logit_difference:.2g}); "
                           f"nothing written")
        os.replace(temporary, out)
    finally:
        temporary.unlink(missing_ok=True)
    return check
