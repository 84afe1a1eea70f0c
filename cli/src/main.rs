//! `sandbox`: the command line over sandbox-core, for bash, zsh, fish and scripts. See
//! `sandbox --help`; the subcommands mirror the nu plugin's.

mod args;
mod copies;
mod exit;
mod files;
mod fork;
mod mcp;
mod network;
mod processes;
mod run;
mod sessions;
mod snapshots;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use sandbox_core::{Error, Sandbox};

use crate::args::{Cli, Command};
use crate::output::Out;

mod output;

/// What a subcommand ends with: success, or the exit code of the command it ran.
pub enum Done {
    /// Exit 0.
    Ok,
    /// Exit with this code (a command's own).
    Code(u8),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Out::new(cli.output);
    match cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "sandbox", &mut std::io::stdout());
            return ExitCode::SUCCESS;
        }
        Command::Man => {
            return match clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("sandbox: error: cannot write the man page: {e}");
                    ExitCode::from(exit::of_kind(sandbox_core::ErrorKind::Io))
                }
            };
        }
        _ => {}
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sandbox: error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::of_kind(sandbox_core::ErrorKind::Io));
        }
    };
    let result = rt.block_on(async {
        if let Command::Mcp(a) = cli.command {
            // stdout is the protocol's: nothing else may be printed there.
            return mcp::serve(a).await.map(|()| Done::Ok);
        }
        let sandbox = Sandbox::from_env()?;
        dispatch(&sandbox, cli.command, out).await
    });
    // Output already written must reach a pipe before the exit.
    use std::io::Write;
    let _ = std::io::stdout().flush();
    match result {
        Ok(Done::Ok) => ExitCode::SUCCESS,
        Ok(Done::Code(c)) => ExitCode::from(c),
        Err(e) => exit::report(&e, out.quiet()),
    }
}

async fn dispatch(sandbox: &Sandbox, command: Command, out: Out) -> Result<Done, Error> {
    match command {
        Command::Info => sessions::info(sandbox, out).await,
        Command::Start(a) => sessions::start(sandbox, a, out).await,
        Command::List => sessions::list(sandbox, out).await,
        Command::Stop { sessions } => sessions::stop(sandbox, &sessions, out).await,
        Command::Pause { sessions } => sessions::pause(sandbox, &sessions, false, out).await,
        Command::Resume { sessions } => sessions::pause(sandbox, &sessions, true, out).await,
        Command::Snapshot(a) => snapshots::snapshot(sandbox, a, out).await,
        Command::Copy(c) => copies::copy(sandbox, c, out).await,
        Command::Fork(a) => fork::fork(sandbox, a, out).await,
        Command::Diff { session, snapshot } => fork::diff(sandbox, &session, snapshot.as_deref(), out).await,
        Command::Merge(a) => fork::merge(sandbox, a, out).await,
        Command::Reap { keep } => sessions::reap(sandbox, keep, out).await,
        Command::Exec(a) => run::exec(sandbox, a, out).await,
        Command::Run(a) => run::run(sandbox, a, out).await,
        Command::Task(c) => processes::task(sandbox, c, out).await,
        Command::Term(c) => processes::term(sandbox, c, out).await,
        Command::File(c) => files::file(sandbox, c, out).await,
        Command::Net(c) => network::net(sandbox, c, out).await,
        Command::Completions { .. } | Command::Man | Command::Mcp(_) => Ok(Done::Ok),
    }
}
