//! [`EventsFollow`]: a session's events as a live list stream of records (`sandbox events
//! --follow`, `sandbox watch`), ending after the `lifecycle stopped` or `lost` record
//! that ends sandbox-core's [`EventStream`], or at Ctrl-C.
//!
//! nu-plugin writes a returned list stream from a thread of its own, pulling one value
//! at a time; each pull runs the stream's next read on the plugin's runtime. A consumer
//! that stops early (`| first 3`) drops the stream at the next pull, so a stream whose
//! session stays quiet is let go when its next event comes or the session stops. Errors
//! (and Ctrl-C) end the stream with an error value labelled like the command's own
//! errors; the stream's `Signals` are empty, Ctrl-C is watched by an
//! [`Interrupt`](crate::interrupt::Interrupt).

use nu_protocol::{ListStream, Signals, Span, Value};
use sandbox_core::EventStream;
use tokio::runtime::Handle;

use crate::error_context::ErrorContext;
use crate::interrupt::{self, Interrupt};
use crate::records;

/// The events of one stream, as records.
pub(crate) struct EventsFollow {
    handle: Handle,
    stream: Option<EventStream>,
    interrupt: Interrupt,
    errors: ErrorContext,
    /// The command, for the interrupted error.
    what: &'static str,
    head: Span,
}

impl EventsFollow {
    /// Follows `stream`; errors are labelled by `errors`, as the command `what` at
    /// `head`.
    pub(crate) fn new(
        handle: Handle,
        stream: EventStream,
        interrupt: Interrupt,
        errors: ErrorContext,
        what: &'static str,
        head: Span,
    ) -> EventsFollow {
        EventsFollow { handle, stream: Some(stream), interrupt, errors, what, head }
    }

    /// The follower as a nushell list stream.
    pub(crate) fn into_list_stream(self) -> ListStream {
        let head = self.head;
        // Empty signals: Ctrl-C is the follower's to see (see the module docs).
        ListStream::new(self, head, Signals::empty())
    }

    fn finish(&mut self) {
        // Inside the runtime: a read in flight may be torn down with it.
        let _entered = self.handle.enter();
        self.stream = None;
    }
}

impl Iterator for EventsFollow {
    type Item = Value;

    fn next(&mut self) -> Option<Value> {
        let EventsFollow { handle, stream, interrupt, .. } = self;
        let stream = stream.as_mut()?;
        let next = interrupt.block_on(handle, stream.next());
        match next {
            Some(Ok(Some(e))) => Some(records::session_event(&e, self.head)),
            Some(Ok(None)) => {
                self.finish();
                None
            }
            Some(Err(e)) => {
                self.finish();
                Some(Value::error(self.errors.error(&e).into(), self.head))
            }
            None => {
                self.finish();
                Some(interrupt::interrupted_value(self.what, self.head))
            }
        }
    }
}

impl Drop for EventsFollow {
    fn drop(&mut self) {
        self.finish();
    }
}
