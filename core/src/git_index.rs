//! Reads the gitlinks (submodule entries, mode 160000) out of a git index file, without
//! running git. Workspace protection needs them: `git status` on the host enters every
//! gitlink's directory and runs git there, with that directory's own `.git` config, so
//! each one must be protected — and the index, not the session-writable `.gitmodules`,
//! is what git goes by.
//!
//! The format (gitformat-index(5)): a 12-byte header (`DIRC`, version 2, 3 or 4, entry
//! count), then entries: ten 32-bit stat fields (the mode is the 7th), the object id
//! (20 bytes, or 32 in a SHA-256 repository), 16-bit flags (plus 16 more in version 3+
//! when the extended bit is set), then the path: NUL-terminated and padded to a multiple
//! of 8 bytes (versions 2 and 3), or prefix-compressed (version 4: a varint of bytes to
//! drop from the previous path, then the NUL-terminated rest, no padding).

/// Mode of a gitlink entry.
const GITLINK: u32 = 0o160000;
/// Bytes of the ten stat fields.
const STAT_LEN: usize = 40;
const EXTENDED_FLAG: u16 = 0x4000;

/// Why an index could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexError(pub String);

impl std::fmt::Display for IndexError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(what: impl Into<String>) -> Result<T, IndexError> {
    Err(IndexError(what.into()))
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], IndexError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.data.len());
        match end {
            Some(end) => {
                let s = &self.data[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => err("the index ends in the middle of an entry"),
        }
    }

    fn u16(&mut self) -> Result<u16, IndexError> {
        Ok(u16::from_be_bytes(self.take(2)?.try_into().expect("2 bytes")))
    }

    fn u32(&mut self) -> Result<u32, IndexError> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    /// Git's offset varint (version 4): 7 bits per byte, each continuation adds one.
    fn varint(&mut self) -> Result<usize, IndexError> {
        let mut b = self.take(1)?[0];
        let mut v = (b & 0x7f) as usize;
        while b & 0x80 != 0 {
            b = self.take(1)?[0];
            v = v.checked_add(1).and_then(|v| v.checked_mul(128)).ok_or_else(|| IndexError("bad varint".into()))?
                | (b & 0x7f) as usize;
        }
        Ok(v)
    }

    fn until_nul(&mut self) -> Result<&'a [u8], IndexError> {
        let rest = &self.data[self.pos..];
        let n = rest.iter().position(|b| *b == 0).ok_or_else(|| IndexError("a path without its NUL".into()))?;
        let s = &rest[..n];
        self.pos += n + 1;
        Ok(s)
    }
}

/// The gitlink paths of an index (relative to its worktree, `/`-separated, as stored).
/// `hash_len` is 20 (SHA-1) or 32 (SHA-256).
pub fn gitlinks(data: &[u8], hash_len: usize) -> Result<Vec<String>, IndexError> {
    let mut c = Cursor { data, pos: 0 };
    if c.take(4)? != b"DIRC" {
        return err("not a git index (no DIRC signature)");
    }
    let version = c.u32()?;
    if !(2..=4).contains(&version) {
        return err(format!("index version {version} is not 2, 3 or 4"));
    }
    let count = c.u32()?;
    let mut out = Vec::new();
    let mut previous: Vec<u8> = Vec::new();
    for _ in 0..count {
        let start = c.pos;
        let stat = c.take(STAT_LEN)?;
        let mode = u32::from_be_bytes(stat[24..28].try_into().expect("4 bytes"));
        c.take(hash_len)?;
        let flags = c.u16()?;
        if version >= 3 && flags & EXTENDED_FLAG != 0 {
            c.u16()?;
        }
        let path = if version == 4 {
            let strip = c.varint()?;
            if strip > previous.len() {
                return err("a prefix-compressed path strips more than the previous path");
            }
            previous.truncate(previous.len() - strip);
            previous.extend_from_slice(c.until_nul()?);
            previous.clone()
        } else {
            let p = c.until_nul()?.to_vec();
            // Entries are padded with NULs to a multiple of 8 bytes (at least one NUL,
            // already consumed).
            let len = c.pos - start;
            let padded = len.div_ceil(8) * 8;
            c.take(padded - len)?;
            p
        };
        if mode == GITLINK {
            match String::from_utf8(path) {
                Ok(p) => out.push(p),
                Err(_) => return err("a gitlink path that is not UTF-8"),
            }
        }
    }
    Ok(out)
}

/// The object id length of a repository from its config text: 32 when
/// `extensions.objectFormat = sha256`, else 20.
pub fn hash_len(config: &str) -> usize {
    let mut in_extensions = false;
    for line in config.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            in_extensions = l.trim_start_matches('[').trim_end_matches(']').trim().eq_ignore_ascii_case("extensions");
            continue;
        }
        if in_extensions
            && let Some((k, v)) = l.split_once('=')
            && k.trim().eq_ignore_ascii_case("objectformat")
            && v.trim().eq_ignore_ascii_case("sha256")
        {
            return 32;
        }
    }
    20
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One entry as git writes it (versions 2 and 3, or 4 with `strip`).
    fn entry(version: u32, mode: u32, path: &str, hash_len: usize, previous: &str) -> Vec<u8> {
        let mut e = vec![0u8; 24];
        e.extend_from_slice(&mode.to_be_bytes());
        e.extend_from_slice(&[0u8; 12]);
        e.extend_from_slice(&vec![0xab; hash_len]);
        let extended = version == 3 && path.contains("ext");
        let flags = (path.len().min(0xfff) as u16) | if extended { EXTENDED_FLAG } else { 0 };
        e.extend_from_slice(&flags.to_be_bytes());
        if extended {
            e.extend_from_slice(&0x2000u16.to_be_bytes());
        }
        if version == 4 {
            let common = previous.bytes().zip(path.bytes()).take_while(|(a, b)| a == b).count();
            let strip = previous.len() - common;
            assert!(strip < 128, "test helper writes one-byte varints");
            e.push(strip as u8);
            e.extend_from_slice(&path.as_bytes()[common..]);
            e.push(0);
        } else {
            e.extend_from_slice(path.as_bytes());
            e.push(0);
            while !e.len().is_multiple_of(8) {
                e.push(0);
            }
        }
        e
    }

    fn index(version: u32, entries: &[(u32, &str)], hash_len: usize) -> Vec<u8> {
        let mut d = b"DIRC".to_vec();
        d.extend_from_slice(&version.to_be_bytes());
        d.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        let mut previous = "";
        for (mode, path) in entries {
            d.extend_from_slice(&entry(version, *mode, path, hash_len, previous));
            previous = path;
        }
        d.extend_from_slice(&[0u8; 20]); // trailing checksum, not read
        d
    }

    const ENTRIES: &[(u32, &str)] = &[
        (0o100644, ".gitmodules"),
        (GITLINK, "lib/a"),
        (0o100755, "lib/a-script.sh"),
        (GITLINK, "lib/ext-sub"),
        (0o120000, "link"),
        (GITLINK, "vendored"),
    ];

    #[test]
    fn gitlinks_of_every_index_version_and_hash() {
        for version in [2, 3, 4] {
            for hash in [20, 32] {
                let got = gitlinks(&index(version, ENTRIES, hash), hash).unwrap();
                assert_eq!(got, ["lib/a", "lib/ext-sub", "vendored"], "version {version}, hash {hash}");
            }
        }
    }

    #[test]
    fn broken_indexes_are_errors_not_panics() {
        let good = index(2, ENTRIES, 20);
        assert!(gitlinks(b"", 20).is_err());
        assert!(gitlinks(b"DIRX\0\0\0\x02\0\0\0\0", 20).is_err());
        assert!(gitlinks(b"DIRC\0\0\0\x09\0\0\0\0", 20).is_err());
        for cut in [13, 40, 70, good.len() / 2] {
            assert!(gitlinks(&good[..cut], 20).is_err(), "cut at {cut}");
        }
        let mut lying = good.clone();
        lying[8..12].copy_from_slice(&1000u32.to_be_bytes());
        assert!(gitlinks(&lying, 20).is_err(), "more entries announced than present");
        let mut v4 = index(4, &[(GITLINK, "a")], 20);
        let strip_at = 12 + STAT_LEN + 20 + 2;
        v4[strip_at] = 5;
        assert!(gitlinks(&v4, 20).is_err(), "strips more than the previous path");
    }

    #[test]
    fn the_object_format_comes_from_the_config() {
        assert_eq!(hash_len("[core]\n\tbare = false\n"), 20);
        assert_eq!(hash_len("[core]\n[extensions]\n\tobjectFormat = sha256\n"), 32);
        assert_eq!(hash_len("[core]\n\tobjectFormat = sha256\n"), 20, "only in [extensions]");
    }

    /// An index written by the real git (when it is installed, as on every test machine).
    #[test]
    fn an_index_written_by_git_is_read() {
        let t = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            std::process::Command::new("git")
                .args(args)
                .current_dir(t.path())
                .env("HOME", t.path())
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .output()
        };
        let Ok(out) = git(&["init", "-q"]) else {
            panic!("git is needed for this test (scripts/setup installs it)");
        };
        assert!(out.status.success());
        std::fs::write(t.path().join("f"), "x").unwrap();
        let oid = "1234567890123456789012345678901234567890";
        for args in [
            vec!["add", "f"],
            vec!["update-index", "--add", "--cacheinfo", &format!("160000,{oid},deps/one")],
            vec!["update-index", "--add", "--cacheinfo", &format!("160000,{oid},z")],
        ] {
            assert!(git(&args).unwrap().status.success(), "{args:?}");
        }
        let data = std::fs::read(t.path().join(".git/index")).unwrap();
        assert_eq!(gitlinks(&data, 20).unwrap(), ["deps/one", "z"]);
        assert!(git(&["update-index", "--index-version", "4"]).unwrap().status.success());
        let data = std::fs::read(t.path().join(".git/index")).unwrap();
        assert_eq!(gitlinks(&data, 20).unwrap(), ["deps/one", "z"]);
    }
}
