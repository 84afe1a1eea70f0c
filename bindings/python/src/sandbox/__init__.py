"""Per-session podman sandboxes for coding agents, over libsandbox's C API (ctypes).

    import sandbox

    with sandbox.Sandbox() as sb:                       # config file + SANDBOX_* variables
        with sb.start("demo", "/home/me/project") as s:  # stops the session on exit
            r = s.exec(["sh", "-c", "echo hi"], timeout=10)
            print(r.exit_code, r.stdout)                 # 0 b'hi\\n'

Besides ``exec``, a session runs background tasks (``s.spawn("make test")`` ->
:class:`Task` with ``.output()``, ``.tail()``, ``.wait()``, ``.kill()``), PTY terminals
(``s.open_terminal()`` -> :class:`Terminal`: ``write()``, ``resize()``, iterate for
output), streaming commands (``s.exec_stream([...])`` -> :class:`ExecStream`, an iterator of
events), file operations (``read_file``, ``write_file``, ``list_dir``, ``stat``,
``remove``), on the ``egress`` network a policy of what it may reach
(``start(..., egress=["pypi.org"])``, ``s.set_egress([...])``, ``s.network_log()``), and
an event stream of file changes, processes, ports, resource samples and the session's
lifecycle (``s.events()`` -> :class:`EventStream` of :class:`Event`, iterable with ``for``
and ``async for``, resumable by sequence number; ``s.wait_for_port(8000)``,
``s.stats()``, ``s.watch(path)``), and snapshots: ``s.snapshot(name)``, a session
started from one (``sb.start(..., snapshot=name)``; without a working dir, in a managed
copy under ``copy_dir``), ``s.fork(count, into)`` into
children, a child's changes as ``s.diff()`` and merged with ``s.merge(into)``,
``sb.snapshots()``, ``sb.remove_copy(child_dir)``, ``sb.remove_snapshot(name)``. Tasks
and terminals live in the session and outlive their Python objects.

Objects are thread-safe. ``close()`` is idempotent and wakes calls blocked in other
threads (they raise :class:`ClosedError`); objects dropped without ``close()`` are freed
by the garbage collector. Failures raise subclasses of :class:`SandboxError`, one per
status. How ``libsandbox.so`` is found: see :mod:`sandbox._lib`.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
from ctypes import byref, c_char_p, c_uint32, c_void_p
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, List, Mapping, Optional, Sequence, Union

from . import errors
from ._calls import (
    PathLike,
    _argv,
    _bytes_of,
    _call,
    _data,
    _Handle,
    _i32,
    _ms,
    _ms_or_zero,
    _new,
    _text,
    _u64,
)
from ._lib import ABI_VERSION, lib
from .errors import *  # noqa: F401,F403  (the exception classes are part of the API)
from .egress import (
    EgressCredential,
    EgressDecision,
    EgressPolicy,
    _add_credentials,
    _add_upstream_cas,
    _pin_hosts,
    _set_egress,
    _take_egress_log,
    _take_egress_policy,
)
from .errors import SandboxError, Status
from .events import Event, EventStream, ResourceSample, _open, _stats, _wait_for_port, _watch
from .exec_stream import ExecEvent, ExecStream, ExitEvent, StderrEvent, StdoutEvent
from .files import FileInfo, _take_buffer, _take_file_info, _take_file_list
from .output import OutputChunk
from .fork import Change, ForkResult, MergeReport, _diff, _fork, _merge
from .pause import PauseReport, _pause, _resume
from .snapshot import (
    SnapshotInfo,
    SnapshotReport,
    _reap_snapshots,
    _remove_copy,
    _remove_snapshot,
    _snapshot,
    _snapshots,
)
from .tasks import Task, TaskInfo, _task_list, _task_spec
from .terminals import Terminal, TerminalInfo, _terminal_list, _terminal_spec

__all__ = [
    "ABI_VERSION",
    "CancelToken",
    "Change",
    "EgressCredential",
    "EgressDecision",
    "EgressPolicy",
    "Event",
    "EventStream",
    "ExecEvent",
    "ExecResult",
    "ExecStream",
    "ExitEvent",
    "FileInfo",
    "ForkResult",
    "MergeReport",
    "OutputChunk",
    "PauseReport",
    "ResourceSample",
    "Sandbox",
    "Session",
    "Status",
    "SandboxError",
    "SnapshotInfo",
    "SnapshotReport",
    "StderrEvent",
    "StdoutEvent",
    "Task",
    "TaskInfo",
    "Terminal",
    "TerminalInfo",
    "abi_version",
    "library_version",
] + [cls.__name__ for cls in errors.EXCEPTIONS.values()]

def abi_version() -> int:
    """The ABI version of the loaded libsandbox (checked against :data:`ABI_VERSION` at import)."""
    return int(lib.sbx_abi_version())


def library_version() -> str:
    """The version of the loaded libsandbox, e.g. ``"0.1.0"``."""
    return lib.sbx_version().decode()


class CancelToken(_Handle):
    """Cancels a call from another thread: pass it as ``cancel=`` and call :meth:`cancel`;
    the call raises :class:`CancelledError` and its command is killed. One-way."""

    def __init__(self) -> None:
        super().__init__(_new(lib.sbx_cancel_token_new), lib.sbx_cancel_token_free)

    def cancel(self) -> None:
        lib.sbx_cancel_token_cancel(self._ptr)

    @property
    def cancelled(self) -> bool:
        return bool(lib.sbx_cancel_token_is_cancelled(self._ptr))


@dataclass(frozen=True)
class ExecResult:
    """How a command ended. A non-zero exit, a signal or a timeout is data, not an exception."""

    stdout: bytes
    stderr: bytes
    #: Exit status, or None when the command was killed by a signal.
    exit_code: Optional[int]
    #: Signal number when killed by a signal.
    signal: Optional[int]
    timed_out: bool
    stdout_truncated: bool
    stderr_truncated: bool
    stdout_total: int
    stderr_total: int
    #: Seconds from spawn to exit, measured in the container.
    duration: float
    #: Killed by the kernel's OOM killer (the session hit its memory limit).
    oom_killed: bool = False

    @property
    def success(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


def _read_result(result: c_void_p) -> ExecResult:
    code = lib.sbx_exec_result_exit_code(result)
    sig = lib.sbx_exec_result_signal(result)
    return ExecResult(
        stdout=_bytes_of(lib.sbx_exec_result_stdout, result),
        stderr=_bytes_of(lib.sbx_exec_result_stderr, result),
        exit_code=None if code < 0 else code,
        signal=sig or None,
        timed_out=bool(lib.sbx_exec_result_timed_out(result)),
        stdout_truncated=bool(lib.sbx_exec_result_stdout_truncated(result)),
        stderr_truncated=bool(lib.sbx_exec_result_stderr_truncated(result)),
        stdout_total=int(lib.sbx_exec_result_stdout_total(result)),
        stderr_total=int(lib.sbx_exec_result_stderr_total(result)),
        duration=lib.sbx_exec_result_duration_us(result) / 1e6,
        oom_killed=bool(lib.sbx_exec_result_oom_killed(result)),
    )


@contextlib.contextmanager
def _exec_options(
    timeout: Optional[float],
    env: Optional[Mapping[str, str]],
    cwd: Optional[str],
    output_cap: Optional[int],
    kill_grace: Optional[float],
    linger: Optional[float],
    cancel: Optional["CancelToken"],
) -> Iterator[c_void_p]:
    """An ``sbx_exec_options`` for the call (NULL when everything is default), freed after."""
    opts = c_void_p()
    if timeout is not None or env or cwd is not None or output_cap is not None or kill_grace is not None \
            or linger is not None or cancel is not None:
        opts = _new(lib.sbx_exec_options_new)
    try:
        if timeout is not None:
            _call(lib.sbx_exec_options_set_timeout_ms, opts, _ms(timeout, "timeout"))
        for k, v in (env or {}).items():
            _call(lib.sbx_exec_options_add_env, opts, _text(k, "env name"), _text(v, "env value"))
        if cwd is not None:
            _call(lib.sbx_exec_options_set_cwd, opts, _text(cwd, "cwd"))
        if output_cap is not None:
            _call(lib.sbx_exec_options_set_output_cap, opts, _u64(output_cap, "output cap"))
        if kill_grace is not None:
            _call(lib.sbx_exec_options_set_kill_grace_ms, opts, _ms_or_zero(kill_grace, "kill grace"))
        if linger is not None:
            _call(lib.sbx_exec_options_set_linger_ms, opts, _ms_or_zero(linger, "linger"))
        if cancel is not None:
            _call(lib.sbx_exec_options_set_cancel_token, opts, cancel._ptr)
        yield opts
    finally:
        if opts.value:
            lib.sbx_exec_options_free(opts)


class Session(_Handle):
    """A running session. From :meth:`Sandbox.start` (``with`` stops it on exit) or
    :meth:`Sandbox.attach` (``with`` only closes the handle; the container keeps running)."""

    _close_fn = staticmethod(lib.sbx_session_close)

    def __init__(self, ptr: c_void_p, sandbox: "Sandbox", started: bool) -> None:
        super().__init__(ptr, lib.sbx_session_free)
        self._sandbox = sandbox  # the context outlives its sessions on the Python side too
        self._started = started
        self.id: str = lib.sbx_session_id(ptr).decode()
        report = c_char_p()
        err = c_void_p()
        if lib.sbx_session_start_report_json(ptr, byref(report), byref(err)) == 0:
            self.start_report: Optional[dict] = json.loads(report.value.decode())
        else:
            lib.sbx_error_free(err)
            self.start_report = None

    def __repr__(self) -> str:
        return f"<sandbox.Session {self.id!r}{' closed' if self._closed else ''}>"

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._started and not self._closed:
                self.stop()
        finally:
            self.close()

    @property
    def warnings(self) -> List[str]:
        """The start report's warnings (empty for an attached session)."""
        return list(self.start_report["warnings"]) if self.start_report else []

    def exec(
        self,
        argv: Sequence[str],
        *,
        stdin: Optional[bytes] = None,
        timeout: Optional[float] = None,
        env: Optional[Mapping[str, str]] = None,
        cwd: Optional[str] = None,
        output_cap: Optional[int] = None,
        kill_grace: Optional[float] = None,
        linger: Optional[float] = None,
        cancel: Optional[CancelToken] = None,
    ) -> ExecResult:
        """Runs ``argv`` to completion (no shell unless you run one). ``stdin`` bytes are fed
        to it; ``timeout`` (seconds, more than 0) kills its process group and sets
        ``timed_out``. ``output_cap`` bytes are captured per stream (default 16 MiB; 0
        captures nothing, the totals still count); ``kill_grace`` seconds pass between
        SIGTERM and SIGKILL (default 1; 0 kills at once); ``linger`` seconds are waited for
        background children holding the output pipes (default 0.1; 0 does not wait). None
        (the default) leaves an option at its default."""
        if stdin is not None and not isinstance(stdin, (bytes, bytearray, memoryview)):
            raise TypeError(f"stdin must be bytes, not {type(stdin).__name__}")
        c_argv, argc = _argv(argv)
        result = c_void_p()
        with _exec_options(timeout, env, cwd, output_cap, kill_grace, linger, cancel) as opts:
            if stdin is None:
                _call(lib.sbx_session_exec, self._ptr, c_argv, argc, opts, byref(result))
            else:
                data = bytes(stdin)
                _call(lib.sbx_session_exec_stdin, self._ptr, c_argv, argc, data, len(data), opts, byref(result))
        try:
            return _read_result(result)
        finally:
            lib.sbx_exec_result_free(result)

    def exec_stream(
        self,
        argv: Sequence[str],
        *,
        timeout: Optional[float] = None,
        env: Optional[Mapping[str, str]] = None,
        cwd: Optional[str] = None,
        kill_grace: Optional[float] = None,
        linger: Optional[float] = None,
        cancel: Optional[CancelToken] = None,
    ) -> ExecStream:
        """Starts ``argv`` and returns its output as events while it runs (see
        :class:`ExecStream`); its stdin stays open until :meth:`ExecStream.close_stdin`.
        Use it as a context manager: leaving the block kills a command still running."""
        c_argv, argc = _argv(argv)
        with _exec_options(timeout, env, cwd, None, kill_grace, linger, cancel) as opts:
            ptr = _new(lib.sbx_session_exec_stream, self._ptr, c_argv, argc, opts)
        return ExecStream(ptr, self)

    def spawn(
        self,
        command: Union[str, Sequence[str]],
        *,
        env: Optional[Mapping[str, str]] = None,
        cwd: Optional[str] = None,
        spool_cap: Optional[int] = None,
    ) -> Task:
        """Starts a background task: a shell command line (str, run with ``sh -c``) or an
        argv list. It runs in the session's agent, outliving this process; its output is
        spooled (``spool_cap`` bytes kept per stream, default 8 MiB)."""
        spec = _task_spec(command, env, cwd, spool_cap)
        try:
            ptr = _new(lib.sbx_session_spawn_task, self._ptr, spec)
        finally:
            lib.sbx_task_spec_free(spec)
        return Task(ptr, self)

    def task(self, id: str) -> Task:
        """A handle on the existing task ``id`` (spawned by any process)."""
        return Task(_new(lib.sbx_session_attach_task, self._ptr, _text(id, "id")), self)

    def tasks(self) -> List[TaskInfo]:
        """All tasks of the session, oldest first."""
        return _task_list(_new(lib.sbx_session_list_tasks, self._ptr))

    def open_terminal(
        self,
        command: Union[None, str, Sequence[str]] = None,
        *,
        rows: int = 24,
        cols: int = 80,
        env: Optional[Mapping[str, str]] = None,
        cwd: Optional[str] = None,
        scrollback: Optional[int] = None,
    ) -> Terminal:
        """Opens a PTY terminal running an interactive shell, or ``command`` (a shell line
        as str, or an argv list). Use it as a context manager to kill it at the end."""
        spec = _terminal_spec(command, rows, cols, env, cwd, scrollback)
        try:
            ptr = _new(lib.sbx_session_open_terminal, self._ptr, spec)
        finally:
            lib.sbx_terminal_spec_free(spec)
        return Terminal(ptr, self, opened=True)

    def terminal(self, id: str) -> Terminal:
        """A handle on the existing terminal ``id`` (opened by any process); reading starts
        at offset 0, replaying the scrollback."""
        return Terminal(_new(lib.sbx_session_attach_terminal, self._ptr, _text(id, "id")), self, opened=False)

    def terminals(self) -> List[TerminalInfo]:
        """All terminals of the session, oldest first."""
        return _terminal_list(_new(lib.sbx_session_list_terminals, self._ptr))

    def read_file(self, path: str) -> bytes:
        """The whole content of ``path`` inside the container."""
        return _take_buffer(_new(lib.sbx_session_read_file, self._ptr, _text(path, "path")))

    def write_file(self, path: str, data: Union[bytes, bytearray, memoryview, str], mode: Optional[int] = None) -> None:
        """Writes ``path`` atomically (str data as UTF-8). ``mode``: permission bits (default:
        the replaced file's, else 0o644)."""
        payload = _data(data, "data")
        c_mode = -1 if mode is None else _i32(mode, "mode")
        if c_mode < -1:
            raise errors.InvalidArgumentError(f"invalid mode: {mode} is negative", Status.INVALID_ARGUMENT)
        _call(lib.sbx_session_write_file, self._ptr, _text(path, "path"), payload, len(payload), c_mode)

    def list_dir(self, path: str) -> List[FileInfo]:
        """The entries of directory ``path``, sorted by name."""
        return _take_file_list(_new(lib.sbx_session_list_dir, self._ptr, _text(path, "path")))

    def stat(self, path: str) -> FileInfo:
        """Describes ``path`` (a symlink itself, not its target)."""
        return _take_file_info(_new(lib.sbx_session_stat, self._ptr, _text(path, "path")))

    def remove(self, path: str, recursive: bool = False) -> None:
        """Removes a file, symlink or empty directory; with ``recursive``, a whole tree."""
        _call(lib.sbx_session_remove, self._ptr, _text(path, "path"), bool(recursive))

    def events(
        self,
        from_seq: Optional[int] = None,
        kinds: Optional[Iterable[str]] = None,
        path_prefix: Optional[PathLike] = None,
    ) -> EventStream:
        """The session's event stream (see :class:`EventStream`). ``from_seq``: None for only
        the events recorded from now on (taken before this returns, so an action started
        after it is seen); else the sequence number (from 1) of the first event wanted: 1
        for everything the journal still has, or an earlier stream's
        :attr:`EventStream.position` to resume it. A ``from_seq`` beyond the journal
        makes the stream's reads raise :class:`InvalidArgumentError`. ``kinds``: only these
        of "file", "process", "port", "resources", "lifecycle", "network" (None: every kind; gap
        events always come). ``path_prefix``: file events only at or below this absolute
        path (a rename matches by either name; other kinds are not filtered by path).
        Bad arguments raise :class:`InvalidArgumentError` (a ``ValueError``)."""
        return _open(self, from_seq, kinds, path_prefix)

    def watch(self, path: PathLike) -> None:
        """Watches file changes below directory ``path`` (absolute, inside the session) too,
        besides the working dir; a no-op when it is watched already. Its changes are file
        events like the others. :class:`NotFoundError` when it does not exist."""
        _watch(self, path)

    def stats(self) -> ResourceSample:
        """The session's resources now: CPU time, memory, pids, disk writes."""
        return _stats(self)

    def pause(self) -> PauseReport:
        """Pauses the session: every process in it stops (no CPU), keeping its state,
        until :meth:`resume`. While paused, reads of task and terminal output, files,
        events and stats work; :meth:`exec`, :meth:`spawn` and :meth:`open_terminal` raise
        :class:`NotRunningError`. A command already running stops where it is (its
        timeout keeps counting). Pausing a paused session changes nothing
        (``changed`` is False)."""
        return _pause(self)

    def resume(self) -> PauseReport:
        """Resumes a paused session: its processes continue (also one stopped before the
        pause, such as a job suspended in a terminal). Resuming a running session changes
        nothing."""
        return _resume(self)

    def snapshot(self, name: str) -> SnapshotReport:
        """Takes snapshot ``name`` of the session: a copy of its working dir and an image of
        its container's filesystem changes, made first with the session running; then its
        processes are frozen (a paused session stays paused) and what changed meanwhile is
        taken again (:attr:`SnapshotReport.retaken`). Start sessions from it with ``Sandbox.start(...,
        snapshot=name)``; remove it with :meth:`Sandbox.remove_snapshot`.
        :class:`InvalidArgumentError` for a bad name or one that exists,
        :class:`SessionNotFoundError` for a stopped session."""
        return _snapshot(self, name)

    def fork(
        self, count: int, into: PathLike, snapshot: Optional[str] = None, *, id: Optional[str] = None, **child: Any
    ) -> ForkResult:
        """Forks the session into ``count`` children (1 to 64): a snapshot (named
        ``snapshot``, default ``<id>-fork-<ms>``), then a start from it per child, each with
        its own copy of the working dir at ``<into>/<child id>`` (ids ``<id>-1``,
        ``<id>-2``...; ``id`` gives another prefix). All or nothing.

        ``child`` are the children's settings, the keyword arguments of
        :meth:`Sandbox.start` (``env``, ``ports``, ``network``, ``egress``,
        ``memory_limit``...); each child gets them as a session that ``start`` starts, and
        not what this session set for itself (its ``env``). ``image`` and ``snapshot`` are
        each child's own: giving one raises :class:`InvalidArgumentError`, as do a bad count,
        a missing ``into`` or a child dir that exists; an unknown keyword, ``TypeError``."""
        return _fork(self, count, into, snapshot, id, child)

    def diff(self, snapshot: Optional[str] = None) -> List[Change]:
        """What the working dir changed relative to ``snapshot`` (default: the one the
        session started from), sorted by path; the session is paused meanwhile.
        :class:`NotFoundError` for an unknown snapshot, :class:`InvalidArgumentError` when
        none is named and the session did not start from one."""
        return _diff(self, snapshot)

    def merge(
        self, into: Union[PathLike, "Session"], snapshot: Optional[str] = None, force: bool = False
    ) -> MergeReport:
        """Merges what this session changed relative to ``snapshot`` (default: the one it
        started from) into a directory or another session's working dir (that session
        paused meanwhile). A path the target changed too is a conflict: unless ``force``
        (this session's version wins), :class:`InvalidArgumentError` naming the paths, with
        nothing changed."""
        return _merge(self, into, snapshot, force)

    def wait_for_port(
        self, port: int, timeout: Optional[float] = None, cancel: Optional[CancelToken] = None
    ) -> Event:
        """Waits until a process in the session listens on TCP ``port``, also when one did
        already (as long as the journal has its event), up to ``timeout`` seconds (None: as
        long as it takes; 0: only what the journal says now). Returns the ``port``
        ``listening`` event (its ``pid``, ``address``, program name in ``command``).
        :class:`SandboxTimeoutError` when nothing listened in time, :class:`NotRunningError`
        when the session ended first."""
        return _wait_for_port(self, port, timeout, cancel)

    def ping(self) -> None:
        """Checks the agent answers; raises when the session is stopped, lost or closed."""
        _call(lib.sbx_session_ping, self._ptr)

    @property
    def agent_version(self) -> str:
        out = c_char_p()
        _call(lib.sbx_session_agent_version, self._ptr, byref(out))
        return out.value.decode()

    def set_egress(self, rules: Sequence[str]) -> None:
        """Replaces the allow rules of the session's egress policy (its pinned names,
        egress credentials and upstream CAs are kept: those are fixed at start);
        connections opened from now on are judged by them, open ones keep going.
        An empty list allows nothing (the session stays on the egress network). Raises
        :class:`InvalidArgumentError` for a bad rule or rules that no longer allow a
        credential's host (the policy in force is then unchanged) and for a session not
        on the ``egress`` network."""
        _set_egress(lib.sbx_session_set_egress, self._ptr, rules)

    def egress_policy(self) -> Optional[EgressPolicy]:
        """The egress policy in force; None for a session not on the ``egress`` network."""
        out = c_void_p()
        try:
            _call(lib.sbx_session_egress_policy, self._ptr, byref(out))
        except errors.NotAvailableError:
            return None
        return _take_egress_policy(out)

    def network_log(self) -> List[EgressDecision]:
        """The decisions of the session's egress enforcer, oldest first: refusals when
        refused, allowed connections when they closed (so a moment after the client had its
        answer). Empty for a session not on the ``egress`` network."""
        return _take_egress_log(_new(lib.sbx_session_network_log, self._ptr))

    def restart_network(self) -> int:
        """Starts the session's egress enforcer again if it is not running (while it is
        not, every connection is refused), with the policy in force; returns its host pid
        (the running one's when it runs). :class:`InvalidArgumentError` for a session not
        on the ``egress`` network."""
        pid = c_uint32()
        _call(lib.sbx_session_restart_network, self._ptr, byref(pid))
        return int(pid.value)

    def egress_enforcer_running(self) -> bool:
        """Whether the session's egress enforcer runs (False off the ``egress`` network)."""
        return bool(lib.sbx_session_egress_enforcer_running(self._ptr))

    def stop(self) -> None:
        """Removes the container and everything in it. Idempotent."""
        _call(lib.sbx_session_stop, self._ptr)


def _set(fn: Callable[..., int], handle: c_void_p, value: Any) -> None:
    """Calls a setter, checking the Python type first (ctypes' own errors are vaguer)."""
    expects = fn.argtypes[1]
    name = fn.__name__.split("_set_")[-1].split("_add_")[-1]
    if expects is c_char_p:
        value = _text(value, name)
    elif isinstance(value, (str, bytes, os.PathLike)) or (expects is not ctypes.c_bool and isinstance(value, bool)):
        raise TypeError(f"{name} must be a {'bool' if expects is ctypes.c_bool else 'number'}, not {type(value).__name__}")
    _call(fn, handle, value)


_SPEC_SETTINGS = (
    "image", "snapshot", "ports", "env", "post_create", "network", "egress", "egress_hosts",
    "egress_credentials", "egress_upstream_ca", "allow_post_create", "allow_untrusted_image",
    "require_resource_limits", "provision", "memory_limit", "cpu_limit", "pids_limit",
)  # fmt: skip


def _session_spec(id: str, working_dir: Optional[PathLike], settings: Mapping[str, Any]) -> c_void_p:
    """A new ``sbx_session_spec`` (the caller frees it) for session ``id`` with the
    keyword settings of :meth:`Sandbox.start`; ``None`` (or absent) leaves one unset."""
    unknown = sorted(set(settings) - set(_SPEC_SETTINGS))
    if unknown:
        raise TypeError(f"unexpected session settings: {', '.join(unknown)}")
    get = settings.get
    dir_arg = None if working_dir is None else _text(working_dir, "working_dir")
    spec = _new(lib.sbx_session_spec_new, _text(id, "id"), dir_arg)
    try:
        for fn, name in [(lib.sbx_session_spec_set_image, "image"), (lib.sbx_session_spec_set_snapshot, "snapshot")]:
            if get(name) is not None:
                _set(fn, spec, get(name))
        for p in get("ports") or ():
            if not isinstance(p, int) or isinstance(p, bool):
                raise TypeError(f"ports must be integers, not {type(p).__name__}")
            if not -(2**63) <= p < 2**63:
                raise errors.InvalidArgumentError(f"invalid port: {p} is out of range; use 1 to 65535")
            _call(lib.sbx_session_spec_add_port, spec, p)
        for k, v in (get("env") or {}).items():
            _call(lib.sbx_session_spec_add_env, spec, _text(k, "env name"), _text(v, "env value"))
        for c in get("post_create") or ():
            _set(lib.sbx_session_spec_add_post_create, spec, c)
        if get("egress") is not None:
            _set_egress(lib.sbx_session_spec_set_egress, spec, get("egress"))
        if get("egress_hosts") is not None:
            _pin_hosts(lib.sbx_session_spec_pin_egress_host, spec, get("egress_hosts"))
        _add_credentials(lib.sbx_session_spec_add_egress_credential, spec, get("egress_credentials") or ())
        _add_upstream_cas(lib.sbx_session_spec_add_egress_upstream_ca, spec, get("egress_upstream_ca") or ())
        for fn, name in [
            (lib.sbx_session_spec_set_network, "network"),
            (lib.sbx_session_spec_set_allow_post_create, "allow_post_create"),
            (lib.sbx_session_spec_set_allow_untrusted_image, "allow_untrusted_image"),
            (lib.sbx_session_spec_set_require_resource_limits, "require_resource_limits"),
            (lib.sbx_session_spec_set_provision, "provision"),
            (lib.sbx_session_spec_set_memory_limit, "memory_limit"),
            (lib.sbx_session_spec_set_cpu_limit, "cpu_limit"),
            (lib.sbx_session_spec_set_pids_limit, "pids_limit"),
        ]:
            if get(name) is not None:
                _set(fn, spec, get(name))
    except BaseException:
        lib.sbx_session_spec_free(spec)
        raise
    return spec


class Sandbox(_Handle):
    """A context: the library's runtime plus one configuration.

    With ``from_env=True`` (the default) the configuration starts from the config file and
    ``SANDBOX_*`` variables, like the Rust API's ``Sandbox::from_env``; keyword arguments
    override it. ``scope`` isolates sessions: list, attach, stop and reap only see their own
    scope's sessions. ``egress`` (allow rules; ``[]`` allows nothing) and ``egress_hosts``
    (names pinned to addresses) give sessions the egress network with that policy, unless
    ``network`` says otherwise; ``egress_credentials`` (:class:`EgressCredential`, or
    dicts of its fields; each host allowed by ``egress``) and ``egress_upstream_ca`` (CA
    files) add headers outside the session (see :mod:`sandbox.egress`). ``snapshot_dir`` is
    where snapshots are kept (``SANDBOX_SNAPSHOT_DIR``); ``copy_dir`` where sessions
    started from a snapshot without a working dir get their managed copy, at
    ``<copy_dir>/<id>`` (``SANDBOX_COPY_DIR``; default ``$XDG_DATA_HOME/sandbox-work``,
    ``/var/lib/sandbox-work`` for root). Both must be absolute
    (:class:`InvalidArgumentError`; a relative one in the environment or the config file
    raises :class:`ConfigError`).
    """

    _close_fn = staticmethod(lib.sbx_context_close)

    def __init__(
        self,
        *,
        from_env: bool = True,
        scope: Optional[str] = None,
        image: Optional[str] = None,
        trusted_images: Iterable[str] = (),
        provision: Optional[bool] = None,
        network: Optional[str] = None,
        egress: Optional[Sequence[str]] = None,
        egress_hosts: Optional[Mapping[str, Union[str, Sequence[str]]]] = None,
        egress_credentials: Sequence[Union[EgressCredential, Mapping[str, str]]] = (),
        egress_upstream_ca: Sequence[PathLike] = (),
        allow_post_create: Optional[bool] = None,
        allow_untrusted_image: Optional[bool] = None,
        require_resource_limits: Optional[bool] = None,
        memory_limit: Optional[int] = None,
        cpu_limit: Optional[float] = None,
        pids_limit: Optional[int] = None,
        podman: Optional[PathLike] = None,
        runtime_dir: Optional[PathLike] = None,
        cache_dir: Optional[PathLike] = None,
        snapshot_dir: Optional[PathLike] = None,
        copy_dir: Optional[PathLike] = None,
        container_prefix: Optional[str] = None,
        ready_timeout: Optional[float] = None,
    ) -> None:
        cfg = _new(lib.sbx_config_from_env if from_env else lib.sbx_config_new)
        try:
            settings = [
                (lib.sbx_config_set_scope, scope),
                (lib.sbx_config_set_image, image),
                (lib.sbx_config_set_provision, provision),
                (lib.sbx_config_set_allow_post_create, allow_post_create),
                (lib.sbx_config_set_allow_untrusted_image, allow_untrusted_image),
                (lib.sbx_config_set_require_resource_limits, require_resource_limits),
                (lib.sbx_config_set_memory_limit, memory_limit),
                (lib.sbx_config_set_cpu_limit, cpu_limit),
                (lib.sbx_config_set_pids_limit, pids_limit),
                (lib.sbx_config_set_podman, podman),
                (lib.sbx_config_set_runtime_dir, runtime_dir),
                (lib.sbx_config_set_cache_dir, cache_dir),
                (lib.sbx_config_set_snapshot_dir, snapshot_dir),
                (lib.sbx_config_set_copy_dir, copy_dir),
                (lib.sbx_config_set_container_prefix, container_prefix),
            ]
            for fn, value in settings:
                if value is not None:
                    _set(fn, cfg, value)
            for t in trusted_images:
                _set(lib.sbx_config_add_trusted_image, cfg, t)
            if egress is not None:
                _set_egress(lib.sbx_config_set_egress, cfg, egress)
            if egress_hosts is not None:
                _pin_hosts(lib.sbx_config_pin_egress_host, cfg, egress_hosts)
            _add_credentials(lib.sbx_config_add_egress_credential, cfg, egress_credentials)
            _add_upstream_cas(lib.sbx_config_add_egress_upstream_ca, cfg, egress_upstream_ca)
            if network is not None:  # after the egress policy, which sets the mode to egress
                _set(lib.sbx_config_set_network, cfg, network)
            if ready_timeout is not None:
                _call(lib.sbx_config_set_ready_timeout_ms, cfg, _ms(ready_timeout, "ready timeout"))
            ptr = _new(lib.sbx_context_new, cfg)
        finally:
            lib.sbx_config_free(cfg)
        super().__init__(ptr, lib.sbx_context_free)

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def info(self) -> dict:
        """What the engine probe found: podman version, rootless, cgroup mode, runtime, limits..."""
        info = _new(lib.sbx_context_info, self._ptr)
        try:
            return json.loads(lib.sbx_host_info_json(info).decode())
        finally:
            lib.sbx_host_info_free(info)

    def start(
        self,
        id: str,
        working_dir: Optional[PathLike] = None,
        *,
        image: Optional[str] = None,
        snapshot: Optional[str] = None,
        ports: Iterable[int] = (),
        env: Optional[Mapping[str, str]] = None,
        post_create: Iterable[str] = (),
        network: Optional[str] = None,
        egress: Optional[Sequence[str]] = None,
        egress_hosts: Optional[Mapping[str, Union[str, Sequence[str]]]] = None,
        egress_credentials: Sequence[Union[EgressCredential, Mapping[str, str]]] = (),
        egress_upstream_ca: Sequence[PathLike] = (),
        allow_post_create: Optional[bool] = None,
        allow_untrusted_image: Optional[bool] = None,
        require_resource_limits: Optional[bool] = None,
        provision: Optional[bool] = None,
        memory_limit: Optional[int] = None,
        cpu_limit: Optional[float] = None,
        pids_limit: Optional[int] = None,
    ) -> Session:
        """Starts session ``id`` with ``working_dir`` mounted at the same path. What start did
        (image used, ports dropped, limits, warnings, the egress policy) is in
        ``session.start_report``.

        ``egress`` puts the session on the egress network with these allow rules (``[]``:
        nothing is reachable) and ``egress_hosts`` pins names to addresses (``{"api.test":
        "127.0.0.1"}``, or a list of addresses); either replaces the configuration's egress
        policy. ``egress_credentials`` (:class:`EgressCredential`, or dicts of its fields)
        has the enforcer add a header for a host ``egress`` allows, its value read on the
        host at start and never seen inside; ``egress_upstream_ca`` adds CA files (PEM) it
        trusts for those hosts; both are fixed for the session's life. A bad rule,
        address, credential or CA path raises :class:`InvalidArgumentError`; with
        ``network="bridge"`` or ``"none"`` the start does.

        ``snapshot`` starts the session from a snapshot (:meth:`Session.snapshot`):
        ``working_dir`` must not exist yet and receives a copy of the snapshot's, the
        container runs the snapshot's image (so no ``image``), and the snapshotted session's
        own environment is not inherited. :class:`NotFoundError` for an unknown snapshot.
        Without ``working_dir`` (``None``) the copy is a managed one, at
        ``<copy_dir>/<id>`` (see :class:`Sandbox`; ``session.start_report["working_dir"]``
        names it), which :meth:`remove_copy` removes once the session is stopped; without a
        snapshot too, :class:`InvalidArgumentError`."""
        settings = {k: v for k, v in locals().items() if k not in ("self", "id", "working_dir")}
        spec = _session_spec(id, working_dir, settings)
        try:
            ptr = _new(lib.sbx_context_start, self._ptr, spec)
        finally:
            lib.sbx_session_spec_free(spec)
        return Session(ptr, self, started=True)

    def attach(self, id: str) -> Session:
        """Connects to session ``id`` of this scope (started by any process). A session whose
        container is no longer running is returned too: its task and terminal lists, infos
        and output stay readable (from what its agent spooled) until :meth:`Session.stop`;
        anything else raises :class:`SessionLostError`."""
        return Session(_new(lib.sbx_context_attach, self._ptr, _text(id, "id")), self, started=False)

    def list(self) -> List[dict]:
        """Sessions of this scope: dicts with id, container, working_dir, image, state,
        created_unix, ports, snapshot (the one it started from, or None)."""
        sessions = _new(lib.sbx_context_list, self._ptr)
        try:
            return json.loads(lib.sbx_session_list_json(sessions).decode())
        finally:
            lib.sbx_session_list_free(sessions)

    def snapshots(self) -> List[SnapshotInfo]:
        """The snapshots in the snapshot dir (``snapshot_dir``, ``SANDBOX_SNAPSHOT_DIR``), by name."""
        return _snapshots(self)

    def remove_snapshot(self, name: str) -> None:
        """Removes snapshot ``name`` (its image and its copy). :class:`NotFoundError` when
        there is none; :class:`InvalidArgumentError`, with nothing removed, while a container
        started from it exists or while a session started from it has an overlay copy of it
        (``"overlay"`` in its start report's ``snapshot.copy``; remove those first with
        :meth:`remove_copy`)."""
        _remove_snapshot(self, name)

    def remove_copy(self, path: PathLike) -> None:
        """Removes the copy of a snapshot at ``path`` (an absolute path) that a session
        started from it (``start(..., snapshot=name)``) or a fork's child got as its working
        dir: unmounts it if it is an overlay (which stays mounted after its session stops:
        its changes are the output), removes its files, including those the session made,
        and its record in the snapshot dir. Reflink and plain copies are removed the same
        way; the snapshot stays. :class:`InvalidArgumentError` for a relative path, while a
        session of this scope (running or not, as :meth:`list` shows it) has ``path`` as its
        working dir (stop it first), or while ``path`` is inside the working dir of a
        running session (which could redirect the removal); :class:`NotFoundError` when no
        snapshot has a copy at ``path``."""
        _remove_copy(self, path)

    def reap_snapshots(self) -> List[str]:
        """Removes what failed or interrupted snapshots left in the snapshot dir; returns
        the removed paths."""
        return _reap_snapshots(self)

    def stop(self, id: str) -> None:
        """Stops (removes) session ``id`` of this scope, wherever it was started."""
        _call(lib.sbx_context_stop, self._ptr, _text(id, "id"))

    def reap_orphans(self, known: Iterable[str] = ()) -> List[str]:
        """Removes this scope's sessions whose id is not in ``known``; returns the removed ids."""
        ids = [_text(k, "id") for k in known]
        arr = (c_char_p * max(1, len(ids)))(*ids)
        reaped = _new(lib.sbx_context_reap_orphans, self._ptr, arr, len(ids))
        try:
            n = lib.sbx_string_list_len(reaped)
            return [lib.sbx_string_list_get(reaped, i).decode() for i in range(n)]
        finally:
            lib.sbx_string_list_free(reaped)
