//! What an engine's incident read yields: every client session it can see, with the
//! identifiers a relief statement needs, beside the metrics read of the same moment
//! (so that the usage the view shows is the number the metrics show).

use crate::model::{Engine, Snapshot, State};

/// One incident read of one target.
#[derive(Clone, Debug, PartialEq)]
pub struct Scene {
    pub engine: Engine,
    pub version: String,
    /// The metrics read made on the same session just before the sessions were
    /// listed: usage, limits, timeouts.
    pub snapshot: Snapshot,
    /// Every client session the role can see, the exporter's own included (marked).
    pub sessions: Vec<SessionRow>,
    /// What the read could not see, in words for the reader (a missing privilege,
    /// a part that failed). Never a secret.
    pub notes: Vec<String>,
    /// Whether the read could tell superusers apart. When it could not, no session
    /// is offered for termination or cancelling: it might be an administrator's.
    pub superusers_known: bool,
    /// When the read was made, in seconds since the Unix epoch.
    pub read_at_unix_seconds: f64,
}

/// One client session. `None` where the role may not see the value.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionRow {
    /// PostgreSQL backend pid; MySQL/MariaDB thread (connection) id.
    pub pid: i64,
    pub application: String,
    pub user: String,
    pub database: String,
    /// Client address or host name; empty for a local socket.
    pub client: String,
    /// Normalized state; `None` when hidden from the exporter's role.
    pub state: Option<State>,
    pub state_seconds: Option<f64>,
    pub transaction_seconds: Option<f64>,
    pub connection_seconds: Option<f64>,
    /// What the session waits on (`Lock:transactionid`, `ClientRead`, a MySQL
    /// state), if anything.
    pub wait_event: Option<String>,
    /// The sessions holding a lock this one waits for.
    pub blocked_by: Vec<i64>,
    /// Statement text, truncated; only when the configuration enables it.
    pub query: Option<String>,
    /// A superuser (PostgreSQL) or a user with SUPER / CONNECTION_ADMIN (MySQL):
    /// never offered for termination.
    pub superuser: bool,
    /// A replication connection: never offered for termination.
    pub replication: bool,
    /// The exporter's own session.
    pub own: bool,
}
