//! dbconn_exporter against the exporters people run instead of it, on the same
//! throwaway server under the same load (issue 6).
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
//! hand-written analysis there survives a re-run; `--no-write` skips that).
//!
//! Peers: `prometheus-postgres-exporter` and `prometheus-mysqld-exporter` (Debian
//! packages, found on PATH), and the `pg_exporter` crate (found at
//! `$DBCONN_BENCH_PG_EXPORTER`, else `~/.cache/dbconn-bench/pg_exporter/bin/`, where
//! bench/run.sh installs it). A missing peer is reported, not fatal. All run with
//! their default collectors (mysqld_exporter also with the processlist collector).

#[path = "../tests/support/mod.rs"]
mod support;

use std::cell::Cell;
use std::fmt::Write as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use futures::future::join_all;
use mysql_async::prelude::Queryable;

use support::exporter::{BINARY, OPENMETRICS};
use support::mariadb::{MariaDb, MariaOptions};
use support::pg::{PgCluster, PgOptions};
use support::proc::{self, ScratchDir};

const DEFAULT_SIZES: [usize; 4] = [10, 100, 1000, 2000];
const CONCURRENT_SCRAPERS: usize = 8;
/// Sequential runs last at least this long too, so that CPU times (kernel ticks of
/// 10 ms) are measured over enough of them.
const MIN_RUN: Duration = Duration::from_secs(3);
const APPS: [&str; 7] = [
    "web",
    "api",
    "worker",
    "scheduler",
    "reports",
    "billing",
    "psql",
];
const USERS: [&str; 4] = ["postgres", "app_rw", "app_ro", "etl"];
const MARIA_USERS: [&str; 3] = ["app_rw", "app_ro", "etl"];
/// The account both MariaDB exporters use (mysqld_exporter 0.14 insists on a
/// password, and root has none in the harness).
const MARIA_EXPORTER: &str = "bench_exporter";
const MARIA_EXPORTER_PASSWORD: &str = "bench-pw";
const DATABASES: [&str; 3] = ["postgres", "orders", "analytics"];

struct Args {
    sizes: Vec<usize>,
    scrapes: usize,
    pg: bool,
    mariadb: bool,
    write: bool,
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

// ---------------------------------------------------------------- /proc readings

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

/// Fields of /proc/<pid>/stat after the command name: [0] is the state, [1] the
/// parent pid, [11] utime, [12] stime, [13] cutime, [14] cstime.
fn stat_fields(pid: u32) -> Option<Vec<u64>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    Some(
        rest.split(' ')
            .map(|f| f.trim().parse().unwrap_or(0))
            .collect(),
    )
}

/// utime + stime of a process (all its threads), in ticks.
fn cpu_ticks(pid: u32) -> u64 {
    stat_fields(pid).map_or(0, |f| f[11] + f[12])
}

/// CPU of a server process and everything under it, in ticks: its own time, the time
/// of the children it already reaped (cutime + cstime, which is where short-lived
/// per-scrape backends end up), and the time of the children alive now.
fn tree_cpu_ticks(root: u32) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(f) = stat_fields(pid)
            && f[1] == u64::from(root)
        {
            total += f[11] + f[12];
        }
    }
    total + stat_fields(root).map_or(0, |f| f[11] + f[12] + f[13] + f[14])
}

/// A `Vm…:` line of /proc/<pid>/status, in kB.
fn status_kb(pid: u32, key: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

// ---------------------------------------------------------------- statistics

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

// ---------------------------------------------------------------- exporters

/// An exporter as it is started: `{addr}`, `{host}` and `{port}` in its arguments
/// become its listen address.
struct Contender {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// Files written into its scratch directory first: (path, contents).
    files: Vec<(String, String)>,
    /// The series of the "up" metric, which must be 1 in a healthy exposition.
    up_marker: &'static str,
    ours: bool,
}

struct Running {
    child: Child,
    address: String,
    log: PathBuf,
    _dir: ScratchDir,
}

impl Running {
    fn start(c: &Contender) -> Result<Running, String> {
        let dir = ScratchDir::new("dbconn-bench-exporter");
        let log = dir.path().join("exporter.log");
        let port = proc::free_port();
        let address = format!("127.0.0.1:{port}");
        let fill = |s: &String| {
            s.replace("{addr}", &address)
                .replace("{host}", "127.0.0.1")
                .replace("{port}", &port.to_string())
                .replace("{dir}", &dir.path().display().to_string())
        };
        let mut cmd = proc::server_command(&c.program, None);
        cmd.args(c.args.iter().map(fill))
            .envs(c.env.iter().map(|(k, v)| (k, fill(v))))
            .current_dir(dir.path())
            .stdout(std::fs::File::create(&log).map_err(|e| e.to_string())?)
            .stderr(
                std::fs::OpenOptions::new()
                    .append(true)
                    .open(&log)
                    .map_err(|e| e.to_string())?,
            );
        for (path, text) in &c.files {
            std::fs::write(fill(path), fill(text)).map_err(|e| e.to_string())?;
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("start {}: {e}", c.program.display()))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if TcpStream::connect(&address).is_ok() {
                return Ok(Running {
                    child,
                    address,
                    log,
                    _dir: dir,
                });
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "exited ({status}) before listening: {}",
                    std::fs::read_to_string(&log).unwrap_or_default().trim()
                ));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err("did not listen within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(3)..].join(" | ")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn scrape(address: &str) -> (Duration, support::http::Response) {
    let start = Instant::now();
    let r = support::http::get(address, "/metrics", &[("Accept", OPENMETRICS)]).await;
    (start.elapsed(), r)
}

fn version_of(program: &Path, flag: &str) -> String {
    Command::new(program)
        .arg(flag)
        .output()
        .map(|o| {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            text.lines().next().unwrap_or("").trim().to_string()
        })
        .unwrap_or_else(|e| format!("unknown ({e})"))
}

fn pg_exporter_binary() -> Option<PathBuf> {
    let p = std::env::var_os("DBCONN_BENCH_PG_EXPORTER")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(".cache/dbconn-bench/pg_exporter/bin/pg_exporter"))
        })?;
    p.is_file().then_some(p)
}

// ---------------------------------------------------------------- servers and load

/// The server under test with its load sessions and a watcher session. Everything
/// engine-specific lives in this enum's methods; adding an engine means adding a
/// variant, its contenders and its floor.
enum Server {
    Pg {
        cluster: PgCluster,
        watcher: tokio_postgres::Client,
        idle: Vec<tokio_postgres::Client>,
        idle_in_tx: Vec<tokio_postgres::Client>,
        active: Vec<tokio::task::JoinHandle<()>>,
        postmaster: u32,
    },
    Maria {
        server: MariaDb,
        watcher: mysql_async::Conn,
        idle: Vec<mysql_async::Conn>,
        idle_in_tx: Vec<mysql_async::Conn>,
        active: Vec<tokio::task::JoinHandle<()>>,
        pid: u32,
    },
}

/// How many of N sessions are active and idle in transaction: "a few".
fn mix(n: usize) -> (usize, usize) {
    let active = (n / 100).clamp(2, 20).min(n / 3);
    let idle_in_tx = (n / 100).clamp(2, 20).min(n / 3);
    (active, idle_in_tx)
}

impl Server {
    async fn start_pg(max: usize) -> Server {
        let cluster = PgCluster::start(PgOptions {
            max_connections: max as u32,
            ..PgOptions::default()
        });
        cluster
            .exec("CREATE ROLE app_rw LOGIN; CREATE ROLE app_ro LOGIN; CREATE ROLE etl LOGIN")
            .await;
        cluster.exec("CREATE DATABASE orders").await;
        cluster.exec("CREATE DATABASE analytics").await;
        let watcher = cluster
            .connect("postgres", "postgres", "bench-watcher")
            .await
            .expect("watcher session");
        let backend: i32 = watcher
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .expect("backend pid")
            .get(0);
        let postmaster = stat_fields(backend as u32).expect("backend stat")[1] as u32;
        Server::Pg {
            cluster,
            watcher,
            idle: Vec::new(),
            idle_in_tx: Vec::new(),
            active: Vec::new(),
            postmaster,
        }
    }

    async fn start_maria(max: usize) -> Server {
        let server = MariaDb::start(MariaOptions {
            max_connections: max as u32,
            ..MariaOptions::default()
        });
        let mut setup = String::from("CREATE DATABASE orders; CREATE DATABASE analytics;");
        for u in MARIA_USERS {
            for host in ["localhost", "127.0.0.1", "%"] {
                write!(
                    setup,
                    "CREATE USER '{u}'@'{host}'; GRANT SELECT ON *.* TO '{u}'@'{host}';"
                )
                .unwrap();
            }
        }
        for host in ["localhost", "127.0.0.1"] {
            write!(
                setup,
                "CREATE USER '{MARIA_EXPORTER}'@'{host}' IDENTIFIED BY '{MARIA_EXPORTER_PASSWORD}'; \
                 GRANT ALL PRIVILEGES ON *.* TO '{MARIA_EXPORTER}'@'{host}';"
            )
            .unwrap();
        }
        server.exec(&setup).await;
        let mut watcher = server.connect("root", "", None).await.expect("watcher");
        let pid_file: String = watcher
            .query_first("SELECT @@pid_file")
            .await
            .expect("pid_file")
            .expect("a pid file");
        let pid = std::fs::read_to_string(&pid_file)
            .expect("read the pid file")
            .trim()
            .parse()
            .expect("a pid");
        Server::Maria {
            server,
            watcher,
            idle: Vec::new(),
            idle_in_tx: Vec::new(),
            active: Vec::new(),
            pid,
        }
    }

    fn engine(&self) -> &'static str {
        match self {
            Server::Pg { .. } => "PostgreSQL",
            Server::Maria { .. } => "MariaDB",
        }
    }

    async fn version(&mut self) -> String {
        match self {
            Server::Pg { watcher, .. } => watcher
                .query_one("SELECT current_setting('server_version')", &[])
                .await
                .map(|r| r.get::<_, String>(0))
                .unwrap_or_default(),
            Server::Maria { watcher, .. } => watcher
                .query_first::<String, _>("SELECT VERSION()")
                .await
                .ok()
                .flatten()
                .unwrap_or_default(),
        }
    }

    fn dsn(&self) -> String {
        match self {
            Server::Pg { cluster, .. } => cluster.superuser_dsn(),
            Server::Maria { server, .. } => server.dsn(MARIA_EXPORTER, MARIA_EXPORTER_PASSWORD),
        }
    }

    fn port(&self) -> u16 {
        match self {
            Server::Pg { cluster, .. } => cluster.port(),
            Server::Maria { server, .. } => server.port(),
        }
    }

    fn db_cpu_ticks(&self) -> u64 {
        match self {
            Server::Pg { postmaster, .. } => tree_cpu_ticks(*postmaster),
            Server::Maria { pid, .. } => tree_cpu_ticks(*pid),
        }
    }

    fn held(&self) -> usize {
        match self {
            Server::Pg {
                idle,
                idle_in_tx,
                active,
                ..
            } => idle.len() + idle_in_tx.len() + active.len(),
            Server::Maria {
                idle,
                idle_in_tx,
                active,
                ..
            } => idle.len() + idle_in_tx.len() + active.len(),
        }
    }

    /// Grows the load to `n` sessions (sizes only grow).
    async fn grow(&mut self, n: usize) {
        let (want_active, want_tx) = mix(n);
        let start = self.held();
        match self {
            Server::Pg {
                cluster,
                idle,
                idle_in_tx,
                active,
                ..
            } => {
                let indexes: Vec<usize> = (start..n).collect();
                for chunk in indexes.chunks(16) {
                    let opened = join_all(chunk.iter().map(|&i| {
                        cluster.connect(
                            USERS[i % USERS.len()],
                            DATABASES[(i / APPS.len()) % DATABASES.len()],
                            APPS[i % APPS.len()],
                        )
                    }))
                    .await;
                    for c in opened {
                        let c = c.expect("open a load session");
                        if active.len() < want_active {
                            active.push(tokio::spawn(async move {
                                while c.simple_query("SELECT pg_sleep(600)").await.is_ok() {}
                            }));
                        } else if idle_in_tx.len() < want_tx {
                            c.batch_execute("BEGIN; SELECT 1").await.expect("begin");
                            idle_in_tx.push(c);
                        } else {
                            idle.push(c);
                        }
                    }
                }
            }
            Server::Maria {
                server,
                idle,
                idle_in_tx,
                active,
                ..
            } => {
                let indexes: Vec<usize> = (start..n).collect();
                for chunk in indexes.chunks(16) {
                    let opened = join_all(chunk.iter().map(|&i| {
                        server.connect(
                            MARIA_USERS[i % MARIA_USERS.len()],
                            "",
                            Some(DATABASES[(i / APPS.len()) % DATABASES.len()])
                                .filter(|d| *d != "postgres"),
                        )
                    }))
                    .await;
                    for c in opened {
                        let mut c = c.expect("open a load session");
                        if active.len() < want_active {
                            active.push(tokio::spawn(async move {
                                while c.query_drop("SELECT SLEEP(600)").await.is_ok() {}
                            }));
                        } else if idle_in_tx.len() < want_tx {
                            c.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT")
                                .await
                                .expect("begin");
                            c.query_drop("SELECT 1").await.expect("select");
                            idle_in_tx.push(c);
                        } else {
                            idle.push(c);
                        }
                    }
                }
            }
        }
        // Let the active statements start, and the server settle after opening up to
        // a thousand sessions: the first exporter measured must not pay for them.
        // Quiet means under 5 % of a CPU over half a second (at most 20 s of waiting).
        tokio::time::sleep(Duration::from_millis(500)).await;
        let tick_ms = 1000.0 / clock_ticks_per_second();
        for _ in 0..40 {
            let before = self.db_cpu_ticks();
            tokio::time::sleep(Duration::from_millis(500)).await;
            if (self.db_cpu_ticks() - before) as f64 * tick_ms < 25.0 {
                break;
            }
        }
    }

    /// Sessions on the server that are neither load nor the watcher: the exporter's.
    async fn foreign_sessions(&mut self) -> usize {
        match self {
            Server::Pg { watcher, .. } => {
                let apps: Vec<String> = APPS.iter().map(|s| s.to_string()).collect();
                watcher
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity \
                         WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() \
                           AND coalesce(application_name, '') <> ALL($1)",
                        &[&apps],
                    )
                    .await
                    .map(|r| r.get::<_, i64>(0) as usize)
                    .unwrap_or(usize::MAX)
            }
            Server::Maria { watcher, .. } => watcher
                .query_first::<i64, _>(
                    "SELECT count(*) FROM information_schema.processlist \
                     WHERE user = 'bench_exporter'",
                )
                .await
                .ok()
                .flatten()
                .map_or(usize::MAX, |n| n as usize),
        }
    }

    /// The exporters to compare on this engine, ours first.
    fn contenders(&self) -> (Vec<Contender>, Vec<String>) {
        let mut notes = Vec::new();
        let mut list = vec![Contender {
            name: "dbconn_exporter".into(),
            program: PathBuf::from(BINARY),
            args: vec![
                format!("--target=db={}", self.dsn()),
                "--web.listen-address={addr}".into(),
                "--log.level=warn".into(),
            ],
            env: vec![],
            files: vec![],
            up_marker: "dbconn_up{target=\"db\"}",
            ours: true,
        }];
        let port = self.port();
        match self {
            Server::Pg { .. } => {
                let dsn =
                    format!("postgresql://postgres@127.0.0.1:{port}/postgres?sslmode=disable");
                match proc::find_binary("prometheus-postgres-exporter", &[]) {
                    Some(program) => list.push(Contender {
                        name: "postgres_exporter".into(),
                        program,
                        args: vec![
                            "--web.listen-address={addr}".into(),
                            "--log.level=warn".into(),
                        ],
                        env: vec![("DATA_SOURCE_NAME".into(), dsn.clone())],
                        files: vec![],
                        up_marker: "pg_up",
                        ours: false,
                    }),
                    None => notes.push(
                        "prometheus-postgres-exporter not installed (bench/run.sh installs it)"
                            .into(),
                    ),
                }
                match pg_exporter_binary() {
                    Some(program) => list.push(Contender {
                        name: "pg_exporter (crate)".into(),
                        program,
                        args: vec![
                            "--listen={host}".into(),
                            "--port={port}".into(),
                            format!("--dsn={dsn}"),
                        ],
                        env: vec![],
                        files: vec![],
                        up_marker: "pg_up",
                        ours: false,
                    }),
                    None => notes.push(
                        "pg_exporter crate not installed (bench/run.sh runs `cargo install pg_exporter`)"
                            .into(),
                    ),
                }
            }
            Server::Maria { .. } => match proc::find_binary("prometheus-mysqld-exporter", &[]) {
                Some(program) => list.push(Contender {
                    name: "mysqld_exporter".into(),
                    program,
                    args: vec![
                        "--web.listen-address={addr}".into(),
                        "--config.my-cnf={dir}/my.cnf".into(),
                        "--collect.info_schema.processlist".into(),
                        "--log.level=warn".into(),
                    ],
                    env: vec![],
                    files: vec![(
                        "{dir}/my.cnf".into(),
                        format!(
                            "[client]\nuser={MARIA_EXPORTER}\npassword={MARIA_EXPORTER_PASSWORD}\nhost=127.0.0.1\nport={port}\n"
                        ),
                    )],
                    up_marker: "mysql_up",
                    ours: false,
                }),
                None => notes.push(
                    "prometheus-mysqld-exporter not installed (bench/run.sh installs it)".into(),
                ),
            },
        }
        (list, notes)
    }

    /// One read of the floor over its persistent session.
    async fn floor_once(session: &mut FloorSession) {
        match session {
            FloorSession::Pg(client, statements) => {
                for s in statements.iter() {
                    client.query(s, &[]).await.expect("floor query");
                }
            }
            FloorSession::Maria(conn, statements) => {
                for sql in statements.iter() {
                    // Every result set of a multi-statement query, rows and all.
                    conn.query_iter(sql.as_str())
                        .await
                        .expect("floor query")
                        .drop_result()
                        .await
                        .expect("floor rows");
                }
            }
        }
    }
}

const PG_FLOOR: [&str; 2] = [
    "SELECT count(*) FROM pg_stat_activity",
    "SELECT datname, usename, application_name, state, count(*), \
            max(extract(epoch FROM now() - state_change)), \
            max(extract(epoch FROM now() - backend_start)), \
            min(xact_start) \
     FROM pg_stat_activity WHERE backend_type = 'client backend' GROUP BY 1, 2, 3, 4",
];

/// The exporter's read on this server, as one multi-statement query, after the
/// exporter's own session settings: the statements come from the library, so the
/// row follows any change to them.
async fn own_maria_batch(conn: &mut mysql_async::Conn) -> String {
    use dbconn_exporter::config::Collection;
    use dbconn_exporter::engines::mysql::{detect, sql_for};
    let (version, comment): (String, Option<String>) = conn
        .query_first("SELECT VERSION(), @@version_comment")
        .await
        .expect("server version")
        .expect("a version row");
    let (flavor, v) = detect(&version, comment.as_deref().unwrap_or(""));
    let sql = sql_for(flavor, v, &Collection::default().read_settings());
    for statement in &sql.session_setup {
        conn.query_drop(statement).await.expect("session setup");
    }
    sql.parts()
        .iter()
        .map(|(_, statement)| *statement)
        .collect::<Vec<_>>()
        .join(";\n")
}

/// What a floor row issues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Floor {
    /// The bare minimum over the same activity view (`PG_FLOOR`, `MARIA_FLOOR`).
    Bare,
    /// The exporter's own statements, as it sends them (MariaDB only).
    OwnSql,
}

enum FloorSession {
    Pg(tokio_postgres::Client, Vec<tokio_postgres::Statement>),
    Maria(mysql_async::Conn, Vec<String>),
}

const MARIA_FLOOR: &[&str] = &[
    "SELECT count(*) FROM information_schema.processlist",
    "SELECT db, user, command, state, count(*), max(time) \
     FROM information_schema.processlist GROUP BY 1, 2, 3, 4",
];

// ---------------------------------------------------------------- measurement

#[derive(Clone, Debug)]
struct Row {
    n: usize,
    name: String,
    ours: bool,
    floor: Option<Floor>,
    seq_p50: f64,
    seq_p99: f64,
    conc_p50: f64,
    conc_p99: f64,
    exporter_cpu_ms: f64,
    db_cpu_ms: f64,
    rss_mb: f64,
    sessions: Option<usize>,
    note: String,
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

/// Database CPU (ms) during an idle period of `length`, the baseline to subtract.
async fn idle_db_ms(server: &Server, length: Duration) -> f64 {
    let before = server.db_cpu_ticks();
    tokio::time::sleep(length).await;
    (server.db_cpu_ticks() - before) as f64 * 1000.0 / clock_ticks_per_second()
}

async fn measure(server: &mut Server, n: usize, c: &Contender, scrapes: usize) -> Row {
    let mut row = Row::new(n, &c.name);
    row.ours = c.ours;
    let tick_ms = 1000.0 / clock_ticks_per_second();
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
    let db_before = server.db_cpu_ticks();
    let started = Instant::now();
    let mut times = Vec::new();
    while times.len() < scrapes || started.elapsed() < MIN_RUN {
        times.push(scrape(&address).await.0);
    }
    let run = started.elapsed();
    let db_run_ms = (server.db_cpu_ticks() - db_before) as f64 * tick_ms;
    let exporter_ms = (cpu_ticks(running.pid()) - exporter_before) as f64 * tick_ms;
    let count = times.len() as f64;
    (row.seq_p50, row.seq_p99) = p50_p99(times);
    row.exporter_cpu_ms = exporter_ms / count;
    let idle_ms = idle_db_ms(server, run).await;
    row.db_cpu_ms = ((db_run_ms - idle_ms) / count).max(0.0);

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

async fn measure_floor(server: &mut Server, n: usize, scrapes: usize, kind: Floor) -> Row {
    let mut row = Row::new(
        n,
        match kind {
            Floor::Bare => "floor (direct SQL)",
            Floor::OwnSql => "floor (our SQL, direct)",
        },
    );
    row.floor = Some(kind);
    let mut session = match server {
        Server::Pg { cluster, .. } => {
            assert_eq!(kind, Floor::Bare, "no own-SQL floor for PostgreSQL");
            let client = cluster
                .connect("postgres", "postgres", "bench-floor")
                .await
                .expect("floor session");
            let mut statements = Vec::new();
            for sql in PG_FLOOR {
                statements.push(client.prepare(sql).await.expect("prepare"));
            }
            FloorSession::Pg(client, statements)
        }
        Server::Maria { server: m, .. } => {
            let mut conn = m.connect("root", "", None).await.expect("floor session");
            let statements = match kind {
                Floor::Bare => MARIA_FLOOR.iter().map(|s| s.to_string()).collect(),
                Floor::OwnSql => vec![own_maria_batch(&mut conn).await],
            };
            FloorSession::Maria(conn, statements)
        }
    };
    for _ in 0..5 {
        Server::floor_once(&mut session).await;
    }
    let tick_ms = 1000.0 / clock_ticks_per_second();
    let db_before = server.db_cpu_ticks();
    let started = Instant::now();
    let mut times = Vec::new();
    while times.len() < scrapes || started.elapsed() < MIN_RUN {
        let t = Instant::now();
        Server::floor_once(&mut session).await;
        times.push(t.elapsed());
    }
    let run = started.elapsed();
    let db_run_ms = (server.db_cpu_ticks() - db_before) as f64 * tick_ms;
    let count = times.len() as f64;
    (row.seq_p50, row.seq_p99) = p50_p99(times);
    let idle_ms = idle_db_ms(server, run).await;
    row.db_cpu_ms = ((db_run_ms - idle_ms) / count).max(0.0);
    row.sessions = Some(1);
    if let FloorSession::Maria(conn, _) = session {
        let _ = conn.disconnect().await;
    }
    row
}

// ---------------------------------------------------------------- report

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

fn table(rows: &[Row]) -> String {
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

/// The goals, each with met / missed and the numbers behind it.
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

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem =
        status_kb_total().map_or(String::new(), |kb| format!(", {} GB RAM", kb / 1024 / 1024));
    format!("{nproc} × {cpu}{mem}")
}

fn status_kb_total() -> Option<u64> {
    std::fs::read_to_string("/proc/meminfo")
        .ok()?
        .lines()
        .find(|l| l.starts_with("MemTotal:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
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

/// `max_connections` of the server for N sessions: PostgreSQL's default of 100 or N
/// plus 100 for the exporters and the watcher, whichever is larger. A server sized
/// for 2,000 sessions makes some reads dearer at every N (`pg_lock_status()` walks
/// a slot per possible backend), and nobody runs 10 sessions on such a server.
fn server_size(n: usize) -> usize {
    (n + 100).max(100)
}

async fn run_engine(pg: bool, args: &Args, command: &str) -> String {
    let start = |n: usize| async move {
        if pg {
            Server::start_pg(server_size(n)).await
        } else {
            Server::start_maria(server_size(n)).await
        }
    };
    let mut server = start(args.sizes.first().copied().unwrap_or(10)).await;
    let engine = server.engine();
    let version = server.version().await;
    let (contenders, mut notes) = server.contenders();
    let mut versions = vec![format!("{engine} {version}")];
    for c in &contenders {
        if !c.ours {
            let flag = "--version";
            versions.push(format!("{}: {}", c.name, version_of(&c.program, flag)));
        }
    }
    println!("\n== {engine} {version}; {} ==", versions[1..].join("; "));
    let mut rows = Vec::new();
    for (i, &n) in args.sizes.iter().enumerate() {
        if i > 0 {
            // A fresh server sized for this N; the old one stops when dropped.
            drop(server);
            server = start(n).await;
        }
        server.grow(n).await;
        let (contenders, _) = server.contenders();
        println!("-- server max_connections = {}", server_size(n));
        let (active, tx) = mix(n);
        println!("-- N = {n} sessions ({active} active, {tx} idle in transaction, rest idle)");
        for c in &contenders {
            let row = measure(&mut server, n, c, args.scrapes).await;
            println!(
                "{}",
                table(std::slice::from_ref(&row))
                    .lines()
                    .nth(2)
                    .unwrap_or("")
            );
            rows.push(row);
        }
        let floors: &[Floor] = if pg {
            &[Floor::Bare]
        } else {
            &[Floor::Bare, Floor::OwnSql]
        };
        for &kind in floors {
            let row = measure_floor(&mut server, n, args.scrapes, kind).await;
            println!(
                "{}",
                table(std::slice::from_ref(&row))
                    .lines()
                    .nth(2)
                    .unwrap_or("")
            );
            rows.push(row);
        }
    }
    if engine == "PostgreSQL" && pg_exporter_binary().is_none() {
        notes.push("see bench/run.sh's output for why pg_exporter is missing".into());
    }
    let mut out = String::new();
    writeln!(out, "## {engine}\n").unwrap();
    writeln!(out, "- date: {}", now_utc()).unwrap();
    writeln!(out, "- machine: {}", machine()).unwrap();
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
        args.scrapes,
        MIN_RUN.as_secs(),
        CONCURRENT_SCRAPERS,
        args.scrapes.div_ceil(CONCURRENT_SCRAPERS),
    )
    .unwrap();
    for note in &notes {
        writeln!(out, "- note: {note}").unwrap();
    }
    writeln!(out, "\n{}", table(&rows)).unwrap();
    writeln!(
        out,
        "Ratios (below 1 means dbconn_exporter is faster / cheaper):\n"
    )
    .unwrap();
    writeln!(out, "{}", ratios(&rows, &args.sizes)).unwrap();
    writeln!(out, "Goals:\n\n{}", goals(&rows, &args.sizes)).unwrap();
    out
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = args();
    let command = {
        let extra: Vec<String> = std::env::args()
            .skip(1)
            .filter(|a| a != "--bench")
            .collect();
        if extra.is_empty() {
            "cargo bench --bench peers".to_string()
        } else {
            format!("cargo bench --bench peers -- {}", extra.join(" "))
        }
    };
    let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/RESULTS.md");
    if args.pg {
        let report = run_engine(true, &args, &command).await;
        println!("\n{report}");
        if args.write {
            replace_section(&results, "peers-postgresql", &report);
        }
    }
    if args.mariadb {
        let report = run_engine(false, &args, &command).await;
        println!("\n{report}");
        if args.write {
            replace_section(&results, "peers-mariadb", &report);
        }
    }
    if args.write {
        println!("written to {}", results.display());
    }
}
