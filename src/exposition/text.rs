//! Which format a scrape gets, and the classic text format made from OpenMetrics.
//!
//! Prometheus asks for OpenMetrics; curl, `promtool check metrics` and older
//! scrapers do not, and get the classic text format (0.0.4). prometheus-client
//! writes only OpenMetrics, and the two differ only in their comment lines, so
//! the classic format is the OpenMetrics text with those lines rewritten: sample
//! lines, and so label escaping, stay byte for byte the same in both.

use std::fmt::Write as _;

/// Exposition formats, chosen from the request's `Accept` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    Text,
}

impl Format {
    pub fn from_accept(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Text,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// Rewrites OpenMetrics text into the classic Prometheus text format (0.0.4):
/// counters and infos are named by their sample names, `info` becomes `gauge`, and
/// the `# UNIT` and `# EOF` lines go. Label values are escaped the same way in both.
pub fn to_text_format(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut pending_help: Option<&str> = None;
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            pending_help = Some(rest);
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let (suffix, kind) = match kind {
                "counter" => ("_total", "counter"),
                "info" => ("_info", "gauge"),
                "unknown" => ("", "untyped"),
                k => ("", k),
            };
            if let Some(help) = pending_help.take() {
                let (_, text) = help.split_once(' ').unwrap_or((help, ""));
                let _ = writeln!(out, "# HELP {name}{suffix} {text}");
            }
            let _ = writeln!(out, "# TYPE {name}{suffix} {kind}");
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_openmetrics_accept_gets_openmetrics() {
        let prometheus = "application/openmetrics-text;version=1.0.0,text/plain;q=0.5";
        assert_eq!(Format::from_accept(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(Format::from_accept(Some("text/plain")), Format::Text);
        assert_eq!(Format::from_accept(Some("*/*")), Format::Text);
        assert_eq!(Format::from_accept(None), Format::Text);
    }

    #[test]
    fn comment_lines_are_rewritten_and_samples_kept() {
        let openmetrics = "# HELP a_errors Failed.\n# TYPE a_errors counter\n\
                           a_errors_total{x=\"# TYPE y\"} 1\n\
                           # HELP a_wait_seconds Wait.\n# TYPE a_wait_seconds gauge\n\
                           # UNIT a_wait_seconds seconds\na_wait_seconds 0.5\n\
                           # HELP a_build Build.\n# TYPE a_build info\n\
                           a_build_info{version=\"1\"} 1\n# EOF\n";
        assert_eq!(
            to_text_format(openmetrics),
            "# HELP a_errors_total Failed.\n# TYPE a_errors_total counter\n\
             a_errors_total{x=\"# TYPE y\"} 1\n\
             # HELP a_wait_seconds Wait.\n# TYPE a_wait_seconds gauge\na_wait_seconds 0.5\n\
             # HELP a_build_info Build.\n# TYPE a_build_info gauge\n\
             a_build_info{version=\"1\"} 1\n"
        );
    }
}
