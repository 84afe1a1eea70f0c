//! Blocking on a future while staying interruptible: a call returns
//! `SBX_STATUS_CLOSED` as soon as one of its handles is closed (by `*_close` on another
//! thread) and `SBX_STATUS_CANCELLED` as soon as its cancel token fires. The abandoned
//! future is dropped, which cancels its request in the agent.

use std::future::Future;

use crate::error::FfiError;
use crate::latch::Latch;
use crate::runtime::OwnedRuntime;
use crate::status::sbx_status;

/// A latch whose setting closes the call, and the name of the handle it belongs to (for
/// the message).
pub(crate) type Closer<'a> = (&'a Latch, &'static str);

pub(crate) fn cancelled() -> FfiError {
    FfiError::new(sbx_status::Cancelled, "the call was cancelled through its sbx_cancel_token")
}

/// Fails at once when a closer is set or the cancel token fired.
pub(crate) fn check_open(closers: &[Closer<'_>], cancel: Option<&Latch>) -> Result<(), FfiError> {
    if let Some((_, what)) = closers.iter().find(|(l, _)| l.is_set()) {
        return Err(FfiError::closed(what));
    }
    if cancel.is_some_and(Latch::is_set) {
        return Err(cancelled());
    }
    Ok(())
}

/// Resolves with the name of the first closer that is set (never, without closers).
fn any_closed(closers: &[Closer<'_>]) -> impl Future<Output = &'static str> + Send + 'static {
    let first = closers.first().map(|(l, w)| (l.wait(), *w));
    let second = closers.get(1).map(|(l, w)| (l.wait(), *w));
    debug_assert!(closers.len() <= 2, "at most two closers (the handle and its session)");
    async move {
        let one = async {
            match first {
                Some((f, w)) => {
                    f.await;
                    w
                }
                None => std::future::pending().await,
            }
        };
        let two = async {
            match second {
                Some((f, w)) => {
                    f.await;
                    w
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            w = one => w,
            w = two => w,
        }
    }
}

/// Drives `fut` on the calling thread until it finishes, a closer is set or `cancel`
/// fires. The caller has checked it is not on a runtime thread (the boundary does).
pub(crate) fn block_on<T, E: Into<FfiError>>(
    rt: &OwnedRuntime,
    closers: &[Closer<'_>],
    cancel: Option<&Latch>,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, FfiError> {
    check_open(closers, cancel)?;
    let closed = any_closed(closers);
    let cancelled_fut = cancel.map(Latch::wait);
    let result = rt.block_on(async move {
        let cancel = async move {
            match cancelled_fut {
                Some(f) => f.await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            what = closed => Err(FfiError::closed(what)),
            _ = cancel => Err(cancelled()),
            r = fut => r.map_err(Into::into),
        }
    });
    // A close (or cancel) can also make the call's own future fail, e.g. a stream whose
    // command the close killed; whichever the select saw first, report the close.
    match result {
        Err(e) if !matches!(e.status, sbx_status::Closed | sbx_status::Cancelled) => {
            Err(check_open(closers, cancel).err().unwrap_or(e))
        }
        other => other,
    }
}
