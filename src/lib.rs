//! dbconn_exporter: how close each database is to its connection limit, who holds
//! the connections, in what state, for how long, and who blocks whom.
//!
//! Data flows one way: request (`server`) → target (`target`: the one session,
//! backoff, shared reads) → engine reader (`engines`) → `snapshot` → `exposition`.

// A monitor that panics on a surprising row is silent exactly when it is needed:
// outside tests, every fallible step is handled, and nothing indexes blindly.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod cli;
pub mod config;
pub mod dsn;
pub mod engines;
pub mod exposition;
pub mod files;
pub mod logging;
pub mod model;
pub mod server;
pub mod target;
