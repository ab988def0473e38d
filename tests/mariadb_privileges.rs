//! MariaDB read by an account without `PROCESS`: the server must look neither healthy
//! nor down. Every client slot in use is still counted (the others' sessions from
//! `Threads_connected`, as hidden sessions in state `other`), the usage ratio still
//! reaches 1.0 at refusal, and what is missing is named in a metric and in one log
//! line at connect.

mod support;

use support::mariadb::{MariaDb, MariaOptions};
use support::scrape::{
    FAST_COLLECTION, collector_success, start_exporter, total, total_connections, v, value,
};

/// The phrase of the one warning logged at connect when `PROCESS` is missing.
const WARNING: &str = "lacks the PROCESS privilege";

/// The applications' account: nothing beyond its own database.
async fn create_app_user(db: &MariaDb) {
    db.exec(
        "CREATE DATABASE shop; \
         CREATE USER 'app'@'%' IDENTIFIED BY 'pw'; \
         GRANT ALL ON shop.* TO 'app'@'%'",
    )
    .await;
}

#[tokio::test]
async fn without_process_every_slot_is_counted_and_the_gap_is_named() {
    let db = MariaDb::start(MariaOptions {
        max_connections: 20,
        ..MariaOptions::default()
    });
    create_app_user(&db).await;
    // No grant at all: USAGE only.
    db.exec("CREATE USER 'monitor'@'%' IDENTIFIED BY 'pw'")
        .await;
    let (exporter, _config) = start_exporter(&db.dsn("monitor", "pw"), FAST_COLLECTION);

    const APPS: usize = 5;
    let mut held = db.connect_many(APPS, "app", "pw").await;
    // A second session of the exporter's own account: visible without PROCESS.
    let _own = db.connect("monitor", "pw", None).await.unwrap();

    let m = exporter
        // A session just opened may still show the command its connect ran: the
        // whole state is waited for.
        .scrape_until(
            "the applications hidden, the exporter's account idle",
            |m| {
                value(m, "dbconn_up", &[]) == Some(1.0)
                    && value(m, "dbconn_hidden_connections", &[]) == Some(APPS as f64)
                    && value(m, "dbconn_connections", &[("state", "idle")]) == Some(1.0)
                    && value(m, "dbconn_connections", &[("state", "active")]) == Some(1.0)
            },
        )
        .await;
    assert_eq!(
        v(&m, "dbconn_missing_privilege", &[("privilege", "PROCESS")]),
        1.0
    );
    // The applications, the exporter's own read and its account's other session.
    assert_eq!(total_connections(&m), APPS as f64 + 2.0);
    assert_eq!(
        v(&m, "dbconn_connections", &[("state", "other")]),
        APPS as f64
    );
    assert_eq!(v(&m, "dbconn_connections", &[("state", "active")]), 1.0);
    // Without INNODB_TRX a sleeping thread cannot be told idle-in-transaction.
    assert_eq!(v(&m, "dbconn_connections", &[("state", "idle")]), 1.0);
    assert_eq!(
        v(
            &m,
            "dbconn_connections_by_origin",
            &[
                ("database", "(hidden)"),
                ("user", "(hidden)"),
                ("application", "(hidden)"),
                ("state", "other")
            ]
        ),
        APPS as f64
    );
    assert_eq!(
        v(
            &m,
            "dbconn_connections_by_origin",
            &[("user", "monitor"), ("state", "idle")]
        ),
        1.0
    );
    assert_eq!(
        total(&m, "dbconn_connections_by_origin"),
        total_connections(&m),
        "origins sum to the total"
    );
    assert_eq!(v(&m, "dbconn_max_connections", &[]), 20.0);
    assert_eq!(v(&m, "dbconn_usage_ratio", &[]), (APPS as f64 + 2.0) / 20.0);
    for collector in ["activity", "settings", "status"] {
        assert_eq!(collector_success(&m, collector), 1.0, "{collector}");
    }
    // The lock views need PROCESS: not read, and no number pretends they were.
    for collector in ["blocking", "locks"] {
        assert_eq!(collector_success(&m, collector), 0.0, "{collector}");
    }
    assert!(value(&m, "dbconn_blocked_connections", &[]).is_none());
    assert!(m.series("dbconn_locks").is_empty());
    let text = exporter.scrape_with("/metrics", &[]).await;
    support::promtool_check_metrics(&text.body);

    // Fill the server until an ordinary login is refused.
    let refused = db.fill_until_refused("app", "pw", &mut held, 20).await;
    match &refused {
        mysql_async::Error::Server(e) => assert_eq!(e.code, 1040, "{e}"),
        other => panic!("expected ER_CON_COUNT_ERROR, got {other}"),
    }
    assert_eq!(
        held.len(),
        18,
        "20 slots: the exporter and its account's other"
    );
    let m = exporter
        .scrape_until("the full server", |m| {
            value(m, "dbconn_hidden_connections", &[]) == Some(18.0)
        })
        .await;
    assert_eq!(v(&m, "dbconn_up", &[]), 1.0);
    assert_eq!(v(&m, "dbconn_usage_ratio", &[]), 1.0, "{}", m.text());
    assert_eq!(total_connections(&m), 20.0);
    assert_eq!(v(&m, "dbconn_connections", &[("state", "other")]), 18.0);

    let logs = exporter.logs();
    assert_eq!(
        logs.matches(WARNING).count(),
        1,
        "one warning at connect: {logs}"
    );
    assert!(
        logs.contains("GRANT PROCESS ON *.* TO 'monitor'@'%'"),
        "the warning says how to fix it: {logs}"
    );
}

#[tokio::test]
async fn with_process_nothing_is_hidden() {
    let db = MariaDb::start(MariaOptions::default());
    create_app_user(&db).await;
    db.exec(
        "CREATE USER 'monitor'@'%' IDENTIFIED BY 'pw'; \
         GRANT PROCESS ON *.* TO 'monitor'@'%'",
    )
    .await;
    let (exporter, _config) = start_exporter(&db.dsn("monitor", "pw"), FAST_COLLECTION);
    let _held = db.connect_many(4, "app", "pw").await;

    let m = exporter
        .scrape_until("the applications seen idle", |m| {
            value(m, "dbconn_connections", &[("state", "idle")]) == Some(4.0)
        })
        .await;
    assert_eq!(v(&m, "dbconn_up", &[]), 1.0);
    assert_eq!(
        v(&m, "dbconn_missing_privilege", &[("privilege", "PROCESS")]),
        0.0
    );
    assert_eq!(v(&m, "dbconn_hidden_connections", &[]), 0.0);
    assert_eq!(v(&m, "dbconn_connections", &[("state", "other")]), 0.0);
    assert_eq!(total_connections(&m), 5.0);
    for collector in ["blocking", "locks"] {
        assert_eq!(collector_success(&m, collector), 1.0, "{collector}");
    }
    let logs = exporter.logs();
    assert!(!logs.contains(WARNING), "{logs}");
}
