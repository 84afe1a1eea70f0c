//! `sandbox-agent`: runs as the main process of a session container (under `--init`),
//! listens on a unix socket in the session's control dir and runs commands for the host
//! library. It can also run directly on a host for protocol tests.

mod conn;
mod credit;
mod drain;
mod exec;
mod files;
mod groups;
mod ids;
mod outbox;
mod output_log;
mod process;
mod read_output;
// The policy has x86 numbers only; elsewhere nothing installs it (its tests still run).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
mod seccomp;
mod server;
mod state;
mod sys;
mod tasks;
mod terminals;

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str =
    "usage: sandbox-agent serve --socket <path> [--idle-timeout <seconds>]\n       sandbox-agent --version";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (socket, idle) = match args.as_slice() {
        [v] if v == "--version" => {
            println!("sandbox-agent {} (protocol {})", env!("CARGO_PKG_VERSION"), sandbox_proto::PROTOCOL_VERSION);
            return ExitCode::SUCCESS;
        }
        [serve, flag, path] if serve == "serve" && flag == "--socket" => (PathBuf::from(path), None),
        [serve, flag, path, idle, secs] if serve == "serve" && flag == "--socket" && idle == "--idle-timeout" => {
            match secs.parse::<u64>() {
                Ok(s) if s > 0 => (PathBuf::from(path), Some(std::time::Duration::from_secs(s))),
                _ => {
                    eprintln!("sandbox-agent: --idle-timeout takes a positive number of seconds\n{USAGE}");
                    return ExitCode::from(2);
                }
            }
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    // Not dumpable: commands in the session (root, but without CAP_SYS_PTRACE) cannot
    // ptrace the agent or open its memory to take over its connection to the host.
    // Children get the normal setting back at exec, so debuggers still work on them.
    if let Err(e) = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable) {
        eprintln!("sandbox-agent: cannot make itself non-dumpable: {e}");
    }
    if let Err(e) = sys::install_syscall_filter() {
        eprintln!("sandbox-agent: cannot install the syscall filter: {e}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sandbox-agent: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(server::serve(socket, idle)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sandbox-agent: {e}");
            ExitCode::FAILURE
        }
    }
}
