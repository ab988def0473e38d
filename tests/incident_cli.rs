//! `dbconn_exporter incident --target DSN`: the command opens one session of its
//! own, makes one incident read and prints the report (text or JSON), then closes
//! the session. The scene: a session idle in a transaction holding a row lock,
//! one session waiting on it.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::exporter::BINARY;
use support::pg::{self, PgCluster, PgOptions};

/// Runs the command and returns its exit code, stdout and stderr.
fn incident(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(BINARY)
        .arg("incident")
        .args(args)
        .env_remove("DBCONN_TARGET")
        .env_remove("DBCONN_INCIDENT_PASSWORD")
        .output()
        .expect("run the incident command");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Waits until the session named `application` waits on a lock.
async fn waiting_on_a_lock(watcher: &tokio_postgres::Client, application: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
                &[&application],
            )
            .await
            .expect("look for the waiter")
            .get(0);
        if n == 1 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{application} never waited on the lock"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn pid_of(watcher: &tokio_postgres::Client, application: &str) -> i64 {
    let pid: i32 = watcher
        .query_one(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
            &[&application],
        )
        .await
        .expect("the session's pid")
        .get(0);
    i64::from(pid)
}

/// Waits until the exporter's sessions are gone.
async fn no_exporter_session(watcher: &tokio_postgres::Client) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while pg::exporter_sessions(watcher).await != 0 {
        assert!(
            Instant::now() < deadline,
            "the command left its session open"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_reads_the_lock_tree_through_one_session_and_prints_relief() {
    let cluster = PgCluster::start(PgOptions {
        max_connections: 20,
        ..PgOptions::default()
    });
    cluster.create_accounts().await;
    cluster
        .exec("CREATE ROLE app LOGIN; GRANT ALL ON accounts TO app")
        .await;
    let watcher = cluster.superuser_session("watcher").await;
    let lock = cluster.hold_row_lock("app", "holder", &["waiter"]).await;
    waiting_on_a_lock(&watcher, "waiter").await;
    let holder = pid_of(&watcher, "holder").await;
    let waiter = pid_of(&watcher, "waiter").await;
    let dsn = cluster.superuser_dsn();

    // Text.
    let (code, out, err) = incident(&["--target", &dsn]);
    assert_eq!(code, Some(0), "stdout:\n{out}\nstderr:\n{err}");
    let root_line = out
        .lines()
        .find(|l| l.starts_with(&format!("  {holder} idle_in_transaction for ")))
        .unwrap_or_else(|| panic!("no root blocker line for {holder}:\n{out}"));
    assert!(
        root_line.ends_with(": blocks 1 (1 directly)"),
        "{root_line}"
    );
    assert!(
        out.contains(&format!("\n    └ {waiter} waits on {holder} for ")),
        "{out}"
    );
    let relief = format!(
        "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = {holder} AND xact_start < now() - interval '"
    );
    assert!(
        out.lines().any(|l| l.starts_with(&relief)
            && l.ends_with("seconds' AND usename = E'app' AND application_name = E'holder';")),
        "no relief line for {holder}:\n{out}"
    );
    assert!(out.starts_with("Target 127.0.0.1:"), "{out}");
    no_exporter_session(&watcher).await;

    // JSON.
    let (code, out, err) = incident(&["--target", &dsn, "--output", "json"]);
    assert_eq!(code, Some(0), "stdout:\n{out}\nstderr:\n{err}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("the output is JSON");
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["engine"], "postgresql");
    let roots = report["root_blockers"].as_array().expect("root_blockers");
    assert_eq!(roots.len(), 1, "{out}");
    assert_eq!(roots[0]["pid"], holder);
    assert_eq!(roots[0]["blocked_total"], 1);
    assert_eq!(roots[0]["waiters"][0]["pid"], waiter);
    let terminate: Vec<&serde_json::Value> = report["relief"]
        .as_array()
        .expect("relief")
        .iter()
        .filter(|r| r["id"] == "terminate_root_blocker")
        .collect();
    assert_eq!(terminate.len(), 1, "{out}");
    assert_eq!(terminate[0]["pids"], serde_json::json!([holder]));
    // One session of the command's own, marked, and no other under its name.
    let sessions = report["sessions"].as_array().expect("sessions");
    let own: Vec<&serde_json::Value> = sessions.iter().filter(|s| s["own"] == true).collect();
    assert_eq!(own.len(), 1, "{out}");
    assert_eq!(
        sessions
            .iter()
            .filter(|s| s["application"] == "dbconn_exporter")
            .count(),
        1,
        "{out}"
    );
    no_exporter_session(&watcher).await;
    lock.release().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_refuses_is_an_error_without_the_password() {
    let port = support::proc::free_port();
    let (code, out, err) = incident(&[
        "--target",
        &format!("postgres://u:hunter2@127.0.0.1:{port}/db"),
        "--timeout",
        "10",
    ]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains(&format!("no incident read of 127.0.0.1:{port}/db")),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn an_exporter_that_is_not_there_is_an_error() {
    let port = support::proc::free_port();
    let (code, _, err) = incident(&[
        "--exporter",
        &format!("http://ops:hunter2@127.0.0.1:{port}"),
        "--target",
        "main",
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "the exporter at http://127.0.0.1:{port} is unreachable"
        )),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn flags_of_the_other_mode_are_refused() {
    let (code, _, err) = incident(&["--target", "postgres://u@h/db", "--ca-file", "/x"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("--ca-file are for --exporter"), "{err}");
    let (code, _, err) = incident(&[
        "--exporter",
        "http://127.0.0.1:1",
        "--target",
        "x",
        "--ca-file",
        "/x",
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("--ca-file needs an https://"), "{err}");
}
