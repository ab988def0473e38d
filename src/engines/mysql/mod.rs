//! MySQL and MariaDB: one session, a few aggregated reads of the processlist, InnoDB
//! and the server's status, picked by flavour and version.
//!
//! - `connect`: the DSN and its TLS settings, connecting, and what the server's
//!   errors mean.
//! - `sql`: which statements a flavour, version and set of privileges gets.
//! - `parse`: from the rows of a read to the snapshot, over plain row structs.
//! - `scene`: from the rows of an incident read to its sessions, likewise.
//! - here: the session, its read as one round trip, and the incident read.
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
//!
//! - The incident read lists threads one by one, so it is only made on demand: the
//!   metrics read first (the usage it shows is the metrics' own), then the threads
//!   with their InnoDB transaction, who waits for whom, the `program_name` connect
//!   attributes and the superusers. A thread's waits come from the lock views and
//!   its transaction's age from `INNODB_TRX`, both needing `PROCESS`; without it the
//!   view lists the account's own threads and says so.
//! - A superuser is whoever holds the extra slot's privilege itself or through any
//!   chain of roles granted to it: a role grant is one `SET ROLE` away from use.
//!   The privileges and the role grants come in one statement, so a grant table
//!   the exporter may not read leaves the superusers unknown (and no session is
//!   offered for termination) rather than known in part.
//!
//! What a read costs the server is measured by `cargo bench --bench peers`.

mod connect;
mod parse;
mod scene;
mod sql;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};

pub use connect::Connector;
use sql::sql_for_visibility;
pub use sql::{Part, Sql, Version, Visibility, detect, sql_for};

use super::{Progress, ReadError, ReadSettings};
use crate::model::{ReadPart, Snapshot};

pub struct Session {
    conn: Conn,
    server: parse::Server,
    /// The version the statements are picked by.
    version: Version,
    sql: Arc<Sql>,
    lost: bool,
    /// Parts of the read this server does not support, skipped for the rest of the
    /// session (the reason was logged when it first failed).
    unsupported: HashSet<Part>,
    progress: Arc<Progress>,
}

impl Session {
    /// Finds flavour, version and privileges, and sets the session's limits.
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
        let visibility = connect::probe_visibility(&mut conn).await?;
        if visibility == Visibility::OwnThreads {
            connect::warn_without_process(&mut conn).await?;
            sql = sql_for_visibility(flavor, v, visibility, settings);
        }
        tracing::debug!(flavor = ?flavor, version = %version, visibility = ?visibility, "MySQL-family session ready");
        Ok(Session {
            conn,
            server: parse::Server {
                engine: flavor,
                version,
                visibility,
            },
            version: v,
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

    /// The incident read: a metrics read, then every listed thread one by one, on
    /// this session and under its statement and lock time limits.
    ///
    /// Its statements go one at a time, each answer read to its end before the
    /// next is sent: the read is on demand and rare, and each statement other than
    /// the thread list may fail alone (a view not readable) and become a note.
    pub async fn incident(
        &mut self,
        settings: &ReadSettings,
    ) -> Result<crate::incident::Scene, ReadError> {
        let snapshot = self.read(settings).await?;
        let read_at_unix_seconds = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let visibility = self.server.visibility;
        let sql = sql::incident_sql(
            self.server.engine,
            self.version,
            visibility,
            settings.query_text,
        );
        let mut notes = Vec::new();
        let threads = match self.query(&sql.sessions).await {
            Ok(rows) => rows.iter().map(scene::thread_row).collect::<Vec<_>>(),
            Err(e) if self.lost => return Err(ReadError::Lost(e.to_string())),
            Err(e) => return Err(ReadError::Failed(format!("listing the threads: {e}"))),
        };
        if visibility == Visibility::OwnThreads {
            notes.push(scene::without_process_note());
        }
        let waits = match &sql.lock_waits {
            Some(statement) => match self.optional(statement).await? {
                Ok(rows) => rows.iter().map(scene::wait_row).collect(),
                Err(e) => {
                    notes.push(scene::lock_waits_failed_note(&e));
                    Vec::new()
                }
            },
            None => Vec::new(),
        };
        let applications = match self.optional(sql.performance_schema).await? {
            Ok(rows) if scene::performance_schema_on(&rows) => {
                match self.optional(sql.applications).await? {
                    Ok(rows) => scene::applications(&rows),
                    Err(e) => {
                        notes.push(scene::applications_refused_note(&e));
                        HashMap::new()
                    }
                }
            }
            _ => {
                notes.push(scene::APPLICATIONS_NEED_PERFORMANCE_SCHEMA.to_string());
                HashMap::new()
            }
        };
        let superusers = match self.optional(&sql.superusers.statement).await? {
            Ok(rows) => Some(scene::superusers(&rows)),
            Err(e) => {
                notes.push(scene::superusers_unknown_note(&e, sql.superusers.tables));
                None
            }
        };
        Ok(crate::incident::Scene {
            engine: self.server.engine,
            version: self.server.version.clone(),
            snapshot,
            sessions: scene::sessions(&threads, &waits, &applications, superusers.as_ref()),
            notes,
            superusers_known: superusers.is_some(),
            read_at_unix_seconds,
        })
    }

    /// A statement whose failure the caller turns into a note: its rows, or the
    /// server's error in words. Only a lost session fails the read.
    async fn optional(&mut self, sql: &str) -> Result<Result<Vec<Row>, String>, ReadError> {
        match self.query(sql).await {
            Ok(rows) => Ok(Ok(rows)),
            Err(e) if self.lost => Err(ReadError::Lost(e.to_string())),
            Err(e) => {
                tracing::debug!(error = %e, "part of the incident read failed");
                Ok(Err(e.to_string()))
            }
        }
    }

    /// One read: the parts this server supports, sent as one batch, their rows
    /// copied out of the driver's and turned into the snapshot.
    pub async fn read(&mut self, settings: &ReadSettings) -> Result<Snapshot, ReadError> {
        let sql = Arc::clone(&self.sql);
        let parts = self.parts_to_send(&sql);
        let results = self.run(&parts, sql.required_parts()).await?;
        let results = by_part(&parts, results);
        let worked = collectors(&results);
        let rows = parse::Rows::from_driver(results, settings.thresholds.len())?;
        Ok(parse::snapshot(rows, &self.server, worked, settings)?)
    }

    /// The parts of the read, without those this server does not support. A
    /// required part never fails without failing the read, so it is never skipped,
    /// and the required ones stay the first.
    fn parts_to_send<'s>(&self, sql: &'s Sql) -> Vec<(Part, &'s str)> {
        sql.parts()
            .into_iter()
            .filter(|(part, _)| !self.unsupported.contains(part))
            .collect()
    }

    /// Sends the parts in one round trip, as one multi-statement query. The server
    /// stops at the first statement that fails; the parts after it are then sent one
    /// by one, so that a view the exporter may not read costs its own part, not the
    /// read. One entry per part: `None` for a part that failed.
    async fn run(
        &mut self,
        parts: &[(Part, &str)],
        required: usize,
    ) -> Result<Vec<Option<Vec<Row>>>, ReadError> {
        let (done, failure) = self.batch(parts).await;
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
        results.extend(self.one_by_one(rest).await?);
        Ok(results)
    }

    /// The result sets of the parts sent as one multi-statement query, up to the
    /// first error, and that error.
    async fn batch(
        &mut self,
        parts: &[(Part, &str)],
    ) -> (Vec<Vec<Row>>, Option<mysql_async::Error>) {
        let statements = parts.len();
        let sql = parts
            .iter()
            .map(|(_, sql)| *sql)
            .collect::<Vec<_>>()
            .join(";\n");
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
            && connect::is_lost(e)
        {
            self.lost = true;
        }
        (done, error)
    }

    /// The parts after one that failed in the batch, each on its own: one entry per
    /// part, `None` for a part that failed.
    async fn one_by_one(
        &mut self,
        parts: &[(Part, &str)],
    ) -> Result<Vec<Option<Vec<Row>>>, ReadError> {
        let mut results = Vec::with_capacity(parts.len());
        for (part, sql) in parts {
            results.push(match self.query(sql).await {
                Ok(rows) => Some(rows),
                Err(e) if self.lost => return Err(ReadError::Lost(e.to_string())),
                Err(e) => {
                    self.part_failed(*part, &e);
                    None
                }
            });
        }
        Ok(results)
    }

    async fn query(&mut self, sql: &str) -> Result<Vec<Row>, mysql_async::Error> {
        let result = self.conn.query::<Row, _>(sql).await;
        self.progress.touch();
        if let Err(e) = &result
            && connect::is_lost(e)
        {
            self.lost = true;
        }
        result
    }

    fn part_failed(&mut self, part: Part, e: &mysql_async::Error) {
        let name = part.name();
        if connect::is_unsupported(e) {
            tracing::warn!(collector = name, error = %e, "not supported by this server or not permitted; skipped from now on");
            self.unsupported.insert(part);
        } else {
            tracing::warn!(collector = name, error = %e, "part of the read failed");
        }
    }
}

/// The rows of each part that worked.
fn by_part(parts: &[(Part, &str)], results: Vec<Option<Vec<Row>>>) -> HashMap<Part, Vec<Row>> {
    parts
        .iter()
        .zip(results)
        .filter_map(|((part, _), rows)| Some((*part, rows?)))
        .collect()
}

/// Whether each part worked, every part listed whether it was sent or not.
fn collectors(results: &HashMap<Part, Vec<Row>>) -> Vec<ReadPart> {
    Part::ALL
        .iter()
        .map(|part| ReadPart {
            name: part.name(),
            success: results.contains_key(part),
        })
        .collect()
}

/// The read settings of the unit tests: two thresholds.
#[cfg(test)]
fn test_settings() -> ReadSettings {
    ReadSettings {
        thresholds: vec![30.0, 60.0],
        origin_cap: 100,
        statement_timeout: Duration::from_secs(5),
        lock_timeout: Duration::from_millis(500),
        query_text: None,
    }
}
