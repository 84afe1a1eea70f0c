"""The calling conventions of the binding: a status-returning C call raises the exception
for its status; handles are closed idempotently and freed once (by the garbage collector
at the latest); arguments are converted and checked before they reach C."""

from __future__ import annotations

import ctypes
import os
import weakref
from ctypes import POINTER, byref, c_size_t, c_uint8, c_void_p
from typing import Any, Callable, Optional, Tuple, Union

from . import errors
from ._lib import lib
from .errors import Status, error_for

PathLike = Union[str, "os.PathLike[str]"]

#: ``SBX_NO_TIMEOUT``: the ``timeout_ms`` that waits as long as it takes.
NO_TIMEOUT_MS = 2**64 - 1


def _call(fn: Callable[..., int], *args: Any) -> None:
    """Calls a status-returning C function with an error slot; raises on failure."""
    err = c_void_p()
    status = fn(*args, byref(err))
    if status != 0:
        if err.value:
            message = lib.sbx_error_message(err).decode("utf-8", "replace")
            lib.sbx_error_free(err)
        else:
            message = f"libsandbox returned status {status}"
        raise error_for(status, message)


def _text(value: PathLike, what: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, (str, os.PathLike)):
        return os.fsencode(value) if not isinstance(value, str) else value.encode("utf-8", "surrogateescape")
    raise TypeError(f"{what} must be a str or path, not {type(value).__name__}")


def _new(fn: Callable[..., int], *args: Any) -> c_void_p:
    out = c_void_p()
    _call(fn, *args, byref(out))
    return out


class _Handle:
    """Owns one C handle: ``close()`` is idempotent, the free runs once (on GC at the latest)."""

    _close_fn: Optional[Callable[[c_void_p], None]] = None

    def __init__(self, ptr: c_void_p, free: Callable[[c_void_p], None]) -> None:
        self._ptr = ptr
        self._closed = False
        self._finalizer = weakref.finalize(self, free, ptr)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Closes the handle (idempotent, thread-safe): calls blocked in it in other threads
        raise :class:`ClosedError` at once, later calls too."""
        self._closed = True
        if self._close_fn is not None:
            self._close_fn(self._ptr)


def _bytes_of(getter: Callable[..., int], result: c_void_p) -> bytes:
    data = POINTER(c_uint8)()
    size = c_size_t()
    _call(getter, result, byref(data), byref(size))
    return ctypes.string_at(data, size.value) if size.value else b""


def _ms(seconds: float, what: str) -> int:
    """A duration in seconds where zero means nothing (a timeout): more than zero, in ms."""
    if seconds <= 0:
        raise errors.InvalidArgumentError(f"invalid {what}: must be greater than zero", Status.INVALID_ARGUMENT)
    return max(1, round(seconds * 1000))


def _ms_or_zero(seconds: float, what: str) -> int:
    """A duration in seconds where zero means zero (a kill grace, a linger), in ms."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, not {type(seconds).__name__}")
    if seconds < 0 or seconds != seconds:
        raise errors.InvalidArgumentError(f"invalid {what}: {seconds} is negative", Status.INVALID_ARGUMENT)
    return min(2**64 - 1, round(seconds * 1000))


def _timeout_ms(timeout: Optional[float], what: str = "timeout") -> int:
    """A read/wait timeout in seconds for C: None waits as long as it takes, 0 answers at once."""
    if timeout is None:
        return NO_TIMEOUT_MS
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"{what} must be a number of seconds or None, not {type(timeout).__name__}")
    if timeout < 0 or timeout != timeout:
        raise errors.InvalidArgumentError(f"invalid {what}: {timeout} is negative", Status.INVALID_ARGUMENT)
    if timeout == 0:
        return 0
    return min(NO_TIMEOUT_MS - 1, max(1, round(timeout * 1000)))


def _int(value: Any, what: str, lo: int, hi: int) -> int:
    """An integer argument for a fixed-width C parameter: checked here, since ctypes would
    silently wrap a value that does not fit."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if not lo <= value <= hi:
        raise errors.InvalidArgumentError(f"invalid {what}: {value} is out of range {lo}..{hi}", Status.INVALID_ARGUMENT)
    return value


def _u16(value: Any, what: str) -> int:
    return _int(value, what, 0, 2**16 - 1)


def _i32(value: Any, what: str) -> int:
    return _int(value, what, -(2**31), 2**31 - 1)


def _u64(value: Any, what: str) -> int:
    return _int(value, what, 0, 2**64 - 1)


def _size(value: Any, what: str) -> int:
    return _int(value, what, 0, 2 ** (8 * ctypes.sizeof(c_size_t)) - 1)


def _data(value: Any, what: str) -> bytes:
    """Bytes to send: bytes-like as is, str as UTF-8."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{what} must be bytes or str, not {type(value).__name__}")


def _argv(argv: Any, what: str = "argv") -> Tuple[Any, int]:
    """A C array of the argument strings (kept alive by the caller for the call)."""
    if isinstance(argv, (str, bytes)):
        raise TypeError(f"{what} must be a sequence of strings, e.g. ['sh', '-c', 'echo hi']")
    encoded = [_text(a, f"{what} item") for a in argv]
    return (ctypes.c_char_p * max(1, len(encoded)))(*encoded), len(encoded)


def _unix_seconds(ms: int) -> float:
    return ms / 1000.0


def _borrowed_text(p: Optional[bytes]) -> str:
    return p.decode("utf-8", "replace") if p is not None else ""
