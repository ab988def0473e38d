//! The incident view: the pid-level answer to "who holds the connections, who blocks
//! whom, and what do I run", read through the session the target already holds.
//!
//! At 100/100 the on-call engineer's own login is refused; the exporter is the one
//! client still inside. So the view never opens a connection: the engine's incident
//! read runs on the target's session, one at a time per target, and its result is
//! reused briefly whatever the number of viewers (see [`crate::target`]).
//!
//! The metrics stay aggregates (no pid or query text in a label); this module is
//! where pids, client addresses and, when enabled, query text appear, which is why
//! the view can be switched off and sits behind the web configuration's protection.
//!
//! | module | its one job |
//! |---|---|
//! | [`scene`] | what an engine reads: every client session, engine-neutral |
//! | [`report`] | the versioned JSON schema the API serves and the command reads |
//! | [`analyze`] | scene → report: holders, the lock tree, advice, relief statements |
//! | [`page`] | report → the HTML page, escaped, under a hash-only content policy |
//!
//! Relief statements are printed, never executed: the exporter's role is meant to
//! be read-only, and a monitor that kills sessions on its own is an outage waiting
//! for a bug.

pub mod analyze;
pub mod page;
pub mod report;
pub mod scene;

pub use analyze::{Options, analyze};
pub use report::Report;
pub use scene::{Scene, SessionRow};
