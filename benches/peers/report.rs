//! The report: a table row per measurement, the ratios of ours to each peer and to
//! the floors, the goals met or missed, and the run's context (date, machine,
//! versions, command, method), so that a result in bench/RESULTS.md can be read and
//! reproduced without the run's console output. Sections are replaced between
//! markers so that the hand-written analysis around them survives a re-run.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use crate::floor::Floor;
use crate::measure::{CONCURRENT_SCRAPERS, MIN_RUN, Row};
use crate::procfs;

fn f(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn ratio(a: f64, b: f64) -> String {
    if a.is_nan() || b.is_nan() || b == 0.0 {
        "–".into()
    } else {
        format!("{:.2}", a / b)
    }
}

pub fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    out.push_str(
        "| N | exporter | seq p50 ms | seq p99 ms | 8× p50 ms | 8× p99 ms | exporter CPU ms/scrape | DB CPU ms/scrape | peak RSS MB | sessions held (8×) | note |\n\
         |---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for r in rows {
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.n,
            r.name,
            f(r.seq_p50),
            f(r.seq_p99),
            f(r.conc_p50),
            f(r.conc_p99),
            f(r.exporter_cpu_ms),
            f(r.db_cpu_ms),
            f(r.rss_mb),
            r.sessions.map_or("–".into(), |s| s.to_string()),
            r.note.replace('|', "/"),
        )
        .unwrap();
    }
    out
}

fn ratios(rows: &[Row], sizes: &[usize]) -> String {
    let peers: Vec<String> = {
        let mut p: Vec<String> = rows
            .iter()
            .filter(|r| !r.ours && r.floor.is_none())
            .map(|r| r.name.clone())
            .collect();
        p.dedup();
        p.sort();
        p.dedup();
        p
    };
    let mut out = String::from("| N |");
    let mut rule = String::from("|---:|");
    for p in &peers {
        write!(out, " p50 ours/{p} | 8× p50 ours/{p} | DB CPU ours/{p} |").unwrap();
        rule.push_str("---:|---:|---:|");
    }
    out.push_str(" p50 ours/floor | DB CPU ours/floor |");
    rule.push_str("---:|---:|");
    let own_sql = rows.iter().any(|r| r.floor == Some(Floor::OwnSql));
    if own_sql {
        out.push_str(" p50 ours/our SQL direct | DB CPU ours/our SQL direct |");
        rule.push_str("---:|---:|");
    }
    out.push('\n');
    rule.push('\n');
    out.push_str(&rule);
    for &n in sizes {
        let Some(ours) = rows.iter().find(|r| r.n == n && r.ours) else {
            continue;
        };
        write!(out, "| {n} |").unwrap();
        for p in &peers {
            let peer = rows.iter().find(|r| r.n == n && &r.name == p);
            let get = |k: fn(&Row) -> f64| peer.map_or(f64::NAN, k);
            write!(
                out,
                " {} | {} | {} |",
                ratio(ours.seq_p50, get(|r| r.seq_p50)),
                ratio(ours.conc_p50, get(|r| r.conc_p50)),
                ratio(ours.db_cpu_ms, get(|r| r.db_cpu_ms)),
            )
            .unwrap();
        }
        let mut kinds = vec![Floor::Bare];
        if own_sql {
            kinds.push(Floor::OwnSql);
        }
        for kind in kinds {
            let floor = floor_row(rows, n, kind);
            write!(
                out,
                " {} | {} |",
                ratio(ours.seq_p50, floor.map_or(f64::NAN, |r| r.seq_p50)),
                ratio(ours.db_cpu_ms, floor.map_or(f64::NAN, |r| r.db_cpu_ms)),
            )
            .unwrap();
        }
        out.push('\n');
    }
    out
}

fn floor_row(rows: &[Row], n: usize, kind: Floor) -> Option<&Row> {
    rows.iter().find(|r| r.n == n && r.floor == Some(kind))
}

/// The goals the benchmark checks, each with met / missed and the numbers behind it.
fn goals(rows: &[Row], sizes: &[usize]) -> String {
    let mut out = String::new();
    let mark = |ok: bool| if ok { "met" } else { "**missed**" };
    let valid = |r: &&Row| !r.seq_p50.is_nan();
    let mut ahead = Vec::new();
    let mut third = Vec::new();
    let mut floor = Vec::new();
    let mut own = Vec::new();
    let mut cpu = Vec::new();
    let mut sessions = Vec::new();
    let mut rss = Vec::new();
    for &n in sizes {
        let Some(ours) = rows.iter().find(|r| r.n == n && r.ours).filter(valid) else {
            continue;
        };
        let peers: Vec<&Row> = rows
            .iter()
            .filter(|r| r.n == n && !r.ours && r.floor.is_none())
            .filter(valid)
            .collect();
        if let Some(best) = peers.iter().min_by(|a, b| a.seq_p50.total_cmp(&b.seq_p50)) {
            let slowest_margin = peers.iter().all(|p| ours.seq_p50 < p.seq_p50);
            ahead.push((
                n,
                slowest_margin,
                format!(
                    "N={n}: ours {} ms vs best peer {} {} ms",
                    f(ours.seq_p50),
                    best.name,
                    f(best.seq_p50)
                ),
            ));
            if n <= 100 {
                third.push((
                    n,
                    ours.seq_p50 * 3.0 <= best.seq_p50,
                    format!("N={n}: ours/best = {}", ratio(ours.seq_p50, best.seq_p50)),
                ));
            }
        }
        if let Some(cheapest) = peers
            .iter()
            .min_by(|a, b| a.db_cpu_ms.total_cmp(&b.db_cpu_ms))
        {
            cpu.push((
                n,
                ours.db_cpu_ms <= cheapest.db_cpu_ms,
                format!(
                    "N={n}: ours {} ms vs {} {} ms",
                    f(ours.db_cpu_ms),
                    cheapest.name,
                    f(cheapest.db_cpu_ms)
                ),
            ));
        }
        for (kind, label, list) in [
            (Floor::Bare, "ours/floor", &mut floor),
            (Floor::OwnSql, "ours/our SQL direct", &mut own),
        ] {
            if n >= 1000
                && let Some(fl) = floor_row(rows, n, kind)
            {
                list.push((
                    n,
                    ours.seq_p50 <= 1.5 * fl.seq_p50,
                    format!("N={n}: {label} = {}", ratio(ours.seq_p50, fl.seq_p50)),
                ));
            }
        }
        if let Some(s) = ours.sessions {
            sessions.push((n, s == 1, format!("N={n}: {s}")));
        }
        if n == 2000 {
            rss.push((
                n,
                ours.rss_mb < 10.0,
                format!("N=2000: {} MB", f(ours.rss_mb)),
            ));
        }
    }
    let mut line = |goal: &str, items: &[(usize, bool, String)]| {
        if items.is_empty() {
            writeln!(out, "- {goal}: not measured in this run").unwrap();
            return;
        }
        let ok = items.iter().all(|i| i.1);
        let detail: Vec<&str> = items.iter().map(|i| i.2.as_str()).collect();
        writeln!(out, "- {goal}: {} ({})", mark(ok), detail.join("; ")).unwrap();
    };
    line("p50 ≤ 1/3 of the best peer's at N ≤ 100", &third);
    line("p50 ahead of every peer at every N", &ahead);
    line("p50 within 1.5× of the floor at N ≥ 1000", &floor);
    if !own.is_empty() {
        line(
            "(not a goal; what the exporter adds) p50 within 1.5× of its own SQL issued directly at N ≥ 1000",
            &own,
        );
    }
    line("DB CPU per scrape ≤ the cheapest peer's", &cpu);
    line(
        "exactly 1 session held during the concurrent run",
        &sessions,
    );
    line("exporter peak RSS < 10 MB at N = 2000", &rss);
    out
}

fn now_utc() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Replaces the text between `<!-- tag:begin -->` and `<!-- tag:end -->` in `path`,
/// or appends the marked section when there is none yet.
pub fn replace_section(path: &Path, tag: &str, content: &str) {
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

/// One measured row as its table line, printed as the run goes.
pub fn row_line(row: &Row) -> String {
    table(std::slice::from_ref(row))
        .lines()
        .nth(2)
        .unwrap_or("")
        .to_string()
}

/// What an engine's section of the report is made of.
pub struct Section<'a> {
    pub engine: &'a str,
    /// The server's and each peer's version, in that order.
    pub versions: &'a [String],
    /// The command line that reproduces the run.
    pub command: &'a str,
    pub notes: &'a [String],
    pub rows: &'a [Row],
    pub sizes: &'a [usize],
    pub scrapes: usize,
}

impl Section<'_> {
    pub fn render(&self) -> String {
        let Section {
            engine,
            versions,
            command,
            notes,
            rows,
            sizes,
            scrapes,
        } = *self;
        let mut out = String::new();
        writeln!(out, "## {engine}\n").unwrap();
        writeln!(out, "- date: {}", now_utc()).unwrap();
        writeln!(out, "- machine: {}", procfs::machine()).unwrap();
        writeln!(
            out,
            "- versions: {}; dbconn_exporter {}",
            versions.join("; "),
            env!("CARGO_PKG_VERSION")
        )
        .unwrap();
        writeln!(out, "- command: `{command}`").unwrap();
        writeln!(
            out,
            "- method: a fresh server per N with max_connections = max(100, N + 100); \
             ≥ {} sequential scrapes (and ≥ {} s) per cell, then {} × {} concurrent; \
             HTTP GET /metrics with Prometheus's Accept header, a new TCP connection each; \
             DB CPU = CPU of the server's process tree during the sequential run minus an idle \
             baseline of equal duration, per scrape; exporter CPU = utime+stime per scrape; \
             RSS = VmHWM; sessions = max over the concurrent run of the server's client \
             sessions that are neither load nor the watcher; peers run with default collectors",
            scrapes,
            MIN_RUN.as_secs(),
            CONCURRENT_SCRAPERS,
            scrapes.div_ceil(CONCURRENT_SCRAPERS),
        )
        .unwrap();
        for note in notes {
            writeln!(out, "- note: {note}").unwrap();
        }
        writeln!(out, "\n{}", table(rows)).unwrap();
        writeln!(
            out,
            "Ratios (below 1 means dbconn_exporter is faster / cheaper):\n"
        )
        .unwrap();
        writeln!(out, "{}", ratios(rows, sizes)).unwrap();
        writeln!(out, "Goals:\n\n{}", goals(rows, sizes)).unwrap();
        out
    }
}
