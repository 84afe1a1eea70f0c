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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::timeout;

    use super::*;

    /// True when `take` is still waiting after a while (it found no credit).
    async fn blocks(credit: &Credit) -> bool {
        timeout(Duration::from_millis(50), take(credit, 100)).await.is_err()
    }

    #[tokio::test]
    async fn without_a_window_every_take_gets_all_it_asks_for() {
        let c = pool(None);
        assert_eq!(take(&c, 1000).await, 1000);
        grant(&c, 5);
        refund(&c, 5);
        assert_eq!(take(&c, 7).await, 7);
    }

    #[tokio::test]
    async fn takes_are_bounded_by_the_credit_and_by_max_and_block_when_it_is_spent() {
        let c = pool(Some(10));
        assert_eq!(take(&c, 4).await, 4, "max bounds a take");
        assert_eq!(take(&c, 100).await, 6, "the credit bounds a take");
        assert!(blocks(&c).await, "spent credit blocks");
        grant(&c, 3);
        assert_eq!(take(&c, 100).await, 3, "a grant adds exactly its bytes");
        refund(&c, 2);
        assert_eq!(take(&c, 100).await, 2, "a refund returns exactly its bytes");
        refund(&c, 0);
        assert!(blocks(&c).await);
    }

    #[tokio::test]
    async fn a_grant_wakes_a_blocked_take_with_all_of_it() {
        let c = pool(Some(0));
        let waiter = tokio::spawn({
            let c = c.clone();
            async move { take(&c, 100).await }
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(!waiter.is_finished(), "a zero window blocks");
        grant(&c, 40);
        assert_eq!(timeout(Duration::from_secs(5), waiter).await.unwrap().unwrap(), 40);
    }

    #[tokio::test]
    async fn huge_windows_and_grants_are_clamped_instead_of_overflowing() {
        let c = pool(Some(u64::MAX));
        grant(&c, u64::MAX);
        grant(&c, u64::MAX);
        assert_eq!(take(&c, 1000).await, 1000);
    }

    #[tokio::test]
    async fn a_closed_pool_stops_limiting_and_frees_a_blocked_take() {
        let c = pool(Some(0));
        let waiter = tokio::spawn({
            let c = c.clone();
            async move { take(&c, 100).await }
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        c.as_ref().unwrap().close();
        assert_eq!(timeout(Duration::from_secs(5), waiter).await.unwrap().unwrap(), 100);
        assert_eq!(take(&c, 5).await, 5);
    }
}
