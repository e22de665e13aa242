"""``shiftnet download``: CIFAR-10/100 and the original pretrained checkpoints, verified."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, DownloadColumn, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from typing_extensions import Annotated

from .common import cli_errors, console, err_console, notice, progress_display

download_app = typer.Typer(help="Download and verify CIFAR-10/100 or pretrained checkpoints.", no_args_is_help=True)

To = Annotated[Optional[Path], typer.Option(
    "--to", help="Target folder.", show_default="the --data-dir convention: $SHIFTNET_DATA or ./data")]
From = Annotated[Optional[str], typer.Option(
    "--from", help="A URL or a local archive to use instead of the default source.", show_default="the official URL")]


@contextlib.contextmanager
def byte_progress(label: str):
    """A Rich progress bar (bytes, rate, ETA) fed by the downloader's callback. It appears only
    once bytes flow (a local archive shows none) and only on a terminal."""
    progress = None
    task = None

    def update(total, advance):
        nonlocal progress, task
        if progress is None:
            progress = progress_display(TextColumn(label), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                                        TimeRemainingColumn(), console=err_console, transient=True)
            progress.start()
            task = progress.add_task(label, total=None)
        if total is not None:
            progress.update(task, total=total, completed=advance)
        else:
            progress.advance(task, advance)

    try:
        yield update
    finally:
        if progress is not None:
            progress.stop()


def _dataset(name: str, to: Optional[Path], source: Optional[str]) -> None:
    with cli_errors():
        from ..data import default_data_dir, prepare_dataset

        folder = default_data_dir(to)
        with byte_progress(f"downloading {name}") as update:
            result = prepare_dataset(name, folder, source, update, notice)
        if result["status"] == "already verified":
            console.print(f"{name}: already verified in {result['folder']}; nothing to do")
            return
        if result["status"] == "verified in place":
            origin = "the files already in the folder"
        elif result["downloaded"]:
            origin = f"downloaded {Path(result['archive']).name}"
        else:
            origin = f"{result['archive']}, not downloaded"
        console.print(f"{name}: verified every file's md5 (splits: {', '.join(result['splits'])}; from {origin}) "
                      f"in {result['folder']}")
        if result["splits"] == ["test"]:
            console.print("[yellow]note:[/] this archive holds only the test split: enough for `shiftnet eval`, "
                          "not for training")


@download_app.command("cifar10")
def download_cifar10(to: To = None, source: From = None) -> None:
    """CIFAR-10 (python version): stream, resume, verify each file's official md5, mark ready."""
    _dataset("cifar10", to, source)


@download_app.command("cifar100")
def download_cifar100(to: To = None, source: From = None) -> None:
    """CIFAR-100 (python version): stream, resume, verify each file's official md5, mark ready."""
    _dataset("cifar100", to, source)


@download_app.command("checkpoints")
def download_checkpoints(
    name: Annotated[str, typer.Argument(help="An archive name (see --list) or all.")] = "all",
    to: Annotated[Path, typer.Option("--to", help="Target folder.")] = Path("checkpoints"),
    source: Annotated[Optional[str], typer.Option(
        "--from", help="URL or local zip (one NAME), or a folder / base URL holding the zips (all).",
        show_default="the registry's URL")] = None,
    list_only: Annotated[bool, typer.Option("--list", help="List the registry and exit.")] = False,
) -> None:
    """The original pretrained .t7 archives (re-hosted on alvinwan/shiftresnet-cifar issue #12), unpacked safely."""
    with cli_errors():
        from ..checkpoint.pretrained import fetch_archive, resolve_names
        from ..data.fetch import is_url

        entries = resolve_names(name)
        if list_only:
            for entry in entries:
                console.print(f"{entry.name:<32} {entry.dataset:<9} {entry.description}")
            return
        for entry in entries:
            entry_source = source
            if source is not None and len(entries) > 1:
                entry_source = (source.rstrip("/") + "/" + entry.file if is_url(source)
                                else str(Path(source) / entry.file))
            with byte_progress(f"downloading {entry.file}") as update:
                record = fetch_archive(entry, to, entry_source, update, notice)
            note = ("verified against the registry" if record.get("sha256_known")
                    else "not in the registry yet: record it")
            how = "" if record["status"] == "already unpacked" else (
                " (downloaded)" if record["downloaded"] else " (not downloaded)")
            console.print(f"{entry.name}: {record['status']}{how} ({len(record['files'])} files) "
                          f"sha256 {record['sha256']} ({note})")
