//! `--web.config.file`: TLS, basic authentication, extra response headers and a
//! rate limit, read from the Prometheus exporter-toolkit's web configuration file so
//! that a team's existing file (and its habits) carry over from the Go exporters.
//!
//! The settings are live: every accepted connection and every request reads the
//! current ones, so [`Web::reload`] takes effect for the next connection or request
//! without dropping those open. A file that does not load is an error at start and
//! keeps the previous settings on reload; it never leaves the endpoint more open
//! than the file says. Turning TLS on or off needs a restart: a listener that
//! switched from HTTPS to plain HTTP under a running Prometheus would be a silent
//! downgrade.
//!
//! Every route is behind it except `GET /-/healthy`, which liveness probes call
//! without credentials (TLS and a required client certificate still apply to it).

mod auth;
mod file;
mod rate;
mod tls;

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::compression::CompressionLayer;

/// The only route open without credentials.
pub const OPEN_PATH: &str = "/-/healthy";

/// The headers the toolkit lets a file add, and the values it allows for each
/// (empty: any). Kept the same so a file means the same thing everywhere.
const EXTRA_HEADERS: &[(&str, &[&str])] = &[
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// The web configuration in force, and where it came from.
pub struct Web {
    path: Option<PathBuf>,
    current: RwLock<Arc<Settings>>,
    bcrypt: Arc<auth::BcryptQueue>,
}

/// One load of the file.
struct Settings {
    tls: Option<tls::Tls>,
    auth: Option<auth::BasicAuth>,
    headers: Vec<(HeaderName, HeaderValue)>,
    rate: Option<rate::RateLimit>,
}

impl Web {
    /// Reads the file (none: plain HTTP, no authentication). Every problem is an
    /// error naming the key, never a value of the file.
    pub fn load(path: Option<&Path>) -> Result<Web, String> {
        let bcrypt = Arc::new(auth::BcryptQueue::new());
        let settings = match path {
            Some(p) => load_settings(p, &bcrypt)?,
            None => Settings {
                tls: None,
                auth: None,
                headers: Vec::new(),
                rate: None,
            },
        };
        Ok(Web {
            path: path.map(Path::to_path_buf),
            current: RwLock::new(Arc::new(settings)),
            bcrypt,
        })
    }

    /// Re-reads the file; on any error the current settings stay in force. Open
    /// connections keep the TLS settings they were accepted with.
    pub fn reload(&self) -> Result<(), String> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let new = load_settings(path, &self.bcrypt)?;
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        if new.tls.is_some() != current.tls.is_some() {
            return Err(format!(
                "web config file {}: turning TLS on or off needs a restart; \
                 still serving the previous web configuration",
                path.display()
            ));
        }
        *current = Arc::new(new);
        Ok(())
    }

    /// Whether connections are served over TLS.
    pub fn tls_enabled(&self) -> bool {
        self.settings().tls.is_some()
    }

    fn settings(&self) -> Arc<Settings> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The TLS configuration for a connection just accepted (its certificates
    /// re-read first if their files changed); `None` for plain HTTP.
    pub(crate) fn tls_config(&self) -> Option<Arc<rustls::ServerConfig>> {
        self.settings().tls.as_ref().map(tls::Tls::config)
    }
}

fn load_settings(path: &Path, bcrypt: &Arc<auth::BcryptQueue>) -> Result<Settings, String> {
    let in_file = |e: String| format!("web config file {}: {e}", path.display());
    let file = file::read(path)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut warnings = Vec::new();
    let tls = match &file.tls_server_config {
        Some(t) => tls::Tls::from_file(t, dir, &mut warnings).map_err(in_file)?,
        None => None,
    };
    let auth = match &file.basic_auth_users {
        Some(users) => auth::BasicAuth::new(users, Arc::clone(bcrypt)).map_err(in_file)?,
        None => None,
    };
    let mut headers = Vec::new();
    if let Some(http) = &file.http_server_config {
        if http.http2 == Some(true) {
            warnings.push(
                "http_server_config: http2 is not served; clients use HTTP/1.1 (Prometheus does)"
                    .into(),
            );
        }
        for (name, value) in http.headers.iter().flatten() {
            if let Some(h) = extra_header(name, value).map_err(in_file)? {
                headers.push(h);
            }
        }
    }
    let rate = match &file.rate_limit {
        Some(r) => {
            let interval = match &r.interval {
                Some(i) => file::go_duration(i)
                    .map_err(|e| in_file(format!("rate_limit.interval: {e}")))?,
                None => std::time::Duration::ZERO,
            };
            rate::RateLimit::new(interval, r.burst.unwrap_or(0))
        }
        None => None,
    };
    for warning in &warnings {
        tracing::warn!(file = %path.display(), "{warning}");
    }
    tracing::info!(
        file = %path.display(),
        tls = tls.is_some(),
        basic_auth = auth.is_some(),
        headers = headers.len(),
        rate_limit = rate.is_some(),
        "web configuration loaded"
    );
    Ok(Settings {
        tls,
        auth,
        headers,
        rate,
    })
}

/// A header from `http_server_config.headers`, checked as the toolkit checks it;
/// `None` for a blank value ("unset if blank").
fn extra_header(name: &str, value: &str) -> Result<Option<(HeaderName, HeaderValue)>, String> {
    let Some((_, allowed)) = EXTRA_HEADERS.iter().find(|(n, _)| *n == name) else {
        return Err(format!(
            "http_server_config.headers: header {name:?} can not be configured (allowed: {})",
            EXTRA_HEADERS
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    };
    if !allowed.is_empty() && !allowed.contains(&value) {
        return Err(format!(
            "http_server_config.headers: invalid value for {name} (expected one of: {})",
            allowed.join(", ")
        ));
    }
    if value.is_empty() {
        return Ok(None);
    }
    let value = HeaderValue::from_str(value)
        .map_err(|_| format!("http_server_config.headers: {name}: not a valid header value"))?;
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("http_server_config.headers: {name}: not a valid header name"))?;
    Ok(Some((name, value)))
}

/// Puts every route of `router` behind the web configuration, and compresses
/// responses for clients that accept gzip (Prometheus does; `/metrics` of a busy
/// server is large and compresses several times over). Any other client gets the
/// body as it is, whatever else its `Accept-Encoding` says: Go exporters answer
/// `identity;q=0` that way, where the compression layer alone would answer 406.
pub fn protect(router: Router, web: Arc<Web>) -> Router {
    router
        .layer(CompressionLayer::new().gzip(true))
        .layer(middleware::from_fn_with_state(web, guard))
}

async fn guard(State(web): State<Arc<Web>>, mut request: Request, next: Next) -> Response {
    normalise_accept_encoding(request.headers_mut());
    let settings = web.settings();
    let open = request.method() == Method::GET && request.uri().path() == OPEN_PATH;
    let mut response = if open {
        next.run(request).await
    } else if settings.rate.as_ref().is_some_and(|r| !r.allow()) {
        (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests\n").into_response()
    } else if let Some(auth) = &settings.auth {
        let authorization = request
            .headers()
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes);
        match auth.check(authorization).await {
            auth::Verdict::Allowed => next.run(request).await,
            auth::Verdict::Denied => (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Basic")],
                "Unauthorized\n",
            )
                .into_response(),
            auth::Verdict::Busy => (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, "1")],
                "Too Many Requests: too many password checks waiting\n",
            )
                .into_response(),
        }
    } else {
        next.run(request).await
    };
    for (name, value) in &settings.headers {
        // A route's own policy stays: the incident page allows its inline style and
        // script by hash, and a site-wide policy would either block them or allow
        // more than they need.
        if *name == header::CONTENT_SECURITY_POLICY
            && response
                .headers()
                .contains_key(header::CONTENT_SECURITY_POLICY)
        {
            continue;
        }
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

/// Leaves `Accept-Encoding: gzip` when the client accepts gzip, and no
/// `Accept-Encoding` at all otherwise (the body then goes out as it is).
fn normalise_accept_encoding(headers: &mut axum::http::HeaderMap) {
    let mut gzip = None;
    let mut any = None;
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                .map_or(Some(1.0), |(_, v)| v.trim().parse::<f32>().ok());
            // An unreadable weight accepts nothing.
            let accepted = q.is_some_and(|q| q > 0.0);
            match coding.as_str() {
                "gzip" | "x-gzip" => gzip = Some(gzip.unwrap_or(false) || accepted),
                "*" => any = Some(any.unwrap_or(false) || accepted),
                _ => {}
            }
        }
    }
    headers.remove(header::ACCEPT_ENCODING);
    if gzip.or(any).unwrap_or(false) {
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_keeps_gzip_or_nothing() {
        for (sent, expect) in [
            (vec!["gzip"], Some("gzip")),
            (vec!["gzip, deflate, br"], Some("gzip")),
            (vec!["br;q=1.0, GZIP;q=0.5"], Some("gzip")),
            (vec!["x-gzip"], Some("gzip")),
            (vec!["*"], Some("gzip")),
            (vec!["identity;q=0"], None),
            (vec!["*;q=0"], None),
            (vec!["identity;q=0, *;q=0"], None),
            (vec!["gzip;q=0, *"], None),
            (vec!["gzip;q=0"], None),
            (vec!["gzip;q=zero"], None),
            (vec!["br", "gzip;q=0.1"], Some("gzip")),
            (vec!["deflate"], None),
            (vec![], None),
        ] {
            let mut headers = axum::http::HeaderMap::new();
            for v in &sent {
                headers.append(header::ACCEPT_ENCODING, HeaderValue::from_static(v));
            }
            normalise_accept_encoding(&mut headers);
            let got: Vec<_> = headers
                .get_all(header::ACCEPT_ENCODING)
                .iter()
                .map(|v| v.to_str().unwrap().to_string())
                .collect();
            assert_eq!(got, expect.into_iter().collect::<Vec<_>>(), "{sent:?}");
        }
    }

    #[test]
    fn headers_follow_the_toolkit_rules() {
        assert!(
            extra_header("Strict-Transport-Security", "max-age=31536000")
                .unwrap()
                .is_some()
        );
        assert!(extra_header("X-Frame-Options", "deny").unwrap().is_some());
        assert!(extra_header("X-XSS-Protection", "").unwrap().is_none());
        for (name, value, expect) in [
            ("Authorization", "x", "can not be configured"),
            ("Content-Type", "x", "can not be configured"),
            ("strict-transport-security", "x", "can not be configured"),
            ("X-Frame-Options", "allow", "invalid value"),
            ("X-Content-Type-Options", "sniff", "invalid value"),
            (
                "Content-Security-Policy",
                "a\nb",
                "not a valid header value",
            ),
        ] {
            let err = extra_header(name, value).unwrap_err();
            assert!(err.contains(expect), "{name}: {err}");
        }
    }

    #[test]
    fn no_file_means_plain_and_open() {
        let web = Web::load(None).unwrap();
        assert!(!web.tls_enabled());
        assert!(web.tls_config().is_none());
        assert!(web.reload().is_ok());
    }

    #[test]
    fn a_reload_that_fails_keeps_the_previous_settings() {
        let dir = std::env::temp_dir().join(format!("dbconn-web-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("web.yml");
        let hash = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";
        std::fs::write(&path, format!("basic_auth_users:\n  alice: {hash}\n")).unwrap();
        let web = Web::load(Some(&path)).unwrap();
        assert!(web.settings().auth.is_some());

        std::fs::write(&path, "basic_auth_users:\n  alice: TopSecret\n").unwrap();
        let err = web.reload().unwrap_err();
        assert!(
            err.contains("not a bcrypt hash") && !err.contains("TopSecret"),
            "{err}"
        );
        assert!(web.settings().auth.is_some(), "still the old users");

        std::fs::write(
            &path,
            "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n",
        )
        .unwrap();
        assert!(web.reload().is_err());
        assert!(!web.tls_enabled());

        std::fs::write(
            &path,
            "http_server_config:\n  headers:\n    X-Frame-Options: deny\n",
        )
        .unwrap();
        web.reload().unwrap();
        assert!(web.settings().auth.is_none());
        assert_eq!(web.settings().headers.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
