"""Pausing and resuming a session (``Session.pause`` / ``Session.resume``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from ._calls import _new
from ._lib import lib

if TYPE_CHECKING:
    from . import Session


@dataclass(frozen=True)
class PauseReport:
    """What a pause or resume did."""

    #: Whether the session is paused now.
    paused: bool
    #: Whether the call changed that (False when it was paused, or running, already).
    changed: bool
    #: How: "signals" (SIGSTOP and SIGCONT to every process of the session).
    method: str
    #: How many processes were stopped or continued.
    processes: int
    #: How long that took inside the session, in seconds.
    took: float


def _pause_or_resume(session: "Session", fn: Callable[..., int]) -> PauseReport:
    p = _new(fn, session._ptr)
    try:
        return PauseReport(
            paused=bool(lib.sbx_pause_report_paused(p)),
            changed=bool(lib.sbx_pause_report_changed(p)),
            method=(lib.sbx_pause_report_method(p) or b"").decode(),
            processes=int(lib.sbx_pause_report_processes(p)),
            took=int(lib.sbx_pause_report_took_us(p)) / 1e6,
        )
    finally:
        lib.sbx_pause_report_free(p)


def _pause(session: "Session") -> PauseReport:
    return _pause_or_resume(session, lib.sbx_session_pause)


def _resume(session: "Session") -> PauseReport:
    return _pause_or_resume(session, lib.sbx_session_resume)
