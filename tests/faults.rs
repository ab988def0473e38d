//! What a production database does to its monitor, done for real to a throwaway
//! PostgreSQL: it fills up, restarts, stops answering, locks a catalog, gets a
//! scrape storm, is given a wrong password, and is flooded with hostile names. In
//! each case the exporter must keep telling the truth and never become the problem.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use support::exporter::{Exporter, OPENMETRICS};
use support::openmetrics;
use support::pg::{self, PgCluster, PgOptions};
use support::scrape::{
    FAST_BACKOFF, TARGET, connect_errors, get_within, origins, scrape, start_targets, total,
    total_connections, v,
};

/// Opens `n` idle sessions as `user`, the last ones into slots that sessions closed
/// just before may still hold: a closed session keeps its slot until its backend
/// has exited, so a refusal (53300) is retried for a while. Any other error, or a
/// slot that never frees, fails the test.
async fn fill(cluster: &PgCluster, n: usize, user: &str) -> Vec<tokio_postgres::Client> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut held = Vec::with_capacity(n);
    while held.len() < n {
        match cluster.connect(user, "postgres", "filler").await {
            Ok(c) => held.push(c),
            Err(e)
                if e.code() == Some(&tokio_postgres::error::SqlState::TOO_MANY_CONNECTIONS)
                    && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("session {} of {n} as {user}: {e}", held.len()),
        }
    }
    held
}

/// Scenario 2: started against a full server, the exporter says "full" promptly,
/// and recovers by itself when slots free up.
#[tokio::test]
async fn starting_against_a_full_server_then_recovering() {
    let cluster = PgCluster::start(PgOptions {
        max_connections: 10,
        superuser_reserved_connections: 2,
        ..PgOptions::default()
    });
    cluster
        .exec("CREATE ROLE app LOGIN; CREATE ROLE monitor LOGIN IN ROLE pg_monitor")
        .await;
    let mut held = fill(&cluster, 8, "app").await;
    let (exporter, _config) = start_targets(
        &[(TARGET, &cluster.dsn("monitor", "postgres"))],
        FAST_BACKOFF,
    );
    let started = Instant::now();
    let m = scrape(&exporter).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(v(&m, "dbconn_up", &[]), 0.0);
    assert!(
        connect_errors(&m, TARGET, "too_many_connections") >= 1.0,
        "{}",
        m.text()
    );
    for reason in ["auth_failed", "unreachable", "timeout", "tls", "other"] {
        assert_eq!(connect_errors(&m, TARGET, reason), 0.0, "{reason}");
    }

    // The exporter gets in as soon as one slot is free; the other two closed
    // sessions may still be listed until their backends have exited.
    held.truncate(5);
    exporter
        .scrape_until_shows(
            TARGET,
            &[
                ("dbconn_up", &[], 1.0),
                ("dbconn_connections", &[("state", "idle")], 5.0),
            ],
        )
        .await;
}

/// Scenario 3: a role allowed into the reserved slots reads a full server.
/// PostgreSQL 16+: `reserved_connections` and `pg_use_reserved_connections`;
/// before 16 the only reserved slots are the superusers'.
#[tokio::test]
async fn the_reserved_slot_route_sees_a_full_server() {
    let v16 = PgCluster::start(PgOptions::default()).version_num() >= 160_000;
    let mut options = PgOptions {
        max_connections: 12,
        superuser_reserved_connections: 2,
        ..PgOptions::default()
    };
    if v16 {
        options
            .settings
            .push(("reserved_connections".into(), "2".into()));
    }
    let cluster = PgCluster::start(options);
    cluster.exec("CREATE ROLE app LOGIN").await;
    let (dsn, ordinary_slots, reserved) = if v16 {
        cluster
            .exec("CREATE ROLE monitor LOGIN IN ROLE pg_monitor, pg_use_reserved_connections")
            .await;
        (cluster.dsn("monitor", "postgres"), 8, 4.0)
    } else {
        (cluster.superuser_dsn(), 10, 2.0)
    };
    let _held = fill(&cluster, ordinary_slots, "app").await;
    let refused = cluster
        .connect("app", "postgres", "one-more")
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        Some(&tokio_postgres::error::SqlState::TOO_MANY_CONNECTIONS),
        "{refused}"
    );

    let exporter = Exporter::start(&[format!("--target={TARGET}={dsn}")]);
    // The refused login's backend may be listed for a moment while it exits.
    let m = exporter
        .scrape_until_shows(
            TARGET,
            &[
                ("dbconn_up", &[], 1.0),
                ("dbconn_reserved_connections", &[], reserved),
                (
                    "dbconn_connections",
                    &[("state", "idle")],
                    ordinary_slots as f64,
                ),
            ],
        )
        .await;
    assert!(v(&m, "dbconn_usage_ratio", &[]) > 1.0);
}

/// Scenario 4: the server stops and starts again.
#[tokio::test]
async fn a_restart_is_reported_as_unreachable_then_recovered() {
    let mut cluster = PgCluster::start(PgOptions::default());
    let (exporter, _config) = start_targets(&[(TARGET, &cluster.superuser_dsn())], FAST_BACKOFF);
    assert_eq!(v(&scrape(&exporter).await, "dbconn_up", &[]), 1.0);

    cluster.stop();
    for _ in 0..3 {
        let started = Instant::now();
        let m = scrape(&exporter).await;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(v(&m, "dbconn_up", &[]), 0.0);
        assert!(
            connect_errors(&m, TARGET, "unreachable") >= 1.0,
            "{}",
            m.text()
        );
        assert_eq!(connect_errors(&m, TARGET, "too_many_connections"), 0.0);
        // The engine and version stay known while the target is down.
        assert_eq!(m.series("dbconn_target_info").len(), 1);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    cluster.restart();
    // A scrape inside the backoff window after a failed connect does not try; past
    // it (1 s here) the first scrape reconnects and reads.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let m = scrape(&exporter).await;
    assert_eq!(v(&m, "dbconn_up", &[]), 1.0, "{}", exporter.logs());
    let watcher = cluster.superuser_session("watcher").await;
    scrape(&exporter).await;
    assert_eq!(pg::exporter_sessions(&watcher).await, 1);
}

/// Scenario 5: a peer that accepts TCP and never answers. Each scrape returns within
/// the timeout Prometheus gave, and the healthy target in the same scrape reports.
#[tokio::test]
async fn a_black_hole_target_costs_one_scrape_timeout_not_the_others() {
    let cluster = PgCluster::start(PgOptions::default());
    let hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hole_port = hole.local_addr().unwrap().port();
    // Accept and hold every connection, never writing a byte.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in hole.incoming() {
            held.push(s);
        }
    });
    let hole_dsn = format!("postgres://postgres@127.0.0.1:{hole_port}/postgres");
    let (exporter, _config) = start_targets(
        &[(TARGET, &cluster.superuser_dsn()), ("hole", &hole_dsn)],
        FAST_BACKOFF,
    );
    let mut timeouts = 0.0;
    for _ in 0..4 {
        let started = Instant::now();
        let r = get_within(&exporter, "2").await;
        let took = started.elapsed();
        assert_eq!(r.status, 200);
        // 2 s minus the 250 ms offset, plus encoding and HTTP.
        assert!(took < Duration::from_millis(2000), "scrape took {took:?}");
        let m = openmetrics::parse(&r.body);
        assert_eq!(v(&m, "dbconn_up", &[]), 1.0);
        assert_eq!(m.get("hole", "dbconn_up", &[]), 0.0);
        timeouts = connect_errors(&m, "hole", "timeout");
        assert_eq!(connect_errors(&m, "hole", "unreachable"), 0.0);
    }
    assert!(timeouts >= 1.0, "no timeout counted: {timeouts}");
}

/// Scenario 6: a superuser holds ACCESS EXCLUSIVE on pg_database. The exporter's lock
/// timeout fires, the scrape returns what it could read and marks the part that
/// failed, and no exporter session waits behind the lock.
#[tokio::test]
async fn a_locked_catalog_costs_one_collector_not_the_scrape() {
    let cluster = PgCluster::start(PgOptions::default());
    let exporter = Exporter::start(&[format!("--target={TARGET}={}", cluster.superuser_dsn())]);
    let _idle = cluster.connect_many(3, "postgres", "postgres", "app").await;
    assert_eq!(v(&scrape(&exporter).await, "dbconn_up", &[]), 1.0);
    let watcher = cluster.superuser_session("watcher").await;
    let locker = cluster.superuser_session("locker").await;
    locker
        .batch_execute("BEGIN; LOCK TABLE pg_database IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();

    let started = Instant::now();
    let m = scrape(&exporter).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "scrape took {took:?}");
    assert_eq!(v(&m, "dbconn_up", &[]), 1.0);
    assert_eq!(
        v(
            &m,
            "dbconn_scrape_collector_success",
            &[("collector", "names")]
        ),
        0.0
    );
    assert_eq!(
        v(
            &m,
            "dbconn_scrape_collector_success",
            &[("collector", "activity")]
        ),
        1.0
    );
    // The counts are still there: 3 idle + the locker idle in transaction + watcher.
    assert_eq!(v(&m, "dbconn_connections", &[("state", "idle")]), 4.0);
    assert_eq!(
        v(
            &m,
            "dbconn_connections",
            &[("state", "idle_in_transaction")]
        ),
        1.0
    );
    // Nothing of the exporter waits on the lock, and it still holds one session.
    let waiting: i64 = watcher
        .query_one(
            "SELECT count(*) FROM pg_stat_get_activity(NULL) WHERE application_name = 'dbconn_exporter' AND wait_event_type = 'Lock'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(waiting, 0);
    assert_eq!(pg::exporter_sessions(&watcher).await, 1);

    locker.batch_execute("COMMIT").await.unwrap();
    let m = scrape(&exporter).await;
    assert_eq!(
        v(
            &m,
            "dbconn_scrape_collector_success",
            &[("collector", "names")]
        ),
        1.0
    );
}

/// Scenario 7: 100 concurrent scrapers for 10 s. Every response is valid OpenMetrics
/// and the server never sees more than one exporter session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_storm_keeps_one_session() {
    let cluster = PgCluster::start(PgOptions::default());
    let exporter = std::sync::Arc::new(Exporter::start(&[format!(
        "--target={TARGET}={}",
        cluster.superuser_dsn()
    )]));
    let _idle = cluster
        .connect_many(20, "postgres", "postgres", "app")
        .await;
    let watcher = cluster.superuser_session("watcher").await;
    let stop = Instant::now() + Duration::from_secs(10);
    let workers: Vec<_> = (0..100)
        .map(|_| {
            let exporter = exporter.clone();
            tokio::spawn(async move {
                let mut bodies = BTreeSet::new();
                let mut n = 0;
                while Instant::now() < stop {
                    let r = exporter
                        .scrape_with("/metrics", &[("Accept", OPENMETRICS)])
                        .await;
                    assert_eq!(r.status, 200, "{}", r.body);
                    bodies.insert(r.body);
                    n += 1;
                }
                (n, bodies)
            })
        })
        .collect();
    let mut max_sessions = 0;
    while Instant::now() < stop {
        max_sessions = max_sessions.max(pg::exporter_sessions(&watcher).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut total = 0;
    let mut bodies = BTreeSet::new();
    for w in workers {
        let (n, b) = w.await.unwrap();
        total += n;
        bodies.extend(b);
    }
    let bodies: Vec<String> = bodies.into_iter().collect();
    // Tens of thousands of responses differ only in their numbers (each scrape has
    // its own duration), and the reference parser takes milliseconds each: every
    // number is checked here, and every distinct shape goes through the parser.
    let shapes: BTreeSet<String> = bodies.iter().map(|b| shape_of(b)).collect();
    let shapes: Vec<String> = shapes.into_iter().collect();
    for m in openmetrics::parse_many(&shapes) {
        assert!(m.value("dbconn_up", &[("target", TARGET)]).is_some());
    }
    let some: Vec<String> = bodies.iter().take(50).cloned().collect();
    for m in openmetrics::parse_many(&some) {
        assert_eq!(v(&m, "dbconn_up", &[]), 1.0);
    }
    println!(
        "{total} scrapes, {} distinct bodies, {} shapes, max exporter sessions {max_sessions}",
        bodies.len(),
        shapes.len()
    );
    assert!(total >= 100, "only {total} scrapes");
    assert_eq!(max_sessions, 1);
}

/// An exposition with every sample value checked to be a number and replaced by 1
/// (valid for every metric type, info included).
fn shape_of(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    for line in body.lines() {
        if line.starts_with('#') {
            out.push_str(line);
        } else {
            let (series, value) = line.rsplit_once(' ').expect("a sample line has a value");
            assert!(value.parse::<f64>().is_ok(), "not a number in {line:?}");
            out.push_str(series);
            out.push_str(" 1");
        }
        out.push('\n');
    }
    out
}

/// Scenario 8: a wrong password is `auth_failed`, and no password ever shows.
#[tokio::test]
async fn a_wrong_password_is_auth_failed_and_never_printed() {
    let cluster = PgCluster::start(PgOptions {
        password_auth: true,
        ..PgOptions::default()
    });
    cluster
        .exec("CREATE ROLE monitor LOGIN PASSWORD 'right-Secret-42' IN ROLE pg_monitor")
        .await;
    let wrong = format!(
        "postgres://monitor:hunter2-Wrong@127.0.0.1:{}/postgres",
        cluster.port()
    );
    let right = format!(
        "postgres://monitor:right-Secret-42@127.0.0.1:{}/postgres",
        cluster.port()
    );
    let exporter = Exporter::start(&[
        format!("--target=bad={wrong}"),
        format!("--target=good={right}"),
    ]);
    let m = exporter
        .scrape_until("both targets tried", |m| {
            m.value("dbconn_up", &[("target", "good")]) == Some(1.0)
                && m.value(
                    "dbconn_connect_errors_total",
                    &[("target", "bad"), ("reason", "auth_failed")],
                )
                .is_some_and(|n| n >= 1.0)
        })
        .await;
    assert_eq!(m.get("bad", "dbconn_up", &[]), 0.0);
    let mut seen = vec![m.text().to_string(), exporter.logs()];
    for path in [
        "/",
        "/metrics",
        "/probe?target=bad",
        "/probe?target=good",
        "/probe?target=nope",
    ] {
        seen.push(exporter.scrape_with(path, &[]).await.body);
    }
    let everything = seen.join("\n");
    for secret in ["hunter2-Wrong", "right-Secret-42"] {
        assert!(
            !everything.contains(secret),
            "{secret} leaked:\n{everything}"
        );
    }
    assert!(
        exporter.logs().contains("auth_failed"),
        "{}",
        exporter.logs()
    );
}

/// Scenario 9: 2,000 sessions with distinct hostile application names.
#[tokio::test]
async fn two_thousand_hostile_names_parse_and_stay_within_the_cap() {
    let cluster = PgCluster::start(PgOptions {
        max_connections: 2100,
        ..PgOptions::default()
    });
    let exporter = Exporter::start(&[format!("--target={TARGET}={}", cluster.superuser_dsn())]);
    let nasty = [
        "\"", "\\", "\n", "ü", "🐘", "\\n", "} 1", "=\"x\"", "\t", "'",
    ];
    // Opened 16 at a time: backend start-up, not the exporter, is the slow part.
    use futures::StreamExt;
    let held: Vec<_> = futures::stream::iter(0..2000)
        .map(|i| {
            let name = format!(
                "{}app{i}{}",
                nasty[i % nasty.len()],
                nasty[(i / 10) % nasty.len()]
            );
            let cluster = &cluster;
            async move { cluster.superuser_session(&name).await }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert_eq!(held.len(), 2000);
    let m = exporter
        .scrape_until("2,000 sessions and the exporter", |m| {
            total_connections(m) == 2001.0
        })
        .await;
    let series = m.series("dbconn_connections_by_origin");
    assert!(series.len() <= 100 * 5, "{} series", series.len());
    let origins = origins(&m);
    assert!(origins.len() <= 100, "{} origins", origins.len());
    let all = total_connections(&m);
    assert_eq!(all, 2001.0);
    assert_eq!(total(&m, "dbconn_connections_by_origin"), all);
    let text = exporter.scrape_with("/metrics", &[]).await;
    support::promtool_check_metrics(&text.body);
}
