//! `sandbox-agent`: runs as the main process of a session container (under `--init`),
//! listens on a unix socket in the session's control dir and runs commands for the host
//! library. It can also run directly on a host for protocol tests.

mod conn;
mod credit;
mod drain;
mod egress_relay;
mod enforcer;
mod exec;
mod files;
mod groups;
mod http_head;
mod ids;
mod intercept;
mod journal;
mod once;
mod outbox;
mod output_log;
mod pause;
mod peer;
mod ports;
mod process;
mod procfs;
mod read_output;
mod resources;
// The policy has x86 numbers only; elsewhere nothing installs it (its tests still run).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
mod seccomp;
mod server;
mod sock_diag;
mod state;
mod sys;
mod tasks;
mod terminals;
mod tls_hello;
mod watcher;
mod zero_copy;

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: sandbox-agent serve --socket <path> [--idle-timeout <seconds>] [--egress-proxy <port>]
           [--watch <dir>]... [--ignore <pattern>]... [--sample-interval <ms>] [--bridge <abstract name>]
       sandbox-agent enforce --dir <session control dir>
       sandbox-agent bridge
       sandbox-agent --version";

/// What `serve` was asked to do.
pub struct Serve {
    /// Where to listen.
    pub socket: PathBuf,
    /// Stop after this long without calls.
    pub idle: Option<std::time::Duration>,
    /// Relay the egress proxy port.
    pub egress_proxy: Option<u16>,
    /// Directories whose file changes become events.
    pub watch: Vec<PathBuf>,
    /// Patterns of paths not watched.
    pub ignore: Vec<String>,
    /// Time between resource samples; none when `None`.
    pub sample_interval: Option<std::time::Duration>,
    /// Resource figures from `/proc` only (the container's cgroup is not its own).
    pub resources_from_proc: bool,
    /// Also listen on this abstract socket name, for `bridge` (in a container).
    pub bridge: Option<String>,
}

fn parse_serve(args: &[String]) -> Result<Serve, String> {
    let mut serve = Serve {
        socket: PathBuf::new(),
        idle: None,
        egress_proxy: None,
        watch: Vec::new(),
        ignore: Vec::new(),
        sample_interval: Some(std::time::Duration::from_millis(sandbox_proto::events::DEFAULT_SAMPLE_INTERVAL_MS)),
        resources_from_proc: false,
        bridge: None,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--socket" => serve.socket = PathBuf::from(value),
            "--idle-timeout" => match value.parse::<u64>() {
                Ok(s) if s > 0 => serve.idle = Some(std::time::Duration::from_secs(s)),
                _ => return Err("--idle-timeout takes a positive number of seconds".into()),
            },
            "--egress-proxy" => match value.parse::<u16>() {
                Ok(p) if p > 0 => serve.egress_proxy = Some(p),
                _ => return Err("--egress-proxy takes a port number".into()),
            },
            "--watch" => serve.watch.push(PathBuf::from(value)),
            "--ignore" => serve.ignore.push(value.clone()),
            "--bridge" if !value.is_empty() => serve.bridge = Some(value.clone()),
            "--sample-interval" => match value.parse::<u64>() {
                Ok(0) => serve.sample_interval = None,
                Ok(ms) if sandbox_proto::validate::sample_interval_ms(ms).is_ok() => {
                    serve.sample_interval = Some(std::time::Duration::from_millis(ms))
                }
                _ => return Err("--sample-interval takes 0 (no samples) or 100 to 86400000 ms".into()),
            },
            "--resources" => match value.as_str() {
                "proc" => serve.resources_from_proc = true,
                "cgroup" => serve.resources_from_proc = false,
                _ => return Err("--resources takes cgroup or proc".into()),
            },
            other => return Err(format!("unknown option {other}")),
        }
    }
    if serve.socket.as_os_str().is_empty() {
        return Err("--socket is required".into());
    }
    Ok(serve)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let serve = match args.split_first() {
        Some((v, [])) if v == "--version" => {
            println!("sandbox-agent {} (protocol {})", env!("CARGO_PKG_VERSION"), sandbox_proto::PROTOCOL_VERSION);
            return ExitCode::SUCCESS;
        }
        Some((cmd, rest)) if cmd == "enforce" => return enforcer::main(rest),
        Some((cmd, rest)) if cmd == "bridge" => return peer::bridge(rest),
        Some((cmd, rest)) if cmd == "serve" => match parse_serve(rest) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("sandbox-agent: {e}\n{USAGE}");
                return ExitCode::from(2);
            }
        },
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
    match runtime.block_on(server::serve(serve)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sandbox-agent: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_serve;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_bridge_socket_is_named_or_absent() {
        let s = parse_serve(&args(&["--socket", "/s", "--bridge", "sandbox-agent-bridge"])).unwrap();
        assert_eq!(s.bridge.as_deref(), Some("sandbox-agent-bridge"));
        assert_eq!(parse_serve(&args(&["--socket", "/s"])).unwrap().bridge, None, "a host-run agent has none");
        assert!(parse_serve(&args(&["--socket", "/s", "--bridge", ""])).is_err(), "an empty name is refused");
        assert!(parse_serve(&args(&["--socket", "/s", "--bridge"])).is_err(), "a name is needed");
    }
}
