//! The pooler alerts and dashboard row, proven end to end: Debian's PgBouncer with a
//! pool of two in front of a throwaway PostgreSQL, the real exporter reading both,
//! Prometheus giving both the same `cluster` label with the scrape job the runbooks
//! show, the shipped rules (with shortened `for:`; the promtool unit tests cover the
//! real durations), a real Alertmanager, and a webhook receiver here. Ten clients
//! queue on the pool while the database has room: PgBouncerClientsWaiting and
//! PgBouncerQueueWithDatabaseHeadroom must reach the webhook for that pool and
//! resolve once the clients finish, and every dashboard query marked for PgBouncer
//! must return data.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use support::dashboards::carries_labels;
use support::pg::{PgCluster, PgOptions};
use support::pgbouncer::{ADMIN_PASSWORD, BouncerOptions, PgBouncer};
use support::proc::ScratchDir;
use support::prometheus::{Alertmanager, Prometheus, Webhook};
use support::scrape::start_targets;

/// The names the runbooks' relabelling puts into cluster `orders`.
const DATABASE: &str = "orders-db";
const POOLER: &str = "orders-bouncer";

/// Runs pg_sleep until the test inserts a row into `e2e_release`, so that the
/// clients hold (or wait for) their server connections for as long as the test
/// needs, however slow the machine.
const SLEEP_UNTIL_RELEASED: &str = "DO $$ BEGIN \
     WHILE NOT EXISTS (SELECT 1 FROM e2e_release) LOOP PERFORM pg_sleep(0.2); END LOOP; \
     END $$";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The pool's labels on an alert.
fn pool(target: &str) -> [(&str, &str); 4] {
    [
        ("target", target),
        ("database", "postgres"),
        ("user", "postgres"),
        ("cluster", "orders"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_on_a_small_pool_reaches_the_webhook_and_resolves_and_the_pooler_row_has_data() {
    let pg = PgCluster::start(PgOptions::default());
    pg.exec("CREATE TABLE e2e_release (released boolean)").await;
    let bouncer = PgBouncer::start(
        &pg,
        BouncerOptions {
            pool_size: 2,
            ..BouncerOptions::default()
        },
    );
    let (exporter, _config) = start_targets(
        &[
            (DATABASE, &pg.superuser_dsn()),
            (POOLER, &bouncer.admin_dsn(ADMIN_PASSWORD)),
        ],
        "",
    );

    let mut webhook = Webhook::start().await;
    let alertmanager = Alertmanager::start(&webhook.url);
    let scratch = ScratchDir::new("dbconn-pgbouncer-e2e-rules");
    let rules = support::prometheus::rules_with_short_for(
        &repo().join("alerts/dbconn.rules.yml"),
        scratch.path(),
        "2s",
    );
    // The /metrics job of the runbooks, as documented, pointed at this exporter.
    let (metrics_job, _) = support::prometheus::documented_cluster_jobs();
    let yaml = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         rule_files:\n  - '{}'\n\
         alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{}']\n{}",
        rules.display(),
        alertmanager.address(),
        metrics_job.replace("exporter:10071", exporter.address()),
    );
    let prometheus = Prometheus::start_yaml(&yaml);
    prometheus.wait_for_scrapes(1).await;

    let t0 = Instant::now();
    let mut clients = Vec::new();
    for i in 0..10 {
        let c = bouncer
            .client("sleeper")
            .await
            .unwrap_or_else(|e| panic!("client {i}: {e}"));
        clients.push(tokio::spawn(async move {
            let finished = c.simple_query(SLEEP_UNTIL_RELEASED).await.map(|_| ());
            // Session pooling: the server goes to the next waiter on disconnect.
            drop(c);
            finished
        }));
    }

    let patience = Duration::from_secs(180);
    let waiting = webhook
        .wait_for(patience, "PgBouncerClientsWaiting firing", |b| {
            carries_labels(b, "PgBouncerClientsWaiting", "firing", &pool(POOLER))
        })
        .await;
    let waiting_after = waiting.at - t0;
    let headroom = webhook
        .wait_for(patience, "PgBouncerQueueWithDatabaseHeadroom firing", |b| {
            carries_labels(
                b,
                "PgBouncerQueueWithDatabaseHeadroom",
                "firing",
                &pool(POOLER),
            )
        })
        .await;
    let headroom_after = headroom.at - t0;
    let alert = headroom.body["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == "PgBouncerQueueWithDatabaseHeadroom")
        .unwrap()
        .clone();
    assert_eq!(alert["labels"]["severity"], "critical", "{alert}");
    // The description names the database behind the pooler.
    assert!(
        alert["annotations"]["description"]
            .as_str()
            .is_some_and(|d| d.contains(DATABASE)),
        "{alert}"
    );
    // The database has room: the other half of the pair stays quiet.
    let full = prometheus
        .query("ALERTS{alertname=\"PgBouncerQueueAndDatabaseFull\"}")
        .await;
    assert!(full.is_empty(), "{full:?}");

    // Every pooler panel has data while the clients queue.
    support::dashboards::require_data(
        &prometheus,
        &[(POOLER, "pgbouncer")],
        Duration::from_secs(60),
    )
    .await;

    pg.exec("INSERT INTO e2e_release VALUES (true)").await;
    let finished_by = Instant::now() + patience;
    for (i, client) in clients.into_iter().enumerate() {
        let left = finished_by.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, client).await {
            Ok(Ok(Ok(()))) => {}
            other => panic!("client {i} did not finish: {other:?}"),
        }
    }
    let finished = t0.elapsed();
    let mut resolved_at = Vec::new();
    for alertname in [
        "PgBouncerClientsWaiting",
        "PgBouncerQueueWithDatabaseHeadroom",
    ] {
        let resolved = webhook
            .wait_for(patience, &format!("{alertname} resolved"), |b| {
                carries_labels(b, alertname, "resolved", &pool(POOLER))
            })
            .await;
        resolved_at.push(resolved.at - t0);
    }
    println!(
        "timeline (s since the first client connected): PgBouncerClientsWaiting at the \
         webhook at {:.1}, PgBouncerQueueWithDatabaseHeadroom at {:.1}; clients finished \
         at {:.1}; resolved at {:.1} and {:.1}",
        waiting_after.as_secs_f64(),
        headroom_after.as_secs_f64(),
        finished.as_secs_f64(),
        resolved_at[0].as_secs_f64(),
        resolved_at[1].as_secs_f64()
    );
    drop(prometheus);
    drop(alertmanager);
}
