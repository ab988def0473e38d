//! Snapshots → metrics. The only place metric names exist.
//!
//! Alerts and dashboards depend on these names, so they are spelled once, in
//! [`METRICS`], as users see them; the README is checked against the same table.
//! Output is OpenMetrics (what Prometheus asks for), or the classic text format for
//! clients that do not ask for OpenMetrics (curl, `promtool check metrics`).

use std::fmt::Write as _;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

use crate::model::{ConnectErrorKind, LimitUse, Loss, Snapshot, State, TargetReport};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
    Info,
}

/// One metric family as users see it in Prometheus.
#[derive(Debug)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

const fn m(
    name: &'static str,
    kind: Kind,
    labels: &'static [&'static str],
    help: &'static str,
) -> Metric {
    Metric {
        name,
        kind,
        labels,
        help,
    }
}

pub const BUILD_INFO: Metric = m(
    "dbconn_exporter_build_info",
    Kind::Info,
    &["version"],
    "Version of dbconn_exporter.",
);
pub const UP: Metric = m(
    "dbconn_up",
    Kind::Gauge,
    &["target"],
    "1 if this scrape read the target, 0 if not.",
);
pub const TARGET_INFO: Metric = m(
    "dbconn_target_info",
    Kind::Info,
    &["target", "engine", "version"],
    "Engine and server version of the target, from its last successful read.",
);
pub const SCRAPE_DURATION: Metric = m(
    "dbconn_scrape_duration_seconds",
    Kind::Gauge,
    &["target"],
    "Time this scrape spent reading the target.",
);
pub const CONNECT_ERRORS: Metric = m(
    "dbconn_connect_errors_total",
    Kind::Counter,
    &["target", "reason"],
    "Failed connects of the exporter's own session, by reason.",
);
pub const SESSION_LOSSES: Metric = m(
    "dbconn_session_losses_total",
    Kind::Counter,
    &["target", "reason"],
    "Times the exporter lost its own session: closed (by the server or the network) or hung (no answer for twice the statement timeout; closed and replaced).",
);
pub const COLLECTOR_SUCCESS: Metric = m(
    "dbconn_scrape_collector_success",
    Kind::Gauge,
    &["target", "collector"],
    "1 if this part of the read succeeded, 0 if it failed (its metrics are missing).",
);
pub const MISSING_PRIVILEGE: Metric = m(
    "dbconn_missing_privilege",
    Kind::Gauge,
    &["target", "privilege"],
    "1 if the exporter's role lacks this privilege (sessions of other users are then counted but their details hidden), 0 if it has it.",
);
pub const HIDDEN_CONNECTIONS: Metric = m(
    "dbconn_hidden_connections",
    Kind::Gauge,
    &["target"],
    "Client sessions counted whose state and durations the exporter's privileges hide (they are in state other).",
);
pub const CONNECTIONS: Metric = m(
    "dbconn_connections",
    Kind::Gauge,
    &["target", "state"],
    "Client sessions by normalized state.",
);
pub const CONNECTIONS_BY_ORIGIN: Metric = m(
    "dbconn_connections_by_origin",
    Kind::Gauge,
    &["target", "database", "user", "application", "state"],
    "Client sessions by database, user, application and state; origins beyond the cap are summed into other.",
);
pub const MAX_CONNECTIONS: Metric = m(
    "dbconn_max_connections",
    Kind::Gauge,
    &["target"],
    "Server connection limit (max_connections).",
);
pub const RESERVED_CONNECTIONS: Metric = m(
    "dbconn_reserved_connections",
    Kind::Gauge,
    &["target"],
    "Connection slots ordinary users cannot take.",
);
pub const USAGE_RATIO: Metric = m(
    "dbconn_usage_ratio",
    Kind::Gauge,
    &["target"],
    "Client sessions over the slots ordinary users may take; 1 means the next ordinary login is refused.",
);
pub const OVER_DURATION: Metric = m(
    "dbconn_connections_over_duration",
    Kind::Gauge,
    &["target", "state", "threshold_seconds"],
    "Client sessions that have been in the state for longer than the threshold.",
);
pub const MAX_STATE_DURATION: Metric = m(
    "dbconn_max_state_duration_seconds",
    Kind::Gauge,
    &["target", "state"],
    "Longest time any client session has been in the state (0 if none).",
);
pub const OLDEST_TRANSACTION: Metric = m(
    "dbconn_oldest_transaction_seconds",
    Kind::Gauge,
    &["target"],
    "Age of the oldest open transaction of a client session (0 if none).",
);
pub const AVERAGE_CONNECTION_AGE: Metric = m(
    "dbconn_average_connection_age_seconds",
    Kind::Gauge,
    &["target"],
    "Average time since client sessions connected.",
);
pub const MAX_CONNECTION_AGE: Metric = m(
    "dbconn_max_connection_age_seconds",
    Kind::Gauge,
    &["target"],
    "Time since the oldest client session connected.",
);
pub const BLOCKED: Metric = m(
    "dbconn_blocked_connections",
    Kind::Gauge,
    &["target"],
    "Client sessions waiting on a lock another session holds.",
);
pub const BLOCKING: Metric = m(
    "dbconn_blocking_connections",
    Kind::Gauge,
    &["target"],
    "Sessions holding a lock that others wait on.",
);
pub const MAX_LOCK_WAIT: Metric = m(
    "dbconn_max_lock_wait_seconds",
    Kind::Gauge,
    &["target"],
    "Longest current lock wait (0 if none).",
);
pub const LOCKS: Metric = m(
    "dbconn_locks",
    Kind::Gauge,
    &["target", "mode", "granted"],
    "Locks by mode, held (granted=true) or awaited (granted=false).",
);
pub const USER_LIMIT: Metric = m(
    "dbconn_user_connection_limit",
    Kind::Gauge,
    &["target", "user"],
    "Connection limit of a user or role, where one is set.",
);
pub const USER_CONNECTIONS: Metric = m(
    "dbconn_user_connections",
    Kind::Gauge,
    &["target", "user"],
    "Client sessions of a user or role that has a connection limit.",
);
pub const DATABASE_LIMIT: Metric = m(
    "dbconn_database_connection_limit",
    Kind::Gauge,
    &["target", "database"],
    "Connection limit of a database, where one is set.",
);
pub const DATABASE_CONNECTIONS: Metric = m(
    "dbconn_database_connections",
    Kind::Gauge,
    &["target", "database"],
    "Client sessions on a database that has a connection limit.",
);
pub const TIMEOUT_SETTING: Metric = m(
    "dbconn_timeout_setting_seconds",
    Kind::Gauge,
    &["target", "setting"],
    "Server timeout settings that end sessions or statements (0 = disabled).",
);
pub const MAX_USED_CONNECTIONS: Metric = m(
    "dbconn_max_used_connections",
    Kind::Gauge,
    &["target"],
    "Most connections in use at once since the server started (MySQL/MariaDB).",
);
pub const THREADS_RUNNING: Metric = m(
    "dbconn_threads_running",
    Kind::Gauge,
    &["target"],
    "Threads executing a statement, as the server counts them (MySQL/MariaDB Threads_running).",
);
pub const DEADLOCKS: Metric = m(
    "dbconn_deadlocks_total",
    Kind::Counter,
    &["target"],
    "Deadlocks detected by the server.",
);
pub const SESSIONS: Metric = m(
    "dbconn_sessions_total",
    Kind::Counter,
    &["target"],
    "Sessions established on the server (connection churn).",
);
pub const SESSIONS_ABNORMALLY_ENDED: Metric = m(
    "dbconn_sessions_abnormally_ended_total",
    Kind::Counter,
    &["target", "reason"],
    "Sessions that ended other than by the client's disconnect, by reason.",
);
pub const REFUSED_CONNECTIONS: Metric = m(
    "dbconn_refused_connections_total",
    Kind::Counter,
    &["target"],
    "Logins the server refused because it was full (MySQL/MariaDB).",
);
pub const FAILED_CONNECTIONS: Metric = m(
    "dbconn_failed_connections_total",
    Kind::Counter,
    &["target"],
    "Failed connection attempts counted by the server (MySQL/MariaDB Aborted_connects).",
);

/// Every metric this exporter can emit, in output order.
pub const METRICS: &[&Metric] = &[
    &BUILD_INFO,
    &UP,
    &TARGET_INFO,
    &SCRAPE_DURATION,
    &CONNECT_ERRORS,
    &SESSION_LOSSES,
    &COLLECTOR_SUCCESS,
    &MISSING_PRIVILEGE,
    &HIDDEN_CONNECTIONS,
    &CONNECTIONS,
    &CONNECTIONS_BY_ORIGIN,
    &MAX_CONNECTIONS,
    &RESERVED_CONNECTIONS,
    &USAGE_RATIO,
    &OVER_DURATION,
    &MAX_STATE_DURATION,
    &OLDEST_TRANSACTION,
    &AVERAGE_CONNECTION_AGE,
    &MAX_CONNECTION_AGE,
    &BLOCKED,
    &BLOCKING,
    &MAX_LOCK_WAIT,
    &LOCKS,
    &USER_LIMIT,
    &USER_CONNECTIONS,
    &DATABASE_LIMIT,
    &DATABASE_CONNECTIONS,
    &TIMEOUT_SETTING,
    &MAX_USED_CONNECTIONS,
    &THREADS_RUNNING,
    &DEADLOCKS,
    &SESSIONS,
    &SESSIONS_ABNORMALLY_ENDED,
    &REFUSED_CONNECTIONS,
    &FAILED_CONNECTIONS,
];

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

/// Encodes one scrape's results.
pub fn encode(results: Vec<TargetReport>, format: Format) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape { results }));
    let mut out = String::with_capacity(16 * 1024);
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(match format {
        Format::OpenMetrics => out,
        Format::Text => to_text_format(&out),
    })
}

#[derive(Debug)]
struct Scrape {
    results: Vec<TargetReport>,
}

/// Splits a user-visible name into the family name and unit prometheus-client wants.
fn family_name(metric: &Metric) -> (&'static str, Option<Unit>) {
    let name = metric.name;
    let name = match metric.kind {
        Kind::Counter => name.strip_suffix("_total").unwrap_or(name),
        Kind::Info => name.strip_suffix("_info").unwrap_or(name),
        Kind::Gauge => name,
    };
    if let Some(base) = name.strip_suffix("_seconds") {
        (base, Some(Unit::Seconds))
    } else if let Some(base) = name.strip_suffix("_ratio") {
        (base, Some(Unit::Other("ratio".into())))
    } else {
        (name, None)
    }
}

fn metric_type(kind: Kind) -> MetricType {
    match kind {
        Kind::Gauge => MetricType::Gauge,
        Kind::Counter => MetricType::Counter,
        Kind::Info => MetricType::Info,
    }
}

/// Writes one family with its samples; a family without samples is left out. A
/// label set met twice keeps its first value: OpenMetrics forbids repeating one,
/// and a server can report two objects that map to the same labels (e.g. MySQL
/// accounts `app@%` and `app@10.0.0.1` are both user `app`).
fn family<L: EncodeLabelSet + std::hash::Hash + Eq>(
    enc: &mut DescriptorEncoder,
    metric: &Metric,
    samples: Vec<(L, f64)>,
) -> std::fmt::Result {
    if samples.is_empty() {
        return Ok(());
    }
    let (name, unit) = family_name(metric);
    let mut me =
        enc.encode_descriptor(name, metric.help, unit.as_ref(), metric_type(metric.kind))?;
    // prometheus-client writes a stray comma when an info metric's own labels are
    // empty and its family labels are not, so an info carries its labels itself.
    let no_labels: Vec<(&str, &str)> = Vec::new();
    let mut seen = std::collections::HashSet::with_capacity(samples.len());
    for (labels, value) in &samples {
        if !seen.insert(labels) {
            continue;
        }
        match metric.kind {
            Kind::Counter => ConstCounter::new(*value as u64).encode(me.encode_family(labels)?)?,
            Kind::Gauge => ConstGauge::new(*value).encode(me.encode_family(labels)?)?,
            Kind::Info => me.encode_family(&no_labels)?.encode_info(labels)?,
        }
    }
    Ok(())
}

/// Per-target gauge with only the `target` label, from the snapshots that have it.
fn per_target(
    enc: &mut DescriptorEncoder,
    metric: &Metric,
    results: &[TargetReport],
    value: impl Fn(&Snapshot) -> Option<f64>,
) -> std::fmt::Result {
    let samples = results
        .iter()
        .filter_map(|r| {
            let v = value(r.snapshot()?)?;
            Some(([("target", &*r.target)], v))
        })
        .collect();
    family(enc, metric, samples)
}

/// Per-target family with one label besides `target`: each snapshot gives its
/// (label value, sample value) pairs.
fn per_target_by<'a>(
    enc: &mut DescriptorEncoder,
    metric: &Metric,
    label: &'static str,
    results: &'a [TargetReport],
    values: impl Fn(&'a Snapshot) -> Vec<(&'a str, f64)>,
) -> std::fmt::Result {
    let samples = results
        .iter()
        .filter_map(|r| Some((r, r.snapshot()?)))
        .flat_map(|(r, s)| {
            values(s)
                .into_iter()
                .map(move |(v, x)| ([("target", &*r.target), (label, v)], x))
        })
        .collect();
    family(enc, metric, samples)
}

fn threshold_label(seconds: f64) -> String {
    if seconds.fract() == 0.0 && (0.0..1e15).contains(&seconds) {
        format!("{}", seconds as u64)
    } else {
        format!("{seconds}")
    }
}

fn bool_label(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

impl Collector for Scrape {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let rs = &self.results;
        let e = &mut enc;

        family(
            e,
            &BUILD_INFO,
            vec![([("version", env!("CARGO_PKG_VERSION"))], 1.0)],
        )?;
        family(
            e,
            &UP,
            rs.iter()
                .map(|r| {
                    let up = if r.snapshot().is_some() { 1.0 } else { 0.0 };
                    ([("target", &*r.target)], up)
                })
                .collect(),
        )?;
        family(
            e,
            &TARGET_INFO,
            rs.iter()
                .filter_map(|r| {
                    let (engine, version) = r.info.as_ref()?;
                    Some((
                        [
                            ("target", &*r.target),
                            ("engine", engine.as_str()),
                            ("version", version.as_str()),
                        ],
                        1.0,
                    ))
                })
                .collect(),
        )?;
        family(
            e,
            &SCRAPE_DURATION,
            rs.iter()
                .map(|r| ([("target", &*r.target)], r.duration.as_secs_f64()))
                .collect(),
        )?;
        family(
            e,
            &CONNECT_ERRORS,
            rs.iter()
                .flat_map(|r| {
                    ConnectErrorKind::ALL.into_iter().map(move |k| {
                        (
                            [("target", &*r.target), ("reason", k.as_str())],
                            r.connect_errors.get(k) as f64,
                        )
                    })
                })
                .collect(),
        )?;
        family(
            e,
            &SESSION_LOSSES,
            rs.iter()
                .flat_map(|r| {
                    Loss::ALL.into_iter().map(move |l| {
                        (
                            [("target", &*r.target), ("reason", l.as_str())],
                            r.session_losses.get(l) as f64,
                        )
                    })
                })
                .collect(),
        )?;
        per_target_by(e, &COLLECTOR_SUCCESS, "collector", rs, |s| {
            s.parts
                .iter()
                .map(|c| (c.name, if c.success { 1.0 } else { 0.0 }))
                .collect()
        })?;
        per_target_by(e, &MISSING_PRIVILEGE, "privilege", rs, |s| {
            s.privileges
                .iter()
                .map(|p| (p.name, if p.granted { 0.0 } else { 1.0 }))
                .collect()
        })?;
        per_target(e, &HIDDEN_CONNECTIONS, rs, |s| {
            Some(s.sessions.hidden as f64)
        })?;
        family(
            e,
            &CONNECTIONS,
            rs.iter()
                .filter_map(|r| Some((r, r.snapshot()?)))
                .flat_map(|(r, s)| {
                    State::ALL.into_iter().map(move |st| {
                        (
                            [("target", &*r.target), ("state", st.as_str())],
                            s.sessions.by_state.get(st) as f64,
                        )
                    })
                })
                .collect(),
        )?;
        family(
            e,
            &CONNECTIONS_BY_ORIGIN,
            rs.iter()
                .filter_map(|r| Some((r, r.snapshot()?)))
                .flat_map(|(r, s)| {
                    s.sessions.origins.iter().map(move |o| {
                        (
                            [
                                ("target", &*r.target),
                                ("database", o.origin.database.as_str()),
                                ("user", o.origin.user.as_str()),
                                ("application", o.origin.application.as_str()),
                                ("state", o.state.as_str()),
                            ],
                            o.count as f64,
                        )
                    })
                })
                .collect(),
        )?;
        per_target(e, &MAX_CONNECTIONS, rs, |s| Some(s.max_connections as f64))?;
        per_target(e, &RESERVED_CONNECTIONS, rs, |s| {
            Some(s.reserved_connections as f64)
        })?;
        per_target(e, &USAGE_RATIO, rs, |s| s.usage_ratio())?;

        let thresholds: Vec<Vec<String>> = rs
            .iter()
            .map(|r| {
                r.snapshot()
                    .map(|s| {
                        s.sessions
                            .over_duration
                            .iter()
                            .map(|o| threshold_label(o.threshold_seconds))
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .collect();
        family(
            e,
            &OVER_DURATION,
            rs.iter()
                .zip(&thresholds)
                .filter_map(|(r, labels)| Some((r, r.snapshot()?, labels)))
                .flat_map(|(r, s, labels)| {
                    State::ALL.into_iter().flat_map(move |st| {
                        s.sessions
                            .over_duration
                            .iter()
                            .zip(labels)
                            .map(move |(o, label)| {
                                (
                                    [
                                        ("target", &*r.target),
                                        ("state", st.as_str()),
                                        ("threshold_seconds", label.as_str()),
                                    ],
                                    o.per_state.get(st) as f64,
                                )
                            })
                    })
                })
                .collect(),
        )?;
        family(
            e,
            &MAX_STATE_DURATION,
            rs.iter()
                .filter_map(|r| Some((r, r.snapshot()?)))
                .flat_map(|(r, s)| {
                    State::ALL.into_iter().map(move |st| {
                        (
                            [("target", &*r.target), ("state", st.as_str())],
                            s.sessions.max_state_duration_seconds.get(st),
                        )
                    })
                })
                .collect(),
        )?;
        per_target(e, &OLDEST_TRANSACTION, rs, |s| {
            Some(s.sessions.oldest_transaction_seconds)
        })?;
        per_target(e, &AVERAGE_CONNECTION_AGE, rs, |s| {
            s.sessions.average_connection_age_seconds
        })?;
        per_target(e, &MAX_CONNECTION_AGE, rs, |s| {
            s.sessions.max_connection_age_seconds
        })?;
        per_target(e, &BLOCKED, rs, |s| {
            s.blocking.as_ref().map(|b| b.blocked as f64)
        })?;
        per_target(e, &BLOCKING, rs, |s| {
            s.blocking.as_ref().map(|b| b.blocking as f64)
        })?;
        per_target(e, &MAX_LOCK_WAIT, rs, |s| {
            s.blocking.as_ref().map(|b| b.max_lock_wait_seconds)
        })?;
        family(
            e,
            &LOCKS,
            rs.iter()
                .filter_map(|r| Some((r, r.snapshot()?.locks.as_ref()?)))
                .flat_map(|(r, locks)| {
                    locks.iter().map(move |l| {
                        (
                            [
                                ("target", &*r.target),
                                ("mode", l.mode.as_str()),
                                ("granted", bool_label(l.granted)),
                            ],
                            l.count as f64,
                        )
                    })
                })
                .collect(),
        )?;
        limits(e, &USER_LIMIT, &USER_CONNECTIONS, "user", rs, |s| {
            s.user_limits.as_deref()
        })?;
        limits(
            e,
            &DATABASE_LIMIT,
            &DATABASE_CONNECTIONS,
            "database",
            rs,
            |s| s.database_limits.as_deref(),
        )?;
        per_target_by(e, &TIMEOUT_SETTING, "setting", rs, |s| {
            s.timeouts
                .iter()
                .map(|(name, secs)| (name.as_str(), *secs))
                .collect()
        })?;
        per_target(e, &MAX_USED_CONNECTIONS, rs, |s| {
            s.max_used_connections.map(|n| n as f64)
        })?;
        per_target(e, &THREADS_RUNNING, rs, |s| {
            s.threads_running.map(|n| n as f64)
        })?;
        per_target(e, &DEADLOCKS, rs, |s| {
            s.counters.deadlocks.map(|n| n as f64)
        })?;
        per_target(e, &SESSIONS, rs, |s| s.counters.sessions.map(|n| n as f64))?;
        per_target_by(e, &SESSIONS_ABNORMALLY_ENDED, "reason", rs, |s| {
            s.counters
                .abnormal_ends
                .iter()
                .map(|(reason, n)| (*reason, *n as f64))
                .collect()
        })?;
        per_target(e, &REFUSED_CONNECTIONS, rs, |s| {
            s.counters.refused.map(|n| n as f64)
        })?;
        per_target(e, &FAILED_CONNECTIONS, rs, |s| {
            s.counters.failed.map(|n| n as f64)
        })?;
        Ok(())
    }
}

fn limits(
    e: &mut DescriptorEncoder,
    limit_metric: &Metric,
    used_metric: &Metric,
    label: &'static str,
    rs: &[TargetReport],
    get: impl Fn(&Snapshot) -> Option<&[LimitUse]>,
) -> std::fmt::Result {
    let entries: Vec<_> = rs
        .iter()
        .filter_map(|r| Some((r, get(r.snapshot()?)?)))
        .flat_map(|(r, list)| list.iter().map(move |l| (r, l)))
        .collect();
    family(
        e,
        limit_metric,
        entries
            .iter()
            .map(|(r, l)| {
                (
                    [("target", &*r.target), (label, l.name.as_str())],
                    l.limit as f64,
                )
            })
            .collect(),
    )?;
    family(
        e,
        used_metric,
        entries
            .iter()
            .map(|(r, l)| {
                (
                    [("target", &*r.target), (label, l.name.as_str())],
                    l.used as f64,
                )
            })
            .collect(),
    )
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
mod golden;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn snapshot() -> Snapshot {
        let facts = summarize_sessions(
            vec![SessionGroup {
                hidden: false,
                origin: Origin {
                    database: "db".into(),
                    user: "u".into(),
                    application: "quote\" back\\slash\nnew line 🐘".into(),
                },
                state: State::Idle,
                count: 3,
                max_state_seconds: 61.0,
                sum_age_seconds: 30.0,
                max_age_seconds: 12.0,
                oldest_transaction_seconds: None,
                over: vec![3, 3, 0],
            }],
            &[30.0, 60.0, 0.5],
            10,
        );
        let sessions = SessionFacts {
            oldest_transaction_seconds: 0.0,
            average_connection_age_seconds: Some(10.0),
            max_connection_age_seconds: Some(12.0),
            hidden: 2,
            ..facts
        };
        Snapshot {
            blocking: Some(Blocking::default()),
            locks: Some(vec![LockCount {
                mode: "AccessShareLock".into(),
                granted: true,
                count: 2,
            }]),
            user_limits: Some(vec![LimitUse {
                name: "app".into(),
                limit: 5,
                used: 1,
            }]),
            database_limits: Some(vec![]),
            timeouts: vec![("statement_timeout".into(), 0.0)],
            counters: ServerCounters {
                deadlocks: Some(1),
                sessions: Some(9),
                abnormal_ends: vec![("fatal", 1)],
                refused: None,
                failed: None,
            },
            parts: vec![ReadPart {
                name: "activity",
                success: true,
            }],
            privileges: vec![Privilege {
                name: "pg_read_all_stats",
                granted: false,
            }],
            ..Snapshot::new(Engine::PostgreSql, "17.2", 20, 3, sessions)
        }
    }

    fn result(name: &str, snapshot: Option<Snapshot>) -> TargetReport {
        TargetReport {
            target: Arc::from(name),
            snapshot: snapshot.map(Arc::new),
            duration: Duration::from_millis(3),
            connect_errors: ConnectErrorCounts {
                too_many_connections: 1,
                ..Default::default()
            },
            session_losses: LossCounts {
                hung: 1,
                ..Default::default()
            },
            info: Some((Engine::PostgreSql, "17.2".into())),
        }
    }

    #[test]
    fn openmetrics_output_has_the_contract_names() {
        let text = encode(
            vec![result("a", Some(snapshot())), result("b", None)],
            Format::OpenMetrics,
        )
        .unwrap();
        assert!(text.ends_with("# EOF\n"));
        assert!(text.contains("dbconn_up{target=\"a\"} 1"));
        assert!(text.contains("dbconn_up{target=\"b\"} 0"));
        assert!(text.contains("# TYPE dbconn_usage_ratio gauge"));
        assert!(text.contains("# UNIT dbconn_usage_ratio ratio"));
        assert!(text.contains(
            "dbconn_connect_errors_total{target=\"b\",reason=\"too_many_connections\"} 1"
        ));
        assert!(
            text.contains(
                "dbconn_target_info{target=\"a\",engine=\"postgresql\",version=\"17.2\"} 1"
            )
        );
        assert!(text.contains("threshold_seconds=\"0.5\""));
        assert!(
            text.contains(
                "dbconn_missing_privilege{target=\"a\",privilege=\"pg_read_all_stats\"} 1"
            )
        );
        assert!(text.contains("dbconn_hidden_connections{target=\"a\"} 2"));
        assert!(text.contains("dbconn_session_losses_total{target=\"b\",reason=\"hung\"} 1"));
        assert!(text.contains("threshold_seconds=\"30\""));
        assert!(text.contains(r#"application="quote\" back\\slash\nnew line 🐘""#));
        // Zero-filled states.
        assert!(
            text.contains(
                "dbconn_connections{target=\"a\",state=\"idle_in_transaction_aborted\"} 0"
            )
        );
        // A target that is down has no session metrics.
        assert!(!text.contains("dbconn_connections{target=\"b\""));
    }

    #[test]
    fn text_format_renames_counters_and_infos() {
        let text = encode(vec![result("a", Some(snapshot()))], Format::Text).unwrap();
        assert!(!text.contains("# EOF"));
        assert!(!text.contains("# UNIT"));
        assert!(text.contains("# TYPE dbconn_connect_errors_total counter"));
        assert!(text.contains("# HELP dbconn_connect_errors_total Failed connects"));
        assert!(text.contains("# TYPE dbconn_target_info gauge"));
        assert!(text.contains("# TYPE dbconn_usage_ratio gauge"));
        assert!(!text.contains("info\n"));
    }

    #[test]
    fn family_names_follow_the_unit_suffixes() {
        for metric in METRICS {
            let (name, unit) = family_name(metric);
            let mut full = name.to_string();
            if let Some(u) = unit {
                full.push('_');
                full.push_str(u.as_str());
            }
            match metric.kind {
                Kind::Counter => full.push_str("_total"),
                Kind::Info => full.push_str("_info"),
                Kind::Gauge => {}
            }
            assert_eq!(full, metric.name);
            assert!(metric.name.starts_with("dbconn_"));
            assert!(metric.kind == Kind::Counter || !metric.name.ends_with("_total"));
        }
    }

    #[test]
    fn readme_lists_every_metric() {
        let readme = include_str!("../README.md");
        for metric in METRICS {
            assert!(
                readme.contains(&format!("`{}`", metric.name)),
                "README.md does not list {}",
                metric.name
            );
        }
    }
}
