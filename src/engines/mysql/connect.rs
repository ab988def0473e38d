//! From a DSN to a ready [`Session`]: the DSN and its TLS settings are checked once,
//! with the configuration, so that a mistake there is a configuration error and not
//! a connect that fails at every scrape. The driver's errors are classified here, the
//! one place that knows the server's error codes.

use std::path::PathBuf;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, SslOpts};

use super::Session;
use super::sql::{PROCESS, PROCESS_PROBE, Visibility};
use crate::dsn;
use crate::engines::{ConnectError, ReadSettings, tls};
use crate::model::ConnectErrorKind;

/// The `program_name` connect attribute the exporter sends (shown by
/// `performance_schema.session_connect_attrs` where it is enabled).
const PROGRAM_NAME: &str = "dbconn_exporter";

/// TLS as the MySQL client's `--ssl-mode` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SslMode {
    Disabled,
    Required,
    VerifyCa,
    VerifyIdentity,
}

pub struct Connector {
    opts: Opts,
    name: String,
    /// The `ssl-ca` file as read, empty without one.
    roots_pem: Vec<u8>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the options themselves: they hold the password.
        f.debug_struct("Connector")
            .field("target", &self.name)
            .finish()
    }
}

impl Connector {
    /// Parses `mysql://user:pass@host:port/db?ssl-mode=…&ssl-ca=…` (or `mariadb://`).
    /// `password` overrides any password in the DSN. Errors never contain the
    /// password.
    pub fn from_dsn(raw: &str, password: Option<&dsn::Secret>) -> Result<Connector, String> {
        let mut secrets = dsn::passwords_in(raw);
        secrets.extend(dsn::likely_secrets(raw));
        let scrub = |msg: String| dsn::scrub(&msg, &secrets);
        let scheme_len = match dsn::scheme(raw) {
            Some(s) if s.eq_ignore_ascii_case("mariadb") || s.eq_ignore_ascii_case("mysql") => {
                s.len()
            }
            _ => return Err("invalid MySQL DSN: use mysql:// or mariadb://".into()),
        };
        // Split before the scheme is rewritten, so that positions in errors are
        // positions in what the user wrote.
        let (url, mode, ca) = split_ssl_params(raw).map_err(scrub)?;
        let url = format!("mysql{}", &url[scheme_len..]);
        let opts = Opts::from_url(&url).map_err(|e| scrub(format!("invalid MySQL DSN: {e}")))?;
        if opts.user().is_none_or(str::is_empty) {
            return Err("invalid MySQL DSN: no user given".into());
        }
        let name = target_name(&opts);
        let mut builder = OptsBuilder::from_opts(opts)
            .connect_attribute("program_name", PROGRAM_NAME)
            .stmt_cache_size(0)
            .tcp_keepalive(Some(Duration::from_secs(10)))
            .prefer_socket(false);
        if let Some(p) = password {
            builder = builder.pass(Some(p.expose()));
        }
        // Read now, not by the driver at every connect: a wrong path, a FIFO or
        // /dev/zero is a configuration error, not a connect that hangs or fills memory.
        let ca = match ca {
            Some(path) => Some(tls::RootCerts::read(&path).map_err(|e| format!("ssl-ca: {e}"))?),
            None => None,
        };
        if let Some(ssl) = ssl_opts(mode, ca.as_ref()) {
            builder = builder.ssl_opts(ssl);
        }
        Ok(Connector {
            opts: builder.into(),
            name,
            roots_pem: ca.map(|c| c.pem().to_vec()).unwrap_or_default(),
        })
    }

    /// `host:port` (or `host:port/db`): the default target name.
    pub fn default_name(&self) -> String {
        self.name.clone()
    }

    /// The root certificates this connector trusts, as read (empty: none named).
    pub fn roots_pem(&self) -> &[u8] {
        &self.roots_pem
    }

    pub async fn connect(&self, settings: &ReadSettings) -> Result<Session, ConnectError> {
        let conn = Conn::new(self.opts.clone())
            .await
            .map_err(|e| classify_connect_error(&e))?;
        Session::set_up(conn, settings)
            .await
            .map_err(|e| classify_connect_error(&e))
    }
}

/// `host:port/db`, or `host:port` without a database.
fn target_name(opts: &Opts) -> String {
    match opts.db_name() {
        Some(db) if !db.is_empty() => {
            format!("{}:{}/{db}", opts.ip_or_hostname(), opts.tcp_port())
        }
        _ => format!("{}:{}", opts.ip_or_hostname(), opts.tcp_port()),
    }
}

/// The driver's TLS options for a mode and CA file; `None` for no TLS.
fn ssl_opts(mode: SslMode, ca: Option<&tls::RootCerts>) -> Option<SslOpts> {
    let ssl = match mode {
        SslMode::Disabled => None,
        SslMode::Required => Some(
            SslOpts::default()
                .with_danger_accept_invalid_certs(true)
                .with_danger_skip_domain_validation(true),
        ),
        SslMode::VerifyCa => Some(SslOpts::default().with_danger_skip_domain_validation(true)),
        SslMode::VerifyIdentity => Some(SslOpts::default()),
    };
    match (ssl, ca) {
        // As with the MySQL client, `ssl-ca` names the roots to trust: only those.
        (Some(s), Some(ca)) => Some(
            s.with_root_certs(vec![ca.pem().to_vec().into()])
                .with_disable_built_in_roots(true),
        ),
        (s, _) => s,
    }
}

/// Takes `ssl-mode` and `ssl-ca` (the MySQL client's names) out of the query string;
/// everything else goes to the driver, which rejects what it does not know. The
/// query is understood completely first (every pair `name=value`), and a user name
/// or password with an unencoded `@` is refused: URL parsers disagree on where it
/// ends. Keys given twice keep the last value.
fn split_ssl_params(url: &str) -> Result<(String, SslMode, Option<PathBuf>), String> {
    let (base, pairs) = dsn::split_url(url).map_err(|e| format!("invalid MySQL DSN: {e}"))?;
    let mut mode = SslMode::Disabled;
    let mut ca = None;
    // Decoded key (to find repeats), and the pair as written.
    let mut rest: Vec<(String, &str, &str)> = Vec::new();
    for pair in pairs {
        let value = dsn::percent_decode(pair.value);
        let key = dsn::percent_decode(pair.key);
        match key.to_ascii_lowercase().replace('_', "-").as_str() {
            "ssl-mode" => mode = ssl_mode(&value)?,
            "ssl-ca" => ca = Some(PathBuf::from(value)),
            _ => {
                rest.retain(|(k, _, _)| *k != key);
                rest.push((key, pair.key, pair.value));
            }
        }
    }
    // A CA given is a CA to check against: with `required` too (as libpq's
    // `require` with `sslrootcert`), never a file read and then ignored.
    if ca.is_some() && matches!(mode, SslMode::Disabled | SslMode::Required) {
        mode = SslMode::VerifyCa;
    }
    let url = if rest.is_empty() {
        base.to_string()
    } else {
        let query: Vec<String> = rest.iter().map(|(_, k, v)| format!("{k}={v}")).collect();
        format!("{base}?{}", query.join("&"))
    };
    Ok((url, mode, ca))
}

fn ssl_mode(value: &str) -> Result<SslMode, String> {
    match value.to_ascii_lowercase().replace('-', "_").as_str() {
        "disabled" => Ok(SslMode::Disabled),
        "required" => Ok(SslMode::Required),
        "verify_ca" => Ok(SslMode::VerifyCa),
        "verify_identity" => Ok(SslMode::VerifyIdentity),
        other => Err(format!(
            "invalid MySQL DSN: ssl-mode {other:?} is not one of disabled, required, verify_ca, verify_identity"
        )),
    }
}

/// Server error codes that mean "no slot for you".
const TOO_MANY_CONNECTIONS: [u16; 3] = [
    1040, // ER_CON_COUNT_ERROR: max_connections reached
    1203, // ER_TOO_MANY_USER_CONNECTIONS: the global max_user_connections
    1226, // ER_USER_LIMIT_REACHED: the account's MAX_USER_CONNECTIONS
];
/// Access denied (bad password, or no access to the database in the DSN).
const AUTH_FAILED: [u16; 3] = [1045, 1044, 1698];

/// ER_SPECIFIC_ACCESS_DENIED_ERROR: "you need (at least one of) the PROCESS privilege".
const SPECIFIC_ACCESS_DENIED: u16 = 1227;

pub fn classify_server_code(code: u16) -> ConnectErrorKind {
    if TOO_MANY_CONNECTIONS.contains(&code) {
        ConnectErrorKind::TooManyConnections
    } else if AUTH_FAILED.contains(&code) {
        ConnectErrorKind::AuthFailed
    } else {
        ConnectErrorKind::Other
    }
}

fn classify_connect_error(err: &mysql_async::Error) -> ConnectError {
    use mysql_async::{Error, IoError};
    let kind = match err {
        Error::Server(e) => classify_server_code(e.code),
        // rustls reports a refused certificate as an I/O error wrapping its own.
        Error::Io(IoError::Io(io))
            if io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some()) =>
        {
            ConnectErrorKind::Tls
        }
        Error::Io(IoError::Io(io)) => crate::engines::classify_io(io),
        Error::Io(IoError::Tls(_)) => ConnectErrorKind::Tls,
        // `ssl-mode=required` (or stricter) against a server that offers no TLS.
        Error::Driver(mysql_async::DriverError::NoClientSslFlagFromServer) => ConnectErrorKind::Tls,
        Error::Driver(mysql_async::DriverError::ConnectionClosed) => ConnectErrorKind::Unreachable,
        _ => ConnectErrorKind::Other,
    };
    ConnectError {
        kind,
        message: err.to_string(),
    }
}

/// Whether an error means the session is gone (reconnect) rather than one statement
/// failing.
pub(super) fn is_lost(err: &mysql_async::Error) -> bool {
    matches!(
        err,
        mysql_async::Error::Io(_)
            | mysql_async::Error::Driver(mysql_async::DriverError::ConnectionClosed)
    )
}

/// Errors after which a part of the read is not tried again on this session: the
/// server does not have the view, or the exporter may not read it.
pub(super) fn is_unsupported(err: &mysql_async::Error) -> bool {
    matches!(err, mysql_async::Error::Server(e) if matches!(
        e.code,
        1044 | 1142 | 1143 | 1227 | 1109 | 1146 | 1054 | 1193
    ))
}

/// Finds the session's [`Visibility`] by trying [`PROCESS_PROBE`].
pub(super) async fn probe_visibility(conn: &mut Conn) -> Result<Visibility, mysql_async::Error> {
    match conn.query_drop(PROCESS_PROBE).await {
        Ok(()) => Ok(Visibility::AllThreads),
        Err(mysql_async::Error::Server(e)) if e.code == SPECIFIC_ACCESS_DENIED => {
            Ok(Visibility::OwnThreads)
        }
        // Anything else (no InnoDB, say) is not a missing privilege: the full read is
        // tried, and its own failure says what is wrong.
        Err(mysql_async::Error::Server(e)) => {
            tracing::debug!(error = %e, "PROCESS probe failed; assuming the privilege is held");
            Ok(Visibility::AllThreads)
        }
        Err(e) => Err(e),
    }
}

/// The one log line, at connect, that says what is lost without `PROCESS` and how
/// to grant it (to the account as the server matched it, host part included).
pub(super) async fn warn_without_process(conn: &mut Conn) -> Result<(), mysql_async::Error> {
    let account: Option<String> = conn.query_first("SELECT CURRENT_USER()").await?;
    let account = account.unwrap_or_default();
    let grantee = match account.rsplit_once('@') {
        Some((user, host)) => format!("'{user}'@'{host}'"),
        None => format!("'{account}'"),
    };
    tracing::warn!(
        server = %format!("{}:{}", conn.opts().ip_or_hostname(), conn.opts().tcp_port()),
        account = %account,
        "the exporter's account lacks the PROCESS privilege: it sees only its own \
         sessions. The others are still counted (from Threads_connected, so the usage \
         ratio stays right) but in state \"other\" with origin (hidden) and no \
         durations (dbconn_hidden_connections); idle-in-transaction sessions, the \
         oldest transaction and the lock views (blocked and blocking sessions, locks) \
         are not read. Fix: GRANT {PROCESS} ON *.* TO {grantee}"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_errors_are_classified_by_server_code() {
        assert_eq!(
            classify_server_code(1040),
            ConnectErrorKind::TooManyConnections
        );
        assert_eq!(
            classify_server_code(1203),
            ConnectErrorKind::TooManyConnections
        );
        assert_eq!(
            classify_server_code(1226),
            ConnectErrorKind::TooManyConnections
        );
        assert_eq!(classify_server_code(1045), ConnectErrorKind::AuthFailed);
        assert_eq!(classify_server_code(1044), ConnectErrorKind::AuthFailed);
        assert_eq!(classify_server_code(1129), ConnectErrorKind::Other);
    }

    #[test]
    fn tls_and_name_resolution_failures_are_classified() {
        let no_tls =
            mysql_async::Error::Driver(mysql_async::DriverError::NoClientSslFlagFromServer);
        assert_eq!(classify_connect_error(&no_tls).kind, ConnectErrorKind::Tls);
        let dns = std::io::Error::other(
            "failed to lookup address information: Name or service not known",
        );
        let dns = mysql_async::Error::Io(mysql_async::IoError::Io(dns));
        assert_eq!(
            classify_connect_error(&dns).kind,
            ConnectErrorKind::Unreachable
        );
    }

    #[test]
    fn ssl_params_are_taken_out_of_the_dsn() {
        let (url, mode, ca) =
            split_ssl_params("mysql://u:p@h:3306/db?ssl-mode=VERIFY_IDENTITY&ssl-ca=/ca.pem")
                .unwrap();
        assert_eq!(url, "mysql://u:p@h:3306/db");
        assert_eq!(mode, SslMode::VerifyIdentity);
        assert_eq!(ca, Some(PathBuf::from("/ca.pem")));
        let (_, mode, _) = split_ssl_params("mysql://u@h/?ssl_mode=required").unwrap();
        assert_eq!(mode, SslMode::Required);
        let (url, mode, _) = split_ssl_params("mysql://u@h/?ssl-ca=/x.pem&conn_ttl=5").unwrap();
        assert_eq!(url, "mysql://u@h/?conn_ttl=5");
        assert_eq!(mode, SslMode::VerifyCa);
        assert!(split_ssl_params("mysql://u@h/?ssl-mode=sometimes").is_err());
    }

    #[test]
    fn query_strings_are_understood_completely() {
        for (dsn, expected) in [
            (
                "mysql://u@h/?ssl-mode=required&verify",
                "at character 32: expected name=value",
            ),
            (
                "mysql://u@h/?=x",
                "at character 14: expected a parameter name",
            ),
            ("mysql://u:p@ss@h/", "%40"),
            (
                "mysql://u@h/ mysql://v@h/",
                "at character 13: a URL holds no white space",
            ),
        ] {
            let err = split_ssl_params(dsn).unwrap_err();
            assert!(err.contains(expected), "{dsn}: {err}");
        }
        // Repeated keys: the last wins.
        let (url, mode, _) = split_ssl_params(
            "mysql://u@h/?ssl-mode=disabled&conn_ttl=1&ssl_mode=required&conn_ttl=2",
        )
        .unwrap();
        assert_eq!(mode, SslMode::Required);
        assert_eq!(url, "mysql://u@h/?conn_ttl=2");
        // Positions are in what the user wrote, scheme included.
        let err = Connector::from_dsn("mariadb://u@h/?=x", None).unwrap_err();
        assert!(err.contains("at character 16"), "{err}");
    }

    #[test]
    fn the_ca_file_is_read_with_the_configuration() {
        let err = Connector::from_dsn(
            "mysql://u@h/?ssl-mode=verify_ca&ssl-ca=/nonexistent/ca.pem",
            None,
        )
        .unwrap_err();
        assert!(
            err.contains("ssl-ca: cannot read /nonexistent/ca.pem"),
            "{err}"
        );
        let err = Connector::from_dsn("mysql://u@h/?ssl-ca=/dev/zero", None).unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");
    }

    #[test]
    fn dsns_are_parsed_and_named_without_their_password() {
        let c = Connector::from_dsn("mariadb://mon:hunter2@db.example:3307/", None).unwrap();
        assert_eq!(c.default_name(), "db.example:3307");
        assert!(!format!("{c:?}").contains("hunter2"));
        let c = Connector::from_dsn("mysql://mon@db/app", None).unwrap();
        assert_eq!(c.default_name(), "db:3306/app");
        let err = Connector::from_dsn("mysql://:hunter2@db/", None).unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
        let err = Connector::from_dsn("mysql://u:hunter2@db/?bogus=1", None).unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }
}
