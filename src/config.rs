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

use serde::Deserialize;

pub use crate::cli::Cli;
use crate::dsn::{self, Secret};
use crate::engines::{self, ReadSettings};
use crate::model::Engine;
use crate::target::Policy;

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

/// Parses `1h30m`, `500ms`, `2.5s`, `90`: seconds as f64. Errors do not quote the
/// text (it comes from the configuration file, whose values are never echoed); the
/// caller says where it was.
pub fn parse_duration(text: &str) -> Result<f64, String> {
    const INVALID: &str = "invalid duration (use a number of seconds or 500ms, 30s, 5m, 1h30m)";
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
            .ok_or_else(|| format!("{INVALID}: missing unit"))?;
        if digits == 0 {
            return Err(INVALID.into());
        }
        let number: f64 = rest[..digits].parse().map_err(|_| INVALID.to_string())?;
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
            _ => {
                return Err(format!("{INVALID}: unknown unit (use ms, s, m, h, d, w)"));
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

/// The smallest statement, lock and connect timeout. The servers take these limits
/// in whole milliseconds (PostgreSQL `statement_timeout`/`lock_timeout`, MySQL
/// `max_execution_time`), and there 0 means "no limit": a shorter value would be
/// rounded to 1 ms or to no limit at all, never mean what was written.
pub const MIN_TIMEOUT: Duration = Duration::from_millis(1);

/// Refuses a timeout the servers cannot express (see [`MIN_TIMEOUT`]).
fn at_least_a_millisecond(what: &str, value: Duration) -> Result<(), ConfigError> {
    if value < MIN_TIMEOUT {
        return Err(ConfigError(format!(
            "collection.{what}: {value:?} is below the minimum of 1ms (the servers count these limits in whole milliseconds, and 0 would mean no limit)"
        )));
    }
    Ok(())
}

/// The largest configuration file read.
pub const MAX_CONFIG_FILE_BYTES: u64 = 1 << 20;
/// The largest password file read: a password, not a key ring.
pub const MAX_PASSWORD_FILE_BYTES: u64 = 4096;

/// Checks `--web.telemetry-path`. It becomes a route, and the router reads `:name`,
/// `{name}` and `*name` as parameters (`/{x}` would serve metrics on every path, `/:x`
/// panics at start): only literal segments of unreserved URL characters are taken.
fn validate_telemetry_path(path: &str) -> Result<(), ConfigError> {
    let bad = |why: &str| {
        ConfigError(format!(
            "--web.telemetry-path {path:?}: {why}; use `/`-separated segments of letters, digits, `-`, `.`, `_` and `~`, such as /metrics"
        ))
    };
    let Some(rest) = path.strip_prefix('/') else {
        return Err(bad("must start with /"));
    };
    if rest.is_empty() {
        return Err(bad("must not be / alone (/ is the landing page)"));
    }
    for segment in rest.split('/') {
        if segment.is_empty() {
            return Err(bad("has an empty segment (`//` or a trailing /)"));
        }
        if !segment
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~'))
        {
            return Err(bad("is not a literal path"));
        }
        if segment == "." || segment == ".." {
            return Err(bad("has a `.` or `..` segment"));
        }
    }
    if ["/probe", "/-/healthy", "/-/ready"].contains(&path) {
        return Err(ConfigError(format!(
            "--web.telemetry-path {path:?} collides with a built-in route"
        )));
    }
    Ok(())
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
        validate_telemetry_path(&cli.telemetry_path)?;
        Ok(Config {
            targets,
            collection,
            listen_address: cli.listen_address.clone(),
            telemetry_path: cli.telemetry_path.clone(),
        })
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let bytes = dsn::read_small_file(path, MAX_CONFIG_FILE_BYTES, "configuration file")
        .map_err(|e| ConfigError(format!("config file: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        ConfigError(format!(
            "config file {}: not UTF-8 (byte {})",
            path.display(),
            e.utf8_error().valid_up_to() + 1
        ))
    })?;
    parse_file(&text).map_err(|e| ConfigError(format!("config file {}: {e}", path.display())))
}

fn parse_file(text: &str) -> Result<FileConfig, String> {
    if text.trim().is_empty() {
        return Ok(FileConfig::default());
    }
    serde_saphyr::from_str::<FileConfig>(text).map_err(|e| yaml_error(&e, text))
}

/// The parser's error as location and reason, quoting nothing of the file but key
/// names. serde-saphyr shows the offending lines by default, and serde's messages
/// quote values (`invalid type: string "…"`): either may be a password. So the
/// snippet is dropped, quoted values are blanked, and what remains is scrubbed of
/// every value in the file.
fn yaml_error(e: &serde_saphyr::Error, text: &str) -> String {
    let plain = e.without_snippet().to_string();
    // The message ends with its location, which is printed first instead.
    let reason = match plain.rfind(" at line ") {
        Some(i) => &plain[..i],
        None => plain.as_str(),
    };
    let reason = reason.replace(", set DuplicateKeyPolicy in Options if acceptable", "");
    let mut secrets = file_values(text);
    secrets.extend(dsn::likely_secrets(text));
    let reason = dsn::scrub(&blank_quoted(&reason), &secrets);
    match e.location() {
        Some(l) => format!("line {}, column {}: {reason}", l.line(), l.column()),
        None => reason,
    }
}

/// Blanks every `"…"` literal, and every `` `…` `` one except the key serde names in
/// "unknown field `k`", "missing field `k`" and "duplicate field `k`".
fn blank_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(open) = rest.find(['"', '`']) {
        let quote = rest[open..].chars().next().unwrap_or('"');
        let Some(len) = rest[open + 1..].find(quote) else {
            break;
        };
        let before = &rest[..open];
        let inner = &rest[open + 1..open + 1 + len];
        out.push_str(before);
        out.push(quote);
        if quote == '`' && before.ends_with("field ") {
            out.push_str(inner);
        } else {
            out.push('…');
        }
        out.push(quote);
        rest = &rest[open + len + 2..];
    }
    out.push_str(rest);
    out
}

/// Every value written in the file (after `key:` or `- `, in block or flow style),
/// unquoted. Short ones are left out: scrubbing `a` would shred the message, and no
/// password is that short.
fn file_values(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        for piece in line.split([',', '[', ']', '{', '}']) {
            let piece = piece.trim().trim_start_matches("- ").trim();
            let value = match piece.split_once(':') {
                Some((_, v)) => v,
                None => piece,
            };
            let value = value.trim().trim_matches(['"', '\'']).trim();
            if value.chars().count() >= 4 {
                found.push(value.to_string());
            }
        }
        let whole = line.trim();
        if whole.chars().count() >= 4 {
            found.push(whole.to_string());
        }
    }
    found
}

fn read_password(path: &Path) -> Result<Secret, String> {
    let bytes = dsn::read_small_file(path, MAX_PASSWORD_FILE_BYTES, "password file")?;
    let text = String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8", path.display()))?;
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
    let urls = dsn::url_count(raw);
    if urls > 1 {
        return Err(format!(
            "this value holds {urls} DSNs: give one --target per DSN (DBCONN_TARGET takes one), or list the targets under `targets:` in --config.file"
        ));
    }
    let connector = match dsn::engine_of(raw) {
        Some(Engine::PostgreSql) => engines::Connector::Postgres(
            engines::postgres::Connector::from_dsn(raw, password, collection.connect_timeout)
                .map_err(|e| dsn::scrub(&e, &secrets))?,
        ),
        Some(Engine::MySql | Engine::MariaDb) => engines::Connector::MySql(
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
        None => {
            let derived = connector.default_name();
            // The name is printed everywhere (labels, logs, the landing page): if a
            // password ended up in it, refuse rather than print it.
            let mut passwords = dsn::passwords_in(raw);
            passwords.extend(password.map(|p| p.expose().to_string()));
            if passwords
                .iter()
                .any(|p| !p.is_empty() && derived.contains(p.as_str()))
            {
                return Err(
                    "the target name derived from this DSN (host:port/database) would contain the password: name the target (NAME=DSN, or `name:` in the file)"
                        .into(),
                );
            }
            derived
        }
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
    at_least_a_millisecond("statement_timeout", c.statement_timeout)?;
    at_least_a_millisecond("lock_timeout", c.lock_timeout)?;
    at_least_a_millisecond("connect_timeout", c.connect_timeout)?;
    if c.scrape_timeout_offset >= c.scrape_timeout {
        return Err(ConfigError(format!(
            "collection.scrape_timeout_offset ({:?}) must be less than collection.scrape_timeout ({:?}): nothing would be left to read the targets in",
            c.scrape_timeout_offset, c.scrape_timeout
        )));
    }
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
    use clap::Parser;

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
    fn yaml_errors_quote_no_value() {
        for (text, expect) in [
            (
                "targets:\n  - name: a\n    dsn: postgres://u@h/db\n    password: TopSecretPw\n",
                "line 4, column 5: unknown field `password`",
            ),
            (
                "collection:\n  statement_timeout: TopSecretPw\n",
                "line 2, column 22: invalid duration",
            ),
            (
                "collection:\n  origin_cap: TopSecretPw\n",
                "line 2, column 15",
            ),
            (
                "targets:\n  - name: a\n    dsn: x\n    dsn: TopSecretPw\n",
                "line 4, column 5: duplicate mapping key",
            ),
            ("targets:\n  - name: a\n    dsn: 'TopSecretPw\n", "line 3"),
            (
                "targets:\n  - name: a\n    dsn: x\n  password: TopSecretPw\n",
                "line 4, column 3",
            ),
            ("targets:\n  - name: [TopSecretPw]\n", "line 2"),
            (
                "collection:\n  duration_thresholds: [1s, TopSecretPw]\n",
                "line 2",
            ),
        ] {
            let err = load_file(text).unwrap_err().to_string();
            assert!(err.contains(expect), "{text:?}: {err}");
            assert!(!err.contains("TopSecret"), "{text:?}: {err}");
            assert!(!err.contains('\n'), "a snippet in: {err}");
        }
    }

    #[test]
    fn quoted_values_are_blanked_but_field_names_kept() {
        assert_eq!(
            blank_quoted("invalid type: string \"pw\", expected `x` for field `k`"),
            "invalid type: string \"…\", expected `…` for field `k`"
        );
        assert_eq!(
            blank_quoted("unknown field `pasword`, expected one of name"),
            "unknown field `pasword`, expected one of name"
        );
        assert_eq!(blank_quoted("unclosed \"quote"), "unclosed \"quote");
    }

    #[test]
    fn telemetry_paths_must_be_literal() {
        for good in ["/metrics", "/a/b", "/x-y_z.v~1"] {
            assert!(validate_telemetry_path(good).is_ok(), "{good}");
        }
        for bad in [
            "", "/", "metrics", "/:x", "/{x}", "/*x", "/a//b", "/a/", "/a b", "/%2e", "/..",
            "/a/./b", "/probe", "/-/ready", "/ü",
        ] {
            let err = validate_telemetry_path(bad).unwrap_err().to_string();
            assert!(err.contains("--web.telemetry-path"), "{bad}: {err}");
        }
    }

    #[test]
    fn timeouts_below_a_millisecond_and_offsets_beyond_the_timeout_are_refused() {
        for (collection, expect) in [
            (
                "statement_timeout: 0.0009\n  lock_timeout: 0.0005",
                "statement_timeout",
            ),
            ("lock_timeout: 0.0001", "lock_timeout"),
            ("connect_timeout: 0.0005", "connect_timeout"),
            (
                "scrape_timeout: 1s\n  scrape_timeout_offset: 1s",
                "scrape_timeout_offset",
            ),
            ("scrape_timeout_offset: 11s", "scrape_timeout_offset"),
        ] {
            let err = load_file(&format!(
                "targets:\n  - dsn: postgres://u@h/db\ncollection:\n  {collection}\n"
            ))
            .unwrap_err()
            .to_string();
            assert!(err.contains(expect), "{collection}: {err}");
        }
        let c = load_file(
            "targets:\n  - dsn: postgres://u@h/db\ncollection:\n  statement_timeout: 1ms\n  lock_timeout: 1ms\n  scrape_timeout: 1s\n  scrape_timeout_offset: 999ms\n",
        )
        .unwrap();
        assert_eq!(c.collection.statement_timeout, MIN_TIMEOUT);
    }

    #[test]
    fn one_value_holds_one_dsn() {
        for value in [
            "postgres://a:pw1@h1/db,postgres://b:hunter2@h2/db",
            "postgres://a:pw1@h1/db postgres://b:hunter2@h2/db",
            "a=mysql://a:pw1@h1/,b=mysql://b:hunter2@h2/",
        ] {
            let err = Config::load(&cli(&["--target", value]))
                .unwrap_err()
                .to_string();
            assert!(err.contains("holds 2 DSNs"), "{err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
        let err = load_file(
            "targets:\n  - name: a\n    dsn: postgres://a:pw1@h1/db,postgres://b:hunter2@h2/db\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("targets[0]") && err.contains("holds 2 DSNs"),
            "{err}"
        );
    }

    #[test]
    fn a_derived_name_never_holds_the_password() {
        let err = Config::load(&cli(&[
            "--target",
            "postgres://postgres:postgres@h/postgres",
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.contains("name the target"), "{err}");
        let c = Config::load(&cli(&[
            "--target",
            "pg=postgres://postgres:postgres@h/postgres",
        ]))
        .unwrap();
        assert_eq!(c.targets[0].name, "pg");
        let dir = tempdir::Dir::new();
        let pw = dir.0.join("pw");
        std::fs::write(&pw, "orders\n").unwrap();
        let err = load_file(&format!(
            "targets:\n  - dsn: postgres://u@h/orders\n    password_file: {}\n",
            pw.display()
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("name the target"), "{err}");
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
