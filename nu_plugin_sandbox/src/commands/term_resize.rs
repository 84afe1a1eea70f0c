//! `sandbox term resize <session> <terminal> <rows> <cols>`: changes a terminal's size.

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, SyntaxShape, Type, Value};

use super::{Terminals, held};
use crate::SandboxPlugin;
use crate::arguments;
use crate::{interrupt, records};

/// `sandbox term resize`: the terminal's record with its new size.
pub struct TermResize;

impl PluginCommand for TermResize {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox term resize"
    }

    fn description(&self) -> &str {
        "Resize a terminal; its program gets SIGWINCH and sees the new size."
    }

    fn extra_description(&self) -> &str {
        "Rows and columns are 1 to 1000. Returns the terminal's record. A terminal whose program has exited cannot \
be resized."
    }

    fn signature(&self) -> Signature {
        held::target_signature::<Terminals>(self.name())
            .required("rows", SyntaxShape::Int, "Rows, 1 to 1000.")
            .required("cols", SyntaxShape::Int, "Columns, 1 to 1000.")
            .input_output_type(Type::Nothing, Type::record())
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["size", "winch", "rows", "columns"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![Example {
            example: "(sandbox term resize demo (sandbox term open demo) 50 160).rows",
            description: "Make a terminal 50 rows by 160 columns",
            result: Some(Value::test_int(50)),
        }]
    }

    fn run(
        &self,
        plugin: &SandboxPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
        _input: PipelineData,
    ) -> Result<PipelineData, LabeledError> {
        let (ctx, id) = held::target::<Terminals>(plugin, engine, call)?;
        let rows = arguments::terminal_dimension(&call.req::<Value>(2)?, "rows")?;
        let cols = arguments::terminal_dimension(&call.req::<Value>(3)?, "columns")?;
        let info =
            ctx.on_session(plugin, engine, call, "sandbox term resize", interrupt::CANCELLED, |s| async move {
                s.terminal(&id).resize(rows, cols).await
            })?;
        Ok(PipelineData::value(records::terminal_row(&info, call.head), None))
    }
}
