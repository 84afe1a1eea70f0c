"""Snapshots of a session (``Session.snapshot``), listed, removed and reaped through the
:class:`~sandbox.Sandbox` (``snapshots``, ``remove_snapshot``, ``reap_snapshots``);
``Sandbox.start(..., snapshot=name)`` starts a session from one (without a working dir,
in a managed copy at ``<copy_dir>/<id>``), and ``Sandbox.remove_copy(path)`` removes the
copy of the working dir it got."""

from __future__ import annotations

import json
from ctypes import c_void_p
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, List

from ._calls import PathLike, _call, _new, _text
from ._lib import lib

if TYPE_CHECKING:
    from . import Sandbox, Session


@dataclass(frozen=True)
class SnapshotInfo:
    """A stored snapshot."""

    #: Its name.
    name: str
    #: The id of the session it was taken from.
    session: str
    #: That session's working dir.
    working_dir: str
    #: The image of the container's filesystem changes (its id).
    image: str
    #: When it was taken, in seconds since the Unix epoch.
    created: float
    #: How the working dir was copied: "reflink" (sharing data blocks until either side
    #: writes) or "copy".
    copy: str
    #: Regular files in the working dir's copy.
    files: int
    #: Their bytes.
    bytes: int
    #: The session's own environment variables, which sessions started from the snapshot
    #: do not inherit.
    unset_env: List[str]


@dataclass(frozen=True)
class SnapshotReport(SnapshotInfo):
    """What :meth:`Session.snapshot` took, how the session was frozen meanwhile, and what
    was taken again while it was."""

    #: How: "signals" (SIGSTOP to every process but the agent and init, SIGCONT after),
    #: or "already_paused" (the session was paused and stays paused).
    freeze: str = ""
    #: How many processes were frozen.
    processes: int = 0
    #: How long they were frozen, in seconds.
    frozen: float = 0.0
    #: How long the whole snapshot took, in seconds.
    took: float = 0.0
    #: What was taken again while the session was frozen because it changed while the
    #: first copy or commit ran with the session running: ``"working_dir"`` (its copy),
    #: ``"container"`` (the image of the container's changes); empty when the freeze only
    #: checked that nothing had.
    retaken: List[str] = field(default_factory=list)


def _info_fields(d: dict) -> dict:
    return dict(
        name=d["name"],
        session=d["session"],
        working_dir=d["working_dir"],
        image=d["image"],
        created=d["created_ms"] / 1000.0,
        copy=d["copy"],
        files=int(d["files"]),
        bytes=int(d["bytes"]),
        unset_env=list(d["unset_env"]),
    )


def _report_of(ptr: c_void_p) -> SnapshotReport:
    """The report behind a borrowed ``sbx_snapshot_report``."""
    d = json.loads(lib.sbx_snapshot_report_json(ptr).decode())
    return SnapshotReport(
        **_info_fields(d),
        freeze=d["freeze"],
        processes=int(d["processes"]),
        frozen=d["frozen_us"] / 1e6,
        took=d["took_us"] / 1e6,
        retaken=list(d["retaken"]),
    )


def _snapshot(session: "Session", name: str) -> SnapshotReport:
    r = _new(lib.sbx_session_snapshot, session._ptr, _text(name, "name"))
    try:
        return _report_of(r)
    finally:
        lib.sbx_snapshot_report_free(r)


def _snapshots(sb: "Sandbox") -> List[SnapshotInfo]:
    lst = _new(lib.sbx_context_snapshots, sb._ptr)
    try:
        return [SnapshotInfo(**_info_fields(d)) for d in json.loads(lib.sbx_snapshot_list_json(lst).decode())]
    finally:
        lib.sbx_snapshot_list_free(lst)


def _remove_snapshot(sb: "Sandbox", name: str) -> None:
    _call(lib.sbx_context_remove_snapshot, sb._ptr, _text(name, "name"))


def _remove_copy(sb: "Sandbox", path: PathLike) -> None:
    _call(lib.sbx_context_remove_copy, sb._ptr, _text(path, "path"))


def _reap_snapshots(sb: "Sandbox") -> List[str]:
    reaped = _new(lib.sbx_context_reap_snapshots, sb._ptr)
    try:
        return [lib.sbx_string_list_get(reaped, i).decode() for i in range(lib.sbx_string_list_len(reaped))]
    finally:
        lib.sbx_string_list_free(reaped)
