//! The test harness: throwaway database servers, the real exporter binary, and the
//! reference OpenMetrics parser. Every test file includes this module with
//! `mod support;`, and not every file uses every part of it.
#![allow(dead_code)]

pub mod chromium;
pub mod dashboards;
pub mod exporter;
pub mod http;
pub mod mariadb;
pub mod openmetrics;
pub mod payflow;
pub mod payflow_mariadb;
pub mod pg;
pub mod pgbouncer;
pub mod proc;
pub mod prometheus;
pub mod proxy;
pub mod scrape;
pub mod server;
pub mod tls;

/// Runs `promtool check metrics` on the classic text exposition and fails the test on
/// any lint problem. promtool is part of the suite's requirements (scripts/setup.sh
/// installs it); without it the test fails rather than skips.
pub fn promtool_check_metrics(text: &str) {
    let promtool = proc::require_binary("promtool", &["/usr/bin/promtool"]);
    let output = proc::run_with_stdin(&promtool, &["check", "metrics"], text.as_bytes());
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && printed.trim().is_empty(),
        "promtool check metrics complained ({:?}):\n{printed}\n--- exposition ---\n{text}",
        output.status
    );
}

/// A config file in a temporary directory, removed with the guard.
pub struct ConfigFile {
    _dir: proc::ScratchDir,
    pub path: std::path::PathBuf,
}

impl ConfigFile {
    pub fn new(text: &str) -> ConfigFile {
        let dir = proc::ScratchDir::new("dbconn-test-config");
        let path = dir.path().join("config.yml");
        std::fs::write(&path, text).expect("write config");
        ConfigFile { _dir: dir, path }
    }

    /// The `--config.file=` flag for it.
    pub fn arg(&self) -> String {
        format!("--config.file={}", self.path.display())
    }
}
