//! MariaDB, end to end: a throwaway server, the real exporter, and each situation
//! created for real — read back through the reference OpenMetrics parser. The
//! metric names are the same as for PostgreSQL: that is the promise, and
//! tests/contract.rs holds the scenarios both engines run.

mod support;

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use support::mariadb::{self, MariaDb, MariaOptions};
use support::scrape::{
    FAST_COLLECTION, TARGET, collector_success, is_up, scrape, start_exporter, start_targets,
    total_connections, v, value, wait_alone,
};
use support::server::TestServer;

#[tokio::test]
async fn a_long_sleep_and_a_transaction_left_idle() {
    let db = MariaDb::start(MariaOptions::default());
    db.exec("CREATE DATABASE shop; CREATE TABLE shop.t (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO shop.t VALUES (1)")
        .await;
    db.create_user("app", None).await;
    let (exporter, _config) = start_exporter(&db.root_dsn(), FAST_COLLECTION);
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
                value(
                    m,
                    "dbconn_connections_over_duration",
                    &[("state", state), ("threshold_seconds", "2")],
                )
            };
            let now = |state| value(m, "dbconn_connections", &[("state", state)]);
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

/// A monitor with PROCESS and nothing on `mysql.user`: the part that reads account
/// limits is refused, the rest of the read still arrives — on the first scrape,
/// where the parts behind the refused one go one by one, and on the next, where
/// the refused part is left out of the batch.
#[tokio::test]
async fn a_refused_part_leaves_the_rest_of_the_read() {
    let db = MariaDb::start(MariaOptions::default());
    db.create_shop_with_accounts().await;
    db.create_user("monitor", None).await;
    let lock = db.hold_row_lock("root", "", 1).await;
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
        if waits == Some(1) && mariadb::other_sessions(&mut watcher).await == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the lock wait never showed alone"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (exporter, _config) = start_exporter(&db.dsn("monitor", "pw"), FAST_COLLECTION);
    for scrape_no in 1..=2 {
        let m = scrape(&exporter).await;
        assert_eq!(v(&m, "dbconn_up", &[]), 1.0, "scrape {scrape_no}");
        assert_eq!(
            collector_success(&m, "user_limits"),
            0.0,
            "scrape {scrape_no}"
        );
        for collector in ["activity", "settings", "status", "blocking", "locks"] {
            assert_eq!(
                collector_success(&m, collector),
                1.0,
                "{collector}, scrape {scrape_no}"
            );
        }
        assert_eq!(v(&m, "dbconn_blocked_connections", &[]), 1.0);
        assert_eq!(v(&m, "dbconn_blocking_connections", &[]), 1.0);
        // The holder, the waiter, the watcher and the exporter itself.
        assert_eq!(total_connections(&m), 4.0, "{}", m.text());
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

    lock.release().await;
}

#[tokio::test]
async fn a_user_at_its_connection_limit() {
    let db = MariaDb::start(MariaOptions::default());
    db.exec("CREATE DATABASE shop").await;
    db.create_user("capped", Some(3)).await;
    let (exporter, _config) = start_exporter(&db.root_dsn(), FAST_COLLECTION);
    let _held = db.connect_many(3, "capped", "pw").await;
    let refused = db.connect("capped", "pw", None).await.unwrap_err();
    match &refused {
        mysql_async::Error::Server(e) => assert_eq!(e.code, 1226, "{e}"),
        other => panic!("expected ER_USER_LIMIT_REACHED, got {other}"),
    }
    // The refused login's thread may be listed for a moment while it exits.
    let m = exporter
        .scrape_until_shows(
            TARGET,
            &[
                ("dbconn_user_connection_limit", &[("user", "capped")], 3.0),
                ("dbconn_user_connections", &[("user", "capped")], 3.0),
            ],
        )
        .await;
    // root has no limit of its own and there is no global one.
    assert!(value(&m, "dbconn_user_connection_limit", &[("user", "root")]).is_none());
}

/// A server filled until an ordinary login is refused (the usage ratio at that
/// point is in tests/contract.rs): the refusal counted as MariaDB counts it, a
/// second exporter as an ordinary user refused and saying so, one allowed the extra
/// admin slot still reading, and the late one recovering once slots free up.
#[tokio::test]
async fn a_full_server_refuses_a_late_exporter_but_not_the_admin_slot() {
    let db = <MariaDb as TestServer>::start(20).await;
    db.create_user("slotted", None).await;
    db.exec("GRANT CONNECTION ADMIN ON *.* TO 'slotted'@'%'")
        .await;
    // The exporter as an ordinary user (PROCESS only), connected before the rush,
    // and the harness's `exec` sessions gone (until their threads exit they hold
    // slots, and the server would refuse a login early).
    let (exporter, _config) = start_exporter(&db.dsn("monitor", "pw"), FAST_COLLECTION);
    wait_alone(&exporter).await;

    let mut held = Vec::new();
    TestServer::fill_until_refused(&db, &mut held, 20).await;
    assert_eq!(held.len(), 19, "20 slots, one taken by the exporter");

    // The refused login sat in the extra slot and may be listed until its thread
    // exits.
    let m = exporter
        .scrape_until("20 sessions, full", |m| total_connections(m) == 20.0)
        .await;
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
    let (late, _late_config) = start_exporter(&db.dsn("monitor", "pw"), FAST_COLLECTION);
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
    let (admin, _admin_config) = start_exporter(&db.dsn("slotted", "pw"), FAST_COLLECTION);
    let m = admin
        .scrape_until("the admin exporter in the extra slot", |m| {
            is_up(m) && total_connections(m) == 21.0
        })
        .await;
    assert_eq!(v(&m, "dbconn_usage_ratio", &[]), 21.0 / 20.0);
    // With the extra slot taken too, a login is refused at the door: counted.
    assert!(db.connect("app", "pw", None).await.is_err());
    admin
        .scrape_until("the refusal at the door counted", |m| {
            value(m, "dbconn_refused_connections_total", &[]).is_some_and(|n| n >= 1.0)
        })
        .await;

    // Slots free up: the late exporter recovers without a restart.
    held.truncate(10);
    late.scrape_until("recovery", is_up).await;
}

#[tokio::test]
async fn wrong_password_and_a_stopped_server() {
    let mut db = MariaDb::start(MariaOptions::default());
    db.create_user("monitor", None).await;
    let bad = format!("mysql://monitor:hunter2-Wrong@127.0.0.1:{}/", db.port());
    let (exporter, _config) = start_targets(
        &[("bad", &bad), (TARGET, &db.dsn("monitor", "pw"))],
        FAST_COLLECTION,
    );
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
