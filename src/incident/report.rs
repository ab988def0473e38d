//! The incident report, schema version 1: what `GET /api/v1/incident` serves, the
//! page and the `incident` command render. Fields are only ever added within a
//! version; a renamed or removed field is a new version. The README documents each.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub target: String,
    /// `postgresql`, `mysql` or `mariadb`.
    pub engine: String,
    pub version: String,
    /// When the read was made, seconds since the Unix epoch.
    pub read_at_unix_seconds: f64,
    pub usage: Usage,
    /// Client sessions per normalized state, every state present; `hidden` counts
    /// sessions whose state the exporter's role may not see.
    pub states: BTreeMap<String, u64>,
    pub holders: Vec<Holder>,
    /// At most `sessions_limit` sessions, longest in their state first.
    pub sessions: Vec<SessionView>,
    /// Client sessions seen in all, of which `sessions` lists the first ones.
    pub sessions_total: u64,
    pub root_blockers: Vec<RootBlocker>,
    pub advice: Vec<Advice>,
    pub relief: Vec<Relief>,
    /// What the read could not see.
    pub notes: Vec<String>,
}

/// The same numbers as `dbconn_connections`, `dbconn_max_connections`,
/// `dbconn_reserved_connections` and `dbconn_usage_ratio`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub sessions: u64,
    /// Slots ordinary logins may take: max_connections minus reserved.
    pub limit: u64,
    pub max_connections: u64,
    pub reserved: u64,
    /// `sessions / limit`; absent when no slot is left to ordinary logins.
    pub ratio: Option<f64>,
}

/// Everything one (application, user, database, client) holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    pub application: String,
    pub user: String,
    pub database: String,
    pub client: String,
    pub sessions: u64,
    /// Sessions per normalized state (only states with sessions).
    pub states: BTreeMap<String, u64>,
    /// Share of this holder's sessions that are idle (0–1).
    pub idle_ratio: f64,
    /// How long the longest-idle session has been idle.
    pub oldest_idle_seconds: Option<f64>,
    /// Age of the oldest open transaction.
    pub oldest_transaction_seconds: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionView {
    /// PostgreSQL backend pid; MySQL/MariaDB thread id.
    pub pid: i64,
    pub application: String,
    pub user: String,
    pub database: String,
    pub client: String,
    /// A normalized state, or `hidden`.
    pub state: String,
    pub state_seconds: Option<f64>,
    pub transaction_seconds: Option<f64>,
    pub wait_event: Option<String>,
    pub blocked_by: Vec<i64>,
    /// Only with `incident.query_text: true`; truncated.
    pub query: Option<String>,
    /// The exporter's own session.
    pub own: bool,
}

/// A session that blocks others while not waiting on a lock itself: the root of a
/// lock tree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RootBlocker {
    pub pid: i64,
    pub application: String,
    pub user: String,
    pub database: String,
    pub client: String,
    pub state: String,
    pub state_seconds: Option<f64>,
    pub transaction_seconds: Option<f64>,
    /// Sessions waiting on it directly.
    pub blocked_directly: u64,
    /// Sessions waiting on it directly or behind one that does.
    pub blocked_total: u64,
    /// The tree below it: each waiter with the pid it waits on.
    pub waiters: Vec<Waiter>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Waiter {
    pub pid: i64,
    pub waits_for: i64,
    pub wait_seconds: Option<f64>,
}

/// A finding from the settings and the sessions, with why and what to apply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Advice {
    /// Stable identifier, e.g. `idle_in_transaction_session_timeout_unset`.
    pub id: String,
    pub title: String,
    pub why: String,
    /// Statements to apply the fix (settings, not session kills).
    pub sql: Vec<String>,
}

/// Ready-to-run statements with exact pids. Printed, never executed by the exporter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Relief {
    /// `terminate_idle_of_top_holder`, `cancel_longest_running`,
    /// `terminate_root_blocker`.
    pub id: String,
    pub title: String,
    pub why: String,
    pub pids: Vec<i64>,
    pub sql: Vec<String>,
}
