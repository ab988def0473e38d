//! The TLS side of the web configuration: a rustls server configuration built from
//! the toolkit's `tls_server_config`, rebuilt when its files change on disk.
//!
//! Certificates are rotated by replacing files (cert-manager, certbot, a Vault agent),
//! and an exporter must not need a restart for that. The toolkit re-reads the files on
//! every handshake; here their metadata (device, inode, length, modification time) is
//! compared at most once per second, at a connection's accept, and the configuration
//! is rebuilt only when it changed. A new certificate that does not load (half-written,
//! key not matching yet) keeps the old one serving and is logged; it is tried again
//! when the files change once more. The client CA file is watched the same way.
//!
//! Whatever rustls cannot do is refused at start rather than weakened: TLS 1.0/1.1,
//! the client-auth modes that accept a certificate without verifying it, and
//! `client_allowed_sans` (an allow-list this exporter does not check). Where Go falls
//! back to system roots (`VerifyClientCertIfGiven` without a client CA), the
//! Mozilla roots compiled in (webpki-roots) stand in for them, so the file means the
//! same on every host; requiring a certificate from any public CA is refused, as an
//! allow-list it is not.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{NamedGroup, RootCertStore, ServerConfig, SupportedProtocolVersion};

use super::file::TlsFile;
use crate::files::read_small_file;

/// How often, at most, the files' metadata is compared.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// The largest certificate, key or CA file read.
const MAX_PEM_BYTES: u64 = 1 << 20;

/// The cipher suites Go's `tls.CipherSuites()` names, which the toolkit accepts.
/// rustls implements the TLS 1.2 AEAD ones; the others are skipped with a warning
/// (TLS 1.3 suites are not configurable in Go either).
const GO_CIPHER_SUITES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
];

/// Where a PEM blob comes from: a file (watched) or the web configuration itself.
#[derive(Debug, Clone)]
enum Source {
    File(PathBuf),
    Inline(Vec<u8>),
}

impl Source {
    fn read(&self, what: &str) -> Result<Vec<u8>, String> {
        match self {
            Source::File(path) => read_small_file(path, MAX_PEM_BYTES, what),
            Source::Inline(bytes) => Ok(bytes.clone()),
        }
    }

    fn describe(&self, key: &str, inline_key: &str) -> String {
        match self {
            Source::File(path) => format!("{key} {}", path.display()),
            Source::Inline(_) => inline_key.to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum ClientAuth {
    None,
    VerifyIfGiven,
    Require,
}

/// A file's identity and content version, as far as metadata tells.
type Stamp = Option<(u64, u64, u64, i64, i64)>;

fn stamp(source: &Source) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    match source {
        Source::Inline(_) => None,
        Source::File(path) => std::fs::metadata(path)
            .ok()
            .map(|m| (m.dev(), m.ino(), m.len(), m.mtime(), m.mtime_nsec())),
    }
}

/// The TLS settings of one web configuration, and the server configuration built
/// from their files.
pub(super) struct Tls {
    spec: Spec,
    live: Mutex<Live>,
}

/// What the configuration says; the files it names are read by [`Spec::build`].
struct Spec {
    cert: Source,
    key: Source,
    client_ca: Option<Source>,
    client_auth: ClientAuth,
    versions: Vec<&'static SupportedProtocolVersion>,
    provider: Arc<CryptoProvider>,
    ignore_client_order: bool,
}

struct Live {
    config: Arc<ServerConfig>,
    /// The files' stamps when the last build was attempted (successful or not).
    stamps: Vec<Stamp>,
    checked: Instant,
}

impl Tls {
    /// Checks `tls_server_config` and loads its certificates; `Ok(None)` when the
    /// section configures no TLS at all.
    pub(super) fn from_file(
        file: &TlsFile,
        dir: &std::path::Path,
        warnings: &mut Vec<String>,
    ) -> Result<Option<Tls>, String> {
        let text = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        let cert_file = super::file::resolve(dir, file.cert_file.as_ref());
        let key_file = super::file::resolve(dir, file.key_file.as_ref());
        let ca_file = super::file::resolve(dir, file.client_ca_file.as_ref());
        let (cert, key, ca) = (text(&file.cert), text(&file.key), text(&file.client_ca));
        let auth_type = text(&file.client_auth_type);
        let enabled = cert_file.is_some()
            || key_file.is_some()
            || ca_file.is_some()
            || cert.is_some()
            || key.is_some()
            || ca.is_some()
            || auth_type.is_some();
        if !enabled {
            let other = file.cipher_suites.is_some()
                || file.curve_preferences.is_some()
                || file.min_version.is_some()
                || file.max_version.is_some()
                || file.client_allowed_sans.is_some();
            if other {
                return Err("tls_server_config sets TLS options but no certificate: \
                            add cert_file and key_file, or remove the section to serve plain HTTP"
                    .into());
            }
            return Ok(None);
        }
        let cert = match (cert_file, cert) {
            (Some(_), Some(_)) => {
                return Err("tls_server_config: set cert or cert_file, not both".into());
            }
            (Some(p), None) => Source::File(p),
            (None, Some(t)) => Source::Inline(t.into_bytes()),
            (None, None) => {
                return Err("tls_server_config: missing one of cert or cert_file".into());
            }
        };
        let key = match (key_file, key) {
            (Some(_), Some(_)) => {
                return Err("tls_server_config: set key or key_file, not both".into());
            }
            (Some(p), None) => Source::File(p),
            (None, Some(t)) => Source::Inline(t.into_bytes()),
            (None, None) => return Err("tls_server_config: missing one of key or key_file".into()),
        };
        let client_ca = match (ca_file, ca) {
            (Some(_), Some(_)) => {
                return Err("tls_server_config: set client_ca or client_ca_file, not both".into());
            }
            (Some(p), None) => Some(Source::File(p)),
            (None, Some(t)) => Some(Source::Inline(t.into_bytes())),
            (None, None) => None,
        };
        let client_auth = match auth_type.as_deref() {
            None | Some("NoClientCert") => ClientAuth::None,
            Some("VerifyClientCertIfGiven") => ClientAuth::VerifyIfGiven,
            Some("RequireAndVerifyClientCert") => ClientAuth::Require,
            Some("RequestClientCert" | "RequireAnyClientCert" | "RequireClientCert") => {
                return Err("tls_server_config: client_auth_type RequestClientCert and \
                            RequireAnyClientCert accept client certificates without verifying \
                            them, and are not supported: use RequireAndVerifyClientCert (or \
                            VerifyClientCertIfGiven) with client_ca_file"
                    .into());
            }
            Some(_) => {
                return Err(
                    "tls_server_config: invalid client_auth_type (use NoClientCert, \
                            VerifyClientCertIfGiven or RequireAndVerifyClientCert)"
                        .into(),
                );
            }
        };
        match (client_auth, &client_ca) {
            (ClientAuth::None, Some(_)) => {
                return Err(
                    "tls_server_config: a client CA is configured without a client \
                            auth policy: set client_auth_type: RequireAndVerifyClientCert"
                        .into(),
                );
            }
            (ClientAuth::Require, None) => {
                return Err(
                    "tls_server_config: client_auth_type RequireAndVerifyClientCert \
                            needs client_ca_file (or client_ca)"
                        .into(),
                );
            }
            _ => {}
        }
        if file
            .client_allowed_sans
            .as_ref()
            .is_some_and(|s| !s.is_empty())
        {
            return Err(
                "tls_server_config: client_allowed_sans is not supported by this \
                        exporter; restrict clients with a dedicated client_ca_file instead"
                    .into(),
            );
        }
        let min = version(file.min_version.as_deref(), "min_version")?.unwrap_or(2);
        let max = version(file.max_version.as_deref(), "max_version")?.unwrap_or(3);
        if min > max {
            return Err("tls_server_config: min_version is above max_version".into());
        }
        let versions: Vec<&'static SupportedProtocolVersion> =
            [(2, &rustls::version::TLS12), (3, &rustls::version::TLS13)]
                .into_iter()
                .filter(|(v, _)| (min..=max).contains(v))
                .map(|(_, p)| p)
                .collect();
        let provider = provider(file, max >= 2 && min <= 2, warnings)?;
        let spec = Spec {
            cert,
            key,
            client_ca,
            client_auth,
            versions,
            provider: Arc::new(provider),
            ignore_client_order: file.prefer_server_cipher_suites.unwrap_or(true),
        };
        let stamps = spec.stamps();
        let config = Arc::new(spec.build()?);
        let tls = Tls {
            spec,
            live: Mutex::new(Live {
                config,
                stamps,
                checked: Instant::now(),
            }),
        };
        Ok(Some(tls))
    }

    fn live(&self) -> std::sync::MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The configuration for a connection just accepted: the current one, rebuilt
    /// first if the files changed since the last look (at most once per second).
    pub(super) fn config(&self) -> Arc<ServerConfig> {
        let mut live = self.live();
        if live.checked.elapsed() >= CHECK_EVERY {
            live.checked = Instant::now();
            let stamps = self.spec.stamps();
            if stamps != live.stamps {
                live.stamps = stamps;
                match self.spec.build() {
                    Ok(config) => {
                        live.config = Arc::new(config);
                        tracing::info!("TLS certificate files changed: reloaded them");
                    }
                    Err(e) => tracing::warn!(
                        error = %e,
                        "TLS certificate files changed but do not load; still serving the previous certificate"
                    ),
                }
            }
        }
        Arc::clone(&live.config)
    }
}

impl Spec {
    fn stamps(&self) -> Vec<Stamp> {
        [Some(&self.cert), Some(&self.key), self.client_ca.as_ref()]
            .into_iter()
            .flatten()
            .map(stamp)
            .collect()
    }

    /// Reads the files and builds a server configuration from them.
    fn build(&self) -> Result<ServerConfig, String> {
        let cert_name = self.cert.describe("cert_file", "cert");
        let key_name = self.key.describe("key_file", "key");
        let certs = CertificateDer::pem_slice_iter(&self.cert.read("certificate")?)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| format!("{cert_name}: not a PEM certificate"))?;
        if certs.is_empty() {
            return Err(format!("{cert_name}: holds no PEM certificate"));
        }
        // The key's own parse error is not shown: nothing of a key reaches a log.
        let key = PrivateKeyDer::from_pem_slice(&self.key.read("private key")?)
            .map_err(|_| format!("{key_name}: holds no PEM private key"))?;
        let builder = ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_protocol_versions(&self.versions)
            .map_err(|e| format!("tls_server_config: {e}"))?;
        let client_roots = match (&self.client_ca, self.client_auth) {
            (_, ClientAuth::None) => None,
            (Some(ca), _) => {
                let ca_name = ca.describe("client_ca_file", "client_ca");
                let mut roots = RootCertStore::empty();
                for der in CertificateDer::pem_slice_iter(&ca.read("client CA")?) {
                    let der = der.map_err(|_| format!("{ca_name}: not a PEM certificate"))?;
                    roots
                        .add(der)
                        .map_err(|e| format!("{ca_name}: unusable CA certificate: {e}"))?;
                }
                if roots.is_empty() {
                    return Err(format!("{ca_name}: holds no PEM certificate"));
                }
                Some((roots, ca_name))
            }
            // Go verifies against the system roots here.
            (None, _) => Some((
                webpki_roots::TLS_SERVER_ROOTS.iter().cloned().collect(),
                "client_auth_type".to_string(),
            )),
        };
        let builder = match client_roots {
            Some((roots, ca_name)) => {
                let verifier = WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    Arc::clone(&self.provider),
                );
                let verifier = if self.client_auth == ClientAuth::VerifyIfGiven {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                let verifier = verifier.build().map_err(|e| format!("{ca_name}: {e}"))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(certs, key)
            .map_err(|e| format!("{cert_name} and {key_name}: {e}"))?;
        config.ignore_client_order = self.ignore_client_order;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// `TLS12` → 2, `TLS13` → 3.
fn version(v: Option<&str>, key: &str) -> Result<Option<u8>, String> {
    match v.filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some("TLS12") => Ok(Some(2)),
        Some("TLS13") => Ok(Some(3)),
        Some("TLS10" | "TLS11") => Err(format!(
            "tls_server_config: {key}: TLS 1.0 and 1.1 are not offered (rustls implements \
             TLS 1.2 and 1.3): use TLS12 or TLS13"
        )),
        Some(_) => Err(format!(
            "tls_server_config: {key}: unknown TLS version (use TLS12 or TLS13)"
        )),
    }
}

/// The ring provider, narrowed to the configured cipher suites and curves.
fn provider(
    file: &TlsFile,
    tls12: bool,
    warnings: &mut Vec<String>,
) -> Result<CryptoProvider, String> {
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(names) = &file.cipher_suites {
        let mut chosen: Vec<_> = provider
            .cipher_suites
            .iter()
            .filter(|s| s.version() == &rustls::version::TLS13)
            .copied()
            .collect();
        let mut tls12_chosen = 0;
        for name in names {
            let found = provider.cipher_suites.iter().find(|s| {
                s.version() == &rustls::version::TLS12 && format!("{:?}", s.suite()) == *name
            });
            match found {
                Some(s) => {
                    chosen.push(*s);
                    tls12_chosen += 1;
                }
                None if GO_CIPHER_SUITES.contains(&name.as_str()) => warnings.push(format!(
                    "tls_server_config: cipher suite {name} is not offered (rustls implements \
                     only the TLS 1.2 AEAD suites; TLS 1.3 suites are not configurable)"
                )),
                None => {
                    return Err(format!("tls_server_config: unknown cipher suite {name}"));
                }
            }
        }
        if tls12 && tls12_chosen == 0 {
            return Err(
                "tls_server_config: none of cipher_suites is available for TLS 1.2 \
                        (rustls implements the ECDHE AES-GCM and ChaCha20-Poly1305 suites)"
                    .into(),
            );
        }
        provider.cipher_suites = chosen;
    }
    if let Some(names) = &file.curve_preferences {
        let mut chosen = Vec::new();
        for name in names {
            let group = match name.as_str() {
                "CurveP256" => NamedGroup::secp256r1,
                "CurveP384" => NamedGroup::secp384r1,
                "X25519" => NamedGroup::X25519,
                "CurveP521" => {
                    warnings.push(
                        "tls_server_config: curve CurveP521 is not offered (rustls with ring \
                         implements X25519, CurveP256 and CurveP384)"
                            .into(),
                    );
                    continue;
                }
                _ => return Err(format!("tls_server_config: unknown curve {name}")),
            };
            if let Some(kx) = provider.kx_groups.iter().find(|k| k.name() == group) {
                chosen.push(*kx);
            }
        }
        if chosen.is_empty() {
            warnings.push(
                "tls_server_config: none of curve_preferences is offered; offering the \
                 default curves (X25519, CurveP256, CurveP384)"
                    .into(),
            );
        } else {
            provider.kx_groups = chosen;
        }
    }
    Ok(provider)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustls_names_its_suites_as_go_does() {
        let provider = rustls::crypto::ring::default_provider();
        let names: Vec<String> = provider
            .cipher_suites
            .iter()
            .filter(|s| s.version() == &rustls::version::TLS12)
            .map(|s| format!("{:?}", s.suite()))
            .collect();
        assert!(!names.is_empty());
        for n in &names {
            assert!(GO_CIPHER_SUITES.contains(&n.as_str()), "{n}");
        }
    }

    fn tls_file(yaml: &str) -> TlsFile {
        super::super::file::parse(yaml)
            .unwrap()
            .tls_server_config
            .unwrap_or_default()
    }

    #[test]
    fn weaker_or_unknown_settings_are_refused() {
        let dir = std::path::Path::new("/nonexistent");
        let mut w = Vec::new();
        for (yaml, expect) in [
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAnyClientCert\n  client_ca_file: c\n",
                "without verifying",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequestClientCert\n  client_ca_file: c\n",
                "without verifying",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n",
                "RequireAndVerifyClientCert needs client_ca_file",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  max_version: TLS11\n",
                "TLS 1.0 and 1.1 are not offered",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: c\n",
                "without a client auth policy",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS10\n",
                "TLS 1.0 and 1.1 are not offered",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS111\n",
                "unknown TLS version",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n  max_version: TLS12\n",
                "above max_version",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: c\n  client_allowed_sans: [x]\n",
                "client_allowed_sans is not supported",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [TLS_INVENTED]\n",
                "unknown cipher suite",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA]\n",
                "none of cipher_suites",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  curve_preferences: [CurveInvented]\n",
                "unknown curve",
            ),
            ("tls_server_config:\n  cert_file: a\n", "missing one of key"),
            ("tls_server_config:\n  key_file: b\n", "missing one of cert"),
            (
                "tls_server_config:\n  min_version: TLS13\n",
                "no certificate",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n",
                "cannot read /nonexistent/a",
            ),
        ] {
            let err = match Tls::from_file(&tls_file(yaml), dir, &mut w) {
                Err(e) => e,
                Ok(_) => panic!("accepted: {yaml}"),
            };
            assert!(err.contains(expect), "{yaml}: {err}");
        }
        assert!(
            Tls::from_file(&tls_file("tls_server_config:\n"), dir, &mut w)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn versions_suites_and_curves_narrow_the_provider() {
        let mut w = Vec::new();
        let f = tls_file(
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  \
             cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]\n  \
             curve_preferences: [CurveP521, CurveP384]\n",
        );
        let p = provider(&f, true, &mut w).unwrap();
        let tls12: Vec<_> = p
            .cipher_suites
            .iter()
            .filter(|s| s.version() == &rustls::version::TLS12)
            .map(|s| format!("{:?}", s.suite()))
            .collect();
        assert_eq!(tls12, ["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"]);
        assert_eq!(p.kx_groups.len(), 1);
        assert_eq!(w.len(), 2, "{w:?}");
        // Only curves rustls lacks: the defaults, with a warning.
        let mut w = Vec::new();
        let f = tls_file(
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  curve_preferences: [CurveP521]\n",
        );
        let p = provider(&f, true, &mut w).unwrap();
        assert_eq!(
            p.kx_groups.len(),
            rustls::crypto::ring::default_provider().kx_groups.len()
        );
        assert!(
            w.iter().any(|w| w.contains("offering the default curves")),
            "{w:?}"
        );
        assert_eq!(version(Some("TLS13"), "min_version").unwrap(), Some(3));
        assert_eq!(version(Some(""), "min_version").unwrap(), None);
    }
}
