//! Reports → metrics, in OpenMetrics or the classic text format.
//!
//! - [`catalog`]: every metric's name, type, labels and help; the only place a
//!   metric name is spelled.
//! - `encode`: which samples each report gives, family by family.
//! - `text`: the format a scrape asked for, and the classic text made from
//!   OpenMetrics.
//!
//! The exposition depends only on [`crate::model`]: a read is turned into metrics
//! here and nowhere else.
//!
//! Why prometheus-client, though the exporter keeps no metric objects of its own
//! (every value is read fresh from the reports): it writes the OpenMetrics text,
//! label escaping and number formatting included, and those bytes are what
//! Prometheus and every other parser see. Its floats are written by `dtoa`, a
//! Grisu2 port whose digits and spellings (`1.0`, `inf`, `NaN`) the standard
//! library's formatting does not reproduce, so writing the text here would change
//! the output or mean porting that algorithm. Used as intended it costs, per
//! scrape, an empty registry and one boxed collector (`encode::Scrape`), since a
//! collector sees only itself. The golden files in `testdata/` pin the bytes of
//! both formats; to measure an encode, run `cargo bench --bench encode`.

pub mod catalog;
mod encode;
mod text;

pub use catalog::{Kind, METRICS, Metric};
pub use text::Format;

use crate::model::{ExporterState, TargetReport};

/// Encodes one scrape's results, and the exporter's own state when given: `/metrics`
/// gives it, `/probe` does not (every probe would repeat it, and an alert on it
/// would fire once per target).
pub fn encode(
    results: Vec<TargetReport>,
    exporter: Option<ExporterState>,
    format: Format,
) -> Result<String, std::fmt::Error> {
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register_collector(Box::new(encode::Scrape { results, exporter }));
    let mut out = String::with_capacity(16 * 1024);
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(match format {
        Format::OpenMetrics => out,
        Format::Text => text::to_text_format(&out),
    })
}

#[cfg(test)]
mod tests;
