//! `sandbox term read <session> <terminal>`: what a terminal's program printed.

use std::time::Duration;

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{Example, LabeledError, PipelineData, Record, Signature, Span, SyntaxShape, Type, Value};
use sandbox_core::ErrorKind;

use super::{Terminals, held};
use crate::SandboxPlugin;
use crate::arguments::{self, flag};
use crate::records::OutputText;

/// How long --until waits when --wait does not say.
const UNTIL_WAIT: Duration = Duration::from_secs(10);

/// `sandbox term read`: a piece of a terminal's output, with the offsets to go on from.
pub struct TermRead;

impl PluginCommand for TermRead {
    type Plugin = SandboxPlugin;

    fn name(&self) -> &str {
        "sandbox term read"
    }

    fn description(&self) -> &str {
        "Read a terminal's output (its scrollback) from an offset, optionally waiting for output or for some text to appear."
    }

    fn extra_description(&self) -> &str {
        "Returns a record: output (a string, or binary when it is not UTF-8; always binary with --raw), offset (where \
output starts), next_offset (where to read on from: pass it as --offset next time), end (bytes written so far), \
dropped (bytes no longer kept: the scrollback keeps the newest part), finished (the program ended and everything \
was read). Offsets count bytes from the terminal's start, so a reader that comes back later, from any nushell, \
replays what it missed, even after the session's container stopped (until `sandbox stop`). A string never ends \
inside a character: a character whose last bytes are not written yet is left for the next read.

Without --wait or --until the read returns at once, maybe with nothing. --wait waits that long for output when \
there is none yet (an error if none comes). --until keeps reading until the output contains the text (waiting up \
to --wait, 10sec by default; an error if it does not appear)."
    }

    fn signature(&self) -> Signature {
        held::target_signature::<Terminals>(self.name())
            .named("offset", SyntaxShape::Int, "Start at this byte of the output (default 0: all that is kept).", None)
            .named(
                "wait",
                SyntaxShape::Duration,
                "Wait this long for output when there is none yet (0sec: do not wait).",
                None,
            )
            .named("until", SyntaxShape::String, "Read until the output contains this text.", None)
            .named("max", SyntaxShape::Filesize, "Read at most this much (default 1MiB).", None)
            .switch("raw", "Output as binary, even when it is text.", None)
            .input_output_type(Type::Nothing, Type::record())
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["output", "screen", "scrollback", "expect"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "let t = sandbox term open demo sh -c 'printf ready; sleep 30'; (sandbox term read demo $t --until ready).output",
                description: "Wait for a program to print something",
                result: Some(Value::test_string("ready")),
            },
            Example {
                example: "let t = sandbox term open demo top; mut at = 0; loop { let r = sandbox term read demo $t --offset $at --wait 1sec; print -n $r.output; $at = $r.next_offset; if $r.finished { break } }",
                description: "Follow a terminal's output until its program ends",
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
        let (mut ctx, id) = held::target::<Terminals>(plugin, engine, call)?;
        let offset = ctx
            .flag(call, "offset", "terminal request", |v, span| arguments::offset(v, span, "the terminal's start"))?
            .unwrap_or(0);
        let wait = ctx.flag(call, "wait", "timeout", |v, _| arguments::duration(v, "wait"))?;
        let until = match flag(call, "until") {
            Some((v, span)) => {
                let text = v
                    .as_str()
                    .map_err(|_| LabeledError::new("--until must be a string").with_label("not a string", span))?;
                if text.is_empty() {
                    return Err(LabeledError::new("--until is empty")
                        .with_label("empty text", span)
                        .with_help("give the text to wait for"));
                }
                Some(text.to_string())
            }
            None => None,
        };
        let max = ctx
            .flag(call, "max", "read size", |v, _| arguments::positive_filesize(v, "max", "64KiB"))?
            .map_or(1024 * 1024, |n| usize::try_from(n).unwrap_or(usize::MAX));
        let raw = call.has_flag("raw")?;
        ctx.errors.help(ErrorKind::Timeout, "no output came in time: wait longer, or read without --wait");
        let wanted = until.clone();
        let terminal_id = id.clone();
        let read = ctx.on_session(
            plugin,
            engine,
            call,
            "sandbox term read",
            "stopped reading; the terminal keeps running",
            |s| async move {
                let terminal = s.terminal(&terminal_id);
                let c = match wanted {
                    // Without --wait a read returns at once.
                    None => terminal.read(offset, max, Some(wait.unwrap_or(Duration::ZERO))).await?,
                    Some(until) => {
                        let timeout = Some(wait.unwrap_or(UNTIL_WAIT));
                        terminal.read_until(offset, until.as_bytes(), max, timeout).await?.chunk
                    }
                };
                Ok(Read {
                    next: c.next_offset(),
                    data: c.data,
                    offset: c.offset,
                    end: c.end,
                    dropped: c.window_start,
                    finished: c.finished,
                })
            },
        )?;
        if let (Some(text), Some((_, span))) = (&until, flag(call, "until"))
            && !contains(&read.data, text.as_bytes())
        {
            let why = if read.finished {
                "the terminal's program ended first".to_string()
            } else if read.data.len() >= max {
                "--max bytes were read first".to_string()
            } else {
                format!("waited {:?}", wait.unwrap_or(UNTIL_WAIT))
            };
            let seen = String::from_utf8_lossy(&read.data);
            let last: String = seen.chars().rev().take(200).collect::<Vec<_>>().into_iter().rev().collect();
            return Err(LabeledError::new(format!("{text:?} did not appear on terminal {id} ({why})"))
                .with_label("not in the output", span)
                .with_help(format!(
                    "the output ends with: {last:?}; wait longer with --wait, or read without --until"
                )));
        }
        Ok(PipelineData::value(output_record(read, raw, head), None))
    }
}

/// One read: the bytes and the offsets around them.
struct Read {
    data: Vec<u8>,
    offset: u64,
    next: u64,
    end: u64,
    dropped: u64,
    finished: bool,
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// `{output, offset, next_offset, end, dropped, finished}`.
fn output_record(read: Read, raw: bool, span: Span) -> Value {
    let Read { data, offset, next, end, dropped, finished } = read;
    let len = data.len() as u64;
    let text = OutputText::new(data, raw, false, !finished, span);
    // A held-back partial character is read again next time.
    let next = next - (len - text.consumed as u64);
    let int = |n: u64| Value::int(i64::try_from(n).unwrap_or(i64::MAX), span);
    let mut r = Record::new();
    r.push("output", text.value);
    r.push("offset", int(offset));
    r.push("next_offset", int(next));
    r.push("end", int(end));
    r.push("dropped", int(dropped));
    r.push("finished", Value::bool(finished && next >= end, span));
    Value::record(r, span)
}
