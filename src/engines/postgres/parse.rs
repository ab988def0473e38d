//! The rows of each statement, as plain structs, and what they mean for the
//! snapshot.
//!
//! The parsers never see a driver row: `rows.rs` copies each column out, so that
//! every edge case here (a NULL state, a hidden session, a limit of -1, a timeout in
//! minutes) is unit-tested without a server.

use std::collections::{HashMap, HashSet};

use crate::engines::ReadError;
use crate::incident::SessionRow;
use crate::model::{
    Blocking, LimitUse, LockCount, Origin, Privilege, ServerCounters, SessionGroup, State,
};

/// The role that lets a session see other roles' sessions in `pg_stat_activity`.
pub(super) const READ_ALL_STATS: &str = "pg_read_all_stats";

/// One group of client sessions: one origin in one state.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct ActivityRow {
    pub(super) datid: Option<u32>,
    pub(super) usesysid: Option<u32>,
    pub(super) application: String,
    /// `pg_stat_activity.state`; NULL when the role may not see it.
    pub(super) state: Option<String>,
    pub(super) count: i64,
    pub(super) max_state_seconds: f64,
    pub(super) sum_age_seconds: f64,
    pub(super) max_age_seconds: f64,
    pub(super) oldest_transaction_seconds: Option<f64>,
    /// Sessions in the state longer than each threshold.
    pub(super) over: Vec<i64>,
    /// Sessions waiting on a heavyweight lock.
    pub(super) lock_waiters: i64,
    /// The role may not see the group's state and times.
    pub(super) hidden: bool,
}

/// One server setting (GUC) from `pg_settings`.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct SettingRow {
    pub(super) name: String,
    pub(super) setting: String,
    /// `''` for a setting without a unit.
    pub(super) unit: String,
    /// The value a session starts with (the session's own `SET` does not count).
    pub(super) reset_val: String,
}

/// What a row of the names statement names.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum NameKind {
    Database,
    Role,
    /// Not a name: whether the role holds `pg_read_all_stats`, in the limit column.
    Privilege,
    /// A superuser login role (also listed as a role where it has a limit or may
    /// log in).
    Superuser,
}

impl NameKind {
    /// The statement's first column: `d`, `r` or `p` (anything else counts as a role,
    /// as it always has).
    pub(super) fn from_tag(tag: &str) -> NameKind {
        match tag {
            "p" => NameKind::Privilege,
            "d" => NameKind::Database,
            "s" => NameKind::Superuser,
            _ => NameKind::Role,
        }
    }
}

/// A database or role with its connection limit (-1: none).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct NameRow {
    pub(super) kind: NameKind,
    pub(super) oid: u32,
    pub(super) name: String,
    pub(super) limit: i32,
}

/// Locks of one mode, granted or awaited.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct LockRow {
    pub(super) mode: String,
    pub(super) granted: bool,
    pub(super) count: i64,
}

/// One session waiting on a lock.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct BlockingRow {
    /// The waiting session.
    pub(super) pid: i32,
    /// The sessions it waits for; none when the lock was granted meanwhile.
    pub(super) blocked_by: Vec<i32>,
    pub(super) wait_seconds: f64,
}

/// Counters summed over the known databases.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct DatabaseStatsRow {
    pub(super) deadlocks: i64,
    /// Only where the server counts sessions (see `sql::counts_sessions`).
    pub(super) sessions: Option<SessionEnds>,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) struct SessionEnds {
    pub(super) sessions: i64,
    pub(super) abandoned: i64,
    pub(super) fatal: i64,
    pub(super) killed: i64,
}

/// The server's settings (GUCs) that the snapshot reports.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct ServerSettings {
    pub(super) max_connections: u64,
    pub(super) reserved_connections: u64,
    /// Timeouts in seconds, by setting name.
    pub(super) timeouts: Vec<(String, f64)>,
}

/// Server settings that make no sense: the read cannot go on without them.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum ServerSettingsError {
    UnexpectedValue { setting: String, value: String },
    NoMaxConnections,
}

impl std::fmt::Display for ServerSettingsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerSettingsError::UnexpectedValue { setting, value } => {
                write!(f, "unexpected value {value:?} for setting {setting}")
            }
            ServerSettingsError::NoMaxConnections => {
                f.write_str("max_connections not found in pg_settings")
            }
        }
    }
}

impl From<ServerSettingsError> for ReadError {
    fn from(e: ServerSettingsError) -> ReadError {
        ReadError::Failed(e.to_string())
    }
}

pub(super) fn server_settings(rows: &[SettingRow]) -> Result<ServerSettings, ServerSettingsError> {
    let mut max_connections = None;
    let mut reserved = 0u64;
    let mut timeouts = Vec::new();
    for row in rows {
        let unexpected = |value: &str| ServerSettingsError::UnexpectedValue {
            setting: row.name.clone(),
            value: value.to_string(),
        };
        let int = |v: &str| v.parse::<u64>().map_err(|_| unexpected(v));
        match row.name.as_str() {
            "max_connections" => max_connections = Some(int(&row.setting)?),
            "superuser_reserved_connections" | "reserved_connections" => {
                reserved += int(&row.setting)?
            }
            _ => {
                let value: f64 = row
                    .reset_val
                    .parse()
                    .map_err(|_| unexpected(&row.reset_val))?;
                timeouts.push((row.name.clone(), to_seconds(value, &row.unit)));
            }
        }
    }
    timeouts.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(ServerSettings {
        max_connections: max_connections.ok_or(ServerSettingsError::NoMaxConnections)?,
        reserved_connections: reserved,
        timeouts,
    })
}

fn to_seconds(value: f64, unit: &str) -> f64 {
    match unit {
        "us" => value / 1_000_000.0,
        "ms" => value / 1000.0,
        "min" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86400.0,
        _ => value,
    }
}

/// Role and database names by OID, kept from the last read that could see them.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Names {
    /// Whether the names were read at least once on this session.
    pub(super) loaded: bool,
    /// Whether the role may see every session, as the names statement found.
    pub(super) reads_all_stats: Option<bool>,
    pub(super) databases: HashMap<u32, String>,
    pub(super) roles: HashMap<u32, String>,
    /// Connection limits (none: -1, left out), sorted by name.
    pub(super) user_limits: Vec<(String, i32)>,
    pub(super) database_limits: Vec<(String, i32)>,
    /// The superuser login roles' OIDs.
    pub(super) superusers: HashSet<u32>,
}

impl Names {
    /// Database OIDs whose counters to sum; the shared-objects row (0) too, as
    /// pg_stat_database has it.
    pub(super) fn database_oids(&self) -> Vec<u32> {
        let mut oids: Vec<u32> = self.databases.keys().copied().collect();
        oids.push(0);
        oids.sort_unstable();
        oids
    }

    fn name_of(map: &HashMap<u32, String>, oid: Option<u32>) -> String {
        match oid {
            None | Some(0) => "unknown".to_string(),
            Some(oid) => map
                .get(&oid)
                .cloned()
                .unwrap_or_else(|| format!("oid:{oid}")),
        }
    }
}

pub(super) fn names(rows: &[NameRow]) -> Names {
    let mut names = Names {
        loaded: true,
        ..Names::default()
    };
    for row in rows {
        let (limits, map) = match row.kind {
            NameKind::Privilege => {
                names.reads_all_stats = Some(row.limit == 1);
                continue;
            }
            NameKind::Superuser => {
                names.superusers.insert(row.oid);
                continue;
            }
            NameKind::Database => (&mut names.database_limits, &mut names.databases),
            NameKind::Role => (&mut names.user_limits, &mut names.roles),
        };
        if row.limit >= 0 {
            limits.push((row.name.clone(), row.limit));
        }
        map.insert(row.oid, row.name.clone());
    }
    names.user_limits.sort();
    names.database_limits.sort();
    names
}

/// Each limit with the sessions that count against it.
pub(super) fn limit_use(limits: &[(String, i32)], used: &HashMap<String, u64>) -> Vec<LimitUse> {
    limits
        .iter()
        .map(|(name, limit)| LimitUse {
            name: name.clone(),
            limit: (*limit).max(0) as u64,
            used: used.get(name).copied().unwrap_or(0),
        })
        .collect()
}

pub(super) fn activity(rows: &[ActivityRow], names: &Names) -> Vec<SessionGroup> {
    rows.iter()
        .map(|row| SessionGroup {
            hidden: row.hidden,
            origin: Origin {
                database: Names::name_of(&names.databases, row.datid),
                user: Names::name_of(&names.roles, row.usesysid),
                application: row.application.clone(),
            },
            state: state_of(row.state.as_deref()),
            count: row.count.max(0) as u64,
            max_state_seconds: row.max_state_seconds,
            sum_age_seconds: row.sum_age_seconds,
            max_age_seconds: row.max_age_seconds,
            oldest_transaction_seconds: row.oldest_transaction_seconds,
            over: row.over.iter().map(|n| (*n).max(0) as u64).collect(),
        })
        .collect()
}

/// Maps `pg_stat_activity.state`. A NULL state (a session the exporter's role may
/// not inspect, or one still starting) is `other`, never dropped: it still holds a
/// connection slot.
fn state_of(state: Option<&str>) -> State {
    match state {
        Some("active") | Some("fastpath function call") => State::Active,
        Some("idle") => State::Idle,
        Some("idle in transaction") => State::IdleInTransaction,
        Some("idle in transaction (aborted)") => State::IdleInTransactionAborted,
        _ => State::Other,
    }
}

/// Sessions waiting on a heavyweight lock: those the role may see, plus the locks
/// awaited in `pg_locks` (which every role may read) when it could be read.
pub(super) fn lock_waiters(activity: &[ActivityRow], locks: Option<&[LockRow]>) -> i64 {
    let seen: i64 = activity.iter().map(|row| row.lock_waiters).sum();
    let awaited: i64 = locks
        .unwrap_or_default()
        .iter()
        .filter(|row| !row.granted)
        .map(|row| row.count)
        .sum();
    seen + awaited
}

pub(super) fn locks(rows: &[LockRow]) -> Vec<LockCount> {
    rows.iter()
        .map(|row| LockCount {
            mode: row.mode.clone(),
            granted: row.granted,
            count: row.count.max(0) as u64,
        })
        .collect()
}

pub(super) fn blocking(rows: &[BlockingRow]) -> Blocking {
    let mut blocked = 0u64;
    let mut blockers: HashSet<i32> = HashSet::new();
    let mut max_wait: f64 = 0.0;
    for row in rows {
        if row.blocked_by.is_empty() {
            continue;
        }
        blocked += 1;
        blockers.extend(&row.blocked_by);
        max_wait = max_wait.max(row.wait_seconds);
    }
    // A blocker that waits itself is inside a tree, not at its root.
    let waiting: HashSet<i32> = rows
        .iter()
        .filter(|row| !row.blocked_by.is_empty())
        .map(|row| row.pid)
        .collect();
    Blocking {
        blocked,
        blocking: blockers.len() as u64,
        root_blockers: blockers.difference(&waiting).count() as u64,
        max_lock_wait_seconds: max_wait,
    }
}

/// The counters of the statement's row; none without one.
pub(super) fn database_stats(row: Option<&DatabaseStatsRow>) -> ServerCounters {
    let Some(row) = row else {
        return ServerCounters::default();
    };
    let n = |v: i64| v.max(0) as u64;
    let mut counters = ServerCounters {
        deadlocks: Some(n(row.deadlocks)),
        ..ServerCounters::default()
    };
    if let Some(ends) = &row.sessions {
        counters.sessions = Some(n(ends.sessions));
        counters.abnormal_ends = vec![
            ("abandoned", n(ends.abandoned)),
            ("fatal", n(ends.fatal)),
            ("killed", n(ends.killed)),
        ];
    }
    counters
}

/// Whether the role may see every session. Unknown until the names statement has
/// run once; hidden sessions tell on their own.
pub(super) fn privileges(reads_all_stats: Option<bool>, hidden: u64) -> Vec<Privilege> {
    match (reads_all_stats, hidden) {
        (Some(granted), 0) => vec![Privilege {
            name: READ_ALL_STATS,
            granted,
        }],
        (None, 0) => Vec::new(),
        (_, _) => vec![Privilege {
            name: READ_ALL_STATS,
            granted: false,
        }],
    }
}

/// One client session, as the incident statement reads it.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct IncidentRow {
    pub(super) pid: i32,
    pub(super) datid: Option<u32>,
    pub(super) usesysid: Option<u32>,
    pub(super) application: String,
    /// Client address, else host name; `''` for a local socket.
    pub(super) client: String,
    pub(super) state: Option<String>,
    pub(super) state_seconds: Option<f64>,
    pub(super) transaction_seconds: Option<f64>,
    pub(super) connection_seconds: Option<f64>,
    pub(super) wait_event_type: Option<String>,
    pub(super) wait_event: Option<String>,
    /// `pg_blocking_pids`, only where it was asked (a lock wait); NULL elsewhere.
    pub(super) blocked_by: Option<Vec<i32>>,
    /// The role may not see the session's state, times, wait or text.
    pub(super) hidden: bool,
    pub(super) own: bool,
    /// Only when the statement text was asked for.
    pub(super) query: Option<String>,
}

/// The incident view's sessions, sorted by pid, named with the names the session
/// knows. Nobody is marked superuser when the superusers were never read (see
/// [`incident_notes`]). Walsenders are not client backends, so no row is a
/// replication connection.
pub(super) fn incident_sessions(rows: &[IncidentRow], names: &Names) -> Vec<SessionRow> {
    let mut sessions: Vec<SessionRow> = rows
        .iter()
        .map(|row| {
            let visible = |v: Option<f64>| v.filter(|_| !row.hidden).map(|v| v.max(0.0));
            SessionRow {
                pid: i64::from(row.pid),
                application: row.application.clone(),
                user: Names::name_of(&names.roles, row.usesysid),
                database: Names::name_of(&names.databases, row.datid),
                client: row.client.clone(),
                state: (!row.hidden).then(|| state_of(row.state.as_deref())),
                state_seconds: visible(row.state_seconds),
                transaction_seconds: visible(row.transaction_seconds),
                connection_seconds: visible(row.connection_seconds),
                wait_event: wait_event(row.wait_event_type.as_deref(), row.wait_event.as_deref()),
                blocked_by: {
                    let mut pids: Vec<i64> = row
                        .blocked_by
                        .iter()
                        .flatten()
                        .map(|p| i64::from(*p))
                        .collect();
                    pids.sort_unstable();
                    pids.dedup();
                    pids
                },
                query: row.query.clone().filter(|_| !row.hidden),
                superuser: row
                    .usesysid
                    .is_some_and(|oid| names.superusers.contains(&oid)),
                replication: false,
                own: row.own,
            }
        })
        .collect();
    sessions.sort_by_key(|s| s.pid);
    sessions
}

/// `Lock:transactionid`, or the type alone where the event is not shown.
fn wait_event(kind: Option<&str>, event: Option<&str>) -> Option<String> {
    match (kind, event) {
        (Some(kind), Some(event)) => Some(format!("{kind}:{event}")),
        (Some(kind), None) => Some(kind.to_string()),
        (None, _) => None,
    }
}

/// What the incident read could not see, for the reader: hidden sessions and the
/// privilege that would show them, names or superusers that could not be read.
pub(super) fn incident_notes(
    sessions: &[SessionRow],
    privileges: &[Privilege],
    names: &Names,
    names_read_now: bool,
) -> Vec<String> {
    let mut notes = Vec::new();
    let hidden = sessions.iter().filter(|s| s.state.is_none()).count();
    let denied = privileges
        .iter()
        .any(|p| p.name == READ_ALL_STATS && !p.granted);
    if hidden > 0 || denied {
        notes.push(format!(
            "{hidden} session(s) of other roles are hidden: the exporter's role lacks \
             {READ_ALL_STATS} (GRANT pg_monitor TO <role>); their pid, database, user \
             and application are shown, not their state, times, wait or statement"
        ));
    }
    if !names.loaded {
        notes.push(
            "role and database names (pg_roles, pg_database) could not be read on this \
             session: sessions show oids, and none is known to be a superuser, so no \
             termination is offered"
                .to_string(),
        );
    } else if !names_read_now {
        notes.push(
            "role and database names (pg_roles, pg_database) could not be read now: \
             names and superusers are those of an earlier read"
                .to_string(),
        );
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_states_map_to_the_contract() {
        assert_eq!(state_of(Some("active")), State::Active);
        assert_eq!(state_of(Some("fastpath function call")), State::Active);
        assert_eq!(state_of(Some("idle")), State::Idle);
        assert_eq!(
            state_of(Some("idle in transaction")),
            State::IdleInTransaction
        );
        assert_eq!(
            state_of(Some("idle in transaction (aborted)")),
            State::IdleInTransactionAborted
        );
        assert_eq!(state_of(Some("disabled")), State::Other);
        assert_eq!(state_of(None), State::Other);
    }

    #[test]
    fn timeouts_convert_to_seconds() {
        assert_eq!(to_seconds(1500.0, "ms"), 1.5);
        assert_eq!(to_seconds(2.0, "min"), 120.0);
        assert_eq!(to_seconds(3.0, "s"), 3.0);
        assert_eq!(to_seconds(2_000_000.0, "us"), 2.0);
        assert_eq!(to_seconds(1.0, "h"), 3600.0);
        assert_eq!(to_seconds(1.0, "d"), 86400.0);
        assert_eq!(to_seconds(7.0, ""), 7.0);
    }

    fn setting(name: &str, setting: &str, unit: &str, reset_val: &str) -> SettingRow {
        SettingRow {
            name: name.into(),
            setting: setting.into(),
            unit: unit.into(),
            reset_val: reset_val.into(),
        }
    }

    #[test]
    fn server_settings_sum_reserved_slots_and_convert_timeouts() {
        let parsed = server_settings(&[
            setting("max_connections", "100", "", "100"),
            setting("superuser_reserved_connections", "3", "", "3"),
            setting("reserved_connections", "2", "", "2"),
            // The session's own SET (0) is not the server's value: reset_val is.
            setting("statement_timeout", "0", "ms", "30000"),
            setting("idle_session_timeout", "0", "ms", "0"),
            setting("lock_timeout", "1", "min", "1"),
        ])
        .unwrap();
        assert_eq!(parsed.max_connections, 100);
        assert_eq!(parsed.reserved_connections, 5);
        assert_eq!(
            parsed.timeouts,
            vec![
                ("idle_session_timeout".to_string(), 0.0),
                ("lock_timeout".to_string(), 60.0),
                ("statement_timeout".to_string(), 30.0),
            ]
        );
    }

    #[test]
    fn server_settings_without_max_connections_or_with_odd_values_fail() {
        let err = server_settings(&[setting("lock_timeout", "0", "ms", "0")]).unwrap_err();
        assert_eq!(err, ServerSettingsError::NoMaxConnections);
        assert_eq!(err.to_string(), "max_connections not found in pg_settings");
        let err = server_settings(&[setting("max_connections", "-1", "", "-1")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unexpected value \"-1\" for setting max_connections"
        );
        let err = server_settings(&[
            setting("max_connections", "10", "", "10"),
            setting("statement_timeout", "0", "ms", "soon"),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "unexpected value \"soon\" for setting statement_timeout"
        );
    }

    fn name(kind: &str, oid: u32, name: &str, limit: i32) -> NameRow {
        NameRow {
            kind: NameKind::from_tag(kind),
            oid,
            name: name.into(),
            limit,
        }
    }

    #[test]
    fn names_keep_limits_only_where_there_is_one() {
        let n = names(&[
            name("d", 5, "shop", 50),
            name("d", 1, "template1", -1),
            name("r", 10, "app", 20),
            name("r", 11, "admin", -1),
            name("r", 12, "batch", 0),
            name("p", 0, "", 1),
        ]);
        assert!(n.loaded);
        assert_eq!(n.reads_all_stats, Some(true));
        assert_eq!(n.databases.len(), 2);
        assert_eq!(n.roles.get(&11).map(String::as_str), Some("admin"));
        assert_eq!(n.database_limits, vec![("shop".to_string(), 50)]);
        // Sorted by name; a limit of 0 is a limit.
        assert_eq!(
            n.user_limits,
            vec![("app".to_string(), 20), ("batch".to_string(), 0)]
        );
        assert_eq!(n.database_oids(), vec![0, 1, 5]);
        assert_eq!(names(&[name("p", 0, "", 0)]).reads_all_stats, Some(false));
        assert_eq!(names(&[]).reads_all_stats, None);
        assert_eq!(Names::default().database_oids(), vec![0]);
    }

    #[test]
    fn limits_count_the_sessions_against_them() {
        let used = HashMap::from([("app".to_string(), 7)]);
        let limits = limit_use(&[("app".to_string(), 20), ("idle".to_string(), 3)], &used);
        assert_eq!(
            limits,
            vec![
                LimitUse {
                    name: "app".into(),
                    limit: 20,
                    used: 7
                },
                LimitUse {
                    name: "idle".into(),
                    limit: 3,
                    used: 0
                },
            ]
        );
    }

    fn group(state: Option<&str>, count: i64) -> ActivityRow {
        ActivityRow {
            datid: Some(5),
            usesysid: Some(10),
            application: "web".into(),
            state: state.map(String::from),
            count,
            max_state_seconds: 1.5,
            sum_age_seconds: 20.0,
            max_age_seconds: 9.0,
            oldest_transaction_seconds: None,
            over: vec![3, -1],
            lock_waiters: 0,
            hidden: false,
        }
    }

    #[test]
    fn activity_names_origins_and_counts_null_states_as_other() {
        let n = names(&[name("d", 5, "shop", -1), name("r", 10, "app", -1)]);
        let hidden = ActivityRow {
            hidden: true,
            usesysid: Some(99),
            datid: None,
            ..group(None, 4)
        };
        let groups = activity(&[group(Some("idle"), 2), hidden], &n);
        assert_eq!(groups.len(), 2);
        let first = &groups[0];
        assert_eq!(first.state, State::Idle);
        assert_eq!(
            first.origin,
            Origin {
                database: "shop".into(),
                user: "app".into(),
                application: "web".into()
            }
        );
        assert_eq!(first.count, 2);
        assert_eq!(first.over, vec![3, 0]);
        assert_eq!(first.max_state_seconds, 1.5);
        // A hidden session: no state, an unknown database, a role not (yet) named.
        let second = &groups[1];
        assert!(second.hidden);
        assert_eq!(second.state, State::Other);
        assert_eq!(second.count, 4);
        assert_eq!(second.origin.database, "unknown");
        assert_eq!(second.origin.user, "oid:99");
        let zero = ActivityRow {
            datid: Some(0),
            count: -1,
            ..group(Some("active"), 0)
        };
        let groups = activity(&[zero], &Names::default());
        assert_eq!(groups[0].origin.database, "unknown");
        assert_eq!(groups[0].count, 0);
    }

    fn lock(mode: &str, granted: bool, count: i64) -> LockRow {
        LockRow {
            mode: mode.into(),
            granted,
            count,
        }
    }

    #[test]
    fn lock_waiters_come_from_sessions_and_from_pg_locks() {
        let waiting = ActivityRow {
            lock_waiters: 2,
            ..group(Some("active"), 2)
        };
        let activity = [waiting, group(Some("idle"), 1)];
        let locks = [
            lock("AccessShareLock", true, 40),
            lock("ExclusiveLock", false, 3),
        ];
        assert_eq!(lock_waiters(&activity, Some(&locks)), 5);
        assert_eq!(lock_waiters(&activity, None), 2);
        assert_eq!(lock_waiters(&[], Some(&locks[..1])), 0);
    }

    #[test]
    fn locks_keep_mode_and_grant() {
        assert_eq!(
            locks(&[
                lock("RowExclusiveLock", false, 2),
                lock("ShareLock", true, -3)
            ]),
            vec![
                LockCount {
                    mode: "RowExclusiveLock".into(),
                    granted: false,
                    count: 2
                },
                LockCount {
                    mode: "ShareLock".into(),
                    granted: true,
                    count: 0
                },
            ]
        );
    }

    #[test]
    fn blocking_counts_waiters_and_distinct_blockers() {
        let row = |pid: i32, blocked_by: Vec<i32>, wait_seconds: f64| BlockingRow {
            pid,
            blocked_by,
            wait_seconds,
        };
        // 101 waits on 100 and blocks 201: only 100 is a root.
        let b = blocking(&[
            row(200, vec![100], 2.0),
            row(201, vec![100, 101], 7.5),
            row(101, vec![100], 1.0),
            // Granted meanwhile: neither blocked nor counted in the longest wait.
            row(202, vec![], 60.0),
        ]);
        assert_eq!(
            b,
            Blocking {
                blocked: 3,
                blocking: 2,
                root_blockers: 1,
                max_lock_wait_seconds: 7.5
            }
        );
        assert_eq!(blocking(&[]), Blocking::default());
    }

    #[test]
    fn database_stats_follow_what_the_server_counts() {
        assert_eq!(database_stats(None), ServerCounters::default());
        let v13 = DatabaseStatsRow {
            deadlocks: 4,
            sessions: None,
        };
        let counters = database_stats(Some(&v13));
        assert_eq!(counters.deadlocks, Some(4));
        assert_eq!(counters.sessions, None);
        assert!(counters.abnormal_ends.is_empty());
        let v14 = DatabaseStatsRow {
            deadlocks: -1,
            sessions: Some(SessionEnds {
                sessions: 900,
                abandoned: 1,
                fatal: 2,
                killed: 3,
            }),
        };
        let counters = database_stats(Some(&v14));
        assert_eq!(counters.deadlocks, Some(0));
        assert_eq!(counters.sessions, Some(900));
        assert_eq!(
            counters.abnormal_ends,
            vec![("abandoned", 1), ("fatal", 2), ("killed", 3)]
        );
    }

    #[test]
    fn the_privilege_is_unknown_until_seen_and_hidden_sessions_deny_it() {
        assert!(privileges(None, 0).is_empty());
        assert_eq!(
            privileges(Some(true), 0),
            vec![Privilege {
                name: READ_ALL_STATS,
                granted: true
            }]
        );
        for known in [None, Some(true), Some(false)] {
            assert_eq!(
                privileges(known, 3),
                vec![Privilege {
                    name: READ_ALL_STATS,
                    granted: false
                }]
            );
        }
    }

    fn incident_row(pid: i32) -> IncidentRow {
        IncidentRow {
            pid,
            datid: Some(5),
            usesysid: Some(10),
            application: "payflow-api".into(),
            client: "10.0.0.7".into(),
            state: Some("idle in transaction".into()),
            state_seconds: Some(12.5),
            transaction_seconds: Some(13.0),
            connection_seconds: Some(-0.001),
            wait_event_type: Some("Client".into()),
            wait_event: Some("ClientRead".into()),
            blocked_by: None,
            hidden: false,
            own: false,
            query: None,
        }
    }

    #[test]
    fn names_list_superusers_apart() {
        let n = names(&[
            name("r", 10, "app", -1),
            name("r", 11, "postgres", -1),
            name("s", 11, "postgres", 0),
            name("s", 12, "admin", 0),
        ]);
        assert_eq!(n.superusers, HashSet::from([11, 12]));
        // A superuser row is not a role name of its own, nor a limit.
        assert_eq!(n.roles.len(), 2);
        assert!(n.user_limits.is_empty());
        assert_eq!(NameKind::from_tag("s"), NameKind::Superuser);
    }

    #[test]
    fn incident_sessions_name_map_and_hide_what_the_role_may_not_see() {
        let n = names(&[
            name("d", 5, "shop", -1),
            name("r", 10, "payflow", -1),
            name("r", 11, "postgres", -1),
            name("s", 11, "postgres", 0),
        ]);
        let waiter = IncidentRow {
            state: Some("active".into()),
            wait_event_type: Some("Lock".into()),
            wait_event: Some("transactionid".into()),
            blocked_by: Some(vec![300, 100, 300]),
            query: Some("UPDATE accounts".into()),
            ..incident_row(200)
        };
        let hidden = IncidentRow {
            usesysid: Some(11),
            state: None,
            state_seconds: None,
            transaction_seconds: None,
            connection_seconds: None,
            wait_event_type: None,
            wait_event: None,
            blocked_by: Some(vec![]),
            hidden: true,
            // What the server puts there for a hidden session: never shown.
            query: Some("<insufficient privilege>".into()),
            ..incident_row(150)
        };
        let own = IncidentRow {
            own: true,
            datid: Some(77),
            usesysid: None,
            state: None,
            wait_event_type: Some("Activity".into()),
            wait_event: None,
            ..incident_row(120)
        };
        let sessions = incident_sessions(&[waiter, hidden, own, incident_row(100)], &n);
        let pids: Vec<i64> = sessions.iter().map(|s| s.pid).collect();
        assert_eq!(pids, vec![100, 120, 150, 200], "sorted by pid");

        let root = &sessions[0];
        assert_eq!(root.state, Some(State::IdleInTransaction));
        assert_eq!(
            (root.user.as_str(), root.database.as_str()),
            ("payflow", "shop")
        );
        assert_eq!(root.client, "10.0.0.7");
        assert_eq!(root.wait_event.as_deref(), Some("Client:ClientRead"));
        assert_eq!(root.state_seconds, Some(12.5));
        assert_eq!(root.transaction_seconds, Some(13.0));
        // A session that changed state after the statement began: not negative.
        assert_eq!(root.connection_seconds, Some(0.0));
        assert!(root.blocked_by.is_empty());
        assert!(!root.superuser && !root.replication && !root.own);

        let own = &sessions[1];
        assert!(own.own);
        // A visible session without a state still holds a slot: `other`, as counted.
        assert_eq!(own.state, Some(State::Other));
        assert_eq!(own.database, "oid:77");
        assert_eq!(own.user, "unknown");
        assert_eq!(own.wait_event.as_deref(), Some("Activity"));

        let hidden = &sessions[2];
        assert_eq!(hidden.state, None);
        assert_eq!(hidden.user, "postgres");
        assert!(hidden.superuser);
        assert_eq!(hidden.query, None);
        assert_eq!(hidden.state_seconds, None);

        let waiter = &sessions[3];
        assert_eq!(waiter.state, Some(State::Active));
        assert_eq!(waiter.wait_event.as_deref(), Some("Lock:transactionid"));
        assert_eq!(waiter.blocked_by, vec![100, 300]);
        assert_eq!(waiter.query.as_deref(), Some("UPDATE accounts"));

        // Without names, nobody is a superuser and oids stand in for names.
        let unnamed = incident_sessions(&[incident_row(1)], &Names::default());
        assert!(!unnamed[0].superuser);
        assert_eq!(unnamed[0].user, "oid:10");
    }

    #[test]
    fn incident_notes_name_the_missing_privilege_and_unread_names() {
        let n = names(&[name("r", 10, "payflow", -1)]);
        let visible = incident_sessions(&[incident_row(1)], &n);
        let granted = [Privilege {
            name: READ_ALL_STATS,
            granted: true,
        }];
        assert!(incident_notes(&visible, &granted, &n, true).is_empty());

        let hidden = IncidentRow {
            hidden: true,
            ..incident_row(2)
        };
        let sessions = incident_sessions(&[incident_row(1), hidden], &n);
        let denied = privileges(Some(false), 1);
        let notes = incident_notes(&sessions, &denied, &n, true);
        assert_eq!(notes.len(), 1);
        assert!(notes[0].starts_with("1 session(s) of other roles are hidden"));
        assert!(notes[0].contains("pg_read_all_stats (GRANT pg_monitor TO <role>)"));
        // Denied, though nobody else is connected now: still said.
        assert_eq!(incident_notes(&visible, &denied, &n, true).len(), 1);

        let notes = incident_notes(&visible, &granted, &Names::default(), false);
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("no termination is offered"), "{notes:?}");
        let notes = incident_notes(&visible, &granted, &n, false);
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("those of an earlier read"), "{notes:?}");
    }
}
