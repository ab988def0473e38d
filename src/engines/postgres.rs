//! PostgreSQL: one session, a handful of prepared statements pipelined per read.
//!
//! Why the SQL looks the way it does:
//! - Sessions are read from `pg_stat_get_activity(NULL)` rather than the
//!   `pg_stat_activity` view, because the view joins `pg_database` and `pg_authid`: a
//!   superuser holding a lock on either would otherwise blind the exporter exactly
//!   when something is wrong. Names come from a separate statement and are cached, so
//!   a locked catalog costs the names of new sessions, not the counts.
//! - Aggregation happens in SQL (one row per origin and state), so the rows sent do
//!   not grow with the number of sessions.
//! - Statements are independent (no surrounding transaction), so one failing on its
//!   lock timeout leaves the others' results intact.
//! - `pg_stat_get_activity` costs about 2 µs per backend on every call (4 ms at 2,000
//!   sessions), so it is called once per read. Lock waiters are rare: the blocking
//!   statement runs in a second round trip only when the activity read found one.
//!   `pg_settings` builds every GUC (0.3 ms even on an idle server) and its values
//!   change only on a reload, which `pg_conf_load_time()` reveals: it is re-read
//!   then, and kept otherwise (postmaster settings change only with a restart, which
//!   means a new session anyway).
//! - Client backends only: background workers, autovacuum and WAL senders have their
//!   own slots and never cause "too many clients".

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::tls::{self, Verify};
use super::{ConnectError, Progress, ReadError, ReadSettings};
use crate::dsn::{self, percent_decode, quote_keyword_value};
use crate::model::{
    Blocking, ConnectErrorKind, Engine, LimitUse, LockCount, Origin, Privilege, ReadPart,
    ServerCounters, SessionGroup, Snapshot, State, summarize_sessions,
};

/// The name the exporter gives itself on every session, so that DBAs (and the
/// exporter's own runbooks) can tell its session apart.
pub const APPLICATION_NAME: &str = "dbconn_exporter";

/// Oldest server version whose catalog the SQL below is written for.
const MIN_VERSION_NUM: i32 = 100_000;

pub struct Connector {
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
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
        let secrets = dsn::passwords_in(raw);
        let scrub = |msg: String| dsn::scrub(&msg, &secrets);
        let (rest, tls_params) = split_tls_params(raw).map_err(scrub)?;
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

    pub async fn connect(&self, settings: &ReadSettings) -> Result<Session, ConnectError> {
        let (client, connection) = self
            .config
            .connect(self.tls.clone())
            .await
            .map_err(|e| classify_connect_error(&e))?;
        // The connection task owns the socket: the session keeps its handle, so
        // closing the session closes the socket at once, even towards a hung peer.
        let connection = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "PostgreSQL session ended");
            }
        });
        match Session::set_up(client, settings).await {
            Ok(mut session) => {
                session.connection = Some(connection);
                Ok(session)
            }
            Err(e) => {
                connection.abort();
                Err(classify_connect_error(&e))
            }
        }
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

fn classify_connect_error(err: &tokio_postgres::Error) -> ConnectError {
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
        super::classify_io(io)
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
/// not: a DSN used in part could drop its `sslmode` and connect in plain text. Keys
/// given twice keep the last value, as in libpq.
fn split_tls_params(raw: &str) -> Result<(String, TlsParams), String> {
    let invalid = |e: String| format!("invalid PostgreSQL DSN: {e}");
    let mut mode: Option<String> = None;
    let mut root_cert: Option<PathBuf> = None;
    let rest = if dsn::scheme(raw).is_some() {
        let (base, pairs) = dsn::split_url(raw).map_err(invalid)?;
        // tokio-postgres takes everything before the first `@` of the whole string
        // as user and password, even an `@` in the path or query; encoded, it stays
        // where it was written.
        let base = match base.split_once("://") {
            Some((scheme, rest)) => {
                let authority_end = rest.find('/').unwrap_or(rest.len());
                format!(
                    "{scheme}://{}{}",
                    &rest[..authority_end],
                    rest[authority_end..].replace('@', "%40")
                )
            }
            None => base.to_string(),
        };
        let mut kept: Vec<(String, String)> = Vec::new();
        for pair in pairs {
            let key = percent_decode(pair.key);
            check_keyword(&key, pair.position)?;
            match key.as_str() {
                "sslmode" => mode = Some(percent_decode(pair.value)),
                "sslrootcert" => root_cert = Some(PathBuf::from(percent_decode(pair.value))),
                _ => {
                    kept.retain(|(k, _)| *k != key);
                    kept.push((key, pair.value.replace('@', "%40")));
                }
            }
        }
        let mut query: Vec<String> = kept.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        if let Some(m) = &mode {
            query.push(format!("sslmode={}", tokio_sslmode(m)?));
        }
        if query.is_empty() {
            base
        } else {
            format!("{base}?{}", query.join("&"))
        }
    } else {
        let pairs = dsn::parse_keyword_dsn(raw).map_err(|e| invalid(e.to_string()))?;
        if pairs.is_empty() {
            return Err(invalid("empty".into()));
        }
        let mut kept: Vec<(String, String)> = Vec::new();
        for pair in pairs {
            check_keyword(&pair.key, pair.position)?;
            match pair.key.as_str() {
                "sslmode" => mode = Some(pair.value),
                "sslrootcert" => root_cert = Some(PathBuf::from(pair.value)),
                _ => {
                    kept.retain(|(k, _)| *k != pair.key);
                    kept.push((pair.key, pair.value));
                }
            }
        }
        let mut words: Vec<String> = kept
            .iter()
            .map(|(k, v)| format!("{k}={}", quote_keyword_value(v)))
            .collect();
        if let Some(m) = &mode {
            words.push(format!("sslmode={}", tokio_sslmode(m)?));
        }
        words.join(" ")
    };
    let verify = match mode.as_deref() {
        Some("verify-full") => Verify::Full,
        Some("verify-ca") => Verify::Chain,
        // libpq: a root certificate given with `require` means verify-ca.
        Some("require") if root_cert.is_some() => Verify::Chain,
        _ => Verify::Nothing,
    };
    Ok((rest, TlsParams { verify, root_cert }))
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

/// Prepared statements, built once per session for its server version.
struct Statements {
    activity: Statement,
    settings: Statement,
    /// Prepared on its first read, not at connect: parsing it opens pg_database
    /// and pg_authid, and a lock on either must cost this statement on a read,
    /// never the session's set-up.
    names: String,
    names_prepared: std::sync::OnceLock<Statement>,
    locks: Statement,
    blocking: Statement,
    database_stats: Statement,
}

/// Role and database names by OID, kept from the last read that could see them.
#[derive(Default)]
struct Names {
    /// Whether the names were read at least once on this session.
    loaded: bool,
    /// Whether the role may see every session, as the names statement found.
    reads_all_stats: Option<bool>,
    databases: HashMap<u32, String>,
    roles: HashMap<u32, String>,
    user_limits: Vec<(String, i32)>,
    database_limits: Vec<(String, i32)>,
}

/// What a session can do on its server.
enum Ability {
    /// A supported version: the statements are prepared.
    Reads(Box<Statements>),
    /// Older than the catalog the SQL is written for: nothing is prepared, and
    /// every read says so.
    Unsupported,
}

pub struct Session {
    client: Client,
    /// The task that drives the socket; aborted when the session is closed.
    connection: Option<tokio::task::JoinHandle<()>>,
    version_num: i32,
    version: String,
    ability: Ability,
    /// Whether the role may see every session's state (`pg_read_all_stats`, which
    /// `pg_monitor` grants), as of the last read that could tell; `None` before.
    reads_all_stats: Option<bool>,
    names: Names,
    /// The settings from `pg_settings` and the `pg_conf_load_time()` they are as of.
    settings: Option<(String, ServerSettings)>,
    progress: Arc<Progress>,
}

/// The role that lets a session see other roles' sessions in `pg_stat_activity`.
const READ_ALL_STATS: &str = "pg_read_all_stats";

impl Session {
    async fn set_up(
        client: Client,
        settings: &ReadSettings,
    ) -> Result<Session, tokio_postgres::Error> {
        let row = client
            .query_one(
                "SELECT current_setting('server_version_num')::int4, current_setting('server_version')",
                &[],
            )
            .await?;
        let version_num: i32 = row.try_get(0)?;
        let version: String = row.try_get(1)?;
        let mut session = Session {
            client,
            connection: None,
            version_num,
            version,
            ability: Ability::Unsupported,
            reads_all_stats: None,
            names: Names::default(),
            settings: None,
            progress: Arc::new(Progress::default()),
        };
        if version_num < MIN_VERSION_NUM {
            // Stay connected and say why on every read: reconnecting would only
            // repeat the same answer.
            return Ok(session);
        }
        let client = &session.client;
        client
            .batch_execute(&session_settings_sql(version_num, settings))
            .await?;
        let sql = Sql::for_version(version_num, &settings.thresholds);
        let (activity, settings_stmt, locks, blocking, database_stats) = futures::try_join!(
            client.prepare(&sql.activity),
            client.prepare(&sql.settings),
            client.prepare(&sql.locks),
            client.prepare(&sql.blocking),
            client.prepare(&sql.database_stats),
        )?;
        session.ability = Ability::Reads(Box::new(Statements {
            activity,
            settings: settings_stmt,
            names: sql.names,
            names_prepared: std::sync::OnceLock::new(),
            locks,
            blocking,
            database_stats,
        }));
        Ok(session)
    }

    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    pub fn progress(&self) -> Arc<Progress> {
        Arc::clone(&self.progress)
    }

    /// Closes the socket now: the connection task is aborted rather than asked to
    /// say goodbye, which a hung peer would never acknowledge.
    pub async fn close(self) {
        if let Some(connection) = self.connection {
            connection.abort();
            // Resolves once the task, and with it the socket, is gone.
            let _ = connection.await;
        }
    }

    pub async fn read(&mut self, settings: &ReadSettings) -> Result<Snapshot, ReadError> {
        let s = match &self.ability {
            Ability::Reads(s) => s,
            Ability::Unsupported => {
                return Err(ReadError::Unsupported(format!(
                    "PostgreSQL {} is not supported (10 or newer is; 13 to 18 are tested)",
                    self.version
                )));
            }
        };
        let c = &self.client;
        let p = &*self.progress;
        let oids = database_oids(&self.names);
        // First round trip: nothing here opens a catalog table, so a locked
        // pg_database or pg_authid cannot hold these up.
        let (activity, locks, database_stats) = tokio::join!(
            query(c, p, &s.activity, Vec::new()),
            query(c, p, &s.locks, Vec::new()),
            query(c, p, &s.database_stats, vec![Box::new(oids)]),
        );

        let lost_or_failed = |e: tokio_postgres::Error| {
            if e.is_closed() || self.client.is_closed() {
                ReadError::Lost(describe(&e))
            } else {
                ReadError::Failed(describe(&e))
            }
        };
        let activity = activity.map_err(lost_or_failed)?;
        // Lock waiters from pg_locks, which every role may read, and from the
        // sessions the role may see.
        let locks_readable = locks.is_ok();
        let lock_waiters = count_lock_waiters(&activity).map_err(ReadError::Failed)?
            + locks
                .as_ref()
                .map(|rows| waiting_locks(rows))
                .unwrap_or(Ok(0))
                .map_err(ReadError::Failed)?;
        // Without the load time (the statement failed) the settings are read again.
        let conf_loaded = database_stats
            .as_ref()
            .ok()
            .and_then(|rows| rows.first())
            .and_then(|row| row.try_get::<_, String>(0).ok());
        let settings_are_current = matches!(
            (&self.settings, &conf_loaded),
            (Some((seen, _)), Some(now)) if seen == now
        );

        // The second round trip: what the first says is needed, then the names,
        // the one part that reads catalog tables and may wait on a lock. It goes
        // last so that its wait delays nothing else; it waits at most one lock
        // timeout.
        let (server_settings, blocking, names) = tokio::join!(
            async {
                if settings_are_current {
                    None
                } else {
                    Some(query(c, p, &s.settings, Vec::new()).await)
                }
            },
            async {
                // Not when pg_locks could not be read: a lock held on it would make
                // this statement wait a second lock timeout.
                if lock_waiters > 0 && locks_readable {
                    Some(query(c, p, &s.blocking, Vec::new()).await)
                } else {
                    None
                }
            },
            async {
                let rows = match s.names_prepared.get() {
                    Some(statement) => c.query(statement, &[]).await,
                    None => match c.prepare(&s.names).await {
                        Ok(statement) => {
                            let rows = c.query(&statement, &[]).await;
                            let _ = s.names_prepared.set(statement);
                            rows
                        }
                        Err(e) => Err(e),
                    },
                };
                p.touch();
                rows
            },
        );
        if let Some(rows) = server_settings {
            let parsed =
                parse_settings(&rows.map_err(lost_or_failed)?).map_err(ReadError::Failed)?;
            self.settings = Some((conf_loaded.unwrap_or_default(), parsed));
        }
        let Some((_, server)) = &self.settings else {
            return Err(ReadError::Failed("pg_settings was not read".into()));
        };
        let server = server.clone();
        // Nobody waits on a lock: nothing is blocked, known without asking —
        // unless pg_locks itself could not be read.
        let blocking = match blocking {
            Some(rows) => Some(rows),
            None if locks_readable => Some(Ok(Vec::new())),
            None => None,
        };

        let mut collectors = vec![
            ReadPart {
                name: "activity",
                success: true,
            },
            ReadPart {
                name: "settings",
                success: true,
            },
        ];
        let mut note = |name: &'static str, error: Option<String>| {
            if let Some(e) = &error {
                tracing::warn!(collector = name, error = %e, "part of the read failed");
            }
            collectors.push(ReadPart {
                name,
                success: error.is_none(),
            });
        };

        let names_were_loaded = self.names.loaded;
        let names = names
            .map_err(|e| describe(&e))
            .and_then(|rows| parse_names(&rows));
        let names_ok = names.is_ok();
        match names {
            Ok(n) => {
                if let Some(granted) = n.reads_all_stats {
                    privilege_seen(&mut self.reads_all_stats, granted);
                }
                self.names = n;
                note("names", None);
            }
            Err(e) => note("names", Some(e)),
        }

        let groups = parse_activity(&activity, &self.names).map_err(ReadError::Failed)?;
        let facts = summarize_sessions(groups, &settings.thresholds, settings.origin_cap);

        let mut part = |name: &'static str, result: Result<Vec<Row>, String>| match result {
            Ok(rows) => {
                note(name, None);
                Some(rows)
            }
            Err(e) => {
                note(name, Some(e));
                None
            }
        };
        let text = |e: tokio_postgres::Error| describe(&e);
        let locks = part("locks", locks.map_err(text));
        let blocking = part(
            "blocking",
            blocking
                .ok_or_else(|| "not read: pg_locks could not be read".to_string())
                .and_then(|rows| rows.map_err(text)),
        );
        // Counters are summed over the databases known before this read. On a
        // session's first read none were: ask again now that they are (one more
        // round trip, once per session). Without names, no counters: a sum over
        // nothing would look like a counter reset.
        let database_stats = if !names_were_loaded && names_ok {
            query(
                c,
                p,
                &s.database_stats,
                vec![Box::new(database_oids(&self.names))],
            )
            .await
        } else {
            database_stats
        };
        let database_stats =
            part("database_stats", database_stats.map_err(text)).filter(|_| self.names.loaded);
        let locks = locks
            .map(|rows| parse_locks(&rows))
            .transpose()
            .map_err(ReadError::Failed)?;
        let blocking = blocking
            .map(|rows| parse_blocking(&rows))
            .transpose()
            .map_err(ReadError::Failed)?;
        let counters = database_stats
            .map(|rows| parse_database_stats(&rows, self.version_num))
            .transpose()
            .map_err(ReadError::Failed)?
            .unwrap_or_default();

        let limit_use = |limits: &[(String, i32)], used: &HashMap<String, u64>| {
            limits
                .iter()
                .map(|(name, limit)| LimitUse {
                    name: name.clone(),
                    limit: (*limit).max(0) as u64,
                    used: used.get(name).copied().unwrap_or(0),
                })
                .collect::<Vec<_>>()
        };
        let user_limits = names_ok.then(|| limit_use(&self.names.user_limits, &facts.per_user));
        let database_limits =
            names_ok.then(|| limit_use(&self.names.database_limits, &facts.per_database));

        // Unknown until the names statement has run once; hidden sessions tell on
        // their own.
        let privileges = match (self.reads_all_stats, facts.hidden) {
            (Some(granted), 0) => vec![Privilege {
                name: READ_ALL_STATS,
                granted,
            }],
            (None, 0) => Vec::new(),
            (_, _) => vec![Privilege {
                name: READ_ALL_STATS,
                granted: false,
            }],
        };
        Ok(Snapshot {
            blocking,
            locks,
            user_limits,
            database_limits,
            timeouts: server.timeouts,
            counters,
            parts: collectors,
            privileges,
            ..Snapshot::new(
                Engine::PostgreSql,
                self.version.clone(),
                server.max_connections,
                server.reserved_connections,
                facts,
            )
        })
    }
}

/// Records whether the role may see every session: one warning the first time a
/// session finds it may not, a note when a grant or revoke changes it.
fn privilege_seen(known: &mut Option<bool>, granted: bool) {
    match *known {
        None if !granted => tracing::warn!(
            privilege = READ_ALL_STATS,
            "the exporter's role lacks pg_read_all_stats (GRANT pg_monitor TO <role>): \
             other roles' sessions are counted, as state \"other\", but their state, \
             durations and lock waits are hidden; see dbconn_hidden_connections"
        ),
        Some(before) if before != granted => tracing::info!(
            privilege = READ_ALL_STATS,
            granted,
            "the role's view of other roles' sessions changed"
        ),
        _ => {}
    }
    *known = Some(granted);
}

/// Database OIDs whose counters to sum; the shared-objects row (0) too, as
/// pg_stat_database has it.
fn database_oids(names: &Names) -> Vec<u32> {
    let mut oids: Vec<u32> = names.databases.keys().copied().collect();
    oids.push(0);
    oids.sort_unstable();
    oids
}

/// One prepared statement's rows, as a future that owns its parameters, so that
/// several can be polled together on one session (pipelined: one round trip).
/// It records a sign of life when it finishes.
fn query<'a>(
    client: &'a Client,
    progress: &'a Progress,
    statement: &'a Statement,
    params: Vec<Box<dyn ToSql + Sync + Send>>,
) -> BoxFuture<'a, Result<Vec<Row>, tokio_postgres::Error>> {
    async move {
        let refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let rows = client.query(statement, &refs).await;
        progress.touch();
        rows
    }
    .boxed()
}

fn session_settings_sql(version_num: i32, settings: &ReadSettings) -> String {
    let mut sql = format!(
        "SET statement_timeout = {}; SET lock_timeout = {}; \
         SET idle_in_transaction_session_timeout = 0; SET search_path = pg_catalog; \
         SET default_transaction_read_only = on;",
        millis(settings.statement_timeout),
        millis(settings.lock_timeout),
    );
    if version_num >= 110_000 {
        sql.push_str(" SET jit = off;");
    }
    if version_num >= 140_000 {
        sql.push_str(" SET idle_session_timeout = 0;");
    }
    if version_num >= 170_000 {
        sql.push_str(" SET transaction_timeout = 0;");
    }
    sql
}

fn millis(d: Duration) -> u128 {
    d.as_millis().max(1)
}

/// The SQL of one server version. Pure, so that which statement each version gets is
/// unit-tested without a server.
struct Sql {
    activity: String,
    settings: String,
    names: String,
    locks: String,
    blocking: String,
    database_stats: String,
}

/// A client backend, including one whose details the role may not see: without
/// `pg_read_all_stats` another role's session has no `backend_type` (nor state,
/// nor times), but every role may see its database and user. Background
/// processes have neither (or are the role's own, and visible). Another role's
/// database-connected background worker (an autovacuum worker, a parallel or
/// logical replication worker) looks the same as a client then and is counted:
/// the count may be a few high without the privilege, never low.
const CLIENT_BACKEND: &str = "(s.backend_type = 'client backend' \
     OR (s.backend_type IS NULL AND s.datid IS NOT NULL AND s.usesysid IS NOT NULL))";

impl Sql {
    fn for_version(version_num: i32, thresholds: &[f64]) -> Sql {
        let over: Vec<String> = thresholds
            .iter()
            .map(|t| {
                format!(
                    "count(*) FILTER (WHERE s.state_change < now() - make_interval(secs => {t}))"
                )
            })
            .collect();
        let activity = format!(
            "SELECT s.datid, s.usesysid, coalesce(s.application_name, '') AS application, s.state, \
                    count(*) AS sessions, \
                    coalesce(max(extract(epoch FROM now() - s.state_change)), 0)::float8, \
                    coalesce(sum(extract(epoch FROM now() - s.backend_start)), 0)::float8, \
                    coalesce(max(extract(epoch FROM now() - s.backend_start)), 0)::float8, \
                    extract(epoch FROM now() - min(s.xact_start))::float8, \
                    ARRAY[{}]::int8[], \
                    count(*) FILTER (WHERE s.wait_event_type = 'Lock'), \
                    s.backend_type IS NULL AS hidden \
             FROM pg_catalog.pg_stat_get_activity(NULL) AS s \
             WHERE {CLIENT_BACKEND} \
             GROUP BY 1, 2, 3, 4, 12",
            over.join(", ")
        );
        let settings = "SELECT name, setting, coalesce(unit, ''), coalesce(reset_val, setting) \
             FROM pg_catalog.pg_settings \
             WHERE name IN ('max_connections', 'superuser_reserved_connections', \
                            'reserved_connections', 'idle_in_transaction_session_timeout', \
                            'idle_session_timeout', 'statement_timeout', 'lock_timeout', \
                            'transaction_timeout')"
            .to_string();
        // The names and limits, and whether the role may see every session now (a
        // GRANT takes effect at once): the one statement that reads pg_authid, so
        // that a lock on it is waited for once. 3375 is pg_read_all_stats, a fixed
        // OID since PostgreSQL 10.
        let names = "SELECT 'd'::text, d.oid, d.datname::text, d.datconnlimit \
             FROM pg_catalog.pg_database AS d \
             UNION ALL \
             SELECT 'r'::text, r.oid, r.rolname::text, r.rolconnlimit \
             FROM pg_catalog.pg_roles AS r \
             WHERE r.rolconnlimit >= 0 OR r.rolcanlogin \
             UNION ALL \
             SELECT 'p'::text, 0::oid, '', \
                    CASE WHEN pg_catalog.pg_has_role(3375::oid, 'USAGE') THEN 1 ELSE 0 END"
            .to_string();
        // The exporter's own locks (on pg_locks itself, its virtual xid) are noise.
        let locks = "SELECT mode, granted, count(*) FROM pg_catalog.pg_locks \
             WHERE mode IS NOT NULL AND pid IS DISTINCT FROM pg_catalog.pg_backend_pid() \
             GROUP BY 1, 2"
            .to_string();
        // Waiters from pg_locks, which every role may read (pg_blocking_pids too),
        // so that another role's blocked session is seen without pg_read_all_stats.
        // pg_locks.waitstart (14+) dates the lock wait itself; before it, the start
        // of the waiting statement is the best available (an overestimate).
        let blocking = if version_num >= 140_000 {
            format!(
                "SELECT w.pid, pg_catalog.pg_blocking_pids(w.pid), \
                        greatest(extract(epoch FROM now() - coalesce(w.waitstart, s.state_change, now())), 0)::float8 \
                 FROM (SELECT pid, min(waitstart) AS waitstart FROM pg_catalog.pg_locks \
                       WHERE NOT granted AND pid IS NOT NULL GROUP BY pid) AS w \
                 JOIN pg_catalog.pg_stat_get_activity(NULL) AS s ON s.pid = w.pid \
                 WHERE {CLIENT_BACKEND}"
            )
        } else {
            format!(
                "SELECT w.pid, pg_catalog.pg_blocking_pids(w.pid), \
                        greatest(extract(epoch FROM now() - coalesce(s.state_change, now())), 0)::float8 \
                 FROM (SELECT DISTINCT pid FROM pg_catalog.pg_locks \
                       WHERE NOT granted AND pid IS NOT NULL) AS w \
                 JOIN pg_catalog.pg_stat_get_activity(NULL) AS s ON s.pid = w.pid \
                 WHERE {CLIENT_BACKEND}"
            )
        };
        // Counters through the statistics functions over the databases already
        // known, not the pg_stat_database view: the view reads pg_database, and a
        // lock on it would make this statement wait a second lock timeout.
        let database_stats = if version_num >= 140_000 {
            "SELECT pg_catalog.pg_conf_load_time()::text, \
                    coalesce(sum(pg_catalog.pg_stat_get_db_deadlocks(d)), 0)::int8, \
                    coalesce(sum(pg_catalog.pg_stat_get_db_sessions(d)), 0)::int8, \
                    coalesce(sum(pg_catalog.pg_stat_get_db_sessions_abandoned(d)), 0)::int8, \
                    coalesce(sum(pg_catalog.pg_stat_get_db_sessions_fatal(d)), 0)::int8, \
                    coalesce(sum(pg_catalog.pg_stat_get_db_sessions_killed(d)), 0)::int8 \
             FROM unnest($1::oid[]) AS d"
        } else {
            "SELECT pg_catalog.pg_conf_load_time()::text, \
                    coalesce(sum(pg_catalog.pg_stat_get_db_deadlocks(d)), 0)::int8 \
             FROM unnest($1::oid[]) AS d"
        }
        .to_string();
        Sql {
            activity,
            settings,
            names,
            locks,
            blocking,
            database_stats,
        }
    }
}

#[derive(Clone)]
struct ServerSettings {
    max_connections: u64,
    reserved_connections: u64,
    timeouts: Vec<(String, f64)>,
}

fn parse_settings(rows: &[Row]) -> Result<ServerSettings, String> {
    let mut max_connections = None;
    let mut reserved = 0u64;
    let mut timeouts = Vec::new();
    for row in rows {
        let name: String = row.try_get(0).map_err(|e| e.to_string())?;
        let setting: String = row.try_get(1).map_err(|e| e.to_string())?;
        let unit: String = row.try_get(2).map_err(|e| e.to_string())?;
        let reset_val: String = row.try_get(3).map_err(|e| e.to_string())?;
        let int = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("unexpected value {v:?} for setting {name}"))
        };
        match name.as_str() {
            "max_connections" => max_connections = Some(int(&setting)?),
            "superuser_reserved_connections" | "reserved_connections" => reserved += int(&setting)?,
            _ => {
                let value: f64 = reset_val
                    .parse()
                    .map_err(|_| format!("unexpected value {reset_val:?} for setting {name}"))?;
                timeouts.push((name.clone(), to_seconds(value, &unit)));
            }
        }
    }
    timeouts.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(ServerSettings {
        max_connections: max_connections.ok_or("max_connections not found in pg_settings")?,
        reserved_connections: reserved,
        timeouts,
    })
}

fn to_seconds(value: f64, unit: &str) -> f64 {
    match unit {
        "us" => value / 1_000_000.0,
        "ms" => value / 1000.0,
        "min" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86400.0,
        _ => value,
    }
}

fn parse_names(rows: &[Row]) -> Result<Names, String> {
    let mut names = Names {
        loaded: true,
        ..Names::default()
    };
    for row in rows {
        let kind: String = row.try_get(0).map_err(|e| e.to_string())?;
        let oid: u32 = row.try_get(1).map_err(|e| e.to_string())?;
        let name: String = row.try_get(2).map_err(|e| e.to_string())?;
        let limit: i32 = row.try_get(3).map_err(|e| e.to_string())?;
        if kind == "p" {
            names.reads_all_stats = Some(limit == 1);
        } else if kind == "d" {
            if limit >= 0 {
                names.database_limits.push((name.clone(), limit));
            }
            names.databases.insert(oid, name);
        } else {
            if limit >= 0 {
                names.user_limits.push((name.clone(), limit));
            }
            names.roles.insert(oid, name);
        }
    }
    names.user_limits.sort();
    names.database_limits.sort();
    Ok(names)
}

fn name_of(map: &HashMap<u32, String>, oid: Option<u32>) -> String {
    match oid {
        None | Some(0) => "unknown".to_string(),
        Some(oid) => map
            .get(&oid)
            .cloned()
            .unwrap_or_else(|| format!("oid:{oid}")),
    }
}

fn parse_activity(rows: &[Row], names: &Names) -> Result<Vec<SessionGroup>, String> {
    rows.iter()
        .map(|row| {
            let e = |e: tokio_postgres::Error| e.to_string();
            let datid: Option<u32> = row.try_get(0).map_err(e)?;
            let usesysid: Option<u32> = row.try_get(1).map_err(e)?;
            let application: String = row.try_get(2).map_err(e)?;
            let state: Option<String> = row.try_get(3).map_err(e)?;
            let count: i64 = row.try_get(4).map_err(e)?;
            let max_state: f64 = row.try_get(5).map_err(e)?;
            let sum_age: f64 = row.try_get(6).map_err(e)?;
            let max_age: f64 = row.try_get(7).map_err(e)?;
            let oldest_xact: Option<f64> = row.try_get(8).map_err(e)?;
            let over: Vec<i64> = row.try_get(9).map_err(e)?;
            let hidden: bool = row.try_get(11).map_err(e)?;
            Ok(SessionGroup {
                hidden,
                origin: Origin {
                    database: name_of(&names.databases, datid),
                    user: name_of(&names.roles, usesysid),
                    application,
                },
                state: state_of(state.as_deref()),
                count: count.max(0) as u64,
                max_state_seconds: max_state,
                sum_age_seconds: sum_age,
                max_age_seconds: max_age,
                oldest_transaction_seconds: oldest_xact,
                over: over.into_iter().map(|n| n.max(0) as u64).collect(),
            })
        })
        .collect()
}

fn parse_locks(rows: &[Row]) -> Result<Vec<LockCount>, String> {
    rows.iter()
        .map(|row| {
            let e = |e: tokio_postgres::Error| e.to_string();
            Ok(LockCount {
                mode: row.try_get(0).map_err(e)?,
                granted: row.try_get(1).map_err(e)?,
                count: row.try_get::<_, i64>(2).map_err(e)?.max(0) as u64,
            })
        })
        .collect()
}

/// Sessions waiting on a heavyweight lock, from the activity rows' column 10.
fn count_lock_waiters(rows: &[Row]) -> Result<i64, String> {
    rows.iter()
        .map(|row| row.try_get::<_, i64>(10).map_err(|e| e.to_string()))
        .sum()
}

/// Locks awaited, from the lock counts (which every role may read).
fn waiting_locks(rows: &[Row]) -> Result<i64, String> {
    let mut n = 0;
    for row in rows {
        let granted: bool = row.try_get(1).map_err(|e| e.to_string())?;
        if !granted {
            n += row.try_get::<_, i64>(2).map_err(|e| e.to_string())?;
        }
    }
    Ok(n)
}

fn parse_blocking(rows: &[Row]) -> Result<Blocking, String> {
    let mut blocked = 0u64;
    let mut blockers: HashSet<i32> = HashSet::new();
    let mut max_wait: f64 = 0.0;
    for row in rows {
        let e = |e: tokio_postgres::Error| e.to_string();
        let pids: Vec<i32> = row.try_get(1).map_err(e)?;
        let wait: f64 = row.try_get(2).map_err(e)?;
        if pids.is_empty() {
            continue;
        }
        blocked += 1;
        blockers.extend(pids);
        max_wait = max_wait.max(wait);
    }
    Ok(Blocking {
        blocked,
        blocking: blockers.len() as u64,
        max_lock_wait_seconds: max_wait,
    })
}

fn parse_database_stats(rows: &[Row], version_num: i32) -> Result<ServerCounters, String> {
    let Some(row) = rows.first() else {
        return Ok(ServerCounters::default());
    };
    let e = |e: tokio_postgres::Error| e.to_string();
    let n = |i: usize| -> Result<u64, String> {
        Ok(row.try_get::<_, i64>(i).map_err(e)?.max(0) as u64)
    };
    // Column 0 is pg_conf_load_time(), read by `Session::read`.
    let mut counters = ServerCounters {
        deadlocks: Some(n(1)?),
        ..ServerCounters::default()
    };
    if version_num >= 140_000 {
        counters.sessions = Some(n(2)?);
        counters.abnormal_ends = vec![("abandoned", n(3)?), ("fatal", n(4)?), ("killed", n(5)?)];
    }
    Ok(counters)
}

/// Maps `pg_stat_activity.state`. A NULL state (a session the exporter's role may
/// not inspect, or one still starting) is `other`, never dropped: it still holds a
/// connection slot.
fn state_of(state: Option<&str>) -> State {
    match state {
        Some("active") | Some("fastpath function call") => State::Active,
        Some("idle") => State::Idle,
        Some("idle in transaction") => State::IdleInTransaction,
        Some("idle in transaction (aborted)") => State::IdleInTransactionAborted,
        _ => State::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_states_map_to_the_contract() {
        assert_eq!(state_of(Some("active")), State::Active);
        assert_eq!(state_of(Some("fastpath function call")), State::Active);
        assert_eq!(state_of(Some("idle")), State::Idle);
        assert_eq!(
            state_of(Some("idle in transaction")),
            State::IdleInTransaction
        );
        assert_eq!(
            state_of(Some("idle in transaction (aborted)")),
            State::IdleInTransactionAborted
        );
        assert_eq!(state_of(Some("disabled")), State::Other);
        assert_eq!(state_of(None), State::Other);
    }

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

    #[test]
    fn each_version_gets_its_own_sql() {
        let v13 = Sql::for_version(130_000, &[30.0, 60.0]);
        let v14 = Sql::for_version(140_000, &[30.0, 60.0]);
        assert!(!v13.blocking.contains("waitstart"));
        assert!(v14.blocking.contains("waitstart"));
        assert!(!v13.database_stats.contains("sessions"));
        assert!(v14.database_stats.contains("sessions_killed"));
        assert!(v13.activity.contains("make_interval(secs => 30)"));
        assert!(v13.activity.contains("make_interval(secs => 60)"));
        assert!(
            !v13.activity.contains("pg_stat_activity "),
            "must not join catalogs"
        );
        for sql in [&v13, &v14] {
            // One activity read per scrape: it costs per backend.
            assert!(!sql.names.contains("pg_stat_get_activity"));
            assert!(sql.activity.contains("wait_event_type = 'Lock'"));
            // Another role's session, its type hidden, is still a client.
            assert!(
                sql.activity
                    .contains("s.backend_type IS NULL AND s.datid IS NOT NULL")
            );
            assert!(sql.activity.contains("GROUP BY 1, 2, 3, 4, 12"));
            // Waiters from pg_locks, which needs no privilege.
            assert!(sql.blocking.contains("FROM pg_catalog.pg_locks"));
            // Only the names statement opens catalog tables (and so may wait on a
            // lock): one lock timeout per read at most.
            for other in [
                &sql.activity,
                &sql.locks,
                &sql.blocking,
                &sql.database_stats,
                &sql.settings,
            ] {
                assert!(!other.contains("pg_database"), "{other}");
                assert!(!other.contains("pg_roles"), "{other}");
                assert!(!other.contains("pg_authid"), "{other}");
            }
            assert!(sql.names.contains("pg_has_role(3375::oid, 'USAGE')"));
            assert!(!sql.database_stats.contains("pg_has_role"));
            assert!(
                sql.database_stats
                    .starts_with("SELECT pg_catalog.pg_conf_load_time()")
            );
        }
        let none = Sql::for_version(150_000, &[]);
        assert!(none.activity.contains("ARRAY[]::int8[]"));
    }

    #[test]
    fn session_settings_follow_the_version() {
        let s = ReadSettings {
            thresholds: vec![],
            origin_cap: 10,
            statement_timeout: Duration::from_secs(5),
            lock_timeout: Duration::from_millis(500),
        };
        let v13 = session_settings_sql(130_000, &s);
        assert!(v13.contains("statement_timeout = 5000"));
        assert!(v13.contains("lock_timeout = 500"));
        assert!(!v13.contains("idle_session_timeout"));
        assert!(session_settings_sql(140_000, &s).contains("idle_session_timeout = 0"));
        assert!(session_settings_sql(170_000, &s).contains("transaction_timeout = 0"));
    }

    #[test]
    fn timeouts_convert_to_seconds() {
        assert_eq!(to_seconds(1500.0, "ms"), 1.5);
        assert_eq!(to_seconds(2.0, "min"), 120.0);
        assert_eq!(to_seconds(3.0, "s"), 3.0);
    }
}
