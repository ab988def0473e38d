//! Flags, environment and the YAML file, merged into one validated [`Config`].
//!
//! Everything a user can get wrong is caught here, before the server starts, with a
//! message that names the place (file, line, column, key, target) and never the
//! password. The rest of the program only ever sees a valid configuration.
//!
//! YAML is read with serde-saphyr: serde_yaml is archived and unmaintained, and
//! serde-saphyr is a maintained, pure-Rust parser with location-carrying errors and
//! limits against hostile documents (alias bombs, deep nesting).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;

use crate::dsn::{self, EngineKind, Secret};
use crate::engines::{self, ReadSettings};
use crate::target::Policy;

/// The default listen port. The Prometheus "default port allocations" list has no
/// free port left in 9100–9999; see the README for the choice.
pub const DEFAULT_LISTEN_ADDRESS: &str = ":10071";

#[derive(Parser, Debug)]
#[command(
    name = "dbconn_exporter",
    version,
    about = "Prometheus exporter for database connection saturation (PostgreSQL, MySQL, MariaDB)."
)]
pub struct Cli {
    /// Database to monitor, as a DSN (postgres://user@host:5432/db) or NAME=DSN.
    /// Repeat for several targets.
    #[arg(long = "target", env = "DBCONN_TARGET", value_name = "[NAME=]DSN")]
    pub targets: Vec<String>,

    /// YAML configuration file with named targets and collection settings.
    #[arg(long = "config.file", env = "DBCONN_CONFIG_FILE", value_name = "FILE")]
    pub config_file: Option<PathBuf>,

    /// Check the configuration and exit.
    #[arg(long = "config.check")]
    pub config_check: bool,

    /// Address to listen on for HTTP requests ([host]:port).
    #[arg(long = "web.listen-address", env = "DBCONN_WEB_LISTEN_ADDRESS", default_value = DEFAULT_LISTEN_ADDRESS)]
    pub listen_address: String,

    /// Path under which to expose metrics.
    #[arg(
        long = "web.telemetry-path",
        env = "DBCONN_WEB_TELEMETRY_PATH",
        default_value = "/metrics"
    )]
    pub telemetry_path: String,

    /// Only log messages with the given severity or above.
    #[arg(long = "log.level", env = "DBCONN_LOG_LEVEL", default_value = "info",
          value_parser = ["debug", "info", "warn", "error"])]
    pub log_level: String,

    /// Output format of log messages.
    #[arg(long = "log.format", env = "DBCONN_LOG_FORMAT", default_value = "text",
          value_parser = ["text", "json"])]
    pub log_format: String,

    /// Most HTTP connections open at once (lowered to fit the open-file limit); when
    /// full, the connection that waited longest for a request is closed.
    #[arg(long = "web.max-connections", env = "DBCONN_WEB_MAX_CONNECTIONS",
          default_value_t = crate::server::DEFAULT_MAX_CONNECTIONS,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub web_max_connections: u32,
}

/// A validated configuration.
#[derive(Debug)]
pub struct Config {
    pub targets: Vec<TargetSpec>,
    pub collection: Collection,
    pub listen_address: String,
    pub telemetry_path: String,
}

#[derive(Debug)]
pub struct TargetSpec {
    pub name: String,
    pub connector: engines::Connector,
}

/// How targets are read; the same for every target.
#[derive(Clone, Debug, PartialEq)]
pub struct Collection {
    pub origin_cap: usize,
    pub thresholds: Vec<f64>,
    pub statement_timeout: Duration,
    pub lock_timeout: Duration,
    pub connect_timeout: Duration,
    pub connect_backoff_max: Duration,
    /// Used when a scrape does not say how long Prometheus will wait.
    pub scrape_timeout: Duration,
    /// Subtracted from Prometheus's scrape timeout, so the answer arrives in time.
    pub scrape_timeout_offset: Duration,
}

impl Default for Collection {
    fn default() -> Collection {
        Collection {
            origin_cap: 100,
            thresholds: vec![30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0],
            statement_timeout: Duration::from_secs(5),
            lock_timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(5),
            connect_backoff_max: Duration::from_secs(10),
            scrape_timeout: Duration::from_secs(10),
            scrape_timeout_offset: Duration::from_millis(250),
        }
    }
}

impl Collection {
    pub fn read_settings(&self) -> ReadSettings {
        ReadSettings {
            thresholds: self.thresholds.clone(),
            origin_cap: self.origin_cap,
            statement_timeout: self.statement_timeout,
            lock_timeout: self.lock_timeout,
        }
    }

    pub fn policy(&self) -> Policy {
        Policy {
            connect_timeout: self.connect_timeout,
            backoff_initial: Duration::from_millis(500).min(self.connect_backoff_max),
            backoff_max: self.connect_backoff_max,
        }
    }
}

/// A configuration error, ready to print.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    targets: Vec<FileTarget>,
    #[serde(default)]
    collection: FileCollection,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct FileTarget {
    name: Option<String>,
    dsn: String,
    password_file: Option<PathBuf>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileCollection {
    origin_cap: Option<usize>,
    duration_thresholds: Option<Vec<DurationValue>>,
    statement_timeout: Option<DurationValue>,
    lock_timeout: Option<DurationValue>,
    connect_timeout: Option<DurationValue>,
    connect_backoff_max: Option<DurationValue>,
    scrape_timeout: Option<DurationValue>,
    scrape_timeout_offset: Option<DurationValue>,
}

/// A duration as written in YAML: a number of seconds or a Prometheus-style string
/// (`500ms`, `30s`, `5m`, `1h30m`).
#[derive(Debug, Clone, PartialEq)]
struct DurationValue(f64);

impl<'de> Deserialize<'de> for DurationValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = DurationValue;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a duration such as 30s, 5m, 500ms or a number of seconds")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<DurationValue, E> {
                Ok(DurationValue(v as f64))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<DurationValue, E> {
                Ok(DurationValue(v as f64))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<DurationValue, E> {
                Ok(DurationValue(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DurationValue, E> {
                parse_duration(v).map(DurationValue).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses `1h30m`, `500ms`, `2.5s`, `90`: seconds as f64.
pub fn parse_duration(text: &str) -> Result<f64, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(n) = t.parse::<f64>() {
        return Ok(n);
    }
    let mut total = 0.0;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("invalid duration {text:?}: missing unit"))?;
        if digits == 0 {
            return Err(format!("invalid duration {text:?}"));
        }
        let number: f64 = rest[..digits]
            .parse()
            .map_err(|_| format!("invalid duration {text:?}"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            "w" => 604_800.0,
            u => {
                return Err(format!(
                    "invalid duration {text:?}: unknown unit {u:?} (use ms, s, m, h, d, w)"
                ));
            }
        };
        total += number * factor;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

fn to_duration(what: &str, value: &DurationValue) -> Result<Duration, ConfigError> {
    let secs = value.0;
    if !secs.is_finite() || secs <= 0.0 || secs > 86400.0 * 365.0 {
        return Err(ConfigError(format!(
            "collection.{what}: must be a positive duration, got {secs}s"
        )));
    }
    Ok(Duration::from_secs_f64(secs))
}

impl Config {
    /// Builds the configuration from parsed flags (and the environment they read).
    pub fn load(cli: &Cli) -> Result<Config, ConfigError> {
        let file = match &cli.config_file {
            Some(path) => Some(read_file(path)?),
            None => None,
        };
        let file = file.unwrap_or_default();
        let collection = collection(&file.collection)?;

        let mut targets = Vec::new();
        for (i, raw) in cli.targets.iter().enumerate() {
            let (name, dsn) = split_named_target(raw);
            let spec = target_spec(name, dsn, None, &collection)
                .map_err(|e| ConfigError(format!("--target #{} : {e}", i + 1)))?;
            targets.push(spec);
        }
        for (i, t) in file.targets.iter().enumerate() {
            let password = match &t.password_file {
                Some(p) => Some(
                    read_password(p)
                        .map_err(|e| ConfigError(format!("targets[{i}].password_file: {e}")))?,
                ),
                None => None,
            };
            let spec = target_spec(t.name.as_deref(), &t.dsn, password.as_ref(), &collection)
                .map_err(|e| {
                    let which = match &t.name {
                        Some(n) => format!("targets[{i}] (name {n:?})"),
                        None => format!("targets[{i}]"),
                    };
                    ConfigError(format!("{which}: {e}"))
                })?;
            targets.push(spec);
        }
        if targets.is_empty() {
            return Err(ConfigError(
                "no targets configured: give --target DSN, DBCONN_TARGET, or targets in --config.file"
                    .into(),
            ));
        }
        let mut seen = HashSet::new();
        for t in &targets {
            if !seen.insert(t.name.as_str()) {
                return Err(ConfigError(format!(
                    "duplicate target name {:?}: every target needs its own name",
                    t.name
                )));
            }
        }
        if !cli.telemetry_path.starts_with('/') || cli.telemetry_path.len() < 2 {
            return Err(ConfigError(format!(
                "--web.telemetry-path must start with / and not be / alone, got {:?}",
                cli.telemetry_path
            )));
        }
        if ["/probe", "/-/healthy", "/-/ready"].contains(&cli.telemetry_path.as_str()) {
            return Err(ConfigError(format!(
                "--web.telemetry-path {:?} collides with a built-in route",
                cli.telemetry_path
            )));
        }
        Ok(Config {
            targets,
            collection,
            listen_address: cli.listen_address.clone(),
            telemetry_path: cli.telemetry_path.clone(),
        })
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
    parse_file(&text).map_err(|e| ConfigError(format!("config file {}: {e}", path.display())))
}

fn parse_file(text: &str) -> Result<FileConfig, String> {
    if text.trim().is_empty() {
        return Ok(FileConfig::default());
    }
    serde_saphyr::from_str::<FileConfig>(text).map_err(|e| {
        // The parser's message quotes the offending YAML; a password may sit next to
        // the error, so scrub anything that looks like one.
        let mut secrets: Vec<String> = text
            .lines()
            .filter_map(|l| l.split_once("dsn:"))
            .flat_map(|(_, v)| dsn::passwords_in(v.trim().trim_matches(['"', '\''])))
            .collect();
        secrets.extend(dsn::likely_secrets(text));
        dsn::scrub(&e.to_string(), &secrets)
    })
}

fn read_password(path: &Path) -> Result<Secret, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let password = text.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(Secret::new(password))
}

/// `NAME=scheme://…` names a target; anything else is a DSN alone. A libpq
/// keyword string (`host=… user=…`) also contains `=`, so a name is only taken when
/// what follows it is a URL.
fn split_named_target(raw: &str) -> (Option<&str>, &str) {
    if let Some((name, rest)) = raw.split_once('=')
        && dsn::scheme(rest.trim_start()).is_some()
        && dsn::scheme(raw).is_none()
    {
        return (Some(name.trim()), rest.trim_start());
    }
    (None, raw)
}

fn target_spec(
    name: Option<&str>,
    raw: &str,
    password: Option<&Secret>,
    collection: &Collection,
) -> Result<TargetSpec, String> {
    let mut secrets = dsn::passwords_in(raw);
    secrets.extend(dsn::likely_secrets(raw));
    let connector = match dsn::engine_of(raw) {
        Some(EngineKind::Postgres) => engines::Connector::Postgres(
            engines::postgres::Connector::from_dsn(raw, password, collection.connect_timeout)
                .map_err(|e| dsn::scrub(&e, &secrets))?,
        ),
        Some(EngineKind::Mysql) => engines::Connector::MySql(
            engines::mysql::Connector::from_dsn(raw, password, collection.connect_timeout)
                .map_err(|e| dsn::scrub(&e, &secrets))?,
        ),
        None => {
            return Err(format!(
                "cannot tell the engine of DSN {:?}: use postgres://, postgresql://, mysql:// or mariadb://",
                // Scrub before truncating: a cut would leave part of a password.
                truncate(&dsn::scrub(raw, &secrets), 60)
            ));
        }
    };
    let name = match name {
        Some(n) => validate_name(n)?,
        None => connector.default_name(),
    };
    Ok(TargetSpec { name, connector })
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn validate_name(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("target name is empty".into());
    }
    if name.chars().count() > 128 {
        return Err("target name is longer than 128 characters".into());
    }
    if name.chars().any(char::is_control) {
        return Err("target name contains control characters".into());
    }
    Ok(name.to_string())
}

fn collection(file: &FileCollection) -> Result<Collection, ConfigError> {
    let mut c = Collection::default();
    if let Some(cap) = file.origin_cap {
        if cap == 0 || cap > 100_000 {
            return Err(ConfigError(format!(
                "collection.origin_cap: must be between 1 and 100000, got {cap}"
            )));
        }
        c.origin_cap = cap;
    }
    if let Some(list) = &file.duration_thresholds {
        let mut thresholds = Vec::new();
        for (i, v) in list.iter().enumerate() {
            let d = to_duration(&format!("duration_thresholds[{i}]"), v)?;
            thresholds.push(d.as_secs_f64());
        }
        thresholds.sort_by(f64::total_cmp);
        thresholds.dedup();
        if thresholds.len() > 20 {
            return Err(ConfigError(
                "collection.duration_thresholds: at most 20 thresholds".into(),
            ));
        }
        c.thresholds = thresholds;
    }
    let set = |field: &Option<DurationValue>, what: &str, slot: &mut Duration| {
        if let Some(v) = field {
            *slot = to_duration(what, v)?;
        }
        Ok::<(), ConfigError>(())
    };
    set(
        &file.statement_timeout,
        "statement_timeout",
        &mut c.statement_timeout,
    )?;
    set(&file.lock_timeout, "lock_timeout", &mut c.lock_timeout)?;
    set(
        &file.connect_timeout,
        "connect_timeout",
        &mut c.connect_timeout,
    )?;
    set(
        &file.connect_backoff_max,
        "connect_backoff_max",
        &mut c.connect_backoff_max,
    )?;
    set(
        &file.scrape_timeout,
        "scrape_timeout",
        &mut c.scrape_timeout,
    )?;
    set(
        &file.scrape_timeout_offset,
        "scrape_timeout_offset",
        &mut c.scrape_timeout_offset,
    )?;
    if c.lock_timeout > c.statement_timeout {
        return Err(ConfigError(
            "collection.lock_timeout must not exceed collection.statement_timeout".into(),
        ));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        let mut all = vec!["dbconn_exporter"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).unwrap()
    }

    fn write(text: &str) -> (tempdir::Dir, PathBuf) {
        let dir = tempdir::Dir::new();
        let path = dir.0.join("config.yml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                use std::sync::atomic::{AtomicU32, Ordering};
                static N: AtomicU32 = AtomicU32::new(0);
                let p = std::env::temp_dir().join(format!(
                    "dbconn-config-test-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    fn load_file(text: &str) -> Result<Config, ConfigError> {
        let (_dir, path) = write(text);
        Config::load(&cli(&["--config.file", path.to_str().unwrap()]))
    }

    #[test]
    fn a_flag_target_gets_a_derived_name() {
        let c = Config::load(&cli(&["--target", "postgres://u@db:5432/app"])).unwrap();
        assert_eq!(c.targets[0].name, "db:5432/app");
        let c = Config::load(&cli(&["--target", "main=postgres://u@db:5432/app"])).unwrap();
        assert_eq!(c.targets[0].name, "main");
        let c = Config::load(&cli(&["--target", "host=db user=u dbname=x"])).unwrap();
        assert_eq!(c.targets[0].name, "db:5432/x");
    }

    #[test]
    fn a_file_with_several_targets_loads() {
        let c = load_file(
            "targets:\n  - name: a\n    dsn: postgres://u@h1/db\n  - name: b\n    dsn: postgres://u@h2/db\n\
             collection:\n  origin_cap: 7\n  duration_thresholds: [1m, 30s, 90]\n  statement_timeout: 2s\n  lock_timeout: 500ms\n",
        )
        .unwrap();
        assert_eq!(c.targets.len(), 2);
        assert_eq!(c.collection.origin_cap, 7);
        assert_eq!(c.collection.thresholds, vec![30.0, 60.0, 90.0]);
        assert_eq!(c.collection.lock_timeout, Duration::from_millis(500));
    }

    #[test]
    fn an_unknown_key_is_an_error_with_its_name() {
        let err = load_file("targets:\n  - name: a\n    dsn: postgres://u@h/db\n    colour: red\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("colour"), "{err}");
    }

    #[test]
    fn a_syntax_error_has_line_and_column() {
        let err = load_file("targets:\n  - name: a\n    dsn: [unclosed\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line") || err.contains(":3:"), "{err}");
    }

    #[test]
    fn duplicate_names_are_refused() {
        let err = load_file(
            "targets:\n  - name: a\n    dsn: postgres://u@h1/db\n  - name: a\n    dsn: postgres://u@h2/db\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("duplicate target name \"a\""), "{err}");
    }

    #[test]
    fn a_bad_dsn_is_an_error_without_the_password() {
        let err = load_file("targets:\n  - name: a\n    dsn: postgres://u:hunter2@h:99999/db\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("targets[0]"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let err = Config::load(&cli(&["--target", "redis://u:hunter2@h"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot tell the engine"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn no_target_is_an_error() {
        let err = Config::load(&cli(&[])).unwrap_err().to_string();
        assert!(err.contains("no targets configured"), "{err}");
    }

    #[test]
    fn bad_durations_are_errors() {
        for bad in [
            "statement_timeout: -1",
            "lock_timeout: 5parsecs",
            "connect_timeout: 0",
        ] {
            let err = load_file(&format!(
                "targets:\n  - dsn: postgres://u@h/db\ncollection:\n  {bad}\n"
            ));
            assert!(err.is_err(), "{bad} was accepted");
        }
        let err = load_file(
            "targets:\n  - dsn: postgres://u@h/db\ncollection:\n  lock_timeout: 10s\n  statement_timeout: 1s\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("lock_timeout"), "{err}");
    }

    #[test]
    fn durations_parse_like_prometheus() {
        assert_eq!(parse_duration("1h30m"), Ok(5400.0));
        assert_eq!(parse_duration("500ms"), Ok(0.5));
        assert_eq!(parse_duration("90"), Ok(90.0));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("m").is_err());
    }

    #[test]
    fn password_files_are_read_and_trimmed() {
        let dir = tempdir::Dir::new();
        let pw = dir.0.join("pw");
        std::fs::write(&pw, "s3cret\n").unwrap();
        let c = load_file(&format!(
            "targets:\n  - name: a\n    dsn: postgres://u@h/db\n    password_file: {}\n",
            pw.display()
        ))
        .unwrap();
        assert_eq!(c.targets[0].name, "a");
        let err = load_file("targets:\n  - name: a\n    dsn: postgres://u@h/db\n    password_file: /nonexistent/pw\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("password_file"), "{err}");
    }

    #[test]
    fn named_targets_split_only_before_a_url() {
        assert_eq!(
            split_named_target("a=postgres://h"),
            (Some("a"), "postgres://h")
        );
        assert_eq!(split_named_target("host=h user=u"), (None, "host=h user=u"));
        assert_eq!(
            split_named_target("postgres://h/db?application_name=x"),
            (None, "postgres://h/db?application_name=x")
        );
    }
}
