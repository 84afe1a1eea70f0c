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
//! Layout: one file per handle or function group: background tasks (`task.rs`, with
//! `task_spec.rs`, `task_info.rs`), terminals (`terminal.rs`, `terminal_spec.rs`,
//! `terminal_info.rs`), spooled output (`output_chunk.rs`), streaming exec
//! (`exec_stream.rs`, `exec_event.rs`), files (`file.rs`, `file_info.rs`, `buffer.rs`),
//! the egress network (`egress.rs`, `egress_policy.rs`, `egress_decision.rs`) and the
//! session's event stream (`events.rs`, with its read-ahead queue in `event_queue.rs`
//! and the events in `event.rs`), pausing a session (`pause.rs`), snapshots
//! (`snapshot.rs`, listed in `snapshot_list.rs`), forks (`fork.rs`) and what a session
//! changed relative to a snapshot (`diff.rs`, `merge.rs`). Handles made from a session
//! (task, terminal, exec stream, event stream) hold a `SessionLink`: closing the session
//! closes them too.

#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
// The exported C names (`sbx_context`, `sbx_status`...) are the ABI, not Rust style.
#![allow(non_camel_case_types)]

mod boundary;
mod buffer;
mod cancel_token;
mod config;
mod context;
mod cstring;
mod diff;
mod egress;
mod egress_decision;
mod egress_policy;
mod error;
mod event;
mod event_queue;
mod events;
mod exec;
mod exec_event;
mod exec_options;
mod exec_result;
mod exec_stream;
mod file;
mod file_info;
mod fork;
mod guard;
mod handle;
mod host_info;
mod interruptible;
mod latch;
mod merge;
mod output_chunk;
mod pause;
mod process;
mod process_state;
mod runtime;
mod session;
mod session_link;
mod session_list;
mod session_spec;
mod snapshot;
mod snapshot_list;
mod status;
mod string_list;
mod task;
mod task_info;
mod task_spec;
mod terminal;
mod terminal_info;
mod terminal_spec;
mod test_hooks;
mod text;
mod version;
mod wait_time;

pub use buffer::*;
pub use cancel_token::*;
pub use config::*;
pub use context::*;
pub use diff::*;
pub use egress::*;
pub use egress_decision::*;
pub use egress_policy::*;
pub use error::*;
pub use event::*;
pub use events::*;
pub use exec::*;
pub use exec_event::*;
pub use exec_options::*;
pub use exec_result::*;
pub use exec_stream::*;
pub use file::*;
pub use file_info::*;
pub use fork::*;
pub use host_info::*;
pub use merge::*;
pub use output_chunk::*;
pub use pause::*;
pub use process_state::sbx_process_state;
pub use session::*;
pub use session_list::*;
pub use session_spec::*;
pub use snapshot::*;
pub use snapshot_list::*;
pub use status::*;
pub use string_list::*;
pub use task::*;
pub use task_info::*;
pub use task_spec::*;
pub use terminal::*;
pub use terminal_info::*;
pub use terminal_spec::*;
pub use test_hooks::*;
pub use version::*;
pub use wait_time::SBX_NO_TIMEOUT;
