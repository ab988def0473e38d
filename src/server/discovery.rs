//! `GET /discovery`: the configured targets in Prometheus's HTTP service-discovery
//! format, so that a Prometheus job learns the fleet from the exporter instead of a
//! second list kept by hand, and scrapes each target through `/probe` as its own
//! scrape (own `up`, own timeout).
//!
//! Each target is its own group, whose one address is the target's name, with the
//! name and engine as `__meta_` labels: Prometheus drops those after relabelling, so
//! they never collide with the `target` and `engine` labels of the metrics, and the
//! usual multi-target relabelling (`__address__` → `__param_target`, the exporter as
//! `__address__`) and `hashmod` sharding work on them unchanged.
//!
//! The JSON is written by hand: it is one fixed shape of strings, and
//! [`json_string`] is the one place a name is escaped.

use std::sync::Arc;

use crate::target::Target;

/// Label holding the target's configured name.
pub const TARGET_LABEL: &str = "__meta_dbconn_target";
/// Label holding the engine its DSN names: `postgresql` or `mysql` (MariaDB is
/// only told apart once connected, in `dbconn_target_info`).
pub const ENGINE_LABEL: &str = "__meta_dbconn_engine";

/// The `http_sd` body for `targets`.
pub fn body(targets: &[Arc<Target>]) -> String {
    let groups: Vec<String> = targets
        .iter()
        .map(|t| {
            let name = json_string(t.name());
            let engine = t.engine().map(|e| e.as_str()).unwrap_or("unknown");
            format!(
                "{{\"targets\":[{name}],\"labels\":{{\"{TARGET_LABEL}\":{name},\"{ENGINE_LABEL}\":{engine}}}}}",
                engine = json_string(engine)
            )
        })
        .collect();
    format!("[{}]\n", groups.join(","))
}

/// `text` as a JSON string literal: quotes, backslashes and control characters
/// escaped, everything else as UTF-8 (JSON allows any other character as is).
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_into_valid_json() {
        for name in [
            "plain",
            "with \"quotes\"",
            "back\\slash",
            "new\nline\ttab\r",
            "\u{1}\u{1f}",
            "ünïcødé ✓ 🐘",
            "</script>",
        ] {
            let literal = json_string(name);
            let parsed: String = serde_json::from_str(&literal).unwrap();
            assert_eq!(parsed, name, "{literal}");
        }
        assert_eq!(json_string("a\"b"), r#""a\"b""#);
        assert_eq!(json_string("\u{7}"), r#""\u0007""#);
    }

    #[test]
    fn the_body_is_http_sd_with_meta_labels() {
        use crate::config::{Cli, Config};
        use clap::Parser;
        let cli = Cli::try_parse_from([
            "dbconn_exporter",
            "--target",
            "orders \"eu\"=postgres://u@h/orders",
            "--target",
            "shop=mysql://u@h/",
        ])
        .unwrap();
        let config = Config::load(&cli).unwrap();
        let collection = config.collection.clone();
        let targets: Vec<Arc<Target>> = config
            .targets
            .into_iter()
            .map(|t| {
                Target::new(
                    t.name,
                    t.connector,
                    collection.read_settings(),
                    collection.policy(),
                )
            })
            .collect();
        let json: serde_json::Value = serde_json::from_str(&body(&targets)).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"targets": ["orders \"eu\""], "labels": {
                    "__meta_dbconn_target": "orders \"eu\"",
                    "__meta_dbconn_engine": "postgresql"}},
                {"targets": ["shop"], "labels": {
                    "__meta_dbconn_target": "shop",
                    "__meta_dbconn_engine": "mysql"}},
            ])
        );
        assert_eq!(body(&[]), "[]\n");
    }
}
