//! The PostgreSQL incident read on a full server: who holds the connections, who
//! blocks whom, read through the target's one session (the PayFlow scene of
//! `support::payflow`), with and without `pg_monitor`, with and without statement
//! text.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use tokio::time::Instant;

use dbconn_exporter::config::{Cli, Config};
use dbconn_exporter::incident::{Scene, SessionRow};
use dbconn_exporter::model::State;
use dbconn_exporter::target::Target;

use support::payflow::{self, PayFlowPg};
use support::pg;

/// A target built the way the exporter builds its targets: flags → configuration →
/// `Target::new` with the spec's connector. `config` is the text of a configuration
/// file, if any.
fn target(dsn: &str, config: Option<&str>) -> Arc<Target> {
    let file = config.map(support::ConfigFile::new);
    let mut args = vec!["dbconn_exporter".to_string(), format!("--target={dsn}")];
    if let Some(f) = &file {
        args.push(f.arg());
    }
    let cli = Cli::try_parse_from(args).expect("flags");
    let config = Config::load(&cli).expect("configuration");
    let read_settings = config.collection.read_settings();
    let policy = config.collection.policy();
    let spec = config.targets.into_iter().next().expect("one target");
    Target::new(spec.name, spec.connector, read_settings, policy)
}

/// Reads until the exporter holds its session and a metrics read succeeds.
async fn connected(target: &Arc<Target>) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let report = target
            .report(Instant::now() + Duration::from_secs(10))
            .await;
        if report.snapshot.is_some() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the exporter never read the target"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn incident(target: &Arc<Target>) -> Arc<Scene> {
    target
        .incident(Instant::now() + Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| panic!("incident read: {e}"))
}

/// An incident read younger than the reuse window is served again: wait it out so
/// that the next read is fresh.
async fn next_incident(target: &Arc<Target>) -> Arc<Scene> {
    tokio::time::sleep(dbconn_exporter::target::INCIDENT_REUSE + Duration::from_millis(100)).await;
    incident(target).await
}

fn by_pid(scene: &Scene) -> HashMap<i64, &SessionRow> {
    scene.sessions.iter().map(|s| (s.pid, s)).collect()
}

fn sqlstate(e: &tokio_postgres::Error) -> Option<String> {
    e.code().map(|c| c.code().to_string())
}

/// Follows `blocked_by` from `pid` and says whether `root` is reached.
fn reaches(rows: &HashMap<i64, &SessionRow>, pid: i64, root: i64) -> bool {
    let mut seen = vec![pid];
    let mut next = vec![pid];
    while let Some(p) = next.pop() {
        let Some(row) = rows.get(&p) else { continue };
        for b in &row.blocked_by {
            if *b == root {
                return true;
            }
            if !seen.contains(b) {
                seen.push(*b);
                next.push(*b);
            }
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_read_shows_payflow_holders_and_the_lock_tree_on_a_full_server() {
    let mut payflow = PayFlowPg::start().await;
    let target = target(&payflow.dsn(payflow::MONITOR_ROLE), None);
    connected(&target).await;
    let refusal = payflow.fill().await;
    assert_eq!(
        sqlstate(&refusal).as_deref(),
        Some("53300"),
        "an ordinary login is refused as too many clients: {refusal}"
    );

    let scene = incident(&target).await;
    let rows = by_pid(&scene);
    let watcher = &payflow.watcher;

    // Every PayFlow session is there under its own pid, named.
    for pid in payflow.api_pids() {
        let row = rows
            .get(&i64::from(pid))
            .unwrap_or_else(|| panic!("payflow-api pid {pid} missing: {:?}", scene.sessions));
        assert_eq!(row.application, payflow::API);
        assert_eq!(row.user, payflow::APP_ROLE);
        assert_eq!(row.database, "postgres");
        assert_eq!(row.client, "127.0.0.1");
        assert!(row.state.is_some(), "pg_monitor sees every state: {row:?}");
        assert!(!row.superuser && !row.replication && !row.own);
        assert!(row.connection_seconds.is_some());
    }
    for h in &payflow.idle {
        assert_eq!(rows[&i64::from(h.pid)].state, Some(State::Idle));
    }
    for h in &payflow.idle_in_transaction {
        let row = rows[&i64::from(h.pid)];
        assert_eq!(row.state, Some(State::IdleInTransaction));
        assert!(row.transaction_seconds.is_some());
        assert!(row.blocked_by.is_empty());
    }

    // The root blocker: idle in transaction, waiting on nothing.
    let root = i64::from(payflow.root_pid());
    let root_row = rows[&root];
    assert_eq!(root_row.application, payflow::BATCH);
    assert_eq!(root_row.state, Some(State::IdleInTransaction));
    assert!(root_row.blocked_by.is_empty());
    assert_eq!(root_row.wait_event.as_deref(), Some("Client:ClientRead"));

    // The waiters: on a lock, the first directly behind the root, every one
    // (and the second level) leading to it.
    let waiters = payflow.waiter_pids();
    let first = rows[&i64::from(waiters[0])];
    assert!(
        first.blocked_by.contains(&root),
        "the first waiter waits for the root: {first:?}"
    );
    for pid in waiters
        .iter()
        .chain(std::iter::once(&payflow.second_level.pid))
    {
        let row = rows[&i64::from(*pid)];
        assert_eq!(row.state, Some(State::Active), "{row:?}");
        assert!(
            row.wait_event
                .as_deref()
                .is_some_and(|w| w.starts_with("Lock:")),
            "{row:?}"
        );
        assert!(!row.blocked_by.is_empty(), "{row:?}");
        assert!(
            reaches(&rows, i64::from(*pid), root),
            "{pid} → root: {row:?}"
        );
    }
    let second = rows[&i64::from(payflow.second_level.pid)];
    assert_eq!(
        second.blocked_by,
        vec![i64::from(waiters[0])],
        "the second level waits for the first waiter"
    );
    // Only lock waiters are asked who blocks them.
    let waiting: Vec<i64> = scene
        .sessions
        .iter()
        .filter(|s| !s.blocked_by.is_empty())
        .map(|s| s.pid)
        .collect();
    assert_eq!(waiting.len(), 4, "{waiting:?}");

    // The exporter's own session, once; the watcher is a superuser.
    let own: Vec<&SessionRow> = scene.sessions.iter().filter(|s| s.own).collect();
    assert_eq!(own.len(), 1, "{:?}", scene.sessions);
    assert_eq!(own[0].application, "dbconn_exporter");
    assert_eq!(own[0].user, payflow::MONITOR_ROLE);
    assert!(!own[0].superuser);
    let watchers: Vec<&SessionRow> = scene
        .sessions
        .iter()
        .filter(|s| s.application == "payflow-watcher")
        .collect();
    assert_eq!(watchers.len(), 1);
    assert!(watchers[0].superuser);

    // The usage is the metrics' number, and it counts every client session.
    let clients = pg::client_backends(watcher).await;
    assert_eq!(scene.snapshot.sessions.by_state.total(), clients as u64);
    assert_eq!(scene.sessions.len() as i64, clients);
    assert_eq!(
        scene.snapshot.blocking.as_ref().map(|b| b.root_blockers),
        Some(1)
    );
    assert_eq!(scene.snapshot.sessions.hidden, 0);
    assert!(scene.notes.is_empty(), "{:?}", scene.notes);
    // Statement text only when the configuration asks for it.
    assert!(scene.sessions.iter().all(|s| s.query.is_none()));
    assert!(scene.read_at_unix_seconds > 1.0e9);

    // One session throughout, after a second fresh read too.
    let again = next_incident(&target).await;
    assert_eq!(again.sessions.len(), scene.sessions.len());
    assert_eq!(pg::exporter_sessions(watcher).await, 1);
    assert_eq!(payflow.cluster.backends_of(payflow::MONITOR_ROLE), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_read_without_pg_monitor_lists_hidden_sessions_with_a_note() {
    let mut payflow = PayFlowPg::start().await;
    let target = target(&payflow.dsn(payflow::PLAIN_ROLE), None);
    connected(&target).await;
    let refusal = payflow.fill().await;
    assert_eq!(sqlstate(&refusal).as_deref(), Some("53300"), "{refusal}");

    let scene = incident(&target).await;
    let rows = by_pid(&scene);
    for pid in payflow.all_pids() {
        let row = rows
            .get(&i64::from(pid))
            .unwrap_or_else(|| panic!("pid {pid} missing: {:?}", scene.sessions));
        assert_eq!(row.state, None, "another role's state is hidden: {row:?}");
        assert_eq!(row.user, payflow::APP_ROLE);
        assert_eq!(row.database, "postgres");
        assert_eq!(row.state_seconds, None);
        assert_eq!(row.wait_event, None);
        assert_eq!(row.query, None);
    }
    // Hidden waiters are still asked who blocks them (pg_blocking_pids needs no
    // privilege), since the metrics read saw waiters in pg_locks.
    let root = i64::from(payflow.root_pid());
    assert!(
        rows[&i64::from(payflow.waiter_pids()[0])]
            .blocked_by
            .contains(&root)
    );
    let own: Vec<&SessionRow> = scene.sessions.iter().filter(|s| s.own).collect();
    assert_eq!(own.len(), 1);
    assert!(
        own[0].state.is_some(),
        "its own session is visible to a role"
    );
    let hidden = scene.sessions.iter().filter(|s| s.state.is_none()).count();
    assert_eq!(hidden as u64, scene.snapshot.sessions.hidden);
    assert!(
        scene
            .notes
            .iter()
            .any(|n| n.contains("pg_read_all_stats") && n.contains(&format!("{hidden} session"))),
        "{:?}",
        scene.notes
    );
    assert_eq!(
        scene.snapshot.sessions.by_state.total(),
        pg::client_backends(&payflow.watcher).await as u64
    );
    assert_eq!(pg::exporter_sessions(&payflow.watcher).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_read_truncates_statement_text_when_enabled() {
    let payflow = PayFlowPg::start().await;
    let target = target(
        &payflow.dsn(payflow::MONITOR_ROLE),
        Some("incident:\n  query_text: true\n  query_text_max_length: 12\n"),
    );
    connected(&target).await;
    let scene = incident(&target).await;
    let rows = by_pid(&scene);
    let root = rows[&i64::from(payflow.root_pid())];
    assert_eq!(
        root.query.as_deref(),
        Some(&payflow::ROOT_STATEMENT[..12]),
        "{root:?}"
    );
    assert!(
        scene
            .sessions
            .iter()
            .all(|s| s.query.as_ref().is_none_or(|q| q.chars().count() <= 12))
    );
    assert_eq!(pg::exporter_sessions(&payflow.watcher).await, 1);
}
