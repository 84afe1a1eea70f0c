//! One row of `sandbox file ls`: the columns of nushell's own `ls`.

use nu_protocol::{Record, Span, Value};
use sandbox_core::{FileInfo, FileKind};

use super::{datetime, filesize, opt_string};

/// The `type` column, in nushell's words (`other` for devices, fifos and sockets).
fn kind_word(kind: FileKind) -> &'static str {
    match kind {
        FileKind::File => "file",
        FileKind::Dir => "dir",
        FileKind::Symlink => "symlink",
        _ => "other",
    }
}

/// Permission bits as `ls -l` shows them (`rwxr-xr-x`, with s/S/t/T for the special bits).
fn mode_string(mode: u32) -> String {
    let mut out = String::with_capacity(9);
    for (shift, special, special_char) in [(6, 0o4000, 's'), (3, 0o2000, 's'), (0, 0o1000, 't')] {
        let bits = (mode >> shift) & 0o7;
        out.push(if bits & 4 != 0 { 'r' } else { '-' });
        out.push(if bits & 2 != 0 { 'w' } else { '-' });
        out.push(match (bits & 1 != 0, mode & special != 0) {
            (true, true) => special_char,
            (false, true) => special_char.to_ascii_uppercase(),
            (true, false) => 'x',
            (false, false) => '-',
        });
    }
    out
}

/// `{name, type, size, modified}` as nushell's `ls` has them; with `long`, also `target`
/// (where a symlink points) and `mode`, in the places `ls -l` puts them. `name` is the
/// entry's name joined to the directory as the user wrote it (`ls src` shows
/// `src/main.rs`), or the bare name when no directory was given.
pub(crate) fn file_row(f: &FileInfo, dir: Option<&str>, long: bool, span: Span) -> Value {
    let name = match dir {
        Some(d) if d.ends_with('/') => format!("{d}{}", f.name),
        Some(d) => format!("{d}/{}", f.name),
        None => f.name.clone(),
    };
    let mut r = Record::new();
    r.push("name", Value::string(name, span));
    r.push("type", Value::string(kind_word(f.kind), span));
    if long {
        r.push("target", opt_string(f.target.as_deref(), span));
        r.push("mode", Value::string(mode_string(f.mode), span));
    }
    r.push("size", filesize(f.size, span));
    r.push("modified", datetime(f.modified, span));
    Value::record(r, span)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_read_like_ls() {
        assert_eq!(mode_string(0o755), "rwxr-xr-x");
        assert_eq!(mode_string(0o644), "rw-r--r--");
        assert_eq!(mode_string(0o4755), "rwsr-xr-x");
        assert_eq!(mode_string(0o2644), "rw-r-Sr--");
        assert_eq!(mode_string(0o1777), "rwxrwxrwt");
        assert_eq!(mode_string(0o1776), "rwxrwxrwT");
        assert_eq!(mode_string(0), "---------");
    }

    #[test]
    fn names_follow_the_directory_as_written() {
        let f = FileInfo {
            name: "a.txt".into(),
            kind: FileKind::File,
            size: 3,
            mode: 0o644,
            modified: std::time::SystemTime::UNIX_EPOCH,
            target: None,
        };
        let s = Span::test_data();
        let name = |dir| file_row(&f, dir, false, s).as_record().unwrap().get("name").cloned().unwrap();
        assert_eq!(name(None), Value::test_string("a.txt"));
        assert_eq!(name(Some("src")), Value::test_string("src/a.txt"));
        assert_eq!(name(Some("/tmp/")), Value::test_string("/tmp/a.txt"));
        let cols: Vec<String> = file_row(&f, None, false, s).as_record().unwrap().columns().cloned().collect();
        assert_eq!(cols, ["name", "type", "size", "modified"]);
        let cols: Vec<String> = file_row(&f, None, true, s).as_record().unwrap().columns().cloned().collect();
        assert_eq!(cols, ["name", "type", "target", "mode", "size", "modified"]);
    }
}
