//! What the incident view costs the server and the exporter, against the metrics
//! read it comes with: one incident read (a metrics read, then every client session
//! pid by pid) beside one metrics read, at 100 and 2,000 client sessions. The goal:
//! an incident read under twice a metrics read.
//!
//! Each size gets a fresh throwaway PostgreSQL cluster (`max_connections` = size +
//! 50) holding a PayFlow-shaped crowd: idle sessions, two idle in transaction, and
//! a row lock with three waiters, so that `pg_blocking_pids` runs in both reads.
//! The exporter's session is opened through the library as the exporter opens it
//! (flags → configuration → the target's connector), and both reads are called on
//! that one session, sequentially, in rounds, the order swapped every round so
//! that drifting load hits both alike.
//!
//! The reads are called on the session (`Reader::read`, `Reader::incident`), the
//! calls `Target::report` and `Target::incident` make: `Target::incident` serves a
//! read younger than two seconds again, so through it every round after the first
//! would time a cache.
//!
//!     cargo bench --bench incident                   # 100 and 2,000 sessions, 100 rounds
//!     cargo bench --bench incident -- 100 500 --rounds 40
//!     cargo bench --bench incident -- --no-write     # print only
//!
//! The section is printed and written into bench/RESULTS.md between the `incident`
//! markers.

#[path = "../tests/support/mod.rs"]
mod support;

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use clap::Parser;
use futures::StreamExt;

use dbconn_exporter::config::{Cli, Config};
use dbconn_exporter::engines::Reader;
use support::pg::{self, PgCluster, PgOptions};

struct Args {
    sizes: Vec<usize>,
    rounds: usize,
    write: bool,
}

fn args() -> Args {
    let mut a = Args {
        sizes: Vec::new(),
        rounds: 100,
        write: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--rounds" => a.rounds = it.next().and_then(|v| v.parse().ok()).expect("--rounds N"),
            "--no-write" => a.write = false,
            // cargo bench passes --bench to every harness-less bench.
            "--bench" => {}
            n => a
                .sizes
                .push(n.parse().unwrap_or_else(|_| panic!("unknown argument {n}"))),
        }
    }
    if a.sizes.is_empty() {
        a.sizes = vec![100, 2000];
    }
    a
}

/// What one size measured.
struct Row {
    sessions: u64,
    listed: usize,
    metrics: Vec<Duration>,
    incident: Vec<Duration>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Lets this process hold `n` more sockets.
fn raise_open_files(n: u64) {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write only into the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) == 0 && rl.rlim_cur < n + 256 {
            rl.rlim_cur = (n + 256).min(rl.rlim_max);
            assert_eq!(
                libc::setrlimit(libc::RLIMIT_NOFILE, &rl),
                0,
                "raise RLIMIT_NOFILE"
            );
        }
    }
}

async fn measure(size: usize, rounds: usize) -> Row {
    raise_open_files(size as u64 + 64);
    let cluster = PgCluster::start(PgOptions {
        max_connections: size as u32 + 50,
        superuser_reserved_connections: 3,
        ..PgOptions::default()
    });
    cluster
        .exec(
            "CREATE TABLE accounts (id int PRIMARY KEY, balance int); \
             INSERT INTO accounts VALUES (1, 100)",
        )
        .await;
    let watcher = cluster.superuser_session("bench-watcher").await;

    // The exporter's session, opened as the exporter opens it.
    let cli = Cli::try_parse_from([
        "dbconn_exporter".to_string(),
        format!("--target={}", cluster.dsn("postgres", "postgres")),
    ])
    .expect("flags");
    let config = Config::load(&cli).expect("configuration");
    let settings = config.collection.read_settings();
    let spec = config.targets.into_iter().next().expect("a target");
    let mut session = match spec.connector.connect(&settings).await {
        Ok(s) => s,
        Err(e) => panic!("the exporter's session: {}", e.message),
    };

    // The crowd: 1 watcher + 1 exporter + 2 idle in transaction + 1 holder + 3
    // waiters, and idle sessions for the rest.
    let in_transaction = cluster
        .connect_many(2, "postgres", "postgres", "payflow-api")
        .await;
    for c in &in_transaction {
        c.batch_execute("BEGIN; SELECT 1")
            .await
            .expect("open a transaction");
    }
    let lock = cluster
        .hold_row_lock("postgres", "payflow-batch", &["payflow-api"; 3])
        .await;
    let idle_count = size.saturating_sub(8);
    let idle: Vec<tokio_postgres::Client> = futures::stream::iter(0..idle_count)
        .map(|_| cluster.connect("postgres", "postgres", "payflow-api"))
        .buffer_unordered(8)
        .map(|c| c.expect("an idle session"))
        .collect()
        .await;
    let clients = loop {
        let n = pg::client_backends(&watcher).await;
        let waiting: i64 = watcher
            .query_one(
                "SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted",
                &[],
            )
            .await
            .expect("count waiters")
            .get(0);
        if n as usize == size && waiting == 3 {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!("-- {clients} client sessions ({} idle)", idle.len());

    // Warm-up: statements prepared, names and settings read, caches hot.
    for _ in 0..5 {
        session.read(&settings).await.expect("metrics read");
        session.incident(&settings).await.expect("incident read");
    }
    let mut metrics = Vec::with_capacity(rounds);
    let mut incident = Vec::with_capacity(rounds);
    let mut listed = 0;
    let mut counted = 0;
    for round in 0..rounds {
        for step in 0..2 {
            if (round + step) % 2 == 0 {
                let t = Instant::now();
                let snapshot = session.read(&settings).await.expect("metrics read");
                metrics.push(t.elapsed());
                counted = snapshot.sessions.by_state.total();
            } else {
                let t = Instant::now();
                let scene = session.incident(&settings).await.expect("incident read");
                incident.push(t.elapsed());
                listed = scene.sessions.len();
                assert_eq!(scene.snapshot.sessions.by_state.total(), listed as u64);
            }
        }
    }
    assert_eq!(counted as i64, clients);
    assert_eq!(
        pg::exporter_sessions(&watcher).await,
        1,
        "one exporter session"
    );
    Box::new(session).close().await;
    drop(idle);
    lock.release().await;
    drop(in_transaction);
    metrics.sort();
    incident.sort();
    Row {
        sessions: counted,
        listed,
        metrics,
        incident,
    }
}

fn render(rows: &[Row], rounds: usize, version: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### Incident read vs metrics read (`cargo bench --bench incident`)\n"
    );
    let _ = writeln!(
        out,
        "{version}, one exporter session, {rounds} rounds per size, reads alternated; \
         wall time per read in the bench process (release build), load average {}.\n",
        load_average()
    );
    let _ = writeln!(
        out,
        "| client sessions | rows listed | metrics p50 | metrics p95 | incident p50 | incident p95 | ratio p50 | ratio p95 |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let (m50, m95) = (percentile(&r.metrics, 0.5), percentile(&r.metrics, 0.95));
        let (i50, i95) = (percentile(&r.incident, 0.5), percentile(&r.incident, 0.95));
        let _ = writeln!(
            out,
            "| {} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {:.2}× | {:.2}× |",
            r.sessions,
            r.listed,
            ms(m50),
            ms(m95),
            ms(i50),
            ms(i95),
            ms(i50) / ms(m50),
            ms(i95) / ms(m95),
        );
    }
    let _ = writeln!(
        out,
        "\nAn incident read is a metrics read plus one statement over \
         `pg_stat_get_activity(NULL)` (one row per client session, `pg_blocking_pids` \
         only for lock waiters); the goal is a ratio under 2×."
    );
    out
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

fn server_version() -> String {
    std::process::Command::new(pg::bindir().join("postgres"))
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "PostgreSQL".into())
}

/// Replaces the text between `<!-- incident:begin -->` and `<!-- incident:end -->`,
/// or appends the marked section.
fn replace_section(path: &Path, content: &str) {
    let (begin, end) = ("<!-- incident:begin -->", "<!-- incident:end -->");
    let old = std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmark results\n".into());
    let section = format!("{begin}\n{}\n{end}", content.trim_end());
    let new = match (old.find(begin), old.find(end)) {
        (Some(b), Some(e)) if e > b => format!("{}{section}{}", &old[..b], &old[e + end.len()..]),
        _ => format!("{}\n\n{section}\n", old.trim_end()),
    };
    std::fs::write(path, new).expect("write RESULTS.md");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = args();
    let mut rows = Vec::new();
    for &size in &args.sizes {
        rows.push(measure(size, args.rounds).await);
    }
    let report = render(&rows, args.rounds, &server_version());
    println!("\n{report}");
    if args.write {
        let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/RESULTS.md");
        replace_section(&results, &report);
        println!("written to {}", results.display());
    }
}
