"""HTTP(S) downloads that survive a flaky host: .part files, Range resume, timeouts, retries, caps.

The CIFAR host is slow and sometimes down, so a download streams into ``NAME.part``, resumes it
with an HTTP Range request where the server allows (and restarts cleanly where it does not),
retries with exponential backoff, then tries the next mirror (saying so through ``notice``). Only
a complete file is renamed to ``NAME``; checksums are the caller's job.

Every download has a byte cap that a real archive never reaches: a ``Content-Length`` above it is
refused before any byte is written, and a server that streams past it (no length, or a lying one)
is cut off there, its ``.part`` removed, so a hostile or broken server cannot fill the disk.
"""

from __future__ import annotations

import http.client
import os
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Sequence

from ..errors import RunError, UsageError
from ..fileio import disk_error

Progress = Callable[[int | None, int], None]  # (total bytes if known, bytes just added); total sent once
Notice = Callable[[str], None]  # one line for the user (e.g. "trying mirror ...")
CHUNK = 1 << 16
# The largest file any registered source serves is the 170 MB CIFAR archive: 2 GiB is never reached.
MAX_DOWNLOAD_BYTES = 2 << 30


def http_timeout() -> float:
    return float(os.environ.get("SHIFTNET_HTTP_TIMEOUT", "30"))


def size_text(n: int) -> str:
    """Bytes for messages: 2 GiB, 170.5 MB, 512 bytes."""
    if n >= 1 << 30:
        return f"{n / (1 << 30):.1f} GiB"
    if n >= 1 << 20:
        return f"{n / (1 << 20):.1f} MiB"
    return f"{n} bytes"


class _Incomplete(Exception):
    pass


class _TooLarge(Exception):
    """The server offers or sends more than the cap: retrying the same URL would do it again."""


def _content_length(response) -> int | None:
    value = response.headers.get("Content-Length")
    try:
        length = int(value) if value is not None else None
    except ValueError:
        return None
    return length if length is not None and length >= 0 else None


def _fetch_once(url: str, part: Path, progress: Progress | None, timeout: float, max_bytes: int) -> None:
    have = part.stat().st_size if part.exists() else 0
    if have > max_bytes:
        part.unlink()
        have = 0
    request = urllib.request.Request(url, headers={"User-Agent": "shiftnet"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # our partial file is not a prefix the server recognises: restart
            part.unlink()
            raise _Incomplete("server refused the resume range; restarting") from None
        raise
    with response:
        resumed = have and response.status == 206
        if not resumed:
            have = 0
        length = _content_length(response)
        total = have + length if length is not None else None
        if total is not None and total > max_bytes:
            raise _TooLarge(f"the server announces {size_text(total)}, more than the {size_text(max_bytes)} cap")
        if progress:
            progress(total, have)
        try:
            with open(part, "ab" if resumed else "wb") as out:
                while True:
                    block = response.read(CHUNK)
                    if not block:
                        break
                    if have + len(block) > max_bytes:
                        raise _TooLarge(f"the server sent more than the {size_text(max_bytes)} cap")
                    out.write(block)
                    have += len(block)
                    if progress:
                        progress(None, len(block))
        except OSError as exc:
            if isinstance(exc, (socket.timeout, ConnectionError)):
                raise
            raise disk_error(exc, part) from exc
    if total is not None and have != total:
        raise _Incomplete(f"connection closed after {have} of {total} bytes")


def download(urls: Sequence[str], target: Path, progress: Progress | None = None,
             retries: int = 3, backoff: float = 1.0, timeout: float | None = None,
             max_bytes: int = MAX_DOWNLOAD_BYTES, notice: Notice | None = None,
             check: Callable[[Path], object] | None = None) -> Path:
    """Fetch the first URL that works into ``target`` (via ``target.part``); return ``target``.

    Moving on to the next URL is announced through ``notice`` ("trying mirror ..."). A server that
    offers or sends more than ``max_bytes`` is not retried and leaves no ``.part`` behind. ``check``
    judges a complete download: a UsageError from it deletes the file (this run downloaded it) and
    moves on to the next URL; when every URL served a bad file, that is a UsageError too.
    """
    timeout = http_timeout() if timeout is None else timeout
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    last_error = "no URL given"
    bad_files = 0
    for index, url in enumerate(urls):
        if index and notice is not None:
            notice(f"trying mirror {url} ({last_error})")
        for attempt in range(retries):
            try:
                _fetch_once(url, part, progress, timeout, max_bytes)
                os.replace(part, target)
                if check is not None:
                    check(target)
                return target
            except UsageError as exc:
                target.unlink(missing_ok=True)
                bad_files += 1
                last_error = f"{url} served a file that fails verification ({exc}); deleted it"
                break
            except _TooLarge as exc:
                part.unlink(missing_ok=True)
                last_error = f"{url}: {exc}"
                break
            except urllib.error.HTTPError as exc:
                last_error = f"{url}: HTTP {exc.code} {exc.reason}"
                if exc.code in (401, 403, 404, 410):
                    break  # will not change on retry: next mirror
            except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError,
                    http.client.HTTPException, _Incomplete) as exc:
                reason = getattr(exc, "reason", exc)
                last_error = f"{url}: {reason or type(exc).__name__}"
            if attempt + 1 < retries:
                time.sleep(backoff * 2**attempt)
    if bad_files and bad_files == len(urls):
        raise UsageError(f"no download passed verification: {last_error}; "
                         f"rerun, or give another source (--from URL_OR_FILE)")
    kept = f" (partial download kept in {part.name}; rerun to resume)" if part.exists() and part.stat().st_size else ""
    raise RunError(f"download failed: {last_error}{kept}; check the network, "
                   f"or give another source (--from URL_OR_FILE)")


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://", "file://"))


def local_source(source: str) -> Path:
    """--from as a local file (a plain path or file://); UsageError if it does not exist."""
    path = Path(source[len("file://"):] if source.startswith("file://") else source).expanduser()
    if not path.is_file():
        raise UsageError(f"--from {source}: no such file")
    return path
