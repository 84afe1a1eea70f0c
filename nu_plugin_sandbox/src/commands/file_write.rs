//! `<input> | sandbox file write <session> <path>`: writes a file from piped input.

use std::io::Read;

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{ByteStream, Example, LabeledError, PipelineData, Signature, SyntaxShape, Type, Value};
use tokio::runtime::Handle;

use crate::SandboxPlugin;
use crate::arguments;
use crate::call_context::CallContext;
use crate::channel_reader::ChannelReader;
use crate::stdin_input::StdinInput;

/// `sandbox file write`: the piped input, saved as a file in the session.
pub struct FileWrite;

impl PluginCommand for FileWrite {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox file write"
    }

    fn description(&self) -> &str {
        "Write piped text or binary to a file in a sandbox session, replacing it atomically."
    }

    fn extra_description(&self) -> &str {
        "The path is resolved inside the session's container; a relative path is relative to the session's working \
directory; its directory must exist. The file is written as a temporary file next to it and renamed over it, so a \
reader never sees half a file, and an interrupted write (Ctrl-C, a failing input) leaves the old file as it was. \
Byte streams are written as they come. --mode sets the permission bits (e.g. 0o755); otherwise a replaced file \
keeps its mode and a new one gets 0o644. Returns nothing, like `save`. Structured data must be converted first \
(e.g. `| to json`)."
    }

    fn signature(&self) -> Signature {
        super::session_signature(self.name())
            .required("path", SyntaxShape::String, "File to write (inside the session).")
            .named("mode", SyntaxShape::Int, "Permission bits, e.g. 0o755.", None)
            .input_output_types(vec![
                (Type::String, Type::Nothing),
                (Type::Binary, Type::Nothing),
                (Type::Any, Type::Nothing),
            ])
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["save", "upload", "put", "create"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "'hello' | sandbox file write demo /tmp/greeting.txt; sandbox file read demo /tmp/greeting.txt",
                description: "Write a text file and read it back",
                result: Some(Value::test_string("hello")),
            },
            Example {
                example: "\"#!/bin/sh\\necho hi\\n\" | sandbox file write demo /tmp/hi.sh --mode 0o755; sandbox run demo /tmp/hi.sh",
                description: "Write an executable script and run it",
                result: Some(Value::test_string("hi\n")),
            },
            Example {
                example: "open --raw big.tar | sandbox file write demo big.tar",
                description: "Upload a local file into the session's working directory (streamed)",
                result: None,
            },
            Example {
                example: "{ debug: true } | to json | sandbox file write demo config.json",
                description: "Write structured data as JSON",
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
        let head = call.head;
        let (mut ctx, _) = CallContext::for_session(plugin, engine, call)?;
        let path = arguments::sandbox_path(&call.req::<Value>(1)?)?;
        ctx.errors.blame("file", path.span);
        ctx.errors.blame("path", path.span);
        ctx.errors.blame("file request", path.span);
        let mode = ctx.flag(call, "mode", "mode", |v, span| {
            let m = v.as_int().map_err(|_| LabeledError::new("--mode must be an int").with_label("not an int", span))?;
            u32::try_from(m).ok().filter(|m| *m <= 0o7777).ok_or_else(|| {
                LabeledError::new(format!("mode {m:#o} is out of range"))
                    .with_label("not permission bits", span)
                    .with_help("give the bits as an octal number from 0o0 to 0o1777, e.g. 0o644 or 0o755 (a session cannot create setuid or setgid files)")
            })
        })?;
        let input = match StdinInput::from_pipeline(input, "sandbox file write")? {
            StdinInput::None => {
                return Err(LabeledError::new("nothing to write")
                    .with_label("pipe the file's contents into this command", head)
                    .with_help(
                        "e.g. 'text' | sandbox file write demo notes.txt (an empty string writes an empty file)",
                    ));
            }
            other => other,
        };
        let wanted = path.item.clone();
        let handle = plugin.runtime().handle().clone();
        ctx.on_session(plugin, engine, call, "sandbox file write", "the file was left as it was", |s| async move {
            let full = arguments::resolve_in(s.working_dir(), &wanted);
            match input {
                StdinInput::Stream(stream) => {
                    let reader = feed(handle, stream);
                    s.write_file_from(&full, reader, mode).await.map(|_| ())
                }
                StdinInput::Bytes(bytes) => s.write_file(&full, &bytes, mode).await,
                StdinInput::None => Ok(()),
            }
        })?;
        Ok(PipelineData::empty())
    }
}

/// Reads the piped byte stream on a thread of its own and hands it over as an
/// `AsyncRead`; a read error on the way is an error of the write (which then keeps the
/// old file).
fn feed(handle: Handle, input: ByteStream) -> ChannelReader {
    let (tx, reader) = ChannelReader::new();
    let run = move || {
        let Some(mut source) = input.reader() else {
            return;
        };
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let item = match source.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => Ok(buf[..n].to_vec()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => Err(std::io::Error::new(e.kind(), format!("reading the piped input: {e}"))),
            };
            let failed = item.is_err();
            if handle.block_on(tx.send(item)).is_err() || failed {
                return;
            }
        }
    };
    if let Err(e) = std::thread::Builder::new().name("sandbox file write input".into()).spawn(run) {
        // The write then fails with this error instead of writing nothing.
        let (tx, reader) = ChannelReader::new();
        let _ = tx.try_send(Err(std::io::Error::new(e.kind(), format!("cannot start reading the piped input: {e}"))));
        return reader;
    }
    reader
}
