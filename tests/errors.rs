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
use support::scrape::{CONNECT_ERROR_REASONS, FAST_BACKOFF, connect_errors, start_targets};

/// One named target, with a 1 s backoff cap so that failed connects repeat quickly.
fn start(name: &str, dsn: &str) -> (Exporter, ConfigFile) {
    start_targets(&[(name, dsn)], FAST_BACKOFF)
}

fn total_errors(m: &Metrics, target: &str) -> f64 {
    CONNECT_ERROR_REASONS
        .iter()
        .map(|r| connect_errors(m, target, r))
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
            connect_errors(&m, name, "other"),
            0.0,
            "{name}: an unresolvable host counted as `other`:\n{}\n{}",
            m.text(),
            exporter.logs()
        );
        assert!(
            connect_errors(&m, name, "unreachable") >= 1.0,
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
        connect_errors(&m, "maria", "other"),
        0.0,
        "counted as `other`:\n{}\n{}",
        m.text(),
        exporter.logs()
    );
    assert!(connect_errors(&m, "maria", "tls") >= 1.0, "{}", m.text());
}

/// A refused PostgreSQL connect logs the server's SQLSTATE and message, not just
/// "db error".
#[tokio::test]
async fn a_postgres_connect_failure_logs_sqlstate_and_message() {
    let cluster = PgCluster::start(PgOptions::default());
    let dsn = cluster.dsn("postgres", "no_such_db");
    let (exporter, _config) = start("pg", &dsn);
    let m = first_failure(&exporter, "pg").await;
    assert!(connect_errors(&m, "pg", "other") >= 1.0, "{}", m.text());
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

/// A throwaway CA and a server certificate it signed (for 127.0.0.1), plus an
/// unrelated CA, made with the `openssl` command.
struct Certificates {
    dir: support::proc::ScratchDir,
}

impl Certificates {
    fn make() -> Certificates {
        let openssl = support::proc::require_binary("openssl", &["/usr/bin/openssl"]);
        let dir = support::proc::ScratchDir::new("dbconn-test-tls");
        let path = |name: &str| dir.path().join(name).display().to_string();
        std::fs::write(
            dir.path().join("server.ext"),
            "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .unwrap();
        let run = |args: &[&str]| {
            let out = std::process::Command::new(&openssl)
                .args(args)
                .output()
                .expect("run openssl");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        for ca in ["ca_a", "ca_b"] {
            run(&[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN=dbconn test {ca}"),
                "-keyout",
                &path(&format!("{ca}.key")),
                "-out",
                &path(&format!("{ca}.crt")),
            ]);
        }
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            &path("server.key"),
            "-out",
            &path("server.csr"),
        ]);
        run(&[
            "x509",
            "-req",
            "-in",
            &path("server.csr"),
            "-CA",
            &path("ca_a.crt"),
            "-CAkey",
            &path("ca_a.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &path("server.ext"),
            "-out",
            &path("server.crt"),
        ]);
        // The server runs as its own account: it must read these.
        for entry in std::fs::read_dir(dir.path()).unwrap().flatten() {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        Certificates { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

/// A CA given with `ssl-mode=required` is checked, as libpq checks `sslrootcert`
/// with `require`: before the fix the exporter read the file, ignored it, and
/// accepted a certificate no trusted CA had signed. A refused certificate counts as
/// `tls` (it was `other`).
#[tokio::test]
async fn a_mysql_ca_is_always_checked_and_a_refused_certificate_is_tls() {
    let certs = Certificates::make();
    let db = MariaDb::start(MariaOptions {
        settings: vec![
            format!("--ssl-ca={}", certs.path("ca_a.crt")),
            format!("--ssl-cert={}", certs.path("server.crt")),
            format!("--ssl-key={}", certs.path("server.key")),
        ],
        ..MariaOptions::default()
    });
    let base = db.root_dsn();
    let sep = if base.contains('?') { '&' } else { '?' };
    let wrong = certs.path("ca_b.crt");
    let right = certs.path("ca_a.crt");
    for (name, query) in [
        (
            "required_wrong",
            format!("ssl-mode=required&ssl-ca={wrong}"),
        ),
        ("verify_wrong", format!("ssl-mode=verify_ca&ssl-ca={wrong}")),
    ] {
        let (exporter, _config) = start(name, &format!("{base}{sep}{query}"));
        let m = first_failure(&exporter, name).await;
        assert_eq!(m.get(name, "dbconn_up", &[]), 0.0, "{name} connected");
        assert!(
            connect_errors(&m, name, "tls") >= 1.0,
            "{name}:\n{}\n{}",
            m.text(),
            exporter.logs()
        );
        assert_eq!(connect_errors(&m, name, "other"), 0.0, "{name}");
    }
    let (exporter, _config) = start(
        "right",
        &format!("{base}{sep}ssl-mode=verify_ca&ssl-ca={right}"),
    );
    exporter
        .scrape_until("a TLS session verified against its CA", |m| {
            m.value("dbconn_up", &[("target", "right")]) == Some(1.0)
        })
        .await;
}
