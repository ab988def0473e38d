//! Scene → report: the holders, the lock tree, advice and relief statements. Pure,
//! so every rule is unit-tested on scenes built by hand.
//!
//! Advice and relief are only what the scene supports: a setting is advised only
//! when it is off (or left at a default that does harm) while the sessions show the
//! harm, with the numbers in its `why`. Relief statements name exact pids and, on
//! PostgreSQL, re-check at run time that each pid is still the session that was
//! seen (same state, same user, old enough), because a pid can be reused and an
//! idle session can wake up between the read and the moment someone pastes the
//! statement. The exporter's own session, replication connections and superusers are
//! never offered, and when the engine could not tell superusers apart nothing is
//! offered for termination at all.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use super::report::{
    Advice, Holder, Relief, Report, RootBlocker, SCHEMA_VERSION, SessionView, Usage, Waiter,
};
use super::scene::{Scene, SessionRow};
use crate::model::{Engine, State};

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

/// How many holders the report lists; the rest are counted in a note.
pub const HOLDERS_LIMIT: usize = 20;

/// How many root blockers get a termination statement each.
pub const ROOT_RELIEF_LIMIT: usize = 10;

/// How many of the longest-running statements are offered for cancelling.
pub const CANCEL_LIMIT: usize = 5;

/// How many pids one relief statement names, so that a statement stays short
/// enough to paste into any client.
pub const PIDS_PER_STATEMENT: usize = 100;

/// A session idle in a transaction longer than this is worth a timeout.
const IDLE_IN_TRANSACTION_HARM_SECONDS: f64 = 60.0;

/// How many long-idle sessions make an idle timeout worth advising.
const MANY_IDLE: usize = 5;

/// MySQL's and MariaDB's default `wait_timeout`: eight hours.
const MYSQL_DEFAULT_WAIT_TIMEOUT: f64 = 28800.0;

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

    let mut notes = scene.notes.clone();
    let (holders, all_holders) = holders(&scene.sessions);
    if all_holders > holders.len() {
        notes.push(format!(
            "holders: the {} largest of {all_holders} are listed",
            holders.len()
        ));
    }
    let (root_blockers, cycles) = root_blockers(&scene.sessions);
    for cycle in &cycles {
        notes.push(format!(
            "sessions {} wait on each other (a deadlock; the server ends it by itself once deadlock detection runs); listed once, under the first",
            join_pids(cycle, ", ")
        ));
    }
    let advice = advice(scene, &holders, &root_blockers, options);
    let relief = if !scene.superusers_known {
        notes.push(
            "relief: no session is offered for termination or cancelling, because the read could not tell superusers apart"
                .to_string(),
        );
        Vec::new()
    } else {
        relief(scene, &holders, &root_blockers, options)
    };

    Report {
        schema_version: SCHEMA_VERSION,
        target: target.to_string(),
        engine: scene.engine.as_str().to_string(),
        version: scene.version.clone(),
        read_at_unix_seconds: scene.read_at_unix_seconds,
        usage,
        states,
        holders,
        sessions: sessions_view,
        sessions_total: clients.len() as u64,
        root_blockers,
        advice,
        relief,
        notes,
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

fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

type HolderKey = (String, String, String, String);

fn holder_key(s: &SessionRow) -> HolderKey {
    (
        s.application.clone(),
        s.user.clone(),
        s.database.clone(),
        s.client.clone(),
    )
}

/// The client sessions (not the exporter's own) grouped by who holds them, largest
/// first; ties go to the holder with more idle sessions, then by name. Returns the
/// first [`HOLDERS_LIMIT`] and how many there are in all.
fn holders(sessions: &[SessionRow]) -> (Vec<Holder>, usize) {
    let mut groups: BTreeMap<HolderKey, Holder> = BTreeMap::new();
    for s in sessions.iter().filter(|s| !s.own) {
        let h = groups.entry(holder_key(s)).or_insert_with(|| Holder {
            application: s.application.clone(),
            user: s.user.clone(),
            database: s.database.clone(),
            client: s.client.clone(),
            sessions: 0,
            states: BTreeMap::new(),
            idle_ratio: 0.0,
            oldest_idle_seconds: None,
            oldest_transaction_seconds: None,
        });
        h.sessions += 1;
        *h.states.entry(state_name(s.state).to_string()).or_default() += 1;
        if s.state == Some(State::Idle) {
            h.oldest_idle_seconds = max_opt(h.oldest_idle_seconds, s.state_seconds);
        }
        h.oldest_transaction_seconds = max_opt(h.oldest_transaction_seconds, s.transaction_seconds);
    }
    let mut all: Vec<Holder> = groups
        .into_values()
        .map(|mut h| {
            let idle = idle_count(&h);
            h.idle_ratio = if h.sessions == 0 {
                0.0
            } else {
                idle as f64 / h.sessions as f64
            };
            h
        })
        .collect();
    all.sort_by(|a, b| {
        b.sessions
            .cmp(&a.sessions)
            .then(idle_count(b).cmp(&idle_count(a)))
            .then_with(|| {
                (&a.application, &a.user, &a.database, &a.client).cmp(&(
                    &b.application,
                    &b.user,
                    &b.database,
                    &b.client,
                ))
            })
    });
    let total = all.len();
    all.truncate(HOLDERS_LIMIT);
    (all, total)
}

fn idle_count(h: &Holder) -> u64 {
    h.states.get(State::Idle.as_str()).copied().unwrap_or(0)
}

fn is_holder(s: &SessionRow, h: &Holder) -> bool {
    !s.own
        && s.application == h.application
        && s.user == h.user
        && s.database == h.database
        && s.client == h.client
}

/// The lock trees: their roots, each with the sessions waiting behind it, and the
/// deadlock cycles found (each listed once, under its first member).
fn root_blockers(sessions: &[SessionRow]) -> (Vec<RootBlocker>, Vec<Vec<i64>>) {
    let by_pid: HashMap<i64, &SessionRow> = sessions.iter().map(|s| (s.pid, s)).collect();
    // blocker → the sessions waiting on it, in pid order.
    let mut waiters_of: BTreeMap<i64, BTreeSet<i64>> = BTreeMap::new();
    for s in sessions {
        for &b in &s.blocked_by {
            if b != s.pid {
                waiters_of.entry(b).or_default().insert(s.pid);
            }
        }
    }
    let waits = |pid: i64| -> bool {
        by_pid
            .get(&pid)
            .is_some_and(|s| s.blocked_by.iter().any(|&b| b != pid))
    };
    let roots: Vec<i64> = waiters_of.keys().copied().filter(|&b| !waits(b)).collect();
    let mut covered: BTreeSet<i64> = BTreeSet::new();
    let mut trees: Vec<(i64, Vec<Waiter>)> = Vec::new();
    for &root in &roots {
        let tree = tree(root, &waiters_of, &by_pid);
        covered.insert(root);
        covered.extend(tree.iter().map(|w| w.pid));
        trees.push((root, tree));
    }
    // What no root reaches waits, through every path, on a cycle: take each cycle
    // once, rooted at its lowest pid.
    let mut cycles = Vec::new();
    while let Some(start) = waiters_of
        .values()
        .flatten()
        .copied()
        .find(|p| !covered.contains(p))
    {
        let mut cycle = find_cycle(start, &by_pid, &covered);
        cycle.sort_unstable();
        let root = cycle.first().copied().unwrap_or(start);
        let tree = tree(root, &waiters_of, &by_pid);
        covered.insert(root);
        covered.insert(start);
        covered.extend(tree.iter().map(|w| w.pid));
        trees.push((root, tree));
        if cycle.len() > 1 {
            cycles.push(cycle);
        }
    }
    let mut out: Vec<RootBlocker> = trees
        .into_iter()
        .map(|(pid, waiters)| {
            let direct = waiters.iter().filter(|w| w.waits_for == pid).count() as u64;
            let row = by_pid.get(&pid);
            RootBlocker {
                pid,
                application: row.map(|s| s.application.clone()).unwrap_or_default(),
                user: row.map(|s| s.user.clone()).unwrap_or_default(),
                database: row.map(|s| s.database.clone()).unwrap_or_default(),
                client: row.map(|s| s.client.clone()).unwrap_or_default(),
                state: state_name(row.and_then(|s| s.state)).to_string(),
                state_seconds: row.and_then(|s| s.state_seconds),
                transaction_seconds: row.and_then(|s| s.transaction_seconds),
                blocked_directly: direct,
                blocked_total: waiters.len() as u64,
                waiters,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.blocked_total
            .cmp(&a.blocked_total)
            .then(
                b.transaction_seconds
                    .unwrap_or(0.0)
                    .total_cmp(&a.transaction_seconds.unwrap_or(0.0)),
            )
            .then(a.pid.cmp(&b.pid))
    });
    (out, cycles)
}

/// Everyone waiting behind `root`, breadth first, each once, with the session it
/// waits on in the tree.
fn tree(
    root: i64,
    waiters_of: &BTreeMap<i64, BTreeSet<i64>>,
    by_pid: &HashMap<i64, &SessionRow>,
) -> Vec<Waiter> {
    let mut seen: BTreeSet<i64> = BTreeSet::from([root]);
    let mut queue = VecDeque::from([root]);
    let mut out = Vec::new();
    while let Some(blocker) = queue.pop_front() {
        for &w in waiters_of.get(&blocker).into_iter().flatten() {
            if seen.insert(w) {
                out.push(Waiter {
                    pid: w,
                    waits_for: blocker,
                    wait_seconds: by_pid.get(&w).and_then(|s| s.state_seconds),
                });
                queue.push_back(w);
            }
        }
    }
    out
}

/// Follows what `start` waits on (the first blocker not already covered) until a
/// session repeats: the sessions from that repeat on are a cycle.
fn find_cycle(start: i64, by_pid: &HashMap<i64, &SessionRow>, covered: &BTreeSet<i64>) -> Vec<i64> {
    let mut path: Vec<i64> = Vec::new();
    let mut at = start;
    loop {
        if let Some(i) = path.iter().position(|&p| p == at) {
            return path.split_off(i);
        }
        path.push(at);
        let next = by_pid.get(&at).and_then(|s| {
            s.blocked_by
                .iter()
                .copied()
                .find(|&b| b != at && !covered.contains(&b))
        });
        match next {
            Some(n) => at = n,
            // Not a cycle after all (cannot happen when every root was covered):
            // the last session reached stands as the root.
            None => return vec![at],
        }
    }
}

fn setting(scene: &Scene, name: &str) -> Option<f64> {
    scene
        .snapshot
        .timeouts
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| *v)
}

/// `ALTER ROLE`'s identifier: double quotes, an inner `"` doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A PostgreSQL string literal that reads the same whatever the session that runs
/// it has set: an escape string (`E'…'`), a backslash and a quote doubled. A plain
/// `'…'` literal reads a backslash as an escape under
/// `standard_conforming_strings = off`, and a name ending in `\'` would then close
/// the literal and let the rest of the name into the statement.
pub fn quote_literal(value: &str) -> String {
    format!("E'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

/// A duration for a reader: `45 min`, `2.5 h`, `30 s`.
pub fn human_seconds(seconds: f64) -> String {
    if seconds >= 7200.0 {
        format!("{:.1} h", seconds / 3600.0)
    } else if seconds >= 120.0 {
        format!("{:.0} min", seconds / 60.0)
    } else {
        format!("{seconds:.0} s")
    }
}

fn join_pids(pids: &[i64], sep: &str) -> String {
    pids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(sep)
}

/// Sessions that may be offered for relief: not the exporter's own, not a
/// replication connection, not a superuser, and a real pid.
fn offerable(s: &SessionRow) -> bool {
    !s.own && !s.replication && !s.superuser && s.pid > 0
}

fn client_sessions(scene: &Scene) -> impl Iterator<Item = &SessionRow> {
    scene.sessions.iter().filter(|s| !s.own && !s.replication)
}

fn advice(
    scene: &Scene,
    holders: &[Holder],
    roots: &[RootBlocker],
    options: &Options,
) -> Vec<Advice> {
    let mut out = Vec::new();
    match scene.engine {
        Engine::PostgreSql => postgres_advice(scene, holders, options, &mut out),
        Engine::MySql | Engine::MariaDb => mysql_advice(scene, roots, options, &mut out),
        // No PgBouncer read produces a scene: the incident view is not offered there.
        Engine::PgBouncer => {}
    }
    if let Some(a) = pool_advice(scene, holders) {
        out.push(a);
    }
    out
}

/// The user holding the most of `rows`; ties go to the name first in order.
fn top_user<'a>(rows: &[&'a SessionRow]) -> Option<&'a str> {
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for s in rows {
        *count.entry(s.user.as_str()).or_default() += 1;
    }
    let mut best: Option<(&str, usize)> = None;
    for (user, n) in count {
        if best.is_none_or(|(_, m)| n > m) {
            best = Some((user, n));
        }
    }
    best.map(|(u, _)| u)
}

/// A user name a statement may carry: one the role could see.
fn nameable(user: &str) -> bool {
    !user.is_empty() && !user.starts_with('(') && !user.chars().any(char::is_control)
}

fn longest(rows: &[&SessionRow]) -> f64 {
    rows.iter()
        .filter_map(|s| s.state_seconds)
        .fold(0.0, f64::max)
}

fn postgres_advice(scene: &Scene, holders: &[Holder], options: &Options, out: &mut Vec<Advice>) {
    if setting(scene, "idle_in_transaction_session_timeout") == Some(0.0) {
        let stuck: Vec<&SessionRow> = client_sessions(scene)
            .filter(|s| {
                matches!(
                    s.state,
                    Some(State::IdleInTransaction | State::IdleInTransactionAborted)
                ) && s.state_seconds.unwrap_or(0.0) > IDLE_IN_TRANSACTION_HARM_SECONDS
            })
            .collect();
        if !stuck.is_empty() {
            let mut sql = vec![
                "ALTER SYSTEM SET idle_in_transaction_session_timeout = '5min';".to_string(),
                "SELECT pg_reload_conf();".to_string(),
            ];
            let mut role_note = String::new();
            if let Some(user) = top_user(&stuck).filter(|u| nameable(u)) {
                sql.push(format!(
                    "ALTER ROLE {} SET idle_in_transaction_session_timeout = '5min';",
                    quote_ident(user)
                ));
                role_note = format!(
                    " Or only for the role holding most of them, {user:?}, with ALTER ROLE (takes effect for its new sessions)."
                );
            }
            out.push(Advice {
                id: "idle_in_transaction_session_timeout_unset".into(),
                title: "Set idle_in_transaction_session_timeout".into(),
                why: format!(
                    "idle_in_transaction_session_timeout is 0 (off) while {} session(s) sit idle in a transaction for more than {:.0} s (the longest {}); such a session holds its slot, its locks and its snapshot until the application comes back. With a timeout the server ends it.{role_note}",
                    stuck.len(),
                    IDLE_IN_TRANSACTION_HARM_SECONDS,
                    human_seconds(longest(&stuck))
                ),
                sql,
            });
        }
    }
    if setting(scene, "idle_session_timeout") == Some(0.0)
        && let Some(top) = holders.first()
    {
        let idle_after = options.relief_idle_after.as_secs_f64();
        let idle: Vec<&SessionRow> = scene
            .sessions
            .iter()
            .filter(|s| {
                is_holder(s, top)
                    && s.state == Some(State::Idle)
                    && s.state_seconds.unwrap_or(0.0) > idle_after
            })
            .collect();
        if idle.len() >= MANY_IDLE && nameable(&top.user) {
            out.push(Advice {
                id: "idle_session_timeout_unset".into(),
                title: format!("Set idle_session_timeout for role {:?}", top.user),
                why: format!(
                    "idle_session_timeout is 0 (off) while the largest holder ({}) keeps {} session(s) idle for more than {} (the longest {}). A timeout for its role makes the server close them; set it above the pool's own idle timeout so that the pool closes them first, and not for roles behind a transaction-pooling proxy.",
                    holder_name(top),
                    idle.len(),
                    human_seconds(idle_after),
                    human_seconds(longest(&idle))
                ),
                sql: vec![format!(
                    "ALTER ROLE {} SET idle_session_timeout = '15min';",
                    quote_ident(&top.user)
                )],
            });
        }
    }
    if setting(scene, "statement_timeout") == Some(0.0) {
        let active_after = options.relief_active_after.as_secs_f64();
        let mut running: Vec<&SessionRow> = client_sessions(scene)
            .filter(|s| {
                !s.superuser
                    && s.blocked_by.is_empty()
                    && s.state == Some(State::Active)
                    && s.state_seconds.unwrap_or(0.0) > active_after
            })
            .collect();
        running.sort_by(|a, b| {
            b.state_seconds
                .unwrap_or(0.0)
                .total_cmp(&a.state_seconds.unwrap_or(0.0))
                .then(a.pid.cmp(&b.pid))
        });
        if let Some(first) = running.first() {
            let mut sql = Vec::new();
            if nameable(&first.user) {
                sql.push(format!(
                    "ALTER ROLE {} SET statement_timeout = '5min';",
                    quote_ident(&first.user)
                ));
            }
            out.push(Advice {
                id: "statement_timeout_unset".into(),
                title: "Set statement_timeout for the roles that run long statements".into(),
                why: format!(
                    "statement_timeout is 0 (off) while {} statement(s) have run for more than {} (the longest {}, pid {}, role {:?}). Per role, set it above the longest statement that role legitimately runs.",
                    running.len(),
                    human_seconds(active_after),
                    human_seconds(first.state_seconds.unwrap_or(0.0)),
                    first.pid,
                    first.user
                ),
                sql,
            });
        }
    }
}

fn mysql_advice(scene: &Scene, roots: &[RootBlocker], options: &Options, out: &mut Vec<Advice>) {
    let idle_after = options.relief_idle_after.as_secs_f64();
    if let Some(wait) = setting(scene, "wait_timeout")
        && wait >= MYSQL_DEFAULT_WAIT_TIMEOUT
    {
        let idle: Vec<&SessionRow> = client_sessions(scene)
            .filter(|s| s.state == Some(State::Idle) && s.state_seconds.unwrap_or(0.0) > idle_after)
            .collect();
        if idle.len() >= MANY_IDLE {
            out.push(Advice {
                id: "wait_timeout_default".into(),
                title: "Lower wait_timeout".into(),
                why: format!(
                    "wait_timeout is {} ({}): an idle connection keeps its slot that long. {} thread(s) have slept for more than {} (the longest {}). SET GLOBAL applies to new connections; put it in the server's configuration file too so that a restart keeps it. Keep it above the applications' pool idle timeout.",
                    wait,
                    human_seconds(wait),
                    idle.len(),
                    human_seconds(idle_after),
                    human_seconds(longest(&idle))
                ),
                sql: vec![
                    "SET GLOBAL wait_timeout = 600;".into(),
                    "-- my.cnf, section [mysqld]: wait_timeout = 600".into(),
                ],
            });
        }
    }
    if scene.engine == Engine::MariaDb && setting(scene, "idle_transaction_timeout") == Some(0.0) {
        let stuck: Vec<&SessionRow> = client_sessions(scene)
            .filter(|s| {
                s.state == Some(State::IdleInTransaction)
                    && s.state_seconds.unwrap_or(0.0) > IDLE_IN_TRANSACTION_HARM_SECONDS
            })
            .collect();
        if !stuck.is_empty() {
            out.push(Advice {
                id: "idle_transaction_timeout_unset".into(),
                title: "Set idle_transaction_timeout".into(),
                why: format!(
                    "idle_transaction_timeout is 0 (off) while {} thread(s) sleep inside an open transaction for more than {:.0} s (the longest {}), holding their locks. With a timeout the server closes them.",
                    stuck.len(),
                    IDLE_IN_TRANSACTION_HARM_SECONDS,
                    human_seconds(longest(&stuck))
                ),
                sql: vec![
                    "SET GLOBAL idle_transaction_timeout = 300;".into(),
                    "-- my.cnf, section [mysqld]: idle_transaction_timeout = 300".into(),
                ],
            });
        }
    }
    let waiting: u64 = roots.iter().map(|r| r.blocked_total).sum();
    if let Some(lock_wait) = setting(scene, "innodb_lock_wait_timeout")
        && lock_wait > 50.0
        && waiting > 0
    {
        out.push(Advice {
            id: "innodb_lock_wait_timeout_high".into(),
            title: "Lower innodb_lock_wait_timeout".into(),
            why: format!(
                "innodb_lock_wait_timeout is {lock_wait} s while {waiting} thread(s) wait on row locks: each keeps its slot for up to that long before giving up. The default is 50 s."
            ),
            sql: vec![
                "SET GLOBAL innodb_lock_wait_timeout = 50;".into(),
                "-- my.cnf, section [mysqld]: innodb_lock_wait_timeout = 50".into(),
            ],
        });
    }
}

fn holder_name(h: &Holder) -> String {
    let app = if h.application.is_empty() {
        "(no application name)"
    } else {
        h.application.as_str()
    };
    let from = if h.client.is_empty() {
        "local socket"
    } else {
        h.client.as_str()
    };
    format!(
        "{app:?}, user {:?}, database {:?}, from {from}",
        h.user, h.database
    )
}

/// One holder with most of the slots, most of them idle: its pool is larger than
/// what it uses.
fn pool_advice(scene: &Scene, holders: &[Holder]) -> Option<Advice> {
    let top = holders.first()?;
    let limit = scene
        .snapshot
        .max_connections
        .saturating_sub(scene.snapshot.reserved_connections);
    if limit == 0 || top.sessions * 2 <= limit || top.idle_ratio < 0.5 {
        return None;
    }
    let idle = idle_count(top);
    let busy = top.sessions.saturating_sub(idle);
    let suggested = (busy * 2).max(busy + 5).min(top.sessions);
    Some(Advice {
        id: "pool_oversized".into(),
        title: format!("Shrink the connection pool of {:?}", top.application),
        why: format!(
            "One holder ({}) has {} of the {limit} slots ordinary logins may take ({:.0} %), and {idle} of them ({:.0} %) are idle (the longest for {}). Only {busy} are in use now: a pool maximum of about {suggested} per instance covers that with room to spare, and a pool idle timeout (or minimum idle size) below the server's lets the rest go. Set it in the application's pool configuration.",
            holder_name(top),
            top.sessions,
            top.sessions as f64 * 100.0 / limit as f64,
            top.idle_ratio * 100.0,
            human_seconds(top.oldest_idle_seconds.unwrap_or(0.0)),
        ),
        sql: Vec::new(),
    })
}

/// Where relief statements must be run from when the server is full.
fn admin_route(scene: &Scene) -> String {
    match scene.engine {
        Engine::PostgreSql => format!(
            "At a full server run it from a superuser session: PostgreSQL keeps {} slot(s) for superusers (superuser_reserved_connections, and from 16 on reserved_connections for roles with pg_use_reserved_connections); an ordinary login is refused.",
            scene.snapshot.reserved_connections
        ),
        Engine::MySql | Engine::MariaDb => {
            "At a full server run it from an admin session: the server keeps one extra connection for a user with CONNECTION_ADMIN (MySQL) or SUPER; an ordinary login is refused.".into()
        }
        Engine::PgBouncer => {
            "PgBouncer admits its admin console (database pgbouncer) past max_client_conn: run it there.".into()
        }
    }
}

fn relief(
    scene: &Scene,
    holders: &[Holder],
    roots: &[RootBlocker],
    options: &Options,
) -> Vec<Relief> {
    let mut out = Vec::new();
    let route = admin_route(scene);
    let postgres = scene.engine == Engine::PostgreSql;

    // (a) the top holder's long-idle sessions
    if let Some(top) = holders.first() {
        let idle_after = options.relief_idle_after.as_secs_f64();
        let mut pids: Vec<i64> = scene
            .sessions
            .iter()
            .filter(|s| {
                is_holder(s, top)
                    && offerable(s)
                    && s.state == Some(State::Idle)
                    && s.state_seconds.is_some_and(|t| t > idle_after)
            })
            .map(|s| s.pid)
            .collect();
        pids.sort_unstable();
        if !pids.is_empty() {
            let secs = options.relief_idle_after.as_secs();
            let sql = if postgres {
                let also = same_origin_sql(&top.user, &top.application);
                pids.chunks(PIDS_PER_STATEMENT)
                    .map(|chunk| {
                        format!(
                            "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid IN ({}) AND state = 'idle' AND state_change < now() - interval '{secs} seconds'{also};",
                            join_pids(chunk, ", ")
                        )
                    })
                    .collect()
            } else {
                pids.iter().map(|p| format!("KILL {p};")).collect()
            };
            let recheck = if postgres {
                " The statement re-checks each pid: still idle, idle that long, same user and application, so a reused pid or a session that woke up is left alone."
            } else {
                " KILL cannot re-check: run it promptly, after a fresh look if minutes have passed."
            };
            out.push(Relief {
                id: "terminate_idle_of_top_holder".into(),
                title: format!(
                    "Terminate {} idle session(s) of the largest holder",
                    pids.len()
                ),
                why: format!(
                    "The largest holder ({}) has {} session(s) idle for more than {}; ending them frees their slots, and a pool opens new ones when it needs them.{recheck} {route}",
                    holder_name(top),
                    pids.len(),
                    human_seconds(idle_after),
                ),
                pids,
                sql,
            });
        }
    }

    // (b) the longest-running statements; one waiting on a lock is freed by (c)
    let active_after = options.relief_active_after.as_secs_f64();
    let mut running: Vec<&SessionRow> = scene
        .sessions
        .iter()
        .filter(|s| {
            offerable(s)
                && s.blocked_by.is_empty()
                && s.state == Some(State::Active)
                && s.state_seconds.is_some_and(|t| t > active_after)
        })
        .collect();
    running.sort_by(|a, b| {
        b.state_seconds
            .unwrap_or(0.0)
            .total_cmp(&a.state_seconds.unwrap_or(0.0))
            .then(a.pid.cmp(&b.pid))
    });
    running.truncate(CANCEL_LIMIT);
    if !running.is_empty() {
        let pids: Vec<i64> = running.iter().map(|s| s.pid).collect();
        let secs = options.relief_active_after.as_secs();
        let sql = if postgres {
            // Each pid tied to the user and application seen with it: a pid reused
            // meanwhile (an administrator's maintenance statement) is left alone.
            let each: Vec<String> = running
                .iter()
                .map(|s| {
                    format!(
                        "(pid = {}{})",
                        s.pid,
                        same_origin_sql(&s.user, &s.application)
                    )
                })
                .collect();
            vec![format!(
                "SELECT pid, pg_cancel_backend(pid) FROM pg_stat_activity WHERE ({}) AND state = 'active' AND state_change < now() - interval '{secs} seconds';",
                each.join(" OR ")
            )]
        } else {
            pids.iter().map(|p| format!("KILL QUERY {p};")).collect()
        };
        out.push(Relief {
            id: "cancel_longest_running".into(),
            title: format!("Cancel the {} longest-running statement(s)", pids.len()),
            why: format!(
                "{} statement(s) have run for more than {} (the longest {}). Cancelling ends the statement, not the session; the application sees an error.{} {route}",
                pids.len(),
                human_seconds(active_after),
                human_seconds(longest(&running)),
                if postgres {
                    " The statement re-checks that each pid still runs a statement started that long ago, as the same user and application."
                } else {
                    ""
                }
            ),
            pids,
            sql,
        });
    }

    // (c) each root blocker
    let by_pid: HashMap<i64, &SessionRow> = scene.sessions.iter().map(|s| (s.pid, s)).collect();
    for root in roots.iter().take(ROOT_RELIEF_LIMIT) {
        let Some(row) = by_pid.get(&root.pid) else {
            continue;
        };
        if !offerable(row) {
            continue;
        }
        let sql = if postgres {
            let age = match row.transaction_seconds {
                Some(t) => format!(
                    " AND xact_start < now() - interval '{} seconds'",
                    t.max(0.0).floor() as u64
                ),
                None => " AND xact_start IS NOT NULL".to_string(),
            };
            vec![format!(
                "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = {}{age}{};",
                root.pid,
                same_origin_sql(&row.user, &row.application)
            )]
        } else {
            vec![format!("KILL {};", root.pid)]
        };
        out.push(Relief {
            id: "terminate_root_blocker".into(),
            title: format!(
                "Terminate root blocker {} ({} waiting behind it)",
                root.pid, root.blocked_total
            ),
            why: format!(
                "Session {} ({}, {}{}) holds the lock {} session(s) wait on, {} of them directly, and waits on none itself. Ending it rolls its transaction back and lets them proceed.{} {route}",
                root.pid,
                root.state,
                format_args!("user {:?}", row.user),
                row.transaction_seconds
                    .map(|t| format!(", transaction open for {}", human_seconds(t)))
                    .unwrap_or_default(),
                root.blocked_total,
                root.blocked_directly,
                if postgres {
                    " The statement re-checks that the pid still has a transaction at least that old."
                } else {
                    ""
                }
            ),
            pids: vec![root.pid],
            sql,
        });
    }
    out
}

/// The extra conditions that tie a pid to the session that was seen.
fn same_origin_sql(user: &str, application: &str) -> String {
    let mut s = String::new();
    if nameable(user) {
        s.push_str(&format!(" AND usename = {}", quote_literal(user)));
    }
    if !application.chars().any(char::is_control) && !application.starts_with('(') {
        s.push_str(&format!(
            " AND application_name = {}",
            quote_literal(application)
        ));
    }
    s
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{Origin, SessionGroup, Snapshot, summarize_sessions};

    pub(crate) fn row(pid: i64, app: &str, user: &str, state: State, secs: f64) -> SessionRow {
        SessionRow {
            pid,
            application: app.into(),
            user: user.into(),
            database: "payments".into(),
            client: "10.0.0.5".into(),
            state: Some(state),
            state_seconds: Some(secs),
            transaction_seconds: None,
            connection_seconds: Some(secs + 10.0),
            wait_event: None,
            blocked_by: Vec::new(),
            query: None,
            superuser: false,
            replication: false,
            own: false,
        }
    }

    pub(crate) fn scene(
        engine: Engine,
        max: u64,
        reserved: u64,
        timeouts: &[(&str, f64)],
        sessions: Vec<SessionRow>,
    ) -> Scene {
        let groups = sessions.iter().map(|s| SessionGroup {
            hidden: s.state.is_none(),
            origin: Origin {
                database: s.database.clone(),
                user: s.user.clone(),
                application: s.application.clone(),
            },
            state: s.state.unwrap_or(State::Other),
            count: 1,
            max_state_seconds: s.state_seconds.unwrap_or(0.0),
            sum_age_seconds: 0.0,
            max_age_seconds: 0.0,
            oldest_transaction_seconds: s.transaction_seconds,
            over: Vec::new(),
        });
        let facts = summarize_sessions(groups.collect::<Vec<_>>(), &[], 10);
        let mut snapshot = Snapshot::new(engine, "16.4", max, reserved, facts);
        snapshot.timeouts = timeouts.iter().map(|(n, v)| (n.to_string(), *v)).collect();
        Scene {
            engine,
            version: "16.4".into(),
            snapshot,
            sessions,
            notes: Vec::new(),
            superusers_known: true,
            read_at_unix_seconds: 1_700_000_000.0,
        }
    }

    const PG_OFF: &[(&str, f64)] = &[
        ("idle_in_transaction_session_timeout", 0.0),
        ("idle_session_timeout", 0.0),
        ("lock_timeout", 0.0),
        ("statement_timeout", 0.0),
    ];

    /// PayFlow holds 85 of the 100 ordinary slots, 80 of them idle for about 45
    /// minutes; one of its sessions idles in a transaction holding a row lock that
    /// three others wait on, two levels deep.
    pub(crate) fn payflow_sessions() -> Vec<SessionRow> {
        let mut v = Vec::new();
        for pid in 1001..=1078 {
            v.push(row(pid, "PayFlow", "payflow", State::Idle, 2700.0));
        }
        // Idle, but not yet past relief_idle_after.
        v.push(row(1079, "PayFlow", "payflow", State::Idle, 100.0));
        // Same holder, but a superuser: never offered.
        v.push(SessionRow {
            superuser: true,
            ..row(1080, "PayFlow", "payflow", State::Idle, 2700.0)
        });
        v.push(SessionRow {
            transaction_seconds: Some(1300.7),
            ..row(2001, "PayFlow", "payflow", State::IdleInTransaction, 1200.0)
        });
        v.push(SessionRow {
            transaction_seconds: Some(95.0),
            ..row(2002, "PayFlow", "payflow", State::IdleInTransaction, 90.0)
        });
        v.push(SessionRow {
            blocked_by: vec![2001],
            transaction_seconds: Some(400.0),
            wait_event: Some("Lock:transactionid".into()),
            ..row(3001, "PayFlow", "payflow", State::Active, 400.0)
        });
        v.push(SessionRow {
            blocked_by: vec![3001],
            transaction_seconds: Some(350.0),
            ..row(3002, "PayFlow", "payflow", State::Active, 350.0)
        });
        v.push(SessionRow {
            blocked_by: vec![3001],
            transaction_seconds: Some(30.0),
            ..row(3003, "PayFlow", "payflow", State::Active, 30.0)
        });
        for (pid, secs) in [
            (4001, 900.0),
            (4002, 600.0),
            (4003, 200.0),
            (4004, 120.0),
            (4005, 70.0),
            (4006, 30.0),
        ] {
            v.push(SessionRow {
                client: "10.0.0.9".into(),
                ..row(pid, "reports", "reporter", State::Active, secs)
            });
        }
        for pid in 4007..=4010 {
            v.push(SessionRow {
                client: "10.0.0.9".into(),
                ..row(pid, "reports", "reporter", State::Idle, 50.0)
            });
        }
        v.push(SessionRow {
            superuser: true,
            client: String::new(),
            ..row(5001, "psql", "postgres", State::Active, 5000.0)
        });
        v.push(SessionRow {
            replication: true,
            client: "10.0.0.20".into(),
            ..row(5002, "walreceiver", "replicator", State::Active, 10000.0)
        });
        v.push(SessionRow {
            own: true,
            client: String::new(),
            ..row(
                5003,
                "dbconn_exporter",
                "dbconn_exporter",
                State::Active,
                0.1,
            )
        });
        for pid in [6001, 6002] {
            v.push(SessionRow {
                client: String::new(),
                ..row(pid, "psql", "alice", State::Idle, 20.0)
            });
        }
        v
    }

    fn payflow() -> Report {
        let s = scene(Engine::PostgreSql, 103, 3, PG_OFF, payflow_sessions());
        analyze("payflow-db", &s, &Options::default())
    }

    fn relief_of<'a>(r: &'a Report, id: &str) -> Vec<&'a Relief> {
        r.relief.iter().filter(|x| x.id == id).collect()
    }

    fn advice_ids(r: &Report) -> Vec<&str> {
        r.advice.iter().map(|a| a.id.as_str()).collect()
    }

    #[test]
    fn usage_and_states_count_every_client_session() {
        let r = payflow();
        assert_eq!(r.usage.sessions, 100);
        assert_eq!(r.usage.limit, 100);
        assert_eq!(r.usage.ratio, Some(1.0));
        assert_eq!(r.states["idle"], 80 + 4 + 2);
        assert_eq!(r.states["idle_in_transaction"], 2);
        assert_eq!(r.states["hidden"], 0);
        assert_eq!(r.sessions_total, 100);
        assert_eq!(r.sessions.len(), 50);
        // Longest in its state first.
        assert_eq!(r.sessions[0].pid, 5002);
    }

    #[test]
    fn the_hoarder_is_the_first_holder_with_its_idle_share() {
        let r = payflow();
        let h = &r.holders[0];
        assert_eq!(
            (h.application.as_str(), h.user.as_str(), h.client.as_str()),
            ("PayFlow", "payflow", "10.0.0.5")
        );
        assert_eq!(h.sessions, 85);
        assert_eq!(h.states["idle"], 80);
        assert_eq!(h.states["idle_in_transaction"], 2);
        assert_eq!(h.states["active"], 3);
        assert!((h.idle_ratio - 80.0 / 85.0).abs() < 1e-9);
        assert_eq!(h.oldest_idle_seconds, Some(2700.0));
        assert_eq!(h.oldest_transaction_seconds, Some(1300.7));
        assert_eq!(r.holders[1].application, "reports");
        assert_eq!(r.holders[1].sessions, 10);
        // The exporter's own session is no holder.
        assert!(r.holders.iter().all(|h| h.application != "dbconn_exporter"));
        assert!(!r.notes.iter().any(|n| n.starts_with("holders:")));
    }

    #[test]
    fn holders_tie_on_idle_then_name_and_are_capped_with_a_note() {
        let mut v = Vec::new();
        for i in 0..30i64 {
            let app = format!("app{i:02}");
            v.push(row(i * 10, &app, "u", State::Active, 1.0));
            v.push(row(i * 10 + 1, &app, "u", State::Idle, 1.0));
        }
        // Same size as the others, but both idle: first.
        v.push(row(900, "zz", "u", State::Idle, 1.0));
        v.push(row(901, "zz", "u", State::Idle, 1.0));
        let r = analyze(
            "t",
            &scene(Engine::PostgreSql, 200, 3, &[], v),
            &Options::default(),
        );
        assert_eq!(r.holders.len(), HOLDERS_LIMIT);
        assert_eq!(r.holders[0].application, "zz");
        assert_eq!(r.holders[1].application, "app00");
        assert_eq!(r.holders[2].application, "app01");
        assert!(
            r.notes
                .iter()
                .any(|n| n == "holders: the 20 largest of 31 are listed"),
            "{:?}",
            r.notes
        );
    }

    #[test]
    fn the_root_blocker_and_its_two_level_tree() {
        let r = payflow();
        assert_eq!(r.root_blockers.len(), 1);
        let root = &r.root_blockers[0];
        assert_eq!(root.pid, 2001);
        assert_eq!(root.state, "idle_in_transaction");
        assert_eq!(root.blocked_directly, 1);
        assert_eq!(root.blocked_total, 3);
        let edges: Vec<(i64, i64)> = root.waiters.iter().map(|w| (w.pid, w.waits_for)).collect();
        assert_eq!(edges, vec![(3001, 2001), (3002, 3001), (3003, 3001)]);
        assert_eq!(root.waiters[0].wait_seconds, Some(400.0));
    }

    #[test]
    fn a_waiter_behind_two_blockers_is_counted_once_and_roots_sort_by_reach() {
        let v = vec![
            row(1, "a", "u", State::IdleInTransaction, 10.0),
            row(2, "a", "u", State::IdleInTransaction, 10.0),
            SessionRow {
                blocked_by: vec![1, 2],
                ..row(3, "a", "u", State::Active, 5.0)
            },
            SessionRow {
                blocked_by: vec![3],
                ..row(4, "a", "u", State::Active, 5.0)
            },
            SessionRow {
                blocked_by: vec![1],
                ..row(5, "a", "u", State::Active, 5.0)
            },
        ];
        let r = analyze(
            "t",
            &scene(Engine::PostgreSql, 100, 3, &[], v),
            &Options::default(),
        );
        let roots: Vec<(i64, u64, u64)> = r
            .root_blockers
            .iter()
            .map(|b| (b.pid, b.blocked_directly, b.blocked_total))
            .collect();
        assert_eq!(roots, vec![(1, 2, 3), (2, 1, 2)]);
    }

    #[test]
    fn a_deadlock_cycle_is_reported_once_and_does_not_loop() {
        let v = vec![
            SessionRow {
                blocked_by: vec![7002],
                ..row(7001, "a", "u", State::Active, 3.0)
            },
            SessionRow {
                blocked_by: vec![7003],
                ..row(7002, "a", "u", State::Active, 3.0)
            },
            SessionRow {
                blocked_by: vec![7001],
                ..row(7003, "a", "u", State::Active, 3.0)
            },
            SessionRow {
                blocked_by: vec![7002],
                ..row(7004, "a", "u", State::Active, 3.0)
            },
            // A session listed as blocking itself is no edge.
            SessionRow {
                blocked_by: vec![7005],
                ..row(7005, "a", "u", State::Active, 3.0)
            },
        ];
        let r = analyze(
            "t",
            &scene(Engine::PostgreSql, 100, 3, &[], v),
            &Options::default(),
        );
        assert_eq!(r.root_blockers.len(), 1, "{:?}", r.root_blockers);
        let root = &r.root_blockers[0];
        assert_eq!(root.pid, 7001);
        assert_eq!(root.blocked_total, 3);
        let mut pids: Vec<i64> = root.waiters.iter().map(|w| w.pid).collect();
        pids.sort_unstable();
        assert_eq!(pids, vec![7002, 7003, 7004]);
        assert!(
            r.notes
                .iter()
                .any(|n| n.starts_with("sessions 7001, 7002, 7003 wait on each other")),
            "{:?}",
            r.notes
        );
        // A cycle member waits on a lock: it is offered as a root blocker still.
        assert_eq!(relief_of(&r, "terminate_root_blocker").len(), 1);
    }

    #[test]
    fn a_blocker_the_read_did_not_list_is_a_root_without_relief() {
        let v = vec![SessionRow {
            blocked_by: vec![0],
            ..row(8001, "a", "u", State::Active, 3.0)
        }];
        let r = analyze(
            "t",
            &scene(Engine::PostgreSql, 100, 3, &[], v),
            &Options::default(),
        );
        assert_eq!(r.root_blockers[0].pid, 0);
        assert_eq!(r.root_blockers[0].state, "hidden");
        assert!(relief_of(&r, "terminate_root_blocker").is_empty());
    }

    #[test]
    fn relief_names_exactly_the_expected_pids() {
        let r = payflow();
        let idle = relief_of(&r, "terminate_idle_of_top_holder");
        assert_eq!(idle.len(), 1);
        // 1079 is under the threshold, 1080 a superuser.
        assert_eq!(idle[0].pids, (1001..=1078).collect::<Vec<i64>>());
        assert_eq!(idle[0].sql.len(), 1);
        let expected = format!(
            "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid IN ({}) AND state = 'idle' AND state_change < now() - interval '300 seconds' AND usename = E'payflow' AND application_name = E'PayFlow';",
            join_pids(&(1001..=1078).collect::<Vec<_>>(), ", ")
        );
        assert_eq!(idle[0].sql[0], expected);
        assert!(idle[0].why.contains("superuser session"), "{}", idle[0].why);

        let cancel = relief_of(&r, "cancel_longest_running");
        assert_eq!(cancel.len(), 1);
        // Not the superuser's 5001, not the replication 5002, not the waiters 3001
        // and 3002, not 4006 (under a minute); the five longest of the rest.
        assert_eq!(cancel[0].pids, vec![4001, 4002, 4003, 4004, 4005]);
        assert_eq!(
            cancel[0].sql,
            vec![
                "SELECT pid, pg_cancel_backend(pid) FROM pg_stat_activity WHERE ((pid = 4001 AND usename = E'reporter' AND application_name = E'reports') OR (pid = 4002 AND usename = E'reporter' AND application_name = E'reports') OR (pid = 4003 AND usename = E'reporter' AND application_name = E'reports') OR (pid = 4004 AND usename = E'reporter' AND application_name = E'reports') OR (pid = 4005 AND usename = E'reporter' AND application_name = E'reports')) AND state = 'active' AND state_change < now() - interval '60 seconds';"
            ]
        );

        let root = relief_of(&r, "terminate_root_blocker");
        assert_eq!(root.len(), 1);
        assert_eq!(root[0].pids, vec![2001]);
        assert_eq!(
            root[0].sql,
            vec![
                "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = 2001 AND xact_start < now() - interval '1300 seconds' AND usename = E'payflow' AND application_name = E'PayFlow';"
            ]
        );
        let all: Vec<i64> = r.relief.iter().flat_map(|x| x.pids.clone()).collect();
        for never in [1079, 1080, 5001, 5002, 5003] {
            assert!(!all.contains(&never), "{never} offered");
        }
    }

    #[test]
    fn relief_thresholds_follow_the_options() {
        let s = scene(Engine::PostgreSql, 103, 3, PG_OFF, payflow_sessions());
        let options = Options {
            relief_idle_after: Duration::from_secs(3000),
            relief_active_after: Duration::from_secs(500),
            ..Options::default()
        };
        let r = analyze("t", &s, &options);
        assert!(relief_of(&r, "terminate_idle_of_top_holder").is_empty());
        assert_eq!(
            relief_of(&r, "cancel_longest_running")[0].pids,
            vec![4001, 4002]
        );
        let options = Options {
            relief_idle_after: Duration::from_secs(60),
            ..Options::default()
        };
        let r = analyze("t", &s, &options);
        let pids = &relief_of(&r, "terminate_idle_of_top_holder")[0].pids;
        assert_eq!(pids.len(), 79);
        assert!(pids.contains(&1079));
        assert!(r.relief[0].sql[0].contains("interval '60 seconds'"));
    }

    #[test]
    fn long_pid_lists_are_split_into_statements() {
        let v: Vec<SessionRow> = (1..=250)
            .map(|pid| row(pid, "hog", "hog", State::Idle, 4000.0))
            .collect();
        let r = analyze(
            "t",
            &scene(Engine::PostgreSql, 300, 3, &[], v),
            &Options::default(),
        );
        let idle = relief_of(&r, "terminate_idle_of_top_holder");
        assert_eq!(idle[0].pids.len(), 250);
        assert_eq!(idle[0].sql.len(), 3);
        assert!(idle[0].sql[2].contains("WHERE pid IN (201, "));
        assert!(idle[0].sql.iter().all(|s| s.len() < 1000));
    }

    #[test]
    fn no_termination_when_superusers_could_not_be_identified() {
        let mut s = scene(Engine::PostgreSql, 103, 3, PG_OFF, payflow_sessions());
        s.superusers_known = false;
        let r = analyze("t", &s, &Options::default());
        assert!(r.relief.is_empty());
        assert!(
            r.notes
                .iter()
                .any(|n| n.contains("could not tell superusers apart"))
        );
        // The facts and the advice stay.
        assert_eq!(r.root_blockers[0].pid, 2001);
        assert!(!r.advice.is_empty());
    }

    #[test]
    fn advice_follows_the_settings_and_the_sessions() {
        let r = payflow();
        assert_eq!(
            advice_ids(&r),
            vec![
                "idle_in_transaction_session_timeout_unset",
                "idle_session_timeout_unset",
                "statement_timeout_unset",
                "pool_oversized"
            ]
        );
        let iit = &r.advice[0];
        assert_eq!(
            iit.sql,
            vec![
                "ALTER SYSTEM SET idle_in_transaction_session_timeout = '5min';",
                "SELECT pg_reload_conf();",
                "ALTER ROLE \"payflow\" SET idle_in_transaction_session_timeout = '5min';"
            ]
        );
        assert!(iit.why.contains("2 session(s)"), "{}", iit.why);
        assert!(iit.why.contains("20 min"), "{}", iit.why);
        let idle = &r.advice[1];
        assert_eq!(
            idle.sql,
            vec!["ALTER ROLE \"payflow\" SET idle_session_timeout = '15min';"]
        );
        assert!(idle.why.contains("79 session(s)"), "{}", idle.why);
        // The superuser's 5000 s statement does not name the role.
        let st = &r.advice[2];
        assert_eq!(
            st.sql,
            vec!["ALTER ROLE \"reporter\" SET statement_timeout = '5min';"]
        );
        assert!(st.why.contains("pid 4001"), "{}", st.why);
        let pool = &r.advice[3];
        assert!(pool.why.contains("85 of the 100 slots"), "{}", pool.why);
        assert!(pool.why.contains("80 of them (94 %)"), "{}", pool.why);
        assert!(pool.why.contains("about 10 per instance"), "{}", pool.why);

        // Timeouts in place: no advice about them.
        let set: &[(&str, f64)] = &[
            ("idle_in_transaction_session_timeout", 300.0),
            ("idle_session_timeout", 900.0),
            ("statement_timeout", 60.0),
        ];
        let r = analyze(
            "t",
            &scene(Engine::PostgreSql, 103, 3, set, payflow_sessions()),
            &Options::default(),
        );
        assert_eq!(advice_ids(&r), vec!["pool_oversized"]);
        // Before PostgreSQL 14 there is no idle_session_timeout to advise.
        let old: &[(&str, f64)] = &[
            ("idle_in_transaction_session_timeout", 0.0),
            ("statement_timeout", 0.0),
        ];
        let r = analyze(
            "t",
            &scene(Engine::PostgreSql, 103, 3, old, payflow_sessions()),
            &Options::default(),
        );
        assert!(!advice_ids(&r).contains(&"idle_session_timeout_unset"));
    }

    #[test]
    fn a_quiet_server_gets_no_advice_and_no_relief() {
        let v = vec![
            row(1, "a", "u", State::Idle, 10.0),
            row(2, "a", "u", State::Active, 1.0),
            row(3, "b", "v", State::IdleInTransaction, 5.0),
        ];
        let r = analyze(
            "t",
            &scene(Engine::PostgreSql, 100, 3, PG_OFF, v),
            &Options::default(),
        );
        assert!(r.advice.is_empty(), "{:?}", r.advice);
        assert!(r.relief.is_empty(), "{:?}", r.relief);
        assert!(r.root_blockers.is_empty());
    }

    #[test]
    fn identifiers_and_literals_are_quoted() {
        assert_eq!(quote_ident("pay\"flow"), "\"pay\"\"flow\"");
        assert_eq!(quote_ident("Mixed Case"), "\"Mixed Case\"");
        assert_eq!(quote_literal("o'brien"), "E'o''brien'");
        // Under standard_conforming_strings = off a backslash escapes: doubled, it
        // cannot close the literal.
        assert_eq!(quote_literal("x\\' OR true --"), "E'x\\\\'' OR true --'");
        let v: Vec<SessionRow> = (1..=3)
            .map(|pid| SessionRow {
                transaction_seconds: Some(100.0),
                ..row(pid, "it's", "we\"ird", State::IdleInTransaction, 100.0)
            })
            .collect();
        let r = analyze(
            "t",
            &scene(Engine::PostgreSql, 100, 3, PG_OFF, v),
            &Options::default(),
        );
        assert!(
            r.advice[0].sql.contains(
                &"ALTER ROLE \"we\"\"ird\" SET idle_in_transaction_session_timeout = '5min';"
                    .to_string()
            ),
            "{:?}",
            r.advice[0].sql
        );
        // A name with control characters is left out of the statement rather than
        // pasted raw.
        assert_eq!(
            same_origin_sql("o'brien", "app\u{1b}[31m"),
            " AND usename = E'o''brien'"
        );
    }

    fn mysql_scene(engine: Engine, wait_timeout: f64) -> Scene {
        let mut v: Vec<SessionRow> = (10..20)
            .map(|id| SessionRow {
                database: "shop".into(),
                ..row(id, "", "shop", State::Idle, 3600.0)
            })
            .collect();
        v.push(SessionRow {
            transaction_seconds: Some(500.0),
            ..row(30, "", "shop", State::IdleInTransaction, 500.0)
        });
        v.push(SessionRow {
            blocked_by: vec![30],
            ..row(31, "", "shop", State::Active, 40.0)
        });
        v.push(row(32, "", "batch", State::Active, 700.0));
        v.push(SessionRow {
            superuser: true,
            ..row(33, "", "root", State::Idle, 9000.0)
        });
        v.push(SessionRow {
            own: true,
            ..row(34, "dbconn_exporter", "exporter", State::Active, 0.0)
        });
        scene(
            engine,
            151,
            0,
            &[
                ("wait_timeout", wait_timeout),
                ("innodb_lock_wait_timeout", 120.0),
                ("idle_transaction_timeout", 0.0),
            ],
            v,
        )
    }

    #[test]
    fn mysql_statements_kill_by_thread_id() {
        let r = analyze(
            "t",
            &mysql_scene(Engine::MySql, 28800.0),
            &Options::default(),
        );
        let idle = relief_of(&r, "terminate_idle_of_top_holder");
        assert_eq!(idle[0].pids, (10..20).collect::<Vec<i64>>());
        assert_eq!(idle[0].sql[0], "KILL 10;");
        assert_eq!(idle[0].sql.len(), 10);
        assert!(idle[0].why.contains("CONNECTION_ADMIN"), "{}", idle[0].why);
        let cancel = relief_of(&r, "cancel_longest_running");
        assert_eq!(cancel[0].sql, vec!["KILL QUERY 32;"]);
        let root = relief_of(&r, "terminate_root_blocker");
        assert_eq!(root[0].sql, vec!["KILL 30;"]);
        let all: Vec<i64> = r.relief.iter().flat_map(|x| x.pids.clone()).collect();
        assert!(!all.contains(&33) && !all.contains(&34));
        assert_eq!(
            advice_ids(&r),
            vec!["wait_timeout_default", "innodb_lock_wait_timeout_high"]
        );
        assert_eq!(
            r.advice[0].sql,
            vec![
                "SET GLOBAL wait_timeout = 600;",
                "-- my.cnf, section [mysqld]: wait_timeout = 600"
            ]
        );
        assert!(
            r.advice[0].why.contains("28800 (8.0 h)"),
            "{}",
            r.advice[0].why
        );
        assert!(
            r.advice[0].why.contains("11 thread(s)"),
            "{}",
            r.advice[0].why
        );
    }

    #[test]
    fn mysql_advice_follows_its_settings() {
        let r = analyze("t", &mysql_scene(Engine::MySql, 600.0), &Options::default());
        assert_eq!(advice_ids(&r), vec!["innodb_lock_wait_timeout_high"]);
        let r = analyze(
            "t",
            &mysql_scene(Engine::MariaDb, 600.0),
            &Options::default(),
        );
        assert_eq!(
            advice_ids(&r),
            vec![
                "idle_transaction_timeout_unset",
                "innodb_lock_wait_timeout_high"
            ]
        );
        assert_eq!(r.engine, "mariadb");
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_seconds(45.0), "45 s");
        assert_eq!(human_seconds(2700.0), "45 min");
        assert_eq!(human_seconds(28800.0), "8.0 h");
    }
}
