"""What tasks and terminals share: both are processes held by the session's agent. The C
API names their calls alike (``sbx_<kind>_<call>``, ``sbx_<kind>_info_<field>``), so the
shared parts here look them up by kind; :class:`_Process` is the base of :class:`Task` and
:class:`Terminal`."""

from __future__ import annotations

from ctypes import c_void_p
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, TypeVar

from ._calls import _Handle, _borrowed_text, _call, _i32, _new, _text, _timeout_ms, _u64, _unix_seconds
from ._lib import lib

if TYPE_CHECKING:  # pragma: no cover
    from . import CancelToken, Session

#: ``sbx_process_state`` numbers as the names the infos' ``state`` uses.
STATES = {1: "running", 2: "exited", 3: "killed"}

T = TypeVar("T")


@dataclass(frozen=True)
class _ProcessInfo:
    """What every kind's info (:class:`TaskInfo`, :class:`TerminalInfo`) has first; each
    kind adds its own fields, and its ``started`` and ``ended`` (where they stand in it)."""

    id: str
    command: str
    #: "running", "exited" or "killed".
    state: str
    #: Exit status once it exited.
    exit_code: Optional[int]
    #: The signal that killed it.
    signal: Optional[int]
    pid: int

    @property
    def _running(self) -> bool:
        """Whether the process (a terminal's program) still runs."""
        return self.state == "running"


def _c(kind: str, call: str) -> Callable[..., Any]:
    """The C function ``sbx_<kind>_<call>``."""
    return getattr(lib, f"sbx_{kind}_{call}")


def _process_fields(kind: str, p: c_void_p) -> Dict[str, Any]:
    """The fields every kind's info has, read from an ``sbx_<kind>_info`` (owned or
    borrowed; not freed here), as keyword arguments for the kind's info class."""

    def get(field: str) -> Any:
        return _c(kind, f"info_{field}")(p)

    state = STATES.get(get("state"), "unknown")
    ended = get("ended_unix_ms")
    return dict(
        id=_borrowed_text(get("id")),
        command=_borrowed_text(get("command")),
        state=state,
        exit_code=get("exit_code") if state == "exited" else None,
        signal=get("signal") if state == "killed" else None,
        pid=int(get("pid")),
        started=_unix_seconds(get("started_unix_ms")),
        ended=None if ended < 0 else _unix_seconds(ended),
    )


def _take_info(kind: str, read: Callable[[c_void_p], T], p: c_void_p) -> T:
    """Reads an owned info with ``read`` and frees it."""
    try:
        return read(p)
    finally:
        _c(kind, "info_free")(p)


def _info_list(kind: str, read: Callable[[c_void_p], T], ptr: c_void_p) -> List[T]:
    """Reads every info of an ``sbx_<kind>_list`` with ``read`` and frees the list."""
    try:
        return [read(_c(kind, "list_get")(ptr, i)) for i in range(_c(kind, "list_len")(ptr))]
    finally:
        _c(kind, "list_free")(ptr)


def _apply_spec(
    kind: str,
    spec: c_void_p,
    env: Optional[Mapping[str, str]],
    cwd: Optional[str],
    kept: str,
    kept_bytes: Optional[int],
) -> None:
    """Sets what every kind's spec has: environment, working dir and the bytes kept (the
    setter ``sbx_<kind>_spec_set_<kept>``). Frees the spec when a setter fails."""
    try:
        for k, v in (env or {}).items():
            _call(_c(kind, "spec_add_env"), spec, _text(k, "env name"), _text(v, "env value"))
        if cwd is not None:
            _call(_c(kind, "spec_set_cwd"), spec, _text(cwd, "cwd"))
        if kept_bytes is not None:
            _call(_c(kind, f"spec_set_{kept}"), spec, _u64(kept_bytes, kept))
    except BaseException:
        _c(kind, "spec_free")(spec)
        raise


class _Process(_Handle):
    """A handle on one process held by the session's agent, of the kind ``_kind`` (a C
    name stem); ``_read_info`` reads that kind's info."""

    _kind = ""

    def __init__(self, ptr: c_void_p, session: "Session") -> None:
        super().__init__(ptr, _c(self._kind, "free"))
        self._session = session  # the session handle outlives its processes' handles
        self.id: str = _c(self._kind, "id")(ptr).decode()

    def __repr__(self) -> str:
        return f"<sandbox.{type(self).__name__} {self.id!r}{' closed' if self._closed else ''}>"

    def __enter__(self: T) -> T:
        return self

    @staticmethod
    def _read_info(p: c_void_p) -> Any:  # pragma: no cover - every kind overrides it
        raise NotImplementedError

    def _info(self) -> Any:
        return _take_info(self._kind, self._read_info, _new(_c(self._kind, "get_info"), self._ptr))

    def _wait(self, timeout: Optional[float], cancel: Optional["CancelToken"]) -> Any:
        ptr = _new(
            _c(self._kind, "wait"), self._ptr, _timeout_ms(timeout), cancel._ptr if cancel is not None else None
        )
        return _take_info(self._kind, self._read_info, ptr)

    def _kill(self, signal: int) -> None:
        _call(_c(self._kind, "kill"), self._ptr, _i32(signal, "signal"))
