//! # sandbox-core
//!
//! Per-session sandboxes for coding agents and editors. A session is one long-lived
//! podman container with the user's working directory mounted at the same path; an
//! agent inside it runs commands for you over a unix socket in about a millisecond
//! (instead of the ~200 ms of `podman exec`), and keeps state that any process can
//! reattach to.
//!
//! ```no_run
//! # async fn demo() -> sandbox_core::Result<()> {
//! use sandbox_core::{ExecOptions, Sandbox, SessionSpec};
//! let sandbox = Sandbox::from_env()?;
//! let session = sandbox.start(SessionSpec::new("demo", "/home/me/project")).await?;
//! let out = session.exec(&["sh", "-c", "echo hello"], ExecOptions::new()).await?;
//! assert_eq!(out.stdout, b"hello\n");
//! session.stop().await?;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod agent_binary;
mod agent_client;
mod change_scan;
mod config;
mod control_dir;
mod devcontainer;
mod devcontainer_plan;
mod devcontainer_report;
mod devcontainer_run_args;
mod devcontainer_variables;
mod duration_secs;
pub mod egress;
mod engine;
mod env_builders;
mod error;
pub mod events;
mod exec;
mod exec_options;
mod exec_stream;
#[cfg(test)]
mod fake_agent;
#[cfg(test)]
mod fake_engine;
mod files;
pub mod fork;
mod git_index;
mod host_info;
pub mod image_build;
mod jsonc;
pub mod labels;
pub mod local_tty;
mod mountinfo;
pub mod network_isolation;
mod output_chunk;
mod overlay;
mod pause;
mod podman;
mod policy;
mod process;
pub mod run_args;
pub mod run_failure;
mod sandbox;
mod session;
mod session_info;
pub mod signals;
pub mod snapshot;
mod spec;
mod spool_reader;
mod start;
mod start_report;
mod tasks;
mod terminals;
mod transport;
mod tree_copy;
pub mod tree_diff;
mod untrusted_dir;
pub mod validate;
mod workspace_protection;

pub use agent_binary::AGENT_SHA256;
pub use config::{Config, DEFAULT_CONTAINER_PREFIX, DEFAULT_IMAGE, DEFAULT_SCOPE};
pub use devcontainer::{
    DEVCONTAINER_FILES, Devcontainer, DevcontainerBuild, LIFECYCLE_COMMANDS, LifecycleCommand, MAX_DEVCONTAINER_BYTES,
    PortValue,
};
pub use devcontainer_report::{DevcontainerItem, DevcontainerReport};
pub use devcontainer_variables::{ContainerWorkspace, Variables};
pub use engine::{BoxFuture, ContainerRecord, ContainerState, CreateFailure, Engine};
pub use error::{Error, ErrorKind, Result};
pub use events::{
    EventAction, EventBatch, EventFilter, EventKind, EventStream, EventsConfig, ResourceSample, SessionEvent,
};
pub use exec::{DEFAULT_OUTPUT_CAP, ExecOutput};
pub use exec_options::ExecOptions;
pub use exec_stream::{ExecControl, ExecEvent, ExecExit, ExecStream, STREAM_WINDOW};
pub use files::{FileInfo, FileKind};
pub use fork::{ForkReport, ForkSpec, MAX_FORK_CHILDREN, MergeReport};
pub use host_info::{CgroupMode, HostInfo, HostReadings, Ulimits, parse_version};
pub use output_chunk::{OutputChunk, complete_utf8_len};
pub use pause::PauseReport;
pub use podman::{PodmanEngine, parse_inspect_state, parse_ps};
pub use policy::{DEFAULT_PROTECTED_PATHS, Limits, Network, Policy, parse_memory};
pub use process::{FOLLOW_READ_MAX, Follow, Held, ProcessInfo, ProcessKind, ProcessState, ReadUntil};
pub use sandbox::Sandbox;
pub use sandbox_proto::egress::{
    Credential as EgressCredential, Decision as EgressDecision, EgressPolicy, Rule as EgressRule,
};
pub use session::Session;
pub use session_info::SessionInfo;
pub use snapshot::{CopyMethod, SnapshotInfo, SnapshotReport};
pub use spec::{SessionSpec, default_session_id};
pub use start::StartPhase;
pub use start_report::{
    DroppedPort, EgressReport, ImageChoice, ImageReason, LimitsOutcome, PostCreateOutcome, Provisioning, SnapshotStart,
    StartReport,
};
pub use tasks::{DEFAULT_TASK_SPOOL_CAP, Task, TaskInfo, TaskKind, TaskSpec, TaskStream};
pub use terminals::{
    DEFAULT_SCROLLBACK, MAX_TERMINAL_DIMENSION, MAX_TERMINAL_WRITE, Terminal, TerminalInfo, TerminalKind, TerminalSpec,
};
pub use transport::Transport;

/// Version of this library.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Version of the agent protocol this library speaks.
pub const PROTOCOL_VERSION: u32 = sandbox_proto::PROTOCOL_VERSION;

/// The README's Rust example, compiled (not run: it needs podman) as a doctest so that it
/// cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
