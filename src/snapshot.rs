//! The engine-neutral facts of one read of one database.
//!
//! Readers (one per engine) turn SQL rows into a [`Snapshot`]; the exposition turns a
//! snapshot into metrics. Keeping this a plain typed struct, and not metric objects,
//! lets the same read feed other views later (a status page, a `diagnose` command)
//! and keeps the arithmetic that alerts depend on (headroom, capping, per-state
//! totals) in one place that can be unit-tested without a database.

use std::collections::HashMap;

/// Normalized session state, shared by every engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    Active,
    Idle,
    IdleInTransaction,
    IdleInTransactionAborted,
    Other,
}

impl State {
    pub const ALL: [State; 5] = [
        State::Active,
        State::Idle,
        State::IdleInTransaction,
        State::IdleInTransactionAborted,
        State::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Active => "active",
            State::Idle => "idle",
            State::IdleInTransaction => "idle_in_transaction",
            State::IdleInTransactionAborted => "idle_in_transaction_aborted",
            State::Other => "other",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// Maps `pg_stat_activity.state`. A NULL state (a session the exporter's role may
    /// not inspect, or one still starting) is `other`, never dropped: it still holds a
    /// connection slot.
    pub fn from_postgres(state: Option<&str>) -> State {
        match state {
            Some("active") | Some("fastpath function call") => State::Active,
            Some("idle") => State::Idle,
            Some("idle in transaction") => State::IdleInTransaction,
            Some("idle in transaction (aborted)") => State::IdleInTransactionAborted,
            _ => State::Other,
        }
    }

    /// Maps a MySQL/MariaDB processlist `COMMAND`, given whether the thread has an open
    /// InnoDB transaction. `None` means the thread is not a client session at all.
    pub fn from_mysql(command: &str, in_transaction: bool) -> Option<State> {
        match command {
            "Sleep" if in_transaction => Some(State::IdleInTransaction),
            "Sleep" => Some(State::Idle),
            "Daemon" | "Binlog Dump" | "Binlog Dump GTID" | "Connect" | "Slave_IO"
            | "Slave_SQL" | "Slave_worker" | "Register Slave" => None,
            "Killed" | "Connect Out" => Some(State::Other),
            _ => Some(State::Active),
        }
    }
}

/// One value per [`State`], indexed by state.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PerState<T>([T; 5]);

impl<T: Copy> PerState<T> {
    pub fn get(&self, state: State) -> T {
        self.0[state.index()]
    }
}

impl<T> PerState<T> {
    pub fn get_mut(&mut self, state: State) -> &mut T {
        &mut self.0[state.index()]
    }
}

impl PerState<u64> {
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    PostgreSql,
    MySql,
    MariaDb,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::PostgreSql => "postgresql",
            Engine::MySql => "mysql",
            Engine::MariaDb => "mariadb",
        }
    }
}

/// Who holds a session.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin {
    pub database: String,
    pub user: String,
    pub application: String,
}

impl Origin {
    /// The bucket that origins beyond the cap fold into.
    pub fn other() -> Origin {
        Origin {
            database: "other".into(),
            user: "other".into(),
            application: "other".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct OriginCount {
    pub origin: Origin,
    pub state: State,
    pub count: u64,
}

/// A limit that is set (per user/role or per database) and how much of it is used.
#[derive(Clone, Debug, PartialEq)]
pub struct LimitUse {
    pub name: String,
    pub limit: u64,
    pub used: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LockCount {
    pub mode: String,
    pub granted: bool,
    pub count: u64,
}

/// Sessions in each state for longer than one configured threshold.
#[derive(Clone, Debug, PartialEq)]
pub struct OverDuration {
    pub threshold_seconds: f64,
    pub per_state: PerState<u64>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Blocking {
    pub blocked: u64,
    pub blocking: u64,
    pub max_lock_wait_seconds: f64,
}

/// Cumulative counters the server keeps about connections. `None` where the engine or
/// version does not count it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerCounters {
    pub deadlocks: Option<u64>,
    pub sessions: Option<u64>,
    pub abnormal_ends: Vec<(&'static str, u64)>,
    pub refused: Option<u64>,
    pub failed: Option<u64>,
}

/// Whether one part of the read worked. Parts are independent so that one locked
/// catalog or one unsupported view costs its own metrics, not the whole scrape.
#[derive(Clone, Debug, PartialEq)]
pub struct Collector {
    pub name: &'static str,
    pub success: bool,
}

/// A privilege that decides how much of the server the exporter can see, and whether
/// its role holds it. Without it the headline counts stay right but details go
/// missing, which must show in a metric rather than look like a quiet server.
#[derive(Clone, Debug, PartialEq)]
pub struct Privilege {
    pub name: &'static str,
    pub granted: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub engine: Engine,
    pub version: String,
    pub max_connections: u64,
    pub reserved_connections: u64,
    pub by_state: PerState<u64>,
    pub max_state_duration_seconds: PerState<f64>,
    pub over_duration: Vec<OverDuration>,
    pub origins: Vec<OriginCount>,
    pub oldest_transaction_seconds: f64,
    /// `None` where the server does not tell when a session connected (MySQL and
    /// MariaDB processlists do not).
    pub average_connection_age_seconds: Option<f64>,
    pub max_connection_age_seconds: Option<f64>,
    pub blocking: Option<Blocking>,
    pub locks: Option<Vec<LockCount>>,
    pub user_limits: Option<Vec<LimitUse>>,
    pub database_limits: Option<Vec<LimitUse>>,
    pub timeouts: Vec<(String, f64)>,
    pub max_used_connections: Option<u64>,
    /// Threads executing a statement right now, as the server counts them
    /// (MySQL/MariaDB `Threads_running`, which includes the exporter's own read).
    pub threads_running: Option<u64>,
    pub counters: ServerCounters,
    pub collectors: Vec<Collector>,
    /// Client sessions that are counted (they hold a slot) but whose state, origin
    /// or durations the exporter's privileges hide; they are in `State::Other`.
    pub hidden_connections: u64,
    /// The visibility privileges the engine checks, held or not.
    pub privileges: Vec<Privilege>,
}

impl Snapshot {
    /// Client sessions over the slots ordinary logins may take. 1.0 means the next
    /// ordinary login is refused; above 1.0 reserved slots are in use. `None` when the
    /// server leaves no slot to ordinary users (nothing meaningful to divide by).
    pub fn usage_ratio(&self) -> Option<f64> {
        usage_ratio(
            self.by_state.total(),
            self.max_connections,
            self.reserved_connections,
        )
    }
}

pub fn usage_ratio(used: u64, max_connections: u64, reserved: u64) -> Option<f64> {
    let capacity = max_connections.checked_sub(reserved)?;
    if capacity == 0 {
        return None;
    }
    Some(used as f64 / capacity as f64)
}

/// One group of sessions as a reader sees it: same origin, same state.
#[derive(Clone, Debug)]
pub struct SessionGroup {
    /// The exporter's privileges hide the group's state and times: its sessions
    /// are counted, in `State::Other`, and left out of the ages.
    pub hidden: bool,
    pub origin: Origin,
    pub state: State,
    pub count: u64,
    /// Longest time a session of the group has been in its state.
    pub max_state_seconds: f64,
    /// Sum and maximum of the sessions' ages (time since connect).
    pub sum_age_seconds: f64,
    pub max_age_seconds: f64,
    /// Age of the group's oldest open transaction, if any is open.
    pub oldest_transaction_seconds: Option<f64>,
    /// Sessions over each configured threshold, aligned with the thresholds.
    pub over: Vec<u64>,
}

/// Everything derived from the sessions alone.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionFacts {
    pub by_state: PerState<u64>,
    pub max_state_duration_seconds: PerState<f64>,
    pub over_duration: Vec<OverDuration>,
    pub origins: Vec<OriginCount>,
    pub oldest_transaction_seconds: f64,
    pub average_connection_age_seconds: f64,
    pub max_connection_age_seconds: f64,
    /// Exact (uncapped) session counts per user and per database, for limits.
    pub per_user: HashMap<String, u64>,
    pub per_database: HashMap<String, u64>,
    /// Sessions counted whose details the privileges hide.
    pub hidden: u64,
}

/// Folds session groups into per-state facts and a capped origin breakdown.
///
/// `origin_cap` bounds the number of distinct origins reported: the largest
/// `origin_cap - 1` stay, the rest are summed into [`Origin::other`].
pub fn summarize_sessions(
    groups: impl IntoIterator<Item = SessionGroup>,
    thresholds: &[f64],
    origin_cap: usize,
) -> SessionFacts {
    let mut by_state = PerState::<u64>::default();
    let mut max_state = PerState::<f64>::default();
    let mut over: Vec<PerState<u64>> = vec![PerState::default(); thresholds.len()];
    let mut oldest_tx: f64 = 0.0;
    let mut sum_age = 0.0;
    let mut max_age: f64 = 0.0;
    let mut per_user: HashMap<String, u64> = HashMap::new();
    let mut per_database: HashMap<String, u64> = HashMap::new();
    let mut per_origin: HashMap<Origin, PerState<u64>> = HashMap::new();
    let mut hidden = 0;
    let mut aged = 0;

    for g in groups {
        if g.count == 0 {
            continue;
        }
        let g = if g.hidden {
            hidden += g.count;
            SessionGroup {
                state: State::Other,
                ..g
            }
        } else {
            aged += g.count;
            g
        };
        *by_state.get_mut(g.state) += g.count;
        let m = max_state.get_mut(g.state);
        *m = m.max(g.max_state_seconds.max(0.0));
        for (slot, n) in over.iter_mut().zip(g.over.iter()) {
            *slot.get_mut(g.state) += n;
        }
        if let Some(t) = g.oldest_transaction_seconds {
            oldest_tx = oldest_tx.max(t.max(0.0));
        }
        sum_age += g.sum_age_seconds.max(0.0);
        max_age = max_age.max(g.max_age_seconds);
        *per_user.entry(g.origin.user.clone()).or_default() += g.count;
        *per_database.entry(g.origin.database.clone()).or_default() += g.count;
        *per_origin.entry(g.origin).or_default().get_mut(g.state) += g.count;
    }

    SessionFacts {
        by_state,
        max_state_duration_seconds: max_state,
        over_duration: thresholds
            .iter()
            .zip(over)
            .map(|(&threshold_seconds, per_state)| OverDuration {
                threshold_seconds,
                per_state,
            })
            .collect(),
        origins: cap_origins(per_origin, origin_cap),
        oldest_transaction_seconds: oldest_tx,
        average_connection_age_seconds: if aged == 0 {
            0.0
        } else {
            sum_age / aged as f64
        },
        max_connection_age_seconds: max_age.max(0.0),
        per_user,
        per_database,
        hidden,
    }
}

fn cap_origins(per_origin: HashMap<Origin, PerState<u64>>, cap: usize) -> Vec<OriginCount> {
    let cap = cap.max(1);
    let mut ranked: Vec<(Origin, PerState<u64>)> = per_origin.into_iter().collect();
    if ranked.len() > cap {
        // Largest first; ties broken by name so the kept set is stable between scrapes.
        ranked.sort_by(|a, b| b.1.total().cmp(&a.1.total()).then_with(|| a.0.cmp(&b.0)));
        let folded = ranked.split_off(cap - 1);
        let mut other = PerState::<u64>::default();
        for (_, counts) in folded {
            for s in State::ALL {
                *other.get_mut(s) += counts.get(s);
            }
        }
        // A real origin named other/other/other merges with the bucket.
        match ranked.iter_mut().find(|(o, _)| *o == Origin::other()) {
            Some((_, counts)) => {
                for s in State::ALL {
                    *counts.get_mut(s) += other.get(s);
                }
            }
            None => ranked.push((Origin::other(), other)),
        }
    }
    ranked.sort_by(|a, b| a.0.cmp(&b.0));
    ranked
        .into_iter()
        .flat_map(|(origin, counts)| {
            State::ALL.into_iter().filter_map(move |state| {
                let count = counts.get(state);
                (count > 0).then(|| OriginCount {
                    origin: origin.clone(),
                    state,
                    count,
                })
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(app: &str) -> Origin {
        Origin {
            database: "db".into(),
            user: "u".into(),
            application: app.into(),
        }
    }

    fn group(app: &str, state: State, count: u64) -> SessionGroup {
        SessionGroup {
            hidden: false,
            origin: origin(app),
            state,
            count,
            max_state_seconds: 1.0,
            sum_age_seconds: 10.0 * count as f64,
            max_age_seconds: 10.0,
            oldest_transaction_seconds: None,
            over: vec![count, 0],
        }
    }

    #[test]
    fn postgres_states_map_to_the_contract() {
        assert_eq!(State::from_postgres(Some("active")), State::Active);
        assert_eq!(
            State::from_postgres(Some("fastpath function call")),
            State::Active
        );
        assert_eq!(State::from_postgres(Some("idle")), State::Idle);
        assert_eq!(
            State::from_postgres(Some("idle in transaction")),
            State::IdleInTransaction
        );
        assert_eq!(
            State::from_postgres(Some("idle in transaction (aborted)")),
            State::IdleInTransactionAborted
        );
        assert_eq!(State::from_postgres(Some("disabled")), State::Other);
        assert_eq!(State::from_postgres(None), State::Other);
    }

    #[test]
    fn mysql_commands_map_to_the_contract() {
        assert_eq!(State::from_mysql("Sleep", false), Some(State::Idle));
        assert_eq!(
            State::from_mysql("Sleep", true),
            Some(State::IdleInTransaction)
        );
        assert_eq!(State::from_mysql("Query", false), Some(State::Active));
        assert_eq!(State::from_mysql("Execute", true), Some(State::Active));
        assert_eq!(State::from_mysql("Daemon", false), None);
        assert_eq!(State::from_mysql("Binlog Dump", false), None);
        assert_eq!(State::from_mysql("Slave_SQL", false), None);
    }

    #[test]
    fn ratio_reaches_one_exactly_at_the_ordinary_capacity() {
        // max_connections=20, superuser_reserved=3: 17 ordinary slots.
        assert_eq!(usage_ratio(17, 20, 3), Some(1.0));
        assert_eq!(usage_ratio(16, 20, 3).map(|r| r < 1.0), Some(true));
        assert_eq!(usage_ratio(20, 20, 3).map(|r| r > 1.0), Some(true));
        assert_eq!(usage_ratio(0, 100, 0), Some(0.0));
        assert_eq!(usage_ratio(1, 3, 3), None);
        assert_eq!(usage_ratio(1, 2, 3), None);
    }

    #[test]
    fn summary_adds_up_states_and_thresholds() {
        let facts = summarize_sessions(
            vec![
                group("a", State::Idle, 3),
                group("a", State::Active, 1),
                group("b", State::Idle, 2),
            ],
            &[30.0, 60.0],
            10,
        );
        assert_eq!(facts.by_state.get(State::Idle), 5);
        assert_eq!(facts.by_state.get(State::Active), 1);
        assert_eq!(facts.by_state.total(), 6);
        assert_eq!(facts.over_duration[0].per_state.get(State::Idle), 5);
        assert_eq!(facts.over_duration[1].per_state.get(State::Idle), 0);
        assert_eq!(facts.average_connection_age_seconds, 10.0);
        assert_eq!(facts.per_user["u"], 6);
        assert_eq!(facts.origins.len(), 3);
    }

    #[test]
    fn origins_beyond_the_cap_fold_into_other() {
        let groups: Vec<_> = (0..500)
            .map(|i| group(&format!("app-{i}"), State::Idle, 1 + (i % 3)))
            .collect();
        let facts = summarize_sessions(groups, &[], 50);
        let distinct: std::collections::HashSet<_> =
            facts.origins.iter().map(|o| o.origin.clone()).collect();
        assert_eq!(distinct.len(), 50);
        assert!(distinct.contains(&Origin::other()));
        let sum: u64 = facts.origins.iter().map(|o| o.count).sum();
        assert_eq!(
            sum,
            facts.by_state.total(),
            "folding must not lose sessions"
        );
    }

    #[test]
    fn an_origin_really_named_other_merges_with_the_bucket() {
        let mut groups: Vec<_> = (0..5)
            .map(|i| group(&format!("app-{i}"), State::Idle, 1))
            .collect();
        groups.push(SessionGroup {
            origin: Origin::other(),
            ..group("x", State::Idle, 1)
        });
        let facts = summarize_sessions(groups, &[], 3);
        let sum: u64 = facts.origins.iter().map(|o| o.count).sum();
        assert_eq!(sum, 6);
        let distinct: std::collections::HashSet<_> =
            facts.origins.iter().map(|o| o.origin.clone()).collect();
        assert!(distinct.len() <= 3);
    }
}
