"""Streaming exec: :class:`ExecStream`, an iterator of :class:`StdoutEvent`,
:class:`StderrEvent` and a final :class:`ExitEvent`, with stdin and signals."""

from __future__ import annotations

import signal as _signal
import threading
from ctypes import c_void_p
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Optional, Union

from ._calls import _Handle, _bytes_of, _call, _data, _i32, _new, _timeout_ms
from ._lib import lib
from .errors import NotRunningError

if TYPE_CHECKING:  # pragma: no cover
    from . import Session

_STDOUT, _STDERR, _EXIT = 1, 2, 3


@dataclass(frozen=True)
class StdoutEvent:
    """Bytes the command wrote to stdout."""

    data: bytes


@dataclass(frozen=True)
class StderrEvent:
    """Bytes the command wrote to stderr."""

    data: bytes


@dataclass(frozen=True)
class ExitEvent:
    """How the command ended; the last event of a stream."""

    #: Exit status, or None when killed by a signal.
    exit_code: Optional[int]
    signal: Optional[int]
    timed_out: bool
    oom_killed: bool
    stdout_total: int
    stderr_total: int
    #: Seconds from spawn to exit, measured in the container.
    duration: float

    @property
    def success(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


ExecEvent = Union[StdoutEvent, StderrEvent, ExitEvent]


def _take_event(p: c_void_p) -> ExecEvent:
    try:
        kind = lib.sbx_exec_event_kind(p)
        if kind == _STDOUT:
            return StdoutEvent(_bytes_of(lib.sbx_exec_event_data, p))
        if kind == _STDERR:
            return StderrEvent(_bytes_of(lib.sbx_exec_event_data, p))
        code = lib.sbx_exec_event_exit_code(p)
        sig = lib.sbx_exec_event_signal(p)
        return ExitEvent(
            exit_code=None if code < 0 else code,
            signal=sig or None,
            timed_out=bool(lib.sbx_exec_event_timed_out(p)),
            oom_killed=bool(lib.sbx_exec_event_oom_killed(p)),
            stdout_total=int(lib.sbx_exec_event_stdout_total(p)),
            stderr_total=int(lib.sbx_exec_event_stderr_total(p)),
            duration=lib.sbx_exec_event_duration_us(p) / 1e6,
        )
    finally:
        lib.sbx_exec_event_free(p)


class ExecStream(_Handle):
    """A running command whose output arrives as events, from :meth:`Session.exec_stream`.

    Iterate it (``for ev in stream:``) for :class:`StdoutEvent` / :class:`StderrEvent`
    and, last, an :class:`ExitEvent` (also kept in :attr:`exit`); or call
    :meth:`next_event` with a timeout. Feed stdin with :meth:`write` and
    :meth:`close_stdin` (from any thread, also while another thread iterates); signal it
    with :meth:`signal`. The command runs only as fast as its output is read.

    ``close()`` (idempotent, any thread) kills the command if it still runs and makes a
    read blocked in another thread raise :class:`ClosedError`. ``with`` closes it on
    exit, so a command still running when the block ends is killed; so is one whose
    stream is garbage-collected.
    """

    _close_fn = staticmethod(lib.sbx_exec_stream_close)

    def __init__(self, ptr: c_void_p, session: "Session") -> None:
        super().__init__(ptr, lib.sbx_exec_stream_free)
        self._session = session
        self._lock = threading.Lock()
        #: The exit event, once it was read.
        self.exit: Optional[ExitEvent] = None

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("exited" if self.exit else "running")
        return f"<sandbox.ExecStream {state}>"

    def __enter__(self) -> "ExecStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def next_event(self, timeout: Optional[float] = None) -> ExecEvent:
        """The next event, waiting up to ``timeout`` seconds (None: as long as it takes; 0:
        only one already there). :class:`SandboxTimeoutError` when none came (call again);
        :class:`NotRunningError` after the exit event."""
        with self._lock:
            event = _take_event(_new(lib.sbx_exec_stream_next, self._ptr, _timeout_ms(timeout)))
            if isinstance(event, ExitEvent):
                self.exit = event
            return event

    def __iter__(self) -> Iterator[ExecEvent]:
        while self.exit is None:
            try:
                yield self.next_event()
            except NotRunningError:
                return

    def wait(self) -> ExitEvent:
        """Reads (and discards) the remaining output until the exit; returns the exit."""
        for _ in self:
            pass
        assert self.exit is not None
        return self.exit

    def write(self, data: Union[bytes, bytearray, memoryview, str]) -> None:
        """Writes to the command's stdin (bytes, or str as UTF-8); waits while the command
        is a window behind. :class:`NotRunningError` after it ended or stdin was closed."""
        payload = _data(data, "data")
        _call(lib.sbx_exec_stream_write_stdin, self._ptr, payload, len(payload))

    def close_stdin(self) -> None:
        """Closes the command's stdin: it reads end of file."""
        _call(lib.sbx_exec_stream_close_stdin, self._ptr)

    def signal(self, signal: int = _signal.SIGTERM) -> None:
        """Sends ``signal`` to the command's process group."""
        _call(lib.sbx_exec_stream_signal, self._ptr, _i32(signal, "signal"))
