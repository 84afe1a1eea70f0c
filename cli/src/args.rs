//! The command line: every subcommand and flag, as clap parses them.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use sandbox_core::{EgressCredential, EgressRule};

/// Per-session sandboxes for coding agents: one podman container per session with your
/// working directory mounted at the same path, and commands run through an agent inside
/// it in about a millisecond.
#[derive(Debug, Parser)]
#[command(name = "sandbox", version, about, long_about = None, after_long_help = crate::exit::HELP)]
pub struct Cli {
    /// What to print.
    #[command(flatten)]
    pub output: OutputFlags,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// How results are printed (human tables by default).
#[derive(Debug, Clone, Copy, Args)]
pub struct OutputFlags {
    /// Print one JSON document.
    #[arg(long, global = true, conflicts_with = "jsonl")]
    pub json: bool,
    /// Print JSON lines (one object per row, per event of a stream).
    #[arg(long, global = true)]
    pub jsonl: bool,
    /// No progress, warnings or hints on stderr (errors still go there).
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// What this host offers: podman, rootless or not, cgroups, whether limits can be enforced.
    Info,
    /// Start a session on a working directory (the current one by default; with
    /// --snapshot and no DIR, a managed copy of the snapshot's).
    Start(StartArgs),
    /// The sessions of this scope.
    List,
    /// Run a command to completion; its stdout, stderr and exit code pass straight through.
    Exec(ExecArgs),
    /// Run a command with its output streamed as it comes (and this command's stdin fed to it).
    Run(RunArgs),
    /// Background tasks: held by the session, they outlive this command.
    #[command(subcommand)]
    Task(TaskCommand),
    /// PTY terminals inside the session.
    #[command(subcommand)]
    Term(TermCommand),
    /// Files, by their path inside the container.
    #[command(subcommand)]
    File(FileCommand),
    /// The egress network of a session: its connection log, its allow rules (changed
    /// live), its enforcer.
    #[command(subcommand)]
    Net(NetCommand),
    /// Stop sessions: remove their containers and control dirs (the working dir stays).
    Stop {
        /// Session ids.
        #[arg(required = true)]
        sessions: Vec<String>,
    },
    /// Pause sessions: every process in them stops (no CPU, all state kept) until
    /// `sandbox resume`; exec, task spawn and term open fail meanwhile.
    Pause {
        /// Session ids.
        #[arg(required = true)]
        sessions: Vec<String>,
    },
    /// Resume paused sessions: their processes continue where they stopped.
    Resume {
        /// Session ids.
        #[arg(required = true)]
        sessions: Vec<String>,
    },
    /// Snapshot a session (its working dir and container changes) under a name, or list,
    /// remove and reap snapshots.
    ///
    /// `sandbox snapshot ID NAME` copies the working dir and commits the container with
    /// the session running, then freezes its processes to take again what changed
    /// meanwhile, and prints a row (the whole report with --json); RETAKEN says what was
    /// taken again (working_dir, container; - when nothing changed). `sandbox start
    /// --snapshot NAME [DIR]` starts new sessions from it. `snapshot list`, `snapshot
    /// remove` and `snapshot reap` manage the snapshot dir (SANDBOX_SNAPSHOT_DIR);
    /// `sandbox copy remove` removes the copies sessions started from one got.
    Snapshot(SnapshotArgs),
    /// The copies of snapshots that sessions started from one (and fork children) got as
    /// working dirs: remove them when done.
    ///
    /// A copy is made with reflinks where the filesystem has them, else as an overlay on
    /// the snapshot (no data copied; it stays mounted after its session stops, and the
    /// snapshot cannot be removed while it exists), else as a plain copy.
    #[command(subcommand)]
    Copy(CopyCommand),
    /// Fork a session: snapshot it and start COUNT children from the snapshot.
    ///
    /// Each child gets its own copy of the working dir at DIR/<child id> (ids PREFIX-1,
    /// PREFIX-2, ...; reflinks, an overlay on the snapshot or a plain copy, as the row's
    /// copy says); all or nothing. Prints a row per child. When done: stop the children,
    /// `sandbox copy remove` their dirs, `sandbox snapshot remove` the snapshot.
    Fork(ForkArgs),
    /// What a session changed in its working dir since a snapshot (default: the one it
    /// started from).
    ///
    /// A row per added, modified or deleted path, sorted by path. The session is paused
    /// meanwhile.
    Diff {
        /// Session id.
        session: String,
        /// Compare with this snapshot instead of the one the session started from.
        #[arg(long)]
        snapshot: Option<String>,
    },
    /// Apply what a session changed since a snapshot to a directory or another session.
    ///
    /// The snapshot is the one the session started from unless --snapshot names one.
    /// Refused with nothing changed (exit 80, naming the paths) where the target
    /// changed the same paths too, unless --force.
    Merge(MergeArgs),
    /// Remove sessions that can no longer serve commands (or, with --keep, all but these).
    Reap {
        /// Keep these sessions and remove every other one of this scope.
        #[arg(long, num_args = 1..)]
        keep: Option<Vec<String>>,
    },
    /// Serve the Model Context Protocol on stdin and stdout, for a coding agent's MCP
    /// client: sessions, exec, tasks, terminals and files as tools, under a policy only
    /// these flags (and --config) set.
    Mcp(McpArgs),
    /// Print a shell completion script.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Man,
}

/// `sandbox start`.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// The working directory (default: the current directory; with --snapshot, a managed
    /// copy at <copy dir>/<id>, see --snapshot).
    pub dir: Option<PathBuf>,
    /// Session id (default: the directory's name, or with --snapshot and no DIR the
    /// snapshot's, and a random suffix).
    #[arg(long)]
    pub id: Option<String>,
    /// Image, network, limits and post-create commands.
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Use --image even when it is not in the trusted list.
    #[arg(long)]
    pub allow_untrusted_image: bool,
    /// Publish a port on 127.0.0.1 (repeatable).
    #[arg(long = "port", short = 'p')]
    pub ports: Vec<u16>,
    /// Environment variable KEY=VALUE for every command (repeatable).
    #[arg(long = "env", short = 'e', value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    /// Do not install dev tools (apk/apt-get) in the session.
    #[arg(long)]
    pub no_provision: bool,
    /// Use the directory's .devcontainer/devcontainer.json (or .devcontainer.json): its image (same trust rule),
    /// environment, ports and lifecycle commands (as post-create commands); what would widen the session is
    /// refused and reported. Fails without one.
    #[arg(long)]
    pub devcontainer: bool,
    /// Build the devcontainer.json's Dockerfile (podman build, no network, trusted base images only).
    #[arg(long)]
    pub allow_build: bool,
    /// Start from this snapshot: DIR (which must not exist yet, nor lie in a running
    /// session's working dir), or without DIR a managed copy at <copy dir>/<id> (the
    /// copy dir is SANDBOX_COPY_DIR, `copy_dir` in the config file; default
    /// $XDG_DATA_HOME/sandbox-work, /var/lib/sandbox-work for root), becomes a copy of
    /// the snapshot's working dir (reflinks where the filesystem has them, else an
    /// overlay on the snapshot, else a plain copy; `sandbox list` and --json's
    /// working_dir say where; `sandbox copy remove` it once the session is stopped),
    /// and the container runs the snapshot's image (no --image).
    #[arg(long, value_name = "NAME")]
    pub snapshot: Option<String>,
}

/// `sandbox snapshot`: take one (ID NAME), or manage them (a subcommand).
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SnapshotArgs {
    /// Manage the snapshots instead of taking one.
    #[command(subcommand)]
    pub command: Option<SnapshotCommand>,
    /// Session id.
    #[arg(required = true)]
    pub session: Option<String>,
    /// The snapshot's name (letters, digits, `_`, `-`; unique in the snapshot dir).
    #[arg(required = true)]
    pub name: Option<String>,
}

/// `sandbox snapshot list|remove|reap`.
#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// The snapshots in the snapshot dir (SANDBOX_SNAPSHOT_DIR; of every scope: they
    /// are kept per user), by name.
    List,
    /// Remove snapshots: their images and trees (refused while a session started from one
    /// still exists, or while an overlay copy reads from it: `sandbox copy remove` those
    /// first; the others named are removed).
    #[command(visible_alias = "rm")]
    Remove {
        /// Snapshot names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove what failed or interrupted snapshots left in the snapshot dir; prints
    /// their paths.
    Reap,
}

/// `sandbox copy remove`.
#[derive(Debug, Subcommand)]
pub enum CopyCommand {
    /// Remove copies of snapshots by path: unmount an overlay, remove the files and the
    /// snapshot's record of them, and the copy dir once its last managed copy went
    /// (refused while a session `sandbox list` shows has one as its working dir, or a
    /// running session's working dir holds it: `sandbox stop` that session first; the
    /// others named are removed).
    #[command(visible_alias = "rm")]
    Remove {
        /// The copies' paths: the working dirs of sessions started from a snapshot
        /// (managed copies too: <copy dir>/<id>) or of fork children (relative: to the
        /// current dir).
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
}

/// `sandbox fork`.
#[derive(Debug, Args)]
pub struct ForkArgs {
    /// Session id.
    pub session: String,
    /// How many children (1 to 64).
    pub count: u32,
    /// The existing directory the children's working dirs are made in (not in a running
    /// session's working dir).
    #[arg(long, value_name = "DIR")]
    pub into: PathBuf,
    /// The snapshot's name (default: <session>-fork-<ms since the epoch>); it stays
    /// after the fork (when done: stop the children, `sandbox copy remove` their dirs,
    /// `sandbox snapshot remove` it).
    #[arg(long, value_name = "NAME")]
    pub snapshot: Option<String>,
    /// The children's id prefix (default: the session's id).
    #[arg(long, value_name = "PREFIX")]
    pub id: Option<String>,
    /// Environment variable KEY=VALUE for every command of every child (repeatable; the
    /// session's own are not inherited).
    #[arg(long = "env", short = 'e', value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    /// Every child's network, egress, limits and post-create commands, as for `sandbox
    /// start` (the session's own are not inherited; the image is the snapshot's).
    #[command(flatten)]
    pub settings: SettingsArgs,
}

/// `sandbox merge`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["into", "into_session"])))]
pub struct MergeArgs {
    /// The session whose changes are merged.
    pub session: String,
    /// Merge into this directory (not a running session's working dir: use --into-session).
    #[arg(long, value_name = "DIR")]
    pub into: Option<PathBuf>,
    /// Merge into this session's working dir (it is paused while the changes are written).
    #[arg(long, value_name = "ID")]
    pub into_session: Option<String>,
    /// Compare with this snapshot instead of the one the session started from.
    #[arg(long, value_name = "NAME")]
    pub snapshot: Option<String>,
    /// Where the target changed a path too, the session's version wins.
    #[arg(long)]
    pub force: bool,
}

/// What a new session gets (`sandbox start`'s flags, and `sandbox mcp`'s policy for the
/// sessions it starts).
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// Image (default: the configured one).
    #[arg(long)]
    pub image: Option<String>,
    /// Network, egress, limits and post-create commands.
    #[command(flatten)]
    pub settings: SettingsArgs,
}

/// The settings of a new session besides its image: `sandbox start`'s (through
/// [`PolicyArgs`]) and every child's of `sandbox fork`.
#[derive(Debug, Args)]
pub struct SettingsArgs {
    /// Network: bridge (outbound access), none, or egress (no network but a proxy that
    /// lets through what --allow-host allows; the default when --allow-host or
    /// --pin-host is given).
    #[arg(long)]
    pub network: Option<String>,
    /// Egress: a host, *.domain, address or network the session may reach, optionally
    /// with :port (e.g. pypi.org, *.example.com:443, 10.0.0.0/8:5432, [fd00::1]:80);
    /// repeatable.
    #[arg(long = "allow-host", value_name = "RULE", value_parser = parse_rule)]
    pub allow_hosts: Vec<EgressRule>,
    /// Egress: answer NAME with ADDR instead of the resolver (still judged by the rules
    /// and the address checks); repeatable, several addresses per name add up.
    #[arg(long = "pin-host", value_name = "NAME=ADDR", value_parser = parse_pin)]
    pub pin_hosts: Vec<(String, IpAddr)>,
    /// Egress credential: the enforcer, outside the session, sets header HEADER on
    /// requests to HOST (an exact name an --allow-host rule allows) to the value of the
    /// host environment variable VAR or the contents of the host file /path, read at
    /// start; the value never enters the session (HTTPS to HOST is terminated with the
    /// session's own CA; answers are scrubbed of it). Repeatable; fixed at start.
    #[arg(long = "credential", value_name = "HOST:HEADER:env:VAR|HOST:HEADER:file:/path", value_parser = parse_credential)]
    pub credentials: Vec<EgressCredential>,
    /// Egress: a CA file (PEM) the enforcer trusts, besides the host's store, for hosts
    /// with a credential (a private or test CA); repeatable.
    #[arg(long = "upstream-ca", value_name = "PATH")]
    pub upstream_cas: Vec<PathBuf>,
    /// Memory limit, e.g. 1GiB, 512MiB.
    #[arg(long, value_parser = parse_bytes)]
    pub memory: Option<u64>,
    /// CPU limit in cores, e.g. 1.5.
    #[arg(long)]
    pub cpus: Option<f64>,
    /// Process limit.
    #[arg(long)]
    pub pids: Option<u32>,
    /// Fail rather than start without enforceable limits.
    #[arg(long)]
    pub require_limits: bool,
    /// A command to run once the session is up (repeatable; needs --allow-post-create).
    #[arg(long)]
    pub post_create: Vec<String>,
    /// Run the --post-create commands.
    #[arg(long)]
    pub allow_post_create: bool,
}

/// `sandbox mcp`: the server's policy. Tool arguments cannot change any of it.
#[derive(Debug, Args)]
pub struct McpArgs {
    /// A TOML file with the policy (keys as the flags: roots, scope, image, network,
    /// require_limits, allow_post_create, post_create, allow_hosts, pin_hosts = {name =
    /// ["addr"]}, [limits] memory/cpus/pids); flags win, lists add up.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// A directory sessions may mount, itself or any directory below it, symlinks
    /// resolved (repeatable; at least one here or in --config).
    #[arg(long = "root")]
    pub roots: Vec<PathBuf>,
    /// The scope of the sessions this server sees and starts (default: SANDBOX_SCOPE or
    /// the config's).
    #[arg(long)]
    pub scope: Option<String>,
    /// What the sessions it starts get.
    #[command(flatten)]
    pub policy: PolicyArgs,
}

/// What every command run in the session may set.
#[derive(Debug, Args)]
pub struct CommandArgs {
    /// Working directory inside the container.
    #[arg(long)]
    pub cwd: Option<String>,
    /// Environment variable KEY=VALUE (repeatable).
    #[arg(long = "env", short = 'e', value_parser = parse_env)]
    pub env: Vec<(String, String)>,
}

/// `sandbox exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Session id.
    pub session: String,
    /// Kill the command's process group after this long (e.g. 30s, 500ms, 2m); exit code 124.
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Feed this command's stdin to the command.
    #[arg(long, short)]
    pub interactive: bool,
    /// Most bytes captured per stream (the rest is counted and dropped).
    #[arg(long, value_parser = parse_bytes)]
    pub output_cap: Option<u64>,
    /// Working dir and environment.
    #[command(flatten)]
    pub command_args: CommandArgs,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true)]
    pub argv: Vec<String>,
}

/// `sandbox run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Session id.
    pub session: String,
    /// Kill the command's process group after this long; exit code 124.
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Working dir and environment.
    #[command(flatten)]
    pub command_args: CommandArgs,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true)]
    pub argv: Vec<String>,
}

/// A task's output stream.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Stream {
    /// stdout and stderr in the order written.
    Merged,
    /// stdout only.
    Stdout,
    /// stderr only.
    Stderr,
}

/// `sandbox task ...`.
#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// Start a background task; prints its id.
    Spawn {
        /// Session id.
        session: String,
        /// Bytes kept per output stream (e.g. 64MiB).
        #[arg(long, value_parser = parse_bytes)]
        spool_cap: Option<u64>,
        /// Working dir and environment.
        #[command(flatten)]
        command_args: CommandArgs,
        /// The command and its arguments (after `--`).
        #[arg(last = true, required = true)]
        argv: Vec<String>,
    },
    /// The session's tasks, oldest first.
    List {
        /// Session id.
        session: String,
    },
    /// A task's output: all that is kept, the last part, or (-f) as it comes until it ends.
    Logs {
        /// Session id.
        session: String,
        /// Task id.
        task: String,
        /// Which output.
        #[arg(long, value_enum, default_value = "merged")]
        stream: Stream,
        /// Only the last this many bytes.
        #[arg(long, value_parser = parse_bytes)]
        tail: Option<u64>,
        /// Keep printing new output until the task ends.
        #[arg(long, short)]
        follow: bool,
    },
    /// Wait for a task to end; exits with its exit code (128+N when killed by signal N).
    Wait {
        /// Session id.
        session: String,
        /// Task id.
        task: String,
        /// Give up after this long (exit code 85; the task keeps running).
        #[arg(long, value_parser = parse_duration)]
        timeout: Option<Duration>,
    },
    /// Send a signal to a task's whole process group.
    Kill {
        /// Session id.
        session: String,
        /// Task id.
        task: String,
        /// Signal name or number (TERM, KILL, INT, HUP, 9...).
        #[arg(long, short, default_value = "TERM", value_parser = parse_signal)]
        signal: i32,
    },
}

/// `sandbox term ...`.
#[derive(Debug, Subcommand)]
pub enum TermCommand {
    /// Open a terminal running a shell (or the command after `--`); prints its id.
    Open {
        /// Session id.
        session: String,
        /// Rows.
        #[arg(long, default_value_t = 24)]
        rows: u16,
        /// Columns.
        #[arg(long, default_value_t = 80)]
        cols: u16,
        /// Scrollback bytes kept.
        #[arg(long, value_parser = parse_bytes)]
        scrollback: Option<u64>,
        /// Working dir and environment.
        #[command(flatten)]
        command_args: CommandArgs,
        /// The command and its arguments (after `--`; default: an interactive shell).
        #[arg(last = true)]
        argv: Vec<String>,
    },
    /// The session's terminals, oldest first.
    List {
        /// Session id.
        session: String,
    },
    /// Use a terminal from this one: a new shell sized like yours, or an existing terminal
    /// by id (resized to yours). Ctrl-] detaches and leaves it running; when its program
    /// exits, so does this, with its exit code.
    Attach {
        /// Session id.
        session: String,
        /// Terminal id (default: open a new shell).
        terminal: Option<String>,
    },
    /// Type into a terminal: the text as given (`\n` is not added), or stdin with `-`.
    Send {
        /// Session id.
        session: String,
        /// Terminal id.
        terminal: String,
        /// The text, or `-` for this command's stdin.
        text: String,
    },
    /// What a terminal printed from an offset, optionally waiting for output or for some text.
    Read {
        /// Session id.
        session: String,
        /// Terminal id.
        terminal: String,
        /// Start at this byte of its output (0: all that is kept).
        #[arg(long, default_value_t = 0)]
        offset: u64,
        /// Wait this long for output when there is none yet.
        #[arg(long, value_parser = parse_duration)]
        wait: Option<Duration>,
        /// Read until the output contains this text (waiting up to --wait, 10s by default).
        #[arg(long)]
        until: Option<String>,
    },
    /// Resize a terminal (its program gets SIGWINCH).
    Resize {
        /// Session id.
        session: String,
        /// Terminal id.
        terminal: String,
        /// Rows.
        rows: u16,
        /// Columns.
        cols: u16,
    },
    /// Send a signal to a terminal's program (HUP by default, as closing a terminal does).
    Kill {
        /// Session id.
        session: String,
        /// Terminal id.
        terminal: String,
        /// Signal name or number.
        #[arg(long, short, default_value = "HUP", value_parser = parse_signal)]
        signal: i32,
    },
    /// Wait for a terminal's program to end; exits with its exit code.
    Wait {
        /// Session id.
        session: String,
        /// Terminal id.
        terminal: String,
        /// Give up after this long (exit code 85).
        #[arg(long, value_parser = parse_duration)]
        timeout: Option<Duration>,
    },
}

/// `sandbox file ...`.
#[derive(Debug, Subcommand)]
pub enum FileCommand {
    /// Print a file's content (bytes, as they are).
    Read {
        /// Session id.
        session: String,
        /// Path inside the container (relative: to the working dir).
        path: String,
    },
    /// Write this command's stdin to a file (atomically).
    Write {
        /// Session id.
        session: String,
        /// Path inside the container.
        path: String,
        /// Permission bits in octal (default: 644 for a new file, kept for an existing one).
        #[arg(long, value_parser = parse_mode)]
        mode: Option<u32>,
    },
    /// List a directory.
    Ls {
        /// Session id.
        session: String,
        /// Path inside the container (default: the working dir).
        #[arg(default_value = ".")]
        path: String,
    },
}

/// `sandbox net ...`.
#[derive(Debug, Subcommand)]
pub enum NetCommand {
    /// The connections the session's egress enforcer decided, oldest first (refused ones
    /// when refused, allowed ones when they closed).
    Log {
        /// Session id.
        session: String,
    },
    /// The egress policy in force: the allow rules and the pinned names.
    Policy {
        /// Session id.
        session: String,
    },
    /// Add allow rules, from the session's next connection on; prints the policy.
    Allow {
        /// Session id.
        session: String,
        /// Rules to add (host, *.domain, address or network, optionally with :port).
        #[arg(required = true, value_name = "RULE", value_parser = parse_rule)]
        rules: Vec<EgressRule>,
    },
    /// Remove allow rules (each must be in the policy as written), from the session's
    /// next connection on; prints the policy.
    Deny {
        /// Session id.
        session: String,
        /// Rules to remove.
        #[arg(required = true, value_name = "RULE", value_parser = parse_rule)]
        rules: Vec<EgressRule>,
    },
    /// Start the session's egress enforcer again if it is not running (while it is not,
    /// every connection is refused); prints its pid.
    Restart {
        /// Session id.
        session: String,
    },
}

/// An egress rule (`pypi.org`, `*.example.com:443`, `10.0.0.0/8:5432`, `[fd00::1]:80`).
pub fn parse_rule(s: &str) -> Result<EgressRule, String> {
    s.parse::<EgressRule>().map_err(|e| e.to_string())
}

/// `HOST:HEADER:env:VAR` or `HOST:HEADER:file:/path`: an egress credential (the rest is
/// checked with the whole policy: the host allowed, the header name, an absolute path).
pub fn parse_credential(s: &str) -> Result<EgressCredential, String> {
    let help = "HOST:HEADER:env:VAR or HOST:HEADER:file:/path, e.g. api.example.com:Authorization:env:API_TOKEN";
    let parts: Vec<&str> = s.splitn(4, ':').collect();
    let [host, header, kind, from] = parts[..] else { return Err(format!("{s:?} is not {help}")) };
    let (from_env, from_file) = match kind {
        "env" => (Some(from.to_string()), None),
        "file" => (None, Some(PathBuf::from(from))),
        other => return Err(format!("{other:?} is neither env nor file ({help})")),
    };
    Ok(EgressCredential { host: host.to_string(), header: header.to_string(), from_env, from_file })
}

/// `NAME=ADDR`: a name pinned to an address.
pub fn parse_pin(s: &str) -> Result<(String, IpAddr), String> {
    match s.split_once('=') {
        Some((name, addr)) if !name.is_empty() => match addr.trim().parse::<IpAddr>() {
            Ok(a) => Ok((name.to_string(), a)),
            Err(_) => Err(format!("{addr:?} is not an IP address (NAME=ADDR, e.g. db.test=10.0.0.5)")),
        },
        _ => Err(format!("{s:?} is not NAME=ADDR (e.g. db.test=10.0.0.5)")),
    }
}

/// `KEY=VALUE`.
pub fn parse_env(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

/// `250ms`, `30s`, `2m`, `1h`, or a number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: f64 = num.parse().map_err(|_| format!("{s:?} is not a duration (e.g. 500ms, 30s, 2m)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "sec" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?}; use ms, s, m or h")),
    };
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `4096`, `64KiB`, `1MiB`, `2GiB`, `1.5GB`...
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => t.split_at(i),
        None => (t, ""),
    };
    let n: f64 = num.parse().map_err(|_| format!("{s:?} is not a size (e.g. 4096, 64KiB, 1GiB)"))?;
    let mult: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" => 1024.0,
        "kb" => 1e3,
        "m" | "mib" => 1024.0 * 1024.0,
        "mb" => 1e6,
        "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "gb" => 1e9,
        _ => return Err(format!("{s:?}: unknown unit {unit:?}; use B, KiB, MiB, GiB (or KB, MB, GB)")),
    };
    let bytes = n * mult;
    if !bytes.is_finite() || !(0.0..=u64::MAX as f64).contains(&bytes) {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(bytes as u64)
}

/// A signal by name (`TERM`, `SIGTERM`, `term`) or number (1 to 31).
pub fn parse_signal(s: &str) -> Result<i32, String> {
    sandbox_core::signals::signal_number(s).map_err(|e| e.to_string())
}

/// Octal permission bits, e.g. `644` or `0755`.
pub fn parse_mode(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s.trim_start_matches("0o"), 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("{s:?} is not an octal mode (e.g. 644)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_is_host_header_and_where_its_value_is() {
        let c = parse_credential("api.test:Authorization:env:API_TOKEN").unwrap();
        assert_eq!(
            (c.host.as_str(), c.header.as_str(), c.from_env.as_deref()),
            ("api.test", "Authorization", Some("API_TOKEN"))
        );
        let c = parse_credential("api.test:X-Key:file:/run/a:b").unwrap();
        assert_eq!((c.from_env, c.from_file), (None, Some(PathBuf::from("/run/a:b"))), "a path may hold ':'");
        for bad in ["api.test:X", "api.test:X:vault:k", "api.test"] {
            assert!(parse_credential(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_sizes_signals_and_modes_parse_or_say_why_not() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("-1s").is_err());
        assert_eq!(parse_bytes("64KiB"), Ok(65536));
        assert_eq!(parse_bytes("1GiB"), Ok(1 << 30));
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert!(parse_bytes("lots").is_err());
        assert_eq!(parse_signal("TERM"), Ok(15));
        assert_eq!(parse_signal("sigkill"), Ok(9));
        assert_eq!(parse_signal("2"), Ok(2));
        assert!(parse_signal("99").is_err());
        assert!(parse_signal("BOGUS").is_err());
        assert_eq!(parse_mode("0755"), Ok(0o755));
        assert!(parse_mode("999").is_err());
        assert_eq!(parse_env("A=b=c"), Ok(("A".into(), "b=c".into())));
        assert!(parse_env("=x").is_err());
        assert_eq!(parse_rule("*.Example.com:443").map(|r| r.to_string()), Ok("*.example.com:443".into()));
        for bad in ["*", "**.x.test", "", "a.test:0", "bücher.test"] {
            assert!(parse_rule(bad).unwrap_err().contains("egress rule"), "{bad:?}");
        }
        assert_eq!(parse_pin("db.test=10.0.0.5"), Ok(("db.test".into(), "10.0.0.5".parse().unwrap())));
        assert!(parse_pin("db.test=nope").unwrap_err().contains("not an IP address"));
        assert!(parse_pin("=10.0.0.5").is_err());
    }

    #[test]
    fn snapshot_takes_one_or_manages_them() {
        let parse = |args: &[&str]| Cli::try_parse_from(std::iter::once("sandbox").chain(args.iter().copied()));
        let Ok(Cli { command: Command::Snapshot(a), .. }) = parse(&["snapshot", "work", "base"]) else {
            panic!("snapshot ID NAME")
        };
        assert_eq!((a.command.is_none(), a.session.as_deref(), a.name.as_deref()), (true, Some("work"), Some("base")));
        let Ok(Cli { command: Command::Snapshot(a), .. }) = parse(&["snapshot", "list", "--json"]) else {
            panic!("snapshot list")
        };
        assert!(matches!(a.command, Some(SnapshotCommand::List)) && a.session.is_none());
        for verb in ["remove", "rm"] {
            let Ok(Cli { command: Command::Snapshot(a), .. }) = parse(&["snapshot", verb, "a", "b"]) else {
                panic!("snapshot {verb}")
            };
            assert!(matches!(a.command, Some(SnapshotCommand::Remove { names }) if names == ["a", "b"]), "{verb}");
        }
        for bad in [&["snapshot"][..], &["snapshot", "work"], &["snapshot", "remove"], &["snapshot", "list", "x"]] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        for verb in ["remove", "rm"] {
            let Ok(Cli { command: Command::Copy(CopyCommand::Remove { paths }), .. }) =
                parse(&["copy", verb, "/w/a", "b"])
            else {
                panic!("copy {verb}")
            };
            assert_eq!(paths, [PathBuf::from("/w/a"), PathBuf::from("b")], "{verb}");
        }
        for bad in [&["copy"][..], &["copy", "remove"], &["copy", "list"]] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(parse(&["merge", "a"]).is_err(), "merge needs a target");
        assert!(parse(&["merge", "a", "--into", "/d", "--into-session", "b"]).is_err(), "one target");
        let Ok(Cli { command: Command::Start(a), .. }) = parse(&["start", "--snapshot", "s"]) else {
            panic!("start --snapshot with no dir: a managed copy")
        };
        assert_eq!((a.dir, a.snapshot.as_deref()), (None, Some("s")));
        let Ok(Cli { command: Command::Start(a), .. }) = parse(&["start", "--snapshot", "s", "/w/new"]) else {
            panic!("start --snapshot DIR")
        };
        assert_eq!((a.dir, a.snapshot.as_deref()), (Some(PathBuf::from("/w/new")), Some("s")));
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
