//! The plugin's commands, one file each. `sandbox` alone prints help; the verbs are the
//! same as in the Rust API (`Sandbox::start`, `Session::exec`, `Sandbox::stop`...).
//!
//! The groups `sandbox task`, `sandbox term`, `sandbox file` and `sandbox net` have a parent command
//! of their own (it prints the group's help) and one file per verb (`task_logs.rs` is
//! `sandbox task logs`), except the verbs tasks and terminals share (the group itself,
//! `list`, `wait`, `kill`): one generic command each in `held.rs`, over the kinds of
//! `held_kinds.rs`; and what the `sandbox net` verbs share is in `net.rs`. `sandbox
//! snapshot <session> <name>` is both a verb and the parent of `sandbox snapshot list`
//! and `sandbox snapshot remove`; `sandbox fork`, `sandbox diff` and `sandbox merge` work
//! on the snapshots too, and `sandbox copy remove` removes the copy of a snapshot that a
//! session started from it got (it has no parent command: `copy` is only its group).

mod attach;
mod copy_remove;
mod diff;
mod events;
mod exec;
mod file;
mod file_ls;
mod file_read;
mod file_write;
mod fork;
mod held;
mod held_kinds;
mod info;
mod list;
mod merge;
mod net;
mod net_allow;
mod net_deny;
mod net_log;
mod net_policy;
mod net_restart;
mod pause;
mod reap;
mod run;
mod sandbox;
mod settings;
mod snapshot;
mod snapshot_list;
mod snapshot_remove;
mod start;
mod stats;
mod stop;
mod task_logs;
mod task_spawn;
mod term_open;
mod term_read;
mod term_resize;
mod term_send;
mod wait_port;
mod watch;

pub use attach::Attach;
pub use copy_remove::CopyRemove;
pub use diff::Diff;
pub use events::Events;
pub use exec::Exec;
pub use file::FileCommand;
pub use file_ls::FileLs;
pub use file_read::FileRead;
pub use file_write::FileWrite;
pub use fork::Fork;
pub use held::{HeldCommands, HeldGroup, HeldKill, HeldList, HeldWait, Help};
pub use held_kinds::{Tasks, Terminals};
pub use info::Info;
pub use list::List;
pub(crate) use merge::MERGE_TARGET_HELP;
pub use merge::Merge;
pub use net::NetCommand;
pub use net_allow::NetAllow;
pub use net_deny::NetDeny;
pub use net_log::NetLog;
pub use net_policy::NetPolicy;
pub use net_restart::NetRestart;
pub use pause::PauseCommand;
pub use reap::Reap;
pub use run::Run;
pub use sandbox::SandboxCommand;
pub use snapshot::Snapshot;
pub use snapshot_list::SnapshotList;
pub use snapshot_remove::SnapshotRemove;
pub use start::Start;
pub use stats::Stats;
pub use stop::Stop;
pub use task_logs::TaskLogs;
pub use task_spawn::TaskSpawn;
pub use term_open::TermOpen;
pub use term_read::TermRead;
pub use term_resize::TermResize;
pub use term_send::TermSend;
pub use wait_port::WaitPort;
pub use watch::Watch;

use nu_plugin::PluginCommand;
use nu_protocol::{Category, Signature, SyntaxShape};

use crate::SandboxPlugin;

/// Category the commands are listed under in `help commands`.
pub(crate) fn category() -> Category {
    Category::Custom("sandbox".into())
}

/// The signature of the command `name`, in the plugin's category, whose first argument
/// is the session it works on (the id, or a record with an id column, as
/// [`CallContext::for_session`](crate::call_context::CallContext::for_session) reads it).
pub(crate) fn session_signature(name: &str) -> Signature {
    Signature::build(name)
        .required("session", SyntaxShape::Any, "Session id (or a record with an id column).")
        .category(category())
}

/// Every command of the plugin.
pub(crate) fn all() -> Vec<Box<dyn PluginCommand<Plugin = SandboxPlugin>>> {
    vec![
        Box::new(SandboxCommand),
        Box::new(Info),
        Box::new(Start),
        Box::new(List),
        Box::new(Exec),
        Box::new(Run),
        Box::new(Stop),
        Box::new(PauseCommand { resume: false }),
        Box::new(PauseCommand { resume: true }),
        Box::new(Reap),
        Box::new(Snapshot),
        Box::new(SnapshotList),
        Box::new(SnapshotRemove),
        Box::new(CopyRemove),
        Box::new(Fork),
        Box::new(Diff),
        Box::new(Merge),
        Box::new(HeldGroup(Tasks)),
        Box::new(TaskSpawn),
        Box::new(HeldList(Tasks)),
        Box::new(TaskLogs),
        Box::new(HeldWait(Tasks)),
        Box::new(HeldKill(Tasks)),
        Box::new(HeldGroup(Terminals)),
        Box::new(TermOpen),
        Box::new(HeldList(Terminals)),
        Box::new(TermSend),
        Box::new(TermRead),
        Box::new(TermResize),
        Box::new(HeldKill(Terminals)),
        Box::new(HeldWait(Terminals)),
        Box::new(FileCommand),
        Box::new(FileRead),
        Box::new(FileWrite),
        Box::new(FileLs),
        Box::new(NetCommand),
        Box::new(NetLog),
        Box::new(NetPolicy),
        Box::new(NetAllow),
        Box::new(NetDeny),
        Box::new(NetRestart),
        Box::new(Events),
        Box::new(Watch),
        Box::new(Stats),
        Box::new(WaitPort),
        Box::new(Attach),
    ]
}
