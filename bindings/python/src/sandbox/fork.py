"""Forking a session into children (``Session.fork``), what a session changed relative to
a snapshot (``Session.diff``), and merging that into a directory or another session
(``Session.merge``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, List, Mapping, Optional, Union

from ._calls import PathLike, _int, _new, _text
from ._lib import lib
from .snapshot import SnapshotReport, _report_of

if TYPE_CHECKING:
    from . import Session


@dataclass(frozen=True)
class ForkResult:
    """What :meth:`Session.fork` made. The children run until stopped (``with`` on each, or
    :meth:`Session.stop`); their copies of the working dir stay until
    :meth:`Sandbox.remove_copy`, the snapshot until :meth:`Sandbox.remove_snapshot`."""

    #: The snapshot the children started from.
    snapshot: SnapshotReport
    #: The children, in order (ids ``<session id>-1``, ``-2``...).
    children: List["Session"]


@dataclass(frozen=True)
class Change:
    """One changed path of a working dir."""

    #: The path relative to the working dir (bytes that are not UTF-8 as surrogate
    #: escapes, as ``os.fsdecode`` gives them).
    path: str
    #: What happened to it: "added", "modified" or "deleted".
    kind: str
    #: What it is (for a deletion: was): "file", "dir", "symlink" or "other".
    entry: str
    #: Its size now in bytes (files and symlinks; 0 for directories and deletions).
    size: int


@dataclass(frozen=True)
class MergeReport:
    """What :meth:`Session.merge` did."""

    #: The changes merged (what :meth:`Session.diff` gives).
    changes: int
    #: The paths written or removed in the target.
    applied: int


def _opt_name(snapshot: Optional[str]) -> Optional[bytes]:
    return None if snapshot is None else _text(snapshot, "snapshot")


def _fork(
    session: "Session", count: int, into: PathLike, snapshot: Optional[str], prefix: Optional[str], child: Mapping[str, Any]
) -> ForkResult:
    from . import Session, _session_spec

    count = _int(count, "count", 0, 2**32 - 1)
    args = (_text(into, "into"), _opt_name(snapshot))
    if prefix is None and not child:
        f = _new(lib.sbx_session_fork, session._ptr, count, *args)
    else:
        template = _session_spec(session.id if prefix is None else prefix, None, child)
        try:
            f = _new(lib.sbx_session_fork_with_template, session._ptr, count, *args, template)
        finally:
            lib.sbx_session_spec_free(template)
    try:
        report = _report_of(lib.sbx_fork_snapshot_report(f))
        children = []
        for i in range(lib.sbx_fork_count(f)):
            children.append(Session(_new(lib.sbx_fork_child, f, i), session._sandbox, started=True))
        return ForkResult(snapshot=report, children=children)
    finally:
        lib.sbx_fork_free(f)


def _diff(session: "Session", snapshot: Optional[str]) -> List[Change]:
    d = _new(lib.sbx_session_diff, session._ptr, _opt_name(snapshot))
    try:
        return [
            Change(
                path=os.fsdecode(lib.sbx_diff_path(d, i)),
                kind=lib.sbx_diff_kind(d, i).decode(),
                entry=lib.sbx_diff_entry(d, i).decode(),
                size=int(lib.sbx_diff_size(d, i)),
            )
            for i in range(lib.sbx_diff_len(d))
        ]
    finally:
        lib.sbx_diff_free(d)


def _merge(
    session: "Session", into: Union[PathLike, "Session"], snapshot: Optional[str], force: bool
) -> MergeReport:
    from . import Session

    if not isinstance(force, bool):
        raise TypeError(f"force must be a bool, not {type(force).__name__}")
    if isinstance(into, Session):
        target_dir, target_session = None, into._ptr
    else:
        target_dir, target_session = _text(into, "into"), None
    r = _new(lib.sbx_session_merge, session._ptr, _opt_name(snapshot), target_dir, target_session, force)
    try:
        return MergeReport(changes=int(lib.sbx_merge_report_changes(r)), applied=int(lib.sbx_merge_report_applied(r)))
    finally:
        lib.sbx_merge_report_free(r)
