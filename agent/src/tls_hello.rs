//! Reads the server name (SNI) a TLS client asks for from its first bytes, so the egress
//! enforcer can refuse a tunnel whose TLS names another host than the one it was opened
//! to (domain fronting). Only the ClientHello is read; nothing is decrypted.

/// What the first bytes of a tunnel say.
#[derive(Debug, PartialEq, Eq)]
pub enum Hello {
    /// Not TLS (the first byte is not a handshake record): nothing to check.
    NotTls,
    /// More bytes are needed to see the whole ClientHello.
    Incomplete,
    /// A ClientHello, with the server name when it has one.
    Sni(Option<String>),
    /// TLS that does not parse as a ClientHello.
    Malformed(&'static str),
}

/// The largest ClientHello accepted (post-quantum key shares make them a few KiB).
pub const MAX_HELLO: usize = 64 * 1024;

const HANDSHAKE: u8 = 22;
const CLIENT_HELLO: u8 = 1;
const SERVER_NAME: u16 = 0;
const HOST_NAME: u8 = 0;

/// Judges the bytes a client sent first (all of them so far).
pub fn parse(buf: &[u8]) -> Hello {
    match buf.first() {
        None => return Hello::Incomplete,
        Some(&b) if b != HANDSHAKE => return Hello::NotTls,
        Some(_) => {}
    }
    // The handshake message may span records: gather their payloads.
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let Some(header) = buf.get(at..at + 5) else { return Hello::Incomplete };
        if header[0] != HANDSHAKE {
            return Hello::Malformed("a record other than handshake before the ClientHello ended");
        }
        if header[1] != 3 {
            return Hello::Malformed("not a TLS record version");
        }
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        if len == 0 {
            return Hello::Malformed("an empty handshake record");
        }
        let Some(payload) = buf.get(at + 5..at + 5 + len) else { return Hello::Incomplete };
        body.extend_from_slice(payload);
        at += 5 + len;
        if body.len() >= 4 {
            if body[0] != CLIENT_HELLO {
                return Hello::Malformed("the first handshake message is not a ClientHello");
            }
            let need = 4 + (usize::from(body[1]) << 16 | usize::from(body[2]) << 8 | usize::from(body[3]));
            if need > MAX_HELLO {
                return Hello::Malformed("a ClientHello larger than 64 KiB");
            }
            if body.len() >= need {
                return match server_name(&body[4..need]) {
                    Ok(name) => Hello::Sni(name),
                    Err(why) => Hello::Malformed(why),
                };
            }
        }
        if at > MAX_HELLO + 5 * 16 {
            return Hello::Malformed("a ClientHello larger than 64 KiB");
        }
    }
}

/// A cursor over the ClientHello body.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if self.0.len() < n {
            return Err("a ClientHello field runs past its end");
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, &'static str> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, &'static str> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn vec8(&mut self) -> Result<&'a [u8], &'static str> {
        let n = usize::from(self.u8()?);
        self.take(n)
    }
    fn vec16(&mut self) -> Result<&'a [u8], &'static str> {
        let n = usize::from(self.u16()?);
        self.take(n)
    }
}

fn server_name(hello: &[u8]) -> Result<Option<String>, &'static str> {
    let mut r = Reader(hello);
    r.take(2 + 32)?; // legacy version, random
    r.vec8()?; // session id
    r.vec16()?; // cipher suites
    r.vec8()?; // compression methods
    if r.0.is_empty() {
        return Ok(None); // no extensions at all
    }
    let mut exts = Reader(r.vec16()?);
    let mut found = None;
    while !exts.0.is_empty() {
        let kind = exts.u16()?;
        let data = exts.vec16()?;
        if kind != SERVER_NAME {
            continue;
        }
        if found.is_some() {
            return Err("two server_name extensions");
        }
        let mut list = Reader(data);
        let mut names = Reader(list.vec16()?);
        while !names.0.is_empty() {
            let name_type = names.u8()?;
            let name = names.vec16()?;
            if name_type != HOST_NAME {
                continue;
            }
            if found.is_some() {
                return Err("two host names in server_name");
            }
            let text = std::str::from_utf8(name).map_err(|_| "a server name that is not ASCII")?;
            found = Some(text.to_string());
        }
    }
    Ok(found)
}

/// A ClientHello for tests: `sni` as the server name (or none), split into records of
/// at most `record` bytes of payload.
#[cfg(test)]
pub fn client_hello(sni: Option<&str>, record: usize) -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7; 32]);
    body.push(0); // session id
    body.extend_from_slice(&[0, 2, 0x13, 0x01]); // one cipher suite
    body.extend_from_slice(&[1, 0]); // null compression
    let mut exts = Vec::new();
    // An extension before the name, to be skipped.
    exts.extend_from_slice(&[0, 10, 0, 4, 0, 2, 0, 29]);
    if let Some(name) = sni {
        let n = name.len() as u16;
        exts.extend_from_slice(&SERVER_NAME.to_be_bytes());
        exts.extend_from_slice(&(n + 5).to_be_bytes());
        exts.extend_from_slice(&(n + 3).to_be_bytes());
        exts.push(HOST_NAME);
        exts.extend_from_slice(&n.to_be_bytes());
        exts.extend_from_slice(name.as_bytes());
    }
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    let mut msg = vec![CLIENT_HELLO, 0, (body.len() >> 8) as u8, body.len() as u8];
    msg.extend_from_slice(&body);
    let mut out = Vec::new();
    for piece in msg.chunks(record) {
        out.extend_from_slice(&[HANDSHAKE, 3, 1, (piece.len() >> 8) as u8, piece.len() as u8]);
        out.extend_from_slice(piece);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_name_is_read_from_one_or_many_records() {
        for record in [16 * 1024, 40, 7] {
            let hello = client_hello(Some("api.example.com"), record);
            assert_eq!(parse(&hello), Hello::Sni(Some("api.example.com".into())), "records of {record}");
            for cut in 0..hello.len() {
                assert_eq!(parse(&hello[..cut]), Hello::Incomplete, "cut at {cut} of {}", hello.len());
            }
        }
        assert_eq!(parse(&client_hello(None, 1000)), Hello::Sni(None));
    }

    #[test]
    fn other_protocols_and_bad_hellos_are_told_apart() {
        assert_eq!(parse(b"SSH-2.0-OpenSSH_9.2\r\n"), Hello::NotTls);
        assert_eq!(parse(b"GET / HTTP/1.1\r\n"), Hello::NotTls);
        assert!(matches!(parse(&[22, 9, 1, 0, 1, 1]), Hello::Malformed(_)));
        assert!(matches!(parse(&[22, 3, 1, 0, 0]), Hello::Malformed(_)));
        // A ServerHello (type 2) where a ClientHello should be.
        let mut h = client_hello(Some("a.test"), 1000);
        h[5] = 2;
        assert!(matches!(parse(&h), Hello::Malformed(_)));
        // A length that runs past the message.
        let mut h = client_hello(Some("a.test"), 1000);
        let last = h.len() - 1;
        h[last - 6] = 0xff;
        assert!(matches!(parse(&h), Hello::Malformed(_)), "{:?}", parse(&h));
        // A handshake length beyond the cap.
        assert!(matches!(parse(&[22, 3, 1, 0, 4, 1, 0x10, 0, 0]), Hello::Malformed(_)));
    }
}
