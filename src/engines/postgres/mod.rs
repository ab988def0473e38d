//! PostgreSQL: one session, a handful of prepared statements pipelined per read.
//!
//! Why the SQL (in `sql.rs`) looks the way it does:
//! - Sessions are read from `pg_stat_get_activity(NULL)` rather than the
//!   `pg_stat_activity` view, because the view joins `pg_database` and `pg_authid`: a
//!   superuser holding a lock on either would otherwise blind the exporter exactly
//!   when something is wrong. Names come from a separate statement and are cached, so
//!   a locked catalog costs the names of new sessions, not the counts.
//! - Aggregation happens in SQL (one row per origin and state), so the rows sent do
//!   not grow with the number of sessions.
//! - Statements are independent (no surrounding transaction), so one failing on its
//!   lock timeout leaves the others' results intact.
//! - `pg_stat_get_activity` costs time per backend on every call (see how scrape
//!   latency grows with the sessions in `cargo bench --bench peers -- --engine pg`),
//!   so it is called once per read. Lock waiters are rare: the blocking statement
//!   runs in a second round trip only when the activity read found one.
//!   `pg_settings` builds every GUC on every call, even on an idle server (time it
//!   with `EXPLAIN ANALYZE SELECT * FROM pg_settings`), and its values change only on
//!   a reload, which `pg_conf_load_time()` reveals: it is re-read then, and kept
//!   otherwise (postmaster settings change only with a restart, which means a new
//!   session anyway).
//! - Client backends only: background workers, autovacuum and WAL senders have their
//!   own slots and never cause "too many clients".
//!
//! "Settings" are three things here, named apart: [`ReadSettings`] (the exporter's
//! configuration for a read), `ServerSettings` (the server's GUCs from
//! `pg_settings`) and the session setup (the `SET` statements a session runs once).

pub(crate) mod connect;
mod parse;
mod rows;
mod sql;

use std::sync::{Arc, OnceLock};

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::task::JoinHandle;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};

pub use connect::{APPLICATION_NAME, Connector, describe};

use super::{Progress, ReadError, ReadSettings};
use crate::model::{Engine, ReadPart, SessionFacts, Snapshot, summarize_sessions};
use parse::{
    ActivityRow, BlockingRow, DatabaseStatsRow, IncidentRow, LockRow, NameRow, Names,
    READ_ALL_STATS, ServerSettings, SettingRow,
};
use rows::ColumnError;
use sql::{MIN_VERSION_NUM, Sql};

type Rows = Result<Vec<Row>, tokio_postgres::Error>;

/// Prepared statements, built once per session for its server version.
struct Statements {
    activity: Statement,
    server_settings: Statement,
    /// Prepared on its first read, not at connect: parsing it opens pg_database
    /// and pg_authid, and a lock on either must cost this statement on a read,
    /// never the session's set-up.
    names: String,
    names_prepared: OnceLock<Statement>,
    locks: Statement,
    blocking: Statement,
    database_stats: Statement,
    /// The incident read's sessions, without and with their statement text.
    incident: Statement,
    incident_with_query: Statement,
}

/// What a session can do on its server.
enum Ability {
    /// A supported version: the statements are prepared.
    Reads(Box<Statements>),
    /// Older than the catalog the SQL is written for: nothing is prepared, and
    /// every read says so.
    Unsupported,
}

/// What a session learned on earlier reads and keeps for the next.
#[derive(Default)]
struct Known {
    /// Whether the role may see every session's state (`pg_read_all_stats`, which
    /// `pg_monitor` grants), as of the last read that could tell; `None` before.
    reads_all_stats: Option<bool>,
    names: Names,
    /// The server's settings and the `pg_conf_load_time()` they are as of.
    server_settings: Option<(String, ServerSettings)>,
}

pub struct Session {
    client: Client,
    /// The task that drives the socket; aborted when the session is closed.
    connection: JoinHandle<()>,
    version: String,
    ability: Ability,
    known: Known,
    progress: Arc<Progress>,
}

impl Session {
    /// Learns the server's version and, where it is supported, runs the session
    /// setup and prepares the statements. On failure the connection is closed.
    async fn set_up(
        client: Client,
        connection: JoinHandle<()>,
        read_settings: &ReadSettings,
    ) -> Result<Session, tokio_postgres::Error> {
        match Self::learn_server(&client, read_settings).await {
            Ok((version, ability)) => Ok(Session {
                client,
                connection,
                version,
                ability,
                known: Known::default(),
                progress: Arc::new(Progress::default()),
            }),
            Err(e) => {
                connection.abort();
                Err(e)
            }
        }
    }

    async fn learn_server(
        client: &Client,
        read_settings: &ReadSettings,
    ) -> Result<(String, Ability), tokio_postgres::Error> {
        let row = client
            .query_one(
                "SELECT current_setting('server_version_num')::int4, current_setting('server_version')",
                &[],
            )
            .await?;
        let version_num: i32 = row.try_get(0)?;
        let version: String = row.try_get(1)?;
        if version_num < MIN_VERSION_NUM {
            // Stay connected and say why on every read: reconnecting would only
            // repeat the same answer.
            return Ok((version, Ability::Unsupported));
        }
        client
            .batch_execute(&sql::session_setup_sql(version_num, read_settings))
            .await?;
        let statements = Statements::prepare(client, version_num, read_settings).await?;
        Ok((version, Ability::Reads(Box::new(statements))))
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
        self.connection.abort();
        // Resolves once the task, and with it the socket, is gone.
        let _ = self.connection.await;
    }

    /// The incident read: a metrics read (so the view's usage is the metrics'
    /// number), then one statement listing every client session pid by pid, on this
    /// same session and under its timeouts.
    pub async fn incident(
        &mut self,
        settings: &ReadSettings,
    ) -> Result<crate::incident::Scene, ReadError> {
        let snapshot = self.read(settings).await?;
        let Ability::Reads(statements) = &self.ability else {
            return Err(ReadError::Unsupported(format!(
                "PostgreSQL {} is not supported",
                self.version
            )));
        };
        let link = Link {
            client: &self.client,
            progress: &self.progress,
            statements,
        };
        // Whose lock waits to ask for beyond the visible ones: hidden sessions,
        // when the metrics read found (or could not rule out) a lock waiter.
        let hidden_may_wait = snapshot.sessions.hidden > 0
            && snapshot.blocking.as_ref().is_none_or(|b| b.blocked > 0);
        let read_at_unix_seconds = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let rows = match settings.query_text {
            None => {
                link.query(&statements.incident, vec![Box::new(hidden_may_wait)])
                    .await
            }
            Some(chars) => {
                let chars = i32::try_from(chars).unwrap_or(i32::MAX);
                link.query(
                    &statements.incident_with_query,
                    vec![Box::new(hidden_may_wait), Box::new(chars)],
                )
                .await
            }
        };
        let rows: Vec<IncidentRow> = rows::all(&link.required(rows)?)?;
        let names = &self.known.names;
        let sessions = parse::incident_sessions(&rows, names);
        let names_read_now = snapshot
            .parts
            .iter()
            .any(|p| p.name == "names" && p.success);
        let notes = parse::incident_notes(&sessions, &snapshot.privileges, names, names_read_now);
        Ok(crate::incident::Scene {
            engine: Engine::PostgreSql,
            version: self.version.clone(),
            snapshot,
            sessions,
            notes,
            superusers_known: names.loaded,
            read_at_unix_seconds,
        })
    }

    /// Two round trips: the first reads what never waits on a catalog lock, the
    /// second what the first found is needed, and the names last.
    pub async fn read(&mut self, read_settings: &ReadSettings) -> Result<Snapshot, ReadError> {
        let Ability::Reads(statements) = &self.ability else {
            return Err(ReadError::Unsupported(format!(
                "PostgreSQL {} is not supported (10 or newer is; 13 to 18 are tested)",
                self.version
            )));
        };
        let link = Link {
            client: &self.client,
            progress: &self.progress,
            statements,
        };
        let known = &mut self.known;
        let first = link.first_round_trip(&known.names).await.into_rows(&link)?;
        let second = link.second_round_trip(first.wanted(known)).await;
        let server = known.server_settings(second.server_settings, first.conf_loaded, &link)?;
        let optional = known
            .optional_parts(
                &link,
                first.locks,
                first.database_stats,
                second.blocking,
                second.names,
            )
            .await?;
        let groups = parse::activity(&first.activity, &known.names);
        let facts = summarize_sessions(groups, &read_settings.thresholds, read_settings.origin_cap);
        Ok(known.snapshot(&self.version, server, facts, optional))
    }
}

/// The parts a read may lose one at a time: each is noted in `parts` (and a failure
/// logged) as soon as it is known.
struct Optional {
    parts: Parts,
    /// Whether this read could read the names (else those of an earlier read are
    /// used, and the limits are left out).
    names: bool,
    locks: Option<Vec<LockRow>>,
    blocking: Option<Vec<BlockingRow>>,
    database_stats: Option<Vec<DatabaseStatsRow>>,
}

impl Known {
    fn server_settings_are_current(&self, conf_loaded: Option<&str>) -> bool {
        matches!(
            (&self.server_settings, conf_loaded),
            (Some((seen, _)), Some(now)) if seen == now
        )
    }

    /// The server's settings: the fresh rows if they were read (then kept with the
    /// load time they are as of; without one, they are read again next time), else
    /// those kept.
    fn server_settings(
        &mut self,
        fresh: Option<Rows>,
        conf_loaded: Option<String>,
        link: &Link<'_>,
    ) -> Result<ServerSettings, ReadError> {
        if let Some(rows) = fresh {
            let rows: Vec<SettingRow> = rows::all(&link.required(rows)?)?;
            let parsed = parse::server_settings(&rows)?;
            self.server_settings = Some((conf_loaded.unwrap_or_default(), parsed));
        }
        match &self.server_settings {
            Some((_, server)) => Ok(server.clone()),
            None => Err(ReadError::Failed("pg_settings was not read".into())),
        }
    }

    /// The names, locks, blocking and database statistics, each noted as it is
    /// known; the statistics read again on the session's first read.
    async fn optional_parts(
        &mut self,
        link: &Link<'_>,
        locks: Result<Vec<LockRow>, tokio_postgres::Error>,
        database_stats: Rows,
        blocking: Option<Rows>,
        names: Rows,
    ) -> Result<Optional, ColumnError> {
        let mut parts = Parts::new();
        let names_were_loaded = self.names.loaded;
        let names_ok = self.learn_names(names, &mut parts);
        let locks = parts.keep("locks", locks.map_err(PartError::Query));
        let blocking = parts.keep("blocking", blocking_rows(blocking, locks.is_some()));
        // Counters are summed over the databases known before this read. On a
        // session's first read none were: ask again now that they are (one more
        // round trip, once per session). Without names, no counters: a sum over
        // nothing would look like a counter reset.
        let database_stats = if !names_were_loaded && names_ok {
            link.database_stats(&self.names).await
        } else {
            database_stats
        };
        let database_stats = parts
            .keep("database_stats", database_stats.map_err(PartError::Query))
            .filter(|_| self.names.loaded);
        Ok(Optional {
            parts,
            names: names_ok,
            locks,
            blocking: blocking.map(|rows| rows::all(&rows)).transpose()?,
            database_stats: database_stats.map(|rows| rows::all(&rows)).transpose()?,
        })
    }

    /// Takes the names if they could be read, and with them whether the role may
    /// see every session; else keeps those of the last read. Says whether they were.
    fn learn_names(&mut self, read: Rows, parts: &mut Parts) -> bool {
        let names = read
            .map_err(PartError::Query)
            .and_then(|rows| rows::all::<NameRow>(&rows).map_err(PartError::Rows))
            .map(|rows| parse::names(&rows));
        match names {
            Ok(names) => {
                if let Some(granted) = names.reads_all_stats {
                    privilege_seen(&mut self.reads_all_stats, granted);
                }
                self.names = names;
                parts.note("names", None);
                true
            }
            Err(e) => {
                parts.note("names", Some(&e));
                false
            }
        }
    }

    /// Everything read, with what it means.
    fn snapshot(
        &self,
        version: &str,
        server: ServerSettings,
        facts: SessionFacts,
        optional: Optional,
    ) -> Snapshot {
        let names = optional.names.then_some(&self.names);
        Snapshot {
            blocking: optional.blocking.map(|rows| parse::blocking(&rows)),
            locks: optional.locks.map(|rows| parse::locks(&rows)),
            user_limits: names.map(|n| parse::limit_use(&n.user_limits, &facts.per_user)),
            database_limits: names
                .map(|n| parse::limit_use(&n.database_limits, &facts.per_database)),
            timeouts: server.timeouts,
            counters: parse::database_stats(
                optional.database_stats.as_deref().and_then(<[_]>::first),
            ),
            parts: optional.parts.0,
            privileges: parse::privileges(self.reads_all_stats, facts.hidden),
            ..Snapshot::new(
                Engine::PostgreSql,
                version,
                server.max_connections,
                server.reserved_connections,
                facts,
            )
        }
    }
}

/// The blocking part: read, known to be empty (nobody waits on a lock), or not
/// known because pg_locks itself could not be read.
fn blocking_rows(read: Option<Rows>, locks_readable: bool) -> Result<Vec<Row>, PartError> {
    match read {
        Some(rows) => rows.map_err(PartError::Query),
        None if locks_readable => Ok(Vec::new()),
        None => Err(PartError::LocksUnreadable),
    }
}

impl Statements {
    async fn prepare(
        client: &Client,
        version_num: i32,
        read_settings: &ReadSettings,
    ) -> Result<Statements, tokio_postgres::Error> {
        let sql = Sql::for_version(version_num, &read_settings.thresholds);
        let (
            activity,
            server_settings,
            locks,
            blocking,
            database_stats,
            incident,
            incident_with_query,
        ) = futures::try_join!(
            client.prepare(&sql.activity),
            client.prepare(&sql.server_settings),
            client.prepare(&sql.locks),
            client.prepare(&sql.blocking),
            client.prepare(&sql.database_stats),
            client.prepare(&sql.incident),
            client.prepare(&sql.incident_with_query),
        )?;
        Ok(Statements {
            activity,
            server_settings,
            names: sql.names,
            names_prepared: OnceLock::new(),
            locks,
            blocking,
            database_stats,
            incident,
            incident_with_query,
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

/// Why a part of the read has no result.
#[derive(Debug)]
enum PartError {
    Query(tokio_postgres::Error),
    Rows(ColumnError),
    /// The blocking statement is not run when pg_locks could not be read.
    LocksUnreadable,
}

impl std::fmt::Display for PartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PartError::Query(e) => f.write_str(&describe(e)),
            PartError::Rows(e) => e.fmt(f),
            PartError::LocksUnreadable => f.write_str("not read: pg_locks could not be read"),
        }
    }
}

/// Which parts of the read worked; each failure is logged as it is noted.
struct Parts(Vec<ReadPart>);

impl Parts {
    /// Activity and the server's settings: without either there is no snapshot.
    fn new() -> Parts {
        Parts(vec![
            ReadPart {
                name: "activity",
                success: true,
            },
            ReadPart {
                name: "settings",
                success: true,
            },
        ])
    }

    fn note(&mut self, name: &'static str, error: Option<&PartError>) {
        if let Some(e) = error {
            tracing::warn!(collector = name, error = %e, "part of the read failed");
        }
        self.0.push(ReadPart {
            name,
            success: error.is_none(),
        });
    }

    fn keep<T>(&mut self, name: &'static str, result: Result<T, PartError>) -> Option<T> {
        match result {
            Ok(rows) => {
                self.note(name, None);
                Some(rows)
            }
            Err(e) => {
                self.note(name, Some(&e));
                None
            }
        }
    }
}

/// What the second round trip reads besides the names.
struct Wanted {
    server_settings: bool,
    blocking: bool,
}

struct FirstTrip {
    activity: Rows,
    locks: Rows,
    database_stats: Rows,
}

impl FirstTrip {
    /// The activity is required; the locks, which may fail alone, are converted
    /// where they were read.
    fn into_rows(self, link: &Link<'_>) -> Result<FirstRows, ReadError> {
        let activity = rows::all(&link.required(self.activity)?)?;
        let locks = match self.locks {
            Ok(rows) => Ok(rows::all(&rows)?),
            Err(e) => Err(e),
        };
        let conf_loaded = self
            .database_stats
            .as_deref()
            .ok()
            .and_then(rows::conf_load_time);
        Ok(FirstRows {
            activity,
            locks,
            database_stats: self.database_stats,
            conf_loaded,
        })
    }
}

struct FirstRows {
    activity: Vec<ActivityRow>,
    locks: Result<Vec<LockRow>, tokio_postgres::Error>,
    database_stats: Rows,
    /// `pg_conf_load_time()`, if the database statistics could be read.
    conf_loaded: Option<String>,
}

impl FirstRows {
    /// What the second round trip must read besides the names.
    fn wanted(&self, known: &Known) -> Wanted {
        let lock_waiters = parse::lock_waiters(&self.activity, self.locks.as_deref().ok());
        Wanted {
            server_settings: !known.server_settings_are_current(self.conf_loaded.as_deref()),
            // Not when pg_locks could not be read: a lock held on it would make
            // the blocking statement wait a second lock timeout.
            blocking: lock_waiters > 0 && self.locks.is_ok(),
        }
    }
}

struct SecondTrip {
    server_settings: Option<Rows>,
    blocking: Option<Rows>,
    names: Rows,
}

/// What one read works with: the session's client, its sign of life and its
/// prepared statements.
struct Link<'a> {
    client: &'a Client,
    progress: &'a Progress,
    statements: &'a Statements,
}

impl<'a> Link<'a> {
    /// Nothing here opens a catalog table, so a locked pg_database or pg_authid
    /// cannot hold these up.
    async fn first_round_trip(&self, names: &Names) -> FirstTrip {
        let s = self.statements;
        let (activity, locks, database_stats) = tokio::join!(
            self.query(&s.activity, Vec::new()),
            self.query(&s.locks, Vec::new()),
            self.query(&s.database_stats, vec![Box::new(names.database_oids())]),
        );
        FirstTrip {
            activity,
            locks,
            database_stats,
        }
    }

    /// What the first round trip says is needed, then the names, the one part that
    /// reads catalog tables and may wait on a lock. It goes last so that its wait
    /// delays nothing else; it waits at most one lock timeout.
    async fn second_round_trip(&self, wanted: Wanted) -> SecondTrip {
        let s = self.statements;
        let (server_settings, blocking, names) = tokio::join!(
            self.query_if(wanted.server_settings, &s.server_settings),
            self.query_if(wanted.blocking, &s.blocking),
            self.names(),
        );
        SecondTrip {
            server_settings,
            blocking,
            names,
        }
    }

    async fn query_if(&self, wanted: bool, statement: &'a Statement) -> Option<Rows> {
        if wanted {
            Some(self.query(statement, Vec::new()).await)
        } else {
            None
        }
    }

    /// The names statement, prepared the first time it runs.
    async fn names(&self) -> Rows {
        let s = self.statements;
        let c = self.client;
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
        self.progress.touch();
        rows
    }

    async fn database_stats(&self, names: &Names) -> Rows {
        let oids = names.database_oids();
        self.query(&self.statements.database_stats, vec![Box::new(oids)])
            .await
    }

    /// The rows of a statement the read cannot do without.
    fn required(&self, rows: Rows) -> Result<Vec<Row>, ReadError> {
        rows.map_err(|e| {
            if e.is_closed() || self.client.is_closed() {
                ReadError::Lost(describe(&e))
            } else {
                ReadError::Failed(describe(&e))
            }
        })
    }

    /// One prepared statement's rows, as a future that owns its parameters, so that
    /// several can be polled together on one session (pipelined: one round trip).
    /// It records a sign of life when it finishes.
    fn query(
        &self,
        statement: &'a Statement,
        params: Vec<Box<dyn ToSql + Sync + Send>>,
    ) -> BoxFuture<'a, Rows> {
        let (client, progress) = (self.client, self.progress);
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
}
