//! The `incident` command's HTTP client: one `GET /api/v1/incident` to a running
//! exporter, which answers from the session it already holds on the target.
//!
//! At a full server this is the way to the pid-level view, so the client opens no
//! database session at all. Its errors tell apart what the on-call engineer does
//! next about (the exporter is unreachable, the credentials are wrong, the target
//! name is unknown, the target is down), and never print a password: the URL is
//! shown without its user information, and a password is only ever held in a
//! [`Secret`].

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;

use crate::dsn::{Secret, percent_decode};
use crate::engines::tls::{RootCerts, Verify, client_config};

/// The largest answer read: a report of a server with thousands of sessions and
/// statement text is a few megabytes.
pub const MAX_BODY: usize = 64 << 20;

/// A parsed `--exporter` URL. Its password (from the user information) never
/// prints; [`ExporterUrl`]'s `Display` leaves the user information out.
#[derive(Clone, Debug, PartialEq)]
pub struct ExporterUrl {
    pub https: bool,
    /// A host name, an IPv4 address, or an IPv6 address without its brackets.
    pub host: String,
    pub port: u16,
    /// The path the exporter is served under (empty, or `/prefix` without a
    /// trailing slash), for an exporter behind a path-routing proxy.
    pub prefix: String,
    pub user: Option<String>,
    pub password: Option<Secret>,
}

impl std::fmt::Display for ExporterUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority(), self.prefix)
    }
}

impl ExporterUrl {
    /// `host:port`, with an IPv6 address in brackets.
    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Parses `http[s]://[user[:password]@]host[:port][/prefix]`. The message of an
    /// error never holds the password.
    pub fn parse(raw: &str) -> Result<ExporterUrl, FetchError> {
        let bad = |why: &str| FetchError::BadUrl(format!("--exporter: {why}"));
        let (https, rest) = if let Some(rest) = strip_prefix_ci(raw, "http://") {
            (false, rest)
        } else if let Some(rest) = strip_prefix_ci(raw, "https://") {
            (true, rest)
        } else {
            return Err(bad(
                "must start with http:// or https:// (for example http://localhost:10071)",
            ));
        };
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if path.contains(['?', '#']) {
            return Err(bad(
                "must not carry a query or fragment; give the exporter's base URL",
            ));
        }
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(u) => match u.split_once(':') {
                Some((user, pass)) => (
                    Some(percent_decode(user)),
                    Some(Secret::new(percent_decode(pass))),
                ),
                None => (Some(percent_decode(u)), None),
            },
        };
        let default_port = if https { 443 } else { 80 };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("an IPv6 address needs its closing ]"))?;
            let port = match after {
                "" => default_port,
                p => p
                    .strip_prefix(':')
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(|| bad("the port after ] is not a number from 1 to 65535"))?,
            };
            (host.to_string(), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_string(),
                    p.parse::<u16>()
                        .map_err(|_| bad("the port is not a number from 1 to 65535"))?,
                ),
                None => (hostport.to_string(), default_port),
            }
        };
        if host.is_empty() {
            return Err(bad("has no host"));
        }
        if port == 0 {
            return Err(bad("the port is not a number from 1 to 65535"));
        }
        if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("the host has a space or a control character"));
        }
        if user.as_deref().is_some_and(str::is_empty) {
            return Err(bad("the user before @ is empty"));
        }
        Ok(ExporterUrl {
            https,
            host,
            port,
            prefix: path.trim_end_matches('/').to_string(),
            user,
            password,
        })
    }

    /// The request target for one exporter target's report.
    pub fn incident_path(&self, target: &str) -> String {
        format!(
            "{}/api/v1/incident?target={}",
            self.prefix,
            percent_encode(target)
        )
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

/// Percent-encodes everything but the URL's unreserved characters.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Why the report could not be fetched, in words for the person at the terminal.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FetchError {
    #[error("{0}")]
    BadUrl(String),
    #[error("{0}")]
    Setup(String),
    #[error("the exporter at {url} is unreachable: {why}")]
    Unreachable { url: String, why: String },
    #[error("TLS with the exporter at {url} failed: {why}")]
    Tls { url: String, why: String },
    #[error("the exporter at {url} did not answer within {seconds} s")]
    Timeout { url: String, seconds: f64 },
    #[error(
        "the exporter at {url} refused the credentials (401): give --basic-auth-user and the password in DBCONN_INCIDENT_PASSWORD"
    )]
    Unauthorized { url: String },
    #[error("the exporter at {url} answered 404: {body}")]
    NotFound { url: String, body: String },
    #[error("the target is not available now (503): {body}")]
    Unavailable { body: String },
    #[error("the exporter at {url} answered {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("the exporter at {url} answered with something else than a report: {why}")]
    BadBody { url: String, why: String },
}

/// How to reach the exporter and prove who is asking.
pub struct Request<'a> {
    pub url: &'a ExporterUrl,
    pub target: &'a str,
    /// User and password for basic authentication.
    pub basic_auth: Option<(String, Secret)>,
    pub ca_file: Option<&'a std::path::Path>,
    pub timeout: Duration,
}

/// Fetches the report's JSON body. A non-200 answer is an error that says what it
/// means.
pub async fn fetch(req: &Request<'_>) -> Result<Bytes, FetchError> {
    let url = req.url.to_string();
    let tls = if req.url.https {
        let roots = match req.ca_file {
            Some(path) => Some(RootCerts::read(path).map_err(FetchError::Setup)?),
            None => None,
        };
        Some(client_config(Verify::Full, roots.as_ref()).map_err(FetchError::Setup)?)
    } else {
        None
    };
    let seconds = req.timeout.as_secs_f64();
    let exchange = exchange(req, tls);
    match tokio::time::timeout(req.timeout, exchange).await {
        Ok(Ok((status, body))) => judge(&url, status, body),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(FetchError::Timeout { url, seconds }),
    }
}

/// Maps an answer to the report or to the error it means.
pub fn judge(url: &str, status: u16, body: Bytes) -> Result<Bytes, FetchError> {
    let text = || body_text(&body);
    match status {
        200 => Ok(body),
        401 => Err(FetchError::Unauthorized { url: url.into() }),
        404 => Err(FetchError::NotFound {
            url: url.into(),
            body: if body.is_empty() {
                "no such route (an exporter without the incident view?)".into()
            } else {
                text()
            },
        }),
        503 => Err(FetchError::Unavailable { body: text() }),
        status => Err(FetchError::Status {
            url: url.into(),
            status,
            body: text(),
        }),
    }
}

/// An error body for a terminal: the first 500 characters, control characters
/// escaped.
fn body_text(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let cut: String = text.trim().chars().take(500).collect();
    super::text::clean(&cut)
}

async fn exchange(
    req: &Request<'_>,
    tls: Option<rustls::ClientConfig>,
) -> Result<(u16, Bytes), FetchError> {
    let url = req.url.to_string();
    let unreachable = |why: String| FetchError::Unreachable {
        url: url.clone(),
        why,
    };
    let tcp = tokio::net::TcpStream::connect((req.url.host.as_str(), req.url.port))
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let _ = tcp.set_nodelay(true);
    let request = build_request(req).map_err(FetchError::Setup)?;
    match tls {
        None => send(TokioIo::new(tcp), request, &url).await,
        Some(config) => {
            let name = ServerName::try_from(req.url.host.clone())
                .map_err(|e| FetchError::BadUrl(format!("--exporter: {e}: {}", req.url.host)))?;
            let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(name, tcp)
                .await
                .map_err(|e| FetchError::Tls {
                    url: url.clone(),
                    why: e.to_string(),
                })?;
            send(TokioIo::new(stream), request, &url).await
        }
    }
}

fn build_request(req: &Request<'_>) -> Result<hyper::Request<Empty<Bytes>>, String> {
    let mut builder = hyper::Request::get(req.url.incident_path(req.target))
        .header(hyper::header::HOST, host_header(req.url))
        .header(hyper::header::ACCEPT, "application/json")
        .header(
            hyper::header::USER_AGENT,
            concat!("dbconn_exporter/", env!("CARGO_PKG_VERSION"), " incident"),
        );
    if let Some((user, password)) = &req.basic_auth {
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{user}:{}", password.expose()));
        let mut value = hyper::header::HeaderValue::from_str(&format!("Basic {token}"))
            .map_err(|_| "the basic authentication header cannot be built".to_string())?;
        value.set_sensitive(true);
        builder = builder.header(hyper::header::AUTHORIZATION, value);
    }
    builder
        .body(Empty::new())
        .map_err(|_| "the request cannot be built from --exporter and --target".to_string())
}

/// The Host header: the port only when it is not the scheme's default.
fn host_header(url: &ExporterUrl) -> String {
    let default = if url.https { 443 } else { 80 };
    if url.port == default {
        if url.host.contains(':') {
            format!("[{}]", url.host)
        } else {
            url.host.clone()
        }
    } else {
        url.authority()
    }
}

async fn send<I>(
    io: I,
    request: hyper::Request<Empty<Bytes>>,
    url: &str,
) -> Result<(u16, Bytes), FetchError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let failed = |e: hyper::Error| FetchError::Unreachable {
        url: url.into(),
        why: format!("HTTP: {e}"),
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(failed)?;
    let driver = tokio::spawn(conn);
    let response = sender.send_request(request).await.map_err(failed);
    let result = match response {
        Ok(response) => {
            let status = response.status().as_u16();
            match Limited::new(response.into_body(), MAX_BODY).collect().await {
                Ok(body) => Ok((status, body.to_bytes())),
                Err(e) => Err(FetchError::BadBody {
                    url: url.into(),
                    why: format!("reading the answer: {e}"),
                }),
            }
        }
        Err(e) => Err(e),
    };
    driver.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_parsed_completely() {
        let u = ExporterUrl::parse("http://localhost:10071").unwrap();
        assert_eq!(
            (u.https, u.host.as_str(), u.port, u.prefix.as_str()),
            (false, "localhost", 10071, "")
        );
        assert_eq!(u.incident_path("main"), "/api/v1/incident?target=main");
        let u = ExporterUrl::parse("HTTPS://ops:s%3Acret@exporter.example/dbconn/").unwrap();
        assert_eq!((u.https, u.port), (true, 443));
        assert_eq!(u.user.as_deref(), Some("ops"));
        assert_eq!(u.password.as_ref().map(Secret::expose), Some("s:cret"));
        assert_eq!(u.prefix, "/dbconn");
        assert_eq!(u.to_string(), "https://exporter.example:443/dbconn");
        assert_eq!(
            u.incident_path("db:5432/app x&y"),
            "/dbconn/api/v1/incident?target=db%3A5432%2Fapp%20x%26y"
        );
        let u = ExporterUrl::parse("http://[::1]:9000").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 9000));
        assert_eq!(u.to_string(), "http://[::1]:9000");
        assert_eq!(host_header(&u), "[::1]:9000");
        let u = ExporterUrl::parse("http://h").unwrap();
        assert_eq!((u.port, host_header(&u)), (80, "h".to_string()));
    }

    #[test]
    fn bad_urls_are_refused_without_their_password() {
        for (bad, why) in [
            ("localhost:10071", "must start with http"),
            ("ftp://h", "must start with http"),
            ("http://u:hunter2@h:99999", "port"),
            ("http://u:hunter2@:80", "no host"),
            ("http://u:hunter2@h/x?target=a", "query"),
            ("http://[::1:80", "closing ]"),
            ("http://:hunter2@h", "user before @"),
        ] {
            let err = ExporterUrl::parse(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
            assert!(!err.contains("hunter2"), "{bad}: {err}");
        }
        let u = ExporterUrl::parse("http://u:hunter2@h:1").unwrap();
        assert!(!format!("{u} {u:?}").contains("hunter2"));
    }

    #[test]
    fn answers_map_to_what_they_mean() {
        let url = "http://h:1";
        let ok = judge(url, 200, Bytes::from_static(b"{}")).unwrap();
        assert_eq!(&ok[..], b"{}");
        let e = judge(url, 401, Bytes::new()).unwrap_err().to_string();
        assert!(e.contains("refused the credentials (401)"), "{e}");
        assert!(e.contains("DBCONN_INCIDENT_PASSWORD"), "{e}");
        let e = judge(url, 404, Bytes::from_static(b"unknown target \"x\"\n"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "the exporter at http://h:1 answered 404: unknown target \"x\""
        );
        let e = judge(url, 404, Bytes::new()).unwrap_err().to_string();
        assert!(e.contains("no such route"), "{e}");
        let e = judge(url, 503, Bytes::from_static(b"target down\x1b[2J"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "the target is not available now (503): target down\\u{1b}[2J"
        );
        let e = judge(url, 500, Bytes::from_static(b"boom")).unwrap_err();
        assert!(matches!(e, FetchError::Status { status: 500, .. }));
    }

    #[tokio::test]
    async fn an_exporter_that_is_not_there_is_unreachable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let url = ExporterUrl::parse(&format!("http://127.0.0.1:{port}")).unwrap();
        let e = fetch(&Request {
            url: &url,
            target: "t",
            basic_auth: None,
            ca_file: None,
            timeout: Duration::from_secs(5),
        })
        .await
        .unwrap_err();
        assert!(matches!(e, FetchError::Unreachable { .. }), "{e}");
        assert!(e.to_string().starts_with(&format!(
            "the exporter at http://127.0.0.1:{port} is unreachable: "
        )));
    }

    #[tokio::test]
    async fn a_request_carries_the_path_and_basic_auth() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                .await
                .unwrap();
            String::from_utf8(got).unwrap()
        });
        let url = ExporterUrl::parse(&format!("http://127.0.0.1:{port}/p")).unwrap();
        let body = fetch(&Request {
            url: &url,
            target: "main db",
            basic_auth: Some(("ops".into(), Secret::new("pw"))),
            ca_file: None,
            timeout: Duration::from_secs(5),
        })
        .await
        .unwrap();
        assert_eq!(&body[..], b"{}");
        let head = server.await.unwrap();
        assert!(
            head.starts_with("GET /p/api/v1/incident?target=main%20db HTTP/1.1\r\n"),
            "{head}"
        );
        // base64("ops:pw")
        assert!(
            head.to_ascii_lowercase()
                .contains("authorization: basic b3bzonb3\r\n"),
            "{head}"
        );
    }
}
