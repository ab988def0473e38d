//! One interface over the PostgreSQL and MariaDB harnesses, so that a scenario both
//! engines must satisfy (tests/contract.rs) is written once, as a function generic
//! over [`TestServer`], and run on each. What differs between the engines — how an
//! origin is told apart, what a refused login looks like, who may take the reserved
//! slots — is answered here, once per engine, and nowhere in the scenarios.
//!
//! A third engine joins the contract by implementing this trait.

use super::mariadb::{self, MariaDb, MariaOptions};
use super::openmetrics::Labels;
use super::pg::{self, PgCluster, PgOptions};

/// A throwaway server prepared for the shared scenarios: an ordinary account `app`,
/// an ordinary monitoring account that sees every session, and a table `accounts`
/// whose row 1 the row-lock scenario locks.
#[allow(async_fn_in_trait)]
pub trait TestServer: Sized {
    /// A client session, open until dropped.
    type Session;
    /// A row lock held in an open transaction, with waiters queued behind it.
    type RowLock;

    /// The engine, as `dbconn_target_info` names it.
    const ENGINE: &'static str;
    /// Every part of the read a fully privileged exporter reports on.
    const COLLECTORS: &'static [&'static str];
    /// Two distinct origins of the `app` account: the `dbconn_connections_by_origin`
    /// labels (besides target and state) of sessions opened by
    /// [`TestServer::open_idle`] with origin 0 or 1.
    const ORIGINS: [&'static [(&'static str, &'static str)]; 2];

    /// Starts a server with `max_connections` slots and prepares it.
    async fn start(max_connections: u32) -> Self;
    /// The superuser (`postgres`, `root`).
    fn superuser_dsn(&self) -> String;
    /// The monitoring account: ordinary (no reserved or admin slot), sees every
    /// session.
    fn monitor_dsn(&self) -> String;
    /// The configured `max_connections`.
    fn max_connections(&self) -> u32;
    /// Slots ordinary logins may not take; the usage ratio is in use over
    /// `max_connections` minus these.
    fn reserved_connections(&self) -> u32;
    /// Whether `dbconn_target_info`'s labels name this server's version.
    fn names_its_version(&self, info: &Labels) -> bool;

    /// `n` idle sessions of `app` from `ORIGINS[origin]`.
    async fn open_idle(&self, n: usize, origin: usize) -> Vec<Self::Session>;
    /// Opens sessions of `app` into `held` until a login is refused; fails the test
    /// unless the refusal is the engine's "too many connections" or more than `most`
    /// were let in.
    async fn fill_until_refused(&self, held: &mut Vec<Self::Session>, most: usize);
    /// A session holds row 1 of `accounts` in an open transaction, and `waiters`
    /// sessions wait to update it (PostgreSQL's superuser, MariaDB's `app`).
    async fn hold_row_lock(&self, waiters: usize) -> Self::RowLock;
    /// Ends the holder's transaction and waits for every waiter to get through.
    async fn release(lock: Self::RowLock);
    /// How many sessions the server itself names as blocking another.
    async fn blockers(&self) -> i64;
}

impl TestServer for PgCluster {
    type Session = tokio_postgres::Client;
    type RowLock = pg::RowLock;

    const ENGINE: &'static str = "postgresql";
    const COLLECTORS: &'static [&'static str] = &[
        "activity",
        "settings",
        "names",
        "locks",
        "blocking",
        "database_stats",
    ];
    const ORIGINS: [&'static [(&'static str, &'static str)]; 2] = [
        &[
            ("database", "postgres"),
            ("user", "app"),
            ("application", "billing"),
        ],
        &[
            ("database", "postgres"),
            ("user", "app"),
            ("application", "reports"),
        ],
    ];

    async fn start(max_connections: u32) -> PgCluster {
        let cluster = PgCluster::start(PgOptions {
            max_connections,
            superuser_reserved_connections: 3,
            ..PgOptions::default()
        });
        cluster
            .exec(
                "CREATE ROLE app LOGIN; GRANT ALL ON DATABASE postgres TO app; \
                 CREATE ROLE monitor LOGIN IN ROLE pg_monitor",
            )
            .await;
        cluster.create_accounts().await;
        cluster
    }

    fn superuser_dsn(&self) -> String {
        PgCluster::superuser_dsn(self)
    }

    fn monitor_dsn(&self) -> String {
        self.dsn("monitor", "postgres")
    }

    fn max_connections(&self) -> u32 {
        self.options().max_connections
    }

    fn reserved_connections(&self) -> u32 {
        self.options().superuser_reserved_connections
    }

    fn names_its_version(&self, info: &Labels) -> bool {
        info["version"].starts_with(&(self.version_num() / 10000).to_string())
    }

    async fn open_idle(&self, n: usize, origin: usize) -> Vec<tokio_postgres::Client> {
        let application = ["billing", "reports"][origin];
        self.connect_many(n, "app", "postgres", application).await
    }

    async fn fill_until_refused(&self, held: &mut Vec<tokio_postgres::Client>, most: usize) {
        let refused = PgCluster::fill_until_refused(self, "app", held, most).await;
        assert_eq!(
            refused.code(),
            Some(&tokio_postgres::error::SqlState::TOO_MANY_CONNECTIONS),
            "{refused}"
        );
    }

    async fn hold_row_lock(&self, waiters: usize) -> pg::RowLock {
        let names: Vec<String> = (1..=waiters).map(|i| format!("waiter-{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        PgCluster::hold_row_lock(self, "postgres", "holder", &names).await
    }

    async fn release(lock: pg::RowLock) {
        lock.release().await;
    }

    async fn blockers(&self) -> i64 {
        let watcher = self.superuser_session("watcher").await;
        pg::blockers(&watcher).await
    }
}

impl TestServer for MariaDb {
    type Session = mysql_async::Conn;
    type RowLock = mariadb::RowLock;

    const ENGINE: &'static str = "mariadb";
    const COLLECTORS: &'static [&'static str] = &[
        "activity",
        "settings",
        "status",
        "blocking",
        "locks",
        "user_limits",
    ];
    const ORIGINS: [&'static [(&'static str, &'static str)]; 2] = [
        &[("database", "(none)"), ("user", "app")],
        &[("database", "shop"), ("user", "app")],
    ];

    async fn start(max_connections: u32) -> MariaDb {
        let db = MariaDb::start(MariaOptions {
            max_connections,
            ..MariaOptions::default()
        });
        db.create_shop_with_accounts().await;
        db.create_user("app", None).await;
        db.create_user("monitor", None).await;
        db
    }

    fn superuser_dsn(&self) -> String {
        self.root_dsn()
    }

    fn monitor_dsn(&self) -> String {
        self.dsn("monitor", "pw")
    }

    fn max_connections(&self) -> u32 {
        self.options().max_connections
    }

    fn reserved_connections(&self) -> u32 {
        // MariaDB's extra admin slot lies beyond max_connections.
        0
    }

    fn names_its_version(&self, info: &Labels) -> bool {
        info["version"].contains("MariaDB")
    }

    async fn open_idle(&self, n: usize, origin: usize) -> Vec<mysql_async::Conn> {
        let database = [None, Some("shop")][origin];
        self.connect_many_to(n, "app", "pw", database).await
    }

    async fn fill_until_refused(&self, held: &mut Vec<mysql_async::Conn>, most: usize) {
        let refused = MariaDb::fill_until_refused(self, "app", "pw", held, most).await;
        match &refused {
            mysql_async::Error::Server(e) => assert_eq!(e.code, 1040, "{e}"),
            other => panic!("expected ER_CON_COUNT_ERROR, got {other}"),
        }
    }

    async fn hold_row_lock(&self, waiters: usize) -> mariadb::RowLock {
        MariaDb::hold_row_lock(self, "app", "pw", waiters).await
    }

    async fn release(lock: mariadb::RowLock) {
        lock.release().await;
    }

    async fn blockers(&self) -> i64 {
        let mut watcher = self
            .connect("root", "", None)
            .await
            .unwrap_or_else(|e| panic!("connect the watcher: {e}"));
        mariadb::blockers(&mut watcher).await
    }
}
