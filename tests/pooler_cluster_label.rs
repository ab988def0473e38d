//! The `cluster` label that joins a PgBouncer pooler to the database behind it comes
//! from Prometheus, not from the exporter. The two scrape jobs the runbooks show for
//! setting it (per series on `/metrics`, per target on `/probe`) are read from
//! docs/runbooks/README.md and run against a real exporter and Prometheus: the label
//! must land on the database targets' series, and the database side of the pooler
//! alerts' join must see one database per `cluster` value.

mod support;

use std::time::{Duration, Instant};

use support::pg::{PgCluster, PgOptions};
use support::prometheus::Prometheus;
use support::scrape::start_targets;

async fn wait_for_series(
    prometheus: &Prometheus,
    expr: &str,
    expected: usize,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let result = prometheus.query(expr).await;
        if result.len() == expected {
            return result;
        }
        assert!(
            Instant::now() < deadline,
            "{expr}: {} series, not {expected}: {result:?}\n{}",
            result.len(),
            prometheus.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_jobs_put_the_cluster_label_on_the_database_targets() {
    let cluster = PgCluster::start(PgOptions::default());
    let dsn = cluster.superuser_dsn();
    let (exporter, _config) = start_targets(&[("orders-db", &dsn), ("billing-db", &dsn)], "");
    let (metrics_job, probe_job) = support::prometheus::documented_cluster_jobs();
    let address = exporter.address().to_string();
    // Both jobs in one Prometheus: the /probe one under its own job name.
    let probe_job = probe_job
        .strip_prefix("scrape_configs:\n")
        .expect("the /probe block is a scrape_configs list")
        .replacen("job_name: dbconn\n", "job_name: dbconn-probe\n", 1);
    let yaml = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n{}{}",
        metrics_job, probe_job
    )
    .replace("exporter:10071", &address);
    let prometheus = Prometheus::start_yaml(&yaml);

    for job in ["dbconn", "dbconn-probe"] {
        for (target, value) in [("orders-db", "orders"), ("billing-db", "billing")] {
            wait_for_series(
                &prometheus,
                &format!(
                    "dbconn_usage_ratio{{job=\"{job}\",target=\"{target}\",cluster=\"{value}\"}}"
                ),
                1,
            )
            .await;
        }
    }
    // The database side of PgBouncerQueueWithDatabaseHeadroom / ...AndDatabaseFull:
    // one value per cluster, whichever job read it.
    let behind = wait_for_series(
        &prometheus,
        "max by (cluster) (dbconn_usage_ratio{cluster!=\"\"} unless on (job, instance, target) \
         dbconn_target_info{engine=\"pgbouncer\"})",
        2,
    )
    .await;
    let mut clusters: Vec<&str> = behind
        .iter()
        .filter_map(|s| s["metric"]["cluster"].as_str())
        .collect();
    clusters.sort_unstable();
    assert_eq!(clusters, ["billing", "orders"]);
    drop(prometheus);
}
