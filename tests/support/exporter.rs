//! The real exporter binary, started on a free port with JSON logs, and scraped over
//! HTTP. Tests see exactly what Prometheus would.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::http::{self, Response};
use super::openmetrics::{self, Metrics};

pub const BINARY: &str = env!("CARGO_BIN_EXE_dbconn_exporter");
pub const OPENMETRICS: &str =
    "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";

pub struct Exporter {
    child: Child,
    address: String,
    logs: Arc<Mutex<String>>,
}

/// How to start the exporter beyond its arguments.
#[derive(Clone, Debug, Default)]
pub struct Launch {
    /// RLIMIT_NOFILE (soft and hard) for the exporter, as `ulimit -n` would set it.
    pub open_files: Option<u64>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
}

/// One sample a test expects: metric name, labels besides `target`, exact value.
pub type Expected<'a> = (&'a str, &'a [(&'a str, &'a str)], f64);

pub struct Scrape {
    pub metrics: Metrics,
    pub response: Response,
}

impl Exporter {
    /// Starts the exporter with `args` (plus a free listen address and JSON debug
    /// logs) and waits until it listens.
    pub fn start(args: &[String]) -> Exporter {
        Exporter::start_with(args, &Launch::default())
    }

    /// [`Exporter::start`] with a file limit or extra environment.
    pub fn start_with(args: &[String], launch: &Launch) -> Exporter {
        let mut command = Command::new(BINARY);
        command.envs(launch.env.iter().map(|(k, v)| (k, v)));
        if let Some(limit) = launch.open_files {
            // SAFETY: setrlimit is async-signal-safe and touches no memory of ours.
            unsafe {
                command.pre_exec(move || {
                    let rl = libc::rlimit {
                        rlim_cur: limit as libc::rlim_t,
                        rlim_max: limit as libc::rlim_t,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &rl) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = command
            .args(args)
            .args([
                "--web.listen-address=127.0.0.1:0",
                "--log.format=json",
                "--log.level=debug",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the exporter");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&logs);
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                {
                    // Logged before it is announced: a test sees the listening line.
                    let mut all = sink.lock().unwrap();
                    all.push_str(&line);
                    all.push('\n');
                }
                if let Some(address) = listening_address(&line)
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(address);
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(address) = rx.recv_timeout(Duration::from_millis(50)) {
                return Exporter {
                    child,
                    address,
                    logs,
                };
            }
            if let Ok(Some(status)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "the exporter exited ({status}) before listening:\n{}",
                    logs.lock().unwrap()
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "the exporter did not listen within 30 s:\n{}",
                    logs.lock().unwrap()
                );
            }
        }
    }

    /// Runs the exporter expecting it to refuse to start; returns its exit status and
    /// everything it printed.
    pub fn start_expect_failure(args: &[String]) -> (ExitStatus, String) {
        let mut child = Command::new(BINARY)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the exporter");
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().expect("wait").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let output = child.wait_with_output().expect("collect output");
                panic!(
                    "the exporter kept running with {args:?}:\n{}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let output = child.wait_with_output().expect("collect output");
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status, printed)
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// GET /metrics as Prometheus asks for it, parsed strictly.
    pub async fn scrape(&self) -> Scrape {
        let response = self
            .scrape_with("/metrics", &[("Accept", OPENMETRICS)])
            .await;
        assert_eq!(response.status, 200, "{}", response.body);
        assert!(
            response
                .header("content-type")
                .is_some_and(|v| v.starts_with("application/openmetrics-text")),
            "{:?}",
            response.headers
        );
        Scrape {
            metrics: openmetrics::parse(&response.body),
            response,
        }
    }

    /// Scrapes until `check` holds (sessions a test starts in the background need a
    /// moment to reach the state under test); panics with the last scrape after 30 s.
    pub async fn scrape_until(&self, what: &str, check: impl Fn(&Metrics) -> bool) -> Metrics {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let m = self.scrape().await.metrics;
            if check(&m) {
                return m;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for: {what}\nlast scrape:\n{}", m.text());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Scrapes until one scrape shows every `(metric, labels, value)` of `target`
    /// exactly — the whole state the test is about to assert, reached together — and
    /// returns that scrape for the rest of the assertions. Sessions opened or closed
    /// just before reach the server's view asynchronously (a closed session stays
    /// listed until its backend or thread has gone), so exact counts are waited for,
    /// never read off the first scrape. Panics after 30 s naming each value that
    /// differed in the last scrape.
    pub async fn scrape_until_shows(&self, target: &str, expected: &[Expected<'_>]) -> Metrics {
        let differences = |m: &Metrics| -> Vec<String> {
            expected
                .iter()
                .filter_map(|(name, labels, want)| {
                    let mut all = vec![("target", target)];
                    all.extend_from_slice(labels);
                    let got = m.value(name, &all);
                    (got != Some(*want))
                        .then(|| format!("{name}{labels:?}: want {want}, got {got:?}"))
                })
                .collect()
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let m = self.scrape().await.metrics;
            let wrong = differences(&m);
            if wrong.is_empty() {
                return m;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for the state of {target}:\n  {}\nlast scrape:\n{}",
                    wrong.join("\n  "),
                    m.text()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn scrape_with(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        http::get(&self.address, path, headers).await
    }

    /// Everything the exporter logged so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// The exporter's resident set size in bytes (VmRSS from /proc).
    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc/<pid>/status");
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/<pid>/status");
        kib * 1024
    }

    /// Sends `signal` to the exporter.
    pub fn signal(&self, signal: i32) {
        super::proc::signal(self.child.id(), signal);
    }

    /// The exit status if the exporter has exited, without waiting.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("wait")
    }

    /// Waits up to `within` for the exporter to exit.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then waits for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        super::proc::signal(self.child.id(), libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "the exporter ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The bound address from the JSON "listening" log line.
fn listening_address(line: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let fields = v.get("fields")?;
    if fields.get("message")?.as_str()? != "listening" {
        return None;
    }
    Some(fields.get("address")?.as_str()?.to_string())
}
