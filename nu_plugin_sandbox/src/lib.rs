//! # nu_plugin_sandbox
//!
//! The sandbox as Nushell commands that return structured data: `sandbox start` gives a
//! record, `sandbox list` a table with typed columns, `sandbox exec` a record with the same
//! column names as nushell's `complete`, `sandbox run` and `sandbox task logs --follow`
//! byte streams that arrive as the sandbox writes them; `sandbox task ...`, `sandbox
//! term ...` and `sandbox file ...` reach the session's background tasks, terminals and
//! files, `sandbox events`, `sandbox watch`, `sandbox stats` and `sandbox wait-port` its
//! event stream (as tables, or live list streams of records), and `sandbox attach` puts
//! the user's terminal on one of its terminals. `sandbox snapshot`, `sandbox fork`,
//! `sandbox diff` and `sandbox merge` capture a session, start children from the capture,
//! and show and bring back what a child changed; `sandbox copy remove` removes a stopped
//! child's copy of the working dir.
//!
//! The plugin keeps no state of its own that matters: sessions live in their containers
//! and are found again by id through `sandbox-core`, so a plugin that nushell stopped (by
//! `plugin stop sandbox` or its idle GC) loses nothing. What it does keep is a cache of
//! open agent connections, so `sandbox exec` costs about a millisecond instead of a
//! `podman ps` per call.
//!
//! Layout: one file per command under [`commands`]; conversions from core types to nu
//! values under `records`; configuration, error mapping, Ctrl-C and progress each in
//! their own file.

#![forbid(unsafe_code)]

mod arguments;
mod call_context;
mod channel_reader;
mod chunk_reader;
pub mod commands;
mod error_context;
mod events_follow;
mod interrupt;
mod plugin_config;
mod progress;
mod records;
mod sandbox_plugin;
mod session_cache;
mod signal_name;
mod stdin_input;
mod task_follow;

pub use sandbox_plugin::SandboxPlugin;
