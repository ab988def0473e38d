//! What a target hands the exposition for one scrape: its last read (if it came in
//! time) and the counters it keeps across reads.
//!
//! These live here rather than in `target` so that the exposition depends only on
//! the model, never on the session layer that produces it.

use std::sync::Arc;
use std::time::Duration;

use super::engine::Engine;
use super::snapshot::Snapshot;

/// Why the exporter's own connect failed. "Full" and "down" must never look the same:
/// an on-call engineer reads this to tell a saturated server from a dead one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnectErrorKind {
    TooManyConnections,
    AuthFailed,
    Unreachable,
    Timeout,
    Tls,
    Other,
}

impl ConnectErrorKind {
    pub const ALL: [ConnectErrorKind; 6] = [
        ConnectErrorKind::TooManyConnections,
        ConnectErrorKind::AuthFailed,
        ConnectErrorKind::Unreachable,
        ConnectErrorKind::Timeout,
        ConnectErrorKind::Tls,
        ConnectErrorKind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConnectErrorKind::TooManyConnections => "too_many_connections",
            ConnectErrorKind::AuthFailed => "auth_failed",
            ConnectErrorKind::Unreachable => "unreachable",
            ConnectErrorKind::Timeout => "timeout",
            ConnectErrorKind::Tls => "tls",
            ConnectErrorKind::Other => "other",
        }
    }
}

/// Why the exporter's own session was lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Loss {
    /// The server or the network closed it (a restart, a terminated backend).
    Closed,
    /// It stopped answering: no sign of life for longer than a statement may take.
    Hung,
}

impl Loss {
    pub const ALL: [Loss; 2] = [Loss::Closed, Loss::Hung];

    pub fn as_str(self) -> &'static str {
        match self {
            Loss::Closed => "closed",
            Loss::Hung => "hung",
        }
    }
}

/// A count for each reason a connect failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectErrorCounts {
    pub too_many_connections: u64,
    pub auth_failed: u64,
    pub unreachable: u64,
    pub timeout: u64,
    pub tls: u64,
    pub other: u64,
}

impl ConnectErrorCounts {
    pub fn get(&self, kind: ConnectErrorKind) -> u64 {
        match kind {
            ConnectErrorKind::TooManyConnections => self.too_many_connections,
            ConnectErrorKind::AuthFailed => self.auth_failed,
            ConnectErrorKind::Unreachable => self.unreachable,
            ConnectErrorKind::Timeout => self.timeout,
            ConnectErrorKind::Tls => self.tls,
            ConnectErrorKind::Other => self.other,
        }
    }

    pub fn get_mut(&mut self, kind: ConnectErrorKind) -> &mut u64 {
        match kind {
            ConnectErrorKind::TooManyConnections => &mut self.too_many_connections,
            ConnectErrorKind::AuthFailed => &mut self.auth_failed,
            ConnectErrorKind::Unreachable => &mut self.unreachable,
            ConnectErrorKind::Timeout => &mut self.timeout,
            ConnectErrorKind::Tls => &mut self.tls,
            ConnectErrorKind::Other => &mut self.other,
        }
    }
}

/// A count for each way the exporter's session was lost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LossCounts {
    pub closed: u64,
    pub hung: u64,
}

impl LossCounts {
    pub fn get(&self, loss: Loss) -> u64 {
        match loss {
            Loss::Closed => self.closed,
            Loss::Hung => self.hung,
        }
    }

    pub fn get_mut(&mut self, loss: Loss) -> &mut u64 {
        match loss {
            Loss::Closed => &mut self.closed,
            Loss::Hung => &mut self.hung,
        }
    }
}

/// Everything the exposition needs about one target for one scrape.
#[derive(Debug, Clone)]
pub struct TargetReport {
    pub target: Arc<str>,
    /// The read this scrape waited for; `None` when it failed or did not finish
    /// before the scrape's deadline.
    pub snapshot: Option<Arc<Snapshot>>,
    pub duration: Duration,
    pub connect_errors: ConnectErrorCounts,
    pub session_losses: LossCounts,
    /// Engine and version from the last successful read, so that `target_info`
    /// survives an outage.
    pub info: Option<(Engine, String)>,
}

impl TargetReport {
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.snapshot.as_deref()
    }
}
