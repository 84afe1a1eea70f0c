//! What the agent reads of `/proc`: the processes it can see, and the fields of their
//! `stat` lines (after the command name, which is in parentheses and may hold any byte,
//! `)` and spaces included).

/// The pids in `/proc`.
pub fn pids() -> impl Iterator<Item = u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
}

/// The fields of a `/proc/<pid>/stat` line from field 3 (the state) on; `None` when the
/// line has no command name.
pub fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    let rest = stat.rsplit_once(')').map(|(_, r)| r)?;
    Some(rest.split_whitespace().collect())
}

/// Field `n` (numbered as in proc(5), from 3) of `fields` as a number; 0 when missing.
pub fn field(fields: &[&str], n: usize) -> u64 {
    fields.get(n.wrapping_sub(3)).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_start_after_the_last_parenthesis() {
        let f = stat_fields("42 (a) b) R) T 1 42").unwrap();
        assert_eq!(f[0], "T");
        assert_eq!(field(&f, 4), 1);
        assert_eq!(field(&f, 99), 0);
        assert!(stat_fields("no name here").is_none());
    }
}
