//! PostgreSQL with an exporter role that lacks `pg_monitor`: every slot in use is
//! still counted (the usage ratio reaches 1.0 at refusal), and what the role cannot
//! see is said in metrics and in the log — never a quiet server.

mod support;

use std::time::{Duration, Instant};

use support::pg::{PgCluster, PgOptions};
use support::scrape::{FAST_BACKOFF, TARGET, start_exporter, total_connections, v, value};

/// Finding 1: a role without `pg_monitor` counted only its own session (1 of 8) and
/// every collector said success: saturation alerts could never fire.
#[tokio::test]
async fn without_pg_monitor_every_slot_is_counted_and_the_gap_is_named() {
    let cluster = PgCluster::start(PgOptions {
        max_connections: 20,
        superuser_reserved_connections: 3,
        ..PgOptions::default()
    });
    cluster
        .exec("CREATE ROLE app LOGIN; CREATE ROLE nomon LOGIN; CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1); GRANT ALL ON t TO app")
        .await;
    let (exporter, _config) = start_exporter(&cluster.dsn("nomon", "postgres"), FAST_BACKOFF);
    let held = cluster.connect_many(7, "app", "postgres", "billing").await;

    let m = exporter
        .scrape_until("7 hidden sessions and the exporter's own", |m| {
            value(m, "dbconn_hidden_connections", &[]) == Some(7.0) && total_connections(m) == 8.0
        })
        .await;
    assert_eq!(v(&m, "dbconn_up", &[]), 1.0);
    assert_eq!(v(&m, "dbconn_connections", &[("state", "other")]), 7.0);
    // The exporter's own session is its role's: visible.
    assert_eq!(v(&m, "dbconn_connections", &[("state", "active")]), 1.0);
    assert_eq!(
        v(
            &m,
            "dbconn_missing_privilege",
            &[("privilege", "pg_read_all_stats")]
        ),
        1.0
    );
    // Who holds them is still known: database, user and application are visible
    // to every role.
    assert_eq!(
        v(
            &m,
            "dbconn_connections_by_origin",
            &[
                ("database", "postgres"),
                ("user", "app"),
                ("application", "billing"),
                ("state", "other")
            ]
        ),
        7.0
    );
    let ratio = v(&m, "dbconn_usage_ratio", &[]);
    assert!((ratio - 8.0 / 17.0).abs() < 1e-12, "{ratio}");
    support::promtool_check_metrics(&exporter.scrape_with("/metrics", &[]).await.body);

    // Another role's blocked session is seen through pg_locks, which needs no
    // privilege.
    let holder = &held[0];
    let waiter = &held[1];
    holder
        .batch_execute("BEGIN; UPDATE t SET id = 1 WHERE id = 1")
        .await
        .unwrap();
    let blocked = waiter.batch_execute("UPDATE t SET id = 1 WHERE id = 1");
    let watch = async {
        exporter
            .scrape_until("the blocked session", |m| {
                value(m, "dbconn_blocked_connections", &[]) == Some(1.0)
            })
            .await
    };
    let m = tokio::select! {
        m = watch => m,
        r = blocked => panic!("the update was not blocked: {r:?}"),
    };
    assert_eq!(v(&m, "dbconn_blocking_connections", &[]), 1.0);
    holder.batch_execute("ROLLBACK").await.unwrap();

    // Fill the server: the ratio is exactly 1.0 when the next ordinary login is
    // refused, although the exporter sees no other session's state.
    let mut more = Vec::new();
    let refused_at = cluster.fill_until_refused("app", &mut more, 19).await;
    assert_eq!(
        refused_at.as_db_error().map(|e| e.code().code()),
        Some("53300"),
        "{refused_at}"
    );
    let m = exporter
        .scrape_until("a full server", |m| total_connections(m) == 17.0)
        .await;
    assert_eq!(v(&m, "dbconn_usage_ratio", &[]), 1.0);
    assert_eq!(v(&m, "dbconn_hidden_connections", &[]), 16.0);

    // One clear line at connect, naming the fix.
    let logs = exporter.logs();
    assert_eq!(logs.matches("lacks pg_read_all_stats").count(), 1, "{logs}");
    assert!(logs.contains("GRANT pg_monitor"), "{logs}");
    // The engine's line names its target (several targets share one log).
    let line = logs
        .lines()
        .find(|l| l.contains("lacks pg_read_all_stats"))
        .unwrap_or_default();
    assert!(
        line.contains(&format!(r#""target_name":"{TARGET}""#)),
        "{line}"
    );

    // Granted: seen at the next read, without a reconnect.
    drop(more);
    cluster.exec("GRANT pg_monitor TO nomon").await;
    let started = Instant::now();
    let m = exporter
        .scrape_until("the grant to take effect", |m| {
            value(
                m,
                "dbconn_missing_privilege",
                &[("privilege", "pg_read_all_stats")],
            ) == Some(0.0)
                && value(m, "dbconn_hidden_connections", &[]) == Some(0.0)
        })
        .await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(v(&m, "dbconn_connections", &[("state", "other")]), 0.0);
    assert!(v(&m, "dbconn_connections", &[("state", "idle")]) >= 7.0);
    assert_eq!(
        v(&m, "dbconn_connect_errors_total", &[("reason", "other")]),
        0.0
    );
}

/// A role that holds `pg_monitor` sees everything and says so.
#[tokio::test]
async fn with_pg_monitor_nothing_is_hidden() {
    let cluster = PgCluster::start(PgOptions::default());
    cluster
        .exec("CREATE ROLE app LOGIN; CREATE ROLE mon LOGIN IN ROLE pg_monitor")
        .await;
    let (exporter, _config) = start_exporter(&cluster.dsn("mon", "postgres"), "");
    let _held = cluster.connect_many(4, "app", "postgres", "billing").await;
    let m = exporter
        .scrape_until("4 idle sessions", |m| {
            value(m, "dbconn_connections", &[("state", "idle")]) == Some(4.0)
        })
        .await;
    assert_eq!(v(&m, "dbconn_hidden_connections", &[]), 0.0);
    assert_eq!(v(&m, "dbconn_connections", &[("state", "other")]), 0.0);
    assert_eq!(
        v(
            &m,
            "dbconn_missing_privilege",
            &[("privilege", "pg_read_all_stats")]
        ),
        0.0
    );
    assert!(!exporter.logs().contains("lacks pg_read_all_stats"));
}
