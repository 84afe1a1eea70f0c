//! `sandbox start [dir]`: starts a session on a directory (or, with `--snapshot`, on a
//! new copy of a snapshot's: at dir, or with no dir a managed copy in the copy dir) and
//! returns its start report.

use std::path::{Path, PathBuf};

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, SyntaxShape, Type, Value};
use sandbox_core::{SessionSpec, StartPhase};

use crate::SandboxPlugin;
use crate::arguments::{self, flag};
use crate::call_context::CallContext;
use crate::progress::StartProgress;

use super::settings::{self, not_a_string};
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
        let signature = Signature::build(self.name())
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
            .switch("allow-untrusted-image", "Use --image even when it is not a trusted image.", None)
            .switch(
                "devcontainer",
                "Use the directory's .devcontainer/devcontainer.json (or .devcontainer.json); fail without one.",
                None,
            )
            .switch("allow-build", "Build the devcontainer.json's Dockerfile (podman build, no network).", None)
            .switch("quiet", "Print no progress lines or warnings on stderr.", Some('q'))
            .input_output_type(Type::Nothing, Type::record())
            .category(super::category());
        settings::signature(signature, "session")
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
        settings::apply(&mut ctx, call, &mut spec)?;
        if call.has_flag("allow-untrusted-image")? {
            spec.allow_untrusted_image = Some(true);
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
