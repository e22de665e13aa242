"""``shiftnet export``: a checkpoint as ONNX, TorchScript or a torch.export archive, checked before it is kept."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from typing_extensions import Annotated

from ..enums import EXPORT_FORMATS, choices
from ..errors import UsageError
from .common import cli_errors, console


def check_images(model, data_dir: str | None, count: int):
    """The first ``count`` real test images of the model's data set, normalised as it was trained
    (a tensor), and where they came from; random images (said so) when that data set is not downloaded."""
    import torch

    from ..data import default_data_dir, get_dataset, load_split
    from ..data.datasets import ready_splits

    cfg = model.pretrained_cfg
    folder = default_data_dir(data_dir)
    if "test" in ready_splits(folder, get_dataset(cfg["dataset"])):
        images, _ = load_split(folder, cfg["dataset"], train=False)
        source = f"the first {min(count, len(images)):,} {cfg['dataset']} test images"
        images = images[:count].float().div_(255)
    else:
        images = torch.rand(count, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        source = (f"{count:,} random images ({cfg['dataset']} not found in {folder}; `shiftnet download` it for a "
                  f"real check)")
    mean, std = torch.tensor(cfg["mean"]).view(1, 3, 1, 1), torch.tensor(cfg["std"]).view(1, 3, 1, 1)
    return (images - mean) / std, source


def export_command(
    path: Annotated[Path, typer.Argument(
        show_default=False, help="Run folder, .safetensors, last.pt or original .t7.")],
    fmt: Annotated[str, typer.Option(
        "--format", "-f", help=f"{choices(EXPORT_FORMATS)} (pt2: torch.export).")] = next(iter(EXPORT_FORMATS)),
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="Output file.", show_default="beside the checkpoint, suffix of the format")] = None,
    data_dir: Annotated[Optional[str], typer.Option(
        "--data-dir", help="Data folder for the check.", show_default="$SHIFTNET_DATA or ./data")] = None,
    images: Annotated[int, typer.Option(
        "--images", help="Test images the written file must predict as PyTorch does.")] = 1000,
) -> None:
    """Export a model with the shift in standard operators, then run the written file (onnxruntime,
    torch.jit.load or torch.export.load) on test images: it is kept only if every prediction equals PyTorch's."""
    with cli_errors():
        from ..export import check_target, export_checked
        from ..loading import load_model

        if fmt not in EXPORT_FORMATS:
            raise UsageError(f"--format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
        if images < 1:
            raise UsageError(f"--images must be >= 1, got {images}")
        model = load_model(path)
        base = path / model.spec.name if path.is_dir() else path.with_suffix("")
        target = out or base.with_name(base.name + EXPORT_FORMATS[fmt])
        if target.resolve() == Path(model.pretrained_cfg["checkpoint"]).resolve():
            raise UsageError(f"--out {target} is the checkpoint itself; choose another file")
        if target.is_dir() or not target.parent.is_dir():
            raise UsageError(f"--out {target}: not a file in an existing folder")
        check_target(fmt, target)
        batch, source = check_images(model, data_dir, images)
        check = export_checked(model, fmt, target, batch)
        console.print(f"wrote {target} ({fmt}, {model.spec.name}); checked on {source}: {check.agree}/{check.images} "
                      f"predictions equal PyTorch's, max logit difference {check.max_logit_difference:.2g}")
        for note in check.notes:
            console.print(f"note: {note}", soft_wrap=True)
