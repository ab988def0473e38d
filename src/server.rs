//! HTTP routes, in the shape Prometheus exporters are expected to have.
//!
//! `/metrics` reads every target at request time; `/probe?target=NAME` reads one (for
//! the multi-target pattern where Prometheus relabels per target). Each scrape gets a
//! deadline from Prometheus's `X-Prometheus-Scrape-Timeout-Seconds`, so a stuck
//! target costs its own metrics and never the whole answer. How long connections may
//! live, and how many, is the `connections` module's business; what is served, and
//! how a reload changes it, is [`crate::reload`]'s.

mod connections;
mod discovery;
mod incident;

pub use connections::DEFAULT_MAX_CONNECTIONS;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::cli::Cli;
use crate::config::{Collection, Config};
use crate::exposition::{self, Format};
use crate::model::ExporterState;
use crate::reload::{Admit, Reloader};
use crate::target::Target;
use crate::web::{self, Web};

const SCRAPE_TIMEOUT_HEADER: &str = "x-prometheus-scrape-timeout-seconds";

struct App {
    reloader: Arc<Reloader>,
    telemetry_path: String,
    /// `--web.enable-lifecycle`: whether `POST /-/reload` may reload.
    lifecycle: bool,
}

/// Runs the exporter until SIGTERM or SIGINT, with at most `--web.max-connections`
/// HTTP connections open (fewer if the open-file limit is too small for them).
/// `config` was loaded from `cli`; a reload loads it from `cli` again.
pub async fn serve(cli: Cli, config: Config) -> Result<(), String> {
    // First: a bad web configuration stops the start before any database is touched.
    let web = Arc::new(Web::load(cli.web_config_file.as_deref())?);
    let requested = usize::try_from(cli.web_max_connections).unwrap_or(usize::MAX);
    let (max_connections, budget) = file_limit_and_cap(requested, config.targets.len());
    let listener = bind(&config.listen_address).await?;
    let address = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listen address: {e}"))?;
    let telemetry_path = config.telemetry_path.clone();
    let lifecycle = cli.web_enable_lifecycle;
    // A reload must not bring more targets than the descriptors left beside the cap.
    let admit: Admit = Box::new(move |targets| match budget {
        Some(budget) => budget.admit(targets),
        None => Ok(()),
    });
    let reloader = Reloader::start(cli, config, Arc::clone(&web), admit);
    let app = Arc::new(App {
        reloader: Arc::clone(&reloader),
        telemetry_path: telemetry_path.clone(),
        lifecycle,
    });
    let router = Router::new()
        .route("/", get(landing))
        .route(&telemetry_path, get(metrics))
        .route("/probe", get(probe))
        .route("/discovery", get(discover))
        .route("/api/v1/incident", get(incident::api))
        .route("/incident", get(incident::page))
        .route("/-/healthy", get(|| async { "Healthy\n" }))
        .route("/-/ready", get(|| async { "Ready\n" }))
        .route("/-/reload", post(reload))
        .with_state(app);
    let router = web::protect(router, Arc::clone(&web));
    // Before "listening": from then on a signal must find its handler in place.
    let stops = watch_signals(reloader)?;
    tracing::info!(address = %address, max_connections, tls = web.tls_enabled(), "listening");
    connections::run(listener, router, web, max_connections, stops).await;
    tracing::info!("shut down");
    Ok(())
}

/// Raises the soft open-file limit and fits the connection cap under it; the budget
/// is `None` when the limit cannot be read (nothing to hold a reload to).
fn file_limit_and_cap(
    requested: usize,
    targets: usize,
) -> (usize, Option<connections::FileBudget>) {
    match connections::raise_open_file_limit() {
        Ok((soft, hard)) => {
            tracing::info!(soft, hard, "open file limit");
            let cap = connections::connection_cap(requested, soft, targets);
            if cap < requested {
                tracing::warn!(
                    requested,
                    max_connections = cap,
                    open_file_limit = soft,
                    "--web.max-connections lowered to fit the open file limit"
                );
            }
            (cap, Some(connections::FileBudget::new(soft, cap, targets)))
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the open file limit");
            (requested, None)
        }
    }
}

/// SIGTERM and SIGINT stop the exporter (their names arrive on the channel); SIGHUP
/// reloads the configuration.
fn watch_signals(reloader: Arc<Reloader>) -> Result<mpsc::UnboundedReceiver<&'static str>, String> {
    let listen = |kind: SignalKind, name: &str| {
        signal(kind).map_err(|e| format!("cannot listen for {name}: {e}"))
    };
    let mut terminate = listen(SignalKind::terminate(), "SIGTERM")?;
    let mut interrupt = listen(SignalKind::interrupt(), "SIGINT")?;
    let mut hangup = listen(SignalKind::hangup(), "SIGHUP")?;
    let (stops, stopped) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let name = tokio::select! {
                Some(()) = terminate.recv() => "SIGTERM",
                Some(()) = interrupt.recv() => "SIGINT",
                Some(()) = hangup.recv() => {
                    // Its outcome is logged and shown by the reload metrics.
                    let reloader = Arc::clone(&reloader);
                    tokio::spawn(async move { reloader.reload("SIGHUP").await });
                    continue;
                }
                else => return,
            };
            if stops.send(name).is_err() {
                return;
            }
        }
    });
    Ok(stopped)
}

/// Binds `[host]:port`; an empty host means every interface, as in Go exporters.
async fn bind(address: &str) -> Result<tokio::net::TcpListener, String> {
    let address = match address.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => address.to_string(),
    };
    tokio::net::TcpListener::bind(&address)
        .await
        .map_err(|e| format!("cannot listen on {address}: {e}"))
}

/// When the scrape must be answered by: Prometheus's timeout minus a safety offset,
/// or the configured default when the client did not say.
fn deadline(headers: &HeaderMap, collection: &Collection) -> Result<Instant, String> {
    let timeout = match headers.get(SCRAPE_TIMEOUT_HEADER) {
        None => collection.scrape_timeout,
        Some(v) => {
            let secs = v
                .to_str()
                .ok()
                .and_then(|s| s.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s > 0.0)
                .ok_or_else(|| {
                    "invalid X-Prometheus-Scrape-Timeout-Seconds header: expected a positive number of seconds".to_string()
                })?;
            Duration::from_secs_f64(secs.min(3600.0))
        }
    };
    let budget = timeout
        .saturating_sub(collection.scrape_timeout_offset)
        .max(Duration::from_millis(50));
    Ok(Instant::now() + budget)
}

fn format_of(headers: &HeaderMap) -> Format {
    Format::from_accept(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()))
}

/// One scrape: every target's report, gathered under the scrape's deadline, then
/// encoded in the format the client asked for, with the exporter's own state when
/// given.
async fn scrape(
    targets: &[Arc<Target>],
    exporter: Option<ExporterState>,
    headers: &HeaderMap,
    collection: &Collection,
) -> Response {
    let deadline = match deadline(headers, collection) {
        Ok(d) => d,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    };
    let format = format_of(headers);
    let reports = futures::future::join_all(targets.iter().map(|t| t.report(deadline))).await;
    match exposition::encode(reports, exporter, format) {
        Ok(body) => ([(header::CONTENT_TYPE, format.content_type())], body).into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "error encoding metrics\n",
        )
            .into_response(),
    }
}

/// In lazy mode `/metrics` reads no target (that would open every session) and
/// holds only the exporter's own metrics; targets are read through `/probe`.
async fn metrics(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let served = app.reloader.served();
    let state = app.reloader.state();
    let targets: &[Arc<Target>] = if served.collection.lazy() {
        &[]
    } else {
        &served.targets
    };
    scrape(targets, Some(state), &headers, &served.collection).await
}

async fn discover(State(app): State<Arc<App>>) -> Response {
    let body = discovery::body(&app.reloader.served().targets);
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The one `target` parameter of a query string. Given twice it is refused rather
/// than one of the two silently chosen.
fn single_target(params: &[(String, String)]) -> Result<&str, &'static str> {
    let mut names = params.iter().filter(|(k, _)| k == "target");
    match (names.next(), names.next()) {
        (Some((_, name)), None) => Ok(name),
        (None, _) => Err("missing target parameter"),
        (Some(_), Some(_)) => Err("the target parameter is given more than once"),
    }
}

async fn probe(
    State(app): State<Arc<App>>,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let Ok(Query(params)) = query else {
        return (
            StatusCode::BAD_REQUEST,
            "malformed query string; use /probe?target=NAME\n",
        )
            .into_response();
    };
    let name = match single_target(&params) {
        Ok(name) => name,
        Err(why) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("{why}; use /probe?target=NAME\n"),
            )
                .into_response();
        }
    };
    let served = app.reloader.served();
    // The requested name is not echoed back: it could be a DSN pasted by mistake.
    match served.targets.iter().find(|t| t.name() == name) {
        Some(t) => scrape(std::slice::from_ref(t), None, &headers, &served.collection).await,
        None => (
            StatusCode::NOT_FOUND,
            format!(
                "unknown target; configured targets: {}\n",
                served
                    .targets
                    .iter()
                    .map(|t| t.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
            .into_response(),
    }
}

/// `POST /-/reload`, as Prometheus has it: only with the lifecycle flag, 200 once the
/// new configuration is served, 500 with the reason when it was refused.
async fn reload(State(app): State<Arc<App>>) -> Response {
    if !app.lifecycle {
        return (StatusCode::FORBIDDEN, "Lifecycle API is not enabled.\n").into_response();
    }
    match app.reloader.reload("POST /-/reload").await {
        Ok(_) => (StatusCode::OK, "configuration reloaded\n").into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {e}\n"),
        )
            .into_response(),
    }
}

async fn landing(State(app): State<Arc<App>>) -> Html<String> {
    let served = app.reloader.served();
    let metrics = if served.collection.lazy() {
        "the exporter's own; targets through their probes"
    } else {
        "every target"
    };
    let incident = served.collection.incident.enabled;
    let mut probes = String::new();
    for t in &served.targets {
        let name = html_escape(t.name());
        let query = url_encode(t.name());
        probes.push_str(&format!("<li><a href=\"/probe?target={query}\">{name}</a>"));
        // PgBouncer has no incident view to link.
        if incident && t.engine() != Some(crate::model::Engine::PgBouncer) {
            probes.push_str(&format!(
                " · <a href=\"/incident?target={query}\">incident view</a>"
            ));
        }
        probes.push_str("</li>");
    }
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>dbconn_exporter</title></head>\
         <body><h1>dbconn_exporter</h1><p>Database connection saturation for Prometheus.</p>\
         <ul><li><a href=\"{path}\">Metrics</a> ({metrics})</li>\
         <li><a href=\"/discovery\">Service discovery</a> (Prometheus http_sd)</li>\
         <li><a href=\"/-/healthy\">Health</a></li></ul>\
         <h2>Targets</h2><ul>{probes}</ul><p>Version {version}</p></body></html>",
        path = html_escape(&app.telemetry_path),
        version = env!("CARGO_PKG_VERSION"),
    ))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_follows_prometheus_minus_the_offset() {
        let c = Collection::default();
        let mut h = HeaderMap::new();
        h.insert(SCRAPE_TIMEOUT_HEADER, "2".parse().unwrap());
        let d = deadline(&h, &c).unwrap() - Instant::now();
        assert!(d <= Duration::from_millis(1750) && d > Duration::from_millis(1700));
        let d = deadline(&HeaderMap::new(), &c).unwrap() - Instant::now();
        assert!(d > Duration::from_secs(9));
        h.insert(SCRAPE_TIMEOUT_HEADER, "soon".parse().unwrap());
        assert!(deadline(&h, &c).is_err());
        h.insert(SCRAPE_TIMEOUT_HEADER, "-1".parse().unwrap());
        assert!(deadline(&h, &c).is_err());
    }

    #[test]
    fn formats_are_negotiated() {
        let mut h = HeaderMap::new();
        assert_eq!(format_of(&h), Format::Text);
        h.insert(
            header::ACCEPT,
            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
                .parse()
                .unwrap(),
        );
        assert_eq!(format_of(&h), Format::OpenMetrics);
    }

    #[test]
    fn names_are_escaped_for_links() {
        assert_eq!(url_encode("a b/c"), "a%20b%2Fc");
        assert_eq!(html_escape("<x>"), "&lt;x&gt;");
    }
}
