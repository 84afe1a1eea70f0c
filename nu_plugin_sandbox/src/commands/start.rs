//! `sandbox start [dir]`: starts a session on a directory (or, with `--snapshot`, on a
//! new copy of a snapshot's: at dir, or with no dir a managed copy in the copy dir) and
//! returns its start report.

use std::path::{Path, PathBuf};

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, SyntaxShape, Type, Value};
use sandbox_core::{EgressPolicy, Network, SessionSpec, StartPhase};

use crate::SandboxPlugin;
use crate::arguments::{self, flag};
use crate::call_context::CallContext;
use crate::progress::StartProgress;
use crate::{interrupt, records};

/// `sandbox start`: one new session.
pub struct Start;

impl PluginCommand for Start {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox start"
    }

    fn description(&self) -> &str {
        "Start a sandbox session on a directory (default: the current directory; with --snapshot, a managed copy of \
the snapshot's) and return what the start did."
    }

    fn extra_description(&self) -> &str {
        "The directory is mounted at the same path in a new podman container. The result is a record: the session \
(id, container, working_dir, image) and its start report: why this image, the ports published (on 127.0.0.1) \
and dropped, whether limits are enforced, provisioning and post-create outcomes, and warnings. Flags override \
$env.config.plugins.sandbox, which overrides the config file. An image that is not trusted is replaced by the \
default unless --allow-untrusted-image is given; post-create commands are skipped unless --allow-post-create is \
given. With --devcontainer the directory's devcontainer.json adds its image (same trust rule), environment, ports \
and lifecycle commands (as post-create commands); what it asks that would widen the session is refused and listed \
in the record's devcontainer column and its warnings. A start that takes more than a moment prints the phase it is in on stderr (creating the container, \
provisioning, each post-create command); silence it with --quiet. With --allow-host (or --network egress) the session has \
no network but a proxy (HTTP_PROXY and friends point at it) that lets through only what the rules allow; the \
record's egress column lists them, and `sandbox net` shows the connection log and changes the rules live. \
With --snapshot <name> the session starts from a snapshot (`sandbox snapshot`) in a copy of its working dir: at dir, \
which must not exist yet (its parent must), or with no dir a managed copy at <copy dir>/<id> (the copy dir is \
$env.SANDBOX_COPY_DIR or copy_dir in the config; default $XDG_DATA_HOME/sandbox-work, /var/lib/sandbox-work for \
root; the id defaults to the snapshot's name and a random suffix), named by the record's working_dir. The copy is \
made with reflinks where the filesystem has them, else as an overlay on the snapshot, else as a plain copy; the \
container runs the snapshot's image (its filesystem changes included), and the session's own settings (its --env) \
are not inherited from the snapshot's session. The record's snapshot column says which snapshot and how it was \
copied (reflink, overlay or copy). The copy stays after `sandbox stop` (an overlay stays mounted, and the snapshot \
cannot be removed meanwhile): `sandbox copy remove <working_dir>` removes it (a managed one with the copy dir, once \
empty)."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name())
            .optional(
                "dir",
                SyntaxShape::Filepath,
                "Directory to mount (default: the current directory; with --snapshot, a managed copy).",
            )
            .named(
                "id",
                SyntaxShape::String,
                "Session id (default: the directory name, or with --snapshot and no dir the snapshot's, plus a random \
suffix).",
                None,
            )
            .named("image", SyntaxShape::String, "Image to use (default: the configured one).", None)
            .named(
                "snapshot",
                SyntaxShape::String,
                "Start from this snapshot (`sandbox snapshot`): dir, which must not exist yet, or with no dir a \
managed copy at <copy dir>/<id>, becomes a copy of the snapshot's working dir, and the session runs the snapshot's \
image.",
                None,
            )
            .named("ports", SyntaxShape::List(Box::new(SyntaxShape::Int)), "Ports to publish on 127.0.0.1.", None)
            .named(
                "network",
                SyntaxShape::String,
                "Network mode: bridge, none, or egress (only through the session's proxy, to what --allow-host \
allows; the mode when --allow-host or --pin-host is given).",
                None,
            )
            .named(
                "allow-host",
                SyntaxShape::OneOf(vec![SyntaxShape::List(Box::new(SyntaxShape::String)), SyntaxShape::String]),
                "Egress rules: hosts (pypi.org), *.domain, addresses or networks (10.0.0.0/8), each optionally with \
:port, e.g. [pypi.org *.example.com:443].",
                None,
            )
            .named(
                "pin-host",
                SyntaxShape::OneOf(vec![
                    SyntaxShape::Record(Default::default()),
                    SyntaxShape::List(Box::new(SyntaxShape::String)),
                    SyntaxShape::String,
                ]),
                "Egress: names answered with these addresses instead of the resolver (still judged by the rules), \
e.g. { db.test: 10.0.0.5 } or [db.test=10.0.0.5].",
                None,
            )
            .named(
                "credential",
                SyntaxShape::OneOf(vec![
                    SyntaxShape::Record(Default::default()),
                    SyntaxShape::List(Box::new(SyntaxShape::Record(Default::default()))),
                ]),
                "Egress credentials: headers the enforcer adds, outside the session, to requests for a host \
--allow-host allows, the value read on the host at start (never seen inside), e.g. { host: api.example.com, \
header: Authorization, env: API_TOKEN } or { ..., file: /run/secrets/token }; a list for several.",
                None,
            )
            .named(
                "upstream-ca",
                SyntaxShape::OneOf(vec![SyntaxShape::List(Box::new(SyntaxShape::String)), SyntaxShape::String]),
                "Egress: CA files (PEM) the enforcer trusts, besides the host's store, for hosts with a credential.",
                None,
            )
            .named(
                "env",
                SyntaxShape::Record(Default::default()),
                "Environment of the session, e.g. { RUST_LOG: debug }.",
                None,
            )
            .named("memory", SyntaxShape::Filesize, "Memory limit, e.g. 1GiB.", None)
            .named("cpus", SyntaxShape::Number, "CPU limit in cores, e.g. 1.5.", None)
            .named("pids", SyntaxShape::Int, "Process limit.", None)
            .switch("require-limits", "Fail rather than start without enforceable limits.", None)
            .named(
                "post-create",
                SyntaxShape::List(Box::new(SyntaxShape::String)),
                "Commands (for sh -c) to run after the start; only run with --allow-post-create.",
                None,
            )
            .switch("allow-post-create", "Run the --post-create commands.", None)
            .switch("allow-untrusted-image", "Use --image even when it is not a trusted image.", None)
            .switch("no-provision", "Do not try to install dev tools (apk/apt-get) in the session.", None)
            .switch(
                "devcontainer",
                "Use the directory's .devcontainer/devcontainer.json (or .devcontainer.json); fail without one.",
                None,
            )
            .switch("allow-build", "Build the devcontainer.json's Dockerfile (podman build, no network).", None)
            .switch("quiet", "Print no progress lines or warnings on stderr.", Some('q'))
            .input_output_type(Type::Nothing, Type::record())
            .category(super::category())
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["create", "new", "run", "container", "session"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "(sandbox start --id demo).id",
                description: "Start a session named demo on the current directory",
                result: Some(Value::test_string("demo")),
            },
            Example {
                example: "sandbox start ~/project --ports [5173] --memory 1GiB --network bridge",
                description: "Start a session on a project, publishing a dev server port, with a memory limit",
                result: None,
            },
            Example {
                example: "sandbox start --allow-host [pypi.org files.pythonhosted.org] | get egress.rules",
                description: "Start a session that reaches only PyPI, through its proxy",
                result: None,
            },
            Example {
                example: "sandbox start --snapshot base --id try | get working_dir",
                description: "Start a session from snapshot base on a managed copy of its working dir, <copy dir>/try \
(`sandbox copy remove` it after `sandbox stop`)",
                result: None,
            },
            Example {
                example: "sandbox start --snapshot base ../try-1 --id try-1 | select id working_dir image_reason snapshot",
                description: "Start a session from snapshot base, on a new copy of its working dir",
                result: None,
            },
            Example {
                example: "sandbox start . --image docker.io/library/alpine:3.20 --allow-untrusted-image | get warnings",
                description: "Use an image that is not in the trusted list",
                result: None,
            },
        ]
    }

    fn run(
        &self,
        plugin: &SandboxPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
        _input: PipelineData,
    ) -> Result<PipelineData, LabeledError> {
        let head = call.head;
        let mut ctx = CallContext::new(plugin, engine, call)?;
        let quiet = call.has_flag("quiet")?;

        let (dir, dir_span) = match call.opt::<Value>(0)? {
            Some(v) => {
                let span = v.span();
                let text = v
                    .coerce_into_string()
                    .map_err(|_| LabeledError::new("the directory must be a path").with_label("not a path", span))?;
                (PathBuf::from(text), span)
            }
            None => (PathBuf::new(), head),
        };
        // Relative paths are relative to nushell's current directory, not the plugin's.
        let cwd = engine.get_current_dir()?;
        let snapshot = match flag(call, "snapshot") {
            Some((v, span)) => {
                ctx.errors.blame("snapshot", span).blame("snapshot name", span);
                Some(v.as_str().map_err(|_| not_a_string("--snapshot", &v))?.to_string())
            }
            None => None,
        };
        // --snapshot with no dir: a managed copy (`<copy dir>/<id>`), made by the start.
        let managed = snapshot.is_some() && dir.as_os_str().is_empty();
        let dir = if dir.as_os_str().is_empty() { PathBuf::from(&cwd) } else { Path::new(&cwd).join(dir) };
        ctx.errors.blame("working dir", dir_span);

        let id = match ctx.flag(call, "id", "session id", |v, _| arguments::session_id(v))? {
            Some(id) => id.item,
            None => match (&snapshot, managed) {
                (Some(name), true) => sandbox_core::default_session_id(Path::new(name)),
                _ => sandbox_core::default_session_id(&dir),
            },
        };
        let mut spec = match snapshot {
            Some(name) if managed => SessionSpec::from_snapshot(id.clone(), name),
            snapshot => SessionSpec { snapshot, ..SessionSpec::new(id.clone(), &dir) },
        };
        if let Some((v, span)) = flag(call, "image") {
            spec.image = Some(v.as_str().map_err(|_| not_a_string("--image", &v))?.to_string());
            ctx.errors.blame("image", span);
        }
        if let Some((v, span)) = flag(call, "ports") {
            spec.ports = arguments::ports(&v)?;
            ctx.errors.blame("port", span);
        }
        if let Some((v, span)) = flag(call, "network") {
            let text = v.as_str().map_err(|_| not_a_string("--network", &v))?;
            spec.network = Some(text.parse::<Network>().map_err(|e| {
                LabeledError::new(e.to_string()).with_label("unknown network mode", span).with_help(
                    "use bridge (outbound access, ports on 127.0.0.1), none (no network) or egress (only what \
--allow-host allows, through a proxy); host networking is never allowed",
                )
            })?);
            ctx.errors.blame("network", span);
        }
        let rules = ctx.flag(call, "allow-host", "egress rule", |v, _| arguments::egress_rules(v))?;
        let pins = ctx.flag(call, "pin-host", "egress hosts entry", |v, _| arguments::pinned_hosts(v))?;
        let credentials = ctx.flag(call, "credential", "egress credential", |v, _| arguments::egress_credentials(v))?;
        let cas = ctx.flag(call, "upstream-ca", "egress upstream CA", |v, _| arguments::upstream_cas(v))?;
        if rules.is_some() || pins.is_some() || credentials.is_some() || cas.is_some() {
            spec.egress = Some(EgressPolicy {
                allow: rules.unwrap_or_default(),
                hosts: pins.unwrap_or_default(),
                credentials: credentials.unwrap_or_default(),
                upstream_ca_files: cas.unwrap_or_default(),
            });
            if let Some((_, span)) =
                ["allow-host", "pin-host", "credential", "upstream-ca"].iter().find_map(|f| flag(call, f))
            {
                // With --network bridge or none: the mode and the rules disagree.
                ctx.errors.blame("network", span);
            }
        }
        if let Some((v, span)) = flag(call, "env") {
            spec.env = arguments::env_pairs(&v)?;
            ctx.errors.blame("environment variable", span);
        }
        let mut limits = ctx.sandbox.config().policy.limits;
        let mut limits_given = false;
        if let Some((v, span)) = flag(call, "memory") {
            let bytes = v.as_filesize().map_err(|_| not_a_string("--memory", &v))?.get();
            limits.memory_bytes = u64::try_from(bytes)
                .map_err(|_| LabeledError::new("--memory must not be negative").with_label("negative", span))?;
            limits_given = true;
            ctx.errors.blame("memory limit", span);
        }
        if let Some((v, span)) = flag(call, "cpus") {
            limits.cpus = match &v {
                Value::Float { val, .. } => *val,
                Value::Int { val, .. } => *val as f64,
                other => {
                    return Err(LabeledError::new("--cpus must be a number")
                        .with_label(format!("this is a {}", other.get_type()), span));
                }
            };
            limits_given = true;
            ctx.errors.blame("cpu limit", span);
        }
        if let Some((v, span)) = flag(call, "pids") {
            let n = v.as_int().map_err(|_| not_a_string("--pids", &v))?;
            limits.pids = u32::try_from(n).map_err(|_| {
                LabeledError::new(format!("--pids {n} is out of range")).with_label("not a process count", span)
            })?;
            limits_given = true;
            ctx.errors.blame("pids limit", span);
        }
        if limits_given {
            spec.limits = Some(limits);
        }
        if call.has_flag("require-limits")? {
            spec.require_resource_limits = Some(true);
            if let Some(span) = call.get_flag_span("require-limits") {
                ctx.errors.blame("limits", span);
            }
        }
        if let Some((v, span)) = flag(call, "post-create") {
            spec.post_create = arguments::strings(&v, "post-create")?;
            ctx.errors.blame("post-create command", span);
        }
        if call.has_flag("allow-post-create")? {
            spec.allow_post_create = Some(true);
        }
        if call.has_flag("allow-untrusted-image")? {
            spec.allow_untrusted_image = Some(true);
        }
        if call.has_flag("no-provision")? {
            spec.provision = Some(false);
        }
        if call.has_flag("devcontainer")? {
            spec.devcontainer = Some(true);
            if let Some(span) = call.get_flag_span("devcontainer") {
                ctx.errors.blame("devcontainer.json", span);
            }
        }
        if call.has_flag("allow-build")? {
            spec.allow_build = Some(true);
        }

        let progress = StartProgress::new(format!("sandbox start {id}"), !quiet);
        // A devcontainer.json adds commands the plugin does not know ahead: no total then.
        let post_create_total = match spec.devcontainer.unwrap_or(ctx.sandbox.config().devcontainer) {
            true => 0,
            false => spec.post_create.len(),
        };
        let sandbox = ctx.sandbox.clone();
        let outcome = interrupt::block_on(plugin, engine, head, "sandbox start", async {
            let on_phase = |phase: StartPhase| progress.phase(&phase, post_create_total);
            tokio::select! {
                r = sandbox.start_with_progress(spec, on_phase) => r,
                never = progress.report() => match never {},
            }
        });
        let session = match outcome {
            Ok(Ok(s)) => {
                progress.finish("ready");
                s
            }
            Ok(Err(e)) => {
                progress.finish("failed");
                return Err(ctx.errors.error(&e));
            }
            Err(interrupted) => {
                progress.finish("interrupted");
                return Err(interrupted);
            }
        };
        let Some(report) = session.start_report() else {
            return Err(LabeledError::new("the session started but returned no start report").with_label("here", head));
        };
        if !quiet {
            for w in &report.warnings {
                eprintln!("sandbox start {id}: warning: {w}");
            }
        }
        let value = records::start_report(report, head);
        plugin.cache().remember(&ctx.sandbox, session);
        Ok(PipelineData::value(value, None))
    }
}

fn not_a_string(flag: &str, v: &Value) -> LabeledError {
    LabeledError::new(format!("{flag} has the wrong type")).with_label(format!("this is a {}", v.get_type()), v.span())
}
