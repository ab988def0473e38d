//! One row of the table: an exporter (or a floor) measured alone against the
//! loaded server. Sequential reads give latency and CPU per read; the database's
//! CPU is charged net of an idle baseline of the same length, so that a peer that
//! connects per scrape pays for its short-lived backends and nobody pays for the
//! server's background work. Then concurrent scrapers, while the watcher counts the
//! exporter's sessions.

use std::cell::Cell;
use std::time::{Duration, Instant};

use futures::future::join_all;

use crate::contenders::{Contender, Running};
use crate::floor::{Floor, FloorSession};
use crate::procfs::{cpu_ticks, status_kb, tick_ms};
use crate::server::Server;
use crate::support;
use crate::support::exporter::OPENMETRICS;

pub const CONCURRENT_SCRAPERS: usize = 8;
/// Sequential runs last at least this long too, so that CPU times (kernel ticks of
/// 10 ms) are measured over enough of them.
pub const MIN_RUN: Duration = Duration::from_secs(3);

#[derive(Clone, Debug)]
pub struct Row {
    pub n: usize,
    pub name: String,
    pub ours: bool,
    pub floor: Option<Floor>,
    pub seq_p50: f64,
    pub seq_p99: f64,
    pub conc_p50: f64,
    pub conc_p99: f64,
    pub exporter_cpu_ms: f64,
    pub db_cpu_ms: f64,
    pub rss_mb: f64,
    pub sessions: Option<usize>,
    pub note: String,
}

impl Row {
    fn new(n: usize, name: &str) -> Row {
        Row {
            n,
            name: name.to_string(),
            ours: false,
            floor: None,
            seq_p50: f64::NAN,
            seq_p99: f64::NAN,
            conc_p50: f64::NAN,
            conc_p99: f64::NAN,
            exporter_cpu_ms: f64::NAN,
            db_cpu_ms: f64::NAN,
            rss_mb: f64::NAN,
            sessions: None,
            note: String::new(),
        }
    }
}

fn quantile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// p50 and p99 in milliseconds.
fn p50_p99(mut times: Vec<Duration>) -> (f64, f64) {
    times.sort();
    (quantile(&times, 0.5), quantile(&times, 0.99))
}

async fn scrape(address: &str) -> (Duration, support::http::Response) {
    let start = Instant::now();
    let r = support::http::get(address, "/metrics", &[("Accept", OPENMETRICS)]).await;
    (start.elapsed(), r)
}

/// A sequential run: its read times, its length, and the database's CPU during it.
struct Sequential {
    times: Vec<Duration>,
    length: Duration,
    db_ms: f64,
}

impl Sequential {
    /// Reads with `once` (which returns the read's time) at least `reads` times and
    /// for at least `MIN_RUN`.
    async fn run(server: &Server, reads: usize, mut once: impl AsyncFnMut() -> Duration) -> Self {
        let db_before = server.db_cpu_ticks();
        let started = Instant::now();
        let mut times = Vec::new();
        while times.len() < reads || started.elapsed() < MIN_RUN {
            times.push(once().await);
        }
        let length = started.elapsed();
        let db_ms = (server.db_cpu_ticks() - db_before) as f64 * tick_ms();
        Sequential {
            times,
            length,
            db_ms,
        }
    }

    /// Fills the row's sequential latencies and its database CPU per read: the run's
    /// minus an idle baseline of equal length, measured now.
    async fn record(self, server: &Server, row: &mut Row) {
        let count = self.times.len() as f64;
        (row.seq_p50, row.seq_p99) = p50_p99(self.times);
        let before = server.db_cpu_ticks();
        tokio::time::sleep(self.length).await;
        let idle_ms = (server.db_cpu_ticks() - before) as f64 * tick_ms();
        row.db_cpu_ms = ((self.db_ms - idle_ms) / count).max(0.0);
    }
}

pub async fn measure(server: &mut Server, n: usize, c: &Contender, scrapes: usize) -> Row {
    let mut row = Row::new(n, &c.name);
    row.ours = c.ours;
    let running = match Running::start(c) {
        Ok(r) => r,
        Err(e) => {
            row.note = format!("did not start: {e}");
            return row;
        }
    };
    let address = running.address.clone();
    // Warm up (connections, plans, caches) and check that it reads the server.
    let mut healthy = false;
    for _ in 0..5 {
        let (_, r) = scrape(&address).await;
        healthy = r.status == 200
            && r.body.lines().any(|l| {
                let mut parts = l.split_whitespace();
                parts.next() == Some(c.up_marker)
                    && parts.next().and_then(|v| v.parse::<f64>().ok()) == Some(1.0)
            });
    }
    if !healthy {
        row.note = format!(
            "no `{}` in its output; log: {}",
            c.up_marker,
            running.log_tail()
        );
    }

    // Sequential.
    let exporter_before = cpu_ticks(running.pid());
    let run = Sequential::run(server, scrapes, async || scrape(&address).await.0).await;
    let exporter_ms = (cpu_ticks(running.pid()) - exporter_before) as f64 * tick_ms();
    row.exporter_cpu_ms = exporter_ms / run.times.len() as f64;
    run.record(server, &mut row).await;

    // Concurrent, with the watcher counting the exporter's sessions.
    let done = Cell::new(false);
    let per_scraper = scrapes.div_ceil(CONCURRENT_SCRAPERS);
    let scrapers = join_all((0..CONCURRENT_SCRAPERS).map(|_| {
        let address = &address;
        async move {
            let mut t = Vec::with_capacity(per_scraper);
            for _ in 0..per_scraper {
                t.push(scrape(address).await.0);
            }
            t
        }
    }));
    let watch = async {
        let mut max = 0;
        while !done.get() {
            max = max.max(server.foreign_sessions().await);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        max
    };
    let (times, sessions) = tokio::join!(
        async {
            let t = scrapers.await;
            done.set(true);
            t
        },
        watch
    );
    (row.conc_p50, row.conc_p99) = p50_p99(times.into_iter().flatten().collect());
    row.sessions = Some(sessions);
    row.rss_mb = status_kb(running.pid(), "VmHWM:").map_or(f64::NAN, |kb| kb as f64 / 1024.0);
    drop(running);
    // Wait for its sessions to go before the next exporter is counted.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.foreign_sessions().await > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    row
}

pub async fn measure_floor(server: &Server, n: usize, scrapes: usize, kind: Floor) -> Row {
    let mut row = Row::new(n, kind.name());
    row.floor = Some(kind);
    let mut session = FloorSession::open(server, kind).await;
    for _ in 0..5 {
        session.once().await;
    }
    let run = Sequential::run(server, scrapes, async || {
        let t = Instant::now();
        session.once().await;
        t.elapsed()
    })
    .await;
    run.record(server, &mut row).await;
    row.sessions = Some(1);
    session.close().await;
    row
}
