//! Errors against real servers: a connection string that is not fully understood is
//! refused before anything connects (a dropped `sslmode` would be a silent downgrade),
//! and a failed connect is counted under the reason an on-call engineer needs and
//! logged with what the server or the network said.

mod support;

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use support::ConfigFile;
use support::exporter::Exporter;
use support::mariadb::{MariaDb, MariaOptions};
use support::openmetrics::Metrics;
use support::pg::{PgCluster, PgOptions};

/// One named target, with a 1 s backoff cap so that failed connects repeat quickly.
fn start(name: &str, dsn: &str) -> (Exporter, ConfigFile) {
    let config = ConfigFile::new(&format!(
        "targets:\n  - name: {name}\n    dsn: \"{dsn}\"\ncollection:\n  connect_backoff_max: 1s\n"
    ));
    (Exporter::start(&[config.arg()]), config)
}

fn reason(m: &Metrics, target: &str, reason: &str) -> f64 {
    m.get(target, "dbconn_connect_errors_total", &[("reason", reason)])
}

fn total_errors(m: &Metrics, target: &str) -> f64 {
    [
        "too_many_connections",
        "auth_failed",
        "unreachable",
        "timeout",
        "tls",
        "other",
    ]
    .iter()
    .map(|r| reason(m, target, r))
    .sum()
}

/// Waits for the first counted connect failure and returns that scrape.
async fn first_failure(exporter: &Exporter, target: &str) -> Metrics {
    exporter
        .scrape_until("a failed connect is counted", |m| {
            total_errors(m, target) >= 1.0
        })
        .await
}

/// A libpq keyword DSN asking for `verify-full`, with one stray token before
/// `sslmode`: the exporter must refuse it. Before the fix it cut the string at the
/// token and connected in plain text to this server, which has no TLS at all.
#[tokio::test]
async fn a_keyword_dsn_with_a_stray_token_is_refused_not_downgraded() {
    let cluster = PgCluster::start(PgOptions::default());
    let dsn = format!(
        "host=127.0.0.1 port={} user=postgres junk dbname=postgres sslmode=verify-full",
        cluster.port()
    );
    let (status, output) =
        Exporter::start_expect_failure(&[format!("--target={dsn}"), "--config.check".into()]);
    if status.success() {
        // Show what accepting it means: a plain-text session to a server without TLS.
        let (exporter, _config) = start("pg", &dsn);
        let m = exporter
            .scrape_until("connected", |m| m.get("pg", "dbconn_up", &[]) == 1.0)
            .await;
        panic!(
            "the DSN was accepted ({output:?}) and the exporter connected in plain text \
             although it asked for sslmode=verify-full: dbconn_up {}",
            m.get("pg", "dbconn_up", &[])
        );
    }
    assert_eq!(status.code(), Some(1), "{output}");
    let junk = format!("character {}", dsn.find("junk").unwrap() + 1);
    assert!(output.contains(&junk), "no `{junk}` in: {output}");
}

/// `.invalid` never resolves (RFC 6761). On this machine the lookup fails at once.
#[tokio::test]
async fn an_unresolvable_host_is_unreachable_on_both_engines() {
    let started = Instant::now();
    let lookup = tokio::net::lookup_host("db.invalid:5432")
        .await
        .map(|a| a.collect::<Vec<_>>());
    assert!(lookup.is_err(), "db.invalid resolved: {lookup:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "resolving db.invalid took {:?}: the test would measure the resolver",
        started.elapsed()
    );

    for (name, dsn) in [
        ("pg", "postgres://monitor@db.invalid:5432/postgres"),
        ("maria", "mysql://monitor@db.invalid:3306/"),
    ] {
        let (exporter, _config) = start(name, dsn);
        let m = first_failure(&exporter, name).await;
        assert_eq!(
            reason(&m, name, "other"),
            0.0,
            "{name}: an unresolvable host counted as `other`:\n{}\n{}",
            m.text(),
            exporter.logs()
        );
        assert!(
            reason(&m, name, "unreachable") >= 1.0,
            "{name}: {}",
            m.text()
        );
        assert!(
            exporter.logs().contains("db.invalid") || exporter.logs().contains("lookup"),
            "{name}: the log does not say the name did not resolve:\n{}",
            exporter.logs()
        );
    }
}

/// `ssl-mode=required` against a MariaDB without TLS is a TLS problem, not `other`.
#[tokio::test]
async fn mysql_tls_required_against_a_server_without_tls_is_tls() {
    let db = MariaDb::start(MariaOptions::default());
    let mut conn = db.connect("root", "", None).await.unwrap();
    let have_ssl: Option<(String, String)> = conn
        .query_first("SHOW GLOBAL VARIABLES LIKE 'have_ssl'")
        .await
        .unwrap();
    let _ = conn.disconnect().await;
    let have_ssl = have_ssl.map(|(_, v)| v).unwrap_or_default();
    assert_ne!(have_ssl, "YES", "the harness MariaDB offers TLS");

    let dsn = format!("{}?ssl-mode=required", db.root_dsn());
    let (exporter, _config) = start("maria", &dsn);
    let m = first_failure(&exporter, "maria").await;
    assert_eq!(m.get("maria", "dbconn_up", &[]), 0.0);
    assert_eq!(
        reason(&m, "maria", "other"),
        0.0,
        "counted as `other`:\n{}\n{}",
        m.text(),
        exporter.logs()
    );
    assert!(reason(&m, "maria", "tls") >= 1.0, "{}", m.text());
}

/// A refused PostgreSQL connect logs the server's SQLSTATE and message, not just
/// "db error".
#[tokio::test]
async fn a_postgres_connect_failure_logs_sqlstate_and_message() {
    let cluster = PgCluster::start(PgOptions::default());
    let dsn = cluster.dsn("postgres", "no_such_db");
    let (exporter, _config) = start("pg", &dsn);
    let m = first_failure(&exporter, "pg").await;
    assert!(reason(&m, "pg", "other") >= 1.0, "{}", m.text());
    let deadline = Instant::now() + Duration::from_secs(10);
    let line = loop {
        let logs = exporter.logs();
        let found = logs
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["fields"]["message"] == "connect failed");
        if let Some(v) = found {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "no `connect failed` line:\n{logs}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let error = line["fields"]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("SQLSTATE 3D000") && error.contains("\"no_such_db\" does not exist"),
        "the log line does not carry the server's code and message: {line}"
    );
}
