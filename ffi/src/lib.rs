//! # libsandbox: the C ABI of sandbox-core
//!
//! Built as `libsandbox.so` and `libsandbox.a`; `include/sandbox.h` is generated from
//! this crate by cbindgen (pinned version, config in `ffi/cbindgen.toml`), so the doc
//! comment of every export below is what a C programmer reads in the header.
//!
//! The conventions every export follows (also stated at the top of the header):
//! - functions return an [`sbx_status`] and take a trailing `sbx_error **err` (NULL
//!   allowed) that receives a new [`sbx_error`] on failure;
//! - out-params are written only when the call returns `SBX_STATUS_OK`;
//! - a NULL pointer where a value is required gives `SBX_STATUS_NULL_ARGUMENT`;
//! - no panic crosses the boundary: it becomes `SBX_STATUS_PANIC` with its message;
//! - inputs are copied before the call returns and never retained;
//! - returned pointers are borrowed from the handle that returned them and stay valid
//!   until that handle is freed;
//! - `*_close` is idempotent and thread-safe; `*_free` is called exactly once;
//! - calls that block refuse to run on the library's own runtime threads
//!   (`SBX_STATUS_WRONG_THREAD`) instead of deadlocking.
//!
//! Layout: one file per handle or function group. Background tasks, terminals,
//! streaming exec and file operations get their own files (`task.rs`, `terminal.rs`,
//! `exec_stream.rs`, `file.rs`) when sandbox-core offers them.

#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
// The exported C names (`sbx_context`, `sbx_status`...) are the ABI, not Rust style.
#![allow(non_camel_case_types)]

mod boundary;
mod cancel_token;
mod config;
mod context;
mod error;
mod exec;
mod exec_options;
mod exec_result;
mod handle;
mod host_info;
mod latch;
mod runtime;
mod session;
mod session_list;
mod session_spec;
mod status;
mod string_list;
mod test_hooks;
mod text;
mod version;

pub use cancel_token::*;
pub use config::*;
pub use context::*;
pub use error::*;
pub use exec::*;
pub use exec_options::*;
pub use exec_result::*;
pub use host_info::*;
pub use session::*;
pub use session_list::*;
pub use session_spec::*;
pub use status::*;
pub use string_list::*;
pub use test_hooks::*;
pub use version::*;
