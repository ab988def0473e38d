//! Reaching a PostgreSQL server: the DSN, TLS as libpq means it, and what a failed
//! connect says.
//!
//! tokio-postgres parses most of a DSN but knows neither `sslmode=verify-*` nor
//! `sslrootcert`; those are taken out here and given to rustls, after the whole DSN
//! is understood (a DSN used in part could drop its `sslmode` and connect in plain
//! text). Errors are classified by SQLSTATE first and by the network's reason after,
//! so that the target reports "too many connections" or "auth failed", not "db
//! error".

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use tokio_postgres::error::SqlState;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::Session;
use crate::dsn::{self, percent_decode, quote_keyword_value};
use crate::engines::tls::{self, Verify};
use crate::engines::{ConnectError, ReadSettings};
use crate::model::ConnectErrorKind;

/// The name the exporter gives itself on every session, so that DBAs (and the
/// exporter's own runbooks) can tell its session apart.
pub const APPLICATION_NAME: &str = "dbconn_exporter";

pub struct Connector {
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    /// The `sslrootcert` file as read, empty without one.
    roots_pem: Vec<u8>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the config itself: it holds the password.
        f.debug_struct("Connector")
            .field("target", &self.default_name())
            .finish()
    }
}

/// The parts of a DSN that tokio-postgres does not understand, taken out before it
/// parses the rest.
#[derive(Debug, PartialEq)]
struct TlsParams {
    verify: Verify,
    root_cert: Option<PathBuf>,
}

impl Connector {
    /// Parses a PostgreSQL DSN (URL or keyword/value form). `password` overrides any
    /// password in the DSN. Errors never contain the password.
    pub fn from_dsn(
        raw: &str,
        password: Option<&dsn::Secret>,
        connect_timeout: Duration,
    ) -> Result<Connector, String> {
        Connector::from_any_scheme(raw, password, connect_timeout, None)
    }

    /// [`Connector::from_dsn`] for a server that speaks the PostgreSQL protocol
    /// under a URL scheme of its own (`pgbouncer://`): the scheme is read as
    /// `postgresql://`, and everything else as for PostgreSQL.
    pub(crate) fn from_url_as_postgresql(
        raw: &str,
        password: Option<&dsn::Secret>,
        connect_timeout: Duration,
    ) -> Result<Connector, String> {
        Connector::from_any_scheme(raw, password, connect_timeout, Some("postgresql"))
    }

    fn from_any_scheme(
        raw: &str,
        password: Option<&dsn::Secret>,
        connect_timeout: Duration,
        scheme: Option<&str>,
    ) -> Result<Connector, String> {
        let secrets = dsn::passwords_in(raw);
        let scrub = |msg: String| dsn::scrub(&msg, &secrets);
        let (rest, tls_params) = split_tls_params_as(raw, scheme).map_err(scrub)?;
        let mut config = tokio_postgres::Config::from_str(&rest)
            .map_err(|e| scrub(format!("invalid PostgreSQL DSN: {}", describe(&e))))?;
        if let Some(p) = password {
            config.password(p.expose());
        }
        if config.get_user().is_none() {
            return Err("invalid PostgreSQL DSN: no user given".into());
        }
        if config.get_hosts().is_empty() {
            return Err("invalid PostgreSQL DSN: no host given".into());
        }
        // Keepalive probes find a peer that vanished without a reset while the
        // session idles between scrapes (10 s idle, then 3 probes 5 s apart); the
        // user timeout, one whose data goes unacknowledged.
        config
            .application_name(APPLICATION_NAME)
            .connect_timeout(connect_timeout)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(10))
            .keepalives_interval(Duration::from_secs(5))
            .keepalives_retries(3)
            .tcp_user_timeout(Duration::from_secs(30));
        let roots = match &tls_params.root_cert {
            Some(path) => {
                Some(tls::RootCerts::read(path).map_err(|e| format!("sslrootcert: {e}"))?)
            }
            None => None,
        };
        let client_config = tls::client_config(tls_params.verify, roots.as_ref())?;
        Ok(Connector {
            config,
            tls: MakeRustlsConnect::new(client_config),
            roots_pem: roots.map(|r| r.pem().to_vec()).unwrap_or_default(),
        })
    }

    /// `host:port/dbname` of the first host: the default target name.
    pub fn default_name(&self) -> String {
        let host = match self.config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        let db = self
            .config
            .get_dbname()
            .or(self.config.get_user())
            .unwrap_or("postgres");
        format!("{host}:{port}/{db}")
    }

    /// The root certificates this connector trusts, as read (empty: none named).
    pub fn roots_pem(&self) -> &[u8] {
        &self.roots_pem
    }

    /// What the DSN says, for an engine that reuses this connector.
    pub(crate) fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    pub(crate) fn config_mut(&mut self) -> &mut tokio_postgres::Config {
        &mut self.config
    }

    pub async fn connect(&self, read_settings: &ReadSettings) -> Result<Session, ConnectError> {
        let (client, connection) = self.open().await.map_err(|e| classify_connect_error(&e))?;
        Session::set_up(client, connection, read_settings)
            .await
            .map_err(|e| classify_connect_error(&e))
    }

    /// A logged-in client and the task that drives its socket. The task owns the
    /// socket: the session keeps its handle, so closing the session closes the
    /// socket at once, even towards a hung peer.
    pub(crate) async fn open(
        &self,
    ) -> Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), tokio_postgres::Error> {
        let (client, connection) = self.config.connect(self.tls.clone()).await?;
        let connection = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "session ended");
            }
        });
        Ok((client, connection))
    }
}

/// What went wrong, in words an on-call engineer can act on. tokio-postgres's own
/// `Display` says only "db error" or "error connecting to server"; the server's
/// SQLSTATE and message, or the network's reason, are further down.
pub fn describe(err: &tokio_postgres::Error) -> String {
    if let Some(db) = err.as_db_error() {
        let mut text = format!("SQLSTATE {}: {}", db.code().code(), db.message());
        if let Some(detail) = db.detail() {
            text.push_str(&format!(" (detail: {detail})"));
        }
        if let Some(hint) = db.hint() {
            text.push_str(&format!(" (hint: {hint})"));
        }
        return text;
    }
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        let next = s.to_string();
        // Some errors repeat their source's text in their own.
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

pub(crate) fn classify_connect_error(err: &tokio_postgres::Error) -> ConnectError {
    let message = describe(err);
    let kind = if let Some(db) = err.as_db_error() {
        match db.code() {
            c if *c == SqlState::TOO_MANY_CONNECTIONS => ConnectErrorKind::TooManyConnections,
            c if *c == SqlState::INVALID_PASSWORD
                || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
            {
                ConnectErrorKind::AuthFailed
            }
            c if *c == SqlState::CANNOT_CONNECT_NOW || *c == SqlState::ADMIN_SHUTDOWN => {
                ConnectErrorKind::Unreachable
            }
            _ => ConnectErrorKind::Other,
        }
    } else if is_tls_error(err) {
        ConnectErrorKind::Tls
    } else if let Some(io) = find_io_error(err) {
        crate::engines::classify_io(io)
    } else if err.is_closed() || message.contains("connection closed") {
        ConnectErrorKind::Unreachable
    } else if message.contains("timeout") || message.contains("timed out") {
        ConnectErrorKind::Timeout
    } else {
        ConnectErrorKind::Other
    };
    ConnectError { kind, message }
}

/// The handshake failed, or a certificate was refused (rustls reports that as an
/// I/O error wrapping its own).
fn is_tls_error(err: &tokio_postgres::Error) -> bool {
    if err.to_string().contains("TLS") {
        return true;
    }
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        if s.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>())
        {
            return true;
        }
        source = s.source();
    }
    false
}

fn find_io_error(err: &tokio_postgres::Error) -> Option<&std::io::Error> {
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        source = s.source();
    }
    None
}

/// The keywords tokio-postgres takes, plus the two the exporter takes out itself.
const SUPPORTED_KEYWORDS: [&str; 20] = [
    "user",
    "password",
    "dbname",
    "options",
    "application_name",
    "sslmode",
    "sslrootcert",
    "sslnegotiation",
    "host",
    "hostaddr",
    "port",
    "connect_timeout",
    "tcp_user_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_retries",
    "target_session_attrs",
    "channel_binding",
    "load_balance_hosts",
];

/// libpq keywords the exporter does not implement: named in the error, because a
/// user who wrote one meant something by it (a client certificate, a service file).
const UNSUPPORTED_LIBPQ_KEYWORDS: [&str; 24] = [
    "passfile",
    "replication",
    "client_encoding",
    "service",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "sslcompression",
    "sslcertmode",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "min_protocol_version",
    "max_protocol_version",
    "requirepeer",
    "require_auth",
    "gssencmode",
    "gsslib",
    "gssdelegation",
    "krbsrvname",
    "fallback_application_name",
    "scram_client_key",
];

/// Refuses a keyword that tokio-postgres would not take. An unknown one is not
/// quoted: in `password=a b=c` it is part of a password.
fn check_keyword(key: &str, position: usize) -> Result<(), String> {
    if SUPPORTED_KEYWORDS.contains(&key) {
        return Ok(());
    }
    if UNSUPPORTED_LIBPQ_KEYWORDS.contains(&key) {
        return Err(format!(
            "invalid PostgreSQL DSN: at character {position}: `{key}` is a libpq keyword dbconn_exporter does not support"
        ));
    }
    Err(format!(
        "invalid PostgreSQL DSN: at character {position}: unknown keyword (not quoted here: a misplaced space can make part of a password look like one)"
    ))
}

/// Takes `sslmode=verify-*` and `sslrootcert` out of a DSN (tokio-postgres knows
/// neither) and returns the rest with `sslmode=require` in their place.
///
/// The DSN is understood completely first, or refused with the position of what was
/// not: a DSN used in part could drop its `sslmode` and connect in plain text.
#[cfg(test)]
fn split_tls_params(raw: &str) -> Result<(String, TlsParams), String> {
    split_tls_params_as(raw, None)
}

/// [`split_tls_params`], the URL's scheme replaced by `scheme` when one is given.
fn split_tls_params_as(raw: &str, scheme: Option<&str>) -> Result<(String, TlsParams), String> {
    let (rest, pairs) = if dsn::scheme(raw).is_some() {
        split_url_dsn(raw, scheme)?
    } else {
        split_keyword_dsn(raw)?
    };
    let verify = match pairs.mode.as_deref() {
        Some("verify-full") => Verify::Full,
        Some("verify-ca") => Verify::Chain,
        // libpq: a root certificate given with `require` means verify-ca.
        Some("require") if pairs.root_cert.is_some() => Verify::Chain,
        _ => Verify::Nothing,
    };
    let root_cert = pairs.root_cert;
    Ok((rest, TlsParams { verify, root_cert }))
}

fn invalid(e: impl std::fmt::Display) -> String {
    format!("invalid PostgreSQL DSN: {e}")
}

fn split_url_dsn(raw: &str, as_scheme: Option<&str>) -> Result<(String, Pairs), String> {
    let (base, query) = dsn::split_url(raw).map_err(invalid)?;
    // tokio-postgres takes everything before the first `@` of the whole string as
    // user and password, even an `@` in the path or query; encoded, it stays where
    // it was written.
    let base = match base.split_once("://") {
        Some((scheme, rest)) => {
            let scheme = as_scheme.unwrap_or(scheme);
            let authority_end = rest.find('/').unwrap_or(rest.len());
            format!(
                "{scheme}://{}{}",
                &rest[..authority_end],
                rest[authority_end..].replace('@', "%40")
            )
        }
        None => base.to_string(),
    };
    let mut pairs = Pairs::default();
    for pair in query {
        let key = percent_decode(pair.key);
        let value = pair.value.replace('@', "%40");
        pairs.add(key, pair.position, percent_decode(pair.value), value)?;
    }
    let mut query: Vec<String> = pairs.kept.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if let Some(m) = &pairs.mode {
        query.push(format!("sslmode={}", tokio_sslmode(m)?));
    }
    let rest = if query.is_empty() {
        base
    } else {
        format!("{base}?{}", query.join("&"))
    };
    Ok((rest, pairs))
}

fn split_keyword_dsn(raw: &str) -> Result<(String, Pairs), String> {
    let words = dsn::parse_keyword_dsn(raw).map_err(invalid)?;
    if words.is_empty() {
        return Err(invalid("empty"));
    }
    let mut pairs = Pairs::default();
    for word in words {
        pairs.add(word.key, word.position, word.value.clone(), word.value)?;
    }
    let mut words: Vec<String> = pairs
        .kept
        .iter()
        .map(|(k, v)| format!("{k}={}", quote_keyword_value(v)))
        .collect();
    if let Some(m) = &pairs.mode {
        words.push(format!("sslmode={}", tokio_sslmode(m)?));
    }
    Ok((words.join(" "), pairs))
}

/// A DSN's key/value pairs, each key checked, with the two TLS keywords taken out.
/// Keys given twice keep the last value, as in libpq.
#[derive(Default)]
struct Pairs {
    /// What tokio-postgres is given, each key where it was last written.
    kept: Vec<(String, String)>,
    mode: Option<String>,
    root_cert: Option<PathBuf>,
}

impl Pairs {
    /// `value` is as the exporter reads it; `passed_on` as tokio-postgres is to.
    fn add(
        &mut self,
        key: String,
        position: usize,
        value: String,
        passed_on: String,
    ) -> Result<(), String> {
        check_keyword(&key, position)?;
        match key.as_str() {
            "sslmode" => self.mode = Some(value),
            "sslrootcert" => self.root_cert = Some(PathBuf::from(value)),
            _ => {
                self.kept.retain(|(k, _)| *k != key);
                self.kept.push((key, passed_on));
            }
        }
        Ok(())
    }
}

fn tokio_sslmode(mode: &str) -> Result<&'static str, String> {
    match mode {
        "disable" | "allow" => Ok("disable"),
        "prefer" => Ok("prefer"),
        "require" | "verify-ca" | "verify-full" => Ok("require"),
        other => Err(format!(
            "invalid PostgreSQL DSN: sslmode {other:?} is not one of disable, allow, prefer, require, verify-ca, verify-full"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_modes_are_taken_out_of_url_dsns() {
        let (rest, tls) = split_tls_params(
            "postgres://u:p@h:5432/db?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=x",
        )
        .unwrap();
        assert_eq!(
            rest,
            "postgres://u:p@h:5432/db?application_name=x&sslmode=require"
        );
        assert_eq!(tls.verify, Verify::Full);
        assert_eq!(tls.root_cert, Some(PathBuf::from("/etc/ca.pem")));
    }

    #[test]
    fn verify_modes_are_taken_out_of_keyword_dsns() {
        let (rest, tls) =
            split_tls_params("host=h user=u sslmode=verify-ca sslrootcert='/a b.pem'").unwrap();
        assert_eq!(rest, "host='h' user='u' sslmode=require");
        assert_eq!(tls.verify, Verify::Chain);
        assert_eq!(tls.root_cert, Some(PathBuf::from("/a b.pem")));
    }

    #[test]
    fn require_with_a_root_certificate_verifies_the_chain() {
        let (_, tls) =
            split_tls_params("postgres://u@h/db?sslmode=require&sslrootcert=ca.pem").unwrap();
        assert_eq!(tls.verify, Verify::Chain);
        let (_, tls) = split_tls_params("postgres://u@h/db?sslmode=require").unwrap();
        assert_eq!(tls.verify, Verify::Nothing);
        let (rest, tls) = split_tls_params("postgres://u@h/db").unwrap();
        assert_eq!(rest, "postgres://u@h/db");
        assert_eq!(tls.verify, Verify::Nothing);
    }

    #[test]
    fn unknown_sslmode_is_a_clear_error() {
        let err = split_tls_params("postgres://u@h/db?sslmode=sometimes").unwrap_err();
        assert!(err.contains("sslmode"), "{err}");
    }

    #[test]
    fn dsn_errors_do_not_show_the_password() {
        let err = Connector::from_dsn(
            "postgres://u:hunter2@h:notaport/db",
            None,
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
        let err = Connector::from_dsn(
            "host=h user=u password=hunter2 bogus=1",
            None,
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn a_stray_token_never_drops_the_sslmode() {
        // Before: the string was cut at `junk`, and sslmode and dbname were lost.
        let err =
            split_tls_params("host=db user=x junk dbname=foo sslmode=verify-full").unwrap_err();
        assert!(err.contains("at character 16"), "{err}");
        let err = split_tls_params("host=db user=x sslmode='verify-full").unwrap_err();
        assert!(err.contains("unterminated"), "{err}");
    }

    #[test]
    fn repeated_keywords_keep_the_last_value_as_libpq_does() {
        let (rest, tls) =
            split_tls_params("host=a host=b user=u sslmode=disable sslmode=verify-full").unwrap();
        assert_eq!(rest, "host='b' user='u' sslmode=require");
        assert_eq!(tls.verify, Verify::Full);
        let (rest, tls) =
            split_tls_params("postgres://u@h/db?sslmode=verify-full&application_name=a&application_name=b&sslmode=disable")
                .unwrap();
        assert_eq!(rest, "postgres://u@h/db?application_name=b&sslmode=disable");
        assert_eq!(tls.verify, Verify::Nothing);
    }

    #[test]
    fn keywords_are_checked_without_quoting_unknown_ones() {
        let err = split_tls_params("host=h user=u password=abc defg=1").unwrap_err();
        assert!(err.contains("at character 28: unknown keyword"), "{err}");
        assert!(!err.contains("defg"), "{err}");
        let err = split_tls_params("host=h user=u sslcert=/c.pem").unwrap_err();
        assert!(err.contains("`sslcert` is a libpq keyword"), "{err}");
        let err = split_tls_params("postgres://u@h/db?passwrd=x").unwrap_err();
        assert!(err.contains("at character 19: unknown keyword"), "{err}");
        assert!(!err.contains("passwrd"), "{err}");
        let err = split_tls_params("postgres://u@h/db?sslmode").unwrap_err();
        assert!(err.contains("at character 19"), "{err}");
    }

    #[test]
    fn an_at_sign_is_userinfo_only_before_the_host() {
        let err = Connector::from_dsn("postgres://u:p@ss@h/db", None, Duration::from_secs(1))
            .unwrap_err();
        assert!(err.contains("%40"), "{err}");
        assert!(!err.contains("ss@"), "{err}");
        // tokio-postgres would take everything before this `@` as user and password.
        let c = Connector::from_dsn(
            "postgres://u@h/db@x?options=-c%20a%3Db@c",
            None,
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(c.default_name(), "h:5432/db@x");
        assert_eq!(c.config.get_user(), Some("u"));
        assert_eq!(c.config.get_options(), Some("-c a=b@c"));
    }

    #[test]
    fn a_root_certificate_is_read_with_the_configuration() {
        let err = Connector::from_dsn(
            "postgres://u@h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
            None,
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(
            err.contains("sslrootcert: cannot read /nonexistent/ca.pem"),
            "{err}"
        );
        let err = Connector::from_dsn(
            "host=h user=u sslmode=verify-ca sslrootcert=/dev/zero",
            None,
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");
    }

    #[test]
    fn default_names_are_host_port_and_database() {
        let c = Connector::from_dsn("postgres://u@db1:6543/orders", None, Duration::from_secs(1))
            .unwrap();
        assert_eq!(c.default_name(), "db1:6543/orders");
        let c = Connector::from_dsn("host=db2 user=app", None, Duration::from_secs(1)).unwrap();
        assert_eq!(c.default_name(), "db2:5432/app");
    }
}
