//! Probe tables. Each probe family (escapes, the control dir, git, file modes, state
//! paths, cross-session channels) tries every member of its class from inside real
//! sessions, records what happened in a table, fails on any escape, and writes the table
//! to `$SANDBOX_PROBE_DIR/<mode>-<family>.md` so `scripts/test` can print them all (the
//! README's tables come from there).

use std::fmt::Write as _;

use crate::rootless;

/// What one probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The attempt failed: the sandbox stopped it.
    Refused,
    /// The attempt is allowed by design and harmless (the detail says why); nothing
    /// escaped.
    Contained,
    /// This host cannot contain it at all (e.g. no memory limits rootless on cgroup
    /// v1); the probe checked that the sandbox says so instead.
    HostLimit,
    /// Not prevented, and stated as a limit in the README's security model (the detail
    /// says which); the probe keeps checking that it behaves as documented.
    Documented,
    /// The attempt succeeded: a hole.
    Escaped,
}

impl Outcome {
    fn word(self) -> &'static str {
        match self {
            Outcome::Refused => "refused",
            Outcome::Contained => "contained",
            Outcome::HostLimit => "host limit (reported)",
            Outcome::Documented => "documented limit",
            Outcome::Escaped => "ESCAPED",
        }
    }
}

struct Row {
    probe: String,
    tried: String,
    outcome: Outcome,
    detail: String,
}

/// The rows of one probe family.
pub struct ProbeTable {
    family: String,
    rows: Vec<Row>,
}

impl ProbeTable {
    /// A table for `family` (a short file-name-safe word).
    pub fn new(family: &str) -> ProbeTable {
        ProbeTable { family: family.to_string(), rows: Vec::new() }
    }

    /// Records one probe.
    pub fn row(
        &mut self,
        probe: impl Into<String>,
        tried: impl Into<String>,
        outcome: Outcome,
        detail: impl Into<String>,
    ) {
        self.rows.push(Row { probe: probe.into(), tried: tried.into(), outcome, detail: detail.into() });
    }

    /// Records a probe that must have been refused: `refused` false is an escape.
    pub fn refused_if(
        &mut self,
        probe: impl Into<String>,
        tried: impl Into<String>,
        refused: bool,
        detail: impl Into<String>,
    ) {
        self.row(probe, tried, if refused { Outcome::Refused } else { Outcome::Escaped }, detail);
    }

    /// Number of rows so far.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no row was recorded.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as markdown, with its counts.
    pub fn render(&self) -> String {
        let mode = if rootless() { "rootless" } else { "rootful" };
        let count = |o: Outcome| self.rows.iter().filter(|r| r.outcome == o).count();
        let mut t = format!(
            "\nProbe family `{}` ({mode}): {} tried, {} refused, {} contained, {} host limit, {} documented limit, {} escaped\n\n",
            self.family,
            self.rows.len(),
            count(Outcome::Refused),
            count(Outcome::Contained),
            count(Outcome::HostLimit),
            count(Outcome::Documented),
            count(Outcome::Escaped),
        );
        t.push_str("| # | probe | what it tried | result | detail |\n|---|---|---|---|---|\n");
        for (i, r) in self.rows.iter().enumerate() {
            let _ = writeln!(
                t,
                "| {} | {} | {} | {} | {} |",
                i + 1,
                r.probe.replace('|', "/"),
                r.tried.replace('|', "/"),
                r.outcome.word(),
                r.detail.replace('|', "/").replace('\n', " ")
            );
        }
        t
    }

    /// Prints the table, writes it for `scripts/test`, and fails if anything escaped
    /// (or if `min_rows` probes did not all run).
    pub fn finish(self, min_rows: usize) {
        let table = self.render();
        println!("{table}");
        if let Some(dir) = std::env::var_os("SANDBOX_PROBE_DIR") {
            let mode = if rootless() { "rootless" } else { "rootful" };
            let path = std::path::Path::new(&dir).join(format!("{mode}-{}.md", self.family));
            std::fs::write(&path, &table).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        }
        assert!(self.rows.len() >= min_rows, "only {} of at least {min_rows} probes ran:\n{table}", self.rows.len());
        let escaped: Vec<&Row> = self.rows.iter().filter(|r| r.outcome == Outcome::Escaped).collect();
        assert!(escaped.is_empty(), "escapes in family {}:\n{table}", self.family);
    }
}
