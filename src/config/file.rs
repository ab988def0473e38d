//! What the YAML file may say, and how files the configuration names are read.
//!
//! YAML is read with serde-saphyr: serde_yaml is archived and unmaintained, and
//! serde-saphyr is a maintained, pure-Rust parser with location-carrying errors and
//! limits against hostile documents (alias bombs, deep nesting). Its errors quote the
//! file, and the file holds passwords: [`yaml_error`] keeps the location and drops
//! every value.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ConfigError;
use crate::dsn::{self, Secret};
use crate::files::read_small_file;

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    #[serde(default)]
    pub(super) targets: Vec<FileTarget>,
    #[serde(default)]
    pub(super) collection: FileCollection,
    #[serde(default)]
    pub(super) incident: FileIncident,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct FileIncident {
    pub(super) enabled: Option<bool>,
    pub(super) query_text: Option<bool>,
    pub(super) query_text_max_length: Option<usize>,
    pub(super) relief_idle_after: Option<DurationValue>,
    pub(super) relief_active_after: Option<DurationValue>,
    pub(super) sessions_limit: Option<usize>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct FileTarget {
    pub(super) name: Option<String>,
    pub(super) dsn: String,
    pub(super) password_file: Option<PathBuf>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct FileCollection {
    pub(super) origin_cap: Option<usize>,
    pub(super) duration_thresholds: Option<Vec<DurationValue>>,
    pub(super) statement_timeout: Option<DurationValue>,
    pub(super) lock_timeout: Option<DurationValue>,
    pub(super) connect_timeout: Option<DurationValue>,
    pub(super) connect_backoff_max: Option<DurationValue>,
    pub(super) scrape_timeout: Option<DurationValue>,
    pub(super) scrape_timeout_offset: Option<DurationValue>,
    pub(super) session_mode: Option<String>,
    pub(super) session_idle_timeout: Option<DurationValue>,
}

/// A duration as written in YAML: a number of seconds or a Prometheus-style string
/// (`500ms`, `30s`, `5m`, `1h30m`).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct DurationValue(pub(super) f64);

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
fn parse_duration(text: &str) -> Result<f64, String> {
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

/// The largest configuration file read.
const MAX_CONFIG_FILE_BYTES: u64 = 1 << 20;
/// The largest password file read: a password, not a key ring.
const MAX_PASSWORD_FILE_BYTES: u64 = 4096;

/// Reads and parses the file named by `--config.file`.
pub(super) fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let bytes = read_small_file(path, MAX_CONFIG_FILE_BYTES, "configuration file")
        .map_err(|e| ConfigError(format!("config file: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        ConfigError(format!(
            "config file {}: not UTF-8 (byte {})",
            path.display(),
            e.utf8_error().valid_up_to() + 1
        ))
    })?;
    // A file with nothing in it is a mistake, never a configuration: most often one
    // caught half-written by a copy, which read as "no targets" would retire every
    // target of the file on a reload.
    if is_empty(&text) {
        return Err(ConfigError(format!(
            "configuration file {} is empty (nothing but blank lines or comments); \
             to change it while the exporter runs, write the new file elsewhere and \
             move it into place (mv)",
            path.display()
        )));
    }
    parse_file(&text).map_err(|e| ConfigError(format!("config file {}: {e}", path.display())))
}

/// Whether a YAML text says nothing: blank lines, comments, document markers.
fn is_empty(text: &str) -> bool {
    text.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#') || line == "---" || line == "..."
    })
}

pub(super) fn parse_file(text: &str) -> Result<FileConfig, String> {
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
pub(crate) fn yaml_error(e: &serde_saphyr::Error, text: &str) -> String {
    let plain = e.without_snippet().to_string();
    // The message ends with its location, which is printed first instead.
    let reason = match plain.rfind(" at line ") {
        Some(i) => &plain[..i],
        None => plain.as_str(),
    };
    let reason = reason.replace(", set DuplicateKeyPolicy in Options if acceptable", "");
    // The key itself may be a secret (a bcrypt hash written where a user goes).
    let reason = match reason.split_once("duplicate mapping key") {
        Some((before, _)) => format!("{before}duplicate mapping key"),
        None => reason,
    };
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

/// Reads a password file: the password is the whole file but for its line ending.
pub(super) fn read_password(path: &Path) -> Result<Secret, String> {
    let bytes = read_small_file(path, MAX_PASSWORD_FILE_BYTES, "password file")?;
    let text = String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8", path.display()))?;
    let password = text.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(Secret::new(password))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_file_that_says_nothing_is_empty() {
        for text in ["", "  \n\t\n", "# targets:\n  # - name: a\n", "---\n...\n"] {
            assert!(is_empty(text), "{text:?}");
        }
        for text in ["targets: []\n", "collection: {}\n", "x"] {
            assert!(!is_empty(text), "{text:?}");
        }
    }

    #[test]
    fn an_unknown_key_is_an_error_with_its_name() {
        let err =
            parse_file("targets:\n  - name: a\n    dsn: postgres://u@h/db\n    colour: red\n")
                .unwrap_err()
                .to_string();
        assert!(err.contains("colour"), "{err}");
    }

    #[test]
    fn a_syntax_error_has_line_and_column() {
        let err = parse_file("targets:\n  - name: a\n    dsn: [unclosed\n").unwrap_err();
        assert!(err.contains("line") || err.contains(":3:"), "{err}");
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
            let err = parse_file(text).unwrap_err();
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
}
