"""A restricted unpickler: only globals on an explicit allow-list are ever looked up.

CIFAR's python-version files and the original ``.t7`` checkpoints are pickles, and a pickle can
call any importable function while it loads (``os.system`` included). ``load_restricted`` maps each
allowed ``(module, name)`` to the object to use instead and refuses every other global before
anything runs, so a malicious file fails with ``UnsafePickleError`` and has no side effect.
"""

from __future__ import annotations

import io
import pickle
from typing import Any, Callable, Mapping

from .errors import UsageError


class UnsafePickleError(UsageError):
    """The pickle asked for a global outside the allow-list."""


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, allowed: Mapping[tuple[str, str], Any], what: str, persistent_load: Callable | None,
                 **kwargs):
        super().__init__(file, **kwargs)
        self._allowed = allowed
        self._what = what
        self._persistent = persistent_load

    def find_class(self, module: str, name: str):
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing unsafe {self._what}: it asks for {module}.{name}, which is not on the allow-list "
                f"(only trusted files should be loaded; this one may be corrupt or malicious)"
            ) from None

    def persistent_load(self, pid):
        if self._persistent is None:
            raise UnsafePickleError(f"refusing unsafe {self._what}: unexpected persistent id {pid!r}")
        return self._persistent(pid)


def load_restricted(data: bytes | io.BufferedIOBase, allowed: Mapping[tuple[str, str], Any], what: str,
                    persistent_load: Callable | None = None, encoding: str = "latin1") -> Any:
    """Unpickle ``data`` (bytes or a binary file) resolving globals only through ``allowed``."""
    file = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    try:
        return _RestrictedUnpickler(file, allowed, what, persistent_load, encoding=encoding).load()
    except UsageError:  # includes UnsafePickleError and errors raised by allowed callables
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            OverflowError, RecursionError) as exc:
        raise UsageError(f"{what} is not a valid pickle (truncated or corrupt: {exc})") from None


def numpy_array_globals() -> dict[tuple[str, str], Any]:
    """The globals a pickled numpy array needs (numpy 1 and 2 module paths), plus ``_codecs.encode``
    that Python 3 protocol-2 pickles use for bytes; none of them can run arbitrary code."""
    import codecs

    import numpy

    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    allowed = {("numpy", "ndarray"): numpy.ndarray, ("numpy", "dtype"): numpy.dtype,
               ("_codecs", "encode"): codecs.encode}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = _reconstruct
    return allowed
