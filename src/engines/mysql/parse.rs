//! From the rows of a read to the [`Snapshot`]. The driver's rows are copied, column
//! by column and with no rule applied, into one plain struct per statement
//! ([`Rows::from_driver`]); every rule (which threads are sessions, what is hidden,
//! which limit applies, which unit a timeout is in) works on those structs, so that
//! each is unit-tested without a server.

use std::collections::HashMap;

use mysql_async::{Row, Value};

use super::sql::{Part, THREADS_CONNECTED, VARIABLES, Visibility};
use crate::engines::{ReadError, ReadSettings};
use crate::model::{
    Blocking, Engine, LimitUse, LockCount, Origin, Privilege, ReadPart, ServerCounters,
    SessionFacts, SessionGroup, Snapshot, State, summarize_sessions,
};

/// The database label of a session without a default database.
pub const NO_DATABASE: &str = "(none)";

/// Database, user and application of the sessions the exporter may count but not see.
pub const HIDDEN: &str = "(hidden)";

/// A read whose rows do not make a snapshot.
#[derive(Clone, Debug, PartialEq)]
pub enum ParseError {
    /// An activity row narrower than the statement asked for.
    ActivityColumns { found: usize, expected: usize },
    /// A status or variable the snapshot cannot do without.
    NotReported(&'static str),
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::ActivityColumns { found, expected } => {
                write!(f, "activity row has {found} columns, expected {expected}")
            }
            ParseError::NotReported(name) => write!(f, "the server did not report {name}"),
        }
    }
}

impl From<ParseError> for ReadError {
    fn from(e: ParseError) -> ReadError {
        ReadError::Failed(e.to_string())
    }
}

/// One row of the activity statement: a group of client threads. Every field is
/// the column as the server sent it (`None` for NULL).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ActivityRow {
    pub database: Option<String>,
    pub user: Option<String>,
    pub client: Option<String>,
    pub command: Option<String>,
    /// Non-zero when the threads hold an open InnoDB transaction.
    pub in_transaction: Option<f64>,
    pub count: Option<f64>,
    pub max_state_seconds: Option<f64>,
    /// The oldest transaction on the server: the same on every row.
    pub oldest_transaction_seconds: Option<f64>,
    /// Per duration threshold, the threads at least that long in their command.
    pub over: Vec<Option<f64>>,
}

/// A row of `SHOW GLOBAL VARIABLES` or `SHOW GLOBAL STATUS`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NameValue {
    pub name: Option<String>,
    pub value: Option<String>,
}

/// The one row of the blocking statement.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BlockingRow {
    pub blocked: Option<f64>,
    pub blocking: Option<f64>,
    pub max_lock_wait_seconds: Option<f64>,
    /// Blocking transactions that wait on no lock themselves.
    pub root_blockers: Option<f64>,
}

/// A row of the locks statement: the locks of one mode, granted or waiting.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LockRow {
    pub mode: Option<String>,
    /// Non-zero when granted.
    pub granted: Option<f64>,
    pub count: Option<f64>,
}

/// A row of the user-limits statement: an account's own `max_user_connections`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UserLimitRow {
    pub user: Option<String>,
    pub limit: Option<f64>,
}

/// Everything one read returned; `None` for a part not sent or failed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rows {
    pub activity: Vec<ActivityRow>,
    pub settings: Vec<NameValue>,
    pub status: Option<Vec<NameValue>>,
    pub blocking: Option<Vec<BlockingRow>>,
    pub locks: Option<Vec<LockRow>>,
    pub user_limits: Option<Vec<UserLimitRow>>,
}

/// What the session found at connect: the same for each of its reads.
#[derive(Clone, Debug)]
pub struct Server {
    pub engine: Engine,
    pub version: String,
    pub visibility: Visibility,
}

/// The snapshot of one read. `parts` says which parts of the read worked.
pub fn snapshot(
    rows: Rows,
    server: &Server,
    parts: Vec<ReadPart>,
    settings: &ReadSettings,
) -> Result<Snapshot, ParseError> {
    let every_thread_seen = server.visibility == Visibility::AllThreads;
    let variables = Values::from_rows(rows.settings);
    let status = rows.status.map(Values::from_rows);
    let status_u64 = |name: &str| status.as_ref().and_then(|s| s.u64(name));
    let threads_connected = if every_thread_seen {
        None
    } else {
        Some(status_u64(THREADS_CONNECTED).ok_or(ParseError::NotReported(THREADS_CONNECTED))?)
    };
    let facts = sessions(&rows.activity, threads_connected, settings);
    let max_connections = variables
        .u64("max_connections")
        .ok_or(ParseError::NotReported("max_connections"))?;
    let user_limits = rows.user_limits.map(|rows| {
        user_limit_use(
            &own_limits(&rows),
            global_user_limit(&variables),
            &facts.per_user,
            every_thread_seen,
        )
    });
    Ok(Snapshot {
        blocking: rows.blocking.map(|rows| parse_blocking(&rows)),
        locks: rows.locks.map(|rows| parse_locks(&rows)),
        user_limits,
        timeouts: timeouts(&variables),
        max_used_connections: status_u64("Max_used_connections"),
        threads_running: status_u64("Threads_running"),
        counters: ServerCounters {
            deadlocks: status_u64("Innodb_deadlocks"),
            sessions: status_u64("Connections"),
            abnormal_ends: Vec::new(),
            refused: status_u64("Connection_errors_max_connections"),
            failed: status_u64("Aborted_connects"),
        },
        parts,
        privileges: vec![Privilege {
            name: super::sql::PROCESS,
            granted: every_thread_seen,
        }],
        // The extra admin slot (SUPER / CONNECTION_ADMIN) comes on top of
        // max_connections; ordinary logins may use all of it: nothing reserved.
        ..Snapshot::new(
            server.engine,
            server.version.clone(),
            max_connections,
            0,
            facts,
        )
    })
}

/// The sessions seen in the processlist, and, when not every thread is seen, the
/// others as one hidden group: `threads_connected` is then the server's count of
/// client connections.
fn sessions(
    activity: &[ActivityRow],
    threads_connected: Option<u64>,
    settings: &ReadSettings,
) -> SessionFacts {
    let thresholds = settings.thresholds.len();
    let mut groups = parse_activity(activity);
    if let Some(connected) = threads_connected {
        let hidden = hidden_sessions(connected, &groups);
        if hidden > 0 {
            groups.push(hidden_group(hidden, thresholds));
        }
    }
    let mut facts = summarize_sessions(groups, &settings.thresholds, settings.origin_cap);
    // The hidden sessions are nobody's for the per-account limits.
    facts.per_user.remove(HIDDEN);
    // The processlist does not tell when a session connected.
    facts.average_connection_age_seconds = None;
    facts.max_connection_age_seconds = None;
    facts
}

fn parse_activity(rows: &[ActivityRow]) -> Vec<SessionGroup> {
    rows.iter().filter_map(session_group).collect()
}

/// The group of one activity row; `None` for threads that are not client sessions.
fn session_group(row: &ActivityRow) -> Option<SessionGroup> {
    let in_trx = row.in_transaction.unwrap_or(0.0) > 0.0;
    let state = state_of(row.command.as_deref().unwrap_or_default(), in_trx)?;
    Some(SessionGroup {
        hidden: false,
        origin: Origin {
            database: row
                .database
                .clone()
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| NO_DATABASE.to_string()),
            user: row.user.clone().unwrap_or_default(),
            application: row.client.clone().unwrap_or_default(),
        },
        state,
        count: row.count.unwrap_or(0.0) as u64,
        max_state_seconds: row.max_state_seconds.unwrap_or(0.0),
        // The processlist does not tell when a session connected.
        sum_age_seconds: 0.0,
        max_age_seconds: 0.0,
        // The oldest transaction on the server belongs to the groups that hold
        // transactions.
        oldest_transaction_seconds: if in_trx {
            row.oldest_transaction_seconds
        } else {
            None
        },
        over: row.over.iter().map(|n| n.unwrap_or(0.0) as u64).collect(),
    })
}

/// Maps a MySQL/MariaDB processlist `COMMAND`, given whether the thread has an open
/// InnoDB transaction. `None` means the thread is not a client session at all.
pub(super) fn state_of(command: &str, in_transaction: bool) -> Option<State> {
    match command {
        "Sleep" if in_transaction => Some(State::IdleInTransaction),
        "Sleep" => Some(State::Idle),
        "Daemon" | "Binlog Dump" | "Binlog Dump GTID" | "Connect" | "Slave_IO" | "Slave_SQL"
        | "Slave_worker" | "Register Slave" => None,
        "Killed" | "Connect Out" => Some(State::Other),
        _ => Some(State::Active),
    }
}

/// The sessions counted by the server but not seen in the processlist: client
/// connections minus the client threads seen (never below zero: the two are read a
/// moment apart).
fn hidden_sessions(threads_connected: u64, seen: &[SessionGroup]) -> u64 {
    let seen: u64 = seen.iter().map(|g| g.count).sum();
    threads_connected.saturating_sub(seen)
}

/// The sessions the exporter may count but not see: state `other`, origin
/// [`HIDDEN`], no durations.
fn hidden_group(count: u64, thresholds: usize) -> SessionGroup {
    SessionGroup {
        hidden: true,
        origin: Origin {
            database: HIDDEN.to_string(),
            user: HIDDEN.to_string(),
            application: HIDDEN.to_string(),
        },
        state: State::Other,
        count,
        max_state_seconds: 0.0,
        sum_age_seconds: 0.0,
        max_age_seconds: 0.0,
        oldest_transaction_seconds: None,
        over: vec![0; thresholds],
    }
}

/// Variables or status values by name.
struct Values(HashMap<String, String>);

impl Values {
    /// A row without a name is left out; a NULL value is the empty text.
    fn from_rows(rows: Vec<NameValue>) -> Values {
        Values(
            rows.into_iter()
                .filter_map(|r| Some((r.name?, r.value.unwrap_or_default())))
                .collect(),
        )
    }

    fn parsed<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        self.0.get(name).and_then(|v| v.parse::<T>().ok())
    }

    fn u64(&self, name: &str) -> Option<u64> {
        self.parsed(name)
    }
}

/// The global `max_user_connections`; 0 (or less) is no limit.
fn global_user_limit(variables: &Values) -> Option<i64> {
    variables
        .parsed::<i64>("max_user_connections")
        .filter(|n| *n > 0)
}

/// The accounts' own limits; a row with a NULL user or limit is left out.
fn own_limits(rows: &[UserLimitRow]) -> HashMap<String, u64> {
    rows.iter()
        .filter_map(|r| Some((r.user.clone()?, r.limit? as u64)))
        .collect()
}

/// A limit for every account that has its own, and the global
/// `max_user_connections` for the users seen in sessions that have none. When not
/// every user's sessions are seen (no `PROCESS`), only the users seen: the others'
/// use is unknown, and 0 would be a plausible lie.
fn user_limit_use(
    own: &HashMap<String, u64>,
    global: Option<i64>,
    used: &HashMap<String, u64>,
    every_user_seen: bool,
) -> Vec<LimitUse> {
    let mut out: Vec<LimitUse> = own
        .iter()
        .filter(|(name, _)| every_user_seen || used.contains_key(*name))
        .map(|(name, limit)| LimitUse {
            name: name.clone(),
            limit: *limit,
            used: used.get(name).copied().unwrap_or(0),
        })
        .collect();
    if let Some(global) = global {
        for (name, n) in used {
            if !own.contains_key(name) {
                out.push(LimitUse {
                    name: name.clone(),
                    limit: global as u64,
                    used: *n,
                });
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Timeouts that end sessions or statements, in seconds (0 = disabled).
fn timeouts(variables: &Values) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for name in VARIABLES {
        if matches!(*name, "max_connections" | "max_user_connections") {
            continue;
        }
        let Some(value) = variables.parsed::<f64>(name) else {
            continue;
        };
        // MySQL's max_execution_time is in milliseconds; everything else in seconds.
        let seconds = if *name == "max_execution_time" {
            value / 1000.0
        } else {
            value
        };
        out.push((name.to_string(), seconds));
    }
    out
}

/// The statement returns one row; none is nothing blocked.
fn parse_blocking(rows: &[BlockingRow]) -> Blocking {
    match rows.first() {
        Some(r) => Blocking {
            blocked: r.blocked.unwrap_or(0.0) as u64,
            blocking: r.blocking.unwrap_or(0.0) as u64,
            root_blockers: r.root_blockers.unwrap_or(0.0) as u64,
            max_lock_wait_seconds: r.max_lock_wait_seconds.unwrap_or(0.0).max(0.0),
        },
        None => Blocking::default(),
    }
}

/// A row with any NULL column is left out.
fn parse_locks(rows: &[LockRow]) -> Vec<LockCount> {
    rows.iter()
        .filter_map(|r| {
            Some(LockCount {
                mode: r.mode.clone()?,
                granted: r.granted? > 0.0,
                count: r.count? as u64,
            })
        })
        .collect()
}

impl Rows {
    /// Copies the driver's rows, part by part, into plain rows. An activity row
    /// narrower than the statement (eight columns and one per threshold) fails the
    /// read.
    pub fn from_driver(
        mut results: HashMap<Part, Vec<Row>>,
        thresholds: usize,
    ) -> Result<Rows, ParseError> {
        let mut take = |part| results.remove(&part);
        Ok(Rows {
            activity: take(Part::Activity)
                .unwrap_or_default()
                .iter()
                .map(|r| activity_row(r, thresholds))
                .collect::<Result<_, _>>()?,
            settings: take(Part::Settings)
                .unwrap_or_default()
                .iter()
                .map(name_value)
                .collect(),
            status: take(Part::Status).map(|rows| rows.iter().map(name_value).collect()),
            blocking: take(Part::Blocking).map(|rows| rows.iter().map(blocking_row).collect()),
            locks: take(Part::Locks).map(|rows| rows.iter().map(lock_row).collect()),
            user_limits: take(Part::UserLimits)
                .map(|rows| rows.iter().map(user_limit_row).collect()),
        })
    }
}

fn activity_row(r: &Row, thresholds: usize) -> Result<ActivityRow, ParseError> {
    if r.len() < 8 + thresholds {
        return Err(ParseError::ActivityColumns {
            found: r.len(),
            expected: 8 + thresholds,
        });
    }
    Ok(ActivityRow {
        database: text(r.as_ref(0)),
        user: text(r.as_ref(1)),
        client: text(r.as_ref(2)),
        command: text(r.as_ref(3)),
        in_transaction: number(r.as_ref(4)),
        count: number(r.as_ref(5)),
        max_state_seconds: number(r.as_ref(6)),
        oldest_transaction_seconds: number(r.as_ref(7)),
        over: (0..thresholds).map(|i| number(r.as_ref(8 + i))).collect(),
    })
}

fn name_value(r: &Row) -> NameValue {
    NameValue {
        name: text(r.as_ref(0)),
        value: text(r.as_ref(1)),
    }
}

fn blocking_row(r: &Row) -> BlockingRow {
    BlockingRow {
        blocked: number(r.as_ref(0)),
        blocking: number(r.as_ref(1)),
        max_lock_wait_seconds: number(r.as_ref(2)),
        root_blockers: number(r.as_ref(3)),
    }
}

fn lock_row(r: &Row) -> LockRow {
    LockRow {
        mode: text(r.as_ref(0)),
        granted: number(r.as_ref(1)),
        count: number(r.as_ref(2)),
    }
}

fn user_limit_row(r: &Row) -> UserLimitRow {
    UserLimitRow {
        user: text(r.as_ref(0)),
        limit: number(r.as_ref(1)),
    }
}

/// A cell as text: the text protocol sends every value as bytes; NULL is `None`.
pub(super) fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Double(d) => Some(d.to_string()),
        other => Some(format!("{other:?}")),
    }
}

/// A cell as a number; NULL or anything that is not a number is `None`.
pub(super) fn number(v: Option<&Value>) -> Option<f64> {
    text(v).and_then(|t| t.trim().parse::<f64>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engines::mysql::test_settings as settings;

    fn server(visibility: Visibility) -> Server {
        Server {
            engine: Engine::MariaDb,
            version: "10.11.6-MariaDB".into(),
            visibility,
        }
    }

    /// Threads of `user` in `command`, with no transaction and no durations.
    fn threads(user: &str, command: &str, count: u64) -> ActivityRow {
        ActivityRow {
            database: Some("shop".into()),
            user: Some(user.into()),
            client: Some("10.0.0.7".into()),
            command: Some(command.into()),
            in_transaction: Some(0.0),
            count: Some(count as f64),
            max_state_seconds: Some(0.0),
            oldest_transaction_seconds: None,
            over: vec![Some(0.0), Some(0.0)],
        }
    }

    fn nv(name: &str, value: &str) -> NameValue {
        NameValue {
            name: Some(name.into()),
            value: Some(value.into()),
        }
    }

    /// A read that returned every part, with the sessions given.
    fn read_of(activity: Vec<ActivityRow>) -> Rows {
        Rows {
            activity,
            settings: vec![nv("max_connections", "151")],
            status: Some(Vec::new()),
            blocking: Some(Vec::new()),
            locks: Some(Vec::new()),
            user_limits: Some(Vec::new()),
        }
    }

    fn snapshot_of(rows: Rows, visibility: Visibility) -> Result<Snapshot, ParseError> {
        snapshot(rows, &server(visibility), Vec::new(), &settings())
    }

    #[test]
    fn mysql_commands_map_to_the_contract() {
        assert_eq!(state_of("Sleep", false), Some(State::Idle));
        assert_eq!(state_of("Sleep", true), Some(State::IdleInTransaction));
        assert_eq!(state_of("Query", false), Some(State::Active));
        assert_eq!(state_of("Execute", true), Some(State::Active));
        assert_eq!(state_of("Killed", false), Some(State::Other));
        assert_eq!(state_of("Daemon", false), None);
        assert_eq!(state_of("Binlog Dump", false), None);
        assert_eq!(state_of("Slave_SQL", false), None);
        assert_eq!(state_of("", false), Some(State::Active));
    }

    #[test]
    fn server_threads_are_not_sessions() {
        let rows: Vec<_> = [
            "Daemon",
            "Binlog Dump",
            "Binlog Dump GTID",
            "Connect",
            "Slave_IO",
            "Slave_SQL",
            "Slave_worker",
            "Register Slave",
        ]
        .iter()
        .map(|c| threads("system user", c, 1))
        .chain([threads("app", "Query", 3)])
        .collect();
        let groups = parse_activity(&rows);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].origin.user, "app");
        assert_eq!(groups[0].count, 3);
    }

    #[test]
    fn a_sleeping_thread_in_a_transaction_is_idle_in_transaction() {
        let mut open = threads("app", "Sleep", 2);
        open.in_transaction = Some(1.0);
        open.oldest_transaction_seconds = Some(12.5);
        let mut pooled = threads("app", "Sleep", 5);
        // The oldest transaction is on every row; only the groups holding one take it.
        pooled.oldest_transaction_seconds = Some(12.5);
        let groups = parse_activity(&[open, pooled]);
        assert_eq!(groups[0].state, State::IdleInTransaction);
        assert_eq!(groups[0].oldest_transaction_seconds, Some(12.5));
        assert_eq!(groups[1].state, State::Idle);
        assert_eq!(groups[1].oldest_transaction_seconds, None);
    }

    #[test]
    fn null_columns_read_as_no_database_and_zero() {
        let row = ActivityRow {
            command: Some("Query".into()),
            over: vec![None, Some(4.0)],
            ..ActivityRow::default()
        };
        let empty_db = ActivityRow {
            database: Some(String::new()),
            ..row.clone()
        };
        let groups = parse_activity(&[row, empty_db]);
        for g in &groups {
            assert_eq!(g.origin.database, NO_DATABASE);
            assert_eq!(g.origin.user, "");
            assert_eq!(g.origin.application, "");
            assert_eq!(g.count, 0);
            assert_eq!(g.max_state_seconds, 0.0);
            assert_eq!(g.over, vec![0, 4]);
            assert!(!g.hidden);
        }
        // No command at all is not a server thread.
        assert_eq!(
            parse_activity(&[ActivityRow::default()])[0].state,
            State::Active
        );
    }

    #[test]
    fn without_process_the_unseen_sessions_are_counted_as_hidden() {
        // Rows as the OwnThreads activity returns them: the exporter reading, and
        // another session of its account asleep (two thresholds).
        let mut reading = threads("monitor", "Query", 1);
        reading.database = None;
        let mut asleep = threads("monitor", "Sleep", 1);
        asleep.max_state_seconds = Some(40.0);
        asleep.over = vec![Some(1.0), Some(0.0)];
        let mut groups = parse_activity(&[reading, asleep]);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].origin.database, NO_DATABASE);
        assert_eq!(groups[0].state, State::Active);
        // Without INNODB_TRX a sleeping thread reads as idle, with no transaction.
        assert_eq!(groups[1].state, State::Idle);
        assert_eq!(groups[1].oldest_transaction_seconds, None);
        assert_eq!(groups[1].over, vec![1, 0]);

        // 20 client connections on the server, 2 of them seen.
        let hidden = hidden_sessions(20, &groups);
        assert_eq!(hidden, 18);
        groups.push(hidden_group(hidden, 2));
        let facts = summarize_sessions(groups.clone(), &[30.0, 60.0], 100);
        assert_eq!(facts.by_state.total(), 20);
        assert_eq!(facts.by_state.get(State::Other), 18);
        assert_eq!(facts.over_duration[0].per_state.get(State::Other), 0);
        assert_eq!(facts.max_state_duration_seconds.get(State::Other), 0.0);
        let hidden_origin: u64 = facts
            .origins
            .iter()
            .filter(|o| o.origin.user == HIDDEN && o.origin.application == HIDDEN)
            .map(|o| o.count)
            .sum();
        assert_eq!(hidden_origin, 18);
        assert_eq!(facts.origins.iter().map(|o| o.count).sum::<u64>(), 20);

        // Read a moment apart, the processlist may see more than the status
        // counted: never a negative count.
        assert_eq!(hidden_sessions(1, &groups[..2]), 0);
    }

    #[test]
    fn without_process_the_snapshot_counts_hidden_sessions_from_threads_connected() {
        let mut rows = read_of(vec![threads("monitor", "Query", 1)]);
        rows.blocking = None;
        rows.locks = None;
        rows.status = Some(vec![nv("Threads_connected", "7")]);
        rows.user_limits = Some(vec![UserLimitRow {
            user: Some("monitor".into()),
            limit: Some(5.0),
        }]);
        let s = snapshot_of(rows, Visibility::OwnThreads).unwrap();
        assert_eq!(s.sessions.by_state.total(), 7);
        assert_eq!(s.sessions.by_state.get(State::Other), 6);
        // The hidden sessions are nobody's for the per-account limits.
        assert!(!s.sessions.per_user.contains_key(HIDDEN));
        assert_eq!(
            s.user_limits,
            Some(vec![LimitUse {
                name: "monitor".into(),
                limit: 5,
                used: 1
            }])
        );
        assert_eq!(
            s.privileges,
            vec![Privilege {
                name: "PROCESS",
                granted: false
            }]
        );
        assert_eq!(s.blocking, None);
        assert_eq!(s.locks, None);
    }

    #[test]
    fn no_hidden_group_when_every_connection_is_seen() {
        let mut rows = read_of(vec![threads("app", "Query", 3)]);
        rows.status = Some(vec![nv("Threads_connected", "2")]);
        let s = snapshot_of(rows, Visibility::OwnThreads).unwrap();
        assert_eq!(s.sessions.by_state.total(), 3);
        assert_eq!(s.sessions.by_state.get(State::Other), 0);
    }

    #[test]
    fn a_read_without_its_required_counts_fails() {
        // Without PROCESS, Threads_connected is the only count of the others.
        let err = snapshot_of(read_of(Vec::new()), Visibility::OwnThreads).unwrap_err();
        assert_eq!(err, ParseError::NotReported("Threads_connected"));
        let mut rows = read_of(Vec::new());
        rows.status = Some(vec![nv("Threads_connected", "many")]);
        assert!(snapshot_of(rows, Visibility::OwnThreads).is_err());
        // With PROCESS it is not needed.
        assert!(snapshot_of(read_of(Vec::new()), Visibility::AllThreads).is_ok());

        let mut rows = read_of(Vec::new());
        rows.settings = vec![nv("max_connections", "")];
        let err = snapshot_of(rows, Visibility::AllThreads).unwrap_err();
        assert_eq!(err, ParseError::NotReported("max_connections"));
        assert!(matches!(
            ReadError::from(err),
            ReadError::Failed(m) if m == "the server did not report max_connections"
        ));
        let columns = ParseError::ActivityColumns {
            found: 7,
            expected: 10,
        };
        assert_eq!(
            columns.to_string(),
            "activity row has 7 columns, expected 10"
        );
    }

    #[test]
    fn with_process_the_snapshot_has_every_part() {
        let mut rows = read_of(vec![threads("app", "Query", 3)]);
        rows.settings = vec![
            nv("max_connections", "151"),
            nv("max_user_connections", "0"),
            nv("wait_timeout", "28800"),
        ];
        rows.status = Some(vec![
            nv("Max_used_connections", "40"),
            nv("Threads_running", "2"),
            nv("Innodb_deadlocks", "1"),
            nv("Connections", "1000"),
            nv("Connection_errors_max_connections", "3"),
            nv("Aborted_connects", "not a number"),
            // Read only without PROCESS: here it is ignored.
            nv("Threads_connected", "99"),
        ]);
        let parts = vec![ReadPart {
            name: "activity",
            success: true,
        }];
        let s = snapshot(
            rows,
            &server(Visibility::AllThreads),
            parts.clone(),
            &settings(),
        )
        .unwrap();
        assert_eq!(s.engine, Engine::MariaDb);
        assert_eq!(s.version, "10.11.6-MariaDB");
        assert_eq!(s.max_connections, 151);
        assert_eq!(s.reserved_connections, 0);
        assert_eq!(s.sessions.by_state.total(), 3);
        // The processlist does not tell when a session connected.
        assert_eq!(s.sessions.average_connection_age_seconds, None);
        assert_eq!(s.sessions.max_connection_age_seconds, None);
        assert_eq!(s.max_used_connections, Some(40));
        assert_eq!(s.threads_running, Some(2));
        assert_eq!(
            s.counters,
            ServerCounters {
                deadlocks: Some(1),
                sessions: Some(1000),
                abnormal_ends: Vec::new(),
                refused: Some(3),
                failed: None,
            }
        );
        assert_eq!(s.parts, parts);
        assert_eq!(s.timeouts, vec![("wait_timeout".to_string(), 28800.0)]);
        assert_eq!(s.blocking, Some(Blocking::default()));
        assert_eq!(s.locks, Some(Vec::new()));
        // max_user_connections 0 is no global limit, and nobody has their own.
        assert_eq!(s.user_limits, Some(Vec::new()));
        assert!(s.privileges.iter().all(|p| p.granted));
    }

    #[test]
    fn parts_not_read_are_unknown_not_zero() {
        let mut rows = read_of(Vec::new());
        rows.status = None;
        rows.blocking = None;
        rows.locks = None;
        rows.user_limits = None;
        let s = snapshot_of(rows, Visibility::AllThreads).unwrap();
        assert_eq!(s.max_used_connections, None);
        assert_eq!(s.counters, ServerCounters::default());
        assert_eq!(s.blocking, None);
        assert_eq!(s.locks, None);
        assert_eq!(s.user_limits, None);
    }

    #[test]
    fn a_limit_of_zero_is_no_limit() {
        let vars = |v: &str| Values::from_rows(vec![nv("max_user_connections", v)]);
        assert_eq!(global_user_limit(&vars("0")), None);
        assert_eq!(global_user_limit(&vars("-1")), None);
        assert_eq!(global_user_limit(&vars("")), None);
        assert_eq!(global_user_limit(&vars("50")), Some(50));
        assert_eq!(global_user_limit(&Values::from_rows(Vec::new())), None);
    }

    #[test]
    fn own_limits_leave_out_rows_with_nulls() {
        let rows = [
            UserLimitRow {
                user: Some("app".into()),
                limit: Some(30.0),
            },
            UserLimitRow {
                user: None,
                limit: Some(5.0),
            },
            UserLimitRow {
                user: Some("batch".into()),
                limit: None,
            },
        ];
        assert_eq!(own_limits(&rows), HashMap::from([("app".to_string(), 30)]));
    }

    #[test]
    fn global_user_limit_applies_to_users_without_their_own() {
        let own = HashMap::from([("capped".to_string(), 3)]);
        let used = HashMap::from([("capped".to_string(), 2), ("app".to_string(), 7)]);
        let limits = user_limit_use(&own, Some(50), &used, true);
        assert_eq!(
            limits,
            vec![
                LimitUse {
                    name: "app".into(),
                    limit: 50,
                    used: 7
                },
                LimitUse {
                    name: "capped".into(),
                    limit: 3,
                    used: 2
                },
            ]
        );
        assert_eq!(user_limit_use(&own, None, &used, true).len(), 1);
    }

    #[test]
    fn without_process_only_the_users_seen_get_their_limit_use() {
        // Without PROCESS only the exporter's own account is seen: another
        // account's use is unknown, not 0.
        let own = HashMap::from([("app".to_string(), 30), ("monitor".to_string(), 2)]);
        let used = HashMap::from([("monitor".to_string(), 1)]);
        assert_eq!(
            user_limit_use(&own, Some(50), &used, false),
            vec![LimitUse {
                name: "monitor".into(),
                limit: 2,
                used: 1
            }]
        );
        assert_eq!(user_limit_use(&own, Some(50), &used, true).len(), 2);
    }

    #[test]
    fn timeouts_are_in_seconds() {
        let vars = Values::from_rows(vec![
            nv("wait_timeout", "28800"),
            nv("max_execution_time", "1500"),
            nv("max_statement_time", "0.500000"),
            nv("max_connections", "151"),
            nv("lock_wait_timeout", "soon"),
            NameValue {
                name: Some("interactive_timeout".into()),
                value: None,
            },
        ]);
        let t = timeouts(&vars);
        assert_eq!(
            t,
            vec![
                ("wait_timeout".to_string(), 28800.0),
                ("max_statement_time".to_string(), 0.5),
                ("max_execution_time".to_string(), 1.5),
            ]
        );
    }

    #[test]
    fn variables_without_a_name_are_left_out() {
        let vars = Values::from_rows(vec![
            NameValue {
                name: None,
                value: Some("1".into()),
            },
            nv("max_connections", "151"),
        ]);
        assert_eq!(vars.0.len(), 1);
        assert_eq!(vars.u64("max_connections"), Some(151));
    }

    #[test]
    fn blocking_reads_one_row_and_never_a_negative_wait() {
        assert_eq!(parse_blocking(&[]), Blocking::default());
        let row = BlockingRow {
            blocked: Some(2.0),
            blocking: Some(1.0),
            max_lock_wait_seconds: Some(-0.25),
            root_blockers: Some(1.0),
        };
        assert_eq!(
            parse_blocking(&[row]),
            Blocking {
                blocked: 2,
                blocking: 1,
                root_blockers: 1,
                max_lock_wait_seconds: 0.0
            }
        );
        // A chain: 12 waits for 11, which waits for 10; only 10 is a root.
        let chain = BlockingRow {
            blocked: Some(2.0),
            blocking: Some(2.0),
            max_lock_wait_seconds: Some(4.0),
            root_blockers: Some(1.0),
        };
        assert_eq!(parse_blocking(&[chain]).root_blockers, 1);
        assert_eq!(
            parse_blocking(&[BlockingRow::default()]),
            Blocking::default()
        );
    }

    #[test]
    fn locks_are_counted_by_mode_and_grant() {
        let rows = [
            LockRow {
                mode: Some("X".into()),
                granted: Some(1.0),
                count: Some(2.0),
            },
            LockRow {
                mode: Some("X,REC_NOT_GAP".into()),
                granted: Some(0.0),
                count: Some(1.0),
            },
            // A NULL anywhere leaves the row out.
            LockRow {
                mode: None,
                granted: Some(1.0),
                count: Some(1.0),
            },
            LockRow {
                mode: Some("S".into()),
                granted: None,
                count: Some(1.0),
            },
        ];
        assert_eq!(
            parse_locks(&rows),
            vec![
                LockCount {
                    mode: "X".into(),
                    granted: true,
                    count: 2
                },
                LockCount {
                    mode: "X,REC_NOT_GAP".into(),
                    granted: false,
                    count: 1
                },
            ]
        );
    }

    #[test]
    fn cells_are_read_as_text_and_numbers() {
        let bytes = |s: &str| Value::Bytes(s.as_bytes().to_vec());
        assert_eq!(text(Some(&Value::NULL)), None);
        assert_eq!(text(None), None);
        assert_eq!(text(Some(&bytes("shop"))), Some("shop".into()));
        assert_eq!(text(Some(&Value::Int(-3))), Some("-3".into()));
        assert_eq!(number(Some(&bytes(" 12.5 "))), Some(12.5));
        assert_eq!(number(Some(&bytes("0.000001"))), Some(0.000001));
        assert_eq!(number(Some(&Value::UInt(7))), Some(7.0));
        assert_eq!(number(Some(&bytes("Sleep"))), None);
        assert_eq!(number(Some(&Value::NULL)), None);
    }
}
