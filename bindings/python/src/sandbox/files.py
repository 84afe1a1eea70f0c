"""File operations of a session: :class:`FileInfo`, and the calls behind
:meth:`Session.read_file`, ``write_file``, ``list_dir``, ``stat`` and ``remove``."""

from __future__ import annotations

from ctypes import c_void_p
from dataclasses import dataclass
from typing import List, Optional

from ._calls import _borrowed_text, _bytes_of, _unix_seconds
from ._lib import lib

#: ``sbx_file_kind`` numbers as the names :attr:`FileInfo.kind` uses.
KINDS = {1: "file", 2: "dir", 3: "symlink", 4: "other"}


@dataclass(frozen=True)
class FileInfo:
    """A filesystem entry as the container sees it."""

    #: Last path component (invalid UTF-8 replaced).
    name: str
    #: "file", "dir", "symlink" or "other" (device, fifo, socket).
    kind: str
    size: int
    #: Permission bits, e.g. 0o644.
    mode: int
    #: Unix time (seconds) of the last modification.
    modified: float
    #: Where a symlink points, else None.
    target: Optional[str]

    @property
    def is_dir(self) -> bool:
        return self.kind == "dir"

    @property
    def is_file(self) -> bool:
        return self.kind == "file"


def _file_info(p: c_void_p) -> FileInfo:
    """Reads an ``sbx_file_info`` (owned or borrowed; not freed here)."""
    target = lib.sbx_file_info_target(p)
    return FileInfo(
        name=_borrowed_text(lib.sbx_file_info_name(p)),
        kind=KINDS.get(lib.sbx_file_info_kind(p), "other"),
        size=int(lib.sbx_file_info_size(p)),
        mode=int(lib.sbx_file_info_mode(p)),
        modified=_unix_seconds(lib.sbx_file_info_modified_unix_ms(p)),
        target=None if target is None else target.decode("utf-8", "replace"),
    )


def _take_file_info(p: c_void_p) -> FileInfo:
    try:
        return _file_info(p)
    finally:
        lib.sbx_file_info_free(p)


def _take_file_list(p: c_void_p) -> List[FileInfo]:
    try:
        return [_file_info(lib.sbx_file_list_get(p, i)) for i in range(lib.sbx_file_list_len(p))]
    finally:
        lib.sbx_file_list_free(p)


def _take_buffer(p: c_void_p) -> bytes:
    try:
        return _bytes_of(lib.sbx_buffer_data, p)
    finally:
        lib.sbx_buffer_free(p)
