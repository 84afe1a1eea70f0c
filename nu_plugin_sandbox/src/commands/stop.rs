//! `sandbox stop ...ids` / `sandbox stop --all`: removes sessions.

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Record, Signature, Spanned, SyntaxShape, Type, Value};

use crate::SandboxPlugin;
use crate::arguments;
use crate::call_context::CallContext;
use crate::interrupt;

/// `sandbox stop`: removes sessions (their containers and control dirs).
pub struct Stop;

impl PluginCommand for Stop {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox stop"
    }

    fn description(&self) -> &str {
        "Stop sandbox sessions: remove their containers (killing everything in them) and control dirs."
    }

    fn extra_description(&self) -> &str {
        "Sessions are given as ids, as records with an id column (e.g. piped from `sandbox list`), or all of this \
scope with --all. Every id is checked before anything is stopped, so a typo stops nothing. Returns a table of \
the sessions stopped (id, container)."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name())
            .rest("sessions", SyntaxShape::Any, "Session ids (or records with an id column).")
            .switch("all", "Stop every session of this scope.", Some('a'))
            .input_output_types(vec![
                (Type::Nothing, Type::table()),
                (Type::String, Type::table()),
                (Type::list(Type::String), Type::table()),
                (Type::record(), Type::table()),
                (Type::table(), Type::table()),
            ])
            .category(super::category())
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["remove", "kill", "rm", "delete", "session"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "(sandbox stop demo).id",
                description: "Stop the session demo",
                result: Some(Value::test_list(vec![Value::test_string("demo")])),
            },
            Example {
                example: "sandbox list | where state != running | sandbox stop",
                description: "Stop the sessions listed",
                result: None,
            },
            Example { example: "sandbox stop --all", description: "Stop every session of this scope", result: None },
        ]
    }

    fn run(
        &self,
        plugin: &SandboxPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
        input: PipelineData,
    ) -> Result<PipelineData, LabeledError> {
        let head = call.head;
        let ctx = CallContext::new(plugin, engine, call)?;
        let all = call.has_flag("all")?;
        let mut wanted: Vec<Spanned<String>> = Vec::new();
        for v in call.rest::<Value>(0)? {
            match &v {
                Value::List { vals, .. } => {
                    for item in vals {
                        wanted.push(arguments::session_id(item)?);
                    }
                }
                _ => wanted.push(arguments::session_id(&v)?),
            }
        }
        match input {
            PipelineData::Empty => {}
            PipelineData::Value(Value::Nothing { .. }, _) => {}
            PipelineData::Value(Value::List { vals, .. }, _) => {
                for item in &vals {
                    wanted.push(arguments::session_id(item)?);
                }
            }
            PipelineData::Value(v, _) => wanted.push(arguments::session_id(&v)?),
            PipelineData::ListStream(stream, _) => {
                for item in stream {
                    wanted.push(arguments::session_id(&item)?);
                }
            }
            PipelineData::ByteStream(stream, _) => {
                return Err(LabeledError::new("sandbox stop takes session ids, not a byte stream")
                    .with_label("byte stream input", stream.span())
                    .with_help("pipe ids (strings) or records with an id column, e.g. from `sandbox list`"));
            }
        }
        if all && !wanted.is_empty() {
            return Err(LabeledError::new("give session ids or --all, not both")
                .with_label("--all stops every session of this scope", call.get_flag_span("all").unwrap_or(head)));
        }
        if !all && wanted.is_empty() {
            return Err(LabeledError::new("no session to stop")
                .with_label("give session ids, or --all", head)
                .with_help("`sandbox list` shows the sessions"));
        }

        let sandbox = ctx.sandbox.clone();
        let result = interrupt::block_on(plugin, engine, head, "sandbox stop", async {
            let existing = sandbox.list().await?;
            let targets: Vec<(String, String)> = if all {
                existing.iter().map(|s| (s.id.clone(), s.container.clone())).collect()
            } else {
                let mut targets = Vec::new();
                for w in &wanted {
                    match existing.iter().find(|s| s.id == w.item) {
                        Some(s) if !targets.iter().any(|(id, _)| id == &s.id) => {
                            targets.push((s.id.clone(), s.container.clone()))
                        }
                        Some(_) => {}
                        None => {
                            return Ok(Err(w.clone()));
                        }
                    }
                }
                targets
            };
            let mut stopped = Vec::new();
            for (id, container) in targets {
                let r = sandbox.stop(&id).await;
                plugin.cache().forget(&sandbox, &id);
                match r {
                    Ok(()) => stopped.push((id, container)),
                    // Gone meanwhile (stopped by someone else): that is what was asked.
                    Err(e) if e.kind() == sandbox_core::ErrorKind::SessionNotFound => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(Ok(stopped))
        })?;
        let stopped = match result {
            Ok(Ok(stopped)) => stopped,
            Ok(Err(unknown)) => {
                let mut errors = crate::error_context::ErrorContext::new(head, &ctx.sandbox.config().scope);
                errors.session(&unknown.item, unknown.span);
                return Err(errors.error(&sandbox_core::Error::SessionNotFound {
                    id: unknown.item.clone(),
                    detail: " (nothing was stopped)".into(),
                }));
            }
            Err(e) => return Err(ctx.errors.error(&e)),
        };
        let rows = stopped
            .into_iter()
            .map(|(id, container)| {
                let mut r = Record::new();
                r.push("id", Value::string(id, head));
                r.push("container", Value::string(container, head));
                Value::record(r, head)
            })
            .collect();
        Ok(PipelineData::value(Value::list(rows, head), None))
    }
}
