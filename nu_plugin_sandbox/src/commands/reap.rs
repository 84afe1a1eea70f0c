//! `sandbox reap`: removes sessions that can no longer serve commands.

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Record, Signature, SyntaxShape, Type, Value};

use crate::SandboxPlugin;
use crate::arguments;
use crate::call_context::CallContext;
use crate::interrupt;

/// `sandbox reap`: cleans up dead (or, with --keep, unwanted) sessions.
pub struct Reap;

impl PluginCommand for Reap {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox reap"
    }

    fn description(&self) -> &str {
        "Remove the sessions of this scope whose container is not running (exited, created, dead), with their control dirs."
    }

    fn extra_description(&self) -> &str {
        "With --keep, remove every session of this scope except the ones listed, running or not: what a harness \
that crashed and restarted does with the sessions it no longer knows. Containers without the sandbox's labels \
are never touched. Returns a table of what was removed (id, container, state)."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name())
            .named(
                "keep",
                SyntaxShape::List(Box::new(SyntaxShape::String)),
                "Remove every session except these ids, running or not.",
                None,
            )
            .input_output_type(Type::Nothing, Type::table())
            .category(super::category())
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["orphans", "cleanup", "prune", "gc"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "sandbox reap",
                description: "Remove sessions whose container stopped (here: none)",
                result: Some(Value::test_list(vec![])),
            },
            Example {
                example: "sandbox reap --keep [demo]",
                description: "Remove every session of this scope but demo",
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
        let ctx = CallContext::new(plugin, engine, call)?;
        let keep = match arguments::flag(call, "keep") {
            Some((v, _)) => Some(
                arguments::strings(&v, "keep")?
                    .into_iter()
                    .map(|id| {
                        sandbox_core::validate::session_id(&id)
                            .map(|()| id)
                            .map_err(|e| LabeledError::new(e.to_string()).with_label("invalid session id", v.span()))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            None => None,
        };
        let sandbox = ctx.sandbox.clone();
        let result = interrupt::block_on(plugin, engine, head, "sandbox reap", async {
            let removed: Vec<_> = match &keep {
                Some(keep) => {
                    let before = sandbox.list().await?;
                    let ids = sandbox.reap_orphans(keep).await?;
                    before.into_iter().filter(|s| ids.contains(&s.id)).collect()
                }
                None => sandbox.reap().await?,
            };
            for s in &removed {
                plugin.cache().forget(&sandbox, &s.id);
            }
            Ok(removed)
        })?;
        let removed = result.map_err(|e| ctx.errors.error(&e))?;
        let rows = removed
            .iter()
            .map(|s| {
                let mut r = Record::new();
                r.push("id", Value::string(&s.id, head));
                r.push("container", Value::string(&s.container, head));
                r.push("state", Value::string(&s.state, head));
                Value::record(r, head)
            })
            .collect();
        Ok(PipelineData::value(Value::list(rows, head), None))
    }
}
