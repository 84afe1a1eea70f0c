//! What a start did with the working dir's `devcontainer.json`: every property is
//! accounted for, as applied, refused (it would give the session more than the caller's
//! policy allows), not used (sessions have no equivalent, or the caller's own setting
//! wins) or unknown. Nothing in the file is ignored silently: every refused, unused or
//! unknown item is also a warning of the start report.

use serde::Serialize;

/// One property (or one element of one) and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DevcontainerItem {
    /// The property, e.g. `runArgs`, `forwardPorts[1]`, `postCreateCommand.install`.
    pub property: String,
    /// Its value as written (after substitution), shortened when long.
    pub value: String,
    /// What was done, or why not.
    pub reason: String,
}

/// The `devcontainer.json` part of a [`StartReport`](crate::StartReport).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct DevcontainerReport {
    /// The file, relative to the working dir.
    pub file: String,
    /// What the session got from the file.
    pub applied: Vec<DevcontainerItem>,
    /// What would have widened what the session may do, and was refused.
    pub refused: Vec<DevcontainerItem>,
    /// What sessions have no equivalent for, or the caller's own settings replaced.
    pub not_used: Vec<DevcontainerItem>,
    /// Properties the format does not define (typos, other tools' extensions).
    pub unknown: Vec<String>,
    /// Keys written twice in the file (the last value counts).
    pub repeated_keys: Vec<String>,
    /// The image built from the file's Dockerfile, when one was.
    pub built_image: Option<String>,
}

/// Longest value shown in an item.
const MAX_VALUE_CHARS: usize = 200;

/// `value`, shortened to [`MAX_VALUE_CHARS`] characters.
pub(crate) fn shown(value: &str) -> String {
    if value.chars().count() <= MAX_VALUE_CHARS {
        value.to_string()
    } else {
        format!("{}...", value.chars().take(MAX_VALUE_CHARS).collect::<String>())
    }
}

impl DevcontainerReport {
    /// Records an applied item.
    pub(crate) fn applied(&mut self, property: impl Into<String>, value: &str, reason: impl Into<String>) {
        self.applied.push(DevcontainerItem { property: property.into(), value: shown(value), reason: reason.into() });
    }

    /// Records a refused item.
    pub(crate) fn refused(&mut self, property: impl Into<String>, value: &str, reason: impl Into<String>) {
        self.refused.push(DevcontainerItem { property: property.into(), value: shown(value), reason: reason.into() });
    }

    /// Records an item that is not used.
    pub(crate) fn not_used(&mut self, property: impl Into<String>, value: &str, reason: impl Into<String>) {
        self.not_used.push(DevcontainerItem { property: property.into(), value: shown(value), reason: reason.into() });
    }

    /// The start report's warnings for this file: one per refused, unused or unknown
    /// item and per repeated key.
    pub fn warnings(&self) -> Vec<String> {
        let f = &self.file;
        let mut w = Vec::new();
        for i in &self.refused {
            w.push(format!("{f}: {} {:?} refused: {}", i.property, i.value, i.reason));
        }
        for i in &self.not_used {
            w.push(format!("{f}: {} {:?} not used: {}", i.property, i.value, i.reason));
        }
        for p in &self.unknown {
            w.push(format!("{f}: unknown property {p:?} (not part of the devcontainer.json format): not used"));
        }
        for k in &self.repeated_keys {
            w.push(format!("{f}: the key {k} is written twice: the last value is used"));
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_but_the_applied_ones_is_a_warning() {
        let mut r = DevcontainerReport { file: ".devcontainer.json".into(), ..Default::default() };
        r.applied("image", "i", "requested");
        r.refused("runArgs", "--privileged", "weakens the hardening");
        r.not_used("features", "go", "not supported");
        r.unknown.push("madeUp".into());
        r.repeated_keys.push("image (again on line 3)".into());
        let w = r.warnings();
        assert_eq!(w.len(), 4, "{w:?}");
        assert!(w[0].contains("runArgs \"--privileged\" refused: weakens the hardening"), "{w:?}");
        assert!(w[1].contains("features \"go\" not used"), "{w:?}");
        assert!(w[2].contains("unknown property \"madeUp\""), "{w:?}");
        assert!(w[3].contains("written twice"), "{w:?}");
        assert!(w.iter().all(|l| l.starts_with(".devcontainer.json: ")));
    }

    #[test]
    fn long_values_are_shortened() {
        assert_eq!(shown("short"), "short");
        let long = "é".repeat(500);
        assert_eq!(shown(&long).chars().count(), MAX_VALUE_CHARS + 3);
    }
}
