"""HTTP(S) downloads that survive a flaky host: .part files, Range resume, timeouts, retries.

The CIFAR host is slow and sometimes down (FIELD_NOTES §3.2), so a download streams into
``NAME.part``, resumes it with an HTTP Range request where the server allows (and restarts
cleanly where it does not), retries with exponential backoff, then tries the next mirror. Only a
complete file is renamed to ``NAME``; checksums are the caller's job.
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
CHUNK = 1 << 16


def http_timeout() -> float:
    return float(os.environ.get("SHIFTNET_HTTP_TIMEOUT", "30"))


class _Incomplete(Exception):
    pass


def _fetch_once(url: str, part: Path, progress: Progress | None, timeout: float) -> None:
    have = part.stat().st_size if part.exists() else 0
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
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        if progress:
            progress(total, have)
        try:
            with open(part, "ab" if resumed else "wb") as out:
                while True:
                    block = response.read(CHUNK)
                    if not block:
                        break
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
             retries: int = 3, backoff: float = 1.0, timeout: float | None = None) -> Path:
    """Fetch the first URL that works into ``target`` (via ``target.part``); return ``target``."""
    timeout = http_timeout() if timeout is None else timeout
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    last_error = "no URL given"
    for url in urls:
        for attempt in range(retries):
            try:
                _fetch_once(url, part, progress, timeout)
                os.replace(part, target)
                return target
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
    kept = f" (partial download kept in {part.name}; rerun to resume)" if part.exists() and part.stat().st_size else ""
    raise RunError(f"download failed: {last_error}{kept}; check the network, or give another source (--from URL_OR_FILE)")


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://", "file://"))


def local_source(source: str) -> Path:
    """--from as a local file (a plain path or file://); UsageError if it does not exist."""
    path = Path(source[len("file://"):] if source.startswith("file://") else source).expanduser()
    if not path.is_file():
        raise UsageError(f"--from {source}: no such file")
    return path
