//! What the exporter says about itself rather than about a target: one value for the
//! whole process, so it belongs on `/metrics` once and not on every probe.

/// The outcome of the configuration loads so far.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExporterState {
    /// Whether the last load (the one at start, or the last reload) succeeded.
    pub last_reload_successful: bool,
    /// Unix time, in seconds, of the last load that succeeded.
    pub last_reload_success_seconds: f64,
}
