//! MySQL and MariaDB: one session, a few aggregated reads of the processlist, InnoDB
//! and the server's status, picked by flavour and version.
//!
//! Why the SQL looks the way it does:
//! - Sessions are aggregated in SQL (one row per database, user, client host,
//!   command and "has an open InnoDB transaction"), so the rows sent do not grow
//!   with the number of sessions. The client port is cut off the host in SQL, or
//!   every session would be its own group.
//! - `idle_in_transaction` is a sleeping thread with a row in `INNODB_TRX`: the
//!   processlist alone cannot tell a pooled idle connection from one that left a
//!   transaction open.
//! - Server threads (`system user`, the event scheduler, replication) are not client
//!   sessions and never cause "Too many connections"; they are left out.
//! - Settings and counters are read with `SHOW GLOBAL VARIABLES/STATUS WHERE
//!   Variable_name IN (…)`, which returns what exists and never fails on a variable
//!   one flavour lacks.
//! - Each part is its own statement, and a read sends them all as one
//!   multi-statement query: one round trip instead of six (the driver cannot
//!   pipeline). Each statement is still bounded by the session's statement time
//!   limit. A part the server does not support (a view removed in MySQL 8, a table
//!   the exporter may not read) is skipped for the rest of the session with a logged
//!   reason; it never fails the scrape.
//! - Without `PROCESS` the processlist shows only the account's own threads and the
//!   InnoDB views are refused. Failing the read would look like a down server, and
//!   counting what is visible like an idle one; instead the sessions not seen are
//!   counted from `Threads_connected` (no privilege needed, and the very count the
//!   server holds against `max_connections`) as hidden, and the refused parts are
//!   not sent. Which case applies is found once, at connect.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Row, SslOpts, Value};

use super::{ConnectError, Progress, ReadError, ReadSettings, tls};
use crate::dsn;
use crate::model::{
    Blocking, ConnectErrorKind, Engine, LimitUse, LockCount, Origin, Privilege, ReadPart,
    ServerCounters, SessionGroup, Snapshot, State, summarize_sessions,
};

/// The `program_name` connect attribute the exporter sends (shown by
/// `performance_schema.session_connect_attrs` where it is enabled).
pub const PROGRAM_NAME: &str = "dbconn_exporter";

/// The database label of a session without a default database.
pub const NO_DATABASE: &str = "(none)";

/// A server version, major.minor.patch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u16, pub u16, pub u16);

/// Reads flavour and version from `SELECT VERSION(), @@version_comment`.
pub fn detect(version: &str, comment: &str) -> (Engine, Version) {
    let flavor = if version.to_ascii_lowercase().contains("mariadb")
        || comment.to_ascii_lowercase().contains("mariadb")
    {
        Engine::MariaDb
    } else {
        Engine::MySql
    };
    // MariaDB 10.x once reported "5.5.5-10.x.y-MariaDB" to old clients.
    let text = version.strip_prefix("5.5.5-").unwrap_or(version);
    let mut parts = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .map(|p| p.parse::<u16>().unwrap_or(0));
    let v = Version(
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    (flavor, v)
}

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
    pub fn from_dsn(
        raw: &str,
        password: Option<&dsn::Secret>,
        connect_timeout: Duration,
    ) -> Result<Connector, String> {
        let _ = connect_timeout; // the target bounds every connect with its own timeout
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
        let name = match opts.db_name() {
            Some(db) if !db.is_empty() => {
                format!("{}:{}/{db}", opts.ip_or_hostname(), opts.tcp_port())
            }
            _ => format!("{}:{}", opts.ip_or_hostname(), opts.tcp_port()),
        };
        let mut builder = OptsBuilder::from_opts(opts)
            .connect_attribute("program_name", PROGRAM_NAME)
            .stmt_cache_size(0)
            .tcp_keepalive(Some(Duration::from_secs(10)))
            .prefer_socket(false);
        if let Some(p) = password {
            builder = builder.pass(Some(p.expose()));
        }
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
        // Read now, not by the driver at every connect: a wrong path, a FIFO or
        // /dev/zero is a configuration error, not a connect that hangs or fills memory.
        let ca = match ca {
            Some(path) => Some(tls::RootCerts::read(&path).map_err(|e| format!("ssl-ca: {e}"))?),
            None => None,
        };
        let ssl = match (ssl, ca) {
            // As with the MySQL client, `ssl-ca` names the roots to trust: only those.
            (Some(s), Some(ca)) => Some(
                s.with_root_certs(vec![ca.pem().to_vec().into()])
                    .with_disable_built_in_roots(true),
            ),
            (s, _) => s,
        };
        if let Some(ssl) = ssl {
            builder = builder.ssl_opts(ssl);
        }
        Ok(Connector {
            opts: builder.into(),
            name,
        })
    }

    /// `host:port` (or `host:port/db`): the default target name.
    pub fn default_name(&self) -> String {
        self.name.clone()
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
            "ssl-mode" => {
                mode = match value.to_ascii_lowercase().replace('-', "_").as_str() {
                    "disabled" => SslMode::Disabled,
                    "required" => SslMode::Required,
                    "verify_ca" => SslMode::VerifyCa,
                    "verify_identity" => SslMode::VerifyIdentity,
                    other => {
                        return Err(format!(
                            "invalid MySQL DSN: ssl-mode {other:?} is not one of disabled, required, verify_ca, verify_identity"
                        ));
                    }
                }
            }
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

/// Server error codes that mean "no slot for you".
const TOO_MANY_CONNECTIONS: [u16; 3] = [
    1040, // ER_CON_COUNT_ERROR: max_connections reached
    1203, // ER_TOO_MANY_USER_CONNECTIONS: the global max_user_connections
    1226, // ER_USER_LIMIT_REACHED: the account's MAX_USER_CONNECTIONS
];
/// Access denied (bad password, or no access to the database in the DSN).
const AUTH_FAILED: [u16; 3] = [1045, 1044, 1698];

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
        Error::Io(IoError::Io(io)) => super::classify_io(io),
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
fn is_lost(err: &mysql_async::Error) -> bool {
    matches!(
        err,
        mysql_async::Error::Io(_)
            | mysql_async::Error::Driver(mysql_async::DriverError::ConnectionClosed)
    )
}

/// Errors after which a part of the read is not tried again on this session: the
/// server does not have the view, or the exporter may not read it.
fn is_unsupported(err: &mysql_async::Error) -> bool {
    matches!(err, mysql_async::Error::Server(e) if matches!(
        e.code,
        1044 | 1142 | 1143 | 1227 | 1109 | 1146 | 1054 | 1193
    ))
}

/// What the exporter's account may see, found once per session at set-up (the server
/// applies a change of global grants at the next login, not to a live session).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// `PROCESS` held: every thread in the processlist, `INNODB_TRX` and the lock
    /// views.
    AllThreads,
    /// No `PROCESS`: the processlist shows the account's own threads only and the
    /// InnoDB views are refused (error 1227). The other sessions are counted from
    /// `Threads_connected`, which needs no privilege, so the headline stays right.
    OwnThreads,
}

/// The privilege that decides the [`Visibility`], as `dbconn_missing_privilege` names it.
pub const PROCESS: &str = "PROCESS";

/// Database, user and application of the sessions the exporter may count but not see.
pub const HIDDEN: &str = "(hidden)";

/// The SQL one flavour, version and [`Visibility`] gets. Pure, so that which
/// statement each server gets is unit-tested without a server (MySQL 8 cannot run
/// where the suite runs).
#[derive(Debug, Clone, PartialEq)]
pub struct Sql {
    pub visibility: Visibility,
    pub session_setup: Vec<String>,
    pub activity: String,
    pub variables: String,
    pub status: String,
    pub blocking: String,
    pub locks: String,
    pub user_limits: String,
}

/// Every part a read may have, in the order `dbconn_scrape_collector_success` lists
/// them whatever was sent.
const COLLECTORS: [&str; 6] = [
    "activity",
    "settings",
    "user_limits",
    "status",
    "blocking",
    "locks",
];

impl Sql {
    /// Every part of a read with its statement, in the order they are sent: the
    /// required ones first, then the one most often refused (it needs `SELECT` on
    /// `mysql.user`). After a refusal the parts behind it go one by one for that
    /// read; later reads leave the refused part out and are one batch again.
    ///
    /// Without `PROCESS` the lock views are not sent (they would be refused), and
    /// `status` is required: its `Threads_connected` is the only count of the
    /// sessions the exporter cannot see.
    pub fn parts(&self) -> Vec<(&'static str, &str)> {
        match self.visibility {
            Visibility::AllThreads => vec![
                ("activity", &self.activity),
                ("settings", &self.variables),
                ("user_limits", &self.user_limits),
                ("status", &self.status),
                ("blocking", &self.blocking),
                ("locks", &self.locks),
            ],
            Visibility::OwnThreads => vec![
                ("activity", &self.activity),
                ("settings", &self.variables),
                ("status", &self.status),
                ("user_limits", &self.user_limits),
            ],
        }
    }

    /// How many of the first [`Sql::parts`] a read cannot do without; a failure in
    /// one of them fails the read.
    pub fn required_parts(&self) -> usize {
        match self.visibility {
            Visibility::AllThreads => 2,
            Visibility::OwnThreads => 3,
        }
    }
}

/// Every variable the exporter reads; missing ones are simply not returned.
const VARIABLES: &[&str] = &[
    "max_connections",
    "max_user_connections",
    "wait_timeout",
    "interactive_timeout",
    "max_statement_time",
    "max_execution_time",
    "lock_wait_timeout",
    "innodb_lock_wait_timeout",
    "idle_transaction_timeout",
    "idle_readonly_transaction_timeout",
    "idle_write_transaction_timeout",
];

const STATUS: &[&str] = &[
    "Max_used_connections",
    "Connection_errors_max_connections",
    "Aborted_connects",
    "Connections",
    "Threads_running",
    "Innodb_deadlocks",
];

/// Client connections, as the server counts them against `max_connections` (the
/// admin-slot one and those still logging in included; not the event scheduler nor
/// other server threads). Read only without `PROCESS`, where it is the total.
const THREADS_CONNECTED: &str = "Threads_connected";

fn in_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The SQL of an account that holds `PROCESS`.
pub fn sql_for(flavor: Engine, version: Version, settings: &ReadSettings) -> Sql {
    sql_for_visibility(flavor, version, Visibility::AllThreads, settings)
}

pub fn sql_for_visibility(
    flavor: Engine,
    version: Version,
    visibility: Visibility,
    settings: &ReadSettings,
) -> Sql {
    let statement_secs = settings.statement_timeout.as_secs_f64().max(0.001);
    let lock_secs = settings.lock_timeout.as_secs().max(1);
    let mut session_setup = vec![
        format!("SET SESSION lock_wait_timeout = {lock_secs}"),
        format!("SET SESSION innodb_lock_wait_timeout = {lock_secs}"),
        // The exporter keeps its slot between scrapes, whatever the server's idle
        // timeout for applications.
        "SET SESSION wait_timeout = 31536000".to_string(),
        "SET SESSION TRANSACTION READ ONLY".to_string(),
    ];
    match flavor {
        Engine::MariaDb => session_setup.push(format!(
            "SET SESSION max_statement_time = {statement_secs:.3}"
        )),
        Engine::MySql if version >= Version(5, 7, 8) => session_setup.push(format!(
            "SET SESSION max_execution_time = {}",
            settings.statement_timeout.as_millis().max(1)
        )),
        // Older MySQL has no statement time limit; a PostgreSQL engine never gets here.
        Engine::MySql | Engine::PostgreSql => {}
    }

    // MySQL 8.0.22+ has the processlist in performance_schema (the
    // information_schema one is deprecated and takes a global mutex).
    let processlist = match flavor {
        Engine::MySql if version >= Version(8, 0, 22) => "performance_schema.processlist",
        _ => "information_schema.PROCESSLIST",
    };
    // Whole seconds (TIME), not MariaDB's TIME_MS: TIME_MS is a DECIMAL, and MAX and
    // SUM over it made this statement 3.4 ms instead of 1.6 ms at 1,000 sessions
    // (10 ms instead of 3.4 ms at 2,000). TIME is the whole seconds elapsed, so
    // `TIME >= t` is "at least t seconds" for a whole t; a fractional threshold is
    // rounded up.
    let over: String = settings
        .thresholds
        .iter()
        .map(|t| format!(", COUNT(IF(p.TIME >= {}, 1, NULL))", t.ceil()))
        .collect();
    // The client host without its port ("10.0.0.7:51234" -> "10.0.0.7"; IPv6 keeps
    // its colons but not the last one; "localhost", without a port, stays whole as
    // LOCATE gives 0). No `IF(HOST LIKE '%:%', …)` around it: that test cost 0.15 ms
    // at 1,000 sessions and 0.4 ms at 2,000 for nothing.
    let host = "IFNULL(LEFT(p.HOST, CHAR_LENGTH(p.HOST) - LOCATE(':', REVERSE(p.HOST))), '')";
    let activity = match visibility {
        // A semi-join on INNODB_TRX (not a LEFT JOIN, which cost another 0.85 ms at
        // 1,000 sessions) and the oldest transaction as one uncorrelated subquery.
        Visibility::AllThreads => format!(
            "SELECT p.DB, p.USER, {host} AS client, p.COMMAND, \
             p.ID IN (SELECT trx_mysql_thread_id FROM information_schema.INNODB_TRX) AS in_trx, \
             COUNT(*), IFNULL(MAX(p.TIME), 0), \
             (SELECT MAX(TIMESTAMPDIFF(MICROSECOND, trx_started, NOW(6))) \
              FROM information_schema.INNODB_TRX) / 1000000{over} \
             FROM {processlist} p \
             WHERE IFNULL(p.USER, '') NOT IN ('system user', 'event_scheduler') \
             AND p.COMMAND NOT IN ('Daemon', 'Binlog Dump', 'Binlog Dump GTID') \
             GROUP BY 1, 2, 3, 4, 5"
        ),
        // INNODB_TRX is refused without PROCESS: the same columns, with no
        // transaction known (a sleeping thread reads as idle) and no oldest one.
        Visibility::OwnThreads => format!(
            "SELECT p.DB, p.USER, {host} AS client, p.COMMAND, 0 AS in_trx, \
             COUNT(*), IFNULL(MAX(p.TIME), 0), NULL{over} \
             FROM {processlist} p \
             WHERE IFNULL(p.USER, '') NOT IN ('system user', 'event_scheduler') \
             AND p.COMMAND NOT IN ('Daemon', 'Binlog Dump', 'Binlog Dump GTID') \
             GROUP BY 1, 2, 3, 4"
        ),
    };
    let lock_views_in_performance_schema = flavor == Engine::MySql && version >= Version(8, 0, 1);
    let blocking = if lock_views_in_performance_schema {
        "SELECT COUNT(DISTINCT w.REQUESTING_ENGINE_TRANSACTION_ID), \
         COUNT(DISTINCT w.BLOCKING_ENGINE_TRANSACTION_ID), \
         IFNULL(MAX(TIMESTAMPDIFF(MICROSECOND, r.trx_wait_started, NOW(6))), 0) / 1000000 \
         FROM performance_schema.data_lock_waits w \
         JOIN information_schema.INNODB_TRX r ON r.trx_id = w.REQUESTING_ENGINE_TRANSACTION_ID"
            .to_string()
    } else {
        "SELECT COUNT(DISTINCT w.requesting_trx_id), COUNT(DISTINCT w.blocking_trx_id), \
         IFNULL(MAX(TIMESTAMPDIFF(MICROSECOND, r.trx_wait_started, NOW(6))), 0) / 1000000 \
         FROM information_schema.INNODB_LOCK_WAITS w \
         JOIN information_schema.INNODB_TRX r ON r.trx_id = w.requesting_trx_id"
            .to_string()
    };
    let locks = if lock_views_in_performance_schema {
        "SELECT LOCK_MODE, LOCK_STATUS = 'GRANTED', COUNT(*) \
         FROM performance_schema.data_locks GROUP BY 1, 2"
            .to_string()
    } else {
        // Before MySQL 8 (and on MariaDB) InnoDB lists only the locks that take part
        // in a wait, as blocker or as requester.
        "SELECT l.lock_mode, l.lock_id NOT IN \
         (SELECT requested_lock_id FROM information_schema.INNODB_LOCK_WAITS), COUNT(*) \
         FROM information_schema.INNODB_LOCKS l GROUP BY 1, 2"
            .to_string()
    };
    let status = match visibility {
        Visibility::AllThreads => in_list(STATUS),
        Visibility::OwnThreads => format!("{}, '{THREADS_CONNECTED}'", in_list(STATUS)),
    };
    Sql {
        visibility,
        session_setup,
        activity,
        variables: format!(
            "SHOW GLOBAL VARIABLES WHERE Variable_name IN ({})",
            in_list(VARIABLES)
        ),
        status: format!("SHOW GLOBAL STATUS WHERE Variable_name IN ({status})"),
        blocking,
        locks,
        user_limits: "SELECT User, MAX(max_user_connections) FROM mysql.user \
                      WHERE max_user_connections > 0 GROUP BY User"
            .to_string(),
    }
}

/// Reading `INNODB_TRX` needs `PROCESS`, the privilege that also shows every thread
/// in the processlist: trying it tests the session's effective privileges, however
/// they came (a direct grant, `GRANT ALL`, a MySQL 8 role active at login), which
/// `SHOW GRANTS` would leave to interpretation. Not `LIMIT 0`: the server then skips
/// filling the table, and the privilege check with it.
const PROCESS_PROBE: &str = "SELECT COUNT(*) FROM information_schema.INNODB_TRX";

/// ER_SPECIFIC_ACCESS_DENIED_ERROR: "you need (at least one of) the PROCESS privilege".
const SPECIFIC_ACCESS_DENIED: u16 = 1227;

async fn probe_visibility(conn: &mut Conn) -> Result<Visibility, mysql_async::Error> {
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
async fn warn_without_process(conn: &mut Conn) -> Result<(), mysql_async::Error> {
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

pub struct Session {
    conn: Conn,
    flavor: Engine,
    version: String,
    sql: Arc<Sql>,
    lost: bool,
    /// Parts of the read this server does not support, with the reason, skipped for
    /// the rest of the session.
    unsupported: HashSet<&'static str>,
    progress: Arc<Progress>,
}

impl Session {
    async fn set_up(
        mut conn: Conn,
        settings: &ReadSettings,
    ) -> Result<Session, mysql_async::Error> {
        let row: Option<(String, Option<String>)> = conn
            .query_first("SELECT VERSION(), @@version_comment")
            .await?;
        let (version, comment) = row.unwrap_or_default();
        let (flavor, v) = detect(&version, comment.as_deref().unwrap_or(""));
        let mut sql = sql_for(flavor, v, settings);
        for statement in &sql.session_setup {
            conn.query_drop(statement).await?;
        }
        // After the set-up, so that the probe runs under the statement time limit.
        let visibility = probe_visibility(&mut conn).await?;
        if visibility == Visibility::OwnThreads {
            warn_without_process(&mut conn).await?;
            sql = sql_for_visibility(flavor, v, visibility, settings);
        }
        tracing::debug!(flavor = ?flavor, version = %version, visibility = ?visibility, "MySQL-family session ready");
        Ok(Session {
            conn,
            flavor,
            version,
            sql: Arc::new(sql),
            lost: false,
            unsupported: HashSet::new(),
            progress: Arc::new(Progress::default()),
        })
    }

    pub fn is_closed(&self) -> bool {
        self.lost
    }

    pub fn progress(&self) -> Arc<Progress> {
        Arc::clone(&self.progress)
    }

    /// Closes the socket now. Dropping a `Conn` would instead hand it to a
    /// background task that first drains any half-read result, which towards a hung
    /// peer never ends and keeps the socket open beside the next session.
    /// `disconnect` marks the connection closed before it writes: cut short, it
    /// drops the socket.
    pub async fn close(self) {
        let _ = tokio::time::timeout(Duration::from_millis(500), self.conn.disconnect()).await;
    }

    async fn query(&mut self, sql: &str) -> Result<Vec<Row>, mysql_async::Error> {
        let result = self.conn.query::<Row, _>(sql).await;
        self.progress.touch();
        if let Err(e) = &result
            && is_lost(e)
        {
            self.lost = true;
        }
        result
    }

    /// Sends the parts in one round trip, as one multi-statement query. The server
    /// stops at the first statement that fails; the parts after it are then sent one
    /// by one, so that a view the exporter may not read costs its own part, not the
    /// read. One entry per part: `None` for a part that failed.
    async fn run(
        &mut self,
        parts: &[(&'static str, &str)],
        required: usize,
    ) -> Result<Vec<Option<Vec<Row>>>, ReadError> {
        let batch = parts
            .iter()
            .map(|(_, sql)| *sql)
            .collect::<Vec<_>>()
            .join(";\n");
        let (done, failure) = self.batch(&batch, parts.len()).await;
        let failed_at = done.len();
        let mut results: Vec<Option<Vec<Row>>> = done.into_iter().map(Some).collect();
        let Some(error) = failure else {
            return Ok(results);
        };
        if self.lost {
            return Err(ReadError::Lost(error.to_string()));
        }
        let Some((failed, rest)) = parts.get(failed_at..).and_then(|p| p.split_first()) else {
            // Every part arrived; the error came after the last one.
            return Ok(results);
        };
        if failed_at < required {
            return Err(ReadError::Failed(error.to_string()));
        }
        self.part_failed(failed.0, &error);
        results.push(None);
        for (name, sql) in rest {
            results.push(match self.query(sql).await {
                Ok(rows) => Some(rows),
                Err(e) if self.lost => return Err(ReadError::Lost(e.to_string())),
                Err(e) => {
                    self.part_failed(name, &e);
                    None
                }
            });
        }
        Ok(results)
    }

    /// The result sets of a multi-statement query up to the first error, and that
    /// error.
    async fn batch(
        &mut self,
        sql: &str,
        statements: usize,
    ) -> (Vec<Vec<Row>>, Option<mysql_async::Error>) {
        let mut done = Vec::with_capacity(statements);
        let error = match self.conn.query_iter(sql).await {
            Err(e) => Some(e),
            Ok(mut result) => loop {
                if done.len() == statements {
                    break result.drop_result().await.err();
                }
                let rows = result.collect::<Row>().await;
                self.progress.touch();
                match rows {
                    Ok(rows) => done.push(rows),
                    Err(e) => break Some(e),
                }
            },
        };
        if let Some(e) = &error
            && is_lost(e)
        {
            self.lost = true;
        }
        (done, error)
    }

    fn part_failed(&mut self, name: &'static str, e: &mysql_async::Error) {
        if is_unsupported(e) {
            tracing::warn!(collector = name, error = %e, "not supported by this server or not permitted; skipped from now on");
            self.unsupported.insert(name);
        } else {
            tracing::warn!(collector = name, error = %e, "part of the read failed");
        }
    }

    pub async fn read(&mut self, settings: &ReadSettings) -> Result<Snapshot, ReadError> {
        let sql = Arc::clone(&self.sql);
        // A required part never fails without failing the read, so it is never
        // skipped, and the required ones stay the first.
        let parts: Vec<(&'static str, &str)> = sql
            .parts()
            .into_iter()
            .filter(|(name, _)| !self.unsupported.contains(name))
            .collect();
        let mut results = self.run(&parts, sql.required_parts()).await?;
        let collectors: Vec<ReadPart> = COLLECTORS
            .iter()
            .map(|name| ReadPart {
                name,
                success: parts
                    .iter()
                    .position(|(n, _)| n == name)
                    .is_some_and(|i| results.get(i).is_some_and(Option::is_some)),
            })
            .collect();
        let mut rows_of = |name: &str| {
            parts
                .iter()
                .position(|(n, _)| *n == name)
                .and_then(|i| results.get_mut(i))
                .and_then(Option::take)
        };
        let activity = rows_of("activity").unwrap_or_default();
        let variables = name_values(&rows_of("settings").unwrap_or_default());
        let status = rows_of("status").map(|rows| name_values(&rows));
        let blocking = rows_of("blocking");
        let locks = rows_of("locks");
        let user_limits = rows_of("user_limits");
        let status_u64 = |name: &str| {
            status
                .as_ref()
                .and_then(|s| s.get(name))
                .and_then(|v| v.parse::<u64>().ok())
        };

        let mut groups = parse_activity(&activity, settings.thresholds.len())?;
        if sql.visibility == Visibility::OwnThreads {
            let connected = status_u64(THREADS_CONNECTED).ok_or_else(|| {
                ReadError::Failed("the server did not report Threads_connected".into())
            })?;
            let hidden = hidden_sessions(connected, &groups);
            if hidden > 0 {
                groups.push(hidden_group(hidden, settings.thresholds.len()));
            }
        }
        let mut facts = summarize_sessions(groups, &settings.thresholds, settings.origin_cap);
        // The hidden sessions are nobody's for the per-account limits.
        facts.per_user.remove(HIDDEN);
        let max_connections = variables
            .get("max_connections")
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| ReadError::Failed("the server did not report max_connections".into()))?;

        let global_user_limit = variables
            .get("max_user_connections")
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|n| *n > 0);
        let user_limits = user_limits.map(|rows| {
            let own: HashMap<String, u64> = rows
                .iter()
                .filter_map(|r| Some((text(r, 0)?, number(r, 1)? as u64)))
                .collect();
            user_limit_use(
                &own,
                global_user_limit,
                &facts.per_user,
                sql.visibility == Visibility::AllThreads,
            )
        });

        // The processlist does not tell when a session connected.
        facts.average_connection_age_seconds = None;
        facts.max_connection_age_seconds = None;
        Ok(Snapshot {
            blocking: blocking.map(|rows| parse_blocking(&rows)),
            locks: locks.map(|rows| parse_locks(&rows)),
            user_limits,
            timeouts: timeouts(&variables),
            max_used_connections: status_u64("Max_used_connections"),
            threads_running: status_u64("Threads_running"),
            counters: ServerCounters {
                deadlocks: status_u64("Innodb_deadlocks"),
                sessions: status_u64("Connections"),
                abnormal_ends: Vec::new(),
                refused: status_u64("Connection_errors_max_connections"),
                failed: status_u64("Aborted_connects"),
            },
            parts: collectors,
            privileges: vec![Privilege {
                name: PROCESS,
                granted: sql.visibility == Visibility::AllThreads,
            }],
            // The extra admin slot (SUPER / CONNECTION_ADMIN) comes on top of
            // max_connections; ordinary logins may use all of it: nothing reserved.
            ..Snapshot::new(self.flavor, self.version.clone(), max_connections, 0, facts)
        })
    }
}

/// A limit for every account that has its own, and the global
/// `max_user_connections` for the users seen in sessions that have none. When not
/// every user's sessions are seen (no `PROCESS`), only the users seen: the others'
/// use is unknown, and 0 would be a plausible lie.
fn user_limit_use(
    own: &HashMap<String, u64>,
    global: Option<i64>,
    used: &HashMap<String, u64>,
    every_user_seen: bool,
) -> Vec<LimitUse> {
    let mut out: Vec<LimitUse> = own
        .iter()
        .filter(|(name, _)| every_user_seen || used.contains_key(*name))
        .map(|(name, limit)| LimitUse {
            name: name.clone(),
            limit: *limit,
            used: used.get(name).copied().unwrap_or(0),
        })
        .collect();
    if let Some(global) = global {
        for (name, n) in used {
            if !own.contains_key(name) {
                out.push(LimitUse {
                    name: name.clone(),
                    limit: global as u64,
                    used: *n,
                });
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Timeouts that end sessions or statements, in seconds (0 = disabled).
fn timeouts(variables: &HashMap<String, String>) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for name in VARIABLES {
        if matches!(*name, "max_connections" | "max_user_connections") {
            continue;
        }
        let Some(value) = variables.get(*name).and_then(|v| v.parse::<f64>().ok()) else {
            continue;
        };
        // MySQL's max_execution_time is in milliseconds; everything else in seconds.
        let seconds = if *name == "max_execution_time" {
            value / 1000.0
        } else {
            value
        };
        out.push((name.to_string(), seconds));
    }
    out
}

fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Double(d) => Some(d.to_string()),
        other => Some(format!("{other:?}")),
    }
}

/// A result row's cells by position: the driver's rows, and plain values in unit
/// tests (the driver offers no way to build a row).
trait Cells {
    fn cell(&self, i: usize) -> Option<&Value>;
    fn width(&self) -> usize;
}

impl Cells for Row {
    fn cell(&self, i: usize) -> Option<&Value> {
        self.as_ref(i)
    }

    fn width(&self) -> usize {
        self.len()
    }
}

fn text(row: &impl Cells, i: usize) -> Option<String> {
    row.cell(i).and_then(value_text)
}

fn number(row: &impl Cells, i: usize) -> Option<f64> {
    text(row, i).and_then(|t| t.trim().parse::<f64>().ok())
}

fn name_values(rows: &[impl Cells]) -> HashMap<String, String> {
    rows.iter()
        .filter_map(|r| Some((text(r, 0)?, text(r, 1).unwrap_or_default())))
        .collect()
}

fn parse_activity(rows: &[impl Cells], thresholds: usize) -> Result<Vec<SessionGroup>, ReadError> {
    let mut groups = Vec::with_capacity(rows.len());
    for row in rows {
        if row.width() < 8 + thresholds {
            return Err(ReadError::Failed(format!(
                "activity row has {} columns, expected {}",
                row.width(),
                8 + thresholds
            )));
        }
        let command = text(row, 3).unwrap_or_default();
        let in_trx = number(row, 4).unwrap_or(0.0) > 0.0;
        let Some(state) = state_of(&command, in_trx) else {
            continue;
        };
        let count = number(row, 5).unwrap_or(0.0) as u64;
        groups.push(SessionGroup {
            hidden: false,
            origin: Origin {
                database: text(row, 0)
                    .filter(|d| !d.is_empty())
                    .unwrap_or_else(|| NO_DATABASE.to_string()),
                user: text(row, 1).unwrap_or_default(),
                application: text(row, 2).unwrap_or_default(),
            },
            state,
            count,
            max_state_seconds: number(row, 6).unwrap_or(0.0),
            // The processlist does not tell when a session connected.
            sum_age_seconds: 0.0,
            max_age_seconds: 0.0,
            // Column 7 is the oldest transaction on the server, the same on every
            // row: it belongs to the groups that hold transactions.
            oldest_transaction_seconds: if in_trx { number(row, 7) } else { None },
            over: (0..thresholds)
                .map(|i| number(row, 8 + i).unwrap_or(0.0) as u64)
                .collect(),
        });
    }
    Ok(groups)
}

/// The sessions counted by the server but not seen in the processlist: client
/// connections minus the client threads seen (never below zero: the two are read a
/// moment apart).
fn hidden_sessions(threads_connected: u64, seen: &[SessionGroup]) -> u64 {
    let seen: u64 = seen.iter().map(|g| g.count).sum();
    threads_connected.saturating_sub(seen)
}

/// The sessions the exporter may count but not see: state `other`, origin
/// [`HIDDEN`], no durations.
fn hidden_group(count: u64, thresholds: usize) -> SessionGroup {
    SessionGroup {
        hidden: true,
        origin: Origin {
            database: HIDDEN.to_string(),
            user: HIDDEN.to_string(),
            application: HIDDEN.to_string(),
        },
        state: State::Other,
        count,
        max_state_seconds: 0.0,
        sum_age_seconds: 0.0,
        max_age_seconds: 0.0,
        oldest_transaction_seconds: None,
        over: vec![0; thresholds],
    }
}

fn parse_blocking(rows: &[Row]) -> Blocking {
    match rows.first() {
        Some(r) => Blocking {
            blocked: number(r, 0).unwrap_or(0.0) as u64,
            blocking: number(r, 1).unwrap_or(0.0) as u64,
            max_lock_wait_seconds: number(r, 2).unwrap_or(0.0).max(0.0),
        },
        None => Blocking::default(),
    }
}

fn parse_locks(rows: &[Row]) -> Vec<LockCount> {
    rows.iter()
        .filter_map(|r| {
            Some(LockCount {
                mode: text(r, 0)?,
                granted: number(r, 1)? > 0.0,
                count: number(r, 2)? as u64,
            })
        })
        .collect()
}

/// Maps a MySQL/MariaDB processlist `COMMAND`, given whether the thread has an open
/// InnoDB transaction. `None` means the thread is not a client session at all.
fn state_of(command: &str, in_transaction: bool) -> Option<State> {
    match command {
        "Sleep" if in_transaction => Some(State::IdleInTransaction),
        "Sleep" => Some(State::Idle),
        "Daemon" | "Binlog Dump" | "Binlog Dump GTID" | "Connect" | "Slave_IO" | "Slave_SQL"
        | "Slave_worker" | "Register Slave" => None,
        "Killed" | "Connect Out" => Some(State::Other),
        _ => Some(State::Active),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_commands_map_to_the_contract() {
        assert_eq!(state_of("Sleep", false), Some(State::Idle));
        assert_eq!(state_of("Sleep", true), Some(State::IdleInTransaction));
        assert_eq!(state_of("Query", false), Some(State::Active));
        assert_eq!(state_of("Execute", true), Some(State::Active));
        assert_eq!(state_of("Daemon", false), None);
        assert_eq!(state_of("Binlog Dump", false), None);
        assert_eq!(state_of("Slave_SQL", false), None);
    }

    fn settings() -> ReadSettings {
        ReadSettings {
            thresholds: vec![30.0, 60.0],
            origin_cap: 100,
            statement_timeout: Duration::from_secs(5),
            lock_timeout: Duration::from_millis(500),
        }
    }

    #[test]
    fn flavour_and_version_are_detected() {
        assert_eq!(
            detect("10.11.19-MariaDB-0+deb12u1", "Debian 12"),
            (Engine::MariaDb, Version(10, 11, 19))
        );
        assert_eq!(
            detect("5.5.5-10.6.12-MariaDB", ""),
            (Engine::MariaDb, Version(10, 6, 12))
        );
        assert_eq!(
            detect("8.0.36", "MySQL Community Server - GPL"),
            (Engine::MySql, Version(8, 0, 36))
        );
        assert_eq!(
            detect("11.4.2-MariaDB", "mariadb.org binary distribution"),
            (Engine::MariaDb, Version(11, 4, 2))
        );
        assert_eq!(detect("5.7.44-log", ""), (Engine::MySql, Version(5, 7, 44)));
    }

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
    fn each_flavour_and_version_gets_its_sql() {
        let s = settings();
        let maria = sql_for(Engine::MariaDb, Version(10, 11, 0), &s);
        assert!(maria.activity.contains("information_schema.PROCESSLIST"));
        assert!(!maria.activity.contains("TIME_MS"), "DECIMAL is slow");
        assert!(!maria.activity.contains("JOIN"), "a semi-join is cheaper");
        assert!(
            maria
                .blocking
                .contains("information_schema.INNODB_LOCK_WAITS")
        );
        assert!(maria.locks.contains("information_schema.INNODB_LOCKS"));
        assert!(
            maria
                .session_setup
                .iter()
                .any(|q| q == "SET SESSION max_statement_time = 5.000")
        );
        assert!(
            !maria
                .session_setup
                .iter()
                .any(|q| q.contains("max_execution_time"))
        );
        assert!(
            maria
                .session_setup
                .iter()
                .any(|q| q == "SET SESSION lock_wait_timeout = 1")
        );

        let mysql8 = sql_for(Engine::MySql, Version(8, 0, 36), &s);
        assert!(mysql8.activity.contains("performance_schema.processlist"));
        assert!(
            mysql8
                .blocking
                .contains("performance_schema.data_lock_waits")
        );
        assert!(mysql8.locks.contains("performance_schema.data_locks"));
        assert!(
            mysql8
                .session_setup
                .iter()
                .any(|q| q == "SET SESSION max_execution_time = 5000")
        );
        assert!(
            !mysql8
                .session_setup
                .iter()
                .any(|q| q.contains("max_statement_time"))
        );

        let mysql84 = sql_for(Engine::MySql, Version(8, 4, 0), &s);
        assert_eq!(mysql84.activity, mysql8.activity);

        // 8.0.0-8.0.21: data_lock views exist, the processlist table does not yet.
        let mysql8_early = sql_for(Engine::MySql, Version(8, 0, 18), &s);
        assert!(
            mysql8_early
                .activity
                .contains("information_schema.PROCESSLIST")
        );
        assert!(
            mysql8_early
                .blocking
                .contains("performance_schema.data_lock_waits")
        );

        let mysql57 = sql_for(Engine::MySql, Version(5, 7, 44), &s);
        assert!(mysql57.activity.contains("information_schema.PROCESSLIST"));
        assert!(
            mysql57
                .blocking
                .contains("information_schema.INNODB_LOCK_WAITS")
        );
        assert!(
            mysql57
                .session_setup
                .iter()
                .any(|q| q.contains("max_execution_time"))
        );

        let mysql56 = sql_for(Engine::MySql, Version(5, 6, 51), &s);
        assert!(
            !mysql56
                .session_setup
                .iter()
                .any(|q| q.contains("max_execution_time"))
        );

        let maria106 = sql_for(Engine::MariaDb, Version(10, 6, 0), &s);
        assert_eq!(maria106.activity, maria.activity);
        let maria11 = sql_for(Engine::MariaDb, Version(11, 4, 0), &s);
        assert_eq!(maria11.blocking, maria.blocking);
    }

    #[test]
    fn thresholds_become_columns_in_whole_seconds() {
        let mut s = settings();
        s.thresholds = vec![30.0, 60.0, 1.5];
        let sql = sql_for(Engine::MariaDb, Version(10, 11, 0), &s);
        assert!(sql.activity.contains("COUNT(IF(p.TIME >= 30, 1, NULL))"));
        assert!(sql.activity.contains("COUNT(IF(p.TIME >= 60, 1, NULL))"));
        assert!(sql.activity.contains("COUNT(IF(p.TIME >= 2, 1, NULL))"));
    }

    impl Cells for Vec<Value> {
        fn cell(&self, i: usize) -> Option<&Value> {
            self.get(i)
        }

        fn width(&self) -> usize {
            self.len()
        }
    }

    fn bytes(s: &str) -> Value {
        Value::Bytes(s.as_bytes().to_vec())
    }

    #[test]
    fn the_sql_follows_the_process_privilege() {
        let s = settings();
        for (flavor, version) in [
            (Engine::MariaDb, Version(10, 11, 0)),
            (Engine::MySql, Version(8, 0, 36)),
            (Engine::MySql, Version(5, 7, 44)),
        ] {
            let all = sql_for_visibility(flavor, version, Visibility::AllThreads, &s);
            // The privileged read is the one it always was.
            assert_eq!(all, sql_for(flavor, version, &s));
            assert!(all.activity.contains("INNODB_TRX"));
            assert!(!all.status.contains("Threads_connected"));
            let names: Vec<_> = all.parts().iter().map(|(n, _)| *n).collect();
            assert_eq!(
                names,
                [
                    "activity",
                    "settings",
                    "user_limits",
                    "status",
                    "blocking",
                    "locks"
                ]
            );
            assert_eq!(all.required_parts(), 2);

            let own = sql_for_visibility(flavor, version, Visibility::OwnThreads, &s);
            // Everything refused without PROCESS stays out: INNODB_TRX and the lock
            // views.
            assert!(!own.activity.contains("INNODB_TRX"), "{}", own.activity);
            let names: Vec<_> = own.parts().iter().map(|(n, _)| *n).collect();
            assert_eq!(names, ["activity", "settings", "status", "user_limits"]);
            // Threads_connected is the count of what is not seen: required.
            assert!(own.status.contains("'Threads_connected'"));
            assert_eq!(own.required_parts(), 3);
            assert!(names[..own.required_parts()].contains(&"status"));
            // The same processlist under the same filter as the privileged read.
            let source = |sql: &str| {
                sql.rsplit_once(" FROM ")
                    .and_then(|(_, tail)| tail.split(" GROUP BY").next())
                    .map(str::to_string)
            };
            assert!(
                source(&all.activity)
                    .is_some_and(|s| s.contains("PROCESSLIST") || s.contains("processlist"))
            );
            assert_eq!(source(&own.activity), source(&all.activity));
            assert_eq!(own.session_setup, all.session_setup);
            assert_eq!(own.variables, all.variables);
            assert_eq!(own.user_limits, all.user_limits);
        }
    }

    #[test]
    fn without_process_the_unseen_sessions_are_counted_as_hidden() {
        // Rows as the OwnThreads activity returns them: the exporter reading, and
        // another session of its account asleep (two thresholds).
        let rows = vec![
            vec![
                Value::NULL,
                bytes("monitor"),
                bytes("10.0.0.7"),
                bytes("Query"),
                Value::Int(0),
                Value::Int(1),
                Value::Int(0),
                Value::NULL,
                Value::Int(0),
                Value::Int(0),
            ],
            vec![
                bytes("shop"),
                bytes("monitor"),
                bytes("10.0.0.8"),
                bytes("Sleep"),
                Value::Int(0),
                Value::Int(1),
                Value::Int(40),
                Value::NULL,
                Value::Int(1),
                Value::Int(0),
            ],
        ];
        let mut groups = parse_activity(&rows, 2).unwrap();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].origin.database, NO_DATABASE);
        assert_eq!(groups[0].state, State::Active);
        // Without INNODB_TRX a sleeping thread reads as idle, with no transaction.
        assert_eq!(groups[1].state, State::Idle);
        assert_eq!(groups[1].oldest_transaction_seconds, None);
        assert_eq!(groups[1].over, vec![1, 0]);

        // 20 client connections on the server, 2 of them seen.
        let hidden = hidden_sessions(20, &groups);
        assert_eq!(hidden, 18);
        groups.push(hidden_group(hidden, 2));
        let facts = summarize_sessions(groups.clone(), &[30.0, 60.0], 100);
        assert_eq!(facts.by_state.total(), 20);
        assert_eq!(facts.by_state.get(State::Other), 18);
        assert_eq!(facts.over_duration[0].per_state.get(State::Other), 0);
        assert_eq!(facts.max_state_duration_seconds.get(State::Other), 0.0);
        let hidden_origin: u64 = facts
            .origins
            .iter()
            .filter(|o| o.origin.user == HIDDEN && o.origin.application == HIDDEN)
            .map(|o| o.count)
            .sum();
        assert_eq!(hidden_origin, 18);
        assert_eq!(facts.origins.iter().map(|o| o.count).sum::<u64>(), 20);

        // Read a moment apart, the processlist may see more than the status
        // counted: never a negative count.
        assert_eq!(hidden_sessions(1, &groups[..2]), 0);
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
        let err =
            Connector::from_dsn("mariadb://u@h/?=x", None, Duration::from_secs(1)).unwrap_err();
        assert!(err.contains("at character 16"), "{err}");
    }

    #[test]
    fn the_ca_file_is_read_with_the_configuration() {
        let err = Connector::from_dsn(
            "mysql://u@h/?ssl-mode=verify_ca&ssl-ca=/nonexistent/ca.pem",
            None,
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(
            err.contains("ssl-ca: cannot read /nonexistent/ca.pem"),
            "{err}"
        );
        let err = Connector::from_dsn(
            "mysql://u@h/?ssl-ca=/dev/zero",
            None,
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");
    }

    #[test]
    fn dsns_are_parsed_and_named_without_their_password() {
        let c = Connector::from_dsn(
            "mariadb://mon:hunter2@db.example:3307/",
            None,
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(c.default_name(), "db.example:3307");
        assert!(!format!("{c:?}").contains("hunter2"));
        let c = Connector::from_dsn("mysql://mon@db/app", None, Duration::from_secs(1)).unwrap();
        assert_eq!(c.default_name(), "db:3306/app");
        let err =
            Connector::from_dsn("mysql://:hunter2@db/", None, Duration::from_secs(1)).unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
        let err = Connector::from_dsn(
            "mysql://u:hunter2@db/?bogus=1",
            None,
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn global_user_limit_applies_to_users_without_their_own() {
        let own = HashMap::from([("capped".to_string(), 3)]);
        let used = HashMap::from([("capped".to_string(), 2), ("app".to_string(), 7)]);
        let limits = user_limit_use(&own, Some(50), &used, true);
        assert_eq!(
            limits,
            vec![
                LimitUse {
                    name: "app".into(),
                    limit: 50,
                    used: 7
                },
                LimitUse {
                    name: "capped".into(),
                    limit: 3,
                    used: 2
                },
            ]
        );
        assert_eq!(user_limit_use(&own, None, &used, true).len(), 1);
    }

    #[test]
    fn without_process_only_the_users_seen_get_their_limit_use() {
        // Without PROCESS only the exporter's own account is seen: another
        // account's use is unknown, not 0.
        let own = HashMap::from([("app".to_string(), 30), ("monitor".to_string(), 2)]);
        let used = HashMap::from([("monitor".to_string(), 1)]);
        assert_eq!(
            user_limit_use(&own, Some(50), &used, false),
            vec![LimitUse {
                name: "monitor".into(),
                limit: 2,
                used: 1
            }]
        );
        assert_eq!(user_limit_use(&own, Some(50), &used, true).len(), 2);
    }

    #[test]
    fn timeouts_are_in_seconds() {
        let vars = HashMap::from([
            ("wait_timeout".to_string(), "28800".to_string()),
            ("max_execution_time".to_string(), "1500".to_string()),
            ("max_connections".to_string(), "151".to_string()),
        ]);
        let t = timeouts(&vars);
        assert!(t.contains(&("wait_timeout".to_string(), 28800.0)));
        assert!(t.contains(&("max_execution_time".to_string(), 1.5)));
        assert!(!t.iter().any(|(n, _)| n == "max_connections"));
    }
}
