//! Credentials injected outside the session: for a host the policy gives a credential,
//! the enforcer terminates the session's TLS with a certificate of the session's own CA
//! (which the session trusts), connects to the real host with TLS it verifies, and adds
//! the header to the request. The secret lives in the enforcer's memory only; it is
//! removed from anything the host sends back (a server that echoes request headers
//! cannot hand it to the session). Hosts without a credential are never terminated.

use std::collections::HashMap;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use sandbox_proto::layout;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

/// The secrets the enforcer was given at launch, by [`sandbox_proto::egress::Credential::key`].
pub type Secrets = HashMap<String, Vec<u8>>;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The session CA and the TLS settings made from it.
pub struct Tls {
    ca_cert: rcgen::Certificate,
    ca_key: KeyPair,
    ca_der: CertificateDer<'static>,
    leaves: Mutex<HashMap<String, Arc<ServerConfig>>>,
    /// How the enforcer connects to the real hosts.
    pub client: Arc<ClientConfig>,
}

const CA_NAME: &str = "sandbox session egress CA";

fn ca_params() -> Result<CertificateParams, String> {
    let mut p = CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.distinguished_name.push(DnType::CommonName, CA_NAME);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    Ok(p)
}

impl Tls {
    /// Loads the session CA from the host-private control dir, or makes one (its key
    /// readable by the owner only), and the client settings: the host's trust store plus
    /// `extra_ca_files`.
    pub fn load_or_create(dir: &Path, extra_ca_files: &[std::path::PathBuf]) -> Result<Tls, String> {
        use std::os::unix::fs::OpenOptionsExt;
        let key_path = dir.join(layout::EGRESS_CA_KEY);
        let ca_key = match std::fs::read_to_string(&key_path) {
            Ok(pem) => KeyPair::from_pem(&pem).map_err(|e| format!("the session CA key: {e}"))?,
            Err(_) => {
                let key = KeyPair::generate().map_err(|e| e.to_string())?;
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&key_path)
                    .map_err(|e| format!("{}: {e}", key_path.display()))?;
                f.write_all_sync(key.serialize_pem().as_bytes())?;
                key
            }
        };
        // Signed again at each launch with the same key and name: certificates made by
        // an earlier launch, and the copy the session trusts, stay valid.
        let ca_cert = ca_params()?.self_signed(&ca_key).map_err(|e| e.to_string())?;
        let cert_path = dir.join(layout::EGRESS_CA_CERT);
        if !cert_path.exists() {
            std::fs::write(&cert_path, ca_cert.pem()).map_err(|e| format!("{}: {e}", cert_path.display()))?;
        }
        let ca_der = ca_cert.der().clone();
        let mut roots = RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        for f in extra_ca_files {
            let certs = CertificateDer::pem_file_iter(f).map_err(|e| format!("CA file {}: {e}", f.display()))?;
            for c in certs {
                roots.add(c.map_err(|e| format!("CA file {}: {e}", f.display()))?).map_err(|e| e.to_string())?;
            }
        }
        let mut client = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        client.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls { ca_cert, ca_key, ca_der, leaves: Mutex::new(HashMap::new()), client: Arc::new(client) })
    }

    /// The server settings for `host`: a certificate for it, made once.
    pub fn server_for(&self, host: &str) -> Result<Arc<ServerConfig>, String> {
        let mut leaves = self.leaves.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = leaves.get(host) {
            return Ok(c.clone());
        }
        let mut p = CertificateParams::new(vec![host.to_string()]).map_err(|e| e.to_string())?;
        p.distinguished_name.push(DnType::CommonName, host);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        let key = KeyPair::generate().map_err(|e| e.to_string())?;
        let leaf = p.signed_by(&key, &self.ca_cert, &self.ca_key).map_err(|e| e.to_string())?;
        let der = PrivateKeyDer::try_from(key.serialize_der()).map_err(|e| e.to_string())?;
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone(), self.ca_der.clone()], der)
            .map_err(|e| e.to_string())?;
        // HTTP/1.1 only: the header is added to a request the enforcer can read.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let config = Arc::new(config);
        leaves.insert(host.to_string(), config.clone());
        Ok(config)
    }

    /// The name the enforcer verifies the real host by.
    pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
        ServerName::try_from(host.to_string()).map_err(|e| e.to_string())
    }
}

trait WriteAllSync {
    fn write_all_sync(&mut self, b: &[u8]) -> Result<(), String>;
}

impl WriteAllSync for std::fs::File {
    fn write_all_sync(&mut self, b: &[u8]) -> Result<(), String> {
        std::io::Write::write_all(self, b).map_err(|e| e.to_string())
    }
}

/// A stream whose first bytes were already read (a ClientHello): they are read again
/// first.
pub struct Prefixed<S> {
    prefix: Vec<u8>,
    at: usize,
    inner: S,
}

impl<S> Prefixed<S> {
    /// `prefix`, then the rest of `inner`.
    pub fn new(prefix: Vec<u8>, inner: S) -> Prefixed<S> {
        Prefixed { prefix, at: 0, inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if self.at < self.prefix.len() {
            let n = buf.remaining().min(self.prefix.len() - self.at);
            let at = self.at;
            buf.put_slice(&self.prefix[at..at + n]);
            self.at += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, b)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Replaces every occurrence of the secrets in a byte stream with asterisks, also across
/// chunk boundaries (the last `longest - 1` bytes are held back until more come).
pub struct Redactor {
    needles: Vec<Vec<u8>>,
    carry: Vec<u8>,
    longest: usize,
}

impl Redactor {
    /// Redacts `value` and, for `Scheme token` values, the token alone.
    pub fn new(value: &[u8]) -> Redactor {
        let mut needles = vec![value.to_vec()];
        if let Some(i) = value.iter().rposition(|b| *b == b' ') {
            let token = &value[i + 1..];
            if token.len() >= 8 {
                needles.push(token.to_vec());
            }
        }
        let longest = needles.iter().map(Vec::len).max().unwrap_or(1);
        Redactor { needles, carry: Vec::new(), longest }
    }

    /// The bytes that can be passed on now.
    pub fn push(&mut self, data: &[u8]) -> Vec<u8> {
        self.carry.extend_from_slice(data);
        self.scrub();
        let keep = self.longest.saturating_sub(1).min(self.carry.len());
        let out_len = self.carry.len() - keep;
        self.carry.drain(..out_len).collect()
    }

    /// What is left at the end.
    pub fn finish(&mut self) -> Vec<u8> {
        self.scrub();
        std::mem::take(&mut self.carry)
    }

    fn scrub(&mut self) {
        for n in &self.needles {
            if n.is_empty() || self.carry.len() < n.len() {
                continue;
            }
            let mut i = 0;
            while i + n.len() <= self.carry.len() {
                if self.carry[i..i + n.len()] == n[..] {
                    self.carry[i..i + n.len()].fill(b'*');
                    i += n.len();
                } else {
                    i += 1;
                }
            }
        }
    }
}

/// Copies `from` to `to` through `redactor` until `from` ends, then shuts `to` down.
pub async fn pump_redacted<R, W>(from: &mut R, to: &mut W, mut redactor: Redactor) -> std::io::Result<u64>
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            to.write_all(&redactor.finish()).await?;
            let _ = to.shutdown().await;
            return Ok(total);
        }
        to.write_all(&redactor.push(&buf[..n])).await?;
        total += n as u64;
    }
}

/// The request head sent upstream: origin form, the session's own header of the
/// credential's name dropped (and `Accept-Encoding`, so what comes back can be
/// scrubbed), hop-by-hop and proxy headers dropped, the credential added, and
/// `Connection: close` (one request per connection).
pub fn upstream_head(head: &crate::http_head::Head, path: &str, host: &str, inject: Option<(&str, &[u8])>) -> Vec<u8> {
    let mut out = format!("{} {} {}\r\n", head.method, path, head.version).into_bytes();
    let mut has_host = false;
    for (name, value) in &head.headers {
        let n = name.to_ascii_lowercase();
        let dropped = matches!(n.as_str(), "proxy-connection" | "proxy-authorization" | "connection" | "keep-alive")
            || inject.is_some_and(|(h, _)| h.eq_ignore_ascii_case(&n) || n == "accept-encoding" || n == "te");
        if dropped {
            continue;
        }
        has_host |= n == "host";
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    if !has_host {
        out.extend_from_slice(format!("Host: {host}\r\n").as_bytes());
    }
    if let Some((h, v)) = inject {
        // Uncompressed, so every copy of the value in the answer can be scrubbed.
        out.extend_from_slice(b"Accept-Encoding: identity\r\n");
        out.extend_from_slice(format!("{h}: ").as_bytes());
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_scrubbed_across_any_chunking() {
        let secret = b"Bearer s3cr3t-token-123";
        let text = b"a Bearer s3cr3t-token-123 b s3cr3t-token-123 c Bearer s3cr3t-token-12 d";
        for chunk in [1, 2, 3, 7, 100] {
            let mut r = Redactor::new(secret);
            let mut out = Vec::new();
            for piece in text.chunks(chunk) {
                out.extend(r.push(piece));
            }
            out.extend(r.finish());
            assert_eq!(out.len(), text.len(), "chunks of {chunk}: the length is kept");
            let s = String::from_utf8(out).unwrap();
            assert!(!s.contains("s3cr3t-token-123"), "chunks of {chunk}: {s}");
            assert!(s.contains("s3cr3t-token-12 d"), "a prefix of the secret is not the secret: {s}");
        }
    }

    #[test]
    fn the_upstream_head_carries_the_credential_and_not_the_sessions() {
        let raw = b"GET /x HTTP/1.1\r\nHost: api.test\r\nauthorization: forged\r\nAccept-Encoding: gzip\r\nProxy-Authorization: p\r\nConnection: keep-alive\r\nX-Other: 1\r\n\r\n";
        let head = crate::http_head::parse(raw).unwrap().unwrap();
        let out =
            String::from_utf8(upstream_head(&head, "/x", "api.test", Some(("Authorization", b"Bearer real")))).unwrap();
        assert_eq!(
            out,
            "GET /x HTTP/1.1\r\nHost: api.test\r\nX-Other: 1\r\nAccept-Encoding: identity\r\nAuthorization: Bearer real\r\nConnection: close\r\n\r\n"
        );
        let plain = String::from_utf8(upstream_head(&head, "/x", "api.test", None)).unwrap();
        assert!(plain.contains("authorization: forged") && plain.contains("Accept-Encoding: gzip"));
        assert!(!plain.contains("Proxy-Authorization") && plain.ends_with("Connection: close\r\n\r\n"));
    }

    #[test]
    fn the_session_ca_is_kept_and_signs_leaves_for_hosts() {
        let dir = tempfile::tempdir().unwrap();
        let a = Tls::load_or_create(dir.path(), &[]).unwrap();
        let pem = std::fs::read_to_string(dir.path().join(layout::EGRESS_CA_CERT)).unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.path().join(layout::EGRESS_CA_KEY)).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "the CA key is the owner's alone");
        let b = Tls::load_or_create(dir.path(), &[]).unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join(layout::EGRESS_CA_CERT)).unwrap(), pem);
        assert_eq!(a.ca_key.public_key_der(), b.ca_key.public_key_der(), "a relaunch keeps the key");
        assert!(a.server_for("api.test").is_ok());
        assert!(Arc::ptr_eq(&a.server_for("api.test").unwrap(), &a.server_for("api.test").unwrap()));
        let missing = dir.path().join("missing.pem");
        let e = Tls::load_or_create(dir.path(), &[missing]).err().expect("a missing CA file is an error");
        assert!(e.contains("missing.pem"), "{e}");
    }
}
