//! The head of an HTTP/1 request as a proxy receives it (`CONNECT host:port` or an
//! absolute-form `GET http://host/path`), parsed strictly: the egress enforcer decides
//! on what it reads here, so anything ambiguous is refused rather than guessed at.

/// The largest request head accepted.
pub const MAX_HEAD: usize = 16 * 1024;

/// A parsed request head.
#[derive(Debug, PartialEq, Eq)]
pub struct Head {
    /// The method (`CONNECT`, `GET`, ...).
    pub method: String,
    /// The request target as written.
    pub target: String,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: String,
    /// The header fields in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The length of the head, blank line included (the body starts there).
    pub len: usize,
}

impl Head {
    /// The values of header `name` (case-insensitive).
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Parses a head from the start of `buf`: `Ok(None)` while the blank line that ends it
/// has not come yet.
pub fn parse(buf: &[u8]) -> Result<Option<Head>, &'static str> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() >= MAX_HEAD { Err("a request head larger than 16 KiB") } else { Ok(None) };
    };
    if end + 4 > MAX_HEAD {
        return Err("a request head larger than 16 KiB");
    }
    let text = std::str::from_utf8(&buf[..end]).map_err(|_| "a request head that is not ASCII")?;
    if !text.is_ascii() {
        return Err("a request head that is not ASCII");
    }
    let mut lines = text.split("\r\n");
    let request = lines.next().unwrap_or_default();
    let mut parts = request.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("a request line that is not METHOD TARGET VERSION");
    };
    if method.is_empty() || !method.bytes().all(is_token) {
        return Err("a bad method");
    }
    if target.is_empty() || target.bytes().any(|b| b.is_ascii_control()) {
        return Err("a bad request target");
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err("not HTTP/1.0 or HTTP/1.1");
    }
    let mut headers = Vec::new();
    for line in lines {
        if line.starts_with(' ') || line.starts_with('\t') {
            return Err("a folded header line");
        }
        let (name, value) = line.split_once(':').ok_or("a header line without ':'")?;
        if name.is_empty() || !name.bytes().all(is_token) {
            return Err("a bad header name");
        }
        if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Err("a control character in a header value");
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    Ok(Some(Head { method: method.into(), target: target.into(), version: version.into(), headers, len: end + 4 }))
}

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Splits an authority (`host:port`, `[v6]:port`, or without the port when `default`
/// gives one) into the host as written (brackets removed) and the port.
pub fn authority(s: &str, default: Option<u16>) -> Result<(String, u16), &'static str> {
    if s.contains('@') {
        return Err("user information in the target");
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or("a '[' without ']' in the target")?;
        match after {
            "" => (h, None),
            p => (h, Some(p.strip_prefix(':').ok_or("text after ']' in the target")?)),
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p)),
            Some(_) => return Err("an IPv6 address without brackets in the target"),
            None => (s, None),
        }
    };
    if host.is_empty() {
        return Err("an empty host in the target");
    }
    let port = match port {
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return Err("a bad port in the target"),
        },
        None => default.ok_or("no port in the target")?,
    };
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_and_wait_for_the_blank_line() {
        let raw = b"CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\nrest";
        for cut in 0..raw.len() - 4 {
            assert_eq!(parse(&raw[..cut]), Ok(None), "cut {cut}");
        }
        let h = parse(raw).unwrap().unwrap();
        assert_eq!((h.method.as_str(), h.target.as_str(), h.len), ("CONNECT", "a.test:443", raw.len() - 4));
        assert_eq!(h.values("HOST").collect::<Vec<_>>(), ["a.test:443"]);
    }

    #[test]
    fn ambiguous_heads_are_refused() {
        for bad in [
            &b"GET  http://a/ HTTP/1.1\r\n\r\n"[..],
            b"GET http://a/ HTTP/2\r\n\r\n",
            b"GET http://a/ HTTP/1.1 x\r\n\r\n",
            b"GET http://a/ HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
            b"GET http://a/ HTTP/1.1\r\nNoColon\r\n\r\n",
            b"GET http://a/ HTTP/1.1\r\nBad Name: x\r\n\r\n",
            b"GET http://a/ HTTP/1.1\r\nX: a\x01b\r\n\r\n",
            b"G\xc3\xa9T http://a/ HTTP/1.1\r\n\r\n",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        assert!(parse(&vec![b'a'; MAX_HEAD]).is_err(), "an endless head is refused, not buffered");
    }

    #[test]
    fn authorities_split_into_host_and_port() {
        assert_eq!(authority("a.test:443", None), Ok(("a.test".into(), 443)));
        assert_eq!(authority("a.test", Some(80)), Ok(("a.test".into(), 80)));
        assert_eq!(authority("[::1]:8080", None), Ok(("::1".into(), 8080)));
        assert_eq!(authority("[::1]", Some(80)), Ok(("::1".into(), 80)));
        for bad in ["a.test", "a.test:0", "a.test:99999", "a.test:+80", "u@a.test:80", "::1:80", "[::1:80", ":80"] {
            assert!(authority(bad, None).is_err(), "{bad}");
        }
    }
}
