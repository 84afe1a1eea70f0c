//! The lifecycle state of a task or terminal process, shared with waiters.

use std::time::Duration;

use sandbox_proto::ProcState;
use tokio::sync::watch;

/// (state, end time in ms since the epoch).
pub type StateCell = watch::Sender<(ProcState, Option<u64>)>;

/// Waits until the process is no longer running; false if `timeout_ms` passed first.
pub async fn wait_ended(cell: &StateCell, timeout_ms: Option<u64>) -> bool {
    let mut rx = cell.subscribe();
    let deadline = timeout_ms.map(|ms| tokio::time::Instant::now() + Duration::from_millis(ms));
    loop {
        if rx.borrow_and_update().0 != ProcState::Running {
            return true;
        }
        let changed = match deadline {
            Some(d) => match tokio::time::timeout_at(d, rx.changed()).await {
                Ok(r) => r,
                Err(_) => return false,
            },
            None => rx.changed().await,
        };
        if changed.is_err() {
            return true;
        }
    }
}
