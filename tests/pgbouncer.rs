//! PgBouncer, end to end: Debian's pgbouncer in front of a throwaway PostgreSQL,
//! the real exporter binary on its admin console, and the pooler's own ways of
//! running out, read back through the reference OpenMetrics parser.

mod support;

use std::time::Duration;

use dbconn_exporter::model::ConnectErrorKind;
use support::exporter::Exporter;
use support::pg::{PgCluster, PgOptions};
use support::pgbouncer::{ADMIN_PASSWORD, BouncerOptions, PgBouncer, exporter_sessions};
use support::scrape::{
    FAST_BACKOFF, FAST_COLLECTION, TARGET, connect_errors, is_up, start_exporter,
    total_connections, v, value,
};

const POOL: [(&str, &str); 2] = [("database", "postgres"), ("user", "postgres")];

fn pool_with(state: &'static str) -> [(&'static str, &'static str); 3] {
    [POOL[0], POOL[1], ("state", state)]
}

/// Waits until the pooler lists exactly one session of the exporter.
async fn one_exporter_session(admin: &tokio_postgres::Client) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let n = exporter_sessions(admin).await;
        if n == 1 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the exporter holds {n} sessions on the admin console"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn ten_clients_on_a_pool_of_two_queue_eight() {
    let pg = PgCluster::start(PgOptions::default());
    let bouncer = PgBouncer::start(
        &pg,
        BouncerOptions {
            pool_size: 2,
            ..BouncerOptions::default()
        },
    );
    let (exporter, _config) = start_exporter(&bouncer.admin_dsn(ADMIN_PASSWORD), FAST_COLLECTION);
    exporter.scrape_until("up", is_up).await;

    let mut sleepers = Vec::new();
    for i in 0..10 {
        let c = bouncer
            .client("sleeper")
            .await
            .unwrap_or_else(|e| panic!("client {i}: {e}"));
        sleepers.push(tokio::spawn(async move {
            let _ = c.simple_query("SELECT pg_sleep(120)").await;
            c
        }));
    }
    let m = exporter
        .scrape_until_shows(
            TARGET,
            &[
                ("dbconn_pool_clients", &pool_with("active"), 2.0),
                ("dbconn_pool_clients", &pool_with("waiting"), 8.0),
                ("dbconn_pool_servers", &pool_with("active"), 2.0),
                ("dbconn_pool_servers", &pool_with("idle"), 0.0),
                ("dbconn_pool_size", &POOL, 2.0),
                ("dbconn_pool_usage_ratio", &POOL, 1.0),
                // Linked to a server: active; queued: other.
                ("dbconn_connections", &[("state", "active")], 2.0),
                ("dbconn_connections", &[("state", "other")], 8.0),
                ("dbconn_max_connections", &[], 100.0),
            ],
        )
        .await;
    let info = m.value(
        "dbconn_target_info",
        &[
            ("target", TARGET),
            ("engine", "pgbouncer"),
            ("version", "1.18.0"),
        ],
    );
    assert_eq!(info, Some(1.0), "{}", m.text());
    // The exporter's own client (idle on the console) counts against max_client_conn.
    assert_eq!(total_connections(&m), 11.0);
    assert_eq!(v(&m, "dbconn_usage_ratio", &[]), 0.11);

    // The oldest waiter's wait grows from scrape to scrape.
    let first = v(&m, "dbconn_pool_max_wait_seconds", &POOL);
    let later = exporter
        .scrape_until("the oldest wait grew", |m| {
            value(m, "dbconn_pool_max_wait_seconds", &POOL).is_some_and(|w| w > first + 1.0)
        })
        .await;
    let waited = v(
        &later,
        "dbconn_max_state_duration_seconds",
        &[("state", "other")],
    );
    assert!(waited > 1.0, "{waited}");
    // What the console does not tell is not shown as a zero.
    assert_eq!(
        value(
            &later,
            "dbconn_max_state_duration_seconds",
            &[("state", "active")]
        ),
        None
    );

    let admin = bouncer.admin().await;
    one_exporter_session(&admin).await;

    let r = exporter
        .scrape_with(&format!("/api/v1/incident?target={TARGET}"), &[])
        .await;
    assert_eq!(r.status, 501, "{}", r.body);
    assert!(r.body.contains("PostgreSQL and MySQL"), "{}", r.body);
    let landing = exporter.scrape_with("/", &[]).await.body;
    assert!(!landing.contains("/incident?target="), "{landing}");
    let text = exporter.scrape_with("/metrics", &[]).await.body;
    support::promtool_check_metrics(&text);
    drop(sleepers);
}

#[tokio::test]
async fn at_max_client_conn_logins_are_refused_and_the_console_still_answers() {
    let pg = PgCluster::start(PgOptions::default());
    let bouncer = PgBouncer::start(
        &pg,
        BouncerOptions {
            max_client_conn: 5,
            ..BouncerOptions::default()
        },
    );
    let (exporter, _config) = start_exporter(&bouncer.admin_dsn(ADMIN_PASSWORD), FAST_COLLECTION);
    exporter.scrape_until("up", is_up).await;

    // The exporter holds one of the five places: four applications fit.
    let mut held = Vec::new();
    let refusal = loop {
        match bouncer.client("filler").await {
            Ok(c) => held.push(c),
            Err(e) => break e,
        }
        assert!(held.len() <= 5, "PgBouncer never refused a login");
    };
    assert_eq!(held.len(), 4);
    let db = refusal.as_db_error().expect("PgBouncer's refusal");
    assert_eq!(
        db.message(),
        "no more connections allowed (max_client_conn)"
    );
    let classified = dbconn_exporter::engines::pgbouncer::classify(&refusal);
    assert_eq!(classified.kind, ConnectErrorKind::TooManyConnections);

    exporter
        .scrape_until_shows(
            TARGET,
            &[
                ("dbconn_usage_ratio", &[], 1.0),
                ("dbconn_max_connections", &[], 5.0),
                ("dbconn_connections", &[("state", "idle")], 5.0),
            ],
        )
        .await;

    // PgBouncer admits its admin console past max_client_conn: an exporter
    // started now gets in, and shows the pooler over its limit.
    let (late, _late_config) = start_exporter(&bouncer.admin_dsn(ADMIN_PASSWORD), FAST_COLLECTION);
    let m = late
        .scrape_until_shows(
            TARGET,
            &[
                ("dbconn_up", &[], 1.0),
                ("dbconn_usage_ratio", &[], 1.2),
                (
                    "dbconn_connect_errors_total",
                    &[("reason", "too_many_connections")],
                    0.0,
                ),
            ],
        )
        .await;
    assert_eq!(connect_errors(&m, TARGET, "other"), 0.0);
    drop(held);
}

#[tokio::test]
async fn a_restart_is_unreachable_then_recovers_on_one_session() {
    let pg = PgCluster::start(PgOptions::default());
    let mut bouncer = PgBouncer::start(&pg, BouncerOptions::default());
    let (exporter, _config) = start_exporter(&bouncer.admin_dsn(ADMIN_PASSWORD), FAST_BACKOFF);
    exporter.scrape_until("up", is_up).await;
    {
        let admin = bouncer.admin().await;
        one_exporter_session(&admin).await;
    }

    bouncer.stop();
    exporter
        .scrape_until("down and unreachable", |m| {
            !is_up(m) && connect_errors(m, TARGET, "unreachable") >= 1.0
        })
        .await;
    bouncer.restart();
    let m = exporter.scrape_until("up again", is_up).await;
    assert!(v(&m, "dbconn_session_losses_total", &[("reason", "closed")]) >= 1.0);
    assert_eq!(connect_errors(&m, TARGET, "auth_failed"), 0.0);
    let admin = bouncer.admin().await;
    one_exporter_session(&admin).await;
}

#[tokio::test]
async fn a_wrong_admin_password_is_auth_failed_and_never_printed() {
    const WRONG: &str = "Wr0ng-adm1n-pw";
    let pg = PgCluster::start(PgOptions::default());
    let bouncer = PgBouncer::start(&pg, BouncerOptions::default());
    let (exporter, _config) = start_exporter(&bouncer.admin_dsn(WRONG), FAST_BACKOFF);
    let m = exporter
        .scrape_until("auth_failed counted", |m| {
            connect_errors(m, TARGET, "auth_failed") >= 2.0
        })
        .await;
    assert!(!is_up(&m));
    for reason in ["too_many_connections", "unreachable", "timeout", "tls"] {
        assert_eq!(connect_errors(&m, TARGET, reason), 0.0, "{reason}");
    }
    let admin = bouncer.admin().await;
    assert_eq!(exporter_sessions(&admin).await, 0);
    let body = exporter.scrape_with("/metrics", &[]).await.body;
    let landing = exporter.scrape_with("/", &[]).await.body;
    let logs = exporter.logs();
    for (what, text) in [
        ("metrics", &body),
        ("landing page", &landing),
        ("logs", &logs),
    ] {
        assert!(
            !text.contains(WRONG),
            "the password is in the {what}:\n{text}"
        );
    }
    assert!(logs.contains("password authentication failed"), "{logs}");
}

/// A configuration that names PgBouncer with a key=value DSN is refused, saying
/// to use a pgbouncer:// URL.
#[test]
fn a_keyword_dsn_cannot_name_pgbouncer() {
    let (status, printed) = Exporter::start_expect_failure(&[
        "--target=host=127.0.0.1 port=6432 dbname=pgbouncer user=admin password=s3cr3t-x".into(),
    ]);
    assert!(!status.success());
    assert!(printed.contains("pgbouncer://"), "{printed}");
    assert!(!printed.contains("s3cr3t-x"), "{printed}");
}
