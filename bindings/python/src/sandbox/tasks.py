"""Background tasks: :class:`Task` (a handle on one task) and :class:`TaskInfo`."""

from __future__ import annotations

import signal as _signal
from ctypes import c_void_p
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, List, Mapping, Optional, Sequence, Union

from . import errors
from ._calls import (
    _Handle,
    _argv,
    _borrowed_text,
    _call,
    _i32,
    _new,
    _size,
    _text,
    _timeout_ms,
    _u64,
    _unix_seconds,
)
from ._lib import lib
from .errors import Status
from .output import OutputChunk, _take_chunk

if TYPE_CHECKING:  # pragma: no cover
    from . import CancelToken, Session

#: Names of the task output streams, as ``sbx_task_stream`` numbers.
STREAMS = {"merged": 0, "stdout": 1, "stderr": 2}
#: ``sbx_process_state`` numbers as the names :attr:`TaskInfo.state` uses.
STATES = {1: "running", 2: "exited", 3: "killed"}
#: How much one read asks for by default.
READ_SIZE = 1 << 20


def _stream(stream: str) -> int:
    try:
        return STREAMS[stream]
    except (KeyError, TypeError):
        raise errors.InvalidArgumentError(
            f"invalid stream: {stream!r}; use 'merged', 'stdout' or 'stderr'", Status.INVALID_ARGUMENT
        ) from None


@dataclass(frozen=True)
class TaskInfo:
    """A snapshot of a task."""

    id: str
    command: str
    #: "running", "exited" or "killed".
    state: str
    #: Exit status once it exited.
    exit_code: Optional[int]
    #: The signal that killed it.
    signal: Optional[int]
    pid: int
    #: Unix time (seconds) it started.
    started: float
    #: Unix time it ended, while running None.
    ended: Optional[float]
    #: Bytes kept per output stream.
    spool_cap: int

    @property
    def running(self) -> bool:
        return self.state == "running"


def _task_info(p: c_void_p) -> TaskInfo:
    """Reads an ``sbx_task_info`` (owned or borrowed; not freed here)."""
    state = STATES.get(lib.sbx_task_info_state(p), "unknown")
    ended = lib.sbx_task_info_ended_unix_ms(p)
    return TaskInfo(
        id=_borrowed_text(lib.sbx_task_info_id(p)),
        command=_borrowed_text(lib.sbx_task_info_command(p)),
        state=state,
        exit_code=lib.sbx_task_info_exit_code(p) if state == "exited" else None,
        signal=lib.sbx_task_info_signal(p) if state == "killed" else None,
        pid=int(lib.sbx_task_info_pid(p)),
        started=_unix_seconds(lib.sbx_task_info_started_unix_ms(p)),
        ended=None if ended < 0 else _unix_seconds(ended),
        spool_cap=int(lib.sbx_task_info_spool_cap(p)),
    )


def _take_task_info(p: c_void_p) -> TaskInfo:
    try:
        return _task_info(p)
    finally:
        lib.sbx_task_info_free(p)


def _task_spec(
    command: Union[str, Sequence[str]],
    env: Optional[Mapping[str, str]],
    cwd: Optional[str],
    spool_cap: Optional[int],
) -> c_void_p:
    if isinstance(command, str):
        spec = _new(lib.sbx_task_spec_new_shell, _text(command, "command"))
    else:
        arr, n = _argv(command, "command")
        spec = _new(lib.sbx_task_spec_new, arr, n)
    try:
        for k, v in (env or {}).items():
            _call(lib.sbx_task_spec_add_env, spec, _text(k, "env name"), _text(v, "env value"))
        if cwd is not None:
            _call(lib.sbx_task_spec_set_cwd, spec, _text(cwd, "cwd"))
        if spool_cap is not None:
            _call(lib.sbx_task_spec_set_spool_cap, spec, _u64(spool_cap, "spool_cap"))
    except BaseException:
        lib.sbx_task_spec_free(spec)
        raise
    return spec


class Task(_Handle):
    """A background task of a session, from :meth:`Session.spawn` or :meth:`Session.task`.

    The task lives in the session's agent: it keeps running after this object is closed
    or collected, and any process can find it again by id. ``close()`` (idempotent, any
    thread) makes a :meth:`wait` or waiting :meth:`output` in another thread raise
    :class:`ClosedError`; it does not kill the task. ``with`` closes the handle.
    """

    _close_fn = staticmethod(lib.sbx_task_close)

    def __init__(self, ptr: c_void_p, session: "Session") -> None:
        super().__init__(ptr, lib.sbx_task_free)
        self._session = session  # the session handle outlives its tasks' handles
        self.id: str = lib.sbx_task_id(ptr).decode()

    def __repr__(self) -> str:
        return f"<sandbox.Task {self.id!r}{' closed' if self._closed else ''}>"

    def __enter__(self) -> "Task":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def info(self) -> TaskInfo:
        """How the task is doing now."""
        return _take_task_info(_new(lib.sbx_task_get_info, self._ptr))

    def output(
        self,
        stream: str = "merged",
        offset: int = 0,
        max_bytes: int = READ_SIZE,
        timeout: Optional[float] = 0,
        cancel: Optional["CancelToken"] = None,
    ) -> OutputChunk:
        """Reads up to ``max_bytes`` of ``stream`` ("merged", "stdout" or "stderr") from
        ``offset``. With ``timeout`` 0 (the default) returns what is there; otherwise waits
        up to ``timeout`` seconds (None: as long as it takes) for new output while the task
        runs, raising :class:`SandboxTimeoutError` when none comes."""
        ptr = _new(
            lib.sbx_task_output,
            self._ptr,
            _stream(stream),
            _u64(offset, "offset"),
            _size(max_bytes, "max_bytes"),
            _timeout_ms(timeout),
            cancel._ptr if cancel is not None else None,
        )
        return _take_chunk(ptr)

    def tail(self, nbytes: int = 4096, stream: str = "merged") -> OutputChunk:
        """The last ``nbytes`` bytes of ``stream``."""
        return _take_chunk(_new(lib.sbx_task_tail, self._ptr, _stream(stream), _size(nbytes, "nbytes")))

    def follow(self, stream: str = "merged", offset: int = 0) -> Iterator[bytes]:
        """Yields the output of ``stream`` from ``offset`` as it comes, until the task ended
        and everything was read (or the handle is closed: :class:`ClosedError`)."""
        while True:
            chunk = self.output(stream, offset, READ_SIZE, timeout=None)
            if chunk.data:
                yield chunk.data
            offset = chunk.next_offset
            if chunk.finished:
                return

    def read_all(self, stream: str = "merged") -> bytes:
        """Waits for the task to end, then returns everything still kept of ``stream``."""
        return b"".join(self.follow(stream))

    def wait(self, timeout: Optional[float] = None, cancel: Optional["CancelToken"] = None) -> TaskInfo:
        """Waits until the task ends (None: as long as it takes) and returns its final info;
        :class:`SandboxTimeoutError` when it still runs after ``timeout`` seconds. Its last
        output may arrive a moment later: :meth:`follow` / :meth:`read_all` wait for it."""
        ptr = _new(lib.sbx_task_wait, self._ptr, _timeout_ms(timeout), cancel._ptr if cancel is not None else None)
        return _take_task_info(ptr)

    def kill(self, signal: int = _signal.SIGTERM) -> None:
        """Sends ``signal`` to the task's process group; :class:`NotRunningError` once it and
        all its processes have exited."""
        _call(lib.sbx_task_kill, self._ptr, _i32(signal, "signal"))


def _task_list(ptr: c_void_p) -> List[TaskInfo]:
    try:
        return [_task_info(lib.sbx_task_list_get(ptr, i)) for i in range(lib.sbx_task_list_len(ptr))]
    finally:
        lib.sbx_task_list_free(ptr)

