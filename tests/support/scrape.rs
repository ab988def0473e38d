//! What most tests do with the exporter: start it on one target with a config file,
//! scrape it, and read that target's samples. One copy here, so that a test reads as
//! the situation it builds and the values it expects, not as plumbing.
//!
//! A test with one target names it [`TARGET`]; tests with several name each and read
//! them through [`Metrics::get`] / [`Metrics::value`] with the name.

use std::collections::BTreeSet;

use super::ConfigFile;
use super::exporter::{Exporter, OPENMETRICS};
use super::http::Response;
use super::openmetrics::{self, Metrics};

/// The target name of every single-target test.
pub const TARGET: &str = "db";

/// Thresholds of 1 and 2 seconds keep the duration tests short; a 1 s backoff cap
/// keeps recovery tests from waiting the default 10 s.
pub const FAST_COLLECTION: &str =
    "collection:\n  duration_thresholds: [1s, 2s, 30s]\n  connect_backoff_max: 1s\n";

/// Only the 1 s backoff cap: failed connects repeat quickly.
pub const FAST_BACKOFF: &str = "collection:\n  connect_backoff_max: 1s\n";

/// Every `reason` label of `dbconn_connect_errors_total`.
pub const CONNECT_ERROR_REASONS: [&str; 6] = [
    "too_many_connections",
    "auth_failed",
    "unreachable",
    "timeout",
    "tls",
    "other",
];

/// A config file naming each `(name, dsn)` target, followed by `collection` (a whole
/// `collection:` section, or nothing).
pub fn config(targets: &[(&str, &str)], collection: &str) -> ConfigFile {
    let mut yaml = String::from("targets:\n");
    for (name, dsn) in targets {
        yaml.push_str(&format!("  - name: {name}\n    dsn: \"{dsn}\"\n"));
    }
    yaml.push_str(collection);
    ConfigFile::new(&yaml)
}

/// The exporter reading `dsn` as [`TARGET`], configured by a file (kept alive by
/// the guard returned with it).
pub fn start_exporter(dsn: &str, collection: &str) -> (Exporter, ConfigFile) {
    start_targets(&[(TARGET, dsn)], collection)
}

/// The exporter reading several named targets.
pub fn start_targets(targets: &[(&str, &str)], collection: &str) -> (Exporter, ConfigFile) {
    let config = config(targets, collection);
    (Exporter::start(&[config.arg()]), config)
}

/// One strictly parsed scrape of /metrics.
pub async fn scrape(exporter: &Exporter) -> Metrics {
    exporter.scrape().await.metrics
}

/// GET /metrics as Prometheus asks for it, with its timeout header: the response
/// as sent, unparsed (for tests that time the answer or parse many at once).
pub async fn get_within(exporter: &Exporter, timeout: &str) -> Response {
    exporter
        .scrape_with(
            "/metrics",
            &[
                ("Accept", OPENMETRICS),
                ("X-Prometheus-Scrape-Timeout-Seconds", timeout),
            ],
        )
        .await
}

/// [`get_within`], parsed; the answer must be 200.
pub async fn scrape_within(exporter: &Exporter, timeout: &str) -> Metrics {
    let r = get_within(exporter, timeout).await;
    assert_eq!(r.status, 200, "{}", r.body);
    openmetrics::parse(&r.body)
}

/// [`TARGET`]'s sample; panics (showing the exposition) when it is missing.
pub fn v(m: &Metrics, name: &str, labels: &[(&str, &str)]) -> f64 {
    m.get(TARGET, name, labels)
}

/// [`TARGET`]'s sample, if there is one.
pub fn value(m: &Metrics, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut all = vec![("target", TARGET)];
    all.extend_from_slice(labels);
    m.value(name, &all)
}

/// Whether [`TARGET`] is up in this scrape.
pub fn is_up(m: &Metrics) -> bool {
    value(m, "dbconn_up", &[]) == Some(1.0)
}

/// The sum of every sample named `name` (all targets, all labels).
pub fn total(m: &Metrics, name: &str) -> f64 {
    m.series(name).iter().map(|(_, v)| v).sum()
}

/// Client sessions in every state.
pub fn total_connections(m: &Metrics) -> f64 {
    total(m, "dbconn_connections")
}

/// [`TARGET`]'s `dbconn_scrape_collector_success` for one part of the read.
pub fn collector_success(m: &Metrics, collector: &str) -> f64 {
    v(
        m,
        "dbconn_scrape_collector_success",
        &[("collector", collector)],
    )
}

/// `target`'s failed connects counted under `reason`.
pub fn connect_errors(m: &Metrics, target: &str, reason: &str) -> f64 {
    m.get(target, "dbconn_connect_errors_total", &[("reason", reason)])
}

/// The distinct (database, user, application) origins in `dbconn_connections_by_origin`.
pub fn origins(m: &Metrics) -> BTreeSet<(String, String, String)> {
    m.series("dbconn_connections_by_origin")
        .iter()
        .map(|(l, _)| {
            (
                l["database"].clone(),
                l["user"].clone(),
                l["application"].clone(),
            )
        })
        .collect()
}

/// Locks sessions are waiting for (`granted="false"`), summed.
pub fn awaited_locks(m: &Metrics) -> f64 {
    m.series("dbconn_locks")
        .iter()
        .filter(|(labels, _)| labels["granted"] == "false")
        .map(|(_, value)| value)
        .sum()
}

/// Waits until the exporter is up on [`TARGET`] and its session is the only one the
/// server lists (set-up sessions closed just before stay listed until their backend
/// or thread has gone, and would hold a slot).
pub async fn wait_alone(exporter: &Exporter) {
    exporter
        .scrape_until("the exporter connected and alone", |m| {
            is_up(m) && total_connections(m) == 1.0
        })
        .await;
}
