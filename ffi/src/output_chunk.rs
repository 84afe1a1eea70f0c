//! `sbx_output_chunk`: bytes read from a task's output or a terminal's scrollback, with
//! the absolute offsets needed to continue reading and to see what was dropped.

use sandbox_core::OutputChunk;

use crate::boundary::{Blocks, call, quiet, value};
use crate::error::sbx_error;
use crate::handle::{borrow, free, out_param, write_out};
use crate::status::sbx_status;

/// Which output of a task to read (the `stream` argument of `sbx_task_output` and
/// `sbx_task_tail`, passed as a `uint32_t`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sbx_task_stream {
    /// stdout and stderr interleaved in the order they were written.
    Merged = 0,
    /// stdout only.
    Stdout = 1,
    /// stderr only.
    Stderr = 2,
}

impl sbx_task_stream {
    pub(crate) fn from_u32(n: u32) -> Result<sandbox_core::TaskStream, crate::error::FfiError> {
        match n {
            0 => Ok(sandbox_core::TaskStream::Merged),
            1 => Ok(sandbox_core::TaskStream::Stdout),
            2 => Ok(sandbox_core::TaskStream::Stderr),
            n => Err(crate::error::FfiError::invalid(
                "stream",
                format!("{n} is not a task stream (SBX_TASK_STREAM_MERGED, _STDOUT or _STDERR)"),
            )),
        }
    }
}

/// A piece of spooled output. Offsets are absolute byte positions in everything the
/// process ever wrote to that output, and never restart: continue reading at
/// `sbx_output_chunk_next_offset`. When the spool dropped old bytes (it keeps a bounded
/// window), a read from an older offset starts at `window_start` instead.
///
/// Owned by the caller, freed with `sbx_output_chunk_free` exactly once. Immutable, so
/// readable from any thread; the byte view is valid until it is freed.
pub struct sbx_output_chunk {
    pub(crate) chunk: OutputChunk,
}

fn with<T: Copy>(chunk: *const sbx_output_chunk, fallback: T, pick: impl FnOnce(&OutputChunk) -> T) -> T {
    value(fallback, || {
        // SAFETY: NULL or a live, immutable chunk by the exported functions' contract.
        match unsafe { chunk.as_ref() } {
            Some(c) => pick(&c.chunk),
            None => fallback,
        }
    })
}

/// The bytes, exactly as the process wrote them (NUL bytes included; not
/// NUL-terminated; a UTF-8 character may be cut at either end, see
/// `sbx_output_chunk_text_len`).
///
/// On success `*data` receives a pointer borrowed from `chunk` (valid until
/// `sbx_output_chunk_free`; non-NULL even when `*len` is 0) and `*len` its length.
///
/// # Safety
/// `chunk` is NULL or live; `data` and `len` are writable; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_output_chunk_data(
    chunk: *const sbx_output_chunk,
    data: *mut *const u8,
    len: *mut usize,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_output_chunk_data", err, Blocks::No, || {
            // SAFETY: NULL or live by contract.
            let c = borrow(chunk, "chunk")?;
            let (data, len) = (out_param(data, "data")?, out_param(len, "len")?);
            // SAFETY: both checked non-NULL and writable by contract.
            write_out(data, c.chunk.data.as_ptr());
            write_out(len, c.chunk.data.len());
            Ok(())
        })
    }
}

/// Offset of the first byte of the data; larger than the offset asked for when those
/// bytes were already dropped from the window. 0 for NULL.
///
/// # Safety
/// `chunk` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_output_chunk_offset(chunk: *const sbx_output_chunk) -> u64 {
    with(chunk, 0, |c| c.offset)
}

/// Where to continue reading: offset + data length. 0 for NULL.
///
/// # Safety
/// `chunk` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_output_chunk_next_offset(chunk: *const sbx_output_chunk) -> u64 {
    with(chunk, 0, OutputChunk::next_offset)
}

/// The oldest offset still kept (= bytes dropped so far because of the spool cap). 0
/// for NULL.
///
/// # Safety
/// `chunk` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_output_chunk_window_start(chunk: *const sbx_output_chunk) -> u64 {
    with(chunk, 0, |c| c.window_start)
}

/// One past the newest byte written so far. 0 for NULL.
///
/// # Safety
/// `chunk` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_output_chunk_end(chunk: *const sbx_output_chunk) -> u64 {
    with(chunk, 0, |c| c.end)
}

/// Whether the process has ended and this chunk reaches the end of its output: nothing
/// more will ever come. false for NULL.
///
/// # Safety
/// `chunk` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_output_chunk_finished(chunk: *const sbx_output_chunk) -> bool {
    with(chunk, false, |c| c.finished)
}

/// Bytes that could not be spooled in the container (e.g. its disk was full). 0 for
/// NULL.
///
/// # Safety
/// `chunk` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_output_chunk_lost(chunk: *const sbx_output_chunk) -> u64 {
    with(chunk, 0, |c| c.lost)
}

/// Length of the longest prefix of the data that does not end inside a UTF-8 character.
/// A text consumer decodes that many bytes and continues at offset + this length, so no
/// character is ever split between reads. 0 for NULL.
///
/// # Safety
/// `chunk` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_output_chunk_text_len(chunk: *const sbx_output_chunk) -> usize {
    with(chunk, 0, OutputChunk::text_len)
}

/// Frees a chunk. NULL is ignored. Exactly once; its byte view becomes invalid.
///
/// # Safety
/// `chunk` is NULL or live, not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_output_chunk_free(chunk: *mut sbx_output_chunk) {
    // SAFETY: by contract.
    quiet(|| unsafe { free(chunk) });
}
