"""The session's event stream: :class:`EventStream` (from :meth:`Session.events`), an
iterator, also an asynchronous one, of :class:`Event` records (file changes, processes,
ports, resource samples, the session's lifecycle, egress decisions) in sequence order; and
:class:`ResourceSample` (:meth:`Session.stats`).

Every event is one flat record, the same columns in every face; which fields are set
depends on its ``kind`` and ``action`` (the README's event table), the others are None.
Sequence numbers start at 1; a reader that goes away resumes in a new stream with
``from_seq = last seq + 1`` (:attr:`EventStream.position`), from any process, and gets
every event it had not taken, or a ``gap`` event counting those the journal no longer
has. A stream ends after the session's ``lifecycle`` ``stopped`` or ``lost`` event."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from ctypes import byref, c_void_p
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Dict, Iterable, Iterator, Mapping, Optional, Set, Union

from . import errors
from ._calls import PathLike, _call, _Handle, _new, _text, _timeout_ms, _u16, _u64
from ._lib import lib
from .errors import NotRunningError, SandboxError, SandboxTimeoutError, Status

if TYPE_CHECKING:  # pragma: no cover
    from . import CancelToken, Session

#: The kinds a stream can be filtered by, as their ``SBX_EVENT_KIND_*`` flags. (``gap``
#: events are not among them: they always come.)
KINDS = {"file": 1, "process": 2, "port": 4, "resources": 8, "lifecycle": 16, "network": 32}


@dataclass(frozen=True)
class ResourceSample:
    """The session's resources at one moment (a ``resources`` ``sample`` event's
    :attr:`Event.sample`, or :meth:`Session.stats`)."""

    #: CPU time used by the session's processes, in microseconds.
    cpu_usec: int
    #: Memory in use now, in bytes.
    memory_bytes: int
    #: Processes (and threads) in the session.
    pids: int
    #: Where the figures come from: "cgroup" or "proc".
    source: str
    #: The most memory in use at once, in bytes (None when the cgroup does not tell).
    memory_peak_bytes: Optional[int] = None
    #: The memory limit, in bytes (None when there is none).
    memory_limit_bytes: Optional[int] = None
    #: Bytes written to block devices (None when the cgroup or /proc does not tell).
    disk_written_bytes: Optional[int] = None


@dataclass(frozen=True)
class Event:
    """One event of a session's event stream. Fields an event's kind and action do not
    have are None.

    ============  ==========================================  ==================================
    kind          action                                      fields set
    ============  ==========================================  ==================================
    "file"        "created", "modified", "deleted"            ``path``, ``dir``
    "file"        "renamed"                                   ``path`` (new), ``from_`` (old), ``dir``
    "file"        "overflow"                                  ``reason``, ``path`` when one dir
    "process"     "started", "exited"                         ``process``, ``id``, ``command``,
                                                              ``pid``; exited: ``code`` or
                                                              ``signal``, ``oom``
    "process"     "timed_out"                                 ``process`` ("exec"), ``command``,
                                                              ``pid``
    "port"        "listening", "closed"                       ``port``, ``address``, ``pid``,
                                                              ``command`` (the program's name)
    "resources"   "sample"                                    ``sample``
    "lifecycle"   "watching", "stopping", "stopped", "lost",  ``path`` and ``count`` (watching),
                  "limit"                                     ``reason``
    "network"     "allowed", "refused"                        ``host``, ``port``, ``address``,
                                                              ``command`` (who connected),
                                                              ``reason``; allowed: ``bytes_in``,
                                                              ``bytes_out``
    "gap"         "dropped"                                   ``dropped``
    ============  ==========================================  ==================================
    """

    #: Sequence number in the session's journal (from 1; a gap event has the number of
    #: the last event dropped; :meth:`Session.stats`' event has 0).
    seq: int
    #: When it happened, in ms since the Unix epoch.
    time_ms: int
    #: What it is about: "file", "process", "port", "resources", "lifecycle", "network"
    #: or "gap".
    kind: str
    #: What happened (see the table above; later versions may add more).
    action: str
    #: file: the absolute path inside the session (renamed: the new one); lifecycle
    #: watching: the watched root.
    path: Optional[str] = None
    #: file renamed: the old path (``from`` in every other face; a keyword in Python).
    from_: Optional[str] = None
    #: file: whether the path is a directory.
    dir: Optional[bool] = None
    #: process: "task", "terminal" or "exec".
    process: Optional[str] = None
    #: process: the task or terminal id.
    id: Optional[str] = None
    #: process: the command as shown; port: the listening program's name; network: the
    #: process that connected ("pid name", or "direct: name").
    command: Optional[str] = None
    #: process, port: the pid inside the session.
    pid: Optional[int] = None
    #: process exited: the exit status.
    code: Optional[int] = None
    #: process exited: the signal that killed it.
    signal: Optional[int] = None
    #: process exited: whether the kernel's OOM killer ended it.
    oom: Optional[bool] = None
    #: port: the TCP port; network: the target's port.
    port: Optional[int] = None
    #: port: the address it listens on; network: the address connected to.
    address: Optional[str] = None
    #: resources: the sample.
    sample: Optional[ResourceSample] = None
    #: gap: how many events were dropped before the reader got them.
    dropped: Optional[int] = None
    #: lifecycle watching: how many directories are watched.
    count: Optional[int] = None
    #: Why (file overflow, lifecycle stopping, lost, limit; network: why refused).
    reason: Optional[str] = None
    #: network: the target as asked for (a name or an address).
    host: Optional[str] = None
    #: network allowed: bytes from the target to the session.
    bytes_in: Optional[int] = None
    #: network allowed: bytes from the session to the target.
    bytes_out: Optional[int] = None

    @property
    def time(self) -> float:
        """When it happened, as Unix time in seconds."""
        return self.time_ms / 1000.0


def _sample(d: Mapping[str, Any]) -> ResourceSample:
    return ResourceSample(
        cpu_usec=int(d["cpu_usec"]),
        memory_bytes=int(d["memory_bytes"]),
        pids=int(d["pids"]),
        source=str(d["source"]),
        memory_peak_bytes=d.get("memory_peak_bytes"),
        memory_limit_bytes=d.get("memory_limit_bytes"),
        disk_written_bytes=d.get("disk_written_bytes"),
    )


def _event(d: Mapping[str, Any]) -> Event:
    """An :class:`Event` from its wire form (``sbx_event_json``); fields this binding does
    not know are left out."""
    sample = d.get("sample")
    return Event(
        seq=int(d["seq"]),
        time_ms=int(d["time_ms"]),
        kind=str(d["kind"]),
        action=str(d["action"]),
        path=d.get("path"),
        from_=d.get("from"),
        dir=d.get("dir"),
        process=d.get("process"),
        id=d.get("id"),
        command=d.get("command"),
        pid=d.get("pid"),
        code=d.get("code"),
        signal=d.get("signal"),
        oom=d.get("oom"),
        port=d.get("port"),
        address=d.get("address"),
        sample=None if sample is None else _sample(sample),
        dropped=d.get("dropped"),
        count=d.get("count"),
        reason=d.get("reason"),
        host=d.get("host"),
        bytes_in=d.get("bytes_in"),
        bytes_out=d.get("bytes_out"),
    )


def _take_event(p: c_void_p) -> Event:
    """Converts an ``sbx_event`` and frees it."""
    try:
        return _event(json.loads(lib.sbx_event_json(p).decode("utf-8", "replace")))
    finally:
        lib.sbx_event_free(p)


def _from_seq(from_seq: Optional[int]) -> int:
    """The ``from`` of ``sbx_session_events``: 0 for "from now" (None)."""
    if from_seq is None:
        return 0
    if isinstance(from_seq, bool) or not isinstance(from_seq, int):
        raise TypeError(f"from_seq must be an int or None, not {type(from_seq).__name__}")
    if from_seq < 1:
        raise errors.InvalidArgumentError(
            f"invalid from_seq: {from_seq}; sequence numbers start at 1 (None: only events from now on)",
            Status.INVALID_ARGUMENT,
        )
    return _u64(from_seq, "from_seq")


def _kinds(kinds: Optional[Iterable[str]]) -> int:
    """The ``kinds`` mask of ``sbx_session_events``: 0 (every kind) for None or none."""
    if kinds is None:
        return 0
    if isinstance(kinds, (str, bytes)):
        raise TypeError(f"kinds must be a collection of kind names, e.g. ['file', 'port'], not {kinds!r}")
    mask = 0
    for kind in kinds:
        if kind not in KINDS:
            also = " (gap events always come)" if kind == "gap" else ""
            raise errors.InvalidArgumentError(
                f"invalid event kind: {kind!r}{also}; use {', '.join(map(repr, KINDS))}", Status.INVALID_ARGUMENT
            )
        mask |= KINDS[kind]
    return mask


def _open(
    session: "Session", from_seq: Optional[int], kinds: Optional[Iterable[str]], path_prefix: Optional[PathLike]
) -> "EventStream":
    """Calls ``sbx_session_events`` (behind :meth:`Session.events`)."""
    start, mask = _from_seq(from_seq), _kinds(kinds)
    prefix = None if path_prefix is None else _text(path_prefix, "path_prefix")
    return EventStream(_new(lib.sbx_session_events, session._ptr, start, mask, prefix), session)


def _watch(session: "Session", path: PathLike) -> None:
    _call(lib.sbx_session_watch, session._ptr, _text(path, "path"))


def _stats(session: "Session") -> ResourceSample:
    sample = _take_event(_new(lib.sbx_session_stats, session._ptr)).sample
    if sample is None:
        raise errors.ProtocolError("sbx_session_stats gave an event without a sample", Status.PROTOCOL)
    return sample


def _wait_for_port(
    session: "Session", port: int, timeout: Optional[float], cancel: Optional["CancelToken"]
) -> Event:
    ptr = _new(
        lib.sbx_session_wait_for_port,
        session._ptr,
        _u16(port, "port"),
        _timeout_ms(timeout),
        cancel._ptr if cancel is not None else None,
    )
    return _take_event(ptr)


class _Nothing:
    """What a take that found no event in time gives (the stream goes on)."""


_NOTHING = _Nothing()


def _wake(fut: "asyncio.Future[None]") -> None:
    if not fut.done():
        fut.set_result(None)


class EventStream(_Handle):
    """A stream of a session's events in sequence order, each once, from
    :meth:`Session.events`.

    Iterate it (``for e in stream:``, ``async for e in stream:``) for every event until
    the stream ends, after the session's ``lifecycle`` ``stopped`` or ``lost`` event; or
    take them one at a time with :meth:`next` (:meth:`next_async`), which gives None when
    none came in time or the stream has ended (:attr:`ended` tells which). A pump in the
    library reads ahead of the reader (up to 10 000 events). Asynchronous reads wait on
    the stream's descriptor (:meth:`fileno`) in the running event loop, never blocking
    it; the loop must support ``add_reader`` (every Unix loop does).

    To resume later, from any process, pass :attr:`position` (the next event not taken)
    as ``from_seq`` to :meth:`Session.events`: nothing is lost.

    Thread-safe: readers in several threads take turns, each event going to one of them.
    ``close()`` (idempotent, any thread) makes a read blocked in another thread, or
    waiting in a coroutine, raise :class:`ClosedError`, and later reads too; so does
    closing the session's handle (which leaving a session's ``with`` block does: read a
    stream to its end before that; :meth:`Session.stop` alone ends it after ``stopped``).
    ``with`` closes it on exit.
    """

    _close_fn = staticmethod(lib.sbx_event_stream_close)

    def __init__(self, ptr: c_void_p, session: "Session") -> None:
        super().__init__(ptr, lib.sbx_event_stream_free)
        self._session = session  # the session handle outlives its streams
        self._fd = int(lib.sbx_event_stream_fd(ptr))
        self._ended = False
        # Coroutines waiting for the descriptor, per event loop (one reader each).
        self._lock = threading.Lock()
        self._waiting: Dict[asyncio.AbstractEventLoop, Set["asyncio.Future[None]"]] = {}

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("ended" if self._ended else f"at {self.position}")
        return f"<sandbox.EventStream {state}>"

    def __enter__(self) -> "EventStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def ended(self) -> bool:
        """Whether the stream has ended: a read gave None after its last event (``lifecycle``
        ``stopped`` or ``lost``). Every read after gives None at once."""
        return self._ended

    @property
    def position(self) -> Optional[int]:
        """The sequence number to pass as ``from_seq`` to :meth:`Session.events` to resume
        where this stream's reader is: that of the next event it has not taken. None while
        not known (a stream from now whose session was gone). Readable after ``close()``."""
        return int(lib.sbx_event_stream_position(self._ptr)) or None

    def fileno(self) -> int:
        """A descriptor that is readable exactly while :meth:`next` would not wait (an event
        is read ahead, or the stream ended, failed or was closed), for ``select``,
        ``selectors`` or an event loop. Owned by the stream: never read, write or close
        it; valid as long as this object lives."""
        return self._fd

    def _take(self, timeout_ms: int, cancel: Optional["CancelToken"]) -> Union[Event, None, _Nothing]:
        out = c_void_p()
        try:
            token = cancel._ptr if cancel is not None else None
            _call(lib.sbx_event_stream_next, self._ptr, timeout_ms, token, byref(out))
        except SandboxTimeoutError:
            return _NOTHING
        if not out.value:
            self._ended = True
            return None
        return _take_event(out)

    def next(self, timeout: Optional[float] = None, cancel: Optional["CancelToken"] = None) -> Optional[Event]:
        """The next event, waiting up to ``timeout`` seconds (None: as long as it takes; 0:
        only one already there). None when none came in time, or once the stream has ended
        (:attr:`ended`). :class:`InvalidArgumentError` when the stream's ``from_seq`` is
        beyond the session's journal (on every read); :class:`ClosedError` once the stream
        or its session was closed; :class:`CancelledError` when ``cancel`` fired."""
        event = self._take(_timeout_ms(timeout), cancel)
        return None if isinstance(event, _Nothing) else event

    def __iter__(self) -> Iterator[Event]:
        while True:
            event = self.next()
            if event is None:
                return
            yield event

    def wait_for(
        self,
        predicate: Callable[[Event], bool],
        timeout: Optional[float] = None,
        cancel: Optional["CancelToken"] = None,
    ) -> Event:
        """The first event from here on for which ``predicate`` holds (the ones before it
        are taken and dropped), waiting up to ``timeout`` seconds (None: as long as it
        takes). :class:`SandboxTimeoutError` when none came in time, :class:`NotRunningError`
        when the stream ended first."""
        _timeout_ms(timeout)  # checked before anything is taken
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            event = self.next(left, cancel)
            if event is None:
                raise self._missed(timeout)
            if predicate(event):
                return event

    def _missed(self, timeout: Optional[float]) -> SandboxError:
        """Why a wait for an event gave up: the stream ended, or the time ran out."""
        if self._ended:
            return NotRunningError("the event stream ended before the event came", Status.NOT_RUNNING)
        return SandboxTimeoutError(f"no matching event within {timeout} s", Status.TIMEOUT)

    async def next_async(self, timeout: Optional[float] = None) -> Optional[Event]:
        """:meth:`next` for a coroutine: waits on the stream's descriptor in the running
        event loop, which goes on running other tasks meanwhile. Cancel it as any
        coroutine (``asyncio.wait_for``, ``task.cancel()``)."""
        _timeout_ms(timeout)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            event = self._take(0, None)
            if not isinstance(event, _Nothing):
                return event
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                return None
            await self._readable(loop, left)

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            event = await self.next_async()
            if event is None:
                return
            yield event

    async def wait_for_async(self, predicate: Callable[[Event], bool], timeout: Optional[float] = None) -> Event:
        """:meth:`wait_for` for a coroutine (see :meth:`next_async`)."""
        _timeout_ms(timeout)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - loop.time())
            event = await self.next_async(left)
            if event is None:
                raise self._missed(timeout)
            if predicate(event):
                return event

    async def _readable(self, loop: asyncio.AbstractEventLoop, timeout: Optional[float]) -> None:
        """Returns once the descriptor is readable, or after ``timeout`` seconds. One reader
        per loop serves every coroutine of that loop waiting on this stream; it is removed
        once it fired or nobody waits any more."""
        fut: "asyncio.Future[None]" = loop.create_future()
        with self._lock:
            waiting = self._waiting.get(loop)
            if waiting is None:
                loop.add_reader(self._fd, self._on_readable, loop)
                waiting = self._waiting[loop] = set()
            waiting.add(fut)
        timer = None if timeout is None else loop.call_later(timeout, _wake, fut)
        try:
            await fut
        finally:
            if timer is not None:
                timer.cancel()
            with self._lock:
                waiting = self._waiting.get(loop)
                if waiting is not None:
                    waiting.discard(fut)
                    if not waiting:
                        del self._waiting[loop]
                        loop.remove_reader(self._fd)

    def _on_readable(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop's reader callback: wakes the loop's waiting coroutines (they take what is
        there without waiting) and stops watching until one waits again."""
        with self._lock:
            waiting = self._waiting.pop(loop, set())
            loop.remove_reader(self._fd)
        for fut in waiting:
            _wake(fut)
