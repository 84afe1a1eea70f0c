//! `sandbox pause <session>` and `sandbox resume <session>`: every process of a session
//! stopped (no CPU, all state kept), then continued.

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Record, Signature, Span, Type, Value};
use sandbox_core::PauseReport;

use crate::SandboxPlugin;
use crate::call_context::CallContext;
use crate::interrupt;
use crate::records::duration;

/// `sandbox pause` (`resume: false`) or `sandbox resume` (`resume: true`).
pub struct PauseCommand {
    /// Which of the two this is.
    pub resume: bool,
}

impl PluginCommand for PauseCommand {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        if self.resume { "sandbox resume" } else { "sandbox pause" }
    }

    fn description(&self) -> &str {
        if self.resume {
            "Resume a paused session: its processes continue where they stopped."
        } else {
            "Pause a session: every process in it stops (no CPU), keeping all its state, until `sandbox resume`."
        }
    }

    fn extra_description(&self) -> &str {
        "A record: id, paused (the state now), changed (false when the session was in that state already), method \
(signals: SIGSTOP and SIGCONT to every process of the session), processes (how many were stopped or continued), \
took (how long that took inside the session). While paused, reading task and terminal output, files, events and \
stats work; exec, run, task spawn and term open fail until `sandbox resume`. A command already running stops \
where it is (its timeout keeps counting). The session's events get a lifecycle paused or resumed record."
    }

    fn signature(&self) -> Signature {
        super::session_signature(self.name()).input_output_type(Type::Nothing, Type::record())
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["freeze", "suspend", "stop", "continue", "sigstop", "sigcont"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        if self.resume {
            vec![Example {
                example: "sandbox resume demo | get processes",
                description: "Let the session's processes run again",
                result: None,
            }]
        } else {
            vec![
                Example {
                    example: "sandbox pause demo | select paused processes took",
                    description: "Stop everything in the session for now",
                    result: None,
                },
                Example {
                    example: "sandbox pause demo | ignore; sandbox stats demo | get cpu; sleep 1sec; sandbox stats demo | get cpu",
                    description: "CPU time does not grow while paused",
                    result: None,
                },
            ]
        }
    }

    fn run(
        &self,
        plugin: &SandboxPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
        _input: PipelineData,
    ) -> Result<PipelineData, LabeledError> {
        let head = call.head;
        let (ctx, _) = CallContext::for_session(plugin, engine, call)?;
        let resume = self.resume;
        let id = ctx.session_id().to_string();
        let report = ctx.on_session(plugin, engine, call, self.name(), interrupt::CANCELLED, |s| async move {
            if resume { s.resume().await } else { s.pause().await }
        })?;
        Ok(PipelineData::value(pause_record(&id, &report, head), None))
    }
}

/// The record `sandbox pause` and `sandbox resume` return.
fn pause_record(id: &str, r: &PauseReport, span: Span) -> Value {
    let mut rec = Record::new();
    rec.push("id", Value::string(id, span));
    rec.push("paused", Value::bool(r.paused, span));
    rec.push("changed", Value::bool(r.changed, span));
    rec.push("method", Value::string(&r.method, span));
    rec.push("processes", Value::int(i64::from(r.processes), span));
    rec.push("took", duration(std::time::Duration::from_micros(r.took_us), span));
    Value::record(rec, span)
}
