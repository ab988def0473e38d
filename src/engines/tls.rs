//! rustls client configurations with libpq's `sslmode` meanings.
//!
//! libpq encrypts without checking the certificate under `prefer` and `require`, and
//! checks it under `verify-ca` (chain only) and `verify-full` (chain and host name).
//! Users copy DSNs from their applications, so the exporter must mean the same thing
//! by the same words; rustls alone only knows "verify everything".
//!
//! Root certificates are read when the configuration is loaded, not at connect: a
//! wrong path, a FIFO or `/dev/zero` is then a configuration error instead of a
//! connect that fails, hangs or fills memory on every retry.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{
    CryptoProvider, WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

/// How much of the server certificate to check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verify {
    /// Encrypt only (libpq `prefer` / `require`).
    Nothing,
    /// The chain must lead to a trusted root (libpq `verify-ca`).
    Chain,
    /// Chain and host name (libpq `verify-full`).
    Full,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Trusted roots from a PEM file, read and checked once.
pub struct RootCerts {
    path: PathBuf,
    pem: Vec<u8>,
    store: RootCertStore,
}

impl std::fmt::Debug for RootCerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootCerts")
            .field("path", &self.path)
            .field("certificates", &self.store.len())
            .finish()
    }
}

impl RootCerts {
    /// A CA bundle as big as the whole Mozilla store is about 250 KiB.
    pub const MAX_BYTES: u64 = 1 << 20;

    /// Reads a PEM file of one or more certificates: a regular file of at most
    /// [`Self::MAX_BYTES`], every certificate in it valid as a trust anchor.
    pub fn read(path: &Path) -> Result<RootCerts, String> {
        let pem = crate::files::read_small_file(path, Self::MAX_BYTES, "certificate file")?;
        let bad = |e: &dyn std::fmt::Display| {
            format!("invalid root certificate in {}: {e}", path.display())
        };
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(&e))?;
        if certs.is_empty() {
            return Err(format!(
                "no PEM certificate (-----BEGIN CERTIFICATE-----) found in {}",
                path.display()
            ));
        }
        let mut store = RootCertStore::empty();
        for cert in certs {
            store.add(cert).map_err(|e| bad(&e))?;
        }
        Ok(RootCerts {
            path: path.to_path_buf(),
            pem,
            store,
        })
    }

    /// The file as read, for drivers that parse it themselves.
    pub fn pem(&self) -> &[u8] {
        &self.pem
    }
}

/// Builds the client configuration. Without `roots` the Mozilla roots bundled in the
/// binary are trusted.
pub fn client_config(verify: Verify, roots: Option<&RootCerts>) -> Result<ClientConfig, String> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    let algorithms = provider.signature_verification_algorithms;
    let verifier: Arc<dyn ServerCertVerifier> = match verify {
        Verify::Full => webpki(roots, provider)?,
        Verify::Chain => Arc::new(Lenient {
            chain: Some(webpki(roots, provider)?),
            algorithms,
        }),
        Verify::Nothing => Arc::new(Lenient {
            chain: None,
            algorithms,
        }),
    };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// rustls's own verifier: chain and host name.
fn webpki(
    roots: Option<&RootCerts>,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, String> {
    let store = match roots {
        Some(roots) => roots.store.clone(),
        None => webpki_roots::TLS_SERVER_ROOTS.iter().cloned().collect(),
    };
    WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider)
        .build()
        .map_err(|e| format!("TLS setup: {e}"))
}

/// libpq's weaker modes: with `chain`, a certificate whose chain is trusted is
/// accepted even if the host name differs (`verify-ca`); without, any certificate is
/// (`require`). Either way the handshake's signatures are checked, with the same
/// algorithms rustls's own verifier uses.
#[derive(Debug)]
struct Lenient {
    chain: Option<Arc<WebPkiServerVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A self-signed P-256 CA, valid until 2126.
    pub(crate) const CA: &str = "-----BEGIN CERTIFICATE-----
MIIBiTCCAS+gAwIBAgIUZRCKFdmYzM6mQagwHz02O68ImtswCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOZGJjb25uIHRlc3QgQ0EwIBcNMjYxMTI0MDEyMTU5WhgPMjEy
NjEwMzEwMTIxNTlaMBkxFzAVBgNVBAMMDmRiY29ubiB0ZXN0IENBMFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAE0d3Fu9A45GGiJwnVG1xGSo8RgdhowUF7HV3HdTP5
6oCptYvMA5zpjZo0yiQqlDvBNDr+EVUzkJzu408jsWgIKqNTMFEwHQYDVR0OBBYE
FDKbe+CZV0N2S9UPqNbEOe8SU50HMB8GA1UdIwQYMBaAFDKbe+CZV0N2S9UPqNbE
Oe8SU50HMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgOgq1jemo
xPqaUR76iWPjk+mJG4sk3rFUiivrOCte5M0CIQD0ktUmxbE+Cf7Y3J/nsWSohWTW
NdvqtouN5BG7f9YB6A==
-----END CERTIFICATE-----
";

    #[test]
    fn root_certificates_are_read_once_and_checked() {
        let dir = std::env::temp_dir().join(format!("dbconn-tls-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let one = dir.join("one.pem");
        std::fs::write(&one, CA).unwrap();
        let roots = RootCerts::read(&one).unwrap();
        assert_eq!(roots.store.len(), 1);
        assert_eq!(roots.pem(), CA.as_bytes());
        assert!(client_config(Verify::Full, Some(&roots)).is_ok());
        assert!(client_config(Verify::Chain, Some(&roots)).is_ok());
        assert!(client_config(Verify::Nothing, None).is_ok());
        assert!(client_config(Verify::Full, None).is_ok());
        let two = dir.join("two.pem");
        std::fs::write(&two, format!("{CA}{CA}")).unwrap();
        assert_eq!(RootCerts::read(&two).unwrap().store.len(), 2);

        let none = dir.join("none.pem");
        std::fs::write(&none, "not a certificate\n").unwrap();
        let err = RootCerts::read(&none).unwrap_err();
        assert!(err.contains("no PEM certificate"), "{err}");
        let big = dir.join("big.pem");
        std::fs::write(&big, vec![b'x'; RootCerts::MAX_BYTES as usize + 1]).unwrap();
        let err = RootCerts::read(&big).unwrap_err();
        assert!(err.contains("larger than 1048576 bytes"), "{err}");
        let err = RootCerts::read(Path::new("/dev/zero")).unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
