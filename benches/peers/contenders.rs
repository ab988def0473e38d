//! The exporters compared, ours and the peers, and how each is started: each runs
//! as its own process on a free port with a scratch directory, so that its CPU and
//! memory can be read from `/proc` and nothing is left behind.
//!
//! Peers: `prometheus-postgres-exporter` and `prometheus-mysqld-exporter` (Debian
//! packages, found on PATH), and the `pg_exporter` crate (found at
//! `$DBCONN_BENCH_PG_EXPORTER`, else `~/.cache/dbconn-bench/pg_exporter/bin/`, where
//! bench/run.sh installs it). A missing peer is reported, not fatal. All run with
//! their default collectors (mysqld_exporter also with the processlist collector).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::server::{MARIA_EXPORTER, MARIA_EXPORTER_PASSWORD, Server};
use crate::support::exporter::BINARY;
use crate::support::proc::{self, ScratchDir};

/// An exporter as it is started: `{addr}`, `{host}`, `{port}` and `{dir}` in its
/// arguments, environment and files become its listen address and scratch directory.
pub struct Contender {
    pub name: String,
    pub program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// Files written into its scratch directory first: (path, contents).
    files: Vec<(String, String)>,
    /// The series of the "up" metric, which must be 1 in a healthy exposition.
    pub up_marker: &'static str,
    pub ours: bool,
}

/// The exporters to compare on this server, ours first, and a note for each peer
/// that is not installed.
pub fn for_server(server: &Server) -> (Vec<Contender>, Vec<String>) {
    let mut notes = Vec::new();
    let mut list = vec![Contender {
        name: "dbconn_exporter".into(),
        program: PathBuf::from(BINARY),
        args: vec![
            format!("--target=db={}", server.dsn()),
            "--web.listen-address={addr}".into(),
            "--log.level=warn".into(),
        ],
        env: vec![],
        files: vec![],
        up_marker: "dbconn_up{target=\"db\"}",
        ours: true,
    }];
    let port = server.port();
    match server {
        Server::Pg { .. } => {
            let dsn = format!("postgresql://postgres@127.0.0.1:{port}/postgres?sslmode=disable");
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
                    "prometheus-postgres-exporter not installed (bench/run.sh installs it)".into(),
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

/// The first line a program prints for `flag` (its version).
pub fn version_of(program: &Path, flag: &str) -> String {
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

pub fn pg_exporter_binary() -> Option<PathBuf> {
    let p = std::env::var_os("DBCONN_BENCH_PG_EXPORTER")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(".cache/dbconn-bench/pg_exporter/bin/pg_exporter"))
        })?;
    p.is_file().then_some(p)
}

/// A started exporter; dropping it kills it and removes its scratch directory.
pub struct Running {
    child: Child,
    pub address: String,
    log: PathBuf,
    _dir: ScratchDir,
}

impl Running {
    /// Starts `c` and waits (up to 30 s) until it listens.
    pub fn start(c: &Contender) -> Result<Running, String> {
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

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_tail(&self) -> String {
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
