//! `sandbox term send <session> <terminal> [input]`: types into a terminal.

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, Span, SyntaxShape, Type, Value};

use super::{Terminals, held};
use crate::SandboxPlugin;
use crate::interrupt;
use crate::stdin_input::StdinInput;

/// Most bytes sent at once (the agent takes at most 1 MiB per write).
const CHUNK: usize = 1024 * 1024;

/// `sandbox term send`: keystrokes (text or bytes) to a terminal.
pub struct TermSend;

impl PluginCommand for TermSend {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox term send"
    }

    fn description(&self) -> &str {
        "Send input (keystrokes) to a terminal: the text or binary given, or piped in."
    }

    fn extra_description(&self) -> &str {
        "The bytes go to the terminal as if typed: \"ls\\n\" runs ls in a shell, (char --integer 3) is Ctrl-C, \
0x[1b] is Escape. Returns nothing; read what the program printed with `sandbox term read`. Sending to a terminal \
whose program has exited is an error."
    }

    fn signature(&self) -> Signature {
        held::target_signature::<Terminals>(self.name())
            .optional(
                "input",
                SyntaxShape::OneOf(vec![SyntaxShape::String, SyntaxShape::Binary]),
                "What to type (or pipe it in).",
            )
            .input_output_types(vec![
                (Type::Nothing, Type::Nothing),
                (Type::String, Type::Nothing),
                (Type::Binary, Type::Nothing),
            ])
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["type", "write", "keys", "input", "stdin"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "let t = sandbox term open demo; sandbox term send demo $t \"echo $((6 * 7))\\n\"; (sandbox term read demo $t --until \"42\\r\\n\").output =~ '42'",
                description: "Type a command into a shell and see its output",
                result: Some(Value::test_bool(true)),
            },
            Example {
                example: "let t = sandbox term open demo; sandbox term send demo $t (char --integer 3)",
                description: "Press Ctrl-C in the terminal",
                result: None,
            },
            Example {
                example: "let t = sandbox term open demo; open --raw script.sh | sandbox term send demo $t",
                description: "Type the contents of a file",
                result: None,
            },
        ]
    }

    fn run(
        &self,
        plugin: &SandboxPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
        input: PipelineData,
    ) -> Result<PipelineData, LabeledError> {
        let (mut ctx, id) = held::target::<Terminals>(plugin, engine, call)?;
        let bytes = match call.opt::<Value>(2)? {
            Some(v) => {
                ctx.errors.blame("terminal input", v.span());
                if !matches!(input, PipelineData::Empty | PipelineData::Value(Value::Nothing { .. }, _)) {
                    return Err(LabeledError::new("give the input as an argument or pipe it in, not both")
                        .with_label("input given here too", v.span()));
                }
                input_bytes(v)?
            }
            None => match StdinInput::from_pipeline(input, "sandbox term send")?.into_bytes()? {
                Some(b) => b,
                None => {
                    return Err(LabeledError::new("nothing to send")
                        .with_label("give the input to type, or pipe it in", call.head)
                        .with_help("e.g. sandbox term send demo $t \"ls\\n\""));
                }
            },
        };
        ctx.on_session(plugin, engine, call, "sandbox term send", interrupt::CANCELLED, |s| async move {
            let terminal = s.terminal(&id);
            for chunk in bytes.chunks(CHUNK) {
                terminal.write(chunk).await?;
            }
            Ok(())
        })?;
        Ok(PipelineData::empty())
    }
}

fn input_bytes(v: Value) -> Result<Vec<u8>, LabeledError> {
    let span: Span = v.span();
    match v {
        Value::String { val, .. } => Ok(val.into_bytes()),
        Value::Binary { val, .. } => Ok(val.into_owned()),
        other => Err(LabeledError::new("the input must be text or binary")
            .with_label(format!("this is a {}", other.get_type()), span)),
    }
}
