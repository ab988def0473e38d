//! The alert rules and dashboards, proven end to end: a real PostgreSQL filled past
//! 80 %, the real exporter, a real Prometheus evaluating the shipped rules (with
//! shortened `for:`; the promtool unit tests cover the real durations), a real
//! Alertmanager, and a webhook receiver here that must see DatabaseConnectionsHigh
//! fire for the right target and resolve once the sessions close — for PostgreSQL
//! and for MariaDB, through the same rules. The same run
//! executes every dashboard panel query against that Prometheus. Queries for
//! PgBouncer targets (`engines` ["pgbouncer"] in tests/dashboard-queries.json) are run
//! too, so Prometheus must accept them, but their data is awaited only where a
//! PgBouncer target is scraped: the end-to-end test of that engine.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use support::dashboards::carries;
use support::mariadb::{MariaDb, MariaOptions};
use support::pg::{PgCluster, PgOptions};
use support::proc::ScratchDir;
use support::prometheus::{Alertmanager, Prometheus, PrometheusConfig, Webhook};
use support::scrape::start_targets;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const TARGET: &str = "pg-e2e";
const MARIA_TARGET: &str = "maria-e2e";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn high_usage_alert_reaches_the_webhook_and_resolves_and_every_panel_has_data() {
    // 20 slots, 3 reserved: 17 ordinary. The exporter plus 14 sessions is 15/17 = 0.88,
    // over the 0.80 line and under the 0.95 one.
    let cluster = PgCluster::start(PgOptions {
        max_connections: 20,
        superuser_reserved_connections: 3,
        ..PgOptions::default()
    });
    // Situations that give every dashboard panel something to show.
    cluster
        .exec("CREATE ROLE app LOGIN CONNECTION LIMIT 15")
        .await;
    cluster
        .exec("CREATE DATABASE shop CONNECTION LIMIT 16")
        .await;
    cluster.create_accounts().await;
    // MariaDB, 20 slots: the exporter (root) plus 16 sessions is 17/20 = 0.85.
    let maria = MariaDb::start(MariaOptions {
        max_connections: 20,
        ..MariaOptions::default()
    });
    maria.create_shop_with_accounts().await;
    maria
        .exec(
            "CREATE USER 'app'@'%' IDENTIFIED BY 'pw' WITH MAX_USER_CONNECTIONS 18; \
             GRANT ALL ON shop.* TO 'app'@'%'",
        )
        .await;
    let (exporter, _config) = start_targets(
        &[
            (TARGET, &cluster.superuser_dsn()),
            (MARIA_TARGET, &maria.root_dsn()),
        ],
        "",
    );

    let mut webhook = Webhook::start().await;
    let alertmanager = Alertmanager::start(&webhook.url);
    let scratch = ScratchDir::new("dbconn-e2e-rules");
    let rules = support::prometheus::rules_with_short_for(
        &repo().join("alerts/dbconn.rules.yml"),
        scratch.path(),
        "2s",
    );
    let prometheus = Prometheus::start(PrometheusConfig {
        exporters: &[exporter.address().to_string()],
        rule_files: &[rules],
        alertmanager: Some(alertmanager.address()),
        scrape_interval: "1s",
    });
    prometheus.wait_for_scrapes(1).await;

    let t0 = Instant::now();
    let mut sessions = cluster.connect_many(12, "app", "shop", "checkout").await;
    // One holds a row lock that another waits on; one sits idle in a transaction.
    let lock = cluster
        .hold_row_lock("postgres", "payments", &["payments"])
        .await;
    let mut maria_sessions = maria.connect_many_to(14, "app", "pw", Some("shop")).await;
    let maria_lock = maria.hold_row_lock("app", "pw", 1).await;
    let opened = t0.elapsed();

    let fired = webhook
        .wait_for(
            Duration::from_secs(60),
            "DatabaseConnectionsHigh firing",
            |b| carries(b, "DatabaseConnectionsHigh", TARGET, "firing"),
        )
        .await;
    let fired_after = fired.at - t0;
    // Not before the (shortened) `for:` of 2 s has passed.
    assert!(fired_after >= Duration::from_secs(2), "{fired_after:?}");
    // The labels Alertmanager got name the target and keep job/instance.
    let alert = fired.body["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| {
            a["labels"]["alertname"] == "DatabaseConnectionsHigh" && a["labels"]["target"] == TARGET
        })
        .unwrap()
        .clone();
    assert_eq!(alert["labels"]["severity"], "warning");
    assert_eq!(alert["labels"]["job"], "dbconn");
    assert!(
        alert["annotations"]["summary"]
            .as_str()
            .is_some_and(|s| s.contains(TARGET)),
        "{alert}"
    );
    assert!(
        alert["annotations"]["runbook_url"]
            .as_str()
            .is_some_and(|s| s.ends_with("DatabaseConnectionsHigh.md")),
        "{alert}"
    );
    // The link to the incident page names the exporter Prometheus scraped and the
    // alert's target.
    assert_eq!(
        alert["annotations"]["incident_page"],
        format!("http://{}/incident?target={TARGET}", exporter.address()),
        "{alert}"
    );
    // The link resolves: the exporter serves the incident page of that target.
    let (address, path) = support::dashboards::split_http_url(
        alert["annotations"]["incident_page"]
            .as_str()
            .expect("incident_page"),
    );
    let page = support::http::get(&address, &path, &[]).await;
    assert_eq!(page.status, 200, "{}: {}", path, page.body);
    assert!(page.body.contains(TARGET), "{}", page.body);
    let maria_fired = webhook
        .wait_for(
            Duration::from_secs(60),
            "DatabaseConnectionsHigh firing for MariaDB",
            |b| carries(b, "DatabaseConnectionsHigh", MARIA_TARGET, "firing"),
        )
        .await;
    let maria_fired_after = maria_fired.at - t0;
    // Not critical: 15/17 and 17/20 are under 0.95.
    let critical = prometheus
        .query("ALERTS{alertname=\"DatabaseConnectionsCritical\"}")
        .await;
    assert!(critical.is_empty(), "{critical:?}");

    // Every panel query of every dashboard returns data while the server is busy.
    support::dashboards::require_data(
        &prometheus,
        &[(TARGET, "postgresql"), (MARIA_TARGET, "mariadb")],
        Duration::from_secs(30),
    )
    .await;
    // Every dashboard data link, filled as Grafana fills it from each target's
    // series, opens that target's incident page on the exporter.
    let links = support::dashboards::data_links();
    assert!(
        !links.is_empty(),
        "the dashboards link their targets' incident pages"
    );
    let series = prometheus.query("dbconn_usage_ratio").await;
    assert_eq!(series.len(), 2, "{series:?}");
    for link in &links {
        for s in &series {
            let target = s["metric"]["target"].as_str().expect("target label");
            let (address, path) = support::dashboards::split_http_url(
                &support::dashboards::fill_link(link, &s["metric"]),
            );
            let page = support::http::get(&address, &path, &[]).await;
            assert_eq!(page.status, 200, "{link} for {target}: {}", page.body);
            assert!(
                page.body.contains(target),
                "{link} for {target}: {}",
                page.body
            );
        }
    }
    let text = exporter.scrape_with("/metrics", &[]).await;
    support::promtool_check_metrics(&text.body);

    lock.release().await;
    sessions.clear();
    maria_lock.release().await;
    maria_sessions.clear();
    let closed = t0.elapsed();
    let mut resolved_at = Vec::new();
    for target in [TARGET, MARIA_TARGET] {
        let resolved = webhook
            .wait_for(
                Duration::from_secs(60),
                "DatabaseConnectionsHigh resolved",
                |b| carries(b, "DatabaseConnectionsHigh", target, "resolved"),
            )
            .await;
        resolved_at.push(resolved.at - t0);
    }
    println!(
        "timeline (s since the first session opened): sessions opened by {:.1}; \
         DatabaseConnectionsHigh at the webhook at {:.1} (PostgreSQL) and {:.1} (MariaDB); \
         sessions closed at {:.1}; resolved at the webhook at {:.1} (PostgreSQL) and {:.1} (MariaDB)",
        opened.as_secs_f64(),
        fired_after.as_secs_f64(),
        maria_fired_after.as_secs_f64(),
        closed.as_secs_f64(),
        resolved_at[0].as_secs_f64(),
        resolved_at[1].as_secs_f64()
    );
    drop(prometheus);
    drop(alertmanager);
    drop(maria);
}
