//! dbconn_exporter against the exporters people run instead of it, on the same
//! throwaway server under the same load.
//!
//! Each N gets a fresh server sized for it (`max_connections` = max(100, N + 100)),
//! as a real deployment would be: some reads cost in proportion to the possible
//! backends, not the open ones, and would otherwise tax every N with the largest.
//! For N = 10, 100, 1000 and 2000 client sessions (several applications, users and
//! databases; a few active `SELECT pg_sleep(600)` / `SELECT SLEEP(600)`, a few idle in
//! transaction, the rest idle) it runs each exporter alone against the server and
//! measures scrape latency (sequential and under 8 concurrent scrapers), the
//! exporter's CPU per scrape and peak RSS, the database's CPU per scrape (the whole
//! server process tree, minus an idle baseline of equal duration, so that peers that
//! connect per scrape are charged for their short-lived backends), and the sessions
//! the exporter holds during the concurrent run. A "floor" row times the equivalent
//! system-view reads issued directly over one persistent session: the session count
//! and one grouped pass over the activity view. On MariaDB a second row, "our SQL,
//! direct", issues the exporter's own statements (the same multi-statement batch,
//! from the library) over one session, so that the gap between ours and the floor
//! splits into what the server spends on the extra views and what the exporter adds.
//!
//!     cargo bench --bench peers                        # PostgreSQL and MariaDB, all sizes
//!     cargo bench --bench peers -- --engine pg 10 100  # one engine, other sizes
//!     cargo bench --bench peers -- --scrapes 500       # more scrapes per measurement
//!     bench/run.sh                                     # installs the peers first
//!
//! The table is printed and written into bench/RESULTS.md (between markers, so the
//! hand-written analysis there survives a re-run; `--no-write` skips that). Which
//! peers run, and where they are found, is in `contenders.rs`.
//!
//! Modules:
//! - `server`: the throwaway PostgreSQL or MariaDB, its watcher session, its CPU.
//! - `load`: the client sessions that load it (who they are, what they do).
//! - `contenders`: our exporter and the peers, and how each is started.
//! - `floor`: the direct-SQL rows (the only use of the library's own SQL).
//! - `measure`: one row: sequential and concurrent scrapes, CPU, RSS, sessions.
//! - `procfs`: CPU and memory of other processes, from `/proc`.
//! - `report`: the tables, ratios and goals, and the RESULTS.md section.
//!
//! Flow, per engine: start a server for the first N → for each N (a fresh server
//! after the first): grow the load → measure each contender alone, then each floor
//! → render the section → print it and write it into bench/RESULTS.md.

#[path = "../../tests/support/mod.rs"]
mod support;

mod contenders;
mod floor;
mod load;
mod measure;
mod procfs;
mod report;
mod server;

use std::path::Path;

use contenders::{pg_exporter_binary, version_of};
use floor::Floor;
use load::mix;
use measure::{measure, measure_floor};
use report::{Section, replace_section, row_line};
use server::{Server, server_size};

const DEFAULT_SIZES: [usize; 4] = [10, 100, 1000, 2000];

struct Args {
    sizes: Vec<usize>,
    scrapes: usize,
    pg: bool,
    mariadb: bool,
    write: bool,
    /// The command line that reproduces this run, for the report.
    command: String,
}

fn args() -> Args {
    let raw: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mut a = Args {
        sizes: Vec::new(),
        scrapes: 200,
        pg: true,
        mariadb: true,
        write: true,
        command: if raw.is_empty() {
            "cargo bench --bench peers".to_string()
        } else {
            format!("cargo bench --bench peers -- {}", raw.join(" "))
        },
    };
    let mut it = raw.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--scrapes" => a.scrapes = it.next().and_then(|v| v.parse().ok()).expect("--scrapes N"),
            "--engine" => match it.next().map(String::as_str) {
                Some("pg") | Some("postgres") => a.mariadb = false,
                Some("mariadb") | Some("mysql") => a.pg = false,
                Some("all") => {}
                other => panic!("--engine pg|mariadb|all, not {other:?}"),
            },
            "--no-write" => a.write = false,
            n => a
                .sizes
                .push(n.parse().unwrap_or_else(|_| panic!("unknown argument {n}"))),
        }
    }
    if a.sizes.is_empty() {
        a.sizes = DEFAULT_SIZES.to_vec();
    }
    a
}

async fn run_engine(pg: bool, args: &Args) -> String {
    let mut server = Server::start(pg, args.sizes.first().copied().unwrap_or(10)).await;
    let engine = server.engine();
    let version = server.version().await;
    let (contenders, mut notes) = contenders::for_server(&server);
    let mut versions = vec![format!("{engine} {version}")];
    for c in &contenders {
        if !c.ours {
            versions.push(format!(
                "{}: {}",
                c.name,
                version_of(&c.program, "--version")
            ));
        }
    }
    println!("\n== {engine} {version}; {} ==", versions[1..].join("; "));
    let mut rows = Vec::new();
    for (i, &n) in args.sizes.iter().enumerate() {
        if i > 0 {
            // A fresh server sized for this N; the old one stops when dropped.
            drop(server);
            server = Server::start(pg, n).await;
        }
        server.grow(n).await;
        let (contenders, _) = contenders::for_server(&server);
        println!("-- server max_connections = {}", server_size(n));
        let (active, tx) = mix(n);
        println!("-- N = {n} sessions ({active} active, {tx} idle in transaction, rest idle)");
        for c in &contenders {
            let row = measure(&mut server, n, c, args.scrapes).await;
            println!("{}", row_line(&row));
            rows.push(row);
        }
        for &kind in Floor::on(pg) {
            let row = measure_floor(&server, n, args.scrapes, kind).await;
            println!("{}", row_line(&row));
            rows.push(row);
        }
    }
    if engine == "PostgreSQL" && pg_exporter_binary().is_none() {
        notes.push("see bench/run.sh's output for why pg_exporter is missing".into());
    }
    Section {
        engine,
        versions: &versions,
        command: &args.command,
        notes: &notes,
        rows: &rows,
        sizes: &args.sizes,
        scrapes: args.scrapes,
    }
    .render()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = args();
    let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/RESULTS.md");
    for (pg, wanted, tag) in [
        (true, args.pg, "peers-postgresql"),
        (false, args.mariadb, "peers-mariadb"),
    ] {
        if !wanted {
            continue;
        }
        let report = run_engine(pg, &args).await;
        println!("\n{report}");
        if args.write {
            replace_section(&results, tag, &report);
        }
    }
    if args.write {
        println!("written to {}", results.display());
    }
}
