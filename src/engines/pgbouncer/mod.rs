//! PgBouncer: its admin console (the `pgbouncer` database), read with `SHOW`
//! commands on one session, into the common snapshot plus its pools.
//!
//! Why the read looks the way it does:
//! - The console has no statement timeout to set (it takes no `SET` of a session
//!   setting, and a `SET` there would change the pooler for everyone), so each
//!   command waits at most the statement timeout on the client side. A command
//!   that does not answer in time leaves the session out of step, so it counts as
//!   a lost session: the target closes it and connects again, under its backoff.
//!   The target's watchdog applies as to every engine.
//! - The commands are sent together (pipelined on the one session): PgBouncer
//!   answers them in order, in one round trip.
//! - The common schema counts PgBouncer's clients, because `max_client_conn` is the
//!   limit that refuses an application's login: `dbconn_max_connections` is
//!   `max_client_conn`, and the clients are `SHOW LISTS`' `used_clients`, the
//!   count PgBouncer compares with it. Their states (see `parse::client_state`)
//!   say whether a client holds a server connection (`active`), holds only its
//!   place (`idle`), or wants one and has none (`other`: waiting, cancelling,
//!   logging in). The pools, with PgBouncer's own states, say the rest.
//! - Per-database and per-user limits are PgBouncer's limits on server
//!   connections (`max_db_connections`, `max_user_connections`).

mod connect;
mod parse;
mod sql;

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_postgres::Client;

pub use connect::{Connector, classify};

use super::{ConnectError, Progress, ReadError, ReadSettings};
use crate::model::{ConnectErrorKind, Engine, Snapshot};
use parse::Table;

pub struct Session {
    client: Client,
    /// The task that drives the socket; aborted when the session is closed.
    connection: JoinHandle<()>,
    version: String,
    progress: Arc<Progress>,
    /// A command did not answer in time: the session's answers may be out of step.
    lost: bool,
}

/// Why a command has no answer.
enum ShowError {
    Query(tokio_postgres::Error),
    Late(Duration),
}

impl ShowError {
    fn describe(&self, command: &str) -> String {
        match self {
            ShowError::Query(e) => format!("{command}: {}", super::postgres::describe(e)),
            ShowError::Late(limit) => format!(
                "{command} did not answer within the statement timeout ({} s)",
                limit.as_secs_f64()
            ),
        }
    }
}

impl Session {
    /// Learns the version; the console answers nothing else at login.
    async fn set_up(
        client: Client,
        connection: JoinHandle<()>,
        settings: &ReadSettings,
    ) -> Result<Session, ConnectError> {
        let progress = Arc::new(Progress::default());
        let answer = show(&client, &progress, sql::VERSION, settings.statement_timeout).await;
        let version = match answer {
            Ok(table) => parse::version(&table).map_err(|message| ConnectError {
                kind: ConnectErrorKind::Other,
                message,
            }),
            Err(ShowError::Query(e)) => Err(connect::classify(&e)),
            Err(late @ ShowError::Late(_)) => Err(ConnectError {
                kind: ConnectErrorKind::Timeout,
                message: late.describe(sql::VERSION),
            }),
        };
        match version {
            Ok(version) => Ok(Session {
                client,
                connection,
                version,
                progress,
                lost: false,
            }),
            Err(e) => {
                connection.abort();
                Err(e)
            }
        }
    }

    pub fn is_closed(&self) -> bool {
        self.lost || self.client.is_closed()
    }

    pub fn progress(&self) -> Arc<Progress> {
        Arc::clone(&self.progress)
    }

    /// Closes the socket now, as for PostgreSQL.
    pub async fn close(self) {
        self.connection.abort();
        let _ = self.connection.await;
    }

    pub async fn read(&mut self, settings: &ReadSettings) -> Result<Snapshot, ReadError> {
        let (c, p, limit) = (&self.client, &*self.progress, settings.statement_timeout);
        let (pools, databases, config, lists, clients, users) = tokio::join!(
            show(c, p, sql::POOLS, limit),
            show(c, p, sql::DATABASES, limit),
            show(c, p, sql::CONFIG, limit),
            show(c, p, sql::LISTS, limit),
            show(c, p, sql::CLIENTS, limit),
            show(c, p, sql::USERS, limit),
        );
        let required = [
            (sql::POOLS, &pools),
            (sql::DATABASES, &databases),
            (sql::CONFIG, &config),
            (sql::LISTS, &lists),
            (sql::CLIENTS, &clients),
            (sql::USERS, &users),
        ];
        // A late answer or a closed socket loses the session, whichever command
        // met it.
        for (command, answer) in required {
            if let Err(e) = answer {
                let gone = matches!(e, ShowError::Late(_)) || self.client.is_closed();
                if gone {
                    self.lost = true;
                    return Err(ReadError::Lost(e.describe(command)));
                }
            }
        }
        let failed = |command: &str, e: ShowError| ReadError::Failed(e.describe(command));
        let pools = pools.map_err(|e| failed(sql::POOLS, e))?;
        let databases = databases.map_err(|e| failed(sql::DATABASES, e))?;
        let config = config.map_err(|e| failed(sql::CONFIG, e))?;
        let lists = lists.map_err(|e| failed(sql::LISTS, e))?;
        let clients = clients.map_err(|e| failed(sql::CLIENTS, e))?;
        let users = match users {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!(collector = "users", error = %e.describe(sql::USERS), "part of the read failed");
                None
            }
        };
        snapshot(
            &self.version,
            settings,
            Tables {
                pools,
                databases,
                config,
                lists,
                clients,
                users,
            },
        )
        .map_err(ReadError::Failed)
    }
}

/// One read's answers.
struct Tables {
    pools: Table,
    databases: Table,
    config: Table,
    lists: Table,
    clients: Table,
    users: Option<Table>,
}

fn snapshot(version: &str, settings: &ReadSettings, t: Tables) -> Result<Snapshot, String> {
    let config = parse::config(&t.config)?;
    let used_clients = parse::used_clients(&t.lists)?;
    let groups = parse::client_groups(&t.clients, &settings.thresholds)?;
    let facts = parse::sessions(
        groups,
        used_clients,
        &settings.thresholds,
        settings.origin_cap,
    );
    let pools = parse::pools(&t.pools, &t.databases, t.users.as_ref())?;
    let user_limits = parse::user_limits(t.users.as_ref(), &pools, &config)?;
    let database_limits = parse::database_limits(&t.databases)?;
    Ok(Snapshot {
        user_limits: Some(user_limits),
        database_limits: Some(database_limits),
        timeouts: config.timeouts,
        parts: parse::parts(t.users.is_some()),
        pools: Some(pools),
        ..Snapshot::new(Engine::PgBouncer, version, config.max_client_conn, 0, facts)
    })
}

/// One command's answer within `limit`; a sign of life when it comes.
async fn show(
    client: &Client,
    progress: &Progress,
    command: &str,
    limit: Duration,
) -> Result<Table, ShowError> {
    let answer = tokio::time::timeout(limit, client.simple_query(command))
        .await
        .map_err(|_| ShowError::Late(limit))?;
    progress.touch();
    answer
        .map(|messages| Table::from_messages(&messages))
        .map_err(ShowError::Query)
}
