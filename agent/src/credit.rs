//! Byte credit for flow control: output is only read from a pipe (or file) while the
//! client has granted room for it, so a slow reader slows the producer and memory stays
//! bounded.

use tokio::sync::Semaphore;

/// A credit pool; `None` where the request has no window (unlimited).
pub type Credit = Option<std::sync::Arc<Semaphore>>;

fn clamp(n: u64) -> usize {
    n.min(Semaphore::MAX_PERMITS as u64 / 2) as usize
}

/// A pool holding `window` bytes of credit, or none.
pub fn pool(window: Option<u64>) -> Credit {
    window.map(|w| std::sync::Arc::new(Semaphore::new(clamp(w))))
}

/// Adds `n` bytes of credit.
pub fn grant(credit: &Credit, n: u64) {
    if let Some(sem) = credit {
        let room = (Semaphore::MAX_PERMITS / 2).saturating_sub(sem.available_permits());
        sem.add_permits(clamp(n).min(room));
    }
}

/// Waits for at least one byte of credit and takes up to `max`; `max` when unlimited.
pub async fn take(credit: &Credit, max: usize) -> usize {
    let Some(sem) = credit else { return max };
    match sem.acquire().await {
        Ok(p) => p.forget(),
        Err(_) => return max,
    }
    let extra = sem.available_permits().min(max - 1);
    if extra > 0
        && let Ok(p) = sem.try_acquire_many(extra as u32)
    {
        p.forget();
        return 1 + extra;
    }
    1
}

/// Returns credit taken but not used.
pub fn refund(credit: &Credit, n: usize) {
    if let Some(sem) = credit
        && n > 0
    {
        sem.add_permits(n);
    }
}
