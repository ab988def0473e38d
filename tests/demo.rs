//! scripts/demo.sh, run for real: it starts its own PostgreSQL and the exporter,
//! replays the PayFlow incident, prints where to look, shows payflow-api holding
//! the most sessions on /api/v1/incident, and on SIGINT or SIGTERM leaves no process and no directory behind — as root and as a normal user.
//! The exporter is the one this test suite built (`DBCONN_DEMO_EXPORTER`), so the
//! test does not wait for a release build.

mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::exporter::OPENMETRICS;
use support::openmetrics;

const TARGET: &str = "payflow";

/// The demo script while it runs; SIGTERM to it on drop, so that a failed
/// assertion never leaves a demo behind.
struct Demo {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Demo {
    fn start(as_user: Option<&str>) -> Demo {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/demo.sh");
        let mut command = Command::new(&script);
        if let Some(account) = as_user {
            // The script itself, not a runuser around it: the signal must reach
            // the script, and runuser kills a child that takes more than 2 s to
            // end after SIGTERM.
            let user = support::proc::RunAs::unprivileged(account)
                .expect("as_user is only given to a test running as root");
            command.uid(user.uid).gid(user.gid);
        }
        let mut child = command
            .env(
                "DBCONN_DEMO_EXPORTER",
                env!("CARGO_BIN_EXE_dbconn_exporter"),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run scripts/demo.sh");
        let (tx, lines) = mpsc::channel();
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Demo {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads the demo's output until a line contains `marker`, and returns it.
    fn line_with(&mut self, marker: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        if let Some(line) = self.seen.iter().find(|l| l.contains(marker)) {
            return line.clone();
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(marker) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "the demo printed no line with {marker:?}:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Sends `signal` to the script and waits for it to exit.
    fn stop(&mut self, signal: i32) -> std::process::ExitStatus {
        support::proc::signal(self.child.id(), signal);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the demo") {
                // What it printed on the way out, up to the end of its output.
                while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(10)) {
                    self.seen.push(line);
                }
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the demo did not exit after the signal"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            support::proc::signal(self.child.id(), libc::SIGTERM);
            let _ = self.child.wait();
        }
    }
}

/// The text after `marker` in `line`, up to the next space.
fn after<'a>(line: &'a str, marker: &str) -> &'a str {
    let (_, rest) = line
        .split_once(marker)
        .unwrap_or_else(|| panic!("no {marker:?} in {line:?}"));
    rest.split_whitespace().next().unwrap_or_default()
}

/// Processes whose command line mentions any of `needles`.
fn processes_mentioning(needles: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        if needles.iter().any(|n| cmdline.contains(n.as_str())) {
            found.push(format!(
                "{}: {cmdline}",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    found
}

async fn the_demo_shows_the_incident_and_cleans_up(as_user: Option<&str>, signal: i32) {
    let mut demo = Demo::start(as_user);
    // Installing nothing (the suite's machine has it all), then initdb, the
    // exporter and 96 sessions.
    let started = demo.line_with("starting PostgreSQL", Duration::from_secs(120));
    let work = PathBuf::from(after(&started, " in "));
    let pg = demo.line_with("PostgreSQL on 127.0.0.1:", Duration::from_secs(60));
    let pg_port = after(&pg, "127.0.0.1:").trim_end_matches(':').to_string();
    let metrics_line = demo.line_with("metrics:", Duration::from_secs(120));
    let url = after(&metrics_line, "metrics:");
    let address = url
        .strip_prefix("http://")
        .and_then(|u| u.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("metrics URL {url:?}"))
        .to_string();
    for marker in ["incident page:", "in a terminal:"] {
        demo.line_with(marker, Duration::from_secs(5));
    }
    let page = demo.line_with("incident page:", Duration::ZERO);
    assert_eq!(
        after(&page, "incident page:"),
        format!("http://{address}/incident?target={TARGET}")
    );
    let command = demo.line_with("in a terminal:", Duration::ZERO);
    assert!(
        command.ends_with(&format!("incident --exporter {address} --target {TARGET}")),
        "{command}"
    );
    assert!(work.is_dir(), "{}", work.display());

    // The exporter sees what the demo says: the server full, one root blocker.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let response = support::http::get(&address, "/metrics", &[("Accept", OPENMETRICS)]).await;
        let m = openmetrics::parse(&response.body);
        let ratio = m.value("dbconn_usage_ratio", &[("target", TARGET)]);
        let roots = m.value("dbconn_root_blockers", &[("target", TARGET)]);
        if ratio.is_some_and(|r| r >= 0.95) && roots == Some(1.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "usage ratio {ratio:?}, root blockers {roots:?}:\n{}",
            response.body
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // The incident view, read through the exporter's session: the server full,
    // payflow-api the first holder, the batch job's row lock the root of the tree
    // with the three payflow-api sessions behind it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let path = format!("/api/v1/incident?target={TARGET}");
        let response = support::http::get(&address, &path, &[]).await;
        let report: serde_json::Value = serde_json::from_str(&response.body).unwrap_or_default();
        let roots = report["root_blockers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if response.status == 200
            && report["usage"]["ratio"].as_f64().is_some_and(|r| r >= 0.95)
            && report["holders"][0]["application"] == "payflow-api"
            && roots.len() == 1
            && roots[0]["application"] == "batch-processor"
            && roots[0]["blocked_total"] == 3
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{}:\n{}",
            response.status,
            response.body
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let status = demo.stop(signal);
    assert!(
        demo.seen.iter().any(|l| l.contains("[demo] stopping")),
        "exit {status}:\n{}",
        demo.seen.join("\n")
    );
    // Nothing of this run is left: not the directory, not PostgreSQL (its data
    // directory is in it), not the exporter (its config file is in it), not a psql
    // client (each names the port).
    assert!(!work.exists(), "{} is left", work.display());
    let needles = [
        work.display().to_string(),
        format!("-p {pg_port} "),
        format!("127.0.0.1:{pg_port}"),
    ];
    let left = processes_mentioning(&needles);
    assert!(left.is_empty(), "left running:\n{}", left.join("\n"));
    assert!(
        std::net::TcpStream::connect(&address).is_err(),
        "the exporter still listens on {address}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_replays_the_incident_and_ctrl_c_removes_everything() {
    the_demo_shows_the_incident_and_cleans_up(None, libc::SIGINT).await;
}

/// As root, the same demo run by the unprivileged `postgres` account (a developer's
/// own login), stopped with SIGTERM. Run by an ordinary user, the first test already
/// is that case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_as_a_normal_user_and_sigterm_removes_everything() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let user = root.then_some("postgres");
    the_demo_shows_the_incident_and_cleans_up(user, libc::SIGTERM).await;
}
