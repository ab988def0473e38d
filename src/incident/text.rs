//! A report for a terminal: what the `incident` command prints.
//!
//! Every string in a report may come from the database (an application name, a
//! client host, a statement), and a client sets its own application name: one with
//! terminal escape sequences would repaint or retitle the on-call engineer's
//! terminal. So each such string passes through [`clean`], which writes control
//! characters and the bidirectional overrides as visible escapes.

use std::fmt::Write as _;

use super::analyze::human_seconds;
use super::report::{Report, RootBlocker};

/// How many characters of an application name, user, database or client a table
/// cell shows.
const CELL_MAX: usize = 40;

/// Plain text of a report.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    header(report, &mut out);
    holders(report, &mut out);
    locks(report, &mut out);
    sessions(report, &mut out);
    advice(report, &mut out);
    relief(report, &mut out);
    if !report.notes.is_empty() {
        out.push_str("\nNotes\n");
        for n in &report.notes {
            let _ = writeln!(out, "  - {}", clean(n));
        }
    }
    out
}

/// `s` with every control character (C0, DEL, C1) and every bidirectional
/// formatting character written as a visible `\u{…}` escape (`\n`, `\t` and `\r`
/// as themselves escaped), so that nothing read from a database acts on a terminal.
pub fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || is_bidi(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// A character that reorders the text around it (bidirectional formatting).
pub(crate) fn is_bidi(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// [`clean`], cut to `max` characters with an ellipsis.
fn cell(s: &str, max: usize) -> String {
    let c = clean(s);
    if c.chars().count() <= max {
        return c;
    }
    let mut cut: String = c.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

fn or_dash(s: &str) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        cell(s, CELL_MAX)
    }
}

fn secs(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), human_seconds)
}

/// Rows padded into columns, the last column left ragged.
fn table(headers: &[&str], rows: &[Vec<String>], out: &mut String) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>, out: &mut String| {
        let last = cells.len().saturating_sub(1);
        let mut s = String::from("  ");
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            s.push_str(c);
            if i < last {
                let pad = w.saturating_sub(c.chars().count()) + 2;
                s.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(headers.iter().map(|h| h.to_string()).collect(), out);
    for r in rows {
        line(r.clone(), out);
    }
}

fn header(r: &Report, out: &mut String) {
    let _ = writeln!(
        out,
        "Target {} ({} {}), read at {}",
        clean(&r.target),
        clean(&r.engine),
        clean(&r.version),
        utc(r.read_at_unix_seconds)
    );
    let ratio = r.usage.ratio.map_or_else(
        || "no ordinary slot".into(),
        |x| format!("{:.1} %", x * 100.0),
    );
    let _ = writeln!(
        out,
        "Usage: {}/{} sessions ({ratio}); max_connections {}, reserved {}",
        r.usage.sessions, r.usage.limit, r.usage.max_connections, r.usage.reserved
    );
    let states: Vec<String> = r
        .states
        .iter()
        .map(|(k, v)| format!("{} {v}", clean(k)))
        .collect();
    let _ = writeln!(out, "States: {}", states.join(", "));
}

fn holders(r: &Report, out: &mut String) {
    out.push_str("\nHolders (largest first)\n");
    if r.holders.is_empty() {
        out.push_str("  none\n");
        return;
    }
    let rows: Vec<Vec<String>> = r
        .holders
        .iter()
        .map(|h| {
            let states: Vec<String> = h
                .states
                .iter()
                .map(|(k, v)| format!("{} {v}", clean(k)))
                .collect();
            vec![
                h.sessions.to_string(),
                format!("{:.0} %", h.idle_ratio * 100.0),
                secs(h.oldest_idle_seconds),
                secs(h.oldest_transaction_seconds),
                or_dash(&h.application),
                or_dash(&h.user),
                or_dash(&h.database),
                if h.client.is_empty() {
                    "local".into()
                } else {
                    cell(&h.client, CELL_MAX)
                },
                states.join(", "),
            ]
        })
        .collect();
    table(
        &[
            "SESSIONS",
            "IDLE",
            "OLDEST IDLE",
            "OLDEST TX",
            "APPLICATION",
            "USER",
            "DATABASE",
            "CLIENT",
            "STATES",
        ],
        &rows,
        out,
    );
}

fn locks(r: &Report, out: &mut String) {
    out.push_str("\nLock trees (root blockers first)\n");
    if r.root_blockers.is_empty() {
        out.push_str("  no session waits on another\n");
        return;
    }
    for b in &r.root_blockers {
        root_line(b, out);
        // Each waiter under the one it waits on, indented by its depth.
        let mut depth: std::collections::HashMap<i64, usize> =
            std::collections::HashMap::from([(b.pid, 0)]);
        for w in &b.waiters {
            let d = depth.get(&w.waits_for).copied().unwrap_or(0) + 1;
            depth.insert(w.pid, d);
            let indent = "  ".repeat(d);
            let _ = writeln!(
                out,
                "  {indent}└ {} waits on {} for {}",
                w.pid,
                w.waits_for,
                secs(w.wait_seconds)
            );
        }
    }
}

fn root_line(b: &RootBlocker, out: &mut String) {
    let _ = writeln!(
        out,
        "  {} {} for {}, transaction {}; {} / {} / {} from {}: blocks {} ({} directly)",
        b.pid,
        clean(&b.state),
        secs(b.state_seconds),
        secs(b.transaction_seconds),
        or_dash(&b.application),
        or_dash(&b.user),
        or_dash(&b.database),
        if b.client.is_empty() {
            "local".into()
        } else {
            cell(&b.client, CELL_MAX)
        },
        b.blocked_total,
        b.blocked_directly
    );
}

fn sessions(r: &Report, out: &mut String) {
    let _ = writeln!(
        out,
        "\nSessions ({} of {}, longest in their state first)",
        r.sessions.len(),
        r.sessions_total
    );
    if r.sessions.is_empty() {
        out.push_str("  none\n");
        return;
    }
    let rows: Vec<Vec<String>> = r
        .sessions
        .iter()
        .map(|s| {
            let blocked: Vec<String> = s.blocked_by.iter().map(i64::to_string).collect();
            let mut last = s
                .wait_event
                .as_deref()
                .map(|w| cell(w, CELL_MAX))
                .unwrap_or_default();
            if let Some(q) = &s.query {
                if !last.is_empty() {
                    last.push_str("  ");
                }
                last.push_str(&cell(q, 120));
            }
            vec![
                if s.own {
                    format!("{} (exporter)", s.pid)
                } else {
                    s.pid.to_string()
                },
                clean(&s.state),
                secs(s.state_seconds),
                secs(s.transaction_seconds),
                or_dash(&s.application),
                or_dash(&s.user),
                or_dash(&s.database),
                if s.client.is_empty() {
                    "local".into()
                } else {
                    cell(&s.client, CELL_MAX)
                },
                if blocked.is_empty() {
                    "-".into()
                } else {
                    blocked.join(",")
                },
                last,
            ]
        })
        .collect();
    table(
        &[
            "PID",
            "STATE",
            "FOR",
            "TX",
            "APPLICATION",
            "USER",
            "DATABASE",
            "CLIENT",
            "BLOCKED BY",
            "WAIT / QUERY",
        ],
        &rows,
        out,
    );
}

fn advice(r: &Report, out: &mut String) {
    out.push_str("\nAdvice\n");
    if r.advice.is_empty() {
        out.push_str("  none: the settings read do not call for a change\n");
        return;
    }
    for a in &r.advice {
        let _ = writeln!(out, "  [{}] {}", clean(&a.id), clean(&a.title));
        let _ = writeln!(out, "    {}", clean(&a.why));
        for s in &a.sql {
            let _ = writeln!(out, "      {}", clean(s));
        }
    }
}

fn relief(r: &Report, out: &mut String) {
    out.push_str("\nRelief (statements to copy; the exporter never runs them)\n");
    if r.relief.is_empty() {
        out.push_str("  none\n");
        return;
    }
    for x in &r.relief {
        let _ = writeln!(out, "  [{}] {}", clean(&x.id), clean(&x.title));
        let _ = writeln!(out, "    {}", clean(&x.why));
        for s in &x.sql {
            let _ = writeln!(out, "{}", clean(s));
        }
    }
}

/// Seconds since the Unix epoch as `YYYY-MM-DD HH:MM:SS UTC`.
fn utc(unix: f64) -> String {
    if !unix.is_finite() || unix < 0.0 {
        return format!("{unix} (Unix seconds)");
    }
    let total = unix as u64;
    let (days, rest) = (total / 86400, total % 86400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::analyze::tests::{payflow_sessions, row, scene};
    use crate::incident::{Options, analyze};
    use crate::model::{Engine, State};

    fn payflow_text() -> String {
        let s = scene(
            Engine::PostgreSql,
            103,
            3,
            &[("idle_in_transaction_session_timeout", 0.0)],
            payflow_sessions(),
        );
        render(&analyze("payflow-db", &s, &Options::default()))
    }

    #[test]
    fn the_usage_line_and_the_sections() {
        let t = payflow_text();
        assert!(
            t.contains("Usage: 100/100 sessions (100.0 %); max_connections 103, reserved 3"),
            "{t}"
        );
        assert!(
            t.contains("States: active 12, hidden 0, idle 86, idle_in_transaction 2"),
            "{t}"
        );
        assert!(t.contains("read at 2023-11-14 22:13:20 UTC"), "{t}");
        for section in [
            "Holders",
            "Lock trees",
            "Sessions (50 of 100",
            "Advice",
            "Relief",
        ] {
            assert!(t.contains(section), "{section} missing:\n{t}");
        }
    }

    #[test]
    fn the_holders_table_leads_with_the_hoarder() {
        let t = payflow_text();
        let first = t
            .lines()
            .skip_while(|l| !l.starts_with("Holders"))
            .nth(2)
            .unwrap();
        let words: Vec<&str> = first.split_whitespace().collect();
        assert_eq!(
            &words[..9],
            &[
                "85", "94", "%", "45", "min", "22", "min", "PayFlow", "payflow"
            ],
            "{first}"
        );
    }

    #[test]
    fn the_lock_tree_is_indented_by_depth() {
        let t = payflow_text();
        assert!(t.contains("  2001 idle_in_transaction for 20 min, transaction 22 min; PayFlow / payflow / payments from 10.0.0.5: blocks 3 (1 directly)\n"), "{t}");
        assert!(
            t.contains("\n    └ 3001 waits on 2001 for 6.7 min\n")
                || t.contains("\n    └ 3001 waits on 2001 for 7 min\n"),
            "{t}"
        );
        assert!(t.contains("\n      └ 3002 waits on 3001 for"), "{t}");
        assert!(t.contains("\n      └ 3003 waits on 3001 for 30 s\n"), "{t}");
    }

    #[test]
    fn relief_statements_stand_on_their_own_lines_ready_to_copy() {
        let t = payflow_text();
        assert!(t.lines().any(|l| l == "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = 2001 AND xact_start < now() - interval '1300 seconds' AND usename = E'payflow' AND application_name = E'PayFlow';"), "{t}");
        assert!(
            t.contains("      ALTER SYSTEM SET idle_in_transaction_session_timeout = '5min';"),
            "{t}"
        );
    }

    #[test]
    fn database_strings_cannot_reach_the_terminal_raw() {
        let evil = "app\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m\u{202e}txt\r\n";
        let mut sessions = vec![crate::incident::SessionRow {
            client: "host\u{1b}[1m".into(),
            wait_event: Some("Lock\u{0}x".into()),
            query: Some("select 1;\n\u{1b}[31mred".into()),
            ..row(1, evil, "u\u{1b}[0m", State::Idle, 4000.0)
        }];
        for pid in 2..8 {
            sessions.push(row(pid, evil, "u\u{1b}[0m", State::Idle, 4000.0));
        }
        let mut s = scene(
            Engine::PostgreSql,
            10,
            3,
            &[("idle_session_timeout", 0.0)],
            sessions,
        );
        s.notes.push("note\u{1b}[5m".into());
        let t = render(&analyze("t\u{1b}x", &s, &Options::default()));
        for bad in ['\u{1b}', '\u{7}', '\u{9b}', '\u{202e}', '\u{0}', '\r'] {
            assert!(!t.contains(bad), "{:?} reached the text", bad);
        }
        assert!(
            t.contains("app\\u{1b}]0;pwned\\u{7}\\u{1b}[2J\\u{9b}31m\\u{202e}txt\\r\\n"),
            "{t}"
        );
        assert!(t.contains("select 1;\\n\\u{1b}[31mred"), "{t}");
        assert!(t.contains("note\\u{1b}[5m"), "{t}");
        // Newlines are the renderer's own only: one per line written.
        assert!(t.lines().all(|l| !l.contains('\u{1b}')));
    }

    #[test]
    fn clean_leaves_ordinary_text_alone() {
        assert_eq!(
            clean("PayFlow (prod) ünïcode ✓"),
            "PayFlow (prod) ünïcode ✓"
        );
        assert_eq!(clean("a\tb"), "a\\tb");
    }

    #[test]
    fn an_empty_report_says_none() {
        let s = scene(Engine::MySql, 151, 0, &[], Vec::new());
        let t = render(&analyze("t", &s, &Options::default()));
        assert!(t.contains("Usage: 0/151 sessions (0.0 %)"), "{t}");
        assert!(t.contains("no session waits on another"), "{t}");
        assert!(
            t.contains("Relief (statements to copy; the exporter never runs them)\n  none"),
            "{t}"
        );
    }
}
