"""PTY terminals: :class:`Terminal` (a handle on one terminal, iterable for its output)
and :class:`TerminalInfo`."""

from __future__ import annotations

import signal as _signal
import threading
import time
from ctypes import c_void_p
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, List, Mapping, Optional, Sequence, Union

from ._calls import (
    _Handle,
    _argv,
    _borrowed_text,
    _call,
    _data,
    _i32,
    _new,
    _size,
    _text,
    _timeout_ms,
    _u16,
    _u64,
    _unix_seconds,
)
from ._lib import lib
from .errors import SandboxTimeoutError, Status
from .output import OutputChunk, _take_chunk
from .tasks import STATES

if TYPE_CHECKING:  # pragma: no cover
    from . import CancelToken, Session

READ_SIZE = 1 << 16


@dataclass(frozen=True)
class TerminalInfo:
    """A snapshot of a terminal."""

    id: str
    command: str
    #: "running", "exited" or "killed" (its program).
    state: str
    exit_code: Optional[int]
    signal: Optional[int]
    pid: int
    rows: int
    cols: int
    #: Unix time (seconds) it started.
    started: float
    #: Unix time its program ended, while running None.
    ended: Optional[float]
    #: Scrollback bytes kept.
    scrollback: int

    @property
    def alive(self) -> bool:
        return self.state == "running"


def _terminal_info(p: c_void_p) -> TerminalInfo:
    """Reads an ``sbx_terminal_info`` (owned or borrowed; not freed here)."""
    state = STATES.get(lib.sbx_terminal_info_state(p), "unknown")
    ended = lib.sbx_terminal_info_ended_unix_ms(p)
    return TerminalInfo(
        id=_borrowed_text(lib.sbx_terminal_info_id(p)),
        command=_borrowed_text(lib.sbx_terminal_info_command(p)),
        state=state,
        exit_code=lib.sbx_terminal_info_exit_code(p) if state == "exited" else None,
        signal=lib.sbx_terminal_info_signal(p) if state == "killed" else None,
        pid=int(lib.sbx_terminal_info_pid(p)),
        rows=int(lib.sbx_terminal_info_rows(p)),
        cols=int(lib.sbx_terminal_info_cols(p)),
        started=_unix_seconds(lib.sbx_terminal_info_started_unix_ms(p)),
        ended=None if ended < 0 else _unix_seconds(ended),
        scrollback=int(lib.sbx_terminal_info_scrollback(p)),
    )


def _take_terminal_info(p: c_void_p) -> TerminalInfo:
    try:
        return _terminal_info(p)
    finally:
        lib.sbx_terminal_info_free(p)


def _terminal_list(ptr: c_void_p) -> List[TerminalInfo]:
    try:
        return [_terminal_info(lib.sbx_terminal_list_get(ptr, i)) for i in range(lib.sbx_terminal_list_len(ptr))]
    finally:
        lib.sbx_terminal_list_free(ptr)


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
        for k, v in (env or {}).items():
            _call(lib.sbx_terminal_spec_add_env, spec, _text(k, "env name"), _text(v, "env value"))
        if cwd is not None:
            _call(lib.sbx_terminal_spec_set_cwd, spec, _text(cwd, "cwd"))
        if scrollback is not None:
            _call(lib.sbx_terminal_spec_set_scrollback, spec, _u64(scrollback, "scrollback"))
    except BaseException:
        lib.sbx_terminal_spec_free(spec)
        raise
    return spec


class Terminal(_Handle):
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

    _close_fn = staticmethod(lib.sbx_terminal_close)

    def __init__(self, ptr: c_void_p, session: "Session", opened: bool) -> None:
        super().__init__(ptr, lib.sbx_terminal_free)
        self._session = session  # the session handle outlives its terminals' handles
        self._opened = opened
        self._read_lock = threading.Lock()
        self.id: str = lib.sbx_terminal_id(ptr).decode()
        #: Where the next :meth:`read` starts (absolute offset in the terminal's output).
        self.offset = 0

    def __repr__(self) -> str:
        return f"<sandbox.Terminal {self.id!r}{' closed' if self._closed else ''}>"

    def __enter__(self) -> "Terminal":
        return self

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
        return _take_terminal_info(_new(lib.sbx_terminal_get_info, self._ptr))

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
        _call(lib.sbx_terminal_kill, self._ptr, _i32(signal, "signal"))

    def wait(self, timeout: Optional[float] = None, cancel: Optional["CancelToken"] = None) -> TerminalInfo:
        """Waits until the program ends (None: as long as it takes) and returns the final
        info; :class:`SandboxTimeoutError` when it still runs after ``timeout`` seconds."""
        ptr = _new(lib.sbx_terminal_wait, self._ptr, _timeout_ms(timeout), cancel._ptr if cancel is not None else None)
        return _take_terminal_info(ptr)
