//! [`Progress`]: "still working" lines on stderr for long operations.
//!
//! A session start usually takes well under a second, but provisioning and post-create
//! commands can take minutes. Rather than sit silent, the plugin says what it is doing
//! once the work has taken a moment, and again every few seconds. Lines go to stderr
//! (never stdout, which would mix with nushell's output) and nothing is printed for
//! work that finishes quickly.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// First line after this long.
const FIRST: Duration = Duration::from_millis(1500);
/// Then one line this often.
const EVERY: Duration = Duration::from_secs(5);

/// Progress reporting for one operation.
pub(crate) struct Progress {
    what: String,
    doing: String,
    enabled: bool,
    started: Instant,
    printed: AtomicBool,
}

impl Progress {
    /// `what` names the operation ("sandbox start s1"), `doing` says what may take time.
    pub(crate) fn new(what: impl Into<String>, doing: impl Into<String>, enabled: bool) -> Progress {
        Progress {
            what: what.into(),
            doing: doing.into(),
            enabled,
            started: Instant::now(),
            printed: AtomicBool::new(false),
        }
    }

    /// Prints a line now and then; never finishes (race it against the work).
    pub(crate) async fn report(&self) -> Infallible {
        tokio::time::sleep(FIRST).await;
        loop {
            if self.enabled {
                eprintln!(
                    "{}: still working after {:.0}s ({})…",
                    self.what,
                    self.started.elapsed().as_secs_f64(),
                    self.doing
                );
                self.printed.store(true, Ordering::Relaxed);
            }
            tokio::time::sleep(EVERY).await;
        }
    }

    /// Says the work is done, if a progress line was printed before.
    pub(crate) fn finish(&self, outcome: &str) {
        if self.printed.load(Ordering::Relaxed) {
            eprintln!("{}: {outcome} after {:.1}s", self.what, self.started.elapsed().as_secs_f64());
        }
    }
}
