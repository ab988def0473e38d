//! dbconn_exporter against Debian's `prometheus-pgbouncer-exporter` on one PgBouncer
//! with 100 pools (100 `[databases]` entries to one throwaway PostgreSQL, one client
//! on each), in one run, interleaved scrape by scrape so that both see the same
//! machine load: scrape latency p50/p95, CPU per scrape (utime + stime from
//! /proc/<pid>/stat over the whole run, divided by the scrapes), peak RSS (VmHWM),
//! the admin-console connections each holds (its TCP connections to PgBouncer) and
//! the logins it makes per scrape (PgBouncer's log, counted over a run of each
//! alone).
//!
//!     cargo bench --bench pgbouncer                 # 200 scrapes each
//!     cargo bench --bench pgbouncer -- --scrapes 500
//!
//! The peer is installed with apt when missing (as bench/run.sh does); if it cannot
//! be installed or started, the reason is printed and ours is measured alone. The
//! table is printed and written into bench/RESULTS.md between the `pgbouncer`
//! markers.

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "peers/procfs.rs"]
#[allow(dead_code)]
mod procfs;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::exporter::BINARY;
use support::pg::{PgCluster, PgOptions};
use support::pgbouncer::{ADMIN_PASSWORD, BouncerOptions, PgBouncer};
use support::proc::{self, ScratchDir};

const POOLS: usize = 100;
const PEER_PACKAGE: &str = "prometheus-pgbouncer-exporter";

struct Contender {
    name: String,
    child: Child,
    address: String,
    samples: Vec<f64>,
    cpu_ticks: u64,
    logins_per_scrape: f64,
    held: usize,
    bytes: usize,
    dir: ScratchDir,
}

impl Drop for Contender {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(
    name: &str,
    program: &Path,
    args: &[String],
    env: &[(&str, &str)],
    address: String,
) -> Contender {
    let dir = ScratchDir::new("dbconn-bench-pgbouncer");
    let log = std::fs::File::create(dir.path().join("log")).expect("create log");
    let child = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("start {name}: {e}"));
    Contender {
        name: name.into(),
        child,
        address,
        samples: Vec::new(),
        cpu_ticks: 0,
        logins_per_scrape: 0.0,
        held: 0,
        bytes: 0,
        dir,
    }
}

/// Debian's exporter: found with dpkg, installed with apt when missing.
fn peer_binary() -> Result<PathBuf, String> {
    let listed = |out: std::process::Output| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.starts_with("/usr/bin/"))
            .map(PathBuf::from)
    };
    if let Ok(out) = Command::new("dpkg").args(["-L", PEER_PACKAGE]).output()
        && out.status.success()
        && let Some(p) = listed(out)
    {
        return Ok(p);
    }
    // SAFETY: geteuid has no preconditions.
    let sudo: &[&str] = if unsafe { libc::geteuid() } == 0 {
        &[]
    } else {
        &["sudo", "-n"]
    };
    let mut cmd = Command::new(sudo.first().copied().unwrap_or("apt-get"));
    if !sudo.is_empty() {
        cmd.args(&sudo[1..]).arg("apt-get");
    }
    let out = cmd
        .args([
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            PEER_PACKAGE,
        ])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .map_err(|e| format!("apt-get: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "apt-get install {PEER_PACKAGE} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let out = Command::new("dpkg")
        .args(["-L", PEER_PACKAGE])
        .output()
        .map_err(|e| format!("dpkg: {e}"))?;
    listed(out).ok_or_else(|| format!("{PEER_PACKAGE} installed no /usr/bin program"))
}

/// Scrapes until the exposition answers 200 with `marker` in it.
async fn wait_healthy(c: &mut Contender, marker: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = c.child.try_wait() {
            let log = std::fs::read_to_string(c.dir.path().join("log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(3).map(str::trim).collect();
            return Err(format!(
                "{} exited ({status}): {}",
                c.name,
                tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
            ));
        }
        if std::net::TcpStream::connect(&c.address).is_ok() {
            let r = support::http::get(&c.address, "/metrics", &[]).await;
            if r.status == 200 && r.body.contains(marker) {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err(format!("{} never showed {marker}", c.name));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn scrape(c: &mut Contender) {
    let pid = c.child.id();
    let cpu = procfs::cpu_ticks(pid);
    let t = Instant::now();
    let r = support::http::get(&c.address, "/metrics", &[]).await;
    let took = t.elapsed();
    c.cpu_ticks += procfs::cpu_ticks(pid).saturating_sub(cpu);
    assert_eq!(r.status, 200, "{}: {}", c.name, r.body);
    c.bytes = r.body.len();
    c.samples.push(took.as_secs_f64() * 1000.0);
}

fn logins(bouncer: &PgBouncer) -> usize {
    bouncer
        .log()
        .lines()
        .filter(|l| l.contains("login attempt: db=pgbouncer user=admin"))
        .count()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(f64::NAN)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let scrapes: usize = args
        .iter()
        .position(|a| a == "--scrapes")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);

    let pg = PgCluster::start(PgOptions {
        max_connections: 300,
        ..PgOptions::default()
    });
    let databases: Vec<String> = (0..POOLS).map(|i| format!("app{i:03}")).collect();
    let bouncer = PgBouncer::start(
        &pg,
        BouncerOptions {
            max_client_conn: 400,
            pool_size: 2,
            extra_databases: databases.clone(),
            ..BouncerOptions::default()
        },
    );
    let mut clients = Vec::new();
    for db in &databases {
        let c = bouncer
            .client_to(db, "bench-client")
            .await
            .unwrap_or_else(|e| panic!("client to {db}: {e}"));
        c.simple_query("SELECT 1").await.expect("SELECT 1");
        clients.push(c);
    }

    let ours_address = format!("127.0.0.1:{}", proc::free_port());
    let mut contenders = vec![start(
        "dbconn_exporter",
        Path::new(BINARY),
        &[
            format!("--target=pb={}", bouncer.admin_dsn(ADMIN_PASSWORD)),
            format!("--web.listen-address={ours_address}"),
            "--log.level=warn".into(),
        ],
        &[],
        ours_address,
    )];
    wait_healthy(&mut contenders[0], "dbconn_up{target=\"pb\"} 1")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut notes = Vec::new();
    let peer_version = match peer_binary() {
        Ok(program) => {
            let port = proc::free_port();
            let bouncer_port = bouncer.port().to_string();
            let mut peer = start(
                "prometheus-pgbouncer-exporter",
                &program,
                &[
                    "--host=127.0.0.1".into(),
                    format!("--port={port}"),
                    "--pgbouncer-host=127.0.0.1".into(),
                    format!("--pgbouncer-port={bouncer_port}"),
                    "--pgbouncer-user=admin".into(),
                ],
                &[("PGPASSWORD", ADMIN_PASSWORD)],
                format!("127.0.0.1:{port}"),
            );
            match wait_healthy(&mut peer, "pgbouncer_pools_client_active_connections").await {
                Ok(()) => contenders.push(peer),
                Err(e) => notes.push(format!("{PEER_PACKAGE} did not run: {e}")),
            }
            Command::new("dpkg-query")
                .args(["-W", "-f=${Version}", PEER_PACKAGE])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
                .unwrap_or_default()
        }
        Err(e) => {
            notes.push(format!("{PEER_PACKAGE} not measured: {e}"));
            String::new()
        }
    };

    // Logins per scrape: each alone for a short run, counted in PgBouncer's log.
    for c in contenders.iter_mut() {
        let before = logins(&bouncer);
        for _ in 0..20 {
            scrape(c).await;
        }
        c.logins_per_scrape = (logins(&bouncer) - before) as f64 / 20.0;
        c.samples.clear();
        c.cpu_ticks = 0;
    }
    // The measured run, interleaved.
    for _ in 0..scrapes {
        for c in contenders.iter_mut() {
            scrape(c).await;
        }
    }
    let port = bouncer.port();
    for c in contenders.iter_mut() {
        c.held = proc::tcp_connections_to(c.child.id(), port);
    }

    let tick = procfs::tick_ms();
    let mut table = String::from(
        "| exporter | p50 ms | p95 ms | CPU ms / scrape | peak RSS MiB | admin connections held | logins / scrape | exposition bytes |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for c in &contenders {
        let mut s = c.samples.clone();
        s.sort_by(f64::total_cmp);
        let rss = procfs::status_kb(c.child.id(), "VmHWM:").unwrap_or(0) as f64 / 1024.0;
        table.push_str(&format!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.1} | {} | {:.2} | {} |\n",
            c.name,
            percentile(&s, 0.5),
            percentile(&s, 0.95),
            c.cpu_ticks as f64 * tick / s.len() as f64,
            rss,
            c.held,
            c.logins_per_scrape,
            c.bytes
        ));
    }
    let mut section = format!(
        "### PgBouncer: {POOLS} pools\n\n\
         PgBouncer 1.18 with {POOLS} pools (one client each) in front of one PostgreSQL; \
         {scrapes} scrapes of each exporter, interleaved, sequential, after 20 of each alone \
         (which count the logins). Machine: {}. Peer: {PEER_PACKAGE} {}. \
         Reproduce: `cargo bench --bench pgbouncer`.\n\n{table}",
        procfs::machine(),
        if peer_version.is_empty() {
            "(not run)"
        } else {
            &peer_version
        },
    );
    for n in &notes {
        section.push_str(&format!("\nNote: {n}\n"));
    }
    println!("{section}");
    let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/RESULTS.md");
    replace_section(&results, "pgbouncer", &section);
    drop(clients);
}

/// Replaces the text between `<!-- tag:begin -->` and `<!-- tag:end -->` in `path`,
/// or appends the marked section when there is none yet.
fn replace_section(path: &Path, tag: &str, content: &str) {
    let begin = format!("<!-- {tag}:begin -->");
    let end = format!("<!-- {tag}:end -->");
    let old = std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmark results\n".into());
    let section = format!("{begin}\n{}\n{end}", content.trim_end());
    let new = match (old.find(&begin), old.find(&end)) {
        (Some(b), Some(e)) if e > b => format!("{}{section}{}", &old[..b], &old[e + end.len()..]),
        _ => format!("{}\n{section}\n", old.trim_end()),
    };
    std::fs::write(path, new).expect("write RESULTS.md");
}
