//! Calls run at most once per call key ([`Request::Once`]). A client whose connection
//! dropped before the reply came cannot know whether its call ran; it sends the call
//! again under the same key on a new connection, and gets the first run's reply (after
//! waiting for that run, if it is still going) instead of a second run.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::hash::BuildHasher;
use std::sync::Mutex;

use sandbox_proto::limits::{ONCE_BYTES_KEPT, ONCE_KEYS_KEPT};
use sandbox_proto::{ErrorKind, Reply, Request};
use tokio::sync::watch;

/// The keyed calls the agent remembers, with their replies once they have them.
#[derive(Default)]
pub struct Onces {
    table: Mutex<Table>,
    /// Keys the fingerprints of requests (randomly, per agent).
    hasher: std::collections::hash_map::RandomState,
}

#[derive(Default)]
struct Table {
    calls: HashMap<String, Call>,
    /// Keys, oldest first (for forgetting the oldest finished call).
    order: VecDeque<String>,
    /// What the finished calls' replies weigh, about (their JSON's length).
    bytes: usize,
}

struct Call {
    /// A fingerprint of the request (not the request: a spawn's argv may be large).
    request: u64,
    reply: watch::Receiver<Option<Reply>>,
    /// What its reply weighs, once it has one.
    bytes: usize,
}

impl Call {
    /// It has its reply, or never will (its run ended without one).
    fn finished(&self) -> bool {
        self.reply.borrow().is_some() || self.reply.has_changed().is_err()
    }
}

impl Table {
    /// Forgets the oldest finished calls beyond [`ONCE_KEYS_KEPT`] calls or
    /// [`ONCE_BYTES_KEPT`] bytes of replies (a call still running is kept: its repeat
    /// must find it).
    fn trim(&mut self) {
        while self.calls.len() > ONCE_KEYS_KEPT || self.bytes > ONCE_BYTES_KEPT {
            let finished = self.order.iter().position(|k| self.calls.get(k).is_none_or(Call::finished));
            let Some(at) = finished else { return };
            if let Some(key) = self.order.remove(at)
                && let Some(call) = self.calls.remove(&key)
            {
                self.bytes -= call.bytes;
            }
        }
    }

    fn forget(&mut self, key: &str) {
        if let Some(call) = self.calls.remove(key) {
            self.bytes -= call.bytes;
        }
        self.order.retain(|k| k != key);
    }
}

impl Onces {
    /// Runs `request` with `run` unless a call of this key ran or runs already: then
    /// that call's reply. The same key with another request is refused. A run that
    /// ends [cancelled](Reply::cancelled) (its connection went before its input came)
    /// had no effect: its key is forgotten, and a repeat runs anew.
    pub async fn run<F: Future<Output = Reply>>(
        &self,
        key: String,
        request: Request,
        run: impl FnOnce(Request) -> F,
    ) -> Reply {
        let fingerprint = self.hasher.hash_one(serde_json::to_vec(&request).unwrap_or_default());
        let done = loop {
            // Ours to run (the sender of its reply), or the first run's reply to wait for.
            let first = {
                let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
                match table.calls.get(&key) {
                    Some(call) if call.request != fingerprint => {
                        let msg = format!("call key {key} was already used for another request");
                        return Reply::error(ErrorKind::InvalidRequest, msg);
                    }
                    Some(call) => Err(call.reply.clone()),
                    None => {
                        let (done, reply) = watch::channel(None);
                        table.calls.insert(key.clone(), Call { request: fingerprint, reply, bytes: 0 });
                        table.order.push_back(key.clone());
                        table.trim();
                        Ok(done)
                    }
                }
            };
            match first {
                Ok(done) => break done,
                Err(mut first) => {
                    if let Ok(reply) = first.wait_for(Option::is_some).await {
                        return reply.clone().unwrap_or_else(|| unreachable!("waited for a reply"));
                    }
                    // The first run ended without a reply. Cancelled, it was forgotten:
                    // claim the key again. Otherwise (it failed outright) its effect is
                    // unknown: say so rather than run it again.
                    let table = self.table.lock().unwrap_or_else(|p| p.into_inner());
                    if table.calls.get(&key).is_some_and(|c| c.reply.same_channel(&first)) {
                        let msg = format!("the first run of call {key} ended without a reply");
                        return Reply::error(ErrorKind::Internal, msg);
                    }
                }
            }
        };
        let reply = run(request).await;
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if reply.is_cancelled() {
            table.forget(&key);
            return reply;
        }
        let bytes = serde_json::to_vec(&reply).map_or(0, |j| j.len()) + key.len();
        if let Some(call) = table.calls.get_mut(&key) {
            call.bytes = bytes;
            table.bytes += bytes;
        }
        done.send_replace(Some(reply.clone()));
        table.trim();
        reply
    }

    /// How many calls are remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.table.lock().unwrap().calls.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn kill(signal: i32) -> Request {
        Request::KillTask { id: "task-1".into(), signal }
    }

    #[tokio::test]
    async fn a_repeated_key_gets_the_first_reply_and_runs_nothing() {
        let onces = Onces::default();
        let runs = AtomicUsize::new(0);
        let run = |_| async {
            runs.fetch_add(1, Ordering::SeqCst);
            Reply::Done { bytes: runs.load(Ordering::SeqCst) as u64 }
        };
        let first = onces.run("k".repeat(16), kill(9), run).await;
        let again = onces.run("k".repeat(16), kill(9), run).await;
        assert_eq!(runs.load(Ordering::SeqCst), 1, "one run for the key");
        assert_eq!(first, again);
        // Another key runs again.
        onces.run("j".repeat(16), kill(9), run).await;
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        // The key with another request is refused, and runs nothing.
        match onces.run("k".repeat(16), kill(15), run).await {
            Reply::Error(e) => assert!(e.kind == ErrorKind::InvalidRequest && e.message.contains("another request")),
            other => panic!("{other:?}"),
        }
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    type Running = tokio::task::JoinHandle<Reply>;
    type Sender = tokio::sync::oneshot::Sender<()>;

    /// Runs `request` under one key twice at once: a first run that answers `first` when
    /// the returned sender fires, and a repeat (started once the first holds the key)
    /// that would answer `second` if it ran.
    async fn first_and_repeat(request: Request, first: Reply, second: Reply) -> (Arc<Onces>, Running, Running, Sender) {
        let onces = Arc::new(Onces::default());
        let (go, gate) = tokio::sync::oneshot::channel::<()>();
        let run = |request: Request, reply: Reply, gate: Option<tokio::sync::oneshot::Receiver<()>>| {
            let onces = onces.clone();
            tokio::spawn(async move {
                onces
                    .run("k".repeat(16), request, |_| async {
                        if let Some(gate) = gate {
                            gate.await.unwrap();
                        }
                        reply
                    })
                    .await
            })
        };
        let first = run(request.clone(), first, Some(gate));
        while onces.len() == 0 {
            tokio::task::yield_now().await;
        }
        let again = run(request, second, None);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        (onces, first, again, go)
    }

    #[tokio::test]
    async fn a_repeat_during_the_first_run_waits_for_its_reply() {
        let (_, first, again, go) = first_and_repeat(kill(9), Reply::Pong, Reply::Done { bytes: 7 }).await;
        assert!(!again.is_finished(), "the repeat waits for the first run");
        go.send(()).unwrap();
        assert_eq!(first.await.unwrap(), Reply::Pong);
        assert_eq!(again.await.unwrap(), Reply::Pong, "the repeat answers with the first run's reply");
    }

    #[tokio::test]
    async fn a_cancelled_run_is_forgotten_and_its_repeat_runs() {
        // A repeat that came while the first run still waited for its input.
        let write = || Request::WriteTerminal { id: "term-1".into() };
        let (onces, first, again, go) = first_and_repeat(write(), Reply::cancelled(), Reply::Done { bytes: 3 }).await;
        assert!(!again.is_finished(), "the repeat waits for the first run");
        go.send(()).unwrap();
        assert!(first.await.unwrap().is_cancelled());
        assert_eq!(again.await.unwrap(), Reply::Done { bytes: 3 }, "the repeat ran, once the first had no effect");
        let later = onces.run("k".repeat(16), write(), |_| async { Reply::Done { bytes: 9 } }).await;
        assert_eq!(later, Reply::Done { bytes: 3 }, "and its reply is the key's from then on");
    }

    #[tokio::test]
    async fn the_oldest_finished_calls_are_forgotten_beyond_the_bound() {
        let onces = Onces::default();
        for i in 0..ONCE_KEYS_KEPT + 10 {
            onces.run(format!("key-{i:012}"), kill(9), |_| async { Reply::Pong }).await;
        }
        assert_eq!(onces.len(), ONCE_KEYS_KEPT);
        let ran = AtomicUsize::new(0);
        let count = |_| async {
            ran.fetch_add(1, Ordering::SeqCst);
            Reply::Pong
        };
        onces.run(format!("key-{:012}", ONCE_KEYS_KEPT + 9), kill(9), count).await;
        assert_eq!(ran.load(Ordering::SeqCst), 0, "a recent key is still known");
        onces.run(format!("key-{:012}", 0), kill(9), count).await;
        assert_eq!(ran.load(Ordering::SeqCst), 1, "the oldest was forgotten");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_first_run_that_ends_without_a_reply_fails_its_repeats_and_does_not_run_them() {
        // The first run's future is dropped (its task aborted) before it answers.
        let (onces, first, again, _go) = first_and_repeat(kill(9), Reply::Pong, Reply::Done { bytes: 7 }).await;
        first.abort();
        match tokio::time::timeout(std::time::Duration::from_secs(10), again).await {
            Ok(Ok(Reply::Error(e))) => assert!(e.message.contains("ended without a reply"), "{e:?}"),
            other => panic!("the repeat should fail at once, not run or spin: {other:?}"),
        }
        let ran = AtomicUsize::new(0);
        let later = onces
            .run("k".repeat(16), kill(9), |_| async {
                ran.fetch_add(1, Ordering::SeqCst);
                Reply::Pong
            })
            .await;
        assert!(matches!(later, Reply::Error(_)) && ran.load(Ordering::SeqCst) == 0, "{later:?}");
    }

    #[tokio::test]
    async fn running_calls_are_kept_whatever_the_bound_and_replies_count_by_size() {
        let onces = Arc::new(Onces::default());
        let (hold, _first, _again, go) = first_and_repeat(kill(9), Reply::Pong, Reply::Pong).await;
        // The running call is the oldest: the bound forgets finished ones around it.
        for i in 0..ONCE_KEYS_KEPT + 5 {
            hold.run(format!("key-{i:012}"), kill(9), |_| async { Reply::Pong }).await;
        }
        assert_eq!(hold.len(), ONCE_KEYS_KEPT, "{}", hold.len());
        assert!(hold.table.lock().unwrap().calls.contains_key(&"k".repeat(16)), "the running call is kept");
        go.send(()).unwrap();
        // Large replies: forgotten by weight long before the count.
        let big = Reply::error(ErrorKind::Io, "x".repeat(1 << 20));
        for i in 0..40 {
            onces.run(format!("big-{i:012}"), kill(9), |_| async { big.clone() }).await;
        }
        let kept = onces.len();
        assert!(kept < 20 && onces.table.lock().unwrap().bytes <= ONCE_BYTES_KEPT, "{kept}");
    }
}
