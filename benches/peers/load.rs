//! The client sessions that load the server: who they are (applications, users,
//! databases) and what they do (a few active, a few idle in transaction, the rest
//! idle), the same mix on every engine so that the rows compare.

use futures::future::join_all;
use mysql_async::prelude::Queryable;
use tokio::task::JoinHandle;

pub const APPS: [&str; 7] = [
    "web",
    "api",
    "worker",
    "scheduler",
    "reports",
    "billing",
    "psql",
];
pub const USERS: [&str; 4] = ["postgres", "app_rw", "app_ro", "etl"];
pub const MARIA_USERS: [&str; 3] = ["app_rw", "app_ro", "etl"];
const DATABASES: [&str; 3] = ["postgres", "orders", "analytics"];

/// The database of load session `i`.
pub fn database(i: usize) -> &'static str {
    DATABASES[(i / APPS.len()) % DATABASES.len()]
}

/// How many of N sessions are active and idle in transaction: "a few".
pub fn mix(n: usize) -> (usize, usize) {
    let active = (n / 100).clamp(2, 20).min(n / 3);
    let idle_in_tx = (n / 100).clamp(2, 20).min(n / 3);
    (active, idle_in_tx)
}

/// What a load session does, per driver.
pub trait LoadSession: Sized {
    /// Runs a ten-minute sleep again and again until the session ends.
    fn keep_active(self) -> JoinHandle<()>;
    /// Opens a transaction, reads in it, and leaves it open.
    async fn leave_in_transaction(&mut self);
}

impl LoadSession for tokio_postgres::Client {
    fn keep_active(self) -> JoinHandle<()> {
        tokio::spawn(
            async move { while self.simple_query("SELECT pg_sleep(600)").await.is_ok() {} },
        )
    }

    async fn leave_in_transaction(&mut self) {
        self.batch_execute("BEGIN; SELECT 1").await.expect("begin");
    }
}

impl LoadSession for mysql_async::Conn {
    fn keep_active(mut self) -> JoinHandle<()> {
        tokio::spawn(async move { while self.query_drop("SELECT SLEEP(600)").await.is_ok() {} })
    }

    async fn leave_in_transaction(&mut self) {
        self.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT")
            .await
            .expect("begin");
        self.query_drop("SELECT 1").await.expect("select");
    }
}

/// The load sessions held open on one server.
pub struct Load<C> {
    idle: Vec<C>,
    idle_in_tx: Vec<C>,
    active: Vec<JoinHandle<()>>,
}

impl<C: LoadSession> Load<C> {
    pub fn new() -> Load<C> {
        Load {
            idle: Vec::new(),
            idle_in_tx: Vec::new(),
            active: Vec::new(),
        }
    }

    pub fn held(&self) -> usize {
        self.idle.len() + self.idle_in_tx.len() + self.active.len()
    }

    /// Grows the load to `n` sessions (sizes only grow), opening them 16 at a time
    /// with `open(i)` for session `i`.
    pub async fn grow<F, E>(&mut self, n: usize, open: impl Fn(usize) -> F)
    where
        F: Future<Output = Result<C, E>>,
        E: std::fmt::Debug,
    {
        let (want_active, want_tx) = mix(n);
        let indexes: Vec<usize> = (self.held()..n).collect();
        for chunk in indexes.chunks(16) {
            for c in join_all(chunk.iter().map(|&i| open(i))).await {
                let mut c = c.expect("open a load session");
                if self.active.len() < want_active {
                    self.active.push(c.keep_active());
                } else if self.idle_in_tx.len() < want_tx {
                    c.leave_in_transaction().await;
                    self.idle_in_tx.push(c);
                } else {
                    self.idle.push(c);
                }
            }
        }
    }
}
