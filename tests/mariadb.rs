//! MariaDB, end to end: a throwaway server, the real exporter, and each situation
//! created for real — read back through the reference OpenMetrics parser. The
//! metric names are the same as for PostgreSQL: that is the promise.

mod support;

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use support::ConfigFile;
use support::exporter::Exporter;
use support::mariadb::{MariaDb, MariaOptions};
use support::openmetrics::Metrics;

const FAST_COLLECTION: &str =
    "collection:\n  duration_thresholds: [1s, 2s, 30s]\n  connect_backoff_max: 1s\n";

fn start_exporter(dsn: &str) -> (Exporter, ConfigFile) {
    let config = ConfigFile::new(&format!(
        "targets:\n  - name: my\n    dsn: \"{dsn}\"\n{FAST_COLLECTION}"
    ));
    (Exporter::start(&[config.arg()]), config)
}

async fn scrape(exporter: &Exporter) -> Metrics {
    exporter.scrape().await.metrics
}

fn v(m: &Metrics, name: &str, labels: &[(&str, &str)]) -> f64 {
    m.get("my", name, labels)
}

/// Client sessions in every state.
fn total_connections(m: &Metrics) -> f64 {
    m.series("dbconn_connections").iter().map(|(_, v)| v).sum()
}

/// Client sessions the server lists besides the watcher's own (a session closed
/// just before stays listed until its thread has gone).
async fn other_sessions(watcher: &mut mysql_async::Conn) -> i64 {
    watcher
        .query_first(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
             WHERE COMMAND <> 'Daemon' AND USER <> 'system user' AND ID <> CONNECTION_ID()",
        )
        .await
        .unwrap()
        .unwrap_or(0)
}

/// An ordinary user: PROCESS to see every session, nothing that grants the extra
/// admin slot.
async fn create_user(db: &MariaDb, user: &str, limit: Option<u32>) {
    let limit = limit.map_or(String::new(), |n| format!(" WITH MAX_USER_CONNECTIONS {n}"));
    db.exec(&format!(
        "CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'{limit}; \
         GRANT PROCESS ON *.* TO '{user}'@'%'; \
         GRANT ALL ON shop.* TO '{user}'@'%'"
    ))
    .await;
}

#[tokio::test]
async fn idle_sessions_states_and_server_counters() {
    let db = MariaDb::start(MariaOptions::default());
    db.exec("CREATE DATABASE shop").await;
    create_user(&db, "app", None).await;
    let (exporter, _config) = start_exporter(&db.root_dsn());
    let _idle = db.connect_many(5, "app", "pw").await;
    let mut in_shop = Vec::new();
    for _ in 0..3 {
        in_shop.push(db.connect("app", "pw", Some("shop")).await.unwrap());
    }

    // On a busy machine the harness's `exec` sessions, just closed, may still be
    // listed, and a session just opened may still show the command its connect
    // ran (seen: 7 idle, 2 active): the exact state is waited for.
    let m = exporter
        .scrape_until_shows(
            "my",
            &[
                ("dbconn_up", &[], 1.0),
                ("dbconn_connections", &[("state", "idle")], 8.0),
                // The exporter's own session, reading.
                ("dbconn_connections", &[("state", "active")], 1.0),
                (
                    "dbconn_connections",
                    &[("state", "idle_in_transaction")],
                    0.0,
                ),
                ("dbconn_connections", &[("state", "other")], 0.0),
                (
                    "dbconn_connections_by_origin",
                    &[("database", "shop"), ("user", "app"), ("state", "idle")],
                    3.0,
                ),
                (
                    "dbconn_connections_by_origin",
                    &[("database", "(none)"), ("user", "app"), ("state", "idle")],
                    5.0,
                ),
                ("dbconn_usage_ratio", &[], 9.0 / 100.0),
            ],
        )
        .await;
    // The client host, without the port, is the application.
    let apps: Vec<String> = m
        .series("dbconn_connections_by_origin")
        .iter()
        .map(|(l, _)| l["application"].clone())
        .collect();
    assert!(
        apps.iter().all(|a| a == "localhost" || a == "127.0.0.1"),
        "{apps:?}"
    );
    assert_eq!(v(&m, "dbconn_max_connections", &[]), 100.0);
    assert_eq!(v(&m, "dbconn_reserved_connections", &[]), 0.0);
    assert!(v(&m, "dbconn_max_used_connections", &[]) >= 9.0);
    assert!(v(&m, "dbconn_threads_running", &[]) >= 1.0);
    assert!(v(&m, "dbconn_sessions_total", &[]) >= 9.0);
    assert_eq!(v(&m, "dbconn_refused_connections_total", &[]), 0.0);
    assert!(
        m.value("dbconn_failed_connections_total", &[("target", "my")])
            .is_some()
    );
    assert!(
        m.value("dbconn_deadlocks_total", &[("target", "my")])
            .is_some()
    );
    assert_eq!(
        v(
            &m,
            "dbconn_timeout_setting_seconds",
            &[("setting", "wait_timeout")]
        ),
        28800.0
    );
    let info = m.series("dbconn_target_info");
    assert_eq!(info[0].0["engine"], "mariadb");
    assert!(info[0].0["version"].contains("MariaDB"), "{:?}", info[0].0);
    for collector in [
        "activity",
        "settings",
        "status",
        "blocking",
        "locks",
        "user_limits",
    ] {
        assert_eq!(
            v(
                &m,
                "dbconn_scrape_collector_success",
                &[("collector", collector)]
            ),
            1.0,
            "{collector}"
        );
    }
    // No connection age: the processlist does not tell it.
    assert!(
        m.value("dbconn_average_connection_age_seconds", &[("target", "my")])
            .is_none()
    );
    let text = exporter.scrape_with("/metrics", &[]).await;
    support::promtool_check_metrics(&text.body);
}

#[tokio::test]
async fn a_long_sleep_and_a_transaction_left_idle() {
    let db = MariaDb::start(MariaOptions::default());
    db.exec("CREATE DATABASE shop; CREATE TABLE shop.t (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO shop.t VALUES (1)")
        .await;
    create_user(&db, "app", None).await;
    let (exporter, _config) = start_exporter(&db.root_dsn());
    let mut sleeper = db.connect("app", "pw", None).await.unwrap();
    let sleeping = tokio::spawn(async move {
        let _ = sleeper.query_drop("SELECT SLEEP(60)").await;
        sleeper
    });
    let mut open = db.connect("app", "pw", Some("shop")).await.unwrap();
    open.query_drop("BEGIN").await.unwrap();
    open.query_drop("SELECT * FROM t FOR UPDATE").await.unwrap();

    let m = exporter
        .scrape_until("both over 2 s", |m| {
            let over = |state| {
                m.value(
                    "dbconn_connections_over_duration",
                    &[
                        ("target", "my"),
                        ("state", state),
                        ("threshold_seconds", "2"),
                    ],
                )
            };
            let now = |state| m.value("dbconn_connections", &[("target", "my"), ("state", state)]);
            over("active") == Some(1.0)
                && over("idle_in_transaction") == Some(1.0)
                && now("idle_in_transaction") == Some(1.0)
                // The sleeper and the exporter.
                && now("active") == Some(2.0)
        })
        .await;
    assert_eq!(
        v(
            &m,
            "dbconn_connections_over_duration",
            &[("state", "active"), ("threshold_seconds", "30")]
        ),
        0.0
    );
    assert!(
        v(
            &m,
            "dbconn_max_state_duration_seconds",
            &[("state", "active")]
        ) >= 2.0
    );
    assert!(
        v(
            &m,
            "dbconn_max_state_duration_seconds",
            &[("state", "idle_in_transaction")]
        ) >= 2.0
    );
    assert!(v(&m, "dbconn_oldest_transaction_seconds", &[]) >= 2.0);
    sleeping.abort();
}

#[tokio::test]
async fn one_session_blocking_two_on_a_row_lock() {
    let db = MariaDb::start(MariaOptions::default());
    db.exec("CREATE DATABASE shop; CREATE TABLE shop.accounts (id INT PRIMARY KEY, balance INT) ENGINE=InnoDB; INSERT INTO shop.accounts VALUES (1, 100)")
        .await;
    create_user(&db, "app", None).await;
    let (exporter, _config) = start_exporter(&db.root_dsn());
    let mut holder = db.connect("app", "pw", Some("shop")).await.unwrap();
    holder.query_drop("BEGIN").await.unwrap();
    holder
        .query_drop("UPDATE accounts SET balance = balance - 1 WHERE id = 1")
        .await
        .unwrap();
    let mut waiters = Vec::new();
    for _ in 0..2 {
        let mut c = db.connect("app", "pw", Some("shop")).await.unwrap();
        waiters.push(tokio::spawn(async move {
            let r = c
                .query_drop("UPDATE accounts SET balance = balance + 1 WHERE id = 1")
                .await;
            (c, r)
        }));
    }
    let m = exporter
        .scrape_until("two blocked sessions waiting over 0.5 s", |m| {
            m.value("dbconn_blocked_connections", &[("target", "my")]) == Some(2.0)
                && m.value("dbconn_max_lock_wait_seconds", &[("target", "my")])
                    .is_some_and(|w| w > 0.5)
                // The two waiters run UPDATE (active), the holder sits in its
                // transaction.
                && m.value(
                    "dbconn_connections",
                    &[("target", "my"), ("state", "idle_in_transaction")],
                ) == Some(1.0)
        })
        .await;
    // What InnoDB itself reports as blockers.
    let mut watcher = db.connect("root", "", None).await.unwrap();
    let blockers: Option<i64> = watcher
        .query_first(
            "SELECT COUNT(DISTINCT blocking_trx_id) FROM information_schema.INNODB_LOCK_WAITS",
        )
        .await
        .unwrap();
    assert_eq!(
        v(&m, "dbconn_blocking_connections", &[]),
        blockers.unwrap() as f64
    );
    let waiting: f64 = m
        .series("dbconn_locks")
        .iter()
        .filter(|(l, _)| l["granted"] == "false")
        .map(|(_, v)| v)
        .sum();
    assert!(waiting >= 2.0, "{}", m.text());

    holder.query_drop("ROLLBACK").await.unwrap();
    for w in waiters {
        let (_c, r) = w.await.unwrap();
        r.unwrap();
    }
    // InnoDB refreshes its information_schema transaction tables at most every
    // 100 ms, so the waits may take a moment to disappear.
    exporter
        .scrape_until_shows(
            "my",
            &[
                ("dbconn_blocked_connections", &[], 0.0),
                ("dbconn_blocking_connections", &[], 0.0),
                ("dbconn_max_lock_wait_seconds", &[], 0.0),
            ],
        )
        .await;
}

/// A monitor with PROCESS and nothing on `mysql.user`: the part that reads account
/// limits is refused, the rest of the read still arrives — on the first scrape,
/// where the parts behind the refused one go one by one, and on the next, where
/// the refused part is left out of the batch.
#[tokio::test]
async fn a_refused_part_leaves_the_rest_of_the_read() {
    let db = MariaDb::start(MariaOptions::default());
    db.exec("CREATE DATABASE shop; CREATE TABLE shop.accounts (id INT PRIMARY KEY, balance INT) ENGINE=InnoDB; INSERT INTO shop.accounts VALUES (1, 100)")
        .await;
    create_user(&db, "monitor", None).await;
    let mut holder = db.connect("root", "", Some("shop")).await.unwrap();
    holder.query_drop("BEGIN").await.unwrap();
    holder
        .query_drop("UPDATE accounts SET balance = 0 WHERE id = 1")
        .await
        .unwrap();
    let mut waiter = db.connect("root", "", Some("shop")).await.unwrap();
    let wait = tokio::spawn(async move {
        let r = waiter
            .query_drop("UPDATE accounts SET balance = 1 WHERE id = 1")
            .await;
        (waiter, r)
    });
    let mut watcher = db.connect("root", "", None).await.unwrap();
    // The first scrape is the one under test, so the state it must see is waited
    // for before the exporter starts: the wait in place, and the harness's `exec`
    // sessions gone (they stay listed until their threads have exited).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let waits: Option<i64> = watcher
            .query_first("SELECT COUNT(*) FROM information_schema.INNODB_LOCK_WAITS")
            .await
            .unwrap();
        if waits == Some(1) && other_sessions(&mut watcher).await == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the lock wait never showed alone"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (exporter, _config) = start_exporter(&db.dsn("monitor", "pw"));
    for scrape_no in 1..=2 {
        let m = scrape(&exporter).await;
        assert_eq!(v(&m, "dbconn_up", &[]), 1.0, "scrape {scrape_no}");
        let success = |collector: &str| {
            v(
                &m,
                "dbconn_scrape_collector_success",
                &[("collector", collector)],
            )
        };
        assert_eq!(success("user_limits"), 0.0, "scrape {scrape_no}");
        for collector in ["activity", "settings", "status", "blocking", "locks"] {
            assert_eq!(success(collector), 1.0, "{collector}, scrape {scrape_no}");
        }
        assert_eq!(v(&m, "dbconn_blocked_connections", &[]), 1.0);
        assert_eq!(v(&m, "dbconn_blocking_connections", &[]), 1.0);
        // The holder, the waiter, the watcher and the exporter itself.
        let sessions: f64 = m.series("dbconn_connections").iter().map(|(_, v)| v).sum();
        assert_eq!(sessions, 4.0, "{}", m.text());
        assert!(!m.series("dbconn_locks").is_empty(), "{}", m.text());
        assert!(v(&m, "dbconn_sessions_total", &[]) > 0.0);
        assert!(v(&m, "dbconn_threads_running", &[]) >= 1.0);
    }
    let logs = exporter.logs();
    assert_eq!(
        logs.matches("skipped from now on").count(),
        1,
        "the refusal is logged once: {logs}"
    );
    assert!(logs.contains("user_limits"), "{logs}");

    holder.query_drop("ROLLBACK").await.unwrap();
    let (_waiter, r) = wait.await.unwrap();
    r.unwrap();
}

#[tokio::test]
async fn a_user_at_its_connection_limit() {
    let db = MariaDb::start(MariaOptions::default());
    db.exec("CREATE DATABASE shop").await;
    create_user(&db, "capped", Some(3)).await;
    let (exporter, _config) = start_exporter(&db.root_dsn());
    let _held = db.connect_many(3, "capped", "pw").await;
    let refused = db.connect("capped", "pw", None).await.unwrap_err();
    match &refused {
        mysql_async::Error::Server(e) => assert_eq!(e.code, 1226, "{e}"),
        other => panic!("expected ER_USER_LIMIT_REACHED, got {other}"),
    }
    // The refused login's thread may be listed for a moment while it exits.
    let m = exporter
        .scrape_until_shows(
            "my",
            &[
                ("dbconn_user_connection_limit", &[("user", "capped")], 3.0),
                ("dbconn_user_connections", &[("user", "capped")], 3.0),
            ],
        )
        .await;
    // root has no limit of its own and there is no global one.
    assert!(
        m.value(
            "dbconn_user_connection_limit",
            &[("target", "my"), ("user", "root")]
        )
        .is_none()
    );
}

#[tokio::test]
async fn usage_ratio_is_exactly_one_when_ordinary_logins_are_refused() {
    let db = MariaDb::start(MariaOptions {
        max_connections: 20,
        ..MariaOptions::default()
    });
    db.exec("CREATE DATABASE shop").await;
    create_user(&db, "app", None).await;
    create_user(&db, "monitor", None).await;
    create_user(&db, "slotted", None).await;
    db.exec("GRANT CONNECTION ADMIN ON *.* TO 'slotted'@'%'")
        .await;
    // The exporter as an ordinary user (PROCESS only), connected before the rush,
    // and the harness's `exec` sessions gone (until their threads exit they hold
    // slots, and the server would refuse a login early).
    let (exporter, _config) = start_exporter(&db.dsn("monitor", "pw"));
    exporter
        .scrape_until("the exporter connected and alone", |m| {
            m.value("dbconn_up", &[("target", "my")]) == Some(1.0) && total_connections(m) == 1.0
        })
        .await;

    let mut held = Vec::new();
    let refused = db.fill_until_refused("app", "pw", &mut held, 20).await;
    match &refused {
        mysql_async::Error::Server(e) => assert_eq!(e.code, 1040, "{e}"),
        other => panic!("expected ER_CON_COUNT_ERROR, got {other}"),
    }
    assert_eq!(held.len(), 19, "20 slots, one taken by the exporter");

    // The refused login sat in the extra slot and may be listed until its thread
    // exits.
    let m = exporter
        .scrape_until("20 sessions, full", |m| total_connections(m) == 20.0)
        .await;
    assert_eq!(v(&m, "dbconn_up", &[]), 1.0);
    assert_eq!(v(&m, "dbconn_usage_ratio", &[]), 1.0);
    // MariaDB lets a refused ordinary login into the extra admin slot before it
    // says 1040, and counts it as an aborted connect, not as a max_connections
    // error (that one counts refusals at the door, below).
    assert!(
        v(&m, "dbconn_failed_connections_total", &[]) >= 1.0,
        "{}",
        m.text()
    );
    assert!(v(&m, "dbconn_max_used_connections", &[]) >= 20.0);

    // A second exporter started now, as an ordinary user, is refused and says so.
    let (late, _late_config) = start_exporter(&db.dsn("monitor", "pw"));
    let m = scrape(&late).await;
    assert_eq!(v(&m, "dbconn_up", &[]), 0.0);
    assert!(
        v(
            &m,
            "dbconn_connect_errors_total",
            &[("reason", "too_many_connections")]
        ) >= 1.0,
        "{}\n{}",
        m.text(),
        late.logs()
    );
    // ...while one allowed the extra admin slot (CONNECTION ADMIN, MariaDB 10.5.2+;
    // granted before the server filled up) still reads. The late exporter's
    // refused retries pass through that slot too, so the admin one may need a
    // retry of its own to get it.
    let (admin, _admin_config) = start_exporter(&db.dsn("slotted", "pw"));
    let m = admin
        .scrape_until("the admin exporter in the extra slot", |m| {
            m.value("dbconn_up", &[("target", "my")]) == Some(1.0) && total_connections(m) == 21.0
        })
        .await;
    assert_eq!(v(&m, "dbconn_usage_ratio", &[]), 21.0 / 20.0);
    // With the extra slot taken too, a login is refused at the door: counted.
    assert!(db.connect("app", "pw", None).await.is_err());
    admin
        .scrape_until("the refusal at the door counted", |m| {
            m.value("dbconn_refused_connections_total", &[("target", "my")])
                .is_some_and(|n| n >= 1.0)
        })
        .await;

    // Slots free up: the late exporter recovers without a restart.
    held.truncate(10);
    late.scrape_until("recovery", |m| {
        m.value("dbconn_up", &[("target", "my")]) == Some(1.0)
    })
    .await;
}

#[tokio::test]
async fn wrong_password_and_a_stopped_server() {
    let mut db = MariaDb::start(MariaOptions::default());
    create_user(&db, "monitor", None).await;
    let bad = format!("mysql://monitor:hunter2-Wrong@127.0.0.1:{}/", db.port());
    let config = ConfigFile::new(&format!(
        "targets:\n  - name: bad\n    dsn: \"{bad}\"\n  - name: my\n    dsn: \"{}\"\n{FAST_COLLECTION}",
        db.dsn("monitor", "pw")
    ));
    let exporter = Exporter::start(&[config.arg()]);
    let m = scrape(&exporter).await;
    assert_eq!(m.value("dbconn_up", &[("target", "bad")]), Some(0.0));
    assert!(
        m.value(
            "dbconn_connect_errors_total",
            &[("target", "bad"), ("reason", "auth_failed")]
        )
        .is_some_and(|n| n >= 1.0),
        "{}",
        m.text()
    );
    assert_eq!(v(&m, "dbconn_up", &[]), 1.0);
    assert!(!exporter.logs().contains("hunter2-Wrong"));
    assert!(!m.text().contains("hunter2-Wrong"));

    db.stop();
    let started = Instant::now();
    let m = scrape(&exporter).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(v(&m, "dbconn_up", &[]), 0.0);
    assert!(
        v(
            &m,
            "dbconn_connect_errors_total",
            &[("reason", "unreachable")]
        ) >= 1.0,
        "{}",
        m.text()
    );
}
