//! Scene → report: the holders, the lock tree, advice and relief statements. Pure,
//! so every rule is unit-tested on scenes built by hand.

use std::collections::BTreeMap;
use std::time::Duration;

use super::report::{Report, SCHEMA_VERSION, SessionView, Usage};
use super::scene::{Scene, SessionRow};
use crate::model::State;

/// What the analysis is asked for, from the configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// How many sessions the report lists.
    pub sessions_limit: usize,
    /// Idle sessions of the top holder older than this are offered for termination.
    pub relief_idle_after: Duration,
    /// Statements running longer than this are offered for cancelling.
    pub relief_active_after: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            sessions_limit: 50,
            relief_idle_after: Duration::from_secs(300),
            relief_active_after: Duration::from_secs(60),
        }
    }
}

/// The name of a session's state in the report.
pub fn state_name(state: Option<State>) -> &'static str {
    state.map_or("hidden", State::as_str)
}

pub fn analyze(target: &str, scene: &Scene, options: &Options) -> Report {
    let snapshot = &scene.snapshot;
    let sessions = snapshot.sessions.by_state.total();
    let usage = Usage {
        sessions,
        limit: snapshot
            .max_connections
            .saturating_sub(snapshot.reserved_connections),
        max_connections: snapshot.max_connections,
        reserved: snapshot.reserved_connections,
        ratio: snapshot.usage_ratio(),
    };
    let clients: Vec<&SessionRow> = scene.sessions.iter().collect();
    let mut states: BTreeMap<String, u64> = State::ALL
        .iter()
        .map(|s| (s.as_str().to_string(), 0))
        .collect();
    states.insert("hidden".to_string(), 0);
    for s in &clients {
        *states.entry(state_name(s.state).to_string()).or_default() += 1;
    }
    let mut listed = clients.clone();
    listed.sort_by(|a, b| {
        b.state_seconds
            .unwrap_or(0.0)
            .total_cmp(&a.state_seconds.unwrap_or(0.0))
            .then(a.pid.cmp(&b.pid))
    });
    let sessions_view = listed
        .iter()
        .take(options.sessions_limit)
        .map(|s| view(s))
        .collect();
    Report {
        schema_version: SCHEMA_VERSION,
        target: target.to_string(),
        engine: scene.engine.as_str().to_string(),
        version: scene.version.clone(),
        read_at_unix_seconds: scene.read_at_unix_seconds,
        usage,
        states,
        holders: Vec::new(),
        sessions: sessions_view,
        sessions_total: clients.len() as u64,
        root_blockers: Vec::new(),
        advice: Vec::new(),
        relief: Vec::new(),
        notes: scene.notes.clone(),
    }
}

fn view(s: &SessionRow) -> SessionView {
    SessionView {
        pid: s.pid,
        application: s.application.clone(),
        user: s.user.clone(),
        database: s.database.clone(),
        client: s.client.clone(),
        state: state_name(s.state).to_string(),
        state_seconds: s.state_seconds,
        transaction_seconds: s.transaction_seconds,
        wait_event: s.wait_event.clone(),
        blocked_by: s.blocked_by.clone(),
        query: s.query.clone(),
        own: s.own,
    }
}
