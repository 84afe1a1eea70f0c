//! [`StartProgress`]: what a long `sandbox start` is doing, as lines on stderr.
//!
//! A start usually takes well under a second, but provisioning and post-create commands
//! can take minutes. Core reports each phase of a start ([`StartPhase`]); once a start has
//! taken a moment, the phase it is in is printed, and then each phase as it begins, so a
//! slow start says what it is waiting for. Lines go to stderr (never stdout, which would
//! mix with nushell's output) and nothing is printed for starts that finish quickly.

use std::convert::Infallible;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sandbox_core::StartPhase;

/// Nothing is printed for starts quicker than this.
const QUIET_FOR: Duration = Duration::from_millis(1500);

/// Progress of one start.
pub(crate) struct StartProgress {
    what: String,
    enabled: bool,
    started: Instant,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The phase the start is in, as words.
    phase: Option<String>,
    /// Lines are being printed (the start took longer than [`QUIET_FOR`]).
    printing: bool,
}

/// A phase as the words of a progress line.
fn describe(phase: &StartPhase, post_create_total: usize) -> Option<String> {
    Some(match phase {
        StartPhase::Probing => "probing podman".into(),
        StartPhase::CreatingContainer { attempt: 1 } => "creating the container".into(),
        StartPhase::CreatingContainer { attempt } => format!("creating the container (attempt {attempt})"),
        StartPhase::WaitingForAgent => "waiting for the agent in the container".into(),
        StartPhase::Provisioning => "installing dev tools (provisioning)".into(),
        StartPhase::PostCreate { index, command } if post_create_total > *index => {
            format!("running post-create command {} of {post_create_total}: {command}", index + 1)
        }
        // The total is not known ahead (a devcontainer.json adds commands).
        StartPhase::PostCreate { index, command } => format!("running post-create command {}: {command}", index + 1),
        StartPhase::BuildingImage { image } => format!("building the devcontainer image {image}"),
        StartPhase::Ready => return None,
        _ => "starting".into(),
    })
}

impl StartProgress {
    /// `what` names the operation ("sandbox start s1"); nothing is printed unless `enabled`.
    pub(crate) fn new(what: impl Into<String>, enabled: bool) -> StartProgress {
        StartProgress { what: what.into(), enabled, started: Instant::now(), state: Mutex::new(State::default()) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records that the start entered `phase` (called by core); prints it when printing.
    pub(crate) fn phase(&self, phase: &StartPhase, post_create_total: usize) {
        let Some(words) = describe(phase, post_create_total) else {
            return;
        };
        let mut state = self.state();
        if state.printing && self.enabled {
            eprintln!("{}: {words}…", self.what);
        }
        state.phase = Some(words);
    }

    /// After [`QUIET_FOR`], prints the current phase and switches to printing each phase;
    /// never finishes (race it against the start).
    pub(crate) async fn report(&self) -> Infallible {
        tokio::time::sleep(QUIET_FOR).await;
        {
            let mut state = self.state();
            state.printing = true;
            if self.enabled
                && let Some(words) = &state.phase
            {
                eprintln!("{}: {words}…", self.what);
            }
        }
        std::future::pending().await
    }

    /// Says how the start ended, if progress lines were printed.
    pub(crate) fn finish(&self, outcome: &str) {
        if self.enabled && self.state().printing {
            eprintln!("{}: {outcome} after {:.1}s", self.what, self.started.elapsed().as_secs_f64());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_read_as_words() {
        let d = |p: StartPhase| describe(&p, 3);
        assert_eq!(d(StartPhase::CreatingContainer { attempt: 1 }).unwrap(), "creating the container");
        assert_eq!(d(StartPhase::CreatingContainer { attempt: 2 }).unwrap(), "creating the container (attempt 2)");
        assert_eq!(
            d(StartPhase::PostCreate { index: 0, command: "make".into() }).unwrap(),
            "running post-create command 1 of 3: make"
        );
        assert_eq!(
            d(StartPhase::PostCreate { index: 3, command: "make".into() }).unwrap(),
            "running post-create command 4: make",
            "no total when it was not known"
        );
        assert_eq!(d(StartPhase::BuildingImage { image: "x".into() }).unwrap(), "building the devcontainer image x");
        assert_eq!(d(StartPhase::Ready), None);
    }
}
