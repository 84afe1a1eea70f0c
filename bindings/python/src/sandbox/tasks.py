"""Background tasks: :class:`Task` (a handle on one task) and :class:`TaskInfo`."""

from __future__ import annotations

import signal as _signal
from ctypes import c_void_p
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, List, Mapping, Optional, Sequence, Union

from . import errors
from ._calls import _argv, _new, _size, _text, _timeout_ms, _u64
from ._lib import lib
from ._process import STATES  # noqa: F401 - kept here too: sandbox.tasks.STATES
from ._process import _apply_spec, _info_list, _process_fields, _Process, _ProcessInfo
from .errors import Status
from .output import OutputChunk, _take_chunk

if TYPE_CHECKING:  # pragma: no cover
    from . import CancelToken, Session

#: Names of the task output streams, as ``sbx_task_stream`` numbers.
STREAMS = {"merged": 0, "stdout": 1, "stderr": 2}
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
class TaskInfo(_ProcessInfo):
    """A snapshot of a task."""

    #: Unix time (seconds) it started.
    started: float
    #: Unix time it ended, while running None.
    ended: Optional[float]
    #: Bytes kept per output stream.
    spool_cap: int

    #: Whether the task still runs.
    running = _ProcessInfo._running


def _task_info(p: c_void_p) -> TaskInfo:
    """Reads an ``sbx_task_info`` (owned or borrowed; not freed here)."""
    return TaskInfo(**_process_fields("task", p), spool_cap=int(lib.sbx_task_info_spool_cap(p)))


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
    _apply_spec("task", spec, env, cwd, "spool_cap", spool_cap)
    return spec


class Task(_Process):
    """A background task of a session, from :meth:`Session.spawn` or :meth:`Session.task`.

    The task lives in the session's agent: it keeps running after this object is closed
    or collected, and any process can find it again by id. ``close()`` (idempotent, any
    thread) makes a :meth:`wait` or waiting :meth:`output` in another thread raise
    :class:`ClosedError`; it does not kill the task. ``with`` closes the handle.
    """

    _kind = "task"
    _close_fn = staticmethod(lib.sbx_task_close)
    _read_info = staticmethod(_task_info)

    def __exit__(self, *exc: object) -> None:
        self.close()

    def info(self) -> TaskInfo:
        """How the task is doing now."""
        return self._info()

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
        return self._wait(timeout, cancel)

    def kill(self, signal: int = _signal.SIGTERM) -> None:
        """Sends ``signal`` to the task's process group; :class:`NotRunningError` once it and
        all its processes have exited."""
        self._kill(signal)


def _task_list(ptr: c_void_p) -> List[TaskInfo]:
    return _info_list("task", _task_info, ptr)

