//! Certificates made with the `openssl` CLI for the test (a CA, server certificates
//! for 127.0.0.1/localhost, a client certificate from the CA and one from a CA the
//! exporter does not trust), and `curl` / `openssl s_client` as the real clients.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::proc::{self, ScratchDir};

fn openssl() -> PathBuf {
    proc::require_binary("openssl", &["/usr/bin/openssl"])
}

fn run(program: &Path, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} {args:?} failed:\n{}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A certificate and its key, as files.
#[derive(Clone, Debug)]
pub struct Pair {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A throwaway PKI in a scratch directory.
pub struct Pki {
    dir: ScratchDir,
    pub ca: Pair,
    pub server: Pair,
    pub client: Pair,
    /// Signed by another CA, which the exporter does not trust.
    pub rogue_client: Pair,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = ScratchDir::new("dbconn-pki");
        let ca = self_signed_ca(dir.path(), "ca", "dbconn test CA");
        let rogue_ca = self_signed_ca(dir.path(), "rogue-ca", "rogue CA");
        let server = issue(
            dir.path(),
            &ca,
            "server",
            1001,
            Some("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
        );
        let client = issue(
            dir.path(),
            &ca,
            "client",
            2001,
            Some("subjectAltName=DNS:prometheus\nextendedKeyUsage=clientAuth\n"),
        );
        let rogue_client = issue(
            dir.path(),
            &rogue_ca,
            "rogue-client",
            3001,
            Some("subjectAltName=DNS:prometheus\nextendedKeyUsage=clientAuth\n"),
        );
        Pki {
            dir,
            ca,
            server,
            client,
            rogue_client,
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A new server certificate for 127.0.0.1/localhost with `serial`, in files
    /// named after `name`.
    pub fn server_cert(&self, name: &str, serial: u64) -> Pair {
        issue(
            self.dir.path(),
            &self.ca,
            name,
            serial,
            Some("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
        )
    }
}

impl Pki {
    /// An X.509 version 1 client certificate (no extensions) signed by the CA, as
    /// `openssl x509 -req` makes one without `-extfile`.
    pub fn v1_client(&self) -> Pair {
        issue(self.dir.path(), &self.ca, "v1-client", 4001, None)
    }

    /// curl trusting this PKI's CA and presenting `client`'s certificate; `args` end
    /// with the URL.
    pub fn curl_as(&self, client: &Pair, args: &[&str]) -> Curl {
        let mut all = vec![
            "--cacert",
            self.ca.cert.to_str().unwrap(),
            "--cert",
            client.cert.to_str().unwrap(),
            "--key",
            client.key.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        curl(&all)
    }
}

fn self_signed_ca(dir: &Path, name: &str, cn: &str) -> Pair {
    let pair = Pair {
        cert: dir.join(format!("{name}.crt")),
        key: dir.join(format!("{name}.key")),
    };
    run(
        &openssl(),
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={cn}"),
            "-keyout",
            pair.key.to_str().unwrap(),
            "-out",
            pair.cert.to_str().unwrap(),
        ],
    );
    pair
}

/// A certificate for `name` signed by `ca`: version 3 with `extensions` (besides
/// `basicConstraints` and `keyUsage`), or version 1 without any when `None`.
fn issue(dir: &Path, ca: &Pair, name: &str, serial: u64, extensions: Option<&str>) -> Pair {
    let pair = Pair {
        cert: dir.join(format!("{name}.crt")),
        key: dir.join(format!("{name}.key")),
    };
    let csr = dir.join(format!("{name}.csr"));
    let ext = dir.join(format!("{name}.ext"));
    if let Some(extensions) = extensions {
        std::fs::write(
            &ext,
            format!("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n{extensions}"),
        )
        .unwrap();
    }
    run(
        &openssl(),
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            pair.key.to_str().unwrap(),
            "-out",
            csr.to_str().unwrap(),
        ],
    );
    run(
        &openssl(),
        &[
            "x509",
            "-req",
            "-in",
            csr.to_str().unwrap(),
            "-CA",
            ca.cert.to_str().unwrap(),
            "-CAkey",
            ca.key.to_str().unwrap(),
            "-set_serial",
            &serial.to_string(),
            "-days",
            "2",
            "-out",
            pair.cert.to_str().unwrap(),
        ]
        .into_iter()
        .chain(
            extensions
                .map(|_| ["-extfile", ext.to_str().unwrap()])
                .into_iter()
                .flatten(),
        )
        .collect::<Vec<_>>(),
    );
    pair
}

/// What curl got: its exit code, the status, the headers (names lowercased) and the
/// body as received (still compressed if the server compressed it and curl was not
/// asked to decode).
#[derive(Debug)]
pub struct Curl {
    pub exit: i32,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub stderr: String,
}

impl Curl {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Runs `curl` with `args` (the URL among them), collecting what it received.
pub fn curl(args: &[&str]) -> Curl {
    let binary = proc::require_binary("curl", &["/usr/bin/curl"]);
    let dir = ScratchDir::new("dbconn-curl");
    let headers = dir.path().join("headers");
    let body = dir.path().join("body");
    let out = Command::new(binary)
        .args(["-sS", "--max-time", "30", "-D"])
        .arg(&headers)
        .arg("-o")
        .arg(&body)
        .args(["-w", "%{http_code}"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run curl");
    let status = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    let headers = std::fs::read_to_string(&headers)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Curl {
        exit: out.status.code().unwrap_or(-1),
        status,
        headers,
        body: std::fs::read(&body).unwrap_or_default(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The serial number (as openssl prints it, hex) of the certificate a new TLS
/// connection to `address` is served, seen by `openssl s_client` trusting `ca`.
pub fn served_serial(address: &str, ca: &Path) -> Option<String> {
    let openssl = openssl();
    let out = Command::new(&openssl)
        .args(["s_client", "-connect", address, "-CAfile"])
        .arg(ca)
        .args(["-verify_return_error", "-showcerts"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let begin = text.find("-----BEGIN CERTIFICATE-----")?;
    let end = text[begin..].find("-----END CERTIFICATE-----")? + begin + 25;
    let mut child = Command::new(&openssl)
        .args(["x509", "-noout", "-serial"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    use std::io::Write;
    child
        .stdin
        .take()?
        .write_all(text[begin..end].as_bytes())
        .ok()?;
    let out = child.wait_with_output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .strip_prefix("serial=")
        .map(str::to_string)
}
