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

/// Every query listed in tests/dashboard-queries.json (built with the dashboards).
pub fn queries() -> Vec<serde_json::Value> {
    let listing = std::fs::read_to_string(repo().join("tests/dashboard-queries.json"))
        .expect("tests/dashboard-queries.json (.venv/bin/python3 mixin/build.py writes it)");
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

/// The data links of the shipped dashboards' panels (Grafana fills
/// `${__field.labels.<name>}` from the series the user clicks), one copy of each.
pub fn data_links() -> Vec<String> {
    let mut links = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(repo().join("dashboards")).expect("list dashboards/") {
        let path = entry.expect("dir entry").path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if !name.is_some_and(|n| n.ends_with(".json")) {
            continue;
        }
        let board: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read a dashboard"))
                .expect("dashboard JSON");
        for panel in board["panels"].as_array().into_iter().flatten() {
            for link in panel["fieldConfig"]["defaults"]["links"]
                .as_array()
                .into_iter()
                .flatten()
            {
                links.insert(link["url"].as_str().expect("link url").to_string());
            }
        }
    }
    links.into_iter().collect()
}

/// A data link as Grafana renders it for a series with `labels` (a Prometheus
/// result's `metric`).
pub fn fill_link(url: &str, labels: &serde_json::Value) -> String {
    let mut out = url.to_string();
    for (name, value) in labels.as_object().into_iter().flatten() {
        out = out.replace(
            &format!("${{__field.labels.{name}}}"),
            value.as_str().unwrap_or_default(),
        );
    }
    assert!(
        !out.contains("${"),
        "{url}: a variable left unfilled: {out}"
    );
    out
}

/// Splits `http://host:port/path` into the address and the path.
pub fn split_http_url(url: &str) -> (String, String) {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("not an http:// link: {url}"));
    let slash = rest.find('/').unwrap_or(rest.len());
    (rest[..slash].to_string(), rest[slash..].to_string())
}
