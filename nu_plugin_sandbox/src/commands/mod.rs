//! The plugin's commands, one file each. `sandbox` alone prints help; the verbs are the
//! same as in the Rust API (`Sandbox::start`, `Session::exec`, `Sandbox::stop`...).
//!
//! Commands that come with background tasks, terminals, streaming and files (`sandbox
//! run`, `sandbox task ...`, `sandbox term ...`, `sandbox file ...`, `sandbox attach`)
//! slot in here as more files of the same shape.

mod exec;
mod info;
mod list;
mod reap;
mod sandbox;
mod start;
mod stop;

pub use exec::Exec;
pub use info::Info;
pub use list::List;
pub use reap::Reap;
pub use sandbox::SandboxCommand;
pub use start::Start;
pub use stop::Stop;

use nu_plugin::PluginCommand;
use nu_protocol::Category;

use crate::SandboxPlugin;

/// Category the commands are listed under in `help commands`.
pub(crate) fn category() -> Category {
    Category::Custom("sandbox".into())
}

/// Every command of the plugin.
pub(crate) fn all() -> Vec<Box<dyn PluginCommand<Plugin = SandboxPlugin>>> {
    vec![
        Box::new(SandboxCommand),
        Box::new(Info),
        Box::new(Start),
        Box::new(List),
        Box::new(Exec),
        Box::new(Stop),
        Box::new(Reap),
    ]
}
