//! The shipped dashboards' panel queries, run against a real Prometheus: one copy
//! for every end-to-end test, so that each engine's run requires data from the
//! panels of its own engine with the same substitution Grafana does.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::prometheus::Prometheus;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether a webhook payload carries `alertname` for `target` with `status`.
pub fn carries(body: &serde_json::Value, alertname: &str, target: &str, status: &str) -> bool {
    carries_labels(body, alertname, status, &[("target", target)])
}

/// Whether a webhook payload carries `alertname` with `status` and every one of
/// `labels`.
pub fn carries_labels(
    body: &serde_json::Value,
    alertname: &str,
    status: &str,
    labels: &[(&str, &str)],
) -> bool {
    body["alerts"].as_array().is_some_and(|alerts| {
        alerts.iter().any(|a| {
            a["status"] == status
                && a["labels"]["alertname"] == alertname
                && labels.iter().all(|(k, v)| a["labels"][*k] == *v)
        })
    })
}

/// A dashboard query with Grafana's template variables replaced the way Grafana
/// would for a dashboard showing one target (`$pooler` is the target of a repeated
/// PgBouncer row).
pub fn substitute(expr: &str, target: &str) -> String {
    expr.replace("${target:regex}", target)
        .replace("${target}", target)
        .replace("$target", target)
        .replace("${pooler}", target)
        .replace("$pooler", target)
        .replace("$__rate_interval", "1m")
        .replace("${__rate_interval}", "1m")
        .replace("$__interval", "1s")
        .replace("$__range", "5m")
}

/// Every query listed in dashboards/queries.json (built with the dashboards).
pub fn queries() -> Vec<serde_json::Value> {
    let listing = std::fs::read_to_string(repo().join("dashboards/queries.json"))
        .expect("dashboards/queries.json (.venv/bin/python3 mixin/build.py writes it)");
    serde_json::from_str(&listing).expect("queries JSON")
}

/// The engines a query is marked for.
pub fn engines(query: &serde_json::Value) -> Vec<&str> {
    query["engines"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e.as_str()).collect())
        .unwrap_or_default()
}

/// Runs every dashboard query for each `(target, engine)` and requires at least one
/// series back wherever the query's `engines` include the target's engine (the
/// others must still be accepted by Prometheus). Polls up to `patience`: rates need
/// two samples inside their window.
pub async fn require_data(prometheus: &Prometheus, targets: &[(&str, &str)], patience: Duration) {
    let queries = queries();
    assert!(
        queries.len() >= 20,
        "only {} dashboard queries",
        queries.len()
    );
    // Every engine named is one the exporter reads: a misspelt one would exempt its
    // query from the data check below without a word.
    let known = ["postgresql", "mysql", "mariadb", "pgbouncer"];
    for q in &queries {
        let named = engines(q);
        assert!(
            !named.is_empty() && named.iter().all(|e| known.contains(e)),
            "dashboard query with engines outside {known:?}: {q}"
        );
    }
    for (_, engine) in targets {
        assert!(
            queries.iter().any(|q| engines(q).contains(engine)),
            "no dashboard query is marked for {engine}"
        );
    }
    let deadline = Instant::now() + patience;
    let mut empty = Vec::new();
    for q in &queries {
        let named = engines(q);
        for (target, engine) in targets {
            let expr = substitute(q["expr"].as_str().expect("expr"), target);
            loop {
                let result = prometheus.query(&expr).await;
                if !result.is_empty() || !named.contains(engine) {
                    break;
                }
                if Instant::now() > deadline {
                    empty.push(format!(
                        "{} / {} / {} [{engine}]: {expr}",
                        q["dashboard"], q["panel"], q["refId"]
                    ));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    assert!(
        empty.is_empty(),
        "dashboard queries with no data:\n{}",
        empty.join("\n")
    );
}
