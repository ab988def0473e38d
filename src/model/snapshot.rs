//! One read of one database: the engine-neutral facts the exposition turns into
//! metrics.
//!
//! A plain typed struct, not metric objects, so that the same read can feed other
//! views (a status page, a command) and be built by hand in tests.

use super::engine::Engine;
use super::sessions::SessionFacts;

/// A limit that is set (per user/role or per database) and how much of it is used.
#[derive(Clone, Debug, PartialEq)]
pub struct LimitUse {
    pub name: String,
    pub limit: u64,
    pub used: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LockCount {
    pub mode: String,
    pub granted: bool,
    pub count: u64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Blocking {
    pub blocked: u64,
    pub blocking: u64,
    /// Sessions that block others while not waiting on a lock themselves: the
    /// roots of the lock trees, the ones worth ending.
    pub root_blockers: u64,
    pub max_lock_wait_seconds: f64,
}

/// Cumulative counters the server keeps about connections. `None` where the engine or
/// version does not count it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerCounters {
    pub deadlocks: Option<u64>,
    pub sessions: Option<u64>,
    pub abnormal_ends: Vec<(&'static str, u64)>,
    pub refused: Option<u64>,
    pub failed: Option<u64>,
}

/// Whether one part of the read worked (`dbconn_scrape_collector_success`). Parts
/// are independent so that one locked catalog or one unsupported view costs its own
/// metrics, not the whole read.
#[derive(Clone, Debug, PartialEq)]
pub struct ReadPart {
    pub name: &'static str,
    pub success: bool,
}

/// A privilege that decides how much of the server the exporter can see, and whether
/// its role holds it. Without it the headline counts stay right but details go
/// missing, which must show in a metric rather than look like a quiet server.
#[derive(Clone, Debug, PartialEq)]
pub struct Privilege {
    pub name: &'static str,
    pub granted: bool,
}

/// One pool of a connection pooler (PgBouncer): the clients of one database and
/// user, and the server connections opened for them. States keep the pooler's own
/// names, because a pooler's states (a client queued for a server, a server being
/// tested) have no counterpart among a database's session states.
#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    pub database: String,
    pub user: String,
    /// Clients by state, only the states this version of the pooler reports.
    pub clients: Vec<(&'static str, u64)>,
    /// Server connections by state, only the states this version reports.
    pub servers: Vec<(&'static str, u64)>,
    /// How long the oldest waiting client has waited (0 if none waits).
    pub max_wait_seconds: f64,
    /// Server connections the pool may open: its size plus its reserve, as
    /// configured for it; `None` when the configuration could not be matched.
    pub size: Option<u64>,
    /// Server connections a new client cannot have: every one but those idle or
    /// waiting to be checked (`sv_idle`, `sv_used`).
    pub servers_in_use: u64,
}

impl Pool {
    /// Server connections in use over the pool's size: 1.0 when the next client
    /// must wait.
    pub fn usage_ratio(&self) -> Option<f64> {
        let size = self.size.filter(|&n| n > 0)?;
        Some(self.servers_in_use as f64 / size as f64)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub engine: Engine,
    pub version: String,
    pub max_connections: u64,
    pub reserved_connections: u64,
    /// Everything counted from the sessions themselves.
    pub sessions: SessionFacts,
    pub blocking: Option<Blocking>,
    pub locks: Option<Vec<LockCount>>,
    pub user_limits: Option<Vec<LimitUse>>,
    pub database_limits: Option<Vec<LimitUse>>,
    pub timeouts: Vec<(String, f64)>,
    pub max_used_connections: Option<u64>,
    /// Threads executing a statement right now, as the server counts them
    /// (MySQL/MariaDB `Threads_running`, which includes the exporter's own read).
    pub threads_running: Option<u64>,
    pub counters: ServerCounters,
    /// Which parts of the read worked.
    pub parts: Vec<ReadPart>,
    /// The visibility privileges the engine checks, held or not.
    pub privileges: Vec<Privilege>,
    /// A pooler's pools; `None` for a database server.
    pub pools: Option<Vec<Pool>>,
}

impl Snapshot {
    /// A snapshot of the sessions alone; every other part is unknown until set.
    pub fn new(
        engine: Engine,
        version: impl Into<String>,
        max_connections: u64,
        reserved_connections: u64,
        sessions: SessionFacts,
    ) -> Snapshot {
        Snapshot {
            engine,
            version: version.into(),
            max_connections,
            reserved_connections,
            sessions,
            blocking: None,
            locks: None,
            user_limits: None,
            database_limits: None,
            timeouts: Vec::new(),
            max_used_connections: None,
            threads_running: None,
            counters: ServerCounters::default(),
            parts: Vec::new(),
            privileges: Vec::new(),
            pools: None,
        }
    }

    /// Client sessions over the slots ordinary logins may take. 1.0 means the next
    /// ordinary login is refused; above 1.0 reserved slots are in use. `None` when the
    /// server leaves no slot to ordinary users (nothing meaningful to divide by).
    pub fn usage_ratio(&self) -> Option<f64> {
        usage_ratio(
            self.sessions.by_state.total(),
            self.max_connections,
            self.reserved_connections,
        )
    }
}

pub fn usage_ratio(used: u64, max_connections: u64, reserved: u64) -> Option<f64> {
    let capacity = max_connections.checked_sub(reserved)?;
    if capacity == 0 {
        return None;
    }
    Some(used as f64 / capacity as f64)
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_reaches_one_exactly_at_the_ordinary_capacity() {
        // max_connections=20, superuser_reserved=3: 17 ordinary slots.
        assert_eq!(usage_ratio(17, 20, 3), Some(1.0));
        assert_eq!(usage_ratio(16, 20, 3).map(|r| r < 1.0), Some(true));
        assert_eq!(usage_ratio(20, 20, 3).map(|r| r > 1.0), Some(true));
        assert_eq!(usage_ratio(0, 100, 0), Some(0.0));
        assert_eq!(usage_ratio(1, 3, 3), None);
        assert_eq!(usage_ratio(1, 2, 3), None);
    }
}
