//! PostgreSQL, end to end: a throwaway cluster, the real exporter binary, and the
//! situations an on-call engineer meets, created for real and read back through the
//! reference OpenMetrics parser.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use support::ConfigFile;
use support::exporter::{Exporter, OPENMETRICS};
use support::openmetrics::Metrics;
use support::pg::{PgCluster, PgOptions};

/// Thresholds of 1 and 2 seconds keep the duration tests short.
const FAST_COLLECTION: &str =
    "collection:\n  duration_thresholds: [1s, 2s, 30s]\n  connect_backoff_max: 1s\n";

fn start_exporter(cluster: &PgCluster, collection: &str) -> (Exporter, ConfigFile) {
    let config = ConfigFile::new(&format!(
        "targets:\n  - name: pg\n    dsn: {}\n{collection}",
        cluster.superuser_dsn()
    ));
    let exporter = Exporter::start(&[config.arg()]);
    (exporter, config)
}

async fn scrape(exporter: &Exporter) -> Metrics {
    exporter.scrape().await.metrics
}

fn v(m: &Metrics, name: &str, labels: &[(&str, &str)]) -> f64 {
    m.get("pg", name, labels)
}

/// Client sessions in every state.
fn total_connections(m: &Metrics) -> f64 {
    m.series("dbconn_connections")
        .iter()
        .map(|(_, value)| value)
        .sum()
}

#[tokio::test]
async fn idle_sessions_are_counted_per_application() {
    let cluster = PgCluster::start(PgOptions::default());
    cluster
        .exec("CREATE ROLE app LOGIN; GRANT ALL ON DATABASE postgres TO app")
        .await;
    let (exporter, _config) = start_exporter(&cluster, FAST_COLLECTION);
    let _billing = cluster.connect_many(5, "app", "postgres", "billing").await;
    let _reports = cluster.connect_many(3, "app", "postgres", "reports").await;

    // The harness's `exec` session has just closed and may still be listed as idle
    // for a moment on a busy machine: the exact state is waited for.
    let origin = |app| {
        [
            ("database", "postgres"),
            ("user", "app"),
            ("application", app),
            ("state", "idle"),
        ]
    };
    let m = exporter
        .scrape_until_shows(
            "pg",
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
                (
                    "dbconn_connections",
                    &[("state", "idle_in_transaction_aborted")],
                    0.0,
                ),
                ("dbconn_connections", &[("state", "other")], 0.0),
                ("dbconn_connections_by_origin", &origin("billing"), 5.0),
                ("dbconn_connections_by_origin", &origin("reports"), 3.0),
                (
                    "dbconn_connections_by_origin",
                    &[("application", "dbconn_exporter"), ("state", "active")],
                    1.0,
                ),
                ("dbconn_max_connections", &[], 100.0),
                ("dbconn_reserved_connections", &[], 3.0),
                ("dbconn_usage_ratio", &[], 9.0 / 97.0),
            ],
        )
        .await;
    assert!(v(&m, "dbconn_average_connection_age_seconds", &[]) >= 0.0);
    let info = m.series("dbconn_target_info");
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].0["engine"], "postgresql");
    assert!(
        info[0].0["version"].starts_with(&(cluster.version_num() / 10000).to_string()),
        "{:?}",
        info[0].0
    );
    for collector in [
        "activity",
        "settings",
        "names",
        "locks",
        "blocking",
        "database_stats",
    ] {
        assert_eq!(
            v(
                &m,
                "dbconn_scrape_collector_success",
                &[("collector", collector)]
            ),
            1.0,
            "collector {collector}"
        );
    }
    for reason in [
        "too_many_connections",
        "auth_failed",
        "unreachable",
        "timeout",
        "tls",
        "other",
    ] {
        assert_eq!(
            v(&m, "dbconn_connect_errors_total", &[("reason", reason)]),
            0.0
        );
    }
}

#[tokio::test]
async fn a_long_active_query_crosses_the_thresholds() {
    let cluster = PgCluster::start(PgOptions::default());
    let (exporter, _config) = start_exporter(&cluster, FAST_COLLECTION);
    let sleeper = cluster
        .connect("postgres", "postgres", "batch-job")
        .await
        .unwrap();
    let query = tokio::spawn(async move {
        let _ = sleeper.simple_query("SELECT pg_sleep(60)").await;
        sleeper
    });

    let m = exporter
        .scrape_until("the sleeper active for over 2 s", |m| {
            m.value(
                "dbconn_connections_over_duration",
                &[
                    ("target", "pg"),
                    ("state", "active"),
                    ("threshold_seconds", "2"),
                ],
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
    let (exporter, _config) = start_exporter(&cluster, FAST_COLLECTION);
    let open = cluster
        .connect("postgres", "postgres", "leaky-pool")
        .await
        .unwrap();
    open.batch_execute("BEGIN; SELECT 1").await.unwrap();
    let aborted = cluster
        .connect("postgres", "postgres", "broken")
        .await
        .unwrap();
    aborted.batch_execute("BEGIN").await.unwrap();
    assert!(aborted.batch_execute("SELECT 1/0").await.is_err());

    let m = exporter
        .scrape_until_shows(
            "pg",
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
async fn one_session_blocking_two_on_a_row_lock() {
    let cluster = PgCluster::start(PgOptions::default());
    cluster
        .exec("CREATE TABLE accounts (id int PRIMARY KEY, balance int); INSERT INTO accounts VALUES (1, 100)")
        .await;
    let (exporter, _config) = start_exporter(&cluster, FAST_COLLECTION);
    let holder = cluster
        .connect("postgres", "postgres", "holder")
        .await
        .unwrap();
    holder
        .batch_execute("BEGIN; UPDATE accounts SET balance = balance - 1 WHERE id = 1")
        .await
        .unwrap();
    let mut waiters = Vec::new();
    for name in ["waiter-1", "waiter-2"] {
        let c = cluster.connect("postgres", "postgres", name).await.unwrap();
        waiters.push(tokio::spawn(async move {
            c.batch_execute("UPDATE accounts SET balance = balance + 1 WHERE id = 1")
                .await
        }));
    }

    let m = exporter
        .scrape_until("two blocked sessions waiting over 0.5 s", |m| {
            m.value("dbconn_blocked_connections", &[("target", "pg")]) == Some(2.0)
                && m.value("dbconn_max_lock_wait_seconds", &[("target", "pg")])
                    .is_some_and(|w| w > 0.5)
                // The two waiters and the exporter.
                && m.value("dbconn_connections", &[("target", "pg"), ("state", "active")])
                    == Some(3.0)
        })
        .await;
    // The second waiter queues behind the first one's tuple lock, so PostgreSQL
    // itself names two blockers (the holder and the first waiter); the metric must
    // agree with what pg_blocking_pids says.
    let watcher = cluster
        .connect("postgres", "postgres", "watcher")
        .await
        .unwrap();
    let blockers: i64 = watcher
        .query_one(
            "SELECT count(DISTINCT b) FROM pg_stat_activity, unnest(pg_blocking_pids(pid)) b",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(blockers >= 1);
    assert_eq!(v(&m, "dbconn_blocking_connections", &[]), blockers as f64);
    let waiting: f64 = m
        .series("dbconn_locks")
        .iter()
        .filter(|(labels, _)| labels["granted"] == "false")
        .map(|(_, value)| value)
        .sum();
    assert!(waiting >= 2.0, "awaited locks: {waiting}\n{}", m.text());
    assert_eq!(v(&m, "dbconn_connections", &[("state", "active")]), 3.0);

    holder.batch_execute("ROLLBACK").await.unwrap();
    for w in waiters {
        w.await.unwrap().unwrap();
    }
    exporter
        .scrape_until_shows(
            "pg",
            &[
                ("dbconn_blocked_connections", &[], 0.0),
                ("dbconn_blocking_connections", &[], 0.0),
                ("dbconn_max_lock_wait_seconds", &[], 0.0),
            ],
        )
        .await;
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
    let (exporter, _config) = start_exporter(&cluster, FAST_COLLECTION);
    let _sessions = cluster.connect_many(2, "limited", "capped", "svc").await;

    let m = exporter
        .scrape_until_shows(
            "pg",
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
    assert!(
        m.value(
            "dbconn_user_connection_limit",
            &[("target", "pg"), ("user", "postgres")]
        )
        .is_none()
    );
    assert!(
        m.value(
            "dbconn_database_connection_limit",
            &[("target", "pg"), ("database", "postgres")]
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
            m.value(
                "dbconn_timeout_setting_seconds",
                &[
                    ("target", "pg"),
                    ("setting", "idle_in_transaction_session_timeout"),
                ],
            ) == Some(90.0)
        })
        .await;
    assert!(
        m.value("dbconn_deadlocks_total", &[("target", "pg")])
            .is_some()
    );
    if cluster.version_num() >= 140_000 {
        // PostgreSQL 14's statistics collector reports sessions with a delay.
        let m = exporter
            .scrape_until("sessions counted", |m| {
                m.value("dbconn_sessions_total", &[("target", "pg")])
                    .is_some_and(|n| n >= 3.0)
            })
            .await;
        assert!(
            m.value(
                "dbconn_sessions_abnormally_ended_total",
                &[("target", "pg"), ("reason", "killed")]
            )
            .is_some()
        );
    }
}

#[tokio::test]
async fn usage_ratio_is_exactly_one_when_ordinary_logins_are_refused() {
    let cluster = PgCluster::start(PgOptions {
        max_connections: 20,
        superuser_reserved_connections: 3,
        ..PgOptions::default()
    });
    cluster.exec("CREATE ROLE app LOGIN").await;
    let (exporter, _config) = start_exporter(&cluster, FAST_COLLECTION);
    // The exporter holds its session before the server fills up, and the harness's
    // `exec` session has gone (until its backend exits it holds a slot, and the
    // server would refuse one login early).
    exporter
        .scrape_until("the exporter connected and alone", |m| {
            m.value("dbconn_up", &[("target", "pg")]) == Some(1.0) && total_connections(m) == 1.0
        })
        .await;

    let mut held = Vec::new();
    let refused = loop {
        match cluster.connect("app", "postgres", "filler").await {
            Ok(c) => held.push(c),
            Err(e) => break e,
        }
        assert!(held.len() <= 20, "the server never refused a login");
    };
    assert_eq!(
        refused.code(),
        Some(&tokio_postgres::error::SqlState::TOO_MANY_CONNECTIONS),
        "{refused}"
    );
    assert_eq!(
        held.len(),
        16,
        "17 ordinary slots, one taken by the exporter"
    );

    // The refused login's backend may be listed for a moment while it exits (on
    // PostgreSQL 18 a backend is listed from authentication on).
    let m = exporter
        .scrape_until("17 sessions, full", |m| total_connections(m) == 17.0)
        .await;
    assert_eq!(v(&m, "dbconn_up", &[]), 1.0);
    assert_eq!(v(&m, "dbconn_usage_ratio", &[]), 1.0);
    assert_eq!(v(&m, "dbconn_max_connections", &[]), 20.0);
    assert_eq!(v(&m, "dbconn_reserved_connections", &[]), 3.0);

    // One slot freed: below 1 again, once its backend has exited.
    held.pop();
    let m = exporter
        .scrape_until("a freed slot", |m| total_connections(m) == 16.0)
        .await;
    // prometheus-client formats floats with Grisu2 (the dtoa crate), which can be
    // one unit in the last place off; 1.0 above is exact.
    assert!((v(&m, "dbconn_usage_ratio", &[]) - 16.0 / 17.0).abs() < 1e-12);
}

#[tokio::test]
async fn hostile_application_names_still_give_valid_output() {
    let cluster = PgCluster::start(PgOptions::default());
    let (exporter, _config) = start_exporter(&cluster, FAST_COLLECTION);
    // The exporter's session is among the names the server lists below.
    exporter
        .scrape_until("the exporter connected", |m| {
            m.value("dbconn_up", &[("target", "pg")]) == Some(1.0)
        })
        .await;
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
        held.push(cluster.connect("postgres", "postgres", name).await.unwrap());
    }
    // The server may rewrite names (non-ASCII bytes become escapes); the label must
    // be exactly what the server reports.
    let watcher = cluster
        .connect("postgres", "postgres", "watcher")
        .await
        .unwrap();
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
    let (exporter, _config) = start_exporter(&cluster, "collection:\n  origin_cap: 50\n");
    let mut held = Vec::new();
    for i in 0..500 {
        held.push(
            cluster
                .connect("postgres", "postgres", &format!("svc-{i:03}"))
                .await
                .unwrap(),
        );
    }
    let m = exporter
        .scrape_until("500 sessions and the exporter", |m| {
            total_connections(m) == 501.0
        })
        .await;
    let series = m.series("dbconn_connections_by_origin");
    let origins: BTreeSet<(String, String, String)> = series
        .iter()
        .map(|(l, _)| {
            (
                l["database"].clone(),
                l["user"].clone(),
                l["application"].clone(),
            )
        })
        .collect();
    assert!(origins.len() <= 50, "{} origins", origins.len());
    assert!(origins.contains(&("other".into(), "other".into(), "other".into())));
    let by_origin: f64 = series.iter().map(|(_, v)| v).sum();
    assert_eq!(by_origin, 501.0, "folding must not lose sessions");
}

#[tokio::test]
async fn concurrent_scrapes_share_one_session() {
    let cluster = PgCluster::start(PgOptions::default());
    let (exporter, _config) = start_exporter(&cluster, FAST_COLLECTION);
    let _idle = cluster
        .connect_many(20, "postgres", "postgres", "app")
        .await;
    let watcher = cluster
        .connect("postgres", "postgres", "watcher")
        .await
        .unwrap();
    let count_exporter_sessions = || async {
        let row = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dbconn_exporter'",
                &[],
            )
            .await
            .unwrap();
        row.get::<_, i64>(0)
    };
    let mut max_seen = 0;
    for _round in 0..5 {
        let scrapes = futures::future::join_all(
            (0..40).map(|_| exporter.scrape_with("/metrics", &[("Accept", OPENMETRICS)])),
        );
        let (responses, seen) = tokio::join!(scrapes, count_exporter_sessions());
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
            assert_eq!(m.value("dbconn_up", &[("target", "pg")]), Some(1.0));
        }
    }
    max_seen = max_seen.max(count_exporter_sessions().await);
    assert_eq!(max_seen, 1, "the exporter must hold exactly one session");
}

#[tokio::test]
async fn probe_landing_and_health_endpoints() {
    let cluster = PgCluster::start(PgOptions::default());
    let (exporter, _config) = start_exporter(&cluster, FAST_COLLECTION);

    let r = exporter
        .scrape_with(
            "/probe?target=pg",
            &[("Accept", "application/openmetrics-text;version=1.0.0")],
        )
        .await;
    assert_eq!(r.status, 200);
    let m = support::openmetrics::parse(&r.body);
    assert_eq!(m.value("dbconn_up", &[("target", "pg")]), Some(1.0));

    let r = exporter.scrape_with("/probe?target=nope", &[]).await;
    assert_eq!(r.status, 404);
    assert!(r.body.contains("configured targets: pg"), "{}", r.body);
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
    assert!(r.body.contains("/metrics"));
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
    let (mut exporter, _config) = start_exporter(&cluster, FAST_COLLECTION);
    scrape(&exporter).await;
    let watcher = cluster
        .connect("postgres", "postgres", "watcher")
        .await
        .unwrap();
    let status = exporter.terminate();
    assert!(status.success(), "exit status {status:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let row = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dbconn_exporter'",
                &[],
            )
            .await
            .unwrap();
        if row.get::<_, i64>(0) == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the exporter's session outlived it"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
