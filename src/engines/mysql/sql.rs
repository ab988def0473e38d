//! The statements each flavour and version gets, as pure functions of what was found
//! at connect: which statement each server gets is unit-tested here without a
//! server (MySQL 8 cannot run where the suite runs).
//!
//! The reasons behind the shape of each statement are in the module doc of
//! [`super`]; the reasons behind a single clause are beside it. To measure a change
//! to a statement, run `cargo bench --bench peers`, which sends the exporter's own
//! statements to a MariaDB with many sessions.

use crate::engines::ReadSettings;
use crate::model::Engine;

/// A server version, major.minor.patch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u16, pub u16, pub u16);

/// Reads flavour and version from `SELECT VERSION(), @@version_comment`.
pub fn detect(version: &str, comment: &str) -> (Engine, Version) {
    let flavor = if version.to_ascii_lowercase().contains("mariadb")
        || comment.to_ascii_lowercase().contains("mariadb")
    {
        Engine::MariaDb
    } else {
        Engine::MySql
    };
    // MariaDB 10.x once reported "5.5.5-10.x.y-MariaDB" to old clients.
    let text = version.strip_prefix("5.5.5-").unwrap_or(version);
    let mut parts = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .map(|p| p.parse::<u16>().unwrap_or(0));
    let v = Version(
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    (flavor, v)
}

/// What the exporter's account may see, found once per session at set-up (the server
/// applies a change of global grants at the next login, not to a live session).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// `PROCESS` held: every thread in the processlist, `INNODB_TRX` and the lock
    /// views.
    AllThreads,
    /// No `PROCESS`: the processlist shows the account's own threads only and the
    /// InnoDB views are refused (error 1227). The other sessions are counted from
    /// `Threads_connected`, which needs no privilege, so the headline stays right.
    OwnThreads,
}

/// The privilege that decides the [`Visibility`], as `dbconn_missing_privilege` names it.
pub const PROCESS: &str = "PROCESS";

/// Reading `INNODB_TRX` needs `PROCESS`, the privilege that also shows every thread
/// in the processlist: trying it tests the session's effective privileges, however
/// they came (a direct grant, `GRANT ALL`, a MySQL 8 role active at login), which
/// `SHOW GRANTS` would leave to interpretation. Not `LIMIT 0`: the server then skips
/// filling the table, and the privilege check with it.
pub const PROCESS_PROBE: &str = "SELECT COUNT(*) FROM information_schema.INNODB_TRX";

/// One statement of a read, named as `dbconn_scrape_collector_success` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Part {
    Activity,
    Settings,
    UserLimits,
    Status,
    Blocking,
    Locks,
}

impl Part {
    /// Every part a read may have, in the order `dbconn_scrape_collector_success`
    /// lists them whatever was sent.
    pub const ALL: [Part; 6] = [
        Part::Activity,
        Part::Settings,
        Part::UserLimits,
        Part::Status,
        Part::Blocking,
        Part::Locks,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Part::Activity => "activity",
            Part::Settings => "settings",
            Part::UserLimits => "user_limits",
            Part::Status => "status",
            Part::Blocking => "blocking",
            Part::Locks => "locks",
        }
    }
}

/// The SQL one flavour, version and [`Visibility`] gets.
#[derive(Debug, Clone, PartialEq)]
pub struct Sql {
    pub visibility: Visibility,
    pub session_setup: Vec<String>,
    pub activity: String,
    pub variables: String,
    pub status: String,
    pub blocking: String,
    pub locks: String,
    pub user_limits: String,
}

impl Sql {
    /// Every part of a read with its statement, in the order they are sent: the
    /// required ones first, then the one most often refused (it needs `SELECT` on
    /// `mysql.user`). After a refusal the parts behind it go one by one for that
    /// read; later reads leave the refused part out and are one batch again.
    ///
    /// Without `PROCESS` the lock views are not sent (they would be refused), and
    /// `status` is required: its `Threads_connected` is the only count of the
    /// sessions the exporter cannot see.
    pub fn parts(&self) -> Vec<(Part, &str)> {
        match self.visibility {
            Visibility::AllThreads => vec![
                (Part::Activity, &self.activity),
                (Part::Settings, &self.variables),
                (Part::UserLimits, &self.user_limits),
                (Part::Status, &self.status),
                (Part::Blocking, &self.blocking),
                (Part::Locks, &self.locks),
            ],
            Visibility::OwnThreads => vec![
                (Part::Activity, &self.activity),
                (Part::Settings, &self.variables),
                (Part::Status, &self.status),
                (Part::UserLimits, &self.user_limits),
            ],
        }
    }

    /// How many of the first [`Sql::parts`] a read cannot do without; a failure in
    /// one of them fails the read.
    pub fn required_parts(&self) -> usize {
        match self.visibility {
            Visibility::AllThreads => 2,
            Visibility::OwnThreads => 3,
        }
    }
}

/// Every variable the exporter reads; missing ones are simply not returned.
pub const VARIABLES: &[&str] = &[
    "max_connections",
    "max_user_connections",
    "wait_timeout",
    "interactive_timeout",
    "max_statement_time",
    "max_execution_time",
    "lock_wait_timeout",
    "innodb_lock_wait_timeout",
    "idle_transaction_timeout",
    "idle_readonly_transaction_timeout",
    "idle_write_transaction_timeout",
];

const STATUS: &[&str] = &[
    "Max_used_connections",
    "Connection_errors_max_connections",
    "Aborted_connects",
    "Connections",
    "Threads_running",
    "Innodb_deadlocks",
];

/// Client connections, as the server counts them against `max_connections` (the
/// admin-slot one and those still logging in included; not the event scheduler nor
/// other server threads). Read only without `PROCESS`, where it is the total.
pub const THREADS_CONNECTED: &str = "Threads_connected";

/// The accounts with a connection limit of their own (0 is no limit of its own).
const USER_LIMITS: &str = "SELECT User, MAX(max_user_connections) FROM mysql.user \
                           WHERE max_user_connections > 0 GROUP BY User";

/// The SQL of an account that holds `PROCESS`.
pub fn sql_for(flavor: Engine, version: Version, settings: &ReadSettings) -> Sql {
    sql_for_visibility(flavor, version, Visibility::AllThreads, settings)
}

pub fn sql_for_visibility(
    flavor: Engine,
    version: Version,
    visibility: Visibility,
    settings: &ReadSettings,
) -> Sql {
    let lock_views = LockViews::of(flavor, version);
    Sql {
        visibility,
        session_setup: session_setup(flavor, version, settings),
        activity: activity(
            processlist(flavor, version),
            visibility,
            &settings.thresholds,
        ),
        variables: format!(
            "SHOW GLOBAL VARIABLES WHERE Variable_name IN ({})",
            in_list(VARIABLES)
        ),
        status: status(visibility),
        blocking: lock_views.blocking().to_string(),
        locks: lock_views.locks().to_string(),
        user_limits: USER_LIMITS.to_string(),
    }
}

/// Run once per session, before the probe and every read.
fn session_setup(flavor: Engine, version: Version, settings: &ReadSettings) -> Vec<String> {
    let statement_secs = settings.statement_timeout.as_secs_f64().max(0.001);
    let lock_secs = settings.lock_timeout.as_secs().max(1);
    let mut setup = vec![
        format!("SET SESSION lock_wait_timeout = {lock_secs}"),
        format!("SET SESSION innodb_lock_wait_timeout = {lock_secs}"),
        // The exporter keeps its slot between scrapes, whatever the server's idle
        // timeout for applications.
        "SET SESSION wait_timeout = 31536000".to_string(),
        "SET SESSION TRANSACTION READ ONLY".to_string(),
    ];
    match flavor {
        Engine::MariaDb => setup.push(format!(
            "SET SESSION max_statement_time = {statement_secs:.3}"
        )),
        Engine::MySql if version >= Version(5, 7, 8) => setup.push(format!(
            "SET SESSION max_execution_time = {}",
            settings.statement_timeout.as_millis().max(1)
        )),
        // Older MySQL has no statement time limit; another engine never gets here.
        Engine::MySql | Engine::PostgreSql | Engine::PgBouncer => {}
    }
    setup
}

/// MySQL 8.0.22+ has the processlist in performance_schema (the
/// information_schema one is deprecated and takes a global mutex).
fn processlist(flavor: Engine, version: Version) -> &'static str {
    match flavor {
        Engine::MySql if version >= Version(8, 0, 22) => "performance_schema.processlist",
        _ => "information_schema.PROCESSLIST",
    }
}

/// The client host without its port ("10.0.0.7:51234" -> "10.0.0.7"; IPv6 keeps
/// its colons but not the last one; "localhost", without a port, stays whole as
/// LOCATE gives 0). No `IF(HOST LIKE '%:%', …)` around it: that test only costs
/// time, more the more sessions there are.
const CLIENT_HOST: &str =
    "IFNULL(LEFT(p.HOST, CHAR_LENGTH(p.HOST) - LOCATE(':', REVERSE(p.HOST))), '')";

/// The threads no client opened: the server's own and the event scheduler's.
macro_rules! not_server_threads {
    () => {
        "WHERE IFNULL(p.USER, '') NOT IN ('system user', 'event_scheduler') \
         AND p.COMMAND <> 'Daemon'"
    };
}

/// The threads that are client sessions: server threads (`system user`, the event
/// scheduler, replication) never cause "Too many connections".
const CLIENT_THREADS: &str = concat!(
    not_server_threads!(),
    " AND p.COMMAND NOT IN ('Binlog Dump', 'Binlog Dump GTID')"
);

/// The threads the incident read lists: the client sessions and the replicas'
/// binlog dumps, which the view shows as replication (never to be ended) rather
/// than leave out.
const LISTED_THREADS: &str = not_server_threads!();

/// The sessions, one row per database, user, client host, command and (with
/// `PROCESS`) "has an open InnoDB transaction".
fn activity(processlist: &str, visibility: Visibility, thresholds: &[f64]) -> String {
    let host = CLIENT_HOST;
    let over = over_columns(thresholds);
    match visibility {
        // A semi-join on INNODB_TRX (not a LEFT JOIN, which is slower) and the
        // oldest transaction as one uncorrelated subquery.
        Visibility::AllThreads => format!(
            "SELECT p.DB, p.USER, {host} AS client, p.COMMAND, \
             p.ID IN (SELECT trx_mysql_thread_id FROM information_schema.INNODB_TRX) AS in_trx, \
             COUNT(*), IFNULL(MAX(p.TIME), 0), \
             (SELECT MAX(TIMESTAMPDIFF(MICROSECOND, trx_started, NOW(6))) \
              FROM information_schema.INNODB_TRX) / 1000000{over} \
             FROM {processlist} p \
             {CLIENT_THREADS} \
             GROUP BY 1, 2, 3, 4, 5"
        ),
        // INNODB_TRX is refused without PROCESS: the same columns, with no
        // transaction known (a sleeping thread reads as idle) and no oldest one.
        Visibility::OwnThreads => format!(
            "SELECT p.DB, p.USER, {host} AS client, p.COMMAND, 0 AS in_trx, \
             COUNT(*), IFNULL(MAX(p.TIME), 0), NULL{over} \
             FROM {processlist} p \
             {CLIENT_THREADS} \
             GROUP BY 1, 2, 3, 4"
        ),
    }
}

/// One column per duration threshold. Whole seconds (TIME), not MariaDB's TIME_MS:
/// TIME_MS is a DECIMAL, and MAX and SUM over it make the activity statement
/// markedly slower, the more so the more sessions there are. TIME is the whole
/// seconds elapsed, so `TIME >= t` is "at least t seconds" for a whole t; a
/// fractional threshold is rounded up.
fn over_columns(thresholds: &[f64]) -> String {
    thresholds
        .iter()
        .map(|t| format!(", COUNT(IF(p.TIME >= {}, 1, NULL))", t.ceil()))
        .collect()
}

/// Where InnoDB lists its locks and lock waits.
#[derive(Clone, Copy)]
enum LockViews {
    /// MySQL 8.0.1+: `performance_schema.data_locks` and `data_lock_waits`.
    PerformanceSchema,
    /// Older MySQL and MariaDB: `information_schema.INNODB_LOCKS` and
    /// `INNODB_LOCK_WAITS`.
    InformationSchema,
}

impl LockViews {
    fn of(flavor: Engine, version: Version) -> LockViews {
        if flavor == Engine::MySql && version >= Version(8, 0, 1) {
            LockViews::PerformanceSchema
        } else {
            LockViews::InformationSchema
        }
    }

    /// Blocked transactions, blocking ones, the longest wait, and the root
    /// blockers: blocking transactions that wait on no lock themselves, the ones
    /// whose end frees the others.
    fn blocking(self) -> &'static str {
        match self {
            LockViews::PerformanceSchema => {
                "SELECT COUNT(DISTINCT w.REQUESTING_ENGINE_TRANSACTION_ID), \
                 COUNT(DISTINCT w.BLOCKING_ENGINE_TRANSACTION_ID), \
                 IFNULL(MAX(TIMESTAMPDIFF(MICROSECOND, r.trx_wait_started, NOW(6))), 0) / 1000000, \
                 COUNT(DISTINCT IF(w.BLOCKING_ENGINE_TRANSACTION_ID IN \
                 (SELECT REQUESTING_ENGINE_TRANSACTION_ID FROM performance_schema.data_lock_waits), \
                 NULL, w.BLOCKING_ENGINE_TRANSACTION_ID)) \
                 FROM performance_schema.data_lock_waits w \
                 JOIN information_schema.INNODB_TRX r ON r.trx_id = w.REQUESTING_ENGINE_TRANSACTION_ID"
            }
            LockViews::InformationSchema => {
                "SELECT COUNT(DISTINCT w.requesting_trx_id), COUNT(DISTINCT w.blocking_trx_id), \
                 IFNULL(MAX(TIMESTAMPDIFF(MICROSECOND, r.trx_wait_started, NOW(6))), 0) / 1000000, \
                 COUNT(DISTINCT IF(w.blocking_trx_id IN \
                 (SELECT requesting_trx_id FROM information_schema.INNODB_LOCK_WAITS), \
                 NULL, w.blocking_trx_id)) \
                 FROM information_schema.INNODB_LOCK_WAITS w \
                 JOIN information_schema.INNODB_TRX r ON r.trx_id = w.requesting_trx_id"
            }
        }
    }

    /// Who waits for whom, thread by thread: the waiting thread and the one holding
    /// the lock it waits for. Both transactions are found in `INNODB_TRX`, which
    /// names their threads by processlist id (the `THREAD_ID` columns of
    /// `data_lock_waits` are performance_schema's own numbering, not that id).
    fn lock_waits(self) -> &'static str {
        match self {
            LockViews::PerformanceSchema => {
                "SELECT DISTINCT r.trx_mysql_thread_id, b.trx_mysql_thread_id \
                 FROM performance_schema.data_lock_waits w \
                 JOIN information_schema.INNODB_TRX r ON r.trx_id = w.REQUESTING_ENGINE_TRANSACTION_ID \
                 JOIN information_schema.INNODB_TRX b ON b.trx_id = w.BLOCKING_ENGINE_TRANSACTION_ID"
            }
            LockViews::InformationSchema => {
                "SELECT DISTINCT r.trx_mysql_thread_id, b.trx_mysql_thread_id \
                 FROM information_schema.INNODB_LOCK_WAITS w \
                 JOIN information_schema.INNODB_TRX r ON r.trx_id = w.requesting_trx_id \
                 JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id"
            }
        }
    }

    /// Locks by mode and granted or waiting.
    fn locks(self) -> &'static str {
        match self {
            LockViews::PerformanceSchema => {
                "SELECT LOCK_MODE, LOCK_STATUS = 'GRANTED', COUNT(*) \
                 FROM performance_schema.data_locks GROUP BY 1, 2"
            }
            // InnoDB lists here only the locks that take part in a wait, as blocker
            // or as requester.
            LockViews::InformationSchema => {
                "SELECT l.lock_mode, l.lock_id NOT IN \
                 (SELECT requested_lock_id FROM information_schema.INNODB_LOCK_WAITS), COUNT(*) \
                 FROM information_schema.INNODB_LOCKS l GROUP BY 1, 2"
            }
        }
    }
}

/// The statements of the incident read, after its metrics read. Built at each
/// incident read: the statement text setting may change on a reload that keeps the
/// session.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentSql {
    /// Every listed thread, one row each: id, user, client host, database,
    /// command, seconds in its state, state, statement text (NULL unless asked
    /// for), age of its open InnoDB transaction (NULL without one, or without
    /// `PROCESS`), and whether it is the exporter's own.
    pub sessions: String,
    /// Pairs of thread ids, waiting and blocking; `None` without `PROCESS` (the
    /// lock views are refused).
    pub lock_waits: Option<String>,
    /// Whether performance_schema runs: without it `session_connect_attrs` is
    /// empty rather than refused, and an empty answer would say nothing.
    pub performance_schema: &'static str,
    /// Each thread's `program_name` connect attribute.
    pub applications: &'static str,
    /// The accounts whose sessions get the extra admin slot, by user name.
    pub superusers: SuperuserSql,
}

/// The statement that finds the superusers, and the tables it needs to read.
#[derive(Debug, Clone, PartialEq)]
pub struct SuperuserSql {
    pub statement: String,
    /// The grant tables the statement reads, as a note names them.
    pub tables: &'static str,
}

/// The incident read's statements for a flavour, version and [`Visibility`];
/// `query_text` is the statement text's length, or none.
pub fn incident_sql(
    flavor: Engine,
    version: Version,
    visibility: Visibility,
    query_text: Option<usize>,
) -> IncidentSql {
    let lock_views = LockViews::of(flavor, version);
    let processlist = processlist(flavor, version);
    let host = CLIENT_HOST;
    let info = match query_text {
        Some(n) => format!("LEFT(p.INFO, {n})"),
        None => "NULL".to_string(),
    };
    let (transaction, join) = match visibility {
        Visibility::AllThreads => (
            "TIMESTAMPDIFF(MICROSECOND, t.trx_started, NOW(6)) / 1000000",
            " LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID",
        ),
        // INNODB_TRX is refused without PROCESS.
        Visibility::OwnThreads => ("NULL", ""),
    };
    IncidentSql {
        sessions: format!(
            "SELECT p.ID, p.USER, {host}, p.DB, p.COMMAND, p.TIME, p.STATE, {info}, \
             {transaction}, p.ID = CONNECTION_ID() \
             FROM {processlist} p{join} \
             {LISTED_THREADS} \
             ORDER BY p.ID"
        ),
        lock_waits: match visibility {
            Visibility::AllThreads => Some(lock_views.lock_waits().to_string()),
            Visibility::OwnThreads => None,
        },
        performance_schema: "SELECT @@performance_schema",
        applications: "SELECT PROCESSLIST_ID, ATTR_VALUE \
                       FROM performance_schema.session_connect_attrs \
                       WHERE ATTR_NAME = 'program_name'",
        superusers: superusers(flavor, version),
    }
}

/// `SUPER` (bit 15) and `CONNECTION ADMIN` (bit 32) in the `access` mask of
/// MariaDB's `mysql.global_priv`: either gets the extra admin slot.
pub const MARIADB_ADMIN_SLOT_BITS: u64 = (1 << 15) | (1 << 32);

/// MariaDB since this version keeps `CONNECTION ADMIN` apart from `SUPER`.
const MARIADB_CONNECTION_ADMIN: Version = Version(10, 5, 2);

/// MariaDB has roles since this version.
const MARIADB_ROLES: Version = Version(10, 0, 5);

/// The accounts with the extra admin slot, by user name: rows of a name and NULL
/// for a user or role holding the privilege itself, rows of a grantee and a role for
/// each role grant (a role granted to a role included). The closure over the grants
/// is taken in Rust (`scene::superusers`): a user whose privilege comes through a
/// role can activate it at any time, and SQL cannot follow a chain of any length on
/// every server this supports.
///
/// One statement, so that an unreadable grant table leaves the superusers unknown
/// rather than read in part. By user name, not account: a thread names its user,
/// not the account it matched, and marking too many sessions only keeps them from
/// being offered for termination.
fn superusers(flavor: Engine, version: Version) -> SuperuserSql {
    match flavor {
        Engine::MySql if version >= Version(8, 0, 0) => SuperuserSql {
            statement: "SELECT User, NULL FROM mysql.user WHERE Super_priv = 'Y' \
                        UNION ALL SELECT USER, NULL FROM mysql.global_grants \
                        WHERE PRIV = 'CONNECTION_ADMIN' \
                        UNION ALL SELECT TO_USER, FROM_USER FROM mysql.role_edges"
                .to_string(),
            tables: "mysql.user, mysql.global_grants and mysql.role_edges",
        },
        Engine::MariaDb if version >= MARIADB_CONNECTION_ADMIN => SuperuserSql {
            statement: format!(
                "SELECT User, NULL FROM mysql.global_priv \
                 WHERE CAST(JSON_VALUE(Priv, '$.access') AS UNSIGNED) & {MARIADB_ADMIN_SLOT_BITS} <> 0 \
                 UNION ALL SELECT User, Role FROM mysql.roles_mapping"
            ),
            tables: "mysql.global_priv and mysql.roles_mapping",
        },
        Engine::MariaDb if version >= MARIADB_ROLES => SuperuserSql {
            statement: "SELECT User, NULL FROM mysql.user WHERE Super_priv = 'Y' \
                        UNION ALL SELECT User, Role FROM mysql.roles_mapping"
                .to_string(),
            tables: "mysql.user and mysql.roles_mapping",
        },
        // MySQL 5.7 and MariaDB before roles: the privilege is held directly or not
        // at all.
        _ => SuperuserSql {
            statement: "SELECT DISTINCT User FROM mysql.user WHERE Super_priv = 'Y'".to_string(),
            tables: "mysql.user",
        },
    }
}

/// The counters; without `PROCESS` also [`THREADS_CONNECTED`], the count of the
/// sessions not seen.
fn status(visibility: Visibility) -> String {
    let names = match visibility {
        Visibility::AllThreads => in_list(STATUS),
        Visibility::OwnThreads => format!("{}, '{THREADS_CONNECTED}'", in_list(STATUS)),
    };
    format!("SHOW GLOBAL STATUS WHERE Variable_name IN ({names})")
}

fn in_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engines::mysql::test_settings as settings;

    /// Whether the session set-up runs exactly this statement.
    fn sets(sql: &Sql, statement: &str) -> bool {
        sql.session_setup.iter().any(|q| q == statement)
    }

    /// Whether any statement of the session set-up mentions `text`.
    fn setup_mentions(sql: &Sql, text: &str) -> bool {
        sql.session_setup.iter().any(|q| q.contains(text))
    }

    #[test]
    fn flavour_and_version_are_detected() {
        assert_eq!(
            detect("10.11.19-MariaDB-0+deb12u1", "Debian 12"),
            (Engine::MariaDb, Version(10, 11, 19))
        );
        assert_eq!(
            detect("5.5.5-10.6.12-MariaDB", ""),
            (Engine::MariaDb, Version(10, 6, 12))
        );
        assert_eq!(
            detect("8.0.36", "MySQL Community Server - GPL"),
            (Engine::MySql, Version(8, 0, 36))
        );
        assert_eq!(
            detect("11.4.2-MariaDB", "mariadb.org binary distribution"),
            (Engine::MariaDb, Version(11, 4, 2))
        );
        assert_eq!(detect("5.7.44-log", ""), (Engine::MySql, Version(5, 7, 44)));
    }

    #[test]
    fn mariadb_gets_its_sql() {
        let s = settings();
        let maria = sql_for(Engine::MariaDb, Version(10, 11, 0), &s);
        assert!(maria.activity.contains("information_schema.PROCESSLIST"));
        assert!(!maria.activity.contains("TIME_MS"), "DECIMAL is slow");
        assert!(!maria.activity.contains("JOIN"), "a semi-join is cheaper");
        assert!(
            maria
                .blocking
                .contains("information_schema.INNODB_LOCK_WAITS")
        );
        assert!(maria.locks.contains("information_schema.INNODB_LOCKS"));
        assert!(sets(&maria, "SET SESSION max_statement_time = 5.000"));
        assert!(!setup_mentions(&maria, "max_execution_time"));
        assert!(sets(&maria, "SET SESSION lock_wait_timeout = 1"));

        let maria106 = sql_for(Engine::MariaDb, Version(10, 6, 0), &s);
        assert_eq!(maria106.activity, maria.activity);
        let maria11 = sql_for(Engine::MariaDb, Version(11, 4, 0), &s);
        assert_eq!(maria11.blocking, maria.blocking);
    }

    #[test]
    fn mysql_8_gets_its_sql() {
        let s = settings();
        let mysql8 = sql_for(Engine::MySql, Version(8, 0, 36), &s);
        assert!(mysql8.activity.contains("performance_schema.processlist"));
        assert!(
            mysql8
                .blocking
                .contains("performance_schema.data_lock_waits")
        );
        assert!(mysql8.locks.contains("performance_schema.data_locks"));
        assert!(sets(&mysql8, "SET SESSION max_execution_time = 5000"));
        assert!(!setup_mentions(&mysql8, "max_statement_time"));

        let mysql84 = sql_for(Engine::MySql, Version(8, 4, 0), &s);
        assert_eq!(mysql84.activity, mysql8.activity);

        // 8.0.0-8.0.21: data_lock views exist, the processlist table does not yet.
        let mysql8_early = sql_for(Engine::MySql, Version(8, 0, 18), &s);
        assert!(
            mysql8_early
                .activity
                .contains("information_schema.PROCESSLIST")
        );
        assert!(
            mysql8_early
                .blocking
                .contains("performance_schema.data_lock_waits")
        );
    }

    #[test]
    fn older_mysql_gets_its_sql() {
        let s = settings();
        let mysql57 = sql_for(Engine::MySql, Version(5, 7, 44), &s);
        assert!(mysql57.activity.contains("information_schema.PROCESSLIST"));
        assert!(
            mysql57
                .blocking
                .contains("information_schema.INNODB_LOCK_WAITS")
        );
        assert!(setup_mentions(&mysql57, "max_execution_time"));

        let mysql56 = sql_for(Engine::MySql, Version(5, 6, 51), &s);
        assert!(!setup_mentions(&mysql56, "max_execution_time"));
        // max_execution_time came with 5.7.8.
        let limit = |v| setup_mentions(&sql_for(Engine::MySql, v, &s), "max_execution_time");
        assert!(!limit(Version(5, 7, 7)));
        assert!(limit(Version(5, 7, 8)));
    }

    #[test]
    fn thresholds_become_columns_in_whole_seconds() {
        let mut s = settings();
        s.thresholds = vec![30.0, 60.0, 1.5];
        let sql = sql_for(Engine::MariaDb, Version(10, 11, 0), &s);
        assert!(sql.activity.contains("COUNT(IF(p.TIME >= 30, 1, NULL))"));
        assert!(sql.activity.contains("COUNT(IF(p.TIME >= 60, 1, NULL))"));
        assert!(sql.activity.contains("COUNT(IF(p.TIME >= 2, 1, NULL))"));
    }

    #[test]
    fn the_sql_follows_the_process_privilege() {
        let s = settings();
        for (flavor, version) in [
            (Engine::MariaDb, Version(10, 11, 0)),
            (Engine::MySql, Version(8, 0, 36)),
            (Engine::MySql, Version(5, 7, 44)),
        ] {
            let all = sql_for_visibility(flavor, version, Visibility::AllThreads, &s);
            // The privileged read is the one it always was.
            assert_eq!(all, sql_for(flavor, version, &s));
            assert!(all.activity.contains("INNODB_TRX"));
            assert!(!all.status.contains("Threads_connected"));
            let names: Vec<_> = all.parts().iter().map(|(p, _)| p.name()).collect();
            assert_eq!(
                names,
                [
                    "activity",
                    "settings",
                    "user_limits",
                    "status",
                    "blocking",
                    "locks"
                ]
            );
            assert_eq!(all.required_parts(), 2);

            let own = sql_for_visibility(flavor, version, Visibility::OwnThreads, &s);
            // Everything refused without PROCESS stays out: INNODB_TRX and the lock
            // views.
            assert!(!own.activity.contains("INNODB_TRX"), "{}", own.activity);
            let names: Vec<_> = own.parts().iter().map(|(p, _)| p.name()).collect();
            assert_eq!(names, ["activity", "settings", "status", "user_limits"]);
            // Threads_connected is the count of what is not seen: required.
            assert!(own.status.contains("'Threads_connected'"));
            assert_eq!(own.required_parts(), 3);
            assert!(names[..own.required_parts()].contains(&"status"));
            // The same processlist under the same filter as the privileged read.
            let source = |sql: &str| {
                sql.rsplit_once(" FROM ")
                    .and_then(|(_, tail)| tail.split(" GROUP BY").next())
                    .map(str::to_string)
            };
            assert!(
                source(&all.activity)
                    .is_some_and(|s| s.contains("PROCESSLIST") || s.contains("processlist"))
            );
            assert_eq!(source(&own.activity), source(&all.activity));
            assert_eq!(own.session_setup, all.session_setup);
            assert_eq!(own.variables, all.variables);
            assert_eq!(own.user_limits, all.user_limits);
        }
    }

    #[test]
    fn the_blocking_statement_counts_root_blockers() {
        let s = settings();
        let maria = sql_for(Engine::MariaDb, Version(10, 11, 0), &s);
        // Blockers that are not themselves among the requesters.
        assert!(maria.blocking.contains(
            "COUNT(DISTINCT IF(w.blocking_trx_id IN \
             (SELECT requesting_trx_id FROM information_schema.INNODB_LOCK_WAITS), \
             NULL, w.blocking_trx_id))"
        ));
        assert_eq!(
            sql_for(Engine::MySql, Version(5, 7, 44), &s).blocking,
            maria.blocking
        );
        let mysql8 = sql_for(Engine::MySql, Version(8, 0, 36), &s);
        assert!(mysql8.blocking.contains(
            "COUNT(DISTINCT IF(w.BLOCKING_ENGINE_TRANSACTION_ID IN \
             (SELECT REQUESTING_ENGINE_TRANSACTION_ID FROM performance_schema.data_lock_waits), \
             NULL, w.BLOCKING_ENGINE_TRANSACTION_ID))"
        ));
        assert!(!mysql8.blocking.contains("INNODB_LOCK_WAITS"));
    }

    #[test]
    fn the_incident_read_lists_threads_with_their_transactions() {
        let maria = incident_sql(
            Engine::MariaDb,
            Version(10, 11, 0),
            Visibility::AllThreads,
            None,
        );
        assert!(maria.sessions.starts_with(&format!(
            "SELECT p.ID, p.USER, {CLIENT_HOST}, p.DB, p.COMMAND, p.TIME, p.STATE, NULL, \
             TIMESTAMPDIFF(MICROSECOND, t.trx_started, NOW(6)) / 1000000, p.ID = CONNECTION_ID() \
             FROM information_schema.PROCESSLIST p \
             LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID "
        )));
        // The metrics' filter without its replication clause: replicas are listed
        // (and marked), never counted.
        assert!(maria.sessions.contains(LISTED_THREADS));
        assert_eq!(
            CLIENT_THREADS,
            format!("{LISTED_THREADS} AND p.COMMAND NOT IN ('Binlog Dump', 'Binlog Dump GTID')")
        );
        assert!(
            !maria.sessions.contains("INFO"),
            "no statement text by default"
        );
        let waits = maria.lock_waits.as_deref().unwrap_or_default();
        assert!(waits.contains("FROM information_schema.INNODB_LOCK_WAITS w"));
        assert!(
            waits
                .contains("JOIN information_schema.INNODB_TRX r ON r.trx_id = w.requesting_trx_id")
        );
        assert!(
            waits.contains("JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id")
        );
        assert!(waits.starts_with("SELECT DISTINCT r.trx_mysql_thread_id, b.trx_mysql_thread_id "));
        // MariaDB 10.5.2+: SUPER or CONNECTION ADMIN from the access mask, and the
        // role grants, in one statement.
        assert_eq!(
            maria.superusers.statement,
            "SELECT User, NULL FROM mysql.global_priv \
             WHERE CAST(JSON_VALUE(Priv, '$.access') AS UNSIGNED) & 4295000064 <> 0 \
             UNION ALL SELECT User, Role FROM mysql.roles_mapping"
        );
        assert_eq!(MARIADB_ADMIN_SLOT_BITS, 32_768 + 4_294_967_296);
        assert_eq!(
            maria.superusers.tables,
            "mysql.global_priv and mysql.roles_mapping"
        );
        assert!(
            maria
                .applications
                .contains("performance_schema.session_connect_attrs")
        );
        assert!(maria.applications.contains("ATTR_NAME = 'program_name'"));
        assert_eq!(maria.performance_schema, "SELECT @@performance_schema");

        // MySQL 5.7: the same views as MariaDB.
        let mysql57 = incident_sql(
            Engine::MySql,
            Version(5, 7, 44),
            Visibility::AllThreads,
            None,
        );
        assert_eq!(mysql57.sessions, maria.sessions);
        assert_eq!(mysql57.lock_waits, maria.lock_waits);
        // MySQL 5.7 has no roles: the privilege is held directly or not at all.
        assert_eq!(
            mysql57.superusers,
            SuperuserSql {
                statement: "SELECT DISTINCT User FROM mysql.user WHERE Super_priv = 'Y'"
                    .to_string(),
                tables: "mysql.user",
            }
        );
    }

    #[test]
    fn mariadb_superusers_follow_roles_from_when_it_has_them() {
        let incident = |v| incident_sql(Engine::MariaDb, v, Visibility::AllThreads, None);
        let current = incident(Version(10, 11, 0)).superusers;
        assert_eq!(incident(Version(10, 5, 2)).superusers, current);
        assert_eq!(incident(Version(11, 4, 0)).superusers, current);
        // Before CONNECTION ADMIN: SUPER from mysql.user, with the role grants.
        for v in [Version(10, 5, 1), Version(10, 4, 30), Version(10, 0, 5)] {
            assert_eq!(
                incident(v).superusers,
                SuperuserSql {
                    statement: "SELECT User, NULL FROM mysql.user WHERE Super_priv = 'Y' \
                                UNION ALL SELECT User, Role FROM mysql.roles_mapping"
                        .to_string(),
                    tables: "mysql.user and mysql.roles_mapping",
                },
                "{v:?}"
            );
        }
        // Before roles.
        assert_eq!(
            incident(Version(10, 0, 4)).superusers.statement,
            "SELECT DISTINCT User FROM mysql.user WHERE Super_priv = 'Y'"
        );
    }

    #[test]
    fn mysql_8_gets_its_incident_sql() {
        let mysql8 = incident_sql(
            Engine::MySql,
            Version(8, 0, 36),
            Visibility::AllThreads,
            None,
        );
        assert!(
            mysql8
                .sessions
                .contains("FROM performance_schema.processlist p")
        );
        let waits = mysql8.lock_waits.as_deref().unwrap_or_default();
        assert!(waits.contains("FROM performance_schema.data_lock_waits w"));
        // Thread ids by processlist id, through INNODB_TRX, not performance_schema's
        // THREAD_ID.
        assert!(waits.contains(
            "JOIN information_schema.INNODB_TRX r ON r.trx_id = w.REQUESTING_ENGINE_TRANSACTION_ID"
        ));
        assert!(waits.contains(
            "JOIN information_schema.INNODB_TRX b ON b.trx_id = w.BLOCKING_ENGINE_TRANSACTION_ID"
        ));
        assert!(!waits.contains("THREAD_ID"));
        // SUPER, CONNECTION_ADMIN, and the role grants (FROM is the role, TO the
        // grantee), for users and roles alike.
        assert_eq!(
            mysql8.superusers,
            SuperuserSql {
                statement: "SELECT User, NULL FROM mysql.user WHERE Super_priv = 'Y' \
                            UNION ALL SELECT USER, NULL FROM mysql.global_grants \
                            WHERE PRIV = 'CONNECTION_ADMIN' \
                            UNION ALL SELECT TO_USER, FROM_USER FROM mysql.role_edges"
                    .to_string(),
                tables: "mysql.user, mysql.global_grants and mysql.role_edges",
            }
        );
        let mysql84 = incident_sql(
            Engine::MySql,
            Version(8, 4, 0),
            Visibility::AllThreads,
            None,
        );
        assert_eq!(mysql84.superusers, mysql8.superusers);
        // 8.0.1-8.0.21: the lock views of 8, the processlist of old.
        let early = incident_sql(
            Engine::MySql,
            Version(8, 0, 18),
            Visibility::AllThreads,
            None,
        );
        assert!(
            early
                .sessions
                .contains("FROM information_schema.PROCESSLIST p")
        );
        assert_eq!(early.lock_waits, mysql8.lock_waits);
    }

    #[test]
    fn the_incident_read_follows_the_process_privilege_and_the_text_setting() {
        for (flavor, version) in [
            (Engine::MariaDb, Version(10, 11, 0)),
            (Engine::MySql, Version(8, 0, 36)),
            (Engine::MySql, Version(5, 7, 44)),
        ] {
            let own = incident_sql(flavor, version, Visibility::OwnThreads, None);
            assert!(!own.sessions.contains("INNODB_TRX"), "{}", own.sessions);
            assert!(
                own.sessions
                    .contains("p.STATE, NULL, NULL, p.ID = CONNECTION_ID()")
            );
            assert_eq!(own.lock_waits, None);
            let all = incident_sql(flavor, version, Visibility::AllThreads, None);
            assert_eq!(own.superusers, all.superusers);
            assert_eq!(own.applications, all.applications);

            let text = incident_sql(flavor, version, Visibility::AllThreads, Some(120));
            assert!(text.sessions.contains("p.STATE, LEFT(p.INFO, 120), "));
            assert_eq!(
                text.sessions.replace("LEFT(p.INFO, 120)", "NULL"),
                all.sessions
            );
        }
    }

    #[test]
    fn every_part_is_listed_in_the_collector_order() {
        let names: Vec<_> = Part::ALL.iter().map(|p| p.name()).collect();
        assert_eq!(
            names,
            [
                "activity",
                "settings",
                "user_limits",
                "status",
                "blocking",
                "locks"
            ]
        );
    }
}
