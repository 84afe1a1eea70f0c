//! `sandbox file read <session> <path>`: a file's contents.

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Signature, SyntaxShape, Type, Value};

use crate::SandboxPlugin;
use crate::call_context::CallContext;
use crate::records::OutputText;
use crate::{arguments, interrupt};

/// `sandbox file read`: the file as a string, or binary when it is not text.
pub struct FileRead;

impl PluginCommand for FileRead {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox file read"
    }

    fn description(&self) -> &str {
        "Read a file in a sandbox session: a string when it is UTF-8 text, binary otherwise."
    }

    fn extra_description(&self) -> &str {
        "The path is resolved inside the session's container, as its processes see it; a relative path is relative \
to the session's working directory. --raw always returns binary. The file is read whole (streamed in chunks on \
the way)."
    }

    fn signature(&self) -> Signature {
        super::session_signature(self.name())
            .required("path", SyntaxShape::String, "File to read (inside the session).")
            .switch("raw", "Binary, even when the file is text.", None)
            .input_output_types(vec![(Type::Nothing, Type::String), (Type::Nothing, Type::Binary)])
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["cat", "open", "contents", "download"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "sandbox file read demo /etc/hostname | describe",
                description: "Read a text file",
                result: Some(Value::test_string("string")),
            },
            Example {
                example: "sandbox file read demo /bin/busybox | describe",
                description: "A file that is not text comes back as binary",
                result: Some(Value::test_string("binary")),
            },
            Example {
                example: "sandbox file read demo Cargo.toml | from toml | get package.name",
                description: "Read a file of the project (relative to the session's working directory) as data",
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
        let (mut ctx, _) = CallContext::for_session(plugin, engine, call)?;
        let path = arguments::sandbox_path(&call.req::<Value>(1)?)?;
        ctx.errors.blame("file", path.span);
        ctx.errors.blame("path", path.span);
        ctx.errors.blame("file request", path.span);
        let raw = call.has_flag("raw")?;
        let wanted = path.item.clone();
        let bytes =
            ctx.on_session(plugin, engine, call, "sandbox file read", interrupt::CANCELLED, |s| async move {
                let full = arguments::resolve_in(s.working_dir(), &wanted);
                s.read_file(&full).await
            })?;
        Ok(PipelineData::value(OutputText::new(bytes, raw, false, false, call.head).value, None))
    }
}
