//! A fleet sharded by Prometheus, for real: two exporter replicas that both know all
//! 40 targets (databases on two throwaway PostgreSQL clusters) in lazy mode, and two
//! Prometheus servers that each discover every target from their exporter's
//! `/discovery` and keep their half with `hashmod`. Every target must be scraped by
//! exactly one Prometheus, hold exactly one exporter session on its server, and
//! reach the union of the two with its metrics. Beside it, the lazy mode alone: a
//! session opened by the first probe and closed after the idle timeout, and a
//! `/metrics` that reads no target; and `/discovery`'s format.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use support::ConfigFile;
use support::exporter::{Exporter, OPENMETRICS};
use support::openmetrics;
use support::pg::{PgCluster, PgOptions};
use support::prometheus::Prometheus;
use support::scrape::{config, is_up};

/// The scrape job of the README's sharding section, word for word: `EXPORTER` is the
/// address of this Prometheus's exporter replica, `SHARD` its shard number, and the
/// intervals are shortened (the README says `refresh_interval: 30s`,
/// `scrape_interval: 15s`).
const SHARDED_JOB: &str = r#"scrape_configs:
  - job_name: dbconn
    metrics_path: /probe
    http_sd_configs:
      - url: http://EXPORTER/discovery
        refresh_interval: 1s
    relabel_configs:
      # Keep this Prometheus's share of the fleet: shard SHARD of 2.
      - source_labels: [__meta_dbconn_target]
        modulus: 2
        target_label: __tmp_shard
        action: hashmod
      - source_labels: [__tmp_shard]
        regex: "SHARD"
        action: keep
      # Scrape /probe?target=NAME through the exporter, one scrape per target.
      - source_labels: [__meta_dbconn_target]
        target_label: __param_target
      - source_labels: [__meta_dbconn_target]
        target_label: instance
      - target_label: __address__
        replacement: EXPORTER
      # Keep the replica's address: the alerts' incident_page links to it.
      - target_label: exporter
        replacement: EXPORTER
"#;

const TARGETS: usize = 40;

/// The exporter's sessions on `cluster`, per database.
async fn exporter_sessions(cluster: &PgCluster) -> BTreeMap<String, i64> {
    let client = cluster.superuser_session("sharding-watch").await;
    client
        .query(
            "SELECT datname, count(*) FROM pg_stat_activity \
             WHERE application_name = 'dbconn_exporter' GROUP BY datname",
            &[],
        )
        .await
        .expect("read pg_stat_activity")
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
        .collect()
}

/// `label` of every series `expr` returns, with the series' value.
async fn by_label(prometheus: &Prometheus, expr: &str, label: &str) -> BTreeMap<String, String> {
    prometheus
        .query(expr)
        .await
        .iter()
        .map(|s| {
            (
                s["metric"][label].as_str().unwrap_or_default().to_string(),
                s["value"][1].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Polls `check` every 250 ms until it returns `Ok`, and panics with its last
/// complaint after `within`.
async fn wait_for<T>(within: Duration, mut check: impl AsyncFnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + within;
    loop {
        match check().await {
            Ok(v) => return v,
            Err(why) if Instant::now() > deadline => panic!("timed out: {why}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_prometheus_servers_shard_forty_targets_over_two_lazy_replicas() {
    let clusters = [
        PgCluster::start(PgOptions::default()),
        PgCluster::start(PgOptions::default()),
    ];
    // 40 databases, alternating between the clusters: (target name, cluster, database).
    let fleet: Vec<(String, usize, String)> = (0..TARGETS)
        .map(|i| (format!("db-{i:02}"), i % 2, format!("shard_{i:02}")))
        .collect();
    for (c, cluster) in clusters.iter().enumerate() {
        let admin = cluster.superuser_session("sharding-setup").await;
        for (_, _, database) in fleet.iter().filter(|(_, on, _)| *on == c) {
            admin
                .batch_execute(&format!("CREATE DATABASE {database}"))
                .await
                .expect("create database");
        }
    }
    let dsns: Vec<(String, String)> = fleet
        .iter()
        .map(|(name, c, database)| (name.clone(), clusters[*c].dsn("postgres", database)))
        .collect();
    let targets: Vec<(&str, &str)> = dsns.iter().map(|(n, d)| (n.as_str(), d.as_str())).collect();
    // Both replicas run the same file.
    let file = config(&targets, "collection:\n  session_mode: lazy\n");
    let replicas = [
        Exporter::start(&[file.arg()]),
        Exporter::start(&[file.arg()]),
    ];
    let prometheus: Vec<Prometheus> = replicas
        .iter()
        .enumerate()
        .map(|(shard, exporter)| {
            let job = SHARDED_JOB
                .replace("EXPORTER", exporter.address())
                .replace("SHARD", &shard.to_string());
            Prometheus::start_yaml(&format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n{job}"
            ))
        })
        .collect();
    let all: BTreeSet<String> = fleet.iter().map(|(n, _, _)| n.clone()).collect();

    // Every target scraped, and up, by exactly one Prometheus.
    let shards = wait_for(Duration::from_secs(60), async || {
        let mut shards = Vec::new();
        for p in &prometheus {
            shards.push(by_label(p, "up{job=\"dbconn\"}", "instance").await);
        }
        let seen: usize = shards.iter().map(BTreeMap::len).sum();
        let down: Vec<&String> = shards
            .iter()
            .flat_map(|s| s.iter().filter(|(_, v)| *v != "1").map(|(k, _)| k))
            .collect();
        if seen == TARGETS && down.is_empty() {
            Ok(shards)
        } else {
            Err(format!("{seen} targets scraped, down: {down:?}"))
        }
    })
    .await;
    let [first, second] = [&shards[0], &shards[1]];
    let first_names: BTreeSet<String> = first.keys().cloned().collect();
    let second_names: BTreeSet<String> = second.keys().cloned().collect();
    assert!(
        first_names.is_disjoint(&second_names),
        "scraped twice: {:?}",
        first_names.intersection(&second_names).collect::<Vec<_>>()
    );
    assert_eq!(&first_names | &second_names, all);
    assert!(
        !first_names.is_empty() && !second_names.is_empty(),
        "hashmod gave one shard everything: {} / {}",
        first_names.len(),
        second_names.len()
    );

    // Exactly one exporter session per target on its server: a replica opens a
    // session only for the targets its Prometheus probes. Sampled a few times while
    // the scrapes go on, not once.
    let expected = |c: usize| -> BTreeMap<String, i64> {
        fleet
            .iter()
            .filter(|(_, on, _)| *on == c)
            .map(|(_, _, database)| (database.clone(), 1))
            .collect()
    };
    for sample in 0..4 {
        for (c, cluster) in clusters.iter().enumerate() {
            let want = expected(c);
            let within = if sample == 0 { 30 } else { 5 };
            wait_for(Duration::from_secs(within), async || {
                let got = exporter_sessions(cluster).await;
                if got == want {
                    Ok(())
                } else {
                    Err(format!("cluster {c}: sessions per database {got:?}"))
                }
            })
            .await;
            let got = exporter_sessions(cluster).await;
            assert!(
                got.values().all(|n| *n == 1),
                "cluster {c}: more than one session for a target: {got:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let total: i64 = {
        let mut total = 0;
        for cluster in &clusters {
            total += exporter_sessions(cluster).await.values().sum::<i64>();
        }
        total
    };
    assert_eq!(total, TARGETS as i64);

    // The union of the two Prometheus servers has every target's metrics, each from
    // the one that scrapes it.
    let limits = wait_for(Duration::from_secs(30), async || {
        let mut per = Vec::new();
        for p in &prometheus {
            per.push(by_label(p, "dbconn_max_connections", "target").await);
        }
        let union: BTreeSet<String> = per.iter().flat_map(|m| m.keys().cloned()).collect();
        if union == all {
            Ok(per)
        } else {
            Err(format!(
                "{} of {TARGETS} targets have dbconn_max_connections",
                union.len()
            ))
        }
    })
    .await;
    for (shard, (limits, scraped)) in limits.iter().zip([&first_names, &second_names]).enumerate() {
        let names: BTreeSet<String> = limits.keys().cloned().collect();
        assert_eq!(&names, scraped, "shard {shard}");
        assert!(limits.values().all(|v| v == "100"), "{limits:?}");
    }
    // Every series keeps the address of the replica that read it in `exporter`,
    // where `instance` is the target's name: the alerts' incident_page link is
    // built from it (alerts/dbconn.rules.yml).
    for (p, replica) in prometheus.iter().zip(&replicas) {
        let by_exporter = by_label(
            p,
            "count by (exporter) (dbconn_max_connections)",
            "exporter",
        )
        .await;
        let only: Vec<&String> = by_exporter.keys().collect();
        assert_eq!(only, [replica.address()], "{by_exporter:?}");
    }
    println!(
        "shards: {} + {} targets; sessions: {total} for {TARGETS} targets on 2 clusters",
        first_names.len(),
        second_names.len()
    );
}

/// The server's clock, for telling when a session was born.
async fn server_now(cluster: &PgCluster) -> std::time::SystemTime {
    let client = cluster.superuser_session("sharding-clock").await;
    client
        .query_one("SELECT now()", &[])
        .await
        .expect("now()")
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lazy_session_opens_on_the_first_probe_and_closes_when_idle() {
    let cluster = PgCluster::start(PgOptions::default());
    let file = config(
        &[("db", &cluster.dsn("postgres", "postgres"))],
        "collection:\n  session_mode: lazy\n  session_idle_timeout: 2s\n",
    );
    let exporter = Exporter::start(&[file.arg()]);

    // /metrics holds the exporter's own metrics and no target, and opens nothing.
    let before = server_now(&cluster).await;
    let metrics = exporter.scrape().await.metrics;
    let names: BTreeSet<&str> = metrics.samples.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "dbconn_exporter_build_info",
            "dbconn_config_last_reload_successful",
            "dbconn_config_last_reload_success_timestamp_seconds",
        ]),
        "{}",
        metrics.text()
    );
    assert!(exporter_sessions(&cluster).await.is_empty());

    // The first probe opens the session: born after the probe was asked for, not
    // at start.
    let probe = exporter
        .scrape_with("/probe?target=db", &[("Accept", OPENMETRICS)])
        .await;
    assert_eq!(probe.status, 200, "{}", probe.body);
    assert!(is_up(&openmetrics::parse(&probe.body)), "{}", probe.body);
    let client = cluster.superuser_session("sharding-watch").await;
    let born: Vec<std::time::SystemTime> = client
        .query(
            "SELECT backend_start FROM pg_stat_activity WHERE application_name = 'dbconn_exporter'",
            &[],
        )
        .await
        .expect("backend_start")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(born.len(), 1, "one session after the probe");
    assert!(born[0] >= before, "the session was opened before the probe");
    drop(client);
    // Probes within the idle timeout reuse it.
    for _ in 0..3 {
        let probe = exporter.scrape_with("/probe?target=db", &[]).await;
        assert_eq!(probe.status, 200);
    }
    assert_eq!(exporter_sessions(&cluster).await.values().sum::<i64>(), 1);

    // Two seconds without a probe: closed.
    wait_for(Duration::from_secs(30), async || {
        match exporter_sessions(&cluster).await.values().sum::<i64>() {
            0 => Ok(()),
            n => Err(format!("{n} exporter sessions left")),
        }
    })
    .await;
    assert!(
        exporter.logs().contains("no read for the idle timeout"),
        "{}",
        exporter.logs()
    );
    // And the next probe opens it again.
    let probe = exporter
        .scrape_with("/probe?target=db", &[("Accept", OPENMETRICS)])
        .await;
    assert!(is_up(&openmetrics::parse(&probe.body)), "{}", probe.body);
    assert_eq!(exporter_sessions(&cluster).await.values().sum::<i64>(), 1);
}

/// Four clients probing one target at once, in bursts with pauses longer than the
/// idle timeout between them, so that the session is closed and reopened again and
/// again, some probes arriving while it closes: every probe is answered up. Beside
/// it, the exporter's sessions on the server, sampled in a tight loop: never more
/// than the new one and a closing one whose backend has not exited yet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_probes_across_idle_closes_are_all_up() {
    let cluster = PgCluster::start(PgOptions::default());
    let file = config(
        &[("db", &cluster.dsn("postgres", "postgres"))],
        "collection:\n  session_mode: lazy\n  session_idle_timeout: 1s\n",
    );
    let exporter = Exporter::start(&[file.arg()]);

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watch = cluster.superuser_session("sharding-watch").await;
    let sampler = tokio::spawn({
        let stop = std::sync::Arc::clone(&stop);
        async move {
            let (mut peak, mut samples) = (0i64, 0u64);
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let n: i64 = watch
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dbconn_exporter'",
                        &[],
                    )
                    .await
                    .expect("count the exporter's sessions")
                    .get(0);
                peak = peak.max(n);
                samples += 1;
            }
            (peak, samples)
        }
    });

    let mut probes = 0;
    for round in 0..6 {
        // A pause around the idle timeout: sometimes past it (closed, or closing as
        // the burst arrives), sometimes just short of it.
        tokio::time::sleep(Duration::from_millis(700 + 100 * round)).await;
        let burst = (0..4).map(|_| async {
            for _ in 0..3 {
                let probe = exporter
                    .scrape_with("/probe?target=db", &[("Accept", OPENMETRICS)])
                    .await;
                assert_eq!(probe.status, 200, "{}", probe.body);
                assert!(is_up(&openmetrics::parse(&probe.body)), "{}", probe.body);
            }
        });
        futures::future::join_all(burst).await;
        probes += 12;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (peak, samples) = sampler.await.expect("sampler");
    eprintln!("{probes} probes up; at most {peak} exporter sessions in {samples} samples");
    assert!(samples > 0);
    assert!(
        (1..=2).contains(&peak),
        "{peak} exporter sessions listed at once"
    );
    // The session was closed for idleness and reopened along the way; only the
    // first connect is news at info, the routine reopenings are debug.
    let logs = exporter.logs();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let said = |level: &str, message: &str| {
        lines
            .iter()
            .filter(|l| l["level"] == level && l["fields"]["message"] == message)
            .count()
    };
    assert!(
        said("DEBUG", "closing the session: no read for the idle timeout") >= 1,
        "{logs}"
    );
    assert!(
        said("DEBUG", "connected: reopened after the idle close") >= 1,
        "{logs}"
    );
    assert_eq!(said("INFO", "connected"), 1, "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_lists_every_target_in_http_sd_format() {
    // Lazy: nothing connects, so the hosts need not exist.
    let file = ConfigFile::new(
        "targets:\n  - name: orders \"eu\"\n    dsn: postgres://u@127.0.0.1:1/orders\n  \
         - name: shop\n    dsn: mysql://u@127.0.0.1:1/\n\
         collection:\n  session_mode: lazy\n",
    );
    let exporter = Exporter::start(&[file.arg()]);
    let r = exporter.scrape_with("/discovery", &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let json: serde_json::Value = serde_json::from_str(&r.body).expect("JSON");
    assert_eq!(
        json,
        serde_json::json!([
            {"targets": ["orders \"eu\""], "labels": {
                "__meta_dbconn_target": "orders \"eu\"",
                "__meta_dbconn_engine": "postgresql"}},
            {"targets": ["shop"], "labels": {
                "__meta_dbconn_target": "shop",
                "__meta_dbconn_engine": "mysql"}},
        ])
    );
}

#[test]
fn bad_session_settings_refuse_to_start() {
    for (collection, expect) in [
        (
            "collection:\n  session_mode: sometimes\n",
            "collection.session_mode: must be eager or lazy",
        ),
        (
            "collection:\n  session_mode: lazy\n  session_idle_timeout: 0s\n",
            "collection.session_idle_timeout: must be a positive duration",
        ),
        (
            "collection:\n  session_idle_timeout: 5m\n",
            "collection.session_idle_timeout: only used with session_mode: lazy",
        ),
        (
            "collection:\n  session_mode: lazy\n  session_idle_timeout: 500ms\n",
            "collection.session_idle_timeout: 500ms is below the minimum of 1s",
        ),
        (
            "collection:\n  session_mode: lazy\n  session_idle_timeout: 36000000000s\n",
            "collection.session_idle_timeout: 36000000000s is above the maximum of 365d",
        ),
        (
            "collection:\n  statement_timeout: 400d\n",
            "collection.statement_timeout: 34560000s is above the maximum of 365d",
        ),
    ] {
        let file = config(&[("db", "postgres://u:hunter2@127.0.0.1:1/db")], collection);
        let (status, printed) = Exporter::start_expect_failure(&[file.arg()]);
        assert_eq!(status.code(), Some(1), "{printed}");
        assert!(printed.contains(expect), "{collection}: {printed}");
        assert!(!printed.contains("hunter2"), "{printed}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lazy_session_cannot_be_opened_on_a_server_already_full() {
    // 10 slots, 3 reserved for superusers: 7 ordinary ones, all taken by `app`
    // before the exporter's first probe.
    let cluster = PgCluster::start(PgOptions {
        max_connections: 10,
        superuser_reserved_connections: 3,
        ..PgOptions::default()
    });
    cluster
        .exec("CREATE ROLE app LOGIN; CREATE ROLE monitor LOGIN IN ROLE pg_monitor")
        .await;
    let file = config(
        &[("db", &cluster.dsn("monitor", "postgres"))],
        "collection:\n  session_mode: lazy\n",
    );
    let exporter = Exporter::start(&[file.arg()]);
    let mut held = Vec::new();
    let refusal = cluster.fill_until_refused("app", &mut held, 7).await;
    assert_eq!(
        refusal.as_db_error().map(|e| e.code().code()),
        Some("53300"),
        "{refusal}"
    );
    let probe = exporter
        .scrape_with("/probe?target=db", &[("Accept", OPENMETRICS)])
        .await;
    assert_eq!(probe.status, 200, "{}", probe.body);
    let m = openmetrics::parse(&probe.body);
    assert!(!is_up(&m), "{}", probe.body);
    assert_eq!(
        m.value(
            "dbconn_connect_errors_total",
            &[("target", "db"), ("reason", "too_many_connections")]
        ),
        Some(1.0),
        "{}",
        probe.body
    );
}

/// The README's job is the one this file runs, but for its placeholders and intervals.
#[test]
fn the_readme_shows_the_job_this_test_runs() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("read README.md");
    let start = readme
        .find("scrape_configs:\n  - job_name: dbconn\n    metrics_path: /probe")
        .expect("the README shows the sharded job");
    let end = start
        + readme[start..]
            .find("```")
            .expect("the job's code block ends");
    let shown = readme[start..end]
        .replace("exporter-0:10071", "EXPORTER")
        .replace("shard 0 of 2", "shard SHARD of 2")
        .replace("regex: \"0\"", "regex: \"SHARD\"")
        .replace("refresh_interval: 30s", "refresh_interval: 1s");
    assert_eq!(shown, SHARDED_JOB);
}
