//! dbconn_exporter: how close each database is to its connection limit, who holds
//! the connections, in what state, for how long, and who blocks whom.
//!
//! Data flows one way: request (`server`) → target (`target`: the one session,
//! backoff, shared reads) → engine reader (`engines`) → `snapshot` → `exposition`.

pub mod config;
pub mod dsn;
pub mod engines;
pub mod exposition;
pub mod logging;
pub mod server;
pub mod snapshot;
pub mod target;
