//! `sandbox task logs <session> <task>`: a task's output, or (with --follow) a stream of
//! it until the task ends.

use std::time::Duration;

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{ByteStreamType, Example, LabeledError, PipelineData, Signature, SyntaxShape, Type, Value};
use sandbox_core::{OutputChunk, Task, TaskStream};

use super::{Tasks, held};
use crate::SandboxPlugin;
use crate::arguments::{self, flag};
use crate::chunk_reader::ChunkReader;
use crate::interrupt::{self, Interrupt};
use crate::records::OutputText;
use crate::task_follow::TaskFollow;

/// Most bytes one read returns when collecting the whole output.
const READ_MAX: usize = 16 * 1024 * 1024;

/// `sandbox task logs`: output as text (or binary), or a live stream of it.
pub struct TaskLogs;

impl PluginCommand for TaskLogs {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox task logs"
    }

    fn description(&self) -> &str {
        "Show a background task's output: all that is kept, the last part (--tail), or a live stream until the task ends (--follow)."
    }

    fn extra_description(&self) -> &str {
        "--stream picks stdout, stderr, or merged (both, in the order they were written; the default). Output is a \
string when it is UTF-8 and binary otherwise (always binary with --raw); a string never ends or starts in the middle \
of a character: while the task runs, a character whose last bytes are not written yet is left for the next read, \
and a --tail that starts inside a character starts after it. --offset N starts at byte N of the stream (bytes count \
from the task's start; the first bytes may have been dropped from the spool): to go on from an earlier read, add \
the byte length of its output to its offset. Reading past the end is an error that says where the output ends. \
The output stays readable, from any nushell, after the session's container stopped (it is read from the spool the \
session's agent left), until `sandbox stop`.

--follow returns a byte stream that goes on while the task runs and ends when it ends, so `| lines | each {...}` \
sees each line as it is written. Ctrl-C stops following (the task keeps running)."
    }

    fn signature(&self) -> Signature {
        super::session_signature(self.name())
            .required("task", SyntaxShape::Any, "Task id (or a record with an id column).")
            .named("stream", SyntaxShape::String, "stdout, stderr or merged (default).", None)
            .named("tail", SyntaxShape::Filesize, "Only the last this many bytes.", None)
            .named("offset", SyntaxShape::Int, "Start at this byte of the stream.", None)
            .switch("follow", "Stream the output until the task ends (or Ctrl-C).", Some('f'))
            .switch("raw", "Binary, even when the output is text.", None)
            .input_output_types(vec![
                (Type::Nothing, Type::String),
                (Type::Nothing, Type::Binary),
                (Type::Nothing, Type::Any),
            ])
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["output", "tail", "follow", "stdout", "stderr"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "let t = sandbox task spawn demo sh -c 'echo out; echo err >&2'; sandbox task wait demo $t | ignore; sandbox task logs demo $t --stream stderr",
                description: "What a task wrote to stderr",
                result: Some(Value::test_string("err\n")),
            },
            Example {
                example: "let t = sandbox task spawn demo seq 1000; sandbox task wait demo $t | ignore; sandbox task logs demo $t --tail 9B",
                description: "The last bytes of a task's output",
                result: Some(Value::test_string("999\n1000\n")),
            },
            Example {
                example: "sandbox task logs demo (sandbox task spawn demo sh -c 'for i in 1 2 3; do echo $i; sleep 0.1; done') --follow",
                description: "Follow a task's output until it ends",
                result: Some(Value::test_string("1\n2\n3\n")),
            },
            Example {
                example: "let server = sandbox task spawn demo ./server; sandbox task logs demo $server --follow | lines | where $it =~ ERROR | each {|l| print $l }",
                description: "Watch a server's errors as they come (Ctrl-C to stop)",
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
        let (mut ctx, id) = held::target::<Tasks>(plugin, engine, call)?;
        let stream = match flag(call, "stream") {
            Some((v, span)) => stream_arg(&v, span)?,
            None => TaskStream::Merged,
        };
        let tail = ctx.flag(call, "tail", "read size", |v, _| arguments::positive_filesize(v, "tail", "4KiB"))?;
        let offset = ctx.flag(call, "offset", "task request", |v, span| {
            if tail.is_some() {
                return Err(LabeledError::new("give --tail or --offset, not both")
                    .with_label("--offset starts at a byte; --tail takes the last bytes", span));
            }
            arguments::offset(v, span, "the start of the task's output")
        })?;
        let follow = call.has_flag("follow")?;
        let raw = call.has_flag("raw")?;

        if !follow {
            let (data, cut_start, running) =
                ctx.on_session(plugin, engine, call, "sandbox task logs", interrupt::CANCELLED, |s| async move {
                    read_all(&s.task(&id), stream, offset, tail).await
                })?;
            let text = OutputText::new(data, raw, cut_start, running, head);
            return Ok(PipelineData::value(text.value, None));
        }

        let interrupt = Interrupt::register(engine)?;
        let (task, first) =
            ctx.on_session(plugin, engine, call, "sandbox task logs", interrupt::CANCELLED, |s| async move {
                let task = s.task(&id);
                let first = match tail {
                    Some(n) => task.tail(stream, usize::try_from(n).unwrap_or(usize::MAX)).await?,
                    None => task.read(stream, offset.unwrap_or(0), READ_MAX, Some(Duration::ZERO)).await?,
                };
                Ok((task, first))
            })?;
        let start = if tail.is_some() { first.offset } else { offset.unwrap_or(0) };
        let follow = task.follow(stream, first.next_offset());
        let mut follower = TaskFollow::new(follow, task.id().to_string(), start, raw, interrupt);
        let first = follower.take(first, tail.is_some());
        let handle = plugin.runtime().handle().clone();
        let type_ = if raw { ByteStreamType::Binary } else { ByteStreamType::Unknown };
        let reader = ChunkReader::new(handle, follower, first);
        Ok(PipelineData::byte_stream(reader.into_byte_stream(head, type_), None))
    }
}

fn stream_arg(v: &Value, span: nu_protocol::Span) -> Result<TaskStream, LabeledError> {
    let help = "use stdout, stderr or merged (both, in the order written)";
    let text = v.as_str().map_err(|_| {
        LabeledError::new("--stream must be a string")
            .with_label(format!("this is a {}", v.get_type()), span)
            .with_help(help)
    })?;
    match text {
        "stdout" => Ok(TaskStream::Stdout),
        "stderr" => Ok(TaskStream::Stderr),
        "merged" => Ok(TaskStream::Merged),
        other => Err(LabeledError::new(format!("unknown stream {other:?}"))
            .with_label("not a task output stream", span)
            .with_help(help)),
    }
}

/// All of the output kept from `offset` (or the last `tail` bytes) up to where it ends
/// now. Also returns whether the data may begin inside a character (a tail, or a start
/// dropped from the spool) and whether the task is still running (more may follow).
async fn read_all(
    task: &Task,
    stream: TaskStream,
    offset: Option<u64>,
    tail: Option<u64>,
) -> sandbox_core::Result<(Vec<u8>, bool, bool)> {
    let first: OutputChunk = match tail {
        Some(n) => task.tail(stream, usize::try_from(n).unwrap_or(usize::MAX)).await?,
        None => task.read(stream, offset.unwrap_or(0), READ_MAX, Some(Duration::ZERO)).await?,
    };
    let cut_start = tail.is_some() || first.offset > offset.unwrap_or(0);
    let mut finished = first.finished;
    let mut next = first.next_offset();
    let end = first.end;
    let mut data = first.data;
    // The first read may stop short of the end (more than READ_MAX written): go on to the
    // end as it was when reading began. (By the end, not by `finished`: a read of a lost
    // session's spool says finished, nothing more will come, before reaching the end.)
    while tail.is_none() && next < end {
        let c = task.read(stream, next, READ_MAX, Some(Duration::ZERO)).await?;
        if c.data.is_empty() {
            break;
        }
        next = c.next_offset();
        finished = c.finished;
        data.extend_from_slice(&c.data);
    }
    Ok((data, cut_start, !finished))
}
