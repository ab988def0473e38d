//! The types every stage shares: what a read of a database found, and what a
//! target reports for a scrape.
//!
//! Engines produce a [`Snapshot`]; the target wraps it, with its own counters, in a
//! [`TargetReport`]; the exposition turns reports into metrics. None of these types
//! knows SQL, sessions or the metric format, so each stage can be tested with values
//! built by hand. [`ExporterState`] is the exporter's own, beside every report.

mod engine;
mod exporter;
mod report;
mod sessions;
mod snapshot;
mod state;

pub use engine::Engine;
pub use exporter::ExporterState;
pub use report::{ConnectErrorCounts, ConnectErrorKind, Loss, LossCounts, TargetReport};
pub use sessions::{
    Origin, OriginCount, OverDuration, SessionFacts, SessionGroup, summarize_sessions,
};
pub use snapshot::{
    Blocking, LimitUse, LockCount, Pool, Privilege, ReadPart, ServerCounters, Snapshot, usage_ratio,
};
pub use state::{PerState, State};
