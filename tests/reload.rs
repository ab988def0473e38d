//! Reload without restart, for real: the exporter binary reading a real PostgreSQL,
//! its configuration file rewritten under it, SIGHUP and `POST /-/reload` (sent with
//! curl). Which sessions survive a reload is read where it matters, on the server:
//! each target reads its own database, so `pg_stat_activity` tells each target's
//! backend pid. A real Prometheus evaluates the shipped alert on a refused reload.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::ConfigFile;
use support::exporter::{Exporter, Launch};
use support::openmetrics::Metrics;
use support::pg::PgCluster;
use support::proc;
use support::prometheus::{Prometheus, PrometheusConfig};

const SUCCESSFUL: &str = "dbconn_config_last_reload_successful";
const SUCCESS_TIME: &str = "dbconn_config_last_reload_success_timestamp_seconds";

/// The YAML file for `(name, dsn)` targets.
fn yaml(targets: &[(&str, &str)]) -> String {
    let mut text = String::from("targets:\n");
    for (name, dsn) in targets {
        text.push_str(&format!("  - name: {name}\n    dsn: \"{dsn}\"\n"));
    }
    text
}

/// Replaces the file's content at once (a rename), as configuration management does.
fn rewrite(config: &ConfigFile, text: &str) {
    let tmp = config.path.with_extension("new");
    std::fs::write(&tmp, text).expect("write the new configuration");
    std::fs::rename(&tmp, &config.path).expect("move the new configuration into place");
}

/// `curl -X METHOD` against the exporter at `address`: (status, body).
fn curl_at(address: &str, method: &str, path: &str) -> (u16, String) {
    let curl = proc::require_binary("curl", &["/usr/bin/curl"]);
    let out = std::process::Command::new(curl)
        .args(["-sS", "-X", method, "-w", "\n%{http_code}"])
        .arg(format!("http://{address}{path}"))
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8 answer");
    let (body, code) = text.rsplit_once('\n').expect("the status line");
    (code.parse().expect("a status code"), body.to_string())
}

fn curl(exporter: &Exporter, method: &str, path: &str) -> (u16, String) {
    curl_at(exporter.address(), method, path)
}

/// `POST /-/reload`, from a blocking thread: curl waits for the whole reload.
async fn post_reload(exporter: &Exporter) -> (u16, String) {
    let address = exporter.address().to_string();
    tokio::task::spawn_blocking(move || curl_at(&address, "POST", "/-/reload"))
        .await
        .expect("curl thread")
}

/// The exporter's backends by database: database → pids.
async fn exporter_backends(watcher: &tokio_postgres::Client) -> BTreeMap<String, Vec<i32>> {
    let rows = watcher
        .query(
            "SELECT datname::text, pid FROM pg_stat_activity \
             WHERE application_name = 'dbconn_exporter' ORDER BY pid",
            &[],
        )
        .await
        .expect("list the exporter's backends");
    let mut by_db: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for row in rows {
        by_db.entry(row.get(0)).or_default().push(row.get(1));
    }
    by_db
}

/// Scrapes (a read is what reopens a session) until the exporter holds exactly one
/// backend on each of `databases` and none elsewhere; returns each one's pid.
async fn wait_for_backends(
    exporter: &Exporter,
    watcher: &tokio_postgres::Client,
    databases: &[&str],
) -> BTreeMap<String, i32> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        exporter.scrape().await;
        let now = exporter_backends(watcher).await;
        let exact = now.len() == databases.len()
            && databases
                .iter()
                .all(|d| now.get(*d).is_some_and(|pids| pids.len() == 1));
        if exact {
            return now
                .into_iter()
                .filter_map(|(db, pids)| Some((db, *pids.first()?)))
                .collect();
        }
        assert!(
            Instant::now() < deadline,
            "the exporter's backends never became one on each of {databases:?}: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Scrapes until the targets up are exactly `names` (and no other target is served).
async fn wait_for_targets(exporter: &Exporter, names: &[&str]) -> Metrics {
    exporter
        .scrape_until(&format!("exactly {names:?} up"), |m| {
            let served: Vec<String> = m
                .series("dbconn_up")
                .into_iter()
                .filter(|(_, v)| *v == 1.0)
                .filter_map(|(labels, _)| labels.get("target").cloned())
                .collect();
            m.series("dbconn_up").len() == names.len()
                && names.iter().all(|n| served.iter().any(|s| s == n))
        })
        .await
}

fn exporter_value(m: &Metrics, name: &str) -> f64 {
    m.value(name, &[])
        .unwrap_or_else(|| panic!("no {name} in:\n{}", m.text()))
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_keeps_unchanged_sessions_and_replaces_only_what_changed() {
    let cluster = PgCluster::start(Default::default());
    for db in ["alpha", "beta", "gamma", "beta2"] {
        cluster.exec(&format!("CREATE DATABASE {db}")).await;
    }
    let watcher = cluster.superuser_session("watcher").await;
    let (a, b, c) = (
        cluster.dsn("postgres", "alpha"),
        cluster.dsn("postgres", "beta"),
        cluster.dsn("postgres", "gamma"),
    );
    let config = ConfigFile::new(&yaml(&[("A", &a), ("B", &b)]));
    let before_start = unix_now();
    let exporter = Exporter::start(&[config.arg(), "--web.enable-lifecycle".into()]);
    let after_start = unix_now();

    // At start: both read, one session each; the last load is the one at start.
    let m = wait_for_targets(&exporter, &["A", "B"]).await;
    assert_eq!(exporter_value(&m, SUCCESSFUL), 1.0);
    let started_at = exporter_value(&m, SUCCESS_TIME);
    assert!(
        (before_start - 1.0..=after_start + 1.0).contains(&started_at),
        "{started_at} is not the start ({before_start}..{after_start})"
    );
    let pids = wait_for_backends(&exporter, &watcher, &["alpha", "beta"]).await;
    let b_pid = pids["beta"];

    // B unchanged, C new, A removed; SIGHUP.
    rewrite(&config, &yaml(&[("B", &b), ("C", &c)]));
    exporter.signal(libc::SIGHUP);
    let m = wait_for_targets(&exporter, &["B", "C"]).await;
    assert!(m.value("dbconn_up", &[("target", "A")]).is_none());
    let pids = wait_for_backends(&exporter, &watcher, &["beta", "gamma"]).await;
    assert_eq!(
        pids["beta"], b_pid,
        "B reconnected though it did not change"
    );
    let c_pid = pids["gamma"];
    let logs = exporter.logs();
    assert!(
        logs.lines().any(|l| l.contains("configuration reloaded")
            && l.contains("\"trigger\":\"SIGHUP\"")
            && l.contains("\"kept\":1")
            && l.contains("\"started\":1")
            && l.contains("\"replaced\":0")
            && l.contains("\"retired\":1")),
        "{logs}"
    );
    let m = exporter.scrape().await.metrics;
    assert_eq!(exporter_value(&m, SUCCESSFUL), 1.0);
    let reloaded_at = exporter_value(&m, SUCCESS_TIME);
    assert!(reloaded_at > started_at, "{reloaded_at} <= {started_at}");

    // Reloads at once (HTTP and signals) run one after the other: every one answers
    // 200, and each target still has exactly one session, the same one.
    let mut posts = Vec::new();
    for _ in 0..4 {
        let address = exporter.address().to_string();
        posts.push(tokio::task::spawn_blocking(move || {
            curl_at(&address, "POST", "/-/reload")
        }));
        exporter.signal(libc::SIGHUP);
    }
    for p in posts {
        assert_eq!(p.await.expect("curl thread").0, 200);
    }
    let pids = wait_for_backends(&exporter, &watcher, &["beta", "gamma"]).await;
    assert_eq!((pids["beta"], pids["gamma"]), (b_pid, c_pid));

    // B's DSN changes (another database): B reconnects, C keeps its session.
    let b2 = cluster.dsn("postgres", "beta2");
    rewrite(&config, &yaml(&[("B", &b2), ("C", &c)]));
    let (status, body) = post_reload(&exporter).await;
    assert_eq!((status, body.as_str()), (200, "configuration reloaded\n"));
    let logs = exporter.logs();
    assert!(
        logs.lines().any(|l| l.contains("configuration reloaded")
            && l.contains("\"trigger\":\"POST /-/reload\"")
            && l.contains("\"kept\":1")
            && l.contains("\"replaced\":1")),
        "{logs}"
    );
    let pids = wait_for_backends(&exporter, &watcher, &["beta2", "gamma"]).await;
    assert_ne!(pids["beta2"], b_pid);
    assert_eq!(
        pids["gamma"], c_pid,
        "C reconnected though it did not change"
    );
    wait_for_targets(&exporter, &["B", "C"]).await;

    // An invalid file: refused with its reason (and never the password), the
    // previous configuration still served, the failure on /metrics.
    let m = exporter.scrape().await.metrics;
    let last_success = exporter_value(&m, SUCCESS_TIME);
    rewrite(
        &config,
        &yaml(&[
            ("B", &b2),
            ("C", &c),
            ("D", "postgres://postgres:hunter2@127.0.0.1:99999/postgres"),
        ]),
    );
    let (status, body) = post_reload(&exporter).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body.starts_with("failed to reload config: targets[2] (name \"D\"): "),
        "{body}"
    );
    assert!(!body.contains("hunter2"), "{body}");
    // The answer may reach the test before the log line is written: wait for it.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let (logs, refusal) = loop {
        let logs = exporter.logs();
        let refusal = logs
            .lines()
            .find(|l| {
                l.contains("configuration reload failed; still serving the previous configuration")
            })
            .map(str::to_string);
        if let Some(refusal) = refusal {
            break (logs, refusal);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no log of the refusal:\n{logs}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(refusal.contains("targets[2]"), "{refusal}");
    assert!(!logs.contains("hunter2"), "{logs}");
    let m = wait_for_targets(&exporter, &["B", "C"]).await;
    assert_eq!(exporter_value(&m, SUCCESSFUL), 0.0);
    assert_eq!(exporter_value(&m, SUCCESS_TIME), last_success);
    let pids = wait_for_backends(&exporter, &watcher, &["beta2", "gamma"]).await;
    assert_eq!(pids["gamma"], c_pid);

    // Fixed: the reload succeeds, and its time is the new last success.
    rewrite(&config, &yaml(&[("B", &b2), ("C", &c)]));
    let (status, _) = post_reload(&exporter).await;
    assert_eq!(status, 200);
    let m = exporter.scrape().await.metrics;
    assert_eq!(exporter_value(&m, SUCCESSFUL), 1.0);
    assert!(exporter_value(&m, SUCCESS_TIME) > last_success);
    let pids = wait_for_backends(&exporter, &watcher, &["beta2", "gamma"]).await;
    assert_eq!(pids["gamma"], c_pid);
    let b2_pid = pids["beta2"];

    // Only `collection:` changes, in a setting sessions are not set up with: the
    // targets take it in place, on the same sessions.
    let targets = yaml(&[("B", &b2), ("C", &c)]);
    rewrite(&config, &format!("{targets}collection:\n  origin_cap: 2\n"));
    let origins = |m: &Metrics| -> Vec<String> {
        m.series("dbconn_connections_by_origin")
            .into_iter()
            .filter(|(labels, _)| labels.get("target").is_some_and(|t| t == "C"))
            .filter_map(|(labels, _)| labels.get("database").cloned())
            .collect()
    };
    // Three origins now (the watcher and the two exporter sessions), none folded.
    let m = exporter.scrape().await.metrics;
    assert!(!origins(&m).contains(&"other".to_string()), "{}", m.text());
    assert_eq!(post_reload(&exporter).await.0, 200);
    let m = exporter.scrape().await.metrics;
    assert!(origins(&m).contains(&"other".to_string()), "{}", m.text());
    let pids = wait_for_backends(&exporter, &watcher, &["beta2", "gamma"]).await;
    assert_eq!((pids["beta2"], pids["gamma"]), (b2_pid, c_pid));

    // A setting each session is set up with (its statement timeout): every session
    // is replaced by one set up with the new value.
    rewrite(
        &config,
        &format!("{targets}collection:\n  origin_cap: 2\n  statement_timeout: 4s\n"),
    );
    assert_eq!(post_reload(&exporter).await.0, 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pids = wait_for_backends(&exporter, &watcher, &["beta2", "gamma"]).await;
        if pids["beta2"] != b2_pid && pids["gamma"] != c_pid {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the sessions were kept: {pids:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A target nobody listens on: the lifecycle routes need no database.
fn closed_port_target() -> String {
    format!(
        "--target=nowhere=postgres://postgres@127.0.0.1:{}/postgres",
        proc::free_port()
    )
}

#[tokio::test]
async fn the_reload_route_needs_the_lifecycle_flag_and_a_post() {
    let exporter = Exporter::start(&[closed_port_target()]);
    let (status, body) = curl(&exporter, "POST", "/-/reload");
    assert_eq!(
        (status, body.as_str()),
        (403, "Lifecycle API is not enabled.\n")
    );
    assert_eq!(curl(&exporter, "GET", "/-/reload").0, 405);
    // Refused, so nothing was reloaded: the last load is still the one at start.
    assert!(!exporter.logs().contains("configuration reload"));

    // The environment variable stands in for the flag.
    let exporter = Exporter::start_with(
        &[closed_port_target()],
        &Launch {
            env: vec![("DBCONN_WEB_ENABLE_LIFECYCLE".into(), "true".into())],
            ..Launch::default()
        },
    );
    // The target, a --target flag, keeps failing to connect: its counter is at 3
    // (a backoff of 0.5 s, then 1 s, lies between a new target and its third).
    let unreachable = |m: &Metrics| {
        m.value(
            "dbconn_connect_errors_total",
            &[("target", "nowhere"), ("reason", "unreachable")],
        )
    };
    let m = exporter
        .scrape_until("three failed connects", |m| {
            unreachable(m).is_some_and(|n| n >= 3.0)
        })
        .await;
    let before = unreachable(&m);
    let (status, body) = curl(&exporter, "POST", "/-/reload");
    assert_eq!((status, body.as_str()), (200, "configuration reloaded\n"));
    // The flag's target is still served, the same target: its counter goes on.
    let m = exporter.scrape().await.metrics;
    assert!(unreachable(&m) >= before, "{}", m.text());
    assert_eq!(curl(&exporter, "GET", "/-/reload").0, 405);
    assert_eq!(curl(&exporter, "PUT", "/-/reload").0, 405);
}

#[tokio::test]
async fn the_reload_state_is_on_metrics_and_not_on_probes() {
    let exporter = Exporter::start(&[closed_port_target()]);
    let m = exporter.scrape().await.metrics;
    assert_eq!(exporter_value(&m, SUCCESSFUL), 1.0);
    assert!(m.value(SUCCESS_TIME, &[]).is_some());
    let probe = exporter
        .scrape_with(
            "/probe?target=nowhere",
            &[("Accept", support::exporter::OPENMETRICS)],
        )
        .await;
    assert_eq!(probe.status, 200, "{}", probe.body);
    assert!(
        probe.body.contains("dbconn_up{target=\"nowhere\"}"),
        "{}",
        probe.body
    );
    assert!(!probe.body.contains("dbconn_config_"), "{}", probe.body);
    // The classic text, as promtool lints it.
    let text = exporter.scrape_with("/metrics", &[]).await;
    assert!(
        text.body
            .contains("\ndbconn_config_last_reload_successful 1.0\n"),
        "{}",
        text.body
    );
    support::promtool_check_metrics(&text.body);

    // In lazy mode /metrics reads no target, and still carries the reload state.
    let lazy = ConfigFile::new("collection:\n  session_mode: lazy\n");
    let exporter = Exporter::start(&[closed_port_target(), lazy.arg()]);
    let m = exporter.scrape().await.metrics;
    assert_eq!(exporter_value(&m, SUCCESSFUL), 1.0);
    assert!(m.value(SUCCESS_TIME, &[]).is_some());
    assert!(m.series("dbconn_up").is_empty(), "{}", m.text());
}

/// The alert's series in Prometheus: `firing` ones, or any state.
async fn reload_alerts(prometheus: &Prometheus, state: Option<&str>) -> Vec<serde_json::Value> {
    let state = state
        .map(|s| format!(",alertstate=\"{s}\""))
        .unwrap_or_default();
    prometheus
        .query(&format!(
            "ALERTS{{alertname=\"DatabaseExporterConfigReloadFailed\"{state}}}"
        ))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_reload_fires_its_alert_in_prometheus_until_a_reload_succeeds() {
    let port = proc::free_port();
    let good = yaml(&[(
        "nowhere",
        &format!("postgres://postgres@127.0.0.1:{port}/postgres"),
    )]);
    let config = ConfigFile::new(&good);
    let exporter = Exporter::start(&[config.arg(), "--web.enable-lifecycle".into()]);
    let scratch = proc::ScratchDir::new("dbconn-reload-rules");
    let rules = support::prometheus::rules_with_short_for(
        &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("alerts/dbconn.rules.yml"),
        scratch.path(),
        "2s",
    );
    let prometheus = Prometheus::start(PrometheusConfig {
        exporters: &[exporter.address().to_string()],
        rule_files: &[rules],
        alertmanager: None,
        scrape_interval: "1s",
    });
    prometheus.wait_for_scrapes(1).await;
    assert!(reload_alerts(&prometheus, None).await.is_empty());

    rewrite(
        &config,
        "targets:\n  - name: nowhere\n    dsn: [not, a, dsn]\n",
    );
    assert_eq!(post_reload(&exporter).await.0, 500);
    let deadline = Instant::now() + Duration::from_secs(60);
    let firing = loop {
        let firing = reload_alerts(&prometheus, Some("firing")).await;
        if !firing.is_empty() {
            break firing;
        }
        assert!(
            Instant::now() < deadline,
            "the alert never fired:\n{}",
            prometheus.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // One alert for the exporter, with its instance and no target.
    assert_eq!(firing.len(), 1, "{firing:?}");
    let labels = &firing[0]["metric"];
    assert_eq!(labels["instance"], exporter.address(), "{labels}");
    assert_eq!(labels["severity"], "warning", "{labels}");
    assert!(labels.get("target").is_none(), "{labels}");

    rewrite(&config, &good);
    assert_eq!(post_reload(&exporter).await.0, 200);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !reload_alerts(&prometheus, None).await.is_empty() {
        assert!(Instant::now() < deadline, "the alert never resolved");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `count` targets named t0, t1, … on a port nobody listens on.
fn closed_port_targets(count: usize, port: u16) -> String {
    let dsn = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let names: Vec<String> = (0..count).map(|i| format!("t{i}")).collect();
    let targets: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), dsn.as_str())).collect();
    yaml(&targets)
}

/// Every target `/metrics` serves, up or down.
async fn served_targets(exporter: &Exporter) -> Vec<String> {
    let m = exporter.scrape().await.metrics;
    let mut names: Vec<String> = m
        .series("dbconn_up")
        .into_iter()
        .filter_map(|(labels, _)| labels.get("target").cloned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_reload_whose_targets_would_not_fit_the_open_files_is_refused() {
    // 400 open files and a cap of 100 connections leave, beside the 64 reserved,
    // room for (400 - 64 - 100) / 4 = 59 targets at 4 descriptors each.
    let port = proc::free_port();
    let config = ConfigFile::new(&closed_port_targets(1, port));
    let exporter = Exporter::start_with(
        &[
            config.arg(),
            "--web.enable-lifecycle".into(),
            "--web.max-connections=100".into(),
        ],
        &Launch {
            open_files: Some(400),
            ..Launch::default()
        },
    );
    rewrite(&config, &closed_port_targets(60, port));
    let (status, body) = post_reload(&exporter).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body.starts_with(
            "failed to reload config: 60 targets do not fit the open file limit: \
             100 HTTP connections"
        ),
        "{body}"
    );
    for part in [
        "need 404 of 400 open files",
        "at most 59 targets",
        "raise the open file limit",
        "lower --web.max-connections",
        "shard the targets across exporters",
    ] {
        assert!(body.contains(part), "{part:?} not in {body}");
    }
    // The previous configuration is still served, and says the reload failed.
    let m = exporter.scrape().await.metrics;
    assert_eq!(exporter_value(&m, SUCCESSFUL), 0.0);
    assert_eq!(served_targets(&exporter).await, vec!["t0".to_string()]);
    assert!(
        exporter
            .logs()
            .lines()
            .any(|l| l.contains("still serving the previous configuration")
                && l.contains("60 targets do not fit")),
        "{}",
        exporter.logs()
    );

    // As many as fit: served.
    rewrite(&config, &closed_port_targets(59, port));
    let (status, body) = post_reload(&exporter).await;
    assert_eq!((status, body.as_str()), (200, "configuration reloaded\n"));
    let m = exporter.scrape().await.metrics;
    assert_eq!(exporter_value(&m, SUCCESSFUL), 1.0);
    assert_eq!(served_targets(&exporter).await.len(), 59);
}

#[tokio::test]
async fn an_empty_configuration_file_is_refused_at_start_and_on_reload() {
    // A reload of a file emptied (as by a copy caught half-way) keeps every target,
    // the file's and the flag's.
    let port = proc::free_port();
    let config = ConfigFile::new(&closed_port_targets(1, port));
    let exporter = Exporter::start(&[
        config.arg(),
        closed_port_target(),
        "--web.enable-lifecycle".into(),
    ]);
    let all = vec!["nowhere".to_string(), "t0".to_string()];
    assert_eq!(served_targets(&exporter).await, all);
    let expected = format!("configuration file {} is empty", config.path.display());
    for text in ["", " \n\n", "# targets:\n#   - name: t0\n"] {
        rewrite(&config, text);
        let (status, body) = post_reload(&exporter).await;
        assert_eq!(status, 500, "{text:?}: {body}");
        assert!(
            body.starts_with(&format!("failed to reload config: {expected}")),
            "{text:?}: {body}"
        );
        assert!(body.contains("move it into place (mv)"), "{body}");
        let m = exporter.scrape().await.metrics;
        assert_eq!(exporter_value(&m, SUCCESSFUL), 0.0);
        assert_eq!(served_targets(&exporter).await, all);
    }

    // At start: exit 1, with or without --target flags.
    let empty = ConfigFile::new("\n# nothing yet\n");
    for args in [vec![empty.arg()], vec![empty.arg(), closed_port_target()]] {
        let (status, printed) = Exporter::start_expect_failure(&args);
        assert_eq!(status.code(), Some(1), "{printed}");
        assert!(
            printed.contains(&format!(
                "configuration file {} is empty",
                empty.path.display()
            )),
            "{printed}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lazy_sessions_turned_eager_reconnect_without_a_scrape() {
    let cluster = PgCluster::start(Default::default());
    let watcher = cluster.superuser_session("watcher").await;
    let targets = yaml(&[("A", &cluster.dsn("postgres", "postgres"))]);
    let config = ConfigFile::new(&format!(
        "{targets}collection:\n  session_mode: lazy\n  session_idle_timeout: 1s\n"
    ));
    let exporter = Exporter::start(&[config.arg(), "--web.enable-lifecycle".into()]);

    // A probe opens the session; a second of idleness closes it.
    let probe = exporter.scrape_with("/probe?target=A", &[]).await;
    assert_eq!(probe.status, 200, "{}", probe.body);
    assert!(
        probe.body.contains("dbconn_up{target=\"A\"} 1"),
        "{}",
        probe.body
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !exporter_backends(&watcher).await.is_empty() {
        assert!(
            Instant::now() < deadline,
            "the idle session was never closed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Eager again: the kept target connects at once, with nobody scraping.
    rewrite(&config, &targets);
    let (status, body) = post_reload(&exporter).await;
    assert_eq!((status, body.as_str()), (200, "configuration reloaded\n"));
    let logs = exporter.logs();
    assert!(
        logs.lines().any(|l| l.contains("configuration reloaded")
            && l.contains("\"kept\":1")
            && l.contains("\"started\":0")),
        "{logs}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let backends = exporter_backends(&watcher).await;
        if backends.get("postgres").is_some_and(|pids| pids.len() == 1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no session after the reload to eager: {backends:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_waits_for_a_login_in_flight_on_a_removed_target() {
    // A "server" that accepts and never answers: the login stays in flight until
    // the test closes its sockets.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let silent_port = silent.local_addr().expect("address").port();
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let accepting = tokio::spawn({
        let held = std::sync::Arc::clone(&held);
        async move {
            while let Ok((socket, _)) = silent.accept().await {
                held.lock().unwrap().push(socket);
            }
        }
    });
    let closed = proc::free_port();
    let nowhere = format!("postgres://postgres@127.0.0.1:{closed}/postgres");
    let config = ConfigFile::new(&yaml(&[
        ("nowhere", &nowhere),
        (
            "silent",
            &format!("postgres://postgres@127.0.0.1:{silent_port}/postgres"),
        ),
    ]));
    let exporter = Exporter::start(&[config.arg(), "--web.enable-lifecycle".into()]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while held.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the exporter never connected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    rewrite(&config, &yaml(&[("nowhere", &nowhere)]));
    let reload = tokio::spawn({
        let address = exporter.address().to_string();
        async move {
            tokio::task::spawn_blocking(move || curl_at(&address, "POST", "/-/reload"))
                .await
                .expect("curl thread")
        }
    });
    // Meanwhile /metrics answers, with the previous configuration: the removed
    // target is still there, and the reload has not answered.
    for _ in 0..3 {
        let m = exporter
            .scrape_with("/metrics", &[("X-Prometheus-Scrape-Timeout-Seconds", "1")])
            .await;
        assert_eq!(m.status, 200, "{}", m.body);
        assert!(
            m.body.contains("dbconn_up{target=\"silent\"}"),
            "{}",
            m.body
        );
        assert!(
            !reload.is_finished(),
            "the reload did not wait for the login"
        );
    }

    // The login fails (the server closed it): the reload completes.
    accepting.abort();
    held.lock().unwrap().clear();
    let (status, body) = reload.await.expect("reload task");
    assert_eq!((status, body.as_str()), (200, "configuration reloaded\n"));
    assert_eq!(served_targets(&exporter).await, vec!["nowhere".to_string()]);
}
