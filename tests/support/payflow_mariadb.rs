//! The incident scene on MariaDB, built for real: an application ("payflow") has
//! taken every connection, one of its threads holds a row lock in a transaction it
//! left open, and three more queue behind it. The exporter holds its one session
//! from before the server filled: a library target built as the exporter builds it
//! ([`PayFlowMariaDb::start`]), or the exporter binary, started between
//! [`PayFlowServer::start`] and [`PayFlowServer::fill`]. The incident tests of every
//! layer (the engine read, the HTTP API, the page, the `incident` command) start
//! from this scene.
//!
//! The server: `max_connections` 20 and performance_schema on (for the
//! `program_name` connect attribute). Its 20 client slots hold:
//!
//! | who | user | program_name | threads | state |
//! |---|---|---|---|---|
//! | the exporter | `monitor` | `dbconn_exporter` | 1 | active while it reads |
//! | the on-call's console | `root` | (none) | 1 | idle ([`PayFlowScene::watcher`]) |
//! | the root blocker | `payflow` | `payflow` | 1 | idle in transaction, holding row 1 of `pay.t` |
//! | the waiters | `payflow` | `payflow` | 3 | active, `UPDATE … WHERE id = 1` waiting on the root blocker |
//! | idle in transaction | `payflow` | `payflow` | 2 | idle in transaction, holding rows 2 and 3 |
//! | idle | `payflow` | `payflow` | 12 | idle |
//!
//! The next ordinary login is refused with error 1040 ([`PayFlowScene::refusal`]).
//! Root (SUPER) may still take MariaDB's one extra slot.
//!
//! Accounts: `payflow` and `monitor`, password `pw`. `monitor` holds `PROCESS`,
//! `SELECT` on `mysql.user` (the account limits), on `mysql.global_priv` and
//! `mysql.roles_mapping` (the superusers, with their roles) and on
//! `performance_schema` (the application names) — nothing that grants the extra
//! slot. Lock waits last up to 600 s (`innodb_lock_wait_timeout`).

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use dbconn_exporter::config::{Cli, Config};
use dbconn_exporter::engines::ReadSettings;
use dbconn_exporter::target::{Policy, Target};
use mysql_async::prelude::Queryable;
use tokio::time::Instant;

use super::mariadb::{MariaDb, MariaOptions};

/// The application's name, as its connections send it (`program_name`) and as its
/// user is called.
pub const PAYFLOW: &str = "payflow";
/// The exporter's account.
pub const MONITOR: &str = "monitor";
/// The server's `max_connections`.
pub const MAX_CONNECTIONS: u32 = 20;
/// What the root blocker ran, and what it left open.
pub const ROOT_BLOCKER_UPDATE: &str = "UPDATE t SET amount = amount + 1 WHERE id = 1";
/// What each waiter runs, waiting on the root blocker.
pub const WAITER_UPDATE: &str = "UPDATE t SET amount = amount - 1 WHERE id = 1";

/// The server, its accounts and the on-call's console, before any payflow thread:
/// the exporter under test (a library [`Target`] or the binary) takes its one
/// session now, while slots are free, then [`PayFlowServer::fill`] builds the rest.
pub struct PayFlowServer {
    pub db: MariaDb,
    /// The `mysql://monitor:pw@…` DSN for the exporter.
    pub dsn: String,
    /// The on-call's console: a root session, held for queries a test makes as root.
    pub watcher: mysql_async::Conn,
    pub watcher_id: i64,
}

impl PayFlowServer {
    /// Starts the server with the accounts and the console; no payflow thread yet.
    pub async fn start() -> PayFlowServer {
        let db = MariaDb::start(MariaOptions {
            max_connections: MAX_CONNECTIONS,
            settings: vec![
                "--performance-schema=ON".into(),
                "--innodb-lock-wait-timeout=600".into(),
            ],
        });
        db.exec(
            "CREATE DATABASE pay; \
             CREATE TABLE pay.t (id INT PRIMARY KEY, amount INT) ENGINE=InnoDB; \
             INSERT INTO pay.t VALUES (1, 100), (2, 100), (3, 100); \
             CREATE USER 'payflow'@'%' IDENTIFIED BY 'pw'; \
             GRANT ALL ON pay.* TO 'payflow'@'%'; \
             CREATE USER 'monitor'@'%' IDENTIFIED BY 'pw'; \
             GRANT PROCESS ON *.* TO 'monitor'@'%'; \
             GRANT SELECT ON mysql.user TO 'monitor'@'%'; \
             GRANT SELECT ON mysql.global_priv TO 'monitor'@'%'; \
             GRANT SELECT ON mysql.roles_mapping TO 'monitor'@'%'; \
             GRANT SELECT ON performance_schema.* TO 'monitor'@'%'",
        )
        .await;
        let mut watcher = db
            .connect("root", "", None)
            .await
            .unwrap_or_else(|e| panic!("connect the root console: {e}"));
        let watcher_id = connection_id(&mut watcher).await;
        // The harness's `exec` session stays listed until its thread has gone.
        wait_for_count(&mut watcher, OTHER_CLIENTS, 0, "only the console left").await;
        let dsn = db.dsn(MONITOR, "pw");
        PayFlowServer {
            db,
            dsn,
            watcher,
            watcher_id,
        }
    }

    /// Waits until the exporter's one thread is listed, then opens the payflow
    /// threads (the root blocker, the idle in transaction, the waiters, and idle
    /// ones until an ordinary login is refused).
    pub async fn fill(self) -> PayFlowScene {
        let PayFlowServer {
            db,
            dsn,
            mut watcher,
            watcher_id,
        } = self;
        wait_for_count(
            &mut watcher,
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'monitor'",
            1,
            "the exporter's one thread",
        )
        .await;
        let exporter_id: i64 = watcher
            .query_first("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'monitor'")
            .await
            .expect("find the exporter's thread")
            .expect("the exporter's thread is listed");

        let mut root_blocker = payflow(&db).await;
        let root_blocker_id = connection_id(&mut root_blocker).await;
        for statement in ["BEGIN", ROOT_BLOCKER_UPDATE] {
            root_blocker
                .query_drop(statement)
                .await
                .unwrap_or_else(|e| panic!("the root blocker's {statement}: {e}"));
        }
        let mut held = vec![root_blocker];

        let mut idle_in_transaction_ids = Vec::new();
        for id in [2, 3] {
            let mut c = payflow(&db).await;
            idle_in_transaction_ids.push(connection_id(&mut c).await);
            for statement in [
                "BEGIN".to_string(),
                format!("UPDATE t SET amount = amount + 1 WHERE id = {id}"),
            ] {
                c.query_drop(&statement)
                    .await
                    .unwrap_or_else(|e| panic!("{statement}: {e}"));
            }
            held.push(c);
        }

        let mut waiter_ids = Vec::new();
        let mut waiting = Vec::new();
        for _ in 0..3 {
            let mut c = payflow(&db).await;
            waiter_ids.push(connection_id(&mut c).await);
            waiting.push(tokio::spawn(async move {
                let r = c.query_drop(WAITER_UPDATE).await;
                (c, r)
            }));
        }
        wait_for_count(
            &mut watcher,
            "SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'",
            waiter_ids.len() as i64,
            "the three waiters waiting",
        )
        .await;

        let mut idle_ids = Vec::new();
        let refusal = loop {
            match payflow_login(&db).await {
                Ok(mut c) => {
                    idle_ids.push(connection_id(&mut c).await);
                    held.push(c);
                }
                Err(e) => break e,
            }
            assert!(
                idle_ids.len() <= MAX_CONNECTIONS as usize,
                "the server never refused a login"
            );
        };
        assert_eq!(
            idle_ids.len(),
            12,
            "20 slots: the exporter, the console, 6 busy payflow sessions, 12 idle"
        );
        PayFlowScene {
            db,
            dsn,
            exporter_id,
            watcher_id,
            root_blocker_id,
            waiter_ids,
            idle_in_transaction_ids,
            idle_ids,
            refusal,
            watcher,
            held,
            waiting,
        }
    }
}

/// The full server, whichever exporter holds the `monitor` session.
pub struct PayFlowScene {
    pub db: MariaDb,
    /// The `mysql://monitor:pw@…` DSN of the exporter.
    pub dsn: String,
    /// The exporter's thread id, as `monitor` was seen in the processlist.
    pub exporter_id: i64,
    /// Thread id of the on-call's `root` console, [`PayFlowScene::watcher`].
    pub watcher_id: i64,
    /// Thread id of the payflow session holding row 1 in an open transaction.
    pub root_blocker_id: i64,
    /// Thread ids of the three payflow sessions waiting for row 1.
    pub waiter_ids: Vec<i64>,
    /// Thread ids of the two payflow sessions idle in an open transaction.
    pub idle_in_transaction_ids: Vec<i64>,
    /// Thread ids of the payflow sessions simply idle (12).
    pub idle_ids: Vec<i64>,
    /// The refusal of the ordinary login tried when the server was full.
    pub refusal: mysql_async::Error,
    /// The on-call's console: a root session opened before the server filled,
    /// held for queries a test makes as root.
    pub watcher: mysql_async::Conn,
    held: Vec<mysql_async::Conn>,
    waiting: Vec<tokio::task::JoinHandle<(mysql_async::Conn, Result<(), mysql_async::Error>)>>,
}

/// The scene around a library [`Target`] built as the exporter builds it; the
/// scene's fields are reached through it ([`std::ops::Deref`]).
pub struct PayFlowMariaDb {
    pub scene: PayFlowScene,
    /// The exporter's target for `monitor`, holding its session.
    pub target: Arc<Target>,
    /// The settings the target was built with (the defaults of a one-target
    /// configuration); change with [`PayFlowMariaDb::reconfigure`].
    pub settings: ReadSettings,
    pub policy: Policy,
}

impl std::ops::Deref for PayFlowMariaDb {
    type Target = PayFlowScene;
    fn deref(&self) -> &PayFlowScene {
        &self.scene
    }
}

impl std::ops::DerefMut for PayFlowMariaDb {
    fn deref_mut(&mut self) -> &mut PayFlowScene {
        &mut self.scene
    }
}

impl PayFlowMariaDb {
    /// Starts the server, connects the target, and builds the scene; returns once
    /// the three waiters wait and an ordinary login is refused.
    pub async fn start() -> PayFlowMariaDb {
        let server = PayFlowServer::start().await;
        let (target, settings, policy) = target_for(&server.dsn);
        let report = target
            .report(Instant::now() + Duration::from_secs(30))
            .await;
        assert!(
            report.snapshot().is_some(),
            "the exporter could not read the server: {:?}",
            report.connect_errors
        );
        PayFlowMariaDb {
            scene: server.fill().await,
            target,
            settings,
            policy,
        }
    }

    /// Applies other read settings to the target, keeping its session (the
    /// incident statement text, say). An incident read younger than the target's
    /// reuse window is still served as it was: poll for the change.
    pub fn reconfigure(&mut self, settings: ReadSettings) {
        self.settings = settings.clone();
        self.target.reconfigure(settings, self.policy.clone());
    }

    /// See [`PayFlowScene::release`].
    pub async fn release(self) {
        self.scene.release().await;
    }
}

impl PayFlowScene {
    /// Every payflow thread id: the root blocker, the waiters, the idle in
    /// transaction and the idle.
    pub fn payflow_ids(&self) -> Vec<i64> {
        let mut ids = vec![self.root_blocker_id];
        ids.extend(&self.waiter_ids);
        ids.extend(&self.idle_in_transaction_ids);
        ids.extend(&self.idle_ids);
        ids.sort_unstable();
        ids
    }

    /// The server error code of [`PayFlowScene::refusal`].
    pub fn refusal_code(&self) -> Option<u16> {
        match &self.refusal {
            mysql_async::Error::Server(e) => Some(e.code),
            _ => None,
        }
    }

    /// The client threads the exporter's account holds, counted as root:
    /// processlist rows of `monitor`, the threads whose `program_name` is
    /// `dbconn_exporter`, and the connections `monitor` has ever opened.
    pub async fn exporter_connections(&mut self) -> ExporterConnections {
        let w = &mut self.watcher;
        ExporterConnections {
            listed: scalar(
                w,
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'monitor'",
            )
            .await,
            by_program: scalar(
                w,
                "SELECT COUNT(*) FROM performance_schema.session_connect_attrs \
                 WHERE ATTR_NAME = 'program_name' AND ATTR_VALUE = 'dbconn_exporter'",
            )
            .await,
            ever: scalar(
                w,
                "SELECT SUM(TOTAL_CONNECTIONS) FROM performance_schema.accounts \
                 WHERE USER = 'monitor'",
            )
            .await,
        }
    }

    /// Ends the scene's lock: the root blocker rolls back and the waiters' updates
    /// go through.
    pub async fn release(mut self) {
        let mut root_blocker = self.held.remove(0);
        root_blocker
            .query_drop("ROLLBACK")
            .await
            .unwrap_or_else(|e| panic!("roll the root blocker back: {e}"));
        for w in self.waiting.drain(..) {
            let (_conn, r) = w.await.unwrap_or_else(|e| panic!("waiter task: {e}"));
            r.unwrap_or_else(|e| panic!("a waiter's update failed: {e}"));
        }
    }
}

/// What [`PayFlowScene::exporter_connections`] counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExporterConnections {
    /// Processlist rows of `monitor` now.
    pub listed: i64,
    /// Threads whose `program_name` is `dbconn_exporter` now.
    pub by_program: i64,
    /// Connections `monitor` opened since the server started.
    pub ever: i64,
}

/// The exporter's target for `dsn`, built as the exporter builds it from
/// `--target <dsn>` and nothing else, with the settings and policy it got. No
/// session is opened until it is first read.
pub fn target_for(dsn: &str) -> (Arc<Target>, ReadSettings, Policy) {
    let cli = Cli::try_parse_from(["dbconn_exporter", "--target", dsn])
        .unwrap_or_else(|e| panic!("the flags: {e}"));
    let config = Config::load(&cli).unwrap_or_else(|e| panic!("the configuration: {e}"));
    let settings = config.collection.read_settings();
    let policy = config.collection.policy();
    let spec = config.targets.into_iter().next().expect("the one target");
    let target = Target::new(spec.name, spec.connector, settings.clone(), policy.clone());
    (target, settings, policy)
}

/// The one number `sql` returns (NULL is 0).
pub async fn scalar(c: &mut mysql_async::Conn, sql: &str) -> i64 {
    c.query_first::<Option<i64>, _>(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .flatten()
        .unwrap_or(0)
}

async fn connection_id(c: &mut mysql_async::Conn) -> i64 {
    c.query_first("SELECT CONNECTION_ID()")
        .await
        .expect("CONNECTION_ID()")
        .expect("a connection id")
}

/// The client threads other than the watcher's own.
const OTHER_CLIENTS: &str = "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
                             WHERE COMMAND <> 'Daemon' AND USER <> 'system user' \
                             AND ID <> CONNECTION_ID()";

/// Polls `sql` on the watcher until it returns `expected`, for at most 30 s.
/// Every 250 ms: InnoDB refreshes what its `information_schema` views show only
/// when they were last read more than 100 ms ago, so a faster poll of
/// `INNODB_TRX` would see the same stale answer for ever.
pub async fn wait_for_count(w: &mut mysql_async::Conn, sql: &str, expected: i64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = scalar(w, sql).await;
        if now == expected {
            return;
        }
        if Instant::now() >= deadline {
            let threads: Vec<mysql_async::Row> = w
                .query("SELECT ID, USER, COMMAND, STATE, INFO FROM information_schema.PROCESSLIST")
                .await
                .unwrap_or_default();
            panic!("never reached: {what} (last {now}); the threads: {threads:#?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A payflow session into `pay`, sending `program_name=payflow`.
async fn payflow(db: &MariaDb) -> mysql_async::Conn {
    payflow_login(db)
        .await
        .unwrap_or_else(|e| panic!("a payflow login: {e}"))
}

async fn payflow_login(db: &MariaDb) -> Result<mysql_async::Conn, mysql_async::Error> {
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(db.port())
        .prefer_socket(false)
        .user(Some(PAYFLOW))
        .pass(Some("pw"))
        .db_name(Some("pay"))
        .connect_attribute("program_name", PAYFLOW);
    mysql_async::Conn::new(opts).await
}
