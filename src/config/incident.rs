//! The `incident:` section: whether the pid-level view is served, whether it shows
//! statement text, and when a session is worth offering for relief.
//!
//! The view shows client addresses and pids, and with `query_text` the statements
//! themselves (which can carry personal data or literals from an application), so
//! statement text is off unless asked for, and the whole view can be turned off
//! where the endpoint cannot be protected.

use std::time::Duration;

use super::ConfigError;
use super::file::{DurationValue, FileIncident};
use crate::incident::Options;

/// The longest statement text the view keeps per session.
const MAX_QUERY_TEXT: usize = 10_000;

#[derive(Clone, Debug, PartialEq)]
pub struct IncidentSettings {
    /// Serve `/api/v1/incident` and `/incident`; off, both answer 404.
    pub enabled: bool,
    /// Statement text, truncated to this many characters; `None` shows none.
    pub query_text: Option<usize>,
    pub options: Options,
}

impl Default for IncidentSettings {
    fn default() -> IncidentSettings {
        IncidentSettings {
            enabled: true,
            query_text: None,
            options: Options::default(),
        }
    }
}

impl IncidentSettings {
    pub(super) fn from_file(file: &FileIncident) -> Result<IncidentSettings, ConfigError> {
        let mut s = IncidentSettings::default();
        if let Some(enabled) = file.enabled {
            s.enabled = enabled;
        }
        let length = match file.query_text_max_length {
            Some(0) => {
                return Err(ConfigError(
                    "incident.query_text_max_length: must be at least 1".into(),
                ));
            }
            Some(n) if n > MAX_QUERY_TEXT => {
                return Err(ConfigError(format!(
                    "incident.query_text_max_length: at most {MAX_QUERY_TEXT}, got {n}"
                )));
            }
            Some(n) => Some(n),
            None => None,
        };
        s.query_text = match (file.query_text.unwrap_or(false), length) {
            (true, n) => Some(n.unwrap_or(200)),
            (false, None) => None,
            (false, Some(_)) => {
                return Err(ConfigError(
                    "incident.query_text_max_length: only used with query_text: true; remove it or enable query_text".into(),
                ));
            }
        };
        if let Some(v) = &file.relief_idle_after {
            s.options.relief_idle_after = duration("relief_idle_after", v)?;
        }
        if let Some(v) = &file.relief_active_after {
            s.options.relief_active_after = duration("relief_active_after", v)?;
        }
        if let Some(n) = file.sessions_limit {
            if n == 0 || n > 1000 {
                return Err(ConfigError(format!(
                    "incident.sessions_limit: must be between 1 and 1000, got {n}"
                )));
            }
            s.options.sessions_limit = n;
        }
        Ok(s)
    }
}

fn duration(what: &str, value: &DurationValue) -> Result<Duration, ConfigError> {
    let secs = value.0;
    if !(1.0..=86400.0 * 365.0).contains(&secs) {
        return Err(ConfigError(format!(
            "incident.{what}: must be between 1s and 365d, got {secs}s"
        )));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_yaml(lines: &str) -> Result<IncidentSettings, String> {
        let file = super::super::file::parse_file(&format!("incident:\n  {lines}\n"))?;
        IncidentSettings::from_file(&file.incident).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_show_no_statement_text() {
        let s = from_yaml("enabled: true").unwrap();
        assert_eq!(s, IncidentSettings::default());
        assert_eq!(s.query_text, None);
    }

    #[test]
    fn query_text_is_truncated_to_the_length_given() {
        assert_eq!(from_yaml("query_text: true").unwrap().query_text, Some(200));
        let s = from_yaml("query_text: true\n  query_text_max_length: 80").unwrap();
        assert_eq!(s.query_text, Some(80));
    }

    #[test]
    fn bad_values_are_refused_by_name() {
        for (bad, named) in [
            ("query_text_max_length: 80", "only used with query_text"),
            ("query_text: true\n  query_text_max_length: 0", "at least 1"),
            (
                "query_text: true\n  query_text_max_length: 99999",
                "at most",
            ),
            ("relief_idle_after: 0s", "relief_idle_after"),
            ("relief_active_after: -5", "relief_active_after"),
            ("sessions_limit: 0", "sessions_limit"),
            ("bogus: 1", "unknown field"),
        ] {
            let err = from_yaml(bad).unwrap_err();
            assert!(err.contains(named), "{bad}: {err}");
        }
    }

    #[test]
    fn the_view_can_be_switched_off() {
        assert!(!from_yaml("enabled: false").unwrap().enabled);
    }
}
