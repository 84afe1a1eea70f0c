//! A one-way latch: set once (by `*_close` or a cancel token), awaited by any number of
//! blocked calls, which it wakes. Setting it is idempotent and thread-safe.

use tokio::sync::watch;

#[derive(Debug)]
pub(crate) struct Latch {
    tx: watch::Sender<bool>,
}

impl Latch {
    pub fn new() -> Latch {
        Latch { tx: watch::Sender::new(false) }
    }

    /// Sets the latch; returns whether this call was the one that set it.
    pub fn set(&self) -> bool {
        self.tx.send_if_modified(|v| !std::mem::replace(v, true))
    }

    pub fn is_set(&self) -> bool {
        *self.tx.borrow()
    }

    /// Resolves once the latch is set (at once if it already is).
    pub fn wait(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.tx.subscribe();
        async move {
            let _ = rx.wait_for(|v| *v).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_once_and_wakes_waiters() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let l = Latch::new();
        assert!(!l.is_set());
        let waiter = l.wait();
        assert!(l.set());
        assert!(!l.set(), "second set is a no-op");
        rt.block_on(waiter);
        rt.block_on(l.wait());
    }
}
