//! The collection settings: how every target is read, the same for all. Each has a
//! default, so the file only names what it changes; the checks here refuse values
//! the servers would round to something else, and combinations that leave no time
//! to read a target.
//!
//! The session mode is here because it is a property of how targets are read: eager
//! holds every target's slot before its server fills up (the point of a connection
//! monitor), lazy lets replicas that each serve a shard of a fleet they all know
//! hold sessions only for the targets their Prometheus asks for.

use std::time::Duration;

use super::ConfigError;
use super::file::{DurationValue, FileCollection, FileIncident};
use super::incident::IncidentSettings;
use crate::engines::ReadSettings;
use crate::target::Policy;

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
    pub session_mode: SessionMode,
    /// Lazy mode: a session is closed after this long without a read.
    pub session_idle_timeout: Duration,
    /// The incident view (the file's own `incident:` section).
    pub incident: IncidentSettings,
}

/// When a target's session is opened and how long it is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionMode {
    /// Opened at start and kept, reopened with backoff.
    Eager,
    /// Opened by the first read, closed after `session_idle_timeout` without one.
    Lazy,
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
            session_mode: SessionMode::Eager,
            session_idle_timeout: Duration::from_secs(600),
            incident: IncidentSettings::default(),
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
            query_text: self.incident.query_text,
        }
    }

    pub fn policy(&self) -> Policy {
        Policy {
            connect_timeout: self.connect_timeout,
            backoff_initial: Duration::from_millis(500).min(self.connect_backoff_max),
            backoff_max: self.connect_backoff_max,
            idle_close: self.lazy().then_some(self.session_idle_timeout),
        }
    }

    /// Whether sessions are lazy: then `/metrics` reads no target.
    pub fn lazy(&self) -> bool {
        self.session_mode == SessionMode::Lazy
    }
}

/// The smallest statement, lock and connect timeout. The servers take these limits
/// in whole milliseconds (PostgreSQL `statement_timeout`/`lock_timeout`, MySQL
/// `max_execution_time`), and there 0 means "no limit": a shorter value would be
/// rounded to 1 ms or to no limit at all, never mean what was written.
const MIN_TIMEOUT: Duration = Duration::from_millis(1);

/// Refuses a timeout the servers cannot express (see [`MIN_TIMEOUT`]).
fn at_least_a_millisecond(what: &str, value: Duration) -> Result<(), ConfigError> {
    if value < MIN_TIMEOUT {
        return Err(ConfigError(format!(
            "collection.{what}: {value:?} is below the minimum of 1ms (the servers count these limits in whole milliseconds, and 0 would mean no limit)"
        )));
    }
    Ok(())
}

/// The longest duration any collection setting takes, in seconds: 365 days. Far
/// beyond any useful timeout, and it keeps every sum of deadlines in range.
const MAX_SECS: f64 = 86400.0 * 365.0;

/// The shortest `session_idle_timeout`. Below it a session would be closed between
/// the probes of one scrape interval and reopened for each, a login per probe,
/// which lazy mode is not meant to cost.
const MIN_IDLE_TIMEOUT: Duration = Duration::from_secs(1);

fn to_duration(what: &str, value: &DurationValue) -> Result<Duration, ConfigError> {
    let secs = value.0;
    if !secs.is_finite() || secs <= 0.0 {
        return Err(ConfigError(format!(
            "collection.{what}: must be a positive duration, got {secs}s"
        )));
    }
    if secs > MAX_SECS {
        return Err(ConfigError(format!(
            "collection.{what}: {secs}s is above the maximum of 365d"
        )));
    }
    Ok(Duration::from_secs_f64(secs))
}

impl Collection {
    /// The defaults, overridden by what the file's `collection:` says, checked.
    pub(super) fn from_file(
        file: &FileCollection,
        incident: &FileIncident,
    ) -> Result<Collection, ConfigError> {
        let mut c = Collection {
            incident: IncidentSettings::from_file(incident)?,
            ..Collection::default()
        };
        if let Some(cap) = file.origin_cap {
            if cap == 0 || cap > 100_000 {
                return Err(ConfigError(format!(
                    "collection.origin_cap: must be between 1 and 100000, got {cap}"
                )));
            }
            c.origin_cap = cap;
        }
        if let Some(list) = &file.duration_thresholds {
            c.thresholds = thresholds(list)?;
        }
        if let Some(mode) = &file.session_mode {
            c.session_mode = session_mode(mode)?;
        }
        if let Some(idle) = &file.session_idle_timeout {
            if !c.lazy() {
                return Err(ConfigError(
                    "collection.session_idle_timeout: only used with session_mode: lazy (eager sessions are never closed for idleness); remove it or set session_mode: lazy".into(),
                ));
            }
            c.session_idle_timeout = to_duration("session_idle_timeout", idle)?;
            if c.session_idle_timeout < MIN_IDLE_TIMEOUT {
                return Err(ConfigError(format!(
                    "collection.session_idle_timeout: {:?} is below the minimum of 1s (shorter would close the session between probes and log in anew for nearly every one)",
                    c.session_idle_timeout
                )));
            }
        }
        for (field, what, slot) in [
            (
                &file.statement_timeout,
                "statement_timeout",
                &mut c.statement_timeout,
            ),
            (&file.lock_timeout, "lock_timeout", &mut c.lock_timeout),
            (
                &file.connect_timeout,
                "connect_timeout",
                &mut c.connect_timeout,
            ),
            (
                &file.connect_backoff_max,
                "connect_backoff_max",
                &mut c.connect_backoff_max,
            ),
            (
                &file.scrape_timeout,
                "scrape_timeout",
                &mut c.scrape_timeout,
            ),
            (
                &file.scrape_timeout_offset,
                "scrape_timeout_offset",
                &mut c.scrape_timeout_offset,
            ),
        ] {
            if let Some(v) = field {
                *slot = to_duration(what, v)?;
            }
        }
        c.check()?;
        Ok(c)
    }

    /// The checks that need more than one value, or the value after defaults.
    fn check(&self) -> Result<(), ConfigError> {
        for (what, value) in [
            ("statement_timeout", self.statement_timeout),
            ("lock_timeout", self.lock_timeout),
            ("connect_timeout", self.connect_timeout),
        ] {
            at_least_a_millisecond(what, value)?;
        }
        if self.scrape_timeout_offset >= self.scrape_timeout {
            return Err(ConfigError(format!(
                "collection.scrape_timeout_offset ({:?}) must be less than collection.scrape_timeout ({:?}): nothing would be left to read the targets in",
                self.scrape_timeout_offset, self.scrape_timeout
            )));
        }
        if self.lock_timeout > self.statement_timeout {
            return Err(ConfigError(
                "collection.lock_timeout must not exceed collection.statement_timeout".into(),
            ));
        }
        Ok(())
    }
}

/// `session_mode`. The value is not quoted back: it comes from a file that holds
/// passwords.
fn session_mode(text: &str) -> Result<SessionMode, ConfigError> {
    match text {
        "eager" => Ok(SessionMode::Eager),
        "lazy" => Ok(SessionMode::Lazy),
        _ => Err(ConfigError(
            "collection.session_mode: must be eager or lazy".into(),
        )),
    }
}

/// `duration_thresholds`, in seconds: sorted, without repeats, at most 20.
fn thresholds(list: &[DurationValue]) -> Result<Vec<f64>, ConfigError> {
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
    Ok(thresholds)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The collection settings from the lines under `collection:` in a file.
    fn from_yaml(lines: &str) -> Result<Collection, String> {
        let file = super::super::file::parse_file(&format!("collection:\n  {lines}\n"))?;
        Collection::from_file(&file.collection, &file.incident).map_err(|e| e.to_string())
    }

    #[test]
    fn bad_durations_are_errors() {
        for bad in [
            "statement_timeout: -1",
            "lock_timeout: 5parsecs",
            "connect_timeout: 0",
        ] {
            assert!(from_yaml(bad).is_err(), "{bad} was accepted");
        }
        let err = from_yaml("lock_timeout: 10s\n  statement_timeout: 1s").unwrap_err();
        assert!(err.contains("lock_timeout"), "{err}");
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
            let err = from_yaml(collection).unwrap_err();
            assert!(err.contains(expect), "{collection}: {err}");
        }
        let c = from_yaml(
            "statement_timeout: 1ms\n  lock_timeout: 1ms\n  scrape_timeout: 1s\n  scrape_timeout_offset: 999ms",
        )
        .unwrap();
        assert_eq!(c.statement_timeout, MIN_TIMEOUT);
    }

    #[test]
    fn sessions_are_eager_unless_the_file_says_lazy() {
        let c = from_yaml("origin_cap: 5").unwrap();
        assert_eq!(c.session_mode, SessionMode::Eager);
        assert_eq!(c.policy().idle_close, None);
        let c = from_yaml("session_mode: eager").unwrap();
        assert_eq!(c.policy().idle_close, None);
        let c = from_yaml("session_mode: lazy").unwrap();
        assert!(c.lazy());
        assert_eq!(c.policy().idle_close, Some(Duration::from_secs(600)));
        let c = from_yaml("session_mode: lazy\n  session_idle_timeout: 90s").unwrap();
        assert_eq!(c.policy().idle_close, Some(Duration::from_secs(90)));
        // The bounds themselves are accepted.
        let c = from_yaml("session_mode: lazy\n  session_idle_timeout: 1s").unwrap();
        assert_eq!(c.policy().idle_close, Some(MIN_IDLE_TIMEOUT));
        let c = from_yaml("session_mode: lazy\n  session_idle_timeout: 365d").unwrap();
        assert_eq!(c.session_idle_timeout, Duration::from_secs(86400 * 365));
    }

    #[test]
    fn bad_session_settings_are_errors_naming_the_key() {
        for (bad, expect) in [
            (
                "session_mode: Lazy",
                "collection.session_mode: must be eager or lazy",
            ),
            (
                "session_mode: hunter2",
                "collection.session_mode: must be eager or lazy",
            ),
            (
                "session_mode: lazy\n  session_idle_timeout: 0",
                "collection.session_idle_timeout: must be a positive duration",
            ),
            (
                "session_mode: lazy\n  session_idle_timeout: -5s",
                "line 3, column 25: invalid duration",
            ),
            (
                "session_idle_timeout: 5m",
                "collection.session_idle_timeout: only used with session_mode: lazy",
            ),
            (
                "session_mode: lazy\n  session_idle_timeout: 1ms",
                "collection.session_idle_timeout: 1ms is below the minimum of 1s",
            ),
            (
                "session_mode: lazy\n  session_idle_timeout: 999ms",
                "collection.session_idle_timeout: 999ms is below the minimum of 1s",
            ),
            (
                "session_mode: lazy\n  session_idle_timeout: 36000000000s",
                "collection.session_idle_timeout: 36000000000s is above the maximum of 365d",
            ),
            (
                "session_mode: lazy\n  session_idle_timeout: 366d",
                "collection.session_idle_timeout: 31622400s is above the maximum of 365d",
            ),
            (
                "session_mode: eager\n  session_idle_timeout: 5m",
                "only used with session_mode: lazy",
            ),
        ] {
            let err = from_yaml(bad).unwrap_err();
            assert!(err.contains(expect), "{bad}: {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }
}
