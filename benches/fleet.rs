//! How one exporter process scales with the number of targets it holds: what an
//! operator needs to know before giving one process 200 databases rather than
//! sharding them.
//!
//! Starts a few throwaway PostgreSQL clusters (4 by default), creates one database
//! per target on them, and starts one release exporter per size (1, 50 and 200
//! targets by default; eager sessions, the default) — all at once, each on its own
//! databases, so that a database has at most one exporter session and any other is a
//! fault. Every exporter's first target lives on the first cluster, which all of them
//! share: the one-target read then costs the server the same whichever exporter
//! asks, and a difference in `/probe` is the process's own.
//!
//! The machine is shared (other builds, other servers): load that drifts during a run
//! must hit every size alike, so the `/probe` requests go round-robin across the
//! exporters (the starting exporter rotating), in several rounds, and each round's
//! ratio is reported with the spread over the rounds and the load average. `/metrics`
//! is interleaved the same way.
//!
//! Measured per exporter: `/metrics` p50/p99 (sequential GETs, each a new TCP
//! connection with Prometheus's Accept and timeout headers), `/probe?target=<first>`
//! p50/p99, the exporter's CPU per `/metrics`, VmRSS after warm-up and after the
//! scrapes, VmHWM, and the sessions it holds: `pg_stat_activity` rows with
//! `application_name = 'dbconn_exporter'` per database (exactly one per target,
//! asserted), cross-checked by the exporter's own TCP connections to each cluster.
//!
//!     cargo bench --bench fleet                          # 1, 50 and 200 targets on 4 clusters
//!     cargo bench --bench fleet -- 1 100 400 --clusters 8
//!     cargo bench --bench fleet -- --rounds 10 --probes 200
//!     cargo bench --bench fleet -- --no-write            # print only
//!     cargo bench --bench fleet -- --no-write --hold     # then keep everything up
//!                                                        # (to attach a profiler)
//!     cargo bench --bench fleet -- --no-write \
//!         --exporter-env LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
//!                                                        # the exporters on another allocator
//!
//! The section is printed and written into bench/RESULTS.md between the `fleet`
//! markers, so the hand-written analysis there survives a re-run.

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "peers/procfs.rs"]
#[allow(dead_code)]
mod procfs;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use support::exporter::{BINARY, OPENMETRICS};
use support::http;
use support::pg::{PgCluster, PgOptions};
use support::proc::{self, ScratchDir};

const TIMEOUT_HEADER: (&str, &str) = ("X-Prometheus-Scrape-Timeout-Seconds", "10");

struct Args {
    sizes: Vec<usize>,
    clusters: usize,
    rounds: usize,
    probes: usize,
    write: bool,
    hold: bool,
    /// Extra environment for the exporters only (an allocator to compare).
    exporter_env: Vec<(String, String)>,
    command: String,
}

fn args() -> Args {
    let raw: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mut a = Args {
        sizes: Vec::new(),
        clusters: 4,
        rounds: 10,
        probes: 100,
        write: true,
        hold: false,
        exporter_env: Vec::new(),
        command: String::new(),
    };
    let mut it = raw.iter();
    while let Some(arg) = it.next() {
        let mut number = |what: &str| -> usize {
            it.next()
                .and_then(|v| v.parse().ok())
                .filter(|v| *v > 0)
                .unwrap_or_else(|| panic!("{what} needs a positive number"))
        };
        match arg.as_str() {
            "--clusters" => a.clusters = number("--clusters"),
            "--rounds" => a.rounds = number("--rounds"),
            "--probes" => a.probes = number("--probes"),
            "--no-write" => a.write = false,
            "--hold" => a.hold = true,
            "--exporter-env" => {
                let (k, v) = it
                    .next()
                    .and_then(|kv| kv.split_once('='))
                    .unwrap_or_else(|| panic!("--exporter-env needs KEY=VALUE"));
                a.exporter_env.push((k.to_string(), v.to_string()));
            }
            n => a.sizes.push(
                n.parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .unwrap_or_else(|| panic!("unknown argument {n:?}")),
            ),
        }
    }
    if a.sizes.is_empty() {
        a.sizes = vec![1, 50, 200];
    }
    a.sizes.sort();
    a.sizes.dedup();
    a.command = std::iter::once("cargo bench --bench fleet".to_string())
        .chain((!raw.is_empty()).then(|| format!("-- {}", raw.join(" "))))
        .collect::<Vec<_>>()
        .join(" ");
    a
}

/// One target: the cluster that holds its database, and the database's name (which
/// is also the target's name: unique across exporters).
#[derive(Clone)]
struct Place {
    cluster: usize,
    db: String,
}

/// Target `i` of the exporter with `n` targets: round-robin over the clusters, so the
/// first target of every exporter is on cluster 0.
fn places(n: usize, clusters: usize) -> Vec<Place> {
    (0..n)
        .map(|i| Place {
            cluster: i % clusters,
            db: format!("fleet{n}_t{i:03}"),
        })
        .collect()
}

/// A release exporter with `--config.file`, on a free port, logging warnings only
/// (as the peer benchmark runs it: debug logs would be part of what is measured).
struct Running {
    size: usize,
    targets: Vec<Place>,
    child: Child,
    address: String,
    dir: ScratchDir,
}

impl Running {
    async fn start(
        size: usize,
        targets: Vec<Place>,
        clusters: &[PgCluster],
        env: &[(String, String)],
    ) -> Running {
        let dir = ScratchDir::new("dbconn-fleet");
        let mut yaml = String::from("targets:\n");
        for t in &targets {
            let dsn = clusters[t.cluster].dsn("postgres", &t.db);
            let _ = writeln!(yaml, "  - name: {}\n    dsn: {dsn}", t.db);
        }
        let config = dir.path().join("config.yml");
        std::fs::write(&config, yaml).expect("write the exporter's config");
        let log = std::fs::File::create(dir.path().join("exporter.log")).expect("create log");
        for _attempt in 0..5 {
            let address = format!("127.0.0.1:{}", proc::free_port());
            let mut child = proc::server_command(Path::new(BINARY), None)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--web.listen-address={address}"))
                .arg("--log.level=warn")
                .envs(env.iter().map(|(k, v)| (k, v)))
                .stdout(Stdio::null())
                .stderr(log.try_clone().expect("clone log"))
                .spawn()
                .expect("start the exporter");
            if wait_listening(&mut child, &address).await {
                return Running {
                    size,
                    targets,
                    child,
                    address,
                    dir,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "the exporter with {size} targets did not start:\n{}",
            std::fs::read_to_string(dir.path().join("exporter.log")).unwrap_or_default()
        );
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("exporter.log")).unwrap_or_default()
    }

    fn kb(&self, key: &str) -> u64 {
        procfs::status_kb(self.pid(), key)
            .unwrap_or_else(|| panic!("{key} of the exporter with {} targets", self.size))
    }

    /// One timed GET, checked after the clock stops: 200, and every target up.
    async fn timed_get(&self, path: &str, up_expected: usize) -> Duration {
        let start = Instant::now();
        let r = http::get(
            &self.address,
            path,
            &[("Accept", OPENMETRICS), TIMEOUT_HEADER],
        )
        .await;
        let took = start.elapsed();
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        let up = r
            .body
            .lines()
            .filter(|l| {
                l.starts_with("dbconn_up{")
                    && l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) == Some(1.0)
            })
            .count();
        assert_eq!(
            up,
            up_expected,
            "{path} of the exporter with {} targets: {up} targets up, want {up_expected}\n{}",
            self.size,
            self.log()
        );
        took
    }

    fn probe_path(&self) -> String {
        format!("/probe?target={}", self.targets[0].db)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for `/-/healthy`; false if the exporter exited (its port was taken).
async fn wait_listening(child: &mut Child, address: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if tokio::net::TcpStream::connect(address).await.is_ok() {
            return http::get(address, "/-/healthy", &[]).await.status == 200;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Creates every database, one superuser session per cluster, the clusters at once.
async fn create_databases(clusters: &[PgCluster], all: &[Place]) {
    let jobs = clusters.iter().enumerate().map(|(c, cluster)| {
        let mine: Vec<&Place> = all.iter().filter(|p| p.cluster == c).collect();
        async move {
            let s = cluster.superuser_session("fleet-setup").await;
            for p in mine {
                // CREATE DATABASE refuses to run inside the implicit transaction of
                // a multi-statement batch: one statement per call.
                s.batch_execute(&format!("CREATE DATABASE {}", p.db))
                    .await
                    .unwrap_or_else(|e| panic!("create database {}: {e}", p.db));
            }
        }
    });
    futures::future::join_all(jobs).await;
}

/// The exporter's sessions per database, as each cluster lists them.
async fn sessions_by_database(watchers: &[tokio_postgres::Client]) -> Vec<BTreeMap<String, i64>> {
    let mut out = Vec::new();
    for w in watchers {
        let rows = w
            .query(
                "SELECT datname, count(*) FROM pg_stat_activity \
                 WHERE application_name = 'dbconn_exporter' GROUP BY datname",
                &[],
            )
            .await
            .expect("count the exporter's sessions");
        out.push(
            rows.iter()
                .map(|r| (r.get::<_, Option<String>>(0).unwrap_or_default(), r.get(1)))
                .collect(),
        );
    }
    out
}

/// Waits until every target database shows exactly one exporter session and no other
/// database shows any; returns the sessions per exporter. Panics after 120 s.
async fn wait_one_session_per_target(
    watchers: &[tokio_postgres::Client],
    exporters: &[Running],
) -> Vec<i64> {
    let mut want: Vec<BTreeMap<String, i64>> = vec![BTreeMap::new(); watchers.len()];
    for e in exporters {
        for t in &e.targets {
            want[t.cluster].insert(t.db.clone(), 1);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let got = sessions_by_database(watchers).await;
        if got == want {
            return exporters
                .iter()
                .map(|e| {
                    e.targets
                        .iter()
                        .map(|t| got[t.cluster].get(&t.db).copied().unwrap_or(0))
                        .sum()
                })
                .collect();
        }
        if Instant::now() > deadline {
            let wrong: Vec<String> = (0..want.len())
                .flat_map(|c| {
                    let (want, got) = (&want[c], &got[c]);
                    want.keys()
                        .chain(got.keys())
                        .filter(|db| want.get(*db) != got.get(*db))
                        .map(|db| {
                            format!(
                                "cluster {c} {db}: want {:?}, got {:?}",
                                want.get(db),
                                got.get(db)
                            )
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
            panic!(
                "not exactly one exporter session per target:\n  {}",
                wrong.join("\n  ")
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The TCP connections each exporter holds to the clusters, from its own sockets.
fn tcp_sessions(exporters: &[Running], clusters: &[PgCluster]) -> Vec<usize> {
    exporters
        .iter()
        .map(|e| {
            clusters
                .iter()
                .map(|c| proc::tcp_connections_to(e.pid(), c.port()))
                .sum()
        })
        .collect()
}

/// CPU time of every thread of `pid` so far (the first field of each thread's
/// `schedstat`, in ns): exact, where `stat`'s ticks are 10 ms.
fn cpu_ns(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// (p50, p99) in ms.
fn percentiles(samples: &[Duration]) -> (f64, f64) {
    let mut s = samples.to_vec();
    s.sort();
    let at = |q: f64| {
        let i = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1;
        ms(s[i])
    };
    (at(0.5), at(0.99))
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `rounds` rounds of `probes` GETs per exporter, round-robin across the exporters,
/// the first one rotating; returns, per round, the samples of each exporter and the
/// load average at the round's end, and each exporter's CPU per probe in ms.
async fn probe_rounds(
    exporters: &[Running],
    rounds: usize,
    probes: usize,
) -> Vec<(Vec<Vec<Duration>>, String, Vec<f64>)> {
    let mut out = Vec::new();
    for round in 0..rounds {
        let mut samples = vec![Vec::with_capacity(probes); exporters.len()];
        let cpu_before: Vec<u64> = exporters.iter().map(|e| cpu_ns(e.pid())).collect();
        for i in 0..probes {
            for k in 0..exporters.len() {
                let e = (i + k) % exporters.len();
                samples[e].push(exporters[e].timed_get(&exporters[e].probe_path(), 1).await);
            }
        }
        let cpu: Vec<f64> = exporters
            .iter()
            .zip(&cpu_before)
            .map(|(e, b)| (cpu_ns(e.pid()) - b) as f64 / 1e6 / probes as f64)
            .collect();
        let load = loadavg();
        println!(
            "probe round {}: p50 ms {:?} (load {load})",
            round + 1,
            samples
                .iter()
                .map(|s| (percentiles(s).0 * 1000.0).round() / 1000.0)
                .collect::<Vec<_>>()
        );
        out.push((samples, load, cpu));
    }
    out
}

/// `/metrics`, `count(size)` GETs per exporter, interleaved until each has its count;
/// returns the samples and the exporter's CPU per scrape in ms.
async fn metrics_runs(
    exporters: &[Running],
    count: impl Fn(usize) -> usize,
) -> Vec<(Vec<Duration>, f64)> {
    let want: Vec<usize> = exporters.iter().map(|e| count(e.size)).collect();
    let cpu_before: Vec<u64> = exporters.iter().map(|e| cpu_ns(e.pid())).collect();
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); exporters.len()];
    let mut i = 0;
    while samples.iter().zip(&want).any(|(s, w)| s.len() < *w) {
        for k in 0..exporters.len() {
            let e = (i + k) % exporters.len();
            if samples[e].len() < want[e] {
                let took = exporters[e].timed_get("/metrics", exporters[e].size).await;
                samples[e].push(took);
            }
        }
        i += 1;
    }
    exporters
        .iter()
        .zip(samples)
        .zip(cpu_before)
        .map(|((e, s), before)| {
            let cpu = (cpu_ns(e.pid()) - before) as f64 / 1e6 / s.len() as f64;
            (s, cpu)
        })
        .collect()
}

fn now_utc() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn pg_version(clusters: &[PgCluster]) -> String {
    let bin: PathBuf = support::pg::bindir().join("postgres");
    std::process::Command::new(bin)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| format!("PostgreSQL {}", clusters[0].version_num() / 10000))
}

/// Replaces the text between `<!-- fleet:begin -->` and `<!-- fleet:end -->`, or
/// appends the marked section.
fn replace_section(path: &Path, content: &str) {
    let (begin, end) = ("<!-- fleet:begin -->", "<!-- fleet:end -->");
    let old = std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmark results\n".into());
    let section = format!("{begin}\n{}\n{end}", content.trim_end());
    let new = match (old.find(begin), old.find(end)) {
        (Some(b), Some(e)) if e > b => format!("{}{section}{}", &old[..b], &old[e + end.len()..]),
        _ => format!("{}\n\n{section}\n", old.trim_end()),
    };
    std::fs::write(path, new).expect("write RESULTS.md");
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = args();
    let load_start = loadavg();
    let date = now_utc();
    let per_cluster = args
        .sizes
        .iter()
        .map(|n| n.div_ceil(args.clusters))
        .sum::<usize>();
    println!(
        "{} clusters, exporters with {:?} targets; load {load_start}",
        args.clusters, args.sizes
    );
    let clusters: Vec<PgCluster> = (0..args.clusters)
        .map(|_| {
            PgCluster::start(PgOptions {
                max_connections: u32::try_from(per_cluster + 50)
                    .expect("a small number")
                    .max(100),
                ..PgOptions::default()
            })
        })
        .collect();
    let layouts: Vec<Vec<Place>> = args
        .sizes
        .iter()
        .map(|n| places(*n, args.clusters))
        .collect();
    let all: Vec<Place> = layouts.iter().flatten().cloned().collect();
    let created = Instant::now();
    create_databases(&clusters, &all).await;
    println!(
        "{} databases created in {:.1} s",
        all.len(),
        created.elapsed().as_secs_f64()
    );

    let mut exporters = Vec::new();
    for (n, layout) in args.sizes.iter().zip(layouts) {
        exporters.push(Running::start(*n, layout, &clusters, &args.exporter_env).await);
    }
    let mut watchers = Vec::new();
    for c in &clusters {
        watchers.push(c.superuser_session("fleet-watcher").await);
    }
    let held_start = wait_one_session_per_target(&watchers, &exporters).await;
    println!("sessions held: {held_start:?}");
    let rss_idle: Vec<u64> = exporters.iter().map(|e| e.kb("VmRSS:")).collect();

    // Warm-up: statement plans, allocator arenas, the first encodings.
    for e in &exporters {
        for _ in 0..5 {
            e.timed_get("/metrics", e.size).await;
        }
        for _ in 0..20 {
            e.timed_get(&e.probe_path(), 1).await;
        }
    }
    let rss_warm: Vec<u64> = exporters.iter().map(|e| e.kb("VmRSS:")).collect();
    println!("RSS after warm-up (kB): {rss_warm:?}");

    let rounds = probe_rounds(&exporters, args.rounds, args.probes).await;
    let load_probes = loadavg();
    let metrics = metrics_runs(&exporters, |n| if n >= 200 { 50 } else { 100 }).await;
    let load_end = loadavg();
    let rss_after: Vec<u64> = exporters.iter().map(|e| e.kb("VmRSS:")).collect();
    let hwm: Vec<u64> = exporters.iter().map(|e| e.kb("VmHWM:")).collect();
    let held = wait_one_session_per_target(&watchers, &exporters).await;
    let tcp = tcp_sessions(&exporters, &clusters);
    for (e, (h, t)) in exporters.iter().zip(held.iter().zip(&tcp)) {
        assert_eq!(
            *h, e.size as i64,
            "sessions of the exporter with {} targets",
            e.size
        );
        assert_eq!(
            *t, e.size,
            "TCP connections of the exporter with {} targets",
            e.size
        );
    }

    let report = Report {
        date,
        command: args.command.clone(),
        clusters: &clusters,
        exporters: &exporters,
        loads: [load_start, load_probes, load_end],
        held_start,
        held,
        tcp,
        rss: [rss_idle, rss_warm, rss_after],
        hwm,
        rounds,
        metrics,
        probes: args.probes,
    }
    .render();
    println!("\n{report}");
    if args.write {
        let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/RESULTS.md");
        replace_section(&results, &report);
        println!("written to {}", results.display());
    }
    if args.hold {
        for e in &exporters {
            println!(
                "holding: exporter with {} targets, pid {}, http://{}/metrics, --config.file={}",
                e.size,
                e.pid(),
                e.address,
                e.dir.path().join("config.yml").display()
            );
        }
        println!("holding the clusters and exporters until Ctrl-C");
        let _ = tokio::signal::ctrl_c().await;
    }
}

struct Report<'a> {
    date: String,
    command: String,
    clusters: &'a [PgCluster],
    exporters: &'a [Running],
    /// At the start, after the /probe rounds, at the end.
    loads: [String; 3],
    held_start: Vec<i64>,
    held: Vec<i64>,
    tcp: Vec<usize>,
    /// VmRSS in kB: sessions open and no scrape yet, after warm-up, after the scrapes.
    rss: [Vec<u64>; 3],
    hwm: Vec<u64>,
    rounds: Vec<(Vec<Vec<Duration>>, String, Vec<f64>)>,
    metrics: Vec<(Vec<Duration>, f64)>,
    probes: usize,
}

impl Report<'_> {
    fn render(&self) -> String {
        let ex = self.exporters;
        let (first, last) = (0, ex.len() - 1);
        let pooled: Vec<Vec<Duration>> = (0..ex.len())
            .map(|e| self.rounds.iter().flat_map(|r| r.0[e].clone()).collect())
            .collect();
        let cpu_probe: Vec<f64> = (0..ex.len())
            .map(|e| self.rounds.iter().map(|r| r.2[e]).sum::<f64>() / self.rounds.len() as f64)
            .collect();
        let sizes = |sep: &str| {
            ex.iter()
                .map(|e| e.size.to_string())
                .collect::<Vec<_>>()
                .join(sep)
        };
        let [load_start, load_probes, load_end] = &self.loads;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "### The run (written by `cargo bench --bench fleet`)\n"
        );
        let _ = writeln!(out, "- date: {}", self.date);
        let _ = writeln!(out, "- machine: {}", procfs::machine());
        let _ = writeln!(
            out,
            "- load average (1, 5, 15 min): {load_start} at the start, {load_probes} after the /probe rounds, {load_end} at the end"
        );
        let _ = writeln!(
            out,
            "- versions: {}; dbconn_exporter {}",
            pg_version(self.clusters),
            env!("CARGO_PKG_VERSION")
        );
        let _ = writeln!(out, "- command: `{}`", self.command);
        let _ = writeln!(
            out,
            "- method: {} throwaway clusters (max_connections {}), one database per target, targets round-robin over the clusters (every exporter's first target on the first cluster); the exporters ({}) run at the same time, eager sessions (the default), `--log.level=warn`, each on its own databases; HTTP GET with Prometheus's Accept and timeout headers, a new TCP connection each; /probe of the first target: {} rounds × {} GETs per exporter, round-robin across the exporters; /metrics: 100 sequential GETs (50 at ≥ 200 targets), interleaved the same way; CPU = the exporter's threads' `schedstat` run time per request; RSS = VmRSS (idle: sessions open, no scrape yet), peak = VmHWM at the end; sessions = `pg_stat_activity` rows with `application_name = 'dbconn_exporter'` per database, asserted to be exactly one per target and none elsewhere, cross-checked by the exporter's TCP connections",
            self.clusters.len(),
            self.clusters[0].options().max_connections,
            sizes(", "),
            self.rounds.len(),
            self.probes,
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "| targets | sessions | TCP to the servers | /metrics p50 ms | /metrics p99 ms | /metrics n | CPU ms per /metrics | /probe p50 ms | /probe p99 ms | /probe n | CPU ms per /probe | RSS idle kB | RSS warm kB | RSS after kB | peak RSS kB |"
        );
        let _ = writeln!(out, "|{}", "---:|".repeat(15));
        for (i, e) in ex.iter().enumerate() {
            let (m50, m99) = percentiles(&self.metrics[i].0);
            let (p50, p99) = percentiles(&pooled[i]);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {m50:.2} | {m99:.2} | {} | {:.2} | {p50:.3} | {p99:.3} | {} | {:.3} | {} | {} | {} | {} |",
                e.size,
                self.held[i],
                self.tcp[i],
                self.metrics[i].0.len(),
                self.metrics[i].1,
                pooled[i].len(),
                cpu_probe[i],
                self.rss[0][i],
                self.rss[1][i],
                self.rss[2][i],
                self.hwm[i],
            );
        }
        let _ = writeln!(out);
        let _ = write!(out, "| /probe round | load after |");
        for e in ex {
            let _ = write!(out, " p50 ms @{} |", e.size);
        }
        for e in &ex[1..] {
            let _ = write!(out, " p50 @{}/@{} |", e.size, ex[first].size);
        }
        for e in ex {
            let _ = write!(out, " CPU ms @{} |", e.size);
        }
        for e in &ex[1..] {
            let _ = write!(out, " CPU @{}/@{} |", e.size, ex[first].size);
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "|---:|---|{}", "---:|".repeat(4 * ex.len() - 2));
        let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); ex.len()];
        let mut cpu_ratios: Vec<Vec<f64>> = vec![Vec::new(); ex.len()];
        for (r, (samples, load, cpu)) in self.rounds.iter().enumerate() {
            let p50: Vec<f64> = samples.iter().map(|s| percentiles(s).0).collect();
            let _ = write!(out, "| {} | {load} |", r + 1);
            for v in &p50 {
                let _ = write!(out, " {v:.3} |");
            }
            for (e, v) in p50.iter().enumerate().skip(1) {
                ratios[e].push(v / p50[first]);
                let _ = write!(out, " {:.2} |", v / p50[first]);
            }
            for v in cpu {
                let _ = write!(out, " {v:.3} |");
            }
            for (e, v) in cpu.iter().enumerate().skip(1) {
                cpu_ratios[e].push(v / cpu[first]);
                let _ = write!(out, " {:.2} |", v / cpu[first]);
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(out);

        let spread = |v: &[f64]| {
            let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (lo, median(v), hi)
        };
        let (n_first, n_last) = (ex[first].size, ex[last].size);
        let met = |ok: bool| if ok { "met" } else { "**missed**" };
        let _ = writeln!(out, "Goals:\n");
        if n_last > n_first {
            let (lo, med, hi) = spread(&ratios[last]);
            let (clo, cmed, chi) = spread(&cpu_ratios[last]);
            let pooled_ratio = percentiles(&pooled[last]).0 / percentiles(&pooled[first]).0;
            let _ = writeln!(
                out,
                "- /probe p50 at {n_last} targets within 1.2× of {n_first}: {} (median of the per-round ratios {med:.2}, spread {lo:.2}–{hi:.2} over {} rounds; pooled p50s {pooled_ratio:.2}; the exporter's CPU per /probe {cmed:.2}×, spread {clo:.2}–{chi:.2})",
                met(med <= 1.2),
                self.rounds.len(),
            );
            let growth =
                |rss: &[u64]| (rss[last] as f64 - rss[first] as f64) / (n_last - n_first) as f64;
            let [g_idle, g_warm, g_after] = [
                growth(&self.rss[0]),
                growth(&self.rss[1]),
                growth(&self.rss[2]),
            ];
            let _ = writeln!(
                out,
                "- RSS growth under 100 kB per target: {} ((RSS@{n_last} − RSS@{n_first}) / {}: {g_idle:.1} kB idle, {g_warm:.1} kB after warm-up, {g_after:.1} kB after the scrapes)",
                met(g_warm < 100.0 && g_after < 100.0),
                n_last - n_first,
            );
        }
        let _ = writeln!(
            out,
            "- exactly one session per target: {} (at start and after the scrapes: {} sessions for {} targets; asserted per database)",
            met(self.held_start == self.held
                && self.held.iter().zip(ex).all(|(h, e)| *h == e.size as i64)),
            self.held
                .iter()
                .map(|h| h.to_string())
                .collect::<Vec<_>>()
                .join(" / "),
            sizes(" / "),
        );
        out
    }
}
