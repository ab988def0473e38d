//! The incident view's acceptance, with real parts only: the PayFlow outage on a
//! full PostgreSQL and a full MariaDB, the exporter binary connected before the
//! server filled, its JSON API, its page in Debian's `chromium`, and the
//! `incident` command against the running exporter. Every expectation comes from
//! the scene (the pids its sessions reported) or from the server itself (asked
//! through a superuser session), never from the report under test.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mysql_async::prelude::Queryable;
use serde_json::Value;

use support::ConfigFile;
use support::chromium::{self, CSP_VIOLATION, Chromium};
use support::exporter::{BINARY, Exporter};
use support::http;
use support::payflow::{self, PayFlowPg};
use support::payflow_mariadb::{
    ExporterConnections, MAX_CONNECTIONS as MARIA_MAX, PAYFLOW, PayFlowScene, PayFlowServer, scalar,
};
use support::pg;

const PG_TARGET: &str = "payflow-pg";
const MARIA_TARGET: &str = "payflow-maria";

/// How long a test waits for any state it asserts; generous, for a loaded machine.
const PATIENCE: Duration = Duration::from_secs(90);

/// The exporter's configuration: the one target, relief offered after 1 s.
fn config(name: &str, dsn: &str) -> ConfigFile {
    ConfigFile::new(&format!(
        "targets:\n  - name: {name}\n    dsn: {dsn}\nincident:\n  relief_idle_after: 1s\n  relief_active_after: 1s\n"
    ))
}

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs_f64()
}

/// The JSON report of `target`, polled until the exporter serves one read after
/// `after` (Unix seconds): a read is reused for a moment, and what the test waited
/// for must be in it.
async fn report_after(exporter: &Exporter, target: &str, after: f64) -> Value {
    let path = format!("/api/v1/incident?target={target}");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let r = http::get(exporter.address(), &path, &[]).await;
        if r.status == 200 {
            let report: Value = serde_json::from_str(&r.body)
                .unwrap_or_else(|e| panic!("{path} is not JSON ({e}):\n{}", r.body));
            if report["read_at_unix_seconds"]
                .as_f64()
                .is_some_and(|t| t > after)
            {
                return report;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{path} never served a read after {after}: {} {}",
            r.status,
            r.body
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The relief entries with `id`.
fn relief<'a>(report: &'a Value, id: &str) -> Vec<&'a Value> {
    report["relief"]
        .as_array()
        .expect("relief")
        .iter()
        .filter(|r| r["id"] == id)
        .collect()
}

/// Every statement of the report: relief and advice.
fn statements(report: &Value) -> Vec<String> {
    ["relief", "advice"]
        .iter()
        .flat_map(|part| report[*part].as_array().expect(part).iter())
        .flat_map(|x| x["sql"].as_array().expect("sql").iter())
        .map(|s| s.as_str().expect("a statement").to_string())
        .collect()
}

/// Every run of digits in `sql`, as a number.
fn integers(sql: &str) -> BTreeSet<i64> {
    sql.split(|c: char| !c.is_ascii_digit())
        .filter(|t| !t.is_empty())
        .filter_map(|t| t.parse().ok())
        .collect()
}

/// The pids a PostgreSQL relief statement names: in `pid IN (…)` or `pid = N`.
fn pg_statement_pids(sql: &str) -> BTreeSet<i64> {
    if let Some(rest) = sql.split_once("WHERE pid IN (").map(|(_, r)| r) {
        let list = rest.split_once(')').expect("a closed pid list").0;
        return list
            .split(',')
            .map(|p| {
                p.trim()
                    .parse()
                    .unwrap_or_else(|e| panic!("{p:?} in {sql}: {e}"))
            })
            .collect();
    }
    let rest = sql
        .split_once("WHERE pid = ")
        .unwrap_or_else(|| panic!("no pid in {sql}"))
        .1;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    BTreeSet::from([digits.parse().unwrap_or_else(|e| panic!("{sql}: {e}"))])
}

/// The thread ids of MySQL statements that must read exactly `KILL <id>;`.
fn kill_ids(sql: &[Value]) -> BTreeSet<i64> {
    sql.iter()
        .map(|s| {
            let s = s.as_str().expect("a statement");
            s.strip_prefix("KILL ")
                .and_then(|r| r.strip_suffix(';'))
                .and_then(|id| id.parse().ok())
                .unwrap_or_else(|| panic!("not `KILL <id>;`: {s}"))
        })
        .collect()
}

fn pids_of(v: &Value) -> BTreeSet<i64> {
    v.as_array()
        .expect("a list of pids")
        .iter()
        .map(|p| p.as_i64().expect("a pid"))
        .collect()
}

/// The waiters below `root` and how many wait on it directly, from the edges
/// `waiter → the sessions it waits on` the server gave.
fn tree_below(root: i64, edges: &BTreeMap<i64, Vec<i64>>) -> (BTreeSet<i64>, usize) {
    let direct = edges.values().filter(|b| b.contains(&root)).count();
    let mut below = BTreeSet::new();
    let mut frontier = vec![root];
    while let Some(blocker) = frontier.pop() {
        for (waiter, blockers) in edges {
            if blockers.contains(&blocker) && *waiter != root && below.insert(*waiter) {
                frontier.push(*waiter);
            }
        }
    }
    (below, direct)
}

/// Each waiter of a root blocker's tree waits on the session the server says it
/// waits on.
fn assert_tree_follows(root: &Value, edges: &BTreeMap<i64, Vec<i64>>) {
    for w in root["waiters"].as_array().expect("waiters") {
        let pid = w["pid"].as_i64().expect("pid");
        let on = w["waits_for"].as_i64().expect("waits_for");
        assert!(
            edges.get(&pid).is_some_and(|b| b.contains(&on)),
            "{pid} waits on {on} in the report, not for the server: {edges:?}"
        );
    }
}

/// `v` without its time-dependent numbers: every `…_seconds` field.
fn timeless(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !k.ends_with("_seconds"))
                .map(|(k, v)| (k.clone(), timeless(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(timeless).collect()),
        other => other.clone(),
    }
}

/// `dbconn_exporter incident --exporter … --target … [args]`: stdout, or a failure
/// with everything printed.
fn incident_command(exporter: &Exporter, target: &str, args: &[&str]) -> String {
    let out = Command::new(BINARY)
        .args([
            "incident",
            "--exporter",
            &format!("http://{}", exporter.address()),
            "--target",
            target,
        ])
        .args(args)
        .env_remove("DBCONN_INCIDENT_PASSWORD")
        .output()
        .expect("run the incident command");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "incident {args:?}: {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

async fn pg_scalar(watcher: &tokio_postgres::Client, sql: &str) -> i64 {
    watcher
        .query_one(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .get(0)
}

/// Polls `sql` (one bigint) on the watcher until it gives `expected`.
async fn pg_wait(watcher: &tokio_postgres::Client, what: &str, sql: &str, expected: i64) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let n = pg_scalar(watcher, sql).await;
        if n == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {n}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn join(pids: impl IntoIterator<Item = i64>) -> String {
    pids.into_iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payflow_on_a_full_postgresql_through_the_api_the_page_and_the_command() {
    let mut scene = PayFlowPg::start().await;
    let config = config(PG_TARGET, &scene.dsn(payflow::MONITOR_ROLE));
    let exporter = Exporter::start(&[config.arg()]);
    pg_wait(
        &scene.watcher,
        "the exporter's session",
        "SELECT count(*) FROM pg_stat_get_activity(NULL) WHERE application_name = 'dbconn_exporter'",
        1,
    )
    .await;

    // The server is full: an ordinary login is refused as too many clients.
    let refusal = scene.fill().await;
    assert_eq!(
        refusal.code().map(|c| c.code()),
        Some("53300"),
        "the refusal of an ordinary login: {refusal}"
    );
    let late = scene
        .cluster
        .connect(payflow::APP_ROLE, "postgres", "latecomer")
        .await;
    assert_eq!(
        late.err()
            .and_then(|e| e.code().map(|c| c.code().to_string())),
        Some("53300".to_string())
    );

    let watcher = &scene.watcher;
    let idle: BTreeSet<i64> = scene.idle.iter().map(|h| i64::from(h.pid)).collect();
    let api: BTreeSet<i64> = scene.api_pids().into_iter().map(i64::from).collect();
    let root = i64::from(scene.root_pid());
    let watcher_pid = i64::from(pg_scalar32(watcher, "SELECT pg_backend_pid()").await);

    // Every idle session has been idle for more than the relief threshold (1 s),
    // by the server's clock; then a read made after that moment.
    pg_wait(
        watcher,
        "idle payflow-api sessions idle for over 1.5 s",
        &format!(
            "SELECT count(*) FROM pg_stat_get_activity(NULL) WHERE pid IN ({}) AND state = 'idle' AND state_change < now() - interval '1.5 seconds'",
            join(idle.iter().copied())
        ),
        idle.len() as i64,
    )
    .await;
    let report = report_after(&exporter, PG_TARGET, now_unix()).await;
    assert_eq!(report["target"], PG_TARGET);
    assert_eq!(report["engine"], "postgresql");

    // The exporter's own session: once in the list, and the one the server names.
    let own: Vec<&Value> = report["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .filter(|s| s["own"] == true)
        .collect();
    assert_eq!(own.len(), 1, "{report:#}");
    let own_pid = own[0]["pid"].as_i64().expect("own pid");
    let server_own_pid = pg_scalar32(
        watcher,
        "SELECT pid FROM pg_stat_get_activity(NULL) WHERE application_name = 'dbconn_exporter'",
    )
    .await;
    assert_eq!(own_pid, i64::from(server_own_pid));
    assert!(!api.contains(&own_pid) && own_pid != root && own_pid != watcher_pid);

    // Usage: every client backend the server lists, at 17 ordinary slots of 20.
    let clients = pg::client_backends(watcher).await;
    assert_eq!(
        report["usage"]["sessions"], clients,
        "{:#}",
        report["usage"]
    );
    assert_eq!(report["usage"]["max_connections"], payflow::MAX_CONNECTIONS);
    assert_eq!(
        report["usage"]["limit"],
        payflow::MAX_CONNECTIONS - payflow::SUPERUSER_RESERVED
    );
    let ratio = report["usage"]["ratio"].as_f64().expect("a ratio");
    assert!(ratio >= 1.0, "a full server at {ratio}");

    // The hoarder first: payflow-api, every one of its sessions, idle share
    // from the scene's groups (idle / everything it holds).
    let top = &report["holders"][0];
    assert_eq!(top["application"], payflow::API, "{:#}", report["holders"]);
    assert_eq!(top["user"], payflow::APP_ROLE);
    assert_eq!(top["database"], "postgres");
    assert_eq!(top["sessions"], api.len());
    assert_eq!(
        top["states"],
        serde_json::json!({
            "idle": idle.len(),
            "idle_in_transaction": scene.idle_in_transaction.len(),
            "active": scene.waiters.len() + 1,
        })
    );
    let idle_ratio = top["idle_ratio"].as_f64().expect("idle_ratio");
    assert!(
        (idle_ratio - idle.len() as f64 / api.len() as f64).abs() < 1e-9,
        "{idle_ratio} for {} idle of {}",
        idle.len(),
        api.len()
    );

    // The lock tree as PostgreSQL itself tells it (pg_blocking_pids).
    let edges: BTreeMap<i64, Vec<i64>> = watcher
        .query(
            "SELECT pid, pg_blocking_pids(pid) FROM pg_stat_get_activity(NULL) WHERE cardinality(pg_blocking_pids(pid)) > 0",
            &[],
        )
        .await
        .expect("the server's lock edges")
        .iter()
        .map(|r| {
            let waiter: i32 = r.get(0);
            let blockers: Vec<i32> = r.get(1);
            (
                i64::from(waiter),
                blockers.into_iter().map(i64::from).collect(),
            )
        })
        .collect();
    let (below, direct) = tree_below(root, &edges);
    let expected_below: BTreeSet<i64> = scene
        .waiter_pids()
        .into_iter()
        .chain([scene.second_level.pid])
        .map(i64::from)
        .collect();
    assert_eq!(below, expected_below, "the server's edges: {edges:?}");
    // PostgreSQL queues the later updaters of a row behind the tuple lock of the
    // first: only the first waiter waits on the root directly.
    assert_eq!(direct, 1, "the server's edges: {edges:?}");
    let roots = report["root_blockers"].as_array().expect("root_blockers");
    assert_eq!(roots.len(), 1, "{roots:#?}");
    let r0 = &roots[0];
    assert_eq!(r0["pid"], root);
    assert_eq!(r0["application"], payflow::BATCH);
    assert_eq!(r0["state"], "idle_in_transaction");
    assert_eq!(r0["blocked_total"], 4, "3 waiters and the second level");
    assert_eq!(
        r0["blocked_directly"], direct,
        "the server's edges: {edges:?}"
    );
    let listed: BTreeSet<i64> = r0["waiters"]
        .as_array()
        .expect("waiters")
        .iter()
        .map(|w| w["pid"].as_i64().expect("pid"))
        .collect();
    assert_eq!(listed, expected_below);
    assert_tree_follows(r0, &edges);

    // Relief: exactly the idle payflow-api sessions, exactly the root blocker, and
    // never the exporter, the watcher or the root among the idle.
    let idle_relief = relief(&report, "terminate_idle_of_top_holder");
    assert!(!idle_relief.is_empty(), "{:#}", report["relief"]);
    let mut named = BTreeSet::new();
    let mut listed_pids = BTreeSet::new();
    for r in &idle_relief {
        for sql in r["sql"].as_array().expect("sql") {
            named.extend(pg_statement_pids(sql.as_str().expect("a statement")));
        }
        listed_pids.extend(pids_of(&r["pids"]));
    }
    assert_eq!(named, idle, "{:#}", report["relief"]);
    assert_eq!(listed_pids, idle);
    let root_relief = relief(&report, "terminate_root_blocker");
    assert_eq!(root_relief.len(), 1, "{:#}", report["relief"]);
    let root_sql = root_relief[0]["sql"].as_array().expect("sql");
    assert_eq!(root_sql.len(), 1);
    assert_eq!(
        pg_statement_pids(root_sql[0].as_str().expect("a statement")),
        BTreeSet::from([root])
    );
    assert_eq!(pids_of(&root_relief[0]["pids"]), BTreeSet::from([root]));
    for sql in statements(&report) {
        let numbers = integers(&sql);
        assert!(!numbers.contains(&own_pid), "the exporter's pid in {sql}");
        assert!(
            !numbers.contains(&watcher_pid),
            "the watcher's pid in {sql}"
        );
    }
    for r in report["relief"].as_array().expect("relief") {
        let pids = pids_of(&r["pids"]);
        assert!(
            !pids.contains(&own_pid) && !pids.contains(&watcher_pid),
            "{r:#}"
        );
    }

    // The page, as the server sends it and as a phone's browser renders it.
    let page_path = format!("/incident?target={PG_TARGET}");
    for _ in 0..3 {
        let page = http::get(exporter.address(), &page_path, &[]).await;
        assert_eq!(page.status, 200, "{}", page.body);
    }
    let url = format!("http://{}{page_path}", exporter.address());
    let browser = Chromium::new();
    browser.assert_logs_violations();
    let dom = browser.dom(&url);
    assert!(!dom.stderr.contains(CSP_VIOLATION), "{}", dom.stderr);
    for shown in [
        format!("<h1>{PG_TARGET}</h1>"),
        format!("<td>{}</td><td>{}</td>", api.len(), payflow::API),
        format!("<b>pid {root}</b>"),
    ] {
        assert!(
            dom.stdout.contains(&shown),
            "{shown} not in:\n{}",
            dom.stdout
        );
    }
    let screenshot = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/incident-payflow.png");
    let shot = browser.screenshot(&url, &screenshot, 412, 915);
    assert!(!shot.stderr.contains(CSP_VIOLATION), "{}", shot.stderr);
    chromium::assert_png(&screenshot);

    // The command against the running exporter: the same scene in text and JSON.
    let text = incident_command(&exporter, PG_TARGET, &[]);
    assert!(
        text.lines().any(|l| l.starts_with(&format!("  {root} "))),
        "no root blocker line for {root}:\n{text}"
    );
    assert!(text.contains(payflow::API), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with(&format!(
            "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = {root} "
        ))),
        "no relief statement for {root}:\n{text}"
    );
    let json = incident_command(&exporter, PG_TARGET, &["--output", "json"]);
    let from_command: Value = serde_json::from_str(&json).expect("the command prints JSON");
    let api_report = report_after(&exporter, PG_TARGET, 0.0).await;
    for part in ["root_blockers", "holders"] {
        assert_eq!(
            timeless(&from_command[part]),
            timeless(&api_report[part]),
            "{part}"
        );
        assert_eq!(
            timeless(&from_command[part]),
            timeless(&report[part]),
            "{part}"
        );
    }

    // Through every call, page and command, one session of the exporter's.
    assert_eq!(pg::exporter_sessions(watcher).await, 1);
    assert_eq!(scene.cluster.backends_of(payflow::MONITOR_ROLE), 1);
}

async fn pg_scalar32(watcher: &tokio_postgres::Client, sql: &str) -> i32 {
    watcher
        .query_one(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .get(0)
}

const ONE_CONNECTION: ExporterConnections = ExporterConnections {
    listed: 1,
    by_program: 1,
    ever: 1,
};

/// The lock edges `waiting thread → blocking thread` InnoDB reports.
async fn maria_edges(scene: &mut PayFlowScene) -> BTreeMap<i64, Vec<i64>> {
    let rows: Vec<(i64, i64)> = scene
        .watcher
        .query(
            "SELECT r.trx_mysql_thread_id, b.trx_mysql_thread_id \
             FROM information_schema.INNODB_LOCK_WAITS w \
             JOIN information_schema.INNODB_TRX r ON r.trx_id = w.requesting_trx_id \
             JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id",
        )
        .await
        .expect("InnoDB's lock waits");
    let mut edges: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (waiter, blocker) in rows {
        edges.entry(waiter).or_default().push(blocker);
    }
    edges
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payflow_on_a_full_mariadb_through_the_api() {
    let server = PayFlowServer::start().await;
    let config = config(MARIA_TARGET, &server.dsn);
    let exporter = Exporter::start(&[config.arg()]);
    // Waits for the exporter's thread, then fills the server.
    let mut scene = server.fill().await;
    assert_eq!(scene.refusal_code(), Some(1040), "{}", scene.refusal);
    assert_eq!(scene.exporter_connections().await, ONE_CONNECTION);

    // The idle threads idle for at least 2 whole seconds (the processlist counts
    // whole seconds, and relief wants more than 1), then a read after that.
    let idle: BTreeSet<i64> = scene.idle_ids.iter().copied().collect();
    let idle_sql = format!(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID IN ({}) AND COMMAND = 'Sleep' AND TIME >= 2",
        join(idle.iter().copied())
    );
    let deadline = Instant::now() + PATIENCE;
    while scalar(&mut scene.watcher, &idle_sql).await != idle.len() as i64 {
        assert!(Instant::now() < deadline, "the idle threads never aged");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let report = report_after(&exporter, MARIA_TARGET, now_unix()).await;
    assert_eq!(report["engine"], "mariadb");
    let root = scene.root_blocker_id;
    let exporter_id = scene.exporter_id;
    let watcher_id = scene.watcher_id;

    let own: Vec<&Value> = report["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .filter(|s| s["own"] == true)
        .collect();
    assert_eq!(own.len(), 1, "{report:#}");
    assert_eq!(own[0]["pid"], exporter_id);

    assert_eq!(report["usage"]["sessions"], MARIA_MAX);
    assert_eq!(report["usage"]["ratio"], 1.0);

    // The hoarder: the payflow application (program name and user), all 18 of
    // its threads, 12 of them idle.
    let payflow_ids = scene.payflow_ids();
    let top = &report["holders"][0];
    assert_eq!(top["application"], PAYFLOW, "{:#}", report["holders"]);
    assert_eq!(top["user"], PAYFLOW);
    assert_eq!(top["database"], "pay");
    assert_eq!(top["sessions"], payflow_ids.len());
    assert_eq!(
        top["states"],
        serde_json::json!({
            "idle": idle.len(),
            "idle_in_transaction": scene.idle_in_transaction_ids.len() + 1,
            "active": scene.waiter_ids.len(),
        })
    );
    let idle_ratio = top["idle_ratio"].as_f64().expect("idle_ratio");
    assert!(
        (idle_ratio - idle.len() as f64 / payflow_ids.len() as f64).abs() < 1e-9,
        "{idle_ratio}"
    );

    // The root blocker and its waiters, against InnoDB's own lock waits.
    let edges = maria_edges(&mut scene).await;
    let (below, direct) = tree_below(root, &edges);
    let waiters: BTreeSet<i64> = scene.waiter_ids.iter().copied().collect();
    assert_eq!(below, waiters, "InnoDB's edges: {edges:?}");
    let roots = report["root_blockers"].as_array().expect("root_blockers");
    assert_eq!(roots.len(), 1, "{roots:#?}");
    assert_eq!(roots[0]["pid"], root);
    assert_eq!(roots[0]["blocked_total"], waiters.len());
    assert_eq!(
        roots[0]["blocked_directly"], direct,
        "InnoDB's edges: {edges:?}"
    );
    assert_tree_follows(&roots[0], &edges);

    // Relief: `KILL <id>;` for exactly the idle threads and the root blocker.
    let idle_relief = relief(&report, "terminate_idle_of_top_holder");
    assert_eq!(idle_relief.len(), 1, "{:#}", report["relief"]);
    assert_eq!(
        kill_ids(idle_relief[0]["sql"].as_array().expect("sql")),
        idle
    );
    assert_eq!(pids_of(&idle_relief[0]["pids"]), idle);
    let root_relief = relief(&report, "terminate_root_blocker");
    assert_eq!(root_relief.len(), 1, "{:#}", report["relief"]);
    assert_eq!(
        root_relief[0]["sql"],
        serde_json::json!([format!("KILL {root};")])
    );
    for sql in statements(&report) {
        let numbers = integers(&sql);
        assert!(
            !numbers.contains(&exporter_id),
            "the exporter's id in {sql}"
        );
        assert!(!numbers.contains(&watcher_id), "the console's id in {sql}");
    }

    // More calls, and still the one connection the exporter ever opened.
    for _ in 0..3 {
        let r = http::get(
            exporter.address(),
            &format!("/api/v1/incident?target={MARIA_TARGET}"),
            &[],
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    incident_command(&exporter, MARIA_TARGET, &["--output", "json"]);
    assert_eq!(scene.exporter_connections().await, ONE_CONNECTION);
    scene.release().await;
}
