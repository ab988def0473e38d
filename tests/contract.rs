//! The promise every engine keeps: the same metric names mean the same thing whatever
//! the server. Each scenario here is written once, generic over
//! [`TestServer`](support::server::TestServer), and run by one test per engine; a
//! test's name starts with its engine (`postgres_…`, `mariadb_…`), so one engine's
//! half runs alone with `-E 'binary(contract) and test(/^postgres_/)'`.
//!
//! What only one engine has stays in tests/postgres.rs or tests/mariadb.rs; the few
//! engine-only checks made on a scenario's own scrape follow the scenario in its
//! engine's test below.

mod support;

use support::mariadb::MariaDb;
use support::openmetrics::Metrics;
use support::pg::PgCluster;
use support::scrape::{
    CONNECT_ERROR_REASONS, FAST_COLLECTION, TARGET, awaited_locks, collector_success,
    start_exporter, total_connections, v, value, wait_alone,
};
use support::server::TestServer;

/// Idle sessions from two origins of one account, beside the exporter reading: each
/// state counted exactly, each origin named with its count, the limits and the usage
/// ratio, the engine and its version, every part of the read a success, no failed
/// connect. Returns the scrape that showed it all.
async fn idle_sessions_are_counted_by_state_and_origin<S: TestServer>() -> Metrics {
    let server = S::start(100).await;
    let (exporter, _config) = start_exporter(&server.superuser_dsn(), FAST_COLLECTION);
    let _first = server.open_idle(5, 0).await;
    let _second = server.open_idle(3, 1).await;

    // The harness's set-up sessions have just closed and may still be listed for a
    // moment on a busy machine, and a session just opened may still show the
    // command its connect ran: the exact state is waited for.
    let origin = |i: usize| {
        let mut labels = S::ORIGINS[i].to_vec();
        labels.push(("state", "idle"));
        labels
    };
    let (first, second) = (origin(0), origin(1));
    let max = f64::from(server.max_connections());
    let reserved = f64::from(server.reserved_connections());
    let m = exporter
        .scrape_until_shows(
            TARGET,
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
                ("dbconn_connections_by_origin", &first, 5.0),
                ("dbconn_connections_by_origin", &second, 3.0),
                ("dbconn_max_connections", &[], max),
                ("dbconn_reserved_connections", &[], reserved),
                ("dbconn_usage_ratio", &[], 9.0 / (max - reserved)),
            ],
        )
        .await;
    let info = m.series("dbconn_target_info");
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].0["engine"], S::ENGINE);
    assert!(server.names_its_version(&info[0].0), "{:?}", info[0].0);
    for collector in S::COLLECTORS {
        assert_eq!(
            collector_success(&m, collector),
            1.0,
            "collector {collector}"
        );
    }
    for reason in CONNECT_ERROR_REASONS {
        assert_eq!(
            v(&m, "dbconn_connect_errors_total", &[("reason", reason)]),
            0.0,
            "{reason}"
        );
    }
    let text = exporter.scrape_with("/metrics", &[]).await;
    support::promtool_check_metrics(&text.body);
    m
}

#[tokio::test]
async fn postgres_idle_sessions_are_counted_by_state_and_origin() {
    let m = idle_sessions_are_counted_by_state_and_origin::<PgCluster>().await;
    // PostgreSQL only: a state MariaDB does not have, the connection age, and the
    // exporter named by its application_name.
    assert_eq!(
        v(
            &m,
            "dbconn_connections",
            &[("state", "idle_in_transaction_aborted")]
        ),
        0.0
    );
    assert_eq!(
        v(
            &m,
            "dbconn_connections_by_origin",
            &[("application", "dbconn_exporter"), ("state", "active")]
        ),
        1.0
    );
    assert!(v(&m, "dbconn_average_connection_age_seconds", &[]) >= 0.0);
}

#[tokio::test]
async fn mariadb_idle_sessions_are_counted_by_state_and_origin() {
    let m = idle_sessions_are_counted_by_state_and_origin::<MariaDb>().await;
    // MariaDB only: the client host, without the port, is the application.
    let apps: Vec<String> = m
        .series("dbconn_connections_by_origin")
        .iter()
        .map(|(l, _)| l["application"].clone())
        .collect();
    assert!(
        apps.iter().all(|a| a == "localhost" || a == "127.0.0.1"),
        "{apps:?}"
    );
    // The server's own counters and settings.
    assert!(v(&m, "dbconn_max_used_connections", &[]) >= 9.0);
    assert!(v(&m, "dbconn_threads_running", &[]) >= 1.0);
    assert!(v(&m, "dbconn_sessions_total", &[]) >= 9.0);
    assert_eq!(v(&m, "dbconn_refused_connections_total", &[]), 0.0);
    assert!(value(&m, "dbconn_failed_connections_total", &[]).is_some());
    assert!(value(&m, "dbconn_deadlocks_total", &[]).is_some());
    assert_eq!(
        v(
            &m,
            "dbconn_timeout_setting_seconds",
            &[("setting", "wait_timeout")]
        ),
        28800.0
    );
    // No connection age: the processlist does not tell it.
    assert!(value(&m, "dbconn_average_connection_age_seconds", &[]).is_none());
}

/// One session holds a row lock in an open transaction and two queue behind it:
/// both counted blocked while they wait, the blockers counted as the server itself
/// names them, the holder alone counted as the root blocker, the awaited locks
/// listed — and all of it back to 0 once the holder rolls back.
async fn one_session_blocking_two_on_a_row_lock<S: TestServer>() {
    let server = S::start(100).await;
    let (exporter, _config) = start_exporter(&server.superuser_dsn(), FAST_COLLECTION);
    let lock = server.hold_row_lock(2).await;

    let m = exporter
        .scrape_until("two blocked sessions waiting over 0.5 s", |m| {
            value(m, "dbconn_blocked_connections", &[]) == Some(2.0)
                && value(m, "dbconn_max_lock_wait_seconds", &[]).is_some_and(|w| w > 0.5)
                // The two waiters and the exporter run statements; the holder sits
                // in its transaction.
                && value(m, "dbconn_connections", &[("state", "active")]) == Some(3.0)
                && value(m, "dbconn_connections", &[("state", "idle_in_transaction")])
                    == Some(1.0)
        })
        .await;
    // PostgreSQL queues the second waiter behind the first one's tuple lock and so
    // names two blockers (the holder and the first waiter); whatever the engine
    // names, the metric must agree with it.
    let blockers = server.blockers().await;
    assert!(blockers >= 1);
    assert_eq!(v(&m, "dbconn_blocking_connections", &[]), blockers as f64);
    // Whatever the engine names as blockers, only the holder waits on nothing: it
    // is the one root of the tree, the session worth ending.
    assert_eq!(v(&m, "dbconn_root_blockers", &[]), 1.0);
    let waiting = awaited_locks(&m);
    assert!(waiting >= 2.0, "awaited locks: {waiting}\n{}", m.text());
    assert_eq!(v(&m, "dbconn_connections", &[("state", "active")]), 3.0);

    S::release(lock).await;
    // InnoDB refreshes its information_schema transaction tables at most every
    // 100 ms, so the waits may take a moment to disappear.
    exporter
        .scrape_until_shows(
            TARGET,
            &[
                ("dbconn_blocked_connections", &[], 0.0),
                ("dbconn_blocking_connections", &[], 0.0),
                ("dbconn_root_blockers", &[], 0.0),
                ("dbconn_max_lock_wait_seconds", &[], 0.0),
            ],
        )
        .await;
}

#[tokio::test]
async fn postgres_one_session_blocking_two_on_a_row_lock() {
    one_session_blocking_two_on_a_row_lock::<PgCluster>().await;
}

#[tokio::test]
async fn mariadb_one_session_blocking_two_on_a_row_lock() {
    one_session_blocking_two_on_a_row_lock::<MariaDb>().await;
}

/// The server filled with ordinary logins until one is refused: the usage ratio is
/// then exactly 1.0, and below 1 again once one slot is free. The exporter reads as
/// an ordinary account, connected before the rush.
async fn usage_ratio_is_exactly_one_when_ordinary_logins_are_refused<S: TestServer>() {
    let server = S::start(20).await;
    let ordinary = server.max_connections() - server.reserved_connections();
    let (exporter, _config) = start_exporter(&server.monitor_dsn(), FAST_COLLECTION);
    // The exporter holds its session before the server fills up, and the harness's
    // set-up sessions have gone (until their backends or threads exit they hold
    // slots, and the server would refuse a login early).
    wait_alone(&exporter).await;

    let mut held = Vec::new();
    server.fill_until_refused(&mut held, 20).await;
    assert_eq!(
        held.len() as u32,
        ordinary - 1,
        "{ordinary} ordinary slots, one taken by the exporter"
    );

    // The refused login may be listed for a moment while it goes (on PostgreSQL 18
    // a backend is listed from authentication on; MariaDB lets it into its extra
    // admin slot before refusing it).
    let full = f64::from(ordinary);
    let m = exporter
        .scrape_until(&format!("{ordinary} sessions, full"), |m| {
            total_connections(m) == full
        })
        .await;
    assert_eq!(v(&m, "dbconn_up", &[]), 1.0);
    assert_eq!(v(&m, "dbconn_usage_ratio", &[]), 1.0);
    assert_eq!(
        v(&m, "dbconn_max_connections", &[]),
        f64::from(server.max_connections())
    );
    assert_eq!(
        v(&m, "dbconn_reserved_connections", &[]),
        f64::from(server.reserved_connections())
    );

    // One slot freed: below 1 again, once its session has gone.
    held.pop();
    let m = exporter
        .scrape_until("a freed slot", |m| total_connections(m) == full - 1.0)
        .await;
    // prometheus-client formats floats with Grisu2 (the dtoa crate), which can be
    // one unit in the last place off; 1.0 above is exact.
    assert!((v(&m, "dbconn_usage_ratio", &[]) - (full - 1.0) / full).abs() < 1e-12);
}

#[tokio::test]
async fn postgres_usage_ratio_is_exactly_one_when_ordinary_logins_are_refused() {
    usage_ratio_is_exactly_one_when_ordinary_logins_are_refused::<PgCluster>().await;
}

#[tokio::test]
async fn mariadb_usage_ratio_is_exactly_one_when_ordinary_logins_are_refused() {
    usage_ratio_is_exactly_one_when_ordinary_logins_are_refused::<MariaDb>().await;
}
