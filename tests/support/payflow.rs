//! PayFlow on PostgreSQL: the outage the incident view exists for, on a throwaway
//! cluster. An API that holds most connection slots idle, two sessions forgotten in
//! a transaction, a batch job that updated a row and never committed, payments
//! queued behind it (one of which blocks another in turn: a two-level tree), and a
//! server so full that an ordinary login is refused (SQLSTATE 53300).
//!
//! Built in two steps so that the exporter under test can take its one session
//! before the server is full, as it would have in production:
//!
//! ```ignore
//! let mut payflow = PayFlowPg::start().await;       // everything but the filling
//! /* connect the exporter with payflow.exporter_dsn() */
//! let refusal = payflow.fill().await;               // now full: 53300
//! ```
//!
//! Every pid is the one the session itself reported (`SELECT pg_backend_pid()`).
//! Dropping the scene stops the cluster, and with it every session.

use tokio_postgres::Client;

use super::pg::{PgCluster, PgOptions};

/// The application name of the API's sessions (idle, idle in transaction, waiting).
pub const API: &str = "payflow-api";
/// The application name of the root blocker.
pub const BATCH: &str = "payflow-batch";
/// The role every PayFlow session logs in as: an ordinary role.
pub const APP_ROLE: &str = "payflow";
/// An exporter role with `pg_monitor` (sees every session's state).
pub const MONITOR_ROLE: &str = "dbconn";
/// An exporter role without `pg_monitor` (other roles' sessions are hidden).
pub const PLAIN_ROLE: &str = "dbconn_plain";
/// What the root blocker ran and left open.
pub const ROOT_STATEMENT: &str = "UPDATE accounts SET balance = balance - 1 WHERE id = 1";

/// `max_connections` of the scene's cluster.
pub const MAX_CONNECTIONS: u32 = 20;
/// `superuser_reserved_connections`: the watcher's way in once the server is full.
pub const SUPERUSER_RESERVED: u32 = 3;

/// One session of the scene, with the pid it reported.
pub struct Held {
    pub pid: i32,
    /// The session's client, `None` when it is busy in a statement that waits
    /// (then `task` drives it).
    pub client: Option<Client>,
    /// The waiting statement; resolves when the lock is granted or the cluster stops.
    pub task: Option<tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>>,
}

/// The scene. The pids are the server's backend pids.
pub struct PayFlowPg {
    /// The throwaway cluster: 20 connections, 3 reserved for superusers, trust
    /// authentication, table `accounts (id, balance)` with rows 1 and 2.
    pub cluster: PgCluster,
    /// `payflow-api` sessions idle; [`PayFlowPg::fill`] adds to them until the
    /// server refuses a login.
    pub idle: Vec<Held>,
    /// Two `payflow-api` sessions idle in transaction (`BEGIN; SELECT 1`).
    pub idle_in_transaction: Vec<Held>,
    /// The root blocker: `payflow-batch`, idle in transaction after [`ROOT_STATEMENT`].
    pub root: Held,
    /// Three `payflow-api` sessions waiting to update row 1 (the root's row), in the
    /// order they queued. The first holds row 2 in its own transaction.
    pub waiters: Vec<Held>,
    /// A `payflow-api` session waiting to update row 2, which the first waiter
    /// holds: the second level of the tree.
    pub second_level: Held,
    /// A superuser session (application `payflow-watcher`), opened before the fill:
    /// it sits in a reserved slot and can always look.
    pub watcher: Client,
}

impl PayFlowPg {
    /// Starts the cluster and every session but the filling: the exporter may still
    /// connect (as [`MONITOR_ROLE`] or [`PLAIN_ROLE`]) with ordinary slots to spare.
    pub async fn start() -> PayFlowPg {
        let cluster = PgCluster::start(PgOptions {
            max_connections: MAX_CONNECTIONS,
            superuser_reserved_connections: SUPERUSER_RESERVED,
            ..PgOptions::default()
        });
        cluster
            .exec(&format!(
                "CREATE ROLE {APP_ROLE} LOGIN; \
                 CREATE ROLE {MONITOR_ROLE} LOGIN IN ROLE pg_monitor; \
                 CREATE ROLE {PLAIN_ROLE} LOGIN; \
                 CREATE TABLE accounts (id int PRIMARY KEY, balance int); \
                 INSERT INTO accounts VALUES (1, 100), (2, 100); \
                 GRANT SELECT, UPDATE ON accounts TO {APP_ROLE};"
            ))
            .await;
        let watcher = cluster.superuser_session("payflow-watcher").await;

        let mut idle = Vec::new();
        for _ in 0..4 {
            idle.push(Held::idle(session(&cluster, API).await).await);
        }
        let mut idle_in_transaction = Vec::new();
        // Each pid is read before the statement the session is left with, so that
        // its last statement is the scene's, not the harness's.
        for _ in 0..2 {
            let held = Held::idle(session(&cluster, API).await).await;
            held.run("BEGIN; SELECT 1").await;
            idle_in_transaction.push(held);
        }
        let root = Held::idle(session(&cluster, BATCH).await).await;
        root.run("BEGIN").await;
        root.run(ROOT_STATEMENT).await;

        let mut waiters = Vec::new();
        let first = session(&cluster, API).await;
        first
            .batch_execute("BEGIN; UPDATE accounts SET balance = balance + 1 WHERE id = 2")
            .await
            .unwrap_or_else(|e| panic!("take row 2: {e}"));
        waiters.push(
            Held::waiting(
                first,
                "UPDATE accounts SET balance = balance + 1 WHERE id = 1",
            )
            .await,
        );
        wait_for_lock_waiters(&watcher, 1).await;
        for n in 2..=3 {
            let c = session(&cluster, API).await;
            waiters.push(
                Held::waiting(c, "UPDATE accounts SET balance = balance + 1 WHERE id = 1").await,
            );
            wait_for_lock_waiters(&watcher, n).await;
        }
        let c = session(&cluster, API).await;
        let second_level =
            Held::waiting(c, "UPDATE accounts SET balance = balance + 1 WHERE id = 2").await;
        wait_for_lock_waiters(&watcher, 4).await;

        PayFlowPg {
            cluster,
            idle,
            idle_in_transaction,
            root,
            waiters,
            second_level,
            watcher,
        }
    }

    /// Opens idle `payflow-api` sessions until an ordinary login is refused, and
    /// returns that refusal (it should be SQLSTATE 53300). Fails the test if the
    /// server lets in more than it has slots.
    pub async fn fill(&mut self) -> tokio_postgres::Error {
        loop {
            match self.cluster.connect(APP_ROLE, "postgres", API).await {
                Ok(c) => self.idle.push(Held::idle(c).await),
                Err(e) => return e,
            }
            assert!(
                self.idle.len() <= MAX_CONNECTIONS as usize,
                "the server never refused a login"
            );
        }
    }

    /// The DSN of an exporter role: [`MONITOR_ROLE`] or [`PLAIN_ROLE`].
    pub fn dsn(&self, role: &str) -> String {
        self.cluster.dsn(role, "postgres")
    }

    /// Every PayFlow session's pid (idle, idle in transaction, root, waiters).
    pub fn all_pids(&self) -> Vec<i32> {
        let mut pids: Vec<i32> = self
            .idle
            .iter()
            .chain(&self.idle_in_transaction)
            .chain(std::iter::once(&self.root))
            .chain(&self.waiters)
            .chain(std::iter::once(&self.second_level))
            .map(|h| h.pid)
            .collect();
        pids.sort_unstable();
        pids
    }

    /// The pids of the `payflow-api` sessions (all but the root blocker).
    pub fn api_pids(&self) -> Vec<i32> {
        let mut pids = self.all_pids();
        pids.retain(|p| *p != self.root.pid);
        pids
    }

    pub fn root_pid(&self) -> i32 {
        self.root.pid
    }

    /// The three waiters on the root's row, in queue order.
    pub fn waiter_pids(&self) -> Vec<i32> {
        self.waiters.iter().map(|h| h.pid).collect()
    }
}

impl Held {
    /// Runs `sql` on an idle session.
    async fn run(&self, sql: &str) {
        let client = self.client.as_ref().expect("an idle session");
        client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    async fn idle(client: Client) -> Held {
        let pid = pid_of(&client).await;
        Held {
            pid,
            client: Some(client),
            task: None,
        }
    }

    /// Starts `sql`, which is expected to wait on a lock, on its own task.
    async fn waiting(client: Client, sql: &'static str) -> Held {
        let pid = pid_of(&client).await;
        let task = tokio::spawn(async move { client.batch_execute(sql).await });
        Held {
            pid,
            client: None,
            task: Some(task),
        }
    }
}

async fn session(cluster: &PgCluster, application: &str) -> Client {
    cluster
        .connect(APP_ROLE, "postgres", application)
        .await
        .unwrap_or_else(|e| panic!("connect {application}: {e}"))
}

async fn pid_of(client: &Client) -> i32 {
    client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap_or_else(|e| panic!("read the session's pid: {e}"))
        .get(0)
}

/// Waits until `n` sessions wait on a heavyweight lock (as `pg_locks` shows).
async fn wait_for_lock_waiters(watcher: &Client, n: i64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let waiting: i64 = watcher
            .query_one(
                "SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted",
                &[],
            )
            .await
            .unwrap_or_else(|e| panic!("count lock waiters: {e}"))
            .get(0);
        if waiting >= n {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{waiting} sessions wait on a lock, expected {n}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
