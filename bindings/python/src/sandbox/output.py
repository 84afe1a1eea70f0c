"""Spooled output of tasks and terminals: :class:`OutputChunk`, with absolute offsets."""

from __future__ import annotations

from ctypes import c_void_p
from dataclasses import dataclass

from ._calls import _bytes_of
from ._lib import lib


@dataclass(frozen=True)
class OutputChunk:
    """Bytes read from a task's output or a terminal's scrollback.

    Offsets count every byte the process ever wrote to that output and never restart:
    continue reading at :attr:`next_offset`. The spool keeps a bounded window, so a read
    from an older offset starts at ``window_start`` (``offset`` then says where).
    """

    data: bytes
    #: Offset of ``data[0]``.
    offset: int
    #: Oldest offset still kept (= bytes dropped so far).
    window_start: int
    #: One past the newest byte written so far.
    end: int
    #: The process ended and this chunk reaches the end of its output.
    finished: bool
    #: Bytes that could not be spooled in the container.
    lost: int

    @property
    def next_offset(self) -> int:
        return self.offset + len(self.data)

    @property
    def text(self) -> str:
        """The data as text (UTF-8, invalid bytes replaced)."""
        return self.data.decode("utf-8", "replace")


def _take_chunk(ptr: c_void_p) -> OutputChunk:
    """Converts an ``sbx_output_chunk`` and frees it."""
    try:
        return OutputChunk(
            data=_bytes_of(lib.sbx_output_chunk_data, ptr),
            offset=int(lib.sbx_output_chunk_offset(ptr)),
            window_start=int(lib.sbx_output_chunk_window_start(ptr)),
            end=int(lib.sbx_output_chunk_end(ptr)),
            finished=bool(lib.sbx_output_chunk_finished(ptr)),
            lost=int(lib.sbx_output_chunk_lost(ptr)),
        )
    finally:
        lib.sbx_output_chunk_free(ptr)
