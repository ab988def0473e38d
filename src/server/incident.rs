//! `GET /api/v1/incident?target=NAME` (the report as JSON) and `GET /incident?target=NAME`
//! (the same report as the page): the pid-level view, read on demand through the
//! session the exporter already holds, because at the limit that session is the
//! only way in left.
//!
//! The read waits at most the collection's `scrape_timeout`: no Prometheus header
//! applies here, and a viewer who waits longer learns nothing a retry would not
//! tell. Every answer, errors included, is `no-store` and `nosniff`: the view holds
//! pids, client addresses and perhaps statement text, which no cache should keep.
//! The requested name is never written back: it is whatever the client sent.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use super::App;
use crate::incident::page::{self, View};
use crate::incident::{Report, analyze};
use crate::model::Engine;
use crate::target::IncidentError;

/// Why there is no report to show.
enum Refusal {
    BadRequest(&'static str),
    Disabled,
    Unknown(Vec<String>),
    /// A pooler: no pid-level view to offer.
    NotOffered,
    Unavailable(IncidentError),
}

impl Refusal {
    fn status(&self) -> StatusCode {
        match self {
            Refusal::BadRequest(_) => StatusCode::BAD_REQUEST,
            Refusal::Disabled | Refusal::Unknown(_) => StatusCode::NOT_FOUND,
            Refusal::NotOffered => StatusCode::NOT_IMPLEMENTED,
            Refusal::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn heading(&self) -> &'static str {
        match self {
            Refusal::BadRequest(_) => "Bad request",
            Refusal::Disabled => "Incident view disabled",
            Refusal::Unknown(_) => "Unknown target",
            Refusal::NotOffered => "No incident view for this target",
            Refusal::Unavailable(_) => "Target unavailable",
        }
    }

    fn message(&self, path: &str) -> String {
        match self {
            Refusal::BadRequest(why) => format!("{why}; use {path}?target=NAME"),
            Refusal::Disabled => {
                "the incident view is disabled in this exporter's configuration (incident: {enabled: false})".into()
            }
            Refusal::Unknown(names) => {
                format!("unknown target; configured targets: {}", names.join(", "))
            }
            Refusal::NotOffered => {
                "the incident view is for PostgreSQL and MySQL/MariaDB targets; this target is PgBouncer, whose pools are in /metrics (dbconn_pool_*)".into()
            }
            Refusal::Unavailable(e) => format!("no incident read: {e}"),
        }
    }
}

/// The served configuration's report for the requested target, or why not.
async fn report(
    app: &App,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Report, Refusal> {
    let served = app.reloader.served();
    if !served.collection.incident.enabled {
        return Err(Refusal::Disabled);
    }
    let Ok(Query(params)) = query else {
        return Err(Refusal::BadRequest("malformed query string"));
    };
    let name = super::single_target(&params).map_err(Refusal::BadRequest)?;
    let Some(target) = served.targets.iter().find(|t| t.name() == name) else {
        return Err(Refusal::Unknown(
            served
                .targets
                .iter()
                .map(|t| t.name().to_string())
                .collect(),
        ));
    };
    if target.engine() == Some(Engine::PgBouncer) {
        return Err(Refusal::NotOffered);
    }
    let deadline = Instant::now() + served.collection.scrape_timeout;
    let scene = target
        .incident(deadline)
        .await
        .map_err(Refusal::Unavailable)?;
    let report = analyze(target.name(), &scene, &served.collection.incident.options);
    Ok(report)
}

/// The headers every answer of the view carries.
fn private(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

pub(super) async fn api(
    State(app): State<Arc<App>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let response = match report(&app, query).await {
        Ok(report) => match serde_json::to_string(&report) {
            Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "cannot encode the incident report");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    "error encoding the incident report\n",
                )
                    .into_response()
            }
        },
        Err(refusal) => (
            refusal.status(),
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{}\n", refusal.message("/api/v1/incident")),
        )
            .into_response(),
    };
    private(response)
}

pub(super) async fn page(
    State(app): State<Arc<App>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    // `refresh=off` pauses the reload while someone copies a statement.
    let view = View {
        refresh: !query
            .as_ref()
            .is_ok_and(|Query(p)| p.iter().any(|(k, v)| k == "refresh" && v == "off")),
    };
    let response = match report(&app, query).await {
        Ok(report) => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(report.read_at_unix_seconds);
            html(StatusCode::OK, page::render(&report, now, view))
        }
        Err(refusal) => {
            // A target that is down may come back: that page tries again by itself.
            let retry = matches!(refusal, Refusal::Unavailable(_));
            let body = page::message_page(refusal.heading(), &refusal.message("/incident"), retry);
            html(refusal.status(), body)
        }
    };
    private(response)
}

fn html(status: StatusCode, body: String) -> Response {
    // The policy is ASCII by construction; a page without it is never served.
    match HeaderValue::from_str(page::content_security_policy()) {
        Ok(policy) => (
            status,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                ),
                (header::CONTENT_SECURITY_POLICY, policy),
            ],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot build the incident page's content policy");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "error building the page's content security policy\n",
            )
                .into_response()
        }
    }
}
