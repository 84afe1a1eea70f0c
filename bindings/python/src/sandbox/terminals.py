"""PTY terminals: :class:`Terminal` (a handle on one terminal, iterable for its output)
and :class:`TerminalInfo`."""

from __future__ import annotations

import signal as _signal
import threading
import time
from ctypes import c_void_p
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, List, Mapping, Optional, Sequence, Union

from ._calls import _argv, _call, _data, _new, _size, _text, _timeout_ms, _u16, _u64
from ._lib import lib
from ._process import _apply_spec, _info_list, _process_fields, _Process, _ProcessInfo
from .errors import SandboxTimeoutError, Status
from .output import OutputChunk, _take_chunk

if TYPE_CHECKING:  # pragma: no cover
    from . import CancelToken, Session

READ_SIZE = 1 << 16


@dataclass(frozen=True)
class TerminalInfo(_ProcessInfo):
    """A snapshot of a terminal (``state``, ``exit_code`` and ``signal`` are its program's)."""

    rows: int
    cols: int
    #: Unix time (seconds) it started.
    started: float
    #: Unix time its program ended, while running None.
    ended: Optional[float]
    #: Scrollback bytes kept.
    scrollback: int

    #: Whether the terminal's program still runs.
    alive = _ProcessInfo._running


def _terminal_info(p: c_void_p) -> TerminalInfo:
    """Reads an ``sbx_terminal_info`` (owned or borrowed; not freed here)."""
    return TerminalInfo(
        **_process_fields("terminal", p),
        rows=int(lib.sbx_terminal_info_rows(p)),
        cols=int(lib.sbx_terminal_info_cols(p)),
        scrollback=int(lib.sbx_terminal_info_scrollback(p)),
    )


def _terminal_list(ptr: c_void_p) -> List[TerminalInfo]:
    return _info_list("terminal", _terminal_info, ptr)


def _terminal_spec(
    command: Union[None, str, Sequence[str]],
    rows: int,
    cols: int,
    env: Optional[Mapping[str, str]],
    cwd: Optional[str],
    scrollback: Optional[int],
) -> c_void_p:
    spec = _new(lib.sbx_terminal_spec_new, _u16(rows, "rows"), _u16(cols, "cols"))
    try:
        if isinstance(command, str):
            _call(lib.sbx_terminal_spec_set_shell_command, spec, _text(command, "command"))
        elif command is not None:
            arr, n = _argv(command, "command")
            _call(lib.sbx_terminal_spec_set_argv, spec, arr, n)
    except BaseException:
        lib.sbx_terminal_spec_free(spec)
        raise
    _apply_spec("terminal", spec, env, cwd, "scrollback", scrollback)
    return spec


class Terminal(_Process):
    """A PTY terminal of a session, from :meth:`Session.open_terminal` or
    :meth:`Session.terminal`.

    Write keystrokes with :meth:`write`; read what the program prints with :meth:`read`
    or by iterating (``for data in term: ...`` yields bytes until the program ended and
    everything was read). The terminal keeps the read position (:attr:`offset`); a new
    handle on the same terminal starts at 0 and replays the scrollback.

    ``close()`` (idempotent, any thread) makes a read or wait blocked in another thread
    raise :class:`ClosedError` at once; it does not stop the program. ``with`` on a
    terminal this object opened kills its program (SIGKILL) and closes the handle; on one
    found by id it only closes the handle.
    """

    _kind = "terminal"
    _close_fn = staticmethod(lib.sbx_terminal_close)
    _read_info = staticmethod(_terminal_info)

    def __init__(self, ptr: c_void_p, session: "Session", opened: bool) -> None:
        super().__init__(ptr, session)
        self._opened = opened
        self._read_lock = threading.Lock()
        #: Where the next :meth:`read` starts (absolute offset in the terminal's output).
        self.offset = 0

    def __exit__(self, *exc: object) -> None:
        try:
            if self._opened and not self._closed:
                try:
                    self.kill(_signal.SIGKILL)
                except Exception:  # noqa: BLE001 - it may have ended already
                    pass
        finally:
            self.close()

    def info(self) -> TerminalInfo:
        """State and size now."""
        return self._info()

    def write(self, data: Union[bytes, bytearray, memoryview, str]) -> None:
        """Sends keystrokes (bytes, or str as UTF-8): ``term.write("ls\\n")``.
        :class:`NotRunningError` once the program has exited."""
        payload = _data(data, "data")
        _call(lib.sbx_terminal_write, self._ptr, payload, len(payload))

    def read_chunk(
        self,
        offset: int,
        max_bytes: int = READ_SIZE,
        timeout: Optional[float] = 0,
        cancel: Optional["CancelToken"] = None,
    ) -> OutputChunk:
        """Reads the output from absolute ``offset`` without moving :attr:`offset`. With
        ``timeout`` 0 (the default) returns what is there; otherwise waits up to ``timeout``
        seconds (None: as long as it takes), raising :class:`SandboxTimeoutError` when
        nothing comes."""
        ptr = _new(
            lib.sbx_terminal_read,
            self._ptr,
            _u64(offset, "offset"),
            _size(max_bytes, "max_bytes"),
            _timeout_ms(timeout),
            cancel._ptr if cancel is not None else None,
        )
        return _take_chunk(ptr)

    def read(
        self, max_bytes: int = READ_SIZE, timeout: Optional[float] = None, cancel: Optional["CancelToken"] = None
    ) -> bytes:
        """The next output from :attr:`offset`, waiting up to ``timeout`` seconds (None: as
        long as it takes; :class:`SandboxTimeoutError` when nothing came). Returns ``b""``
        once the program ended and everything was read. One reader at a time."""
        with self._read_lock:
            chunk = self.read_chunk(self.offset, max_bytes, timeout, cancel)
            self.offset = chunk.next_offset
            return chunk.data

    def read_until(self, needle: Union[bytes, str], timeout: float = 10.0) -> bytes:
        """Reads until the output read in this call contains ``needle``; returns it all.
        :class:`SandboxTimeoutError` when ``timeout`` seconds pass without it, EOFError
        when the program ends first."""
        want = needle.encode() if isinstance(needle, str) else needle
        seen = b""
        deadline = time.monotonic() + timeout
        while want not in seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SandboxTimeoutError(
                    f"terminal output did not contain {needle!r} within {timeout} s", Status.TIMEOUT
                )
            data = self.read(timeout=left)
            if not data:  # only at the end: a waiting read returns bytes or raises
                raise EOFError(f"the terminal's program ended before printing {needle!r}")
            seen += data
        return seen

    def __iter__(self) -> Iterator[bytes]:
        while True:
            with self._read_lock:
                chunk = self.read_chunk(self.offset, READ_SIZE, None)
                self.offset = chunk.next_offset
            if chunk.data:
                yield chunk.data
            if chunk.finished:
                return

    def resize(self, rows: int, cols: int) -> None:
        """Resizes the terminal (1 to 1000 each); its program gets SIGWINCH."""
        _call(lib.sbx_terminal_resize, self._ptr, _u16(rows, "rows"), _u16(cols, "cols"))

    def kill(self, signal: int = _signal.SIGHUP) -> None:
        """Sends ``signal`` (default SIGHUP, what closing a real terminal sends) to the
        terminal's process group."""
        self._kill(signal)

    def wait(self, timeout: Optional[float] = None, cancel: Optional["CancelToken"] = None) -> TerminalInfo:
        """Waits until the program ends (None: as long as it takes) and returns the final
        info; :class:`SandboxTimeoutError` when it still runs after ``timeout`` seconds."""
        return self._wait(timeout, cancel)
