//! Every metric the exporter emits: name, type, label names and help, in output
//! order. Nothing else in the crate spells a metric or label name.
//!
//! Alerts, dashboards and the README depend on these names, so they are written
//! here whole, as users query them (`_total`, `_info`, units included); the
//! encoder derives what prometheus-client wants from them. The README is checked
//! against [`METRICS`].

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
pub const CONFIG_RELOAD_SUCCESSFUL: Metric = m(
    "dbconn_config_last_reload_successful",
    Kind::Gauge,
    &[],
    "1 if the last configuration load (at start or reload) succeeded, 0 if it failed and the previous configuration is still served.",
);
pub const CONFIG_RELOAD_SUCCESS_TIME: Metric = m(
    "dbconn_config_last_reload_success_timestamp_seconds",
    Kind::Gauge,
    &[],
    "Unix time of the last successful configuration load (at start or reload).",
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
pub const ROOT_BLOCKERS: Metric = m(
    "dbconn_root_blockers",
    Kind::Gauge,
    &["target"],
    "Sessions that block others while not waiting on a lock themselves: the roots of the lock trees.",
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
pub const POOL_CLIENTS: Metric = m(
    "dbconn_pool_clients",
    Kind::Gauge,
    &["target", "database", "user", "state"],
    "Clients of a pooler's pool (PgBouncer) by the pooler's state: active, waiting, and the cancel-request states where the version has them.",
);
pub const POOL_SERVERS: Metric = m(
    "dbconn_pool_servers",
    Kind::Gauge,
    &["target", "database", "user", "state"],
    "Server connections of a pooler's pool (PgBouncer) by the pooler's state: active, idle, used, tested, login, and the cancel states where the version has them.",
);
pub const POOL_MAX_WAIT: Metric = m(
    "dbconn_pool_max_wait_seconds",
    Kind::Gauge,
    &["target", "database", "user"],
    "How long the oldest client waiting for a server connection of the pool has waited (0 if none waits).",
);
pub const POOL_SIZE: Metric = m(
    "dbconn_pool_size",
    Kind::Gauge,
    &["target", "database", "user"],
    "Server connections the pool may open: its pool size plus its reserve, as configured for it.",
);
pub const POOL_USAGE_RATIO: Metric = m(
    "dbconn_pool_usage_ratio",
    Kind::Gauge,
    &["target", "database", "user"],
    "Server connections of the pool in use (neither idle nor used-awaiting-check) over its size; 1 means the next client waits.",
);

/// Every metric this exporter can emit, in output order.
pub const METRICS: &[&Metric] = &[
    &BUILD_INFO,
    &CONFIG_RELOAD_SUCCESSFUL,
    &CONFIG_RELOAD_SUCCESS_TIME,
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
    &ROOT_BLOCKERS,
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
    &POOL_CLIENTS,
    &POOL_SERVERS,
    &POOL_MAX_WAIT,
    &POOL_SIZE,
    &POOL_USAGE_RATIO,
];

impl Metric {
    /// What prometheus-client builds this name from: the family name without the
    /// type suffix (`_total`, `_info`) and the unit, which it appends again.
    /// OpenMetrics names a counter family without `_total` and an info family
    /// without `_info`; a `_seconds` or `_ratio` name declares its unit.
    pub fn stem_and_unit(&self) -> (&'static str, Option<&'static str>) {
        let name = self.name;
        let name = match self.kind {
            Kind::Counter => name.strip_suffix("_total").unwrap_or(name),
            Kind::Info => name.strip_suffix("_info").unwrap_or(name),
            Kind::Gauge => name,
        };
        for unit in ["seconds", "ratio"] {
            if let Some(stem) = name.strip_suffix(unit).and_then(|n| n.strip_suffix('_')) {
                return (stem, Some(unit));
            }
        }
        (name, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_rebuild_from_stem_unit_and_type() {
        for metric in METRICS {
            let (stem, unit) = metric.stem_and_unit();
            let mut full = stem.to_string();
            if let Some(u) = unit {
                full.push('_');
                full.push_str(u);
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
    fn names_are_unique() {
        let mut names: Vec<_> = METRICS.iter().map(|m| m.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), METRICS.len());
    }

    #[test]
    fn readme_lists_every_metric() {
        let readme = include_str!("../../README.md");
        for metric in METRICS {
            assert!(
                readme.contains(&format!("`{}`", metric.name)),
                "README.md does not list {}",
                metric.name
            );
        }
    }
}
