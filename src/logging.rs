//! Logs go to stderr as text for people or JSON for log pipelines. Nothing logged
//! carries a DSN: targets are named, and engine errors are server messages.

use tracing_subscriber::EnvFilter;

pub fn init(level: &str, format: &str) {
    // Our own crate at the chosen level; dependencies one notch quieter unless
    // debugging, so that a connect storm does not drown the log.
    let deps = if level == "debug" { "info" } else { "warn" };
    let filter = EnvFilter::new(format!("{deps},dbconn_exporter={level}"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        // The current span carries the target's name into the engines' lines.
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        builder.with_ansi(false).init();
    }
}
