//! The incident page: a report as one self-contained HTML page, for a phone at 3 AM.
//!
//! Everything it shows from the database (application names, users, client
//! addresses, statement text) is chosen by whoever connects to that database, so
//! every such string is escaped here and nowhere else, and the page runs under a
//! Content-Security-Policy that allows no resource at all and only the page's own
//! style and script blocks, by hash: an escaping mistake then still runs nothing.
//! Inline `style=` attributes and event handlers would need a weaker policy, so the
//! usage bar takes its width from a class and the Copy buttons get their handlers
//! from the one script block.
//!
//! The page reloads itself every few seconds with a `<meta>` refresh (no script
//! needed); the copy buttons are a convenience over text that stays selectable.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use base64::Engine as _;

use super::report::{Report, RootBlocker, Waiter};

/// Seconds between automatic reloads of the page.
pub const REFRESH_SECONDS: u32 = 5;

/// Usage at or above this share of the limit is shown red.
const CRITICAL: f64 = 0.95;
/// Usage at or above this share of the limit is shown amber.
const WARNING: f64 = 0.80;

/// The one style block. The bar's width comes from a `w0`…`w100` class (steps of 5).
static STYLE: LazyLock<String> = LazyLock::new(|| {
    let mut css = String::from(
        "body{font:16px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;padding:12px;background:#fff;color:#111}\
         h1{font-size:1.2em;margin:0 0 4px}h2{font-size:1.1em;margin:20px 0 6px;border-bottom:1px solid #ccc}\
         .meta{color:#555;font-size:.9em}\
         .usage{font-size:2.6em;font-weight:700;margin:8px 0 0}\
         .ratio{font-size:1.4em;font-weight:700}\
         .bar{height:22px;background:#e5e5e5;border-radius:4px;overflow:hidden;margin:4px 0 8px}\
         .fill{height:100%;background:#2e7d32}\
         .warn .fill{background:#f9a825}.crit .fill{background:#c62828}\
         .warn .ratio{color:#b26a00}.crit .ratio{color:#c62828}\
         .scroll{overflow-x:auto}\
         table{border-collapse:collapse;font-size:.9em}\
         th,td{border-bottom:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top;white-space:nowrap}\
         td.q{white-space:pre-wrap;word-break:break-all;min-width:12em}\
         pre{background:#f4f4f4;border:1px solid #ccc;padding:8px;white-space:pre-wrap;word-break:break-all;margin:4px 0}\
         button{font-size:1em;padding:6px 14px;margin:2px 0}\
         ul.tree{padding-left:1.2em;margin:2px 0}\
         .own{color:#777}.none{color:#555;font-style:italic}\
         .card{border:1px solid #ccc;border-radius:6px;padding:8px;margin:8px 0}\
         .notes li{color:#8a4b00}",
    );
    for step in 0..=20u32 {
        let percent = step * 5;
        css.push_str(&format!(".w{percent}{{width:{percent}%}}"));
    }
    css
});

/// The one script block: shows the Copy buttons and copies a `<pre>`'s text, or
/// selects it where the clipboard API is not offered (plain HTTP, old browsers).
const SCRIPT: &str = "document.querySelectorAll('button.copy').forEach(function(b){\
b.hidden=false;\
b.addEventListener('click',function(){\
var pre=document.getElementById(b.getAttribute('data-for'));if(!pre){return;}\
var select=function(){var r=document.createRange();r.selectNodeContents(pre);var s=window.getSelection();s.removeAllRanges();s.addRange(r);};\
var done=function(ok){b.textContent=ok?'Copied':'Selected: copy it';};\
if(navigator.clipboard&&window.isSecureContext){navigator.clipboard.writeText(pre.textContent).then(function(){done(true);},function(){select();done(false);});}\
else{select();var ok=false;try{ok=document.execCommand('copy');}catch(e){}done(ok);}\
});});";

fn hash(block: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, block.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
    )
}

static POLICY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "default-src 'none'; style-src {}; script-src {}; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        hash(&STYLE),
        hash(SCRIPT)
    )
});

/// The `Content-Security-Policy` every page of the view is served with.
pub fn content_security_policy() -> &'static str {
    &POLICY
}

/// `text` safe inside an element or a quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Shown, not obeyed: a name with a right-to-left override would
            // reverse the rest of its line, and a control character has no place
            // in a page.
            c if super::text::is_bidi(c) || (c.is_control() && c != '\n') => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// `text` as a query-string value.
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A duration for a reader: `42s`, `5m 03s`, `2h 10m`, `3d 04h`; `—` when unknown.
fn duration(seconds: Option<f64>) -> String {
    let Some(s) = seconds.filter(|s| s.is_finite()) else {
        return "—".into();
    };
    // Whole seconds are all a reader needs; the cast saturates.
    let s = s.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {:02}h", s / 86400, (s % 86400) / 3600),
    }
}

/// How the page is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct View {
    /// Whether the page reloads itself (off while someone copies a statement).
    pub refresh: bool,
}

/// The page head and the opening of the body; `refresh` adds the `<meta>` reload.
fn head(out: &mut String, title: &str, refresh: bool) {
    out.push_str("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">");
    out.push_str("<meta name=\"referrer\" content=\"no-referrer\">");
    if refresh {
        out.push_str(&format!(
            "<meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">"
        ));
    }
    out.push_str(&format!("<title>{}</title>", escape(title)));
    out.push_str("<style>");
    out.push_str(&STYLE);
    out.push_str("</style></head><body>");
}

fn tail(out: &mut String, script: bool) {
    if script {
        out.push_str("<script>");
        out.push_str(SCRIPT);
        out.push_str("</script>");
    }
    out.push_str("</body></html>\n");
}

/// A small page for a status other than 200: `message` (escaped) under `heading`;
/// `refresh` makes it try again on its own (for a target that may come back).
pub fn message_page(heading: &str, message: &str, refresh: bool) -> String {
    let mut out = String::new();
    head(&mut out, &format!("dbconn_exporter: {heading}"), refresh);
    out.push_str(&format!(
        "<h1>{}</h1><p>{}</p>",
        escape(heading),
        escape(message)
    ));
    if refresh {
        out.push_str(&format!(
            "<p class=\"meta\">This page tries again every {REFRESH_SECONDS} s.</p>"
        ));
    }
    out.push_str("<p><a href=\"/\">All targets</a></p>");
    tail(&mut out, false);
    out
}

/// A `<pre>` with its Copy button; the button stays hidden without script.
fn copyable(out: &mut String, id: &str, text: &str) {
    out.push_str(&format!(
        "<pre id=\"{id}\">{}</pre><button type=\"button\" class=\"copy\" data-for=\"{id}\" hidden>Copy</button>",
        escape(text)
    ));
}

/// The report as the incident page, its age counted from `now_unix_seconds`.
pub fn render(report: &Report, now_unix_seconds: f64, view: View) -> String {
    let mut out = String::with_capacity(16 * 1024);
    head(
        &mut out,
        &format!("{}: incident view", report.target),
        view.refresh,
    );
    let age = (now_unix_seconds - report.read_at_unix_seconds).max(0.0);
    let target = url_encode(&report.target);
    let exact = if age >= 60.0 {
        format!(" ({age:.0} s)")
    } else {
        String::new()
    };
    out.push_str(&format!(
        "<h1>{}</h1><p class=\"meta\">{} {} · read {} ago{exact} · ",
        escape(&report.target),
        escape(&report.engine),
        escape(&report.version),
        duration(Some(age)),
    ));
    if view.refresh {
        out.push_str(&format!(
            "reloads every {REFRESH_SECONDS} s · <a href=\"/incident?target={target}&amp;refresh=off\">pause</a>"
        ));
    } else {
        out.push_str(&format!(
            "paused · <a href=\"/incident?target={target}\">resume auto-refresh</a>"
        ));
    }
    out.push_str(&format!(
        " · <a href=\"/api/v1/incident?target={target}\">JSON</a></p>"
    ));
    usage(&mut out, report);
    notes(&mut out, &report.notes);
    states(&mut out, &report.states);
    relief(&mut out, report);
    lock_tree(&mut out, &report.root_blockers);
    holders(&mut out, report);
    sessions(&mut out, report);
    advice(&mut out, report);
    tail(&mut out, true);
    out
}

fn usage(out: &mut String, report: &Report) {
    let u = &report.usage;
    let (level, percent_text, width) = match u.ratio {
        Some(r) if r.is_finite() => {
            let level = if r >= CRITICAL {
                "crit"
            } else if r >= WARNING {
                "warn"
            } else {
                "ok"
            };
            // Rounded to the bar's steps of 5; the cast saturates.
            let step = ((r.clamp(0.0, 1.0) * 20.0).round() as u32) * 5;
            (level, format!("{:.1} %", r * 100.0), step)
        }
        _ => ("crit", "no slot left to ordinary logins".to_string(), 100),
    };
    out.push_str(&format!(
        "<section class=\"{level}\"><p class=\"usage\">{} / {}</p>\
         <p><span class=\"ratio\">{percent_text}</span> of the slots ordinary logins may take \
         (max_connections {}, reserved {})</p><div class=\"bar\"><div class=\"fill w{width}\"></div></div></section>",
        u.sessions, u.limit, u.max_connections, u.reserved
    ));
}

fn notes(out: &mut String, notes: &[String]) {
    if notes.is_empty() {
        return;
    }
    out.push_str("<h2>Notes</h2><ul class=\"notes\">");
    for n in notes {
        out.push_str(&format!("<li>{}</li>", escape(n)));
    }
    out.push_str("</ul>");
}

fn states(out: &mut String, states: &BTreeMap<String, u64>) {
    // One state a row: narrow enough for a phone held upright.
    out.push_str("<h2>States</h2><table>");
    for (name, count) in states {
        out.push_str(&format!(
            "<tr><th>{}</th><td>{count}</td></tr>",
            escape(name)
        ));
    }
    out.push_str("</table>");
}

fn relief(out: &mut String, report: &Report) {
    out.push_str("<h2>Relief</h2>");
    if report.relief.is_empty() {
        out.push_str("<p class=\"none\">No relief statement: nothing to terminate or cancel by the configured rules.</p>");
        return;
    }
    out.push_str("<p class=\"meta\">Printed, never run by the exporter. Run them yourself, as a role allowed to.</p>");
    for (i, r) in report.relief.iter().enumerate() {
        let pids: Vec<String> = r.pids.iter().map(i64::to_string).collect();
        out.push_str(&format!(
            "<div class=\"card\"><b>{}</b> <span class=\"meta\">pids {}</span><p>{}</p>",
            escape(&r.title),
            escape(&pids.join(", ")),
            escape(&r.why)
        ));
        copyable(out, &format!("relief-{i}"), &r.sql.join("\n"));
        out.push_str("</div>");
    }
}

fn lock_tree(out: &mut String, blockers: &[RootBlocker]) {
    out.push_str("<h2>Lock tree</h2>");
    if blockers.is_empty() {
        out.push_str("<p class=\"none\">No session blocks another.</p>");
        return;
    }
    for b in blockers {
        out.push_str(&format!(
            "<div class=\"card\"><b>pid {}</b> {} · {}@{} · {} · {} for {} · transaction {} · blocks {} directly, {} in all",
            b.pid,
            escape(&b.application),
            escape(&b.user),
            escape(&b.database),
            escape(&b.client),
            escape(&b.state),
            duration(b.state_seconds),
            duration(b.transaction_seconds),
            b.blocked_directly,
            b.blocked_total
        ));
        waiters(out, b.pid, &b.waiters, 0);
        out.push_str("</div>");
    }
}

/// The waiters on `pid`, each with those waiting on it, indented; bounded in depth
/// so that a malformed report cannot recurse without end.
fn waiters(out: &mut String, pid: i64, all: &[Waiter], depth: usize) {
    let below: Vec<&Waiter> = all.iter().filter(|w| w.waits_for == pid).collect();
    if below.is_empty() || depth > 32 {
        return;
    }
    out.push_str("<ul class=\"tree\">");
    for w in below {
        out.push_str(&format!(
            "<li>pid {} waits {}",
            w.pid,
            duration(w.wait_seconds)
        ));
        if w.pid != pid {
            waiters(out, w.pid, all, depth + 1);
        }
        out.push_str("</li>");
    }
    out.push_str("</ul>");
}

fn state_counts(states: &BTreeMap<String, u64>) -> String {
    states
        .iter()
        .map(|(s, n)| format!("{} {n}", escape(s)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn holders(out: &mut String, report: &Report) {
    out.push_str("<h2>Holders</h2>");
    if report.holders.is_empty() {
        out.push_str("<p class=\"none\">No holder listed.</p>");
        return;
    }
    out.push_str("<div class=\"scroll\"><table><tr><th>sessions</th><th>application</th><th>user</th><th>database</th><th>client</th><th>states</th><th>idle</th><th>oldest idle</th><th>oldest transaction</th></tr>");
    for h in &report.holders {
        out.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.0} %</td><td>{}</td><td>{}</td></tr>",
            h.sessions,
            escape(&h.application),
            escape(&h.user),
            escape(&h.database),
            escape(&h.client),
            state_counts(&h.states),
            h.idle_ratio * 100.0,
            duration(h.oldest_idle_seconds),
            duration(h.oldest_transaction_seconds)
        ));
    }
    out.push_str("</table></div>");
}

fn sessions(out: &mut String, report: &Report) {
    out.push_str(&format!(
        "<h2>Top sessions</h2><p class=\"meta\">{} of {} client sessions, longest in their state first.</p>",
        report.sessions.len(),
        report.sessions_total
    ));
    if report.sessions.is_empty() {
        return;
    }
    let queries = report.sessions.iter().any(|s| s.query.is_some());
    out.push_str("<div class=\"scroll\"><table><tr><th>pid</th><th>state</th><th>for</th><th>transaction</th><th>application</th><th>user</th><th>database</th><th>client</th><th>waits on</th><th>blocked by</th>");
    if queries {
        out.push_str("<th>query</th>");
    }
    out.push_str("</tr>");
    for s in &report.sessions {
        let blocked: Vec<String> = s.blocked_by.iter().map(i64::to_string).collect();
        let own = if s.own { " class=\"own\"" } else { "" };
        let application = if s.own {
            format!("{} (this exporter)", escape(&s.application))
        } else {
            escape(&s.application)
        };
        out.push_str(&format!(
            "<tr{own}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{application}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            s.pid,
            escape(&s.state),
            duration(s.state_seconds),
            duration(s.transaction_seconds),
            escape(&s.user),
            escape(&s.database),
            escape(&s.client),
            escape(s.wait_event.as_deref().unwrap_or("")),
            escape(&blocked.join(", "))
        ));
        if queries {
            out.push_str(&format!(
                "<td class=\"q\">{}</td>",
                escape(s.query.as_deref().unwrap_or(""))
            ));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table></div>");
}

fn advice(out: &mut String, report: &Report) {
    out.push_str("<h2>Advice</h2>");
    if report.advice.is_empty() {
        out.push_str("<p class=\"none\">No advice from the settings and sessions read.</p>");
        return;
    }
    for (i, a) in report.advice.iter().enumerate() {
        out.push_str(&format!(
            "<div class=\"card\"><b>{}</b><p>{}</p>",
            escape(&a.title),
            escape(&a.why)
        ));
        if !a.sql.is_empty() {
            copyable(out, &format!("advice-{i}"), &a.sql.join("\n"));
        }
        out.push_str("</div>");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::report::{
        Advice, Holder, Relief, SCHEMA_VERSION, SessionView, Usage, Waiter,
    };

    const HOSTILE: &str = "<script>alert(1)</script>\"'</pre><img src=x onerror=alert(2)>&amp;";

    fn report() -> Report {
        let hostile = HOSTILE.to_string();
        Report {
            schema_version: SCHEMA_VERSION,
            target: format!("orders {hostile}"),
            engine: "postgresql".into(),
            version: "17.2".into(),
            read_at_unix_seconds: 1000.0,
            usage: Usage {
                sessions: 96,
                limit: 97,
                max_connections: 100,
                reserved: 3,
                ratio: Some(96.0 / 97.0),
            },
            states: [("active", 1), ("idle", 90), ("idle_in_transaction", 5)]
                .into_iter()
                .map(|(s, n)| (s.to_string(), n))
                .collect(),
            holders: vec![Holder {
                application: hostile.clone(),
                user: hostile.clone(),
                database: hostile.clone(),
                client: hostile.clone(),
                sessions: 90,
                states: [(hostile.clone(), 90)].into_iter().collect(),
                idle_ratio: 1.0,
                oldest_idle_seconds: Some(4000.0),
                oldest_transaction_seconds: None,
            }],
            sessions: vec![SessionView {
                pid: 4242,
                application: hostile.clone(),
                user: hostile.clone(),
                database: hostile.clone(),
                client: hostile.clone(),
                state: "idle_in_transaction".into(),
                state_seconds: Some(75.0),
                transaction_seconds: Some(80.0),
                wait_event: Some(hostile.clone()),
                blocked_by: vec![],
                query: Some(format!("UPDATE t SET x = '{hostile}'")),
                own: false,
            }],
            sessions_total: 96,
            root_blockers: vec![RootBlocker {
                pid: 4242,
                application: hostile.clone(),
                user: hostile.clone(),
                database: hostile.clone(),
                client: hostile.clone(),
                state: "idle_in_transaction".into(),
                state_seconds: Some(75.0),
                transaction_seconds: Some(80.0),
                blocked_directly: 1,
                blocked_total: 2,
                waiters: vec![
                    Waiter {
                        pid: 5001,
                        waits_for: 4242,
                        wait_seconds: Some(70.0),
                    },
                    Waiter {
                        pid: 5002,
                        waits_for: 5001,
                        wait_seconds: Some(60.0),
                    },
                ],
            }],
            advice: vec![Advice {
                id: "x".into(),
                title: hostile.clone(),
                why: hostile.clone(),
                sql: vec![format!("ALTER SYSTEM SET x = '{hostile}'")],
            }],
            relief: vec![Relief {
                id: "terminate_root_blocker".into(),
                title: hostile.clone(),
                why: hostile.clone(),
                pids: vec![4242],
                sql: vec!["SELECT pg_terminate_backend(4242);".into()],
            }],
            notes: vec![hostile],
        }
    }

    fn page() -> String {
        render(&report(), 1012.0, View { refresh: true })
    }

    /// The text between `open` and `close`, for every occurrence.
    fn blocks<'a>(page: &'a str, open: &str, close: &str) -> Vec<&'a str> {
        page.split(open)
            .skip(1)
            .map(|rest| rest.split(close).next().unwrap())
            .collect()
    }

    #[test]
    fn hostile_strings_are_escaped_everywhere() {
        let page = page();
        for raw in [
            "<script>alert",
            "</pre><img",
            "<img",
            "onerror=alert(2)>",
            "\"'",
        ] {
            assert!(!page.contains(raw), "{raw} unescaped");
        }
        // The escaped form is there, so the data is shown, not dropped.
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&lt;/pre&gt;"));
        assert!(page.contains("&amp;amp;"));
        // The only script element is the page's own.
        assert_eq!(page.matches("<script").count(), 1);
        assert_eq!(page.matches("</pre>").count(), page.matches("<pre").count());
        // The target name in the links is URL-encoded.
        assert!(page.contains("/incident?target=orders%20%3Cscript%3E"));
        // Bidirectional overrides and control characters are shown, not obeyed.
        assert_eq!(
            escape("evil\u{1b}[31m\r\u{202e}gnp.exe"),
            "evil\\u{1b}[31m\\u{d}\\u{202e}gnp.exe"
        );
    }

    #[test]
    fn the_policy_allows_exactly_the_served_blocks() {
        let page = page();
        let styles = blocks(&page, "<style>", "</style>");
        let scripts = blocks(&page, "<script>", "</script>");
        assert_eq!((styles.len(), scripts.len()), (1, 1));
        let policy = content_security_policy();
        assert!(policy.contains(&format!("style-src {};", hash(styles[0]))));
        assert!(policy.contains(&format!("script-src {};", hash(scripts[0]))));
        for directive in [
            "default-src 'none'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ] {
            assert!(policy.contains(directive), "{policy}");
        }
        assert!(!policy.contains("unsafe"));
        // No inline style attributes or handlers, which the policy would block.
        assert!(!page.contains(" style="));
        assert!(!page.contains(" onclick="));
        // Nothing is loaded from anywhere.
        for element in ["<img", "<link", "<iframe", "<object", "<embed"] {
            assert!(!page.contains(element), "{element}");
        }
        assert!(!page.contains("http://") && !page.contains("https://"));
    }

    #[test]
    fn the_page_shows_usage_age_tree_and_copyable_relief() {
        let page = page();
        assert!(page.contains("<meta name=\"viewport\""));
        assert!(page.contains("<meta http-equiv=\"refresh\" content=\"5\">"));
        assert!(page.contains("<p class=\"usage\">96 / 97</p>"));
        assert!(page.contains("<section class=\"crit\">"));
        assert!(page.contains("99.0 %"));
        assert!(page.contains("class=\"fill w100\""));
        assert!(page.contains("read 12s ago · "));
        assert!(page.contains("<tr><th>idle</th><td>90</td></tr>"));
        let later = render(&report(), 1303.0, View { refresh: true });
        assert!(later.contains("read 5m 03s ago (303 s) · "));
        // 5002 waits behind 5001, which waits on the root 4242: nested.
        assert!(page.contains(
            "<ul class=\"tree\"><li>pid 5001 waits 1m 10s<ul class=\"tree\"><li>pid 5002 waits 1m 00s</li></ul></li></ul>"
        ));
        assert!(page.contains(
            "<pre id=\"relief-0\">SELECT pg_terminate_backend(4242);</pre><button type=\"button\" class=\"copy\" data-for=\"relief-0\" hidden>Copy</button>"
        ));
        assert!(page.contains("<pre id=\"advice-0\">"));
        assert!(page.contains(">4242<"));
        let paused = render(&report(), 1012.0, View { refresh: false });
        assert!(!paused.contains("http-equiv=\"refresh\""));
        assert!(paused.contains("resume auto-refresh"));
    }

    #[test]
    fn levels_follow_the_thresholds() {
        let mut r = report();
        for (ratio, level, width) in [
            (0.5, "ok", "w50"),
            (0.8, "warn", "w80"),
            (0.949, "warn", "w95"),
            (0.95, "crit", "w95"),
            (1.2, "crit", "w100"),
        ] {
            r.usage.ratio = Some(ratio);
            let page = render(&r, 1000.0, View { refresh: true });
            assert!(
                page.contains(&format!("<section class=\"{level}\">")),
                "{ratio}"
            );
            assert!(page.contains(&format!("class=\"fill {width}\"")), "{ratio}");
        }
        r.usage.ratio = None;
        let page = render(&r, 1000.0, View { refresh: true });
        assert!(page.contains("no slot left to ordinary logins"));
    }

    #[test]
    fn empty_parts_say_so() {
        let mut r = report();
        r.relief.clear();
        r.root_blockers.clear();
        r.holders.clear();
        r.advice.clear();
        r.notes.clear();
        let page = render(&r, 1000.0, View { refresh: true });
        assert!(page.contains("No relief statement"));
        assert!(page.contains("No session blocks another."));
        assert!(!page.contains("<h2>Notes</h2>"));
    }

    #[test]
    fn message_pages_escape_and_may_refresh() {
        let page = message_page("Unavailable", HOSTILE, true);
        assert!(!page.contains("<script"));
        assert!(page.contains("http-equiv=\"refresh\""));
        assert!(!message_page("Not found", "x", false).contains("http-equiv"));
        let styles = blocks(&page, "<style>", "</style>");
        assert!(content_security_policy().contains(&hash(styles[0])));
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(None), "—");
        assert_eq!(duration(Some(f64::NAN)), "—");
        assert_eq!(duration(Some(42.4)), "42s");
        assert_eq!(duration(Some(183.0)), "3m 03s");
        assert_eq!(duration(Some(7800.0)), "2h 10m");
        assert_eq!(duration(Some(273600.0)), "3d 04h");
    }
}
