//! Real Prometheus and Alertmanager processes (Debian's packages), and a webhook
//! receiver inside the test, so that alert rules and dashboard queries are proven
//! against the exporter's real output rather than a fixture.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::http;
use super::proc::{self, ScratchDir};

pub struct Prometheus {
    child: Child,
    address: String,
    dir: ScratchDir,
}

pub struct PrometheusConfig<'a> {
    /// host:port of every exporter to scrape (job "dbconn").
    pub exporters: &'a [String],
    pub rule_files: &'a [PathBuf],
    pub alertmanager: Option<&'a str>,
    pub scrape_interval: &'a str,
}

impl Prometheus {
    pub fn start(config: PrometheusConfig<'_>) -> Prometheus {
        let targets = config
            .exporters
            .iter()
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let rules = config
            .rule_files
            .iter()
            .map(|p| format!("  - '{}'\n", p.display()))
            .collect::<String>();
        let alerting = match config.alertmanager {
            Some(am) => format!(
                "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{am}']\n"
            ),
            None => String::new(),
        };
        let yaml = format!(
            "global:\n  scrape_interval: {i}\n  scrape_timeout: {i}\n  evaluation_interval: {i}\n\
             rule_files:\n{rules}{alerting}\
             scrape_configs:\n  - job_name: dbconn\n    static_configs:\n      - targets: [{targets}]\n",
            i = config.scrape_interval
        );
        Prometheus::start_yaml(&yaml)
    }

    /// Starts Prometheus with `yaml` as its whole `prometheus.yml`, for tests that need
    /// their own scrape configuration (TLS, basic auth, service discovery, relabelling).
    pub fn start_yaml(yaml: &str) -> Prometheus {
        let binary = proc::require_binary("prometheus", &["/usr/bin/prometheus"]);
        let dir = ScratchDir::new("dbconn-prometheus");
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, yaml).expect("write prometheus.yml");
        let data = dir.path().join("data");
        let (child, address) = spawn_until_ready(
            "Prometheus",
            dir.path(),
            "prometheus.log",
            &binary,
            |address| {
                vec![
                    format!("--config.file={}", config_path.display()),
                    format!("--storage.tsdb.path={}", data.display()),
                    format!("--web.listen-address={address}"),
                ]
            },
        );
        Prometheus {
            child,
            address,
            dir,
        }
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// An instant query through the HTTP API; panics unless Prometheus answers
    /// "success". Returns the `data.result` array.
    pub async fn query(&self, expr: &str) -> Vec<serde_json::Value> {
        let path = format!("/api/v1/query?query={}", percent_encode(expr));
        let r = http::get(&self.address, &path, &[]).await;
        let v: serde_json::Value = serde_json::from_str(&r.body)
            .unwrap_or_else(|e| panic!("query {expr:?}: {e}: {}", r.body));
        assert_eq!(v["status"], "success", "query {expr:?} failed: {}", r.body);
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// Alerts Prometheus currently holds (pending or firing).
    pub async fn alerts(&self) -> Vec<serde_json::Value> {
        let r = http::get(&self.address, "/api/v1/alerts", &[]).await;
        let v: serde_json::Value = serde_json::from_str(&r.body).expect("alerts JSON");
        v["data"]["alerts"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until the scrape of every exporter has succeeded at least once.
    pub async fn wait_for_scrapes(&self, expected_up: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let up = self.query("up{job=\"dbconn\"} == 1").await;
            if up.len() >= expected_up {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus never scraped the exporter:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Alertmanager {
    child: Child,
    address: String,
    dir: ScratchDir,
}

impl Alertmanager {
    /// Starts an Alertmanager that sends every alert to `webhook_url` at once.
    pub fn start(webhook_url: &str) -> Alertmanager {
        let binary = proc::require_binary(
            "prometheus-alertmanager",
            &["/usr/bin/prometheus-alertmanager", "/usr/bin/alertmanager"],
        );
        let dir = ScratchDir::new("dbconn-alertmanager");
        let yaml = format!(
            "route:\n  receiver: test\n  group_by: ['alertname', 'target']\n  group_wait: 1s\n  \
             group_interval: 1s\n  repeat_interval: 1h\n\
             receivers:\n  - name: test\n    webhook_configs:\n      - url: '{webhook_url}'\n        send_resolved: true\n"
        );
        let config_path = dir.path().join("alertmanager.yml");
        std::fs::write(&config_path, yaml).expect("write alertmanager.yml");
        let data = dir.path().join("data");
        let (child, address) = spawn_until_ready(
            "Alertmanager",
            dir.path(),
            "alertmanager.log",
            &binary,
            |address| {
                vec![
                    format!("--config.file={}", config_path.display()),
                    format!("--storage.path={}", data.display()),
                    format!("--web.listen-address={address}"),
                    "--cluster.listen-address=".to_string(),
                ]
            },
        );
        Alertmanager {
            child,
            address,
            dir,
        }
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("alertmanager.log")).unwrap_or_default()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a server on a free port, retrying with another port if it does not come
/// up (the port picked may have been taken meanwhile). `args` gets the address; the
/// server's stderr goes to `log` in `dir`.
fn spawn_until_ready(
    what: &str,
    dir: &Path,
    log: &str,
    binary: &Path,
    args: impl Fn(&str) -> Vec<String>,
) -> (Child, String) {
    for _attempt in 0..5 {
        let address = format!("127.0.0.1:{}", proc::free_port());
        let log_file = std::fs::File::create(dir.join(log)).expect("create log");
        let mut child = proc::server_command(binary, None)
            .args(args(&address))
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("start {what}: {e}"));
        if wait_ready(&mut child, &address) {
            return (child, address);
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!(
        "{what} did not start:\n{}",
        std::fs::read_to_string(dir.join(log)).unwrap_or_default()
    );
}

/// Polls `/-/ready` until it answers 200 or the process exits.
fn wait_ready(child: &mut Child, address: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if let Ok(mut s) = std::net::TcpStream::connect(address) {
            use std::io::{Read, Write};
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let req =
                format!("GET /-/ready HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
            let mut buf = String::new();
            if s.write_all(req.as_bytes()).is_ok()
                && s.read_to_string(&mut buf).is_ok()
                && buf.starts_with("HTTP/1.1 200")
            {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// One webhook delivery, with the time it arrived.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub at: Instant,
    pub body: serde_json::Value,
}

/// An HTTP endpoint inside the test that Alertmanager posts to.
pub struct Webhook {
    pub url: String,
    pub deliveries: mpsc::UnboundedReceiver<Delivery>,
    /// Everything received so far, so that waiting for one alert never loses
    /// another that arrived first.
    pub seen: Vec<Delivery>,
}

impl Webhook {
    pub async fn start() -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind webhook");
        let url = format!("http://{}/alerts", listener.local_addr().expect("address"));
        let (tx, deliveries) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut reader = BufReader::new(stream);
                    let mut length = 0usize;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let line = line.trim_end();
                        if line.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = line.split_once(':')
                            && k.eq_ignore_ascii_case("content-length")
                        {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0u8; length];
                    if reader.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    let at = Instant::now();
                    let _ = reader
                        .get_mut()
                        .write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        )
                        .await;
                    if let Ok(body) = serde_json::from_slice(&body) {
                        let _ = tx.send(Delivery { at, body });
                    }
                });
            }
        });
        Webhook {
            url,
            deliveries,
            seen: Vec::new(),
        }
    }

    /// The first delivery (already seen, or arriving within `timeout`) for which
    /// `check` holds.
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        what: &str,
        check: impl Fn(&serde_json::Value) -> bool,
    ) -> Delivery {
        if let Some(d) = self.seen.iter().find(|d| check(&d.body)) {
            return d.clone();
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.deliveries.recv()).await {
                Ok(Some(d)) => {
                    self.seen.push(d.clone());
                    if check(&d.body) {
                        return d;
                    }
                }
                Ok(None) => panic!("the webhook receiver stopped"),
                Err(_) => panic!("no webhook delivery within {timeout:?}: {what}"),
            }
        }
    }
}

/// Percent-encodes a query parameter value.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A copy of a rule file with every `for:` shortened, for end-to-end runs (the promtool
/// unit tests cover the real durations).
pub fn rules_with_short_for(source: &Path, dir: &Path, for_: &str) -> PathBuf {
    let text = std::fs::read_to_string(source).expect("read rules");
    let shortened: String = text
        .lines()
        .map(|line| {
            let trimmed = line.trim_start();
            if let Some(rest) = trimmed.strip_prefix("for:")
                && !rest.trim().is_empty()
            {
                let indent = &line[..line.len() - trimmed.len()];
                format!("{indent}for: {for_}\n")
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    let out = dir.join(source.file_name().expect("file name"));
    std::fs::write(&out, shortened).expect("write shortened rules");
    out
}

/// The YAML blocks of the runbooks' "PgBouncer: the cluster label" section: the
/// scrape job for `/metrics`, then the one for `/probe`.
pub fn documented_cluster_jobs() -> (String, String) {
    let page = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/runbooks/README.md"
    ))
    .expect("read docs/runbooks/README.md");
    let section = &page[page
        .find("## PgBouncer: the cluster label")
        .expect("the runbooks show how to set the cluster label")..];
    let blocks: Vec<&str> = section
        .split("```yaml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .collect();
    assert_eq!(
        blocks.len(),
        2,
        "one job for /metrics, one for /probe: {blocks:?}"
    );
    (blocks[0].to_string(), blocks[1].to_string())
}
