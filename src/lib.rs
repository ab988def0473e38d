//! dbconn_exporter: how close each database is to its connection limit, who holds
//! the connections, in what state, for how long, and who blocks whom — read from the
//! database on every scrape, through one session per database.
//!
//! # The map
//!
//! | module | its one job |
//! |---|---|
//! | `main.rs` | flags → configuration → serve, or the `incident` command |
//! | [`cli`] | the flags and their environment variables |
//! | [`config`] | the configuration file, its durations and checks, targets from DSNs |
//! | [`dsn`] | connection strings: their syntax, and the passwords in them |
//! | [`files`] | reading the small files a configuration names, safely |
//! | [`server`] | HTTP routes, a scrape's deadline, signals, connection bounds |
//! | [`web`] | `--web.config.file`: TLS, basic auth and headers in front of every route |
//! | [`reload`] | the configuration being served, swapped on SIGHUP or `POST /-/reload`: which targets keep their session |
//! | [`incident_command`] | the `incident` command: a report from a running exporter, or from one session of its own |
//! | [`target`] | one database: its one session, connect attempts, backoff, the shared read |
//! | [`engines`] | the seam between a target and a database; `postgres/`, `mysql/` and `pgbouncer/` (its admin console) each hold `connect`, `sql`, `parse` and the read |
//! | [`model`] | the types every stage shares: the snapshot of a read, a target's report |
//! | [`exposition`] | reports → metric text; the one place metric names live |
//! | [`incident`] | the pid-level view on demand: who holds the connections, who blocks whom, what to run |
//! | [`logging`] | text or JSON logs |
//!
//! # How a scrape flows
//!
//! Imports only go down this list, and data flows one way:
//!
//! 1. `GET /metrics` (or `/probe?target=`) reaches `server::scrape`, which turns
//!    Prometheus's `X-Prometheus-Scrape-Timeout-Seconds` into a deadline.
//! 2. Each target's [`target::Target::report`] joins the read in flight or starts one;
//!    it waits for it until the scrape's deadline and no longer.
//! 3. The read takes the target's one session (connecting first if there is none)
//!    and calls the engine's `Reader::read`, under a watchdog for a hung session.
//! 4. The engine sends its statements (`sql`), turns the rows into plain row structs
//!    and those into a [`model::Snapshot`] (`parse`).
//! 5. The target wraps the snapshot with its own counters (connect errors, lost
//!    sessions) into a [`model::TargetReport`].
//! 6. [`exposition::encode`] writes every report in the format the client accepts,
//!    and the server sends the bytes.
//!
//! Beside it, on demand: `GET /api/v1/incident` or `/incident` (`server::incident`)
//! asks [`target::Target::incident`], which takes the same session in turn with the
//! metrics reads and calls the engine's `Reader::incident` (a metrics read, then
//! every client session pid by pid) into an [`incident::Scene`];
//! [`incident::analyze()`] turns it into the [`incident::Report`] that the JSON, the
//! page and the `incident` command show.
//!
//! # Invariants
//!
//! - **One connection per target**, counting one still logging in: a monitor must
//!   never be what exhausts the connections it watches.
//! - **Reads are shared, never cut short**: concurrent scrapes join one read, and a
//!   scrape that gives up does not cancel it for the others.
//! - **Fresh per scrape**: no background polling and no cache; what a scrape shows
//!   was read while it waited.
//!   (The incident view alone reuses a read for two seconds, so that any number of
//!   viewers costs one read.)
//! - **Nothing silent**: a part of a read that fails says so
//!   (`dbconn_scrape_collector_success`), a hidden session is still counted, and no
//!   password reaches a log, a label or an HTTP body.

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
pub mod incident;
pub mod incident_command;
pub mod logging;
pub mod model;
pub mod reload;
pub mod server;
pub mod target;
pub mod web;
