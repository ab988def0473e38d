//! PostgreSQL, end to end: a throwaway cluster, the real exporter binary, and the
//! situations an on-call engineer meets, created for real and read back through the
//! reference OpenMetrics parser. What MariaDB must show too is in tests/contract.rs.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use support::exporter::OPENMETRICS;
use support::openmetrics::Metrics;
use support::pg::{self, PgCluster, PgOptions};
use support::scrape::{
    FAST_COLLECTION, TARGET, is_up, origins, scrape, start_exporter, total, total_connections, v,
    value,
};

#[tokio::test]
async fn a_long_active_query_crosses_the_thresholds() {
    let cluster = PgCluster::start(PgOptions::default());
    let (exporter, _config) = start_exporter(&cluster.superuser_dsn(), FAST_COLLECTION);
    let sleeper = cluster.superuser_session("batch-job").await;
    let query = tokio::spawn(async move {
        let _ = sleeper.simple_query("SELECT pg_sleep(60)").await;
        sleeper
    });

    let m = exporter
        .scrape_until("the sleeper active for over 2 s", |m| {
            value(
                m,
                "dbconn_connections_over_duration",
                &[("state", "active"), ("threshold_seconds", "2")],
            ) == Some(1.0)
        })
        .await;
    assert_eq!(
        v(
            &m,
            "dbconn_connections_over_duration",
            &[("state", "active"), ("threshold_seconds", "1")]
        ),
        1.0
    );
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
    assert_eq!(
        v(
            &m,
            "dbconn_connections_by_origin",
            &[("application", "batch-job"), ("state", "active")]
        ),
        1.0
    );
    // The longest idle time is 0 when nothing is idle.
    assert_eq!(
        v(
            &m,
            "dbconn_max_state_duration_seconds",
            &[("state", "idle")]
        ),
        0.0
    );
    query.abort();
}

#[tokio::test]
async fn idle_in_transaction_sessions_and_the_oldest_transaction() {
    let cluster = PgCluster::start(PgOptions::default());
    let (exporter, _config) = start_exporter(&cluster.superuser_dsn(), FAST_COLLECTION);
    let open = cluster.superuser_session("leaky-pool").await;
    open.batch_execute("BEGIN; SELECT 1").await.unwrap();
    let aborted = cluster.superuser_session("broken").await;
    aborted.batch_execute("BEGIN").await.unwrap();
    assert!(aborted.batch_execute("SELECT 1/0").await.is_err());

    let m = exporter
        .scrape_until_shows(
            TARGET,
            &[
                (
                    "dbconn_connections_over_duration",
                    &[("state", "idle_in_transaction"), ("threshold_seconds", "2")],
                    1.0,
                ),
                (
                    "dbconn_connections",
                    &[("state", "idle_in_transaction")],
                    1.0,
                ),
                (
                    "dbconn_connections",
                    &[("state", "idle_in_transaction_aborted")],
                    1.0,
                ),
            ],
        )
        .await;
    assert!(v(&m, "dbconn_oldest_transaction_seconds", &[]) >= 2.0);
    assert!(
        v(
            &m,
            "dbconn_max_state_duration_seconds",
            &[("state", "idle_in_transaction")]
        ) >= 2.0
    );
    assert_eq!(
        v(
            &m,
            "dbconn_connections_by_origin",
            &[
                ("application", "leaky-pool"),
                ("state", "idle_in_transaction")
            ]
        ),
        1.0
    );
}

#[tokio::test]
async fn role_and_database_limits_with_their_use() {
    let cluster = PgCluster::start(PgOptions::default());
    // CREATE DATABASE cannot share an implicit transaction with other statements.
    cluster
        .exec("CREATE ROLE limited LOGIN CONNECTION LIMIT 3")
        .await;
    cluster
        .exec("CREATE DATABASE capped CONNECTION LIMIT 5")
        .await;
    cluster
        .exec("GRANT ALL ON DATABASE capped TO limited")
        .await;
    let (exporter, _config) = start_exporter(&cluster.superuser_dsn(), FAST_COLLECTION);
    let _sessions = cluster.connect_many(2, "limited", "capped", "svc").await;

    let m = exporter
        .scrape_until_shows(
            TARGET,
            &[
                ("dbconn_user_connection_limit", &[("user", "limited")], 3.0),
                ("dbconn_user_connections", &[("user", "limited")], 2.0),
                (
                    "dbconn_database_connection_limit",
                    &[("database", "capped")],
                    5.0,
                ),
                (
                    "dbconn_database_connections",
                    &[("database", "capped")],
                    2.0,
                ),
            ],
        )
        .await;
    // Roles and databases without a limit are not listed.
    assert!(value(&m, "dbconn_user_connection_limit", &[("user", "postgres")]).is_none());
    assert!(
        value(
            &m,
            "dbconn_database_connection_limit",
            &[("database", "postgres")]
        )
        .is_none()
    );
    // The timeouts a session is subject to are reported, 0 meaning disabled.
    assert_eq!(
        v(
            &m,
            "dbconn_timeout_setting_seconds",
            &[("setting", "idle_in_transaction_session_timeout")]
        ),
        0.0
    );
    // A reload is seen by the next scrape (the exporter re-reads pg_settings when
    // pg_conf_load_time() moves, and keeps its copy otherwise).
    cluster
        .exec("ALTER SYSTEM SET idle_in_transaction_session_timeout = '90s'")
        .await;
    cluster.exec("SELECT pg_reload_conf()").await;
    exporter
        .scrape_until("the reloaded timeout", |m| {
            value(
                m,
                "dbconn_timeout_setting_seconds",
                &[("setting", "idle_in_transaction_session_timeout")],
            ) == Some(90.0)
        })
        .await;
    assert!(value(&m, "dbconn_deadlocks_total", &[]).is_some());
    if cluster.version_num() >= 140_000 {
        // PostgreSQL 14's statistics collector reports sessions with a delay.
        let m = exporter
            .scrape_until("sessions counted", |m| {
                value(m, "dbconn_sessions_total", &[]).is_some_and(|n| n >= 3.0)
            })
            .await;
        assert!(
            value(
                &m,
                "dbconn_sessions_abnormally_ended_total",
                &[("reason", "killed")]
            )
            .is_some()
        );
    }
}

#[tokio::test]
async fn hostile_application_names_still_give_valid_output() {
    let cluster = PgCluster::start(PgOptions::default());
    let (exporter, _config) = start_exporter(&cluster.superuser_dsn(), FAST_COLLECTION);
    // The exporter's session is among the names the server lists below.
    exporter.scrape_until("the exporter connected", is_up).await;
    let names = [
        "quote\"in\"name",
        "back\\slash\\",
        "new\nline",
        "emoji 🐘🔥",
        "} 1\n# EOF",
        "",
    ];
    let mut held = Vec::new();
    for name in names {
        held.push(cluster.superuser_session(name).await);
    }
    // The server may rewrite names (non-ASCII bytes become escapes); the label must
    // be exactly what the server reports.
    let watcher = cluster.superuser_session("watcher").await;
    let rows = watcher
        .query(
            "SELECT application_name FROM pg_stat_activity WHERE backend_type = 'client backend'",
            &[],
        )
        .await
        .unwrap();
    let server_names: BTreeSet<String> = rows.iter().map(|r| r.get(0)).collect();

    // Parsed by the strict reference parser, or the scrape panics.
    let applications = |m: &Metrics| -> BTreeSet<String> {
        m.series("dbconn_connections_by_origin")
            .iter()
            .map(|(l, _)| l["application"].clone())
            .collect()
    };
    let m = exporter
        .scrape_until("every session the server lists", |m| {
            applications(m) == server_names
        })
        .await;
    let labels = applications(&m);
    assert_eq!(labels, server_names);
    assert!(labels.contains("quote\"in\"name"));
    assert!(labels.contains("back\\slash\\"));
    // The classic text format too must satisfy promtool.
    let text = exporter.scrape_with("/metrics", &[]).await;
    support::promtool_check_metrics(&text.body);
}

#[tokio::test]
async fn many_applications_stay_within_the_origin_cap() {
    let cluster = PgCluster::start(PgOptions {
        max_connections: 600,
        ..PgOptions::default()
    });
    let (exporter, _config) =
        start_exporter(&cluster.superuser_dsn(), "collection:\n  origin_cap: 50\n");
    let mut held = Vec::new();
    for i in 0..500 {
        held.push(cluster.superuser_session(&format!("svc-{i:03}")).await);
    }
    let m = exporter
        .scrape_until("500 sessions and the exporter", |m| {
            total_connections(m) == 501.0
        })
        .await;
    let origins = origins(&m);
    assert!(origins.len() <= 50, "{} origins", origins.len());
    assert!(origins.contains(&("other".into(), "other".into(), "other".into())));
    let by_origin = total(&m, "dbconn_connections_by_origin");
    assert_eq!(by_origin, 501.0, "folding must not lose sessions");
}

#[tokio::test]
async fn concurrent_scrapes_share_one_session() {
    let cluster = PgCluster::start(PgOptions::default());
    let (exporter, _config) = start_exporter(&cluster.superuser_dsn(), FAST_COLLECTION);
    let _idle = cluster
        .connect_many(20, "postgres", "postgres", "app")
        .await;
    let watcher = cluster.superuser_session("watcher").await;
    let mut max_seen = 0;
    for _round in 0..5 {
        let scrapes = futures::future::join_all(
            (0..40).map(|_| exporter.scrape_with("/metrics", &[("Accept", OPENMETRICS)])),
        );
        let (responses, seen) = tokio::join!(scrapes, pg::exporter_sessions(&watcher));
        max_seen = max_seen.max(seen);
        // One parser process per round: the reference parser needs most of a second
        // to start on a loaded machine, and 200 of them in a row outlasted the
        // test's time limit.
        let bodies: Vec<String> = responses
            .into_iter()
            .map(|r| {
                assert_eq!(r.status, 200, "{}", r.body);
                assert!(
                    r.header("content-type")
                        .is_some_and(|v| v.starts_with("application/openmetrics-text")),
                    "{:?}",
                    r.headers
                );
                r.body
            })
            .collect();
        for m in support::openmetrics::parse_many(&bodies) {
            assert_eq!(value(&m, "dbconn_up", &[]), Some(1.0));
        }
    }
    max_seen = max_seen.max(pg::exporter_sessions(&watcher).await);
    assert_eq!(max_seen, 1, "the exporter must hold exactly one session");
}

#[tokio::test]
async fn probe_landing_and_health_endpoints() {
    let cluster = PgCluster::start(PgOptions::default());
    let (exporter, _config) = start_exporter(&cluster.superuser_dsn(), FAST_COLLECTION);

    let r = exporter
        .scrape_with(
            &format!("/probe?target={TARGET}"),
            &[("Accept", "application/openmetrics-text;version=1.0.0")],
        )
        .await;
    assert_eq!(r.status, 200);
    let m = support::openmetrics::parse(&r.body);
    assert_eq!(value(&m, "dbconn_up", &[]), Some(1.0));

    let r = exporter.scrape_with("/probe?target=nope", &[]).await;
    assert_eq!(r.status, 404);
    assert!(
        r.body.contains(&format!("configured targets: {TARGET}")),
        "{}",
        r.body
    );
    let r = exporter.scrape_with("/probe", &[]).await;
    assert_eq!(r.status, 400);
    let r = exporter
        .scrape_with(
            "/metrics",
            &[("X-Prometheus-Scrape-Timeout-Seconds", "soon")],
        )
        .await;
    assert_eq!(r.status, 400);

    let r = exporter.scrape_with("/", &[]).await;
    assert_eq!(r.status, 200);
    assert!(
        r.body.contains("/metrics\">Metrics</a> (every target)"),
        "{}",
        r.body
    );
    assert!(r.body.contains("href=\"/discovery\""), "{}", r.body);
    assert_eq!(exporter.scrape_with("/-/healthy", &[]).await.status, 200);
    assert_eq!(exporter.scrape_with("/-/ready", &[]).await.status, 200);

    let text = exporter.scrape_with("/metrics", &[]).await;
    assert!(
        text.headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("content-type") && v.contains("version=0.0.4")),
        "{:?}",
        text.headers
    );
    support::promtool_check_metrics(&text.body);
}

#[tokio::test]
async fn sigterm_shuts_down_and_releases_the_session() {
    let cluster = PgCluster::start(PgOptions::default());
    let (mut exporter, _config) = start_exporter(&cluster.superuser_dsn(), FAST_COLLECTION);
    scrape(&exporter).await;
    let watcher = cluster.superuser_session("watcher").await;
    let status = exporter.terminate();
    assert!(status.success(), "exit status {status:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if pg::exporter_sessions(&watcher).await == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the exporter's session outlived it"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
