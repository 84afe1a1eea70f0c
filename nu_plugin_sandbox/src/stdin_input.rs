//! [`StdinInput`]: a command's piped input as what goes to a sandboxed process's stdin.

use nu_protocol::{ByteStream, LabeledError, PipelineData, Span, Value};

/// Piped input, as stdin.
pub(crate) enum StdinInput {
    /// Nothing was piped: stdin is empty.
    None,
    /// All of it at once (text, binary, or a simple value as its text).
    Bytes(Vec<u8>),
    /// A byte stream, to be fed as it comes.
    Stream(ByteStream),
}

impl StdinInput {
    /// Sorts piped input. Text, binary and byte streams go as they are; numbers, bools and
    /// other simple values as their text, as nushell does for external commands (so
    /// `1..3 | each { sandbox exec s cat }` works); structured data is refused with a
    /// hint to convert it. `command` names the command in that error.
    pub(crate) fn from_pipeline(input: PipelineData, command: &str) -> Result<StdinInput, LabeledError> {
        match input {
            PipelineData::Empty => Ok(StdinInput::None),
            PipelineData::Value(v, _) => match v {
                Value::Nothing { .. } => Ok(StdinInput::None),
                Value::String { val, .. } => Ok(StdinInput::Bytes(val.into_bytes())),
                Value::Binary { val, .. } => Ok(StdinInput::Bytes(val.into_owned())),
                v @ (Value::Int { .. }
                | Value::Float { .. }
                | Value::Bool { .. }
                | Value::Filesize { .. }
                | Value::Duration { .. }
                | Value::Date { .. }
                | Value::Glob { .. }) => Ok(StdinInput::Bytes(v.coerce_into_string()?.into_bytes())),
                other => Err(type_error(command, &other.get_type().to_string(), other.span())),
            },
            PipelineData::ByteStream(stream, _) => Ok(StdinInput::Stream(stream)),
            PipelineData::ListStream(stream, _) => Err(type_error(command, "list stream", stream.span())),
        }
    }

    /// Everything as bytes (a stream is read to its end); `None` when nothing was piped.
    pub(crate) fn into_bytes(self) -> Result<Option<Vec<u8>>, LabeledError> {
        match self {
            StdinInput::None => Ok(None),
            StdinInput::Bytes(b) => Ok(Some(b)),
            StdinInput::Stream(stream) => Ok(Some(stream.into_bytes()?)),
        }
    }
}

fn type_error(command: &str, kind: &str, span: Span) -> LabeledError {
    LabeledError::new(format!("{command} takes text or binary as input, not a {kind}"))
        .with_label("this input cannot be stdin", span)
        .with_help("convert it first, e.g. `| to json`, `| to text` or `| str join (char nl)`")
}
