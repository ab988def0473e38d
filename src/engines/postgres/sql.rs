//! The SQL of each server version, as text. Pure, so that which statement each
//! version gets is unit-tested without a server; why the statements are shaped as
//! they are is said in the parent module.

use std::time::Duration;

use crate::engines::ReadSettings;

/// Oldest server version whose catalog the SQL below is written for.
pub(super) const MIN_VERSION_NUM: i32 = 100_000;

/// The `SET` statements every session runs once, before it prepares anything.
pub(super) fn session_setup_sql(version_num: i32, read_settings: &ReadSettings) -> String {
    let mut sql = format!(
        "SET statement_timeout = {}; SET lock_timeout = {}; \
         SET idle_in_transaction_session_timeout = 0; SET search_path = pg_catalog; \
         SET default_transaction_read_only = on;",
        millis(read_settings.statement_timeout),
        millis(read_settings.lock_timeout),
    );
    if version_num >= 110_000 {
        sql.push_str(" SET jit = off;");
    }
    if version_num >= 140_000 {
        sql.push_str(" SET idle_session_timeout = 0;");
    }
    if version_num >= 170_000 {
        sql.push_str(" SET transaction_timeout = 0;");
    }
    sql
}

fn millis(d: Duration) -> u128 {
    d.as_millis().max(1)
}

/// The statements of one server version.
pub(super) struct Sql {
    pub(super) activity: String,
    /// The server's settings (GUCs) from `pg_settings`.
    pub(super) server_settings: String,
    /// Database and role names, their connection limits, and the role's privilege.
    pub(super) names: String,
    pub(super) locks: String,
    pub(super) blocking: String,
    pub(super) database_stats: String,
    /// The incident read's sessions, one row per client backend, without and with
    /// the statement text.
    pub(super) incident: String,
    pub(super) incident_with_query: String,
}

/// A client backend, including one whose details the role may not see: without
/// `pg_read_all_stats` another role's session has no `backend_type` (nor state,
/// nor times), but every role may see its database and user. Background
/// processes have neither (or are the role's own, and visible). Another role's
/// database-connected background worker (an autovacuum worker, a parallel or
/// logical replication worker) looks the same as a client then and is counted:
/// the count may be a few high without the privilege, never low.
const CLIENT_BACKEND: &str = "(s.backend_type = 'client backend' \
     OR (s.backend_type IS NULL AND s.datid IS NOT NULL AND s.usesysid IS NOT NULL))";

impl Sql {
    pub(super) fn for_version(version_num: i32, thresholds: &[f64]) -> Sql {
        Sql {
            activity: activity(thresholds),
            server_settings: SERVER_SETTINGS.to_string(),
            names: NAMES.to_string(),
            locks: LOCKS.to_string(),
            blocking: blocking(version_num),
            database_stats: database_stats(version_num).to_string(),
            incident: incident(false),
            incident_with_query: incident(true),
        }
    }
}

/// One row per origin and state, with a count per duration threshold.
fn activity(thresholds: &[f64]) -> String {
    let over: Vec<String> = thresholds
        .iter()
        .map(|t| {
            format!("count(*) FILTER (WHERE s.state_change < now() - make_interval(secs => {t}))")
        })
        .collect();
    format!(
        "SELECT s.datid, s.usesysid, coalesce(s.application_name, '') AS application, s.state, \
                count(*) AS sessions, \
                coalesce(max(extract(epoch FROM now() - s.state_change)), 0)::float8, \
                coalesce(sum(extract(epoch FROM now() - s.backend_start)), 0)::float8, \
                coalesce(max(extract(epoch FROM now() - s.backend_start)), 0)::float8, \
                extract(epoch FROM now() - min(s.xact_start))::float8, \
                ARRAY[{}]::int8[], \
                count(*) FILTER (WHERE s.wait_event_type = 'Lock'), \
                s.backend_type IS NULL AS hidden \
         FROM pg_catalog.pg_stat_get_activity(NULL) AS s \
         WHERE {CLIENT_BACKEND} \
         GROUP BY 1, 2, 3, 4, 12",
        over.join(", ")
    )
}

const SERVER_SETTINGS: &str = "SELECT name, setting, coalesce(unit, ''), coalesce(reset_val, setting) \
     FROM pg_catalog.pg_settings \
     WHERE name IN ('max_connections', 'superuser_reserved_connections', \
                    'reserved_connections', 'idle_in_transaction_session_timeout', \
                    'idle_session_timeout', 'statement_timeout', 'lock_timeout', \
                    'transaction_timeout')";

/// The names and limits, whether the role may see every session now (a GRANT
/// takes effect at once), and the superuser login roles (whose sessions the incident
/// view never offers to terminate): the one statement that reads pg_authid, so that
/// a lock on it is waited for once. 3375 is pg_read_all_stats, a fixed OID since
/// PostgreSQL 10.
const NAMES: &str = "SELECT 'd'::text, d.oid, d.datname::text, d.datconnlimit \
     FROM pg_catalog.pg_database AS d \
     UNION ALL \
     SELECT 'r'::text, r.oid, r.rolname::text, r.rolconnlimit \
     FROM pg_catalog.pg_roles AS r \
     WHERE r.rolconnlimit >= 0 OR r.rolcanlogin \
     UNION ALL \
     SELECT 'p'::text, 0::oid, '', \
            CASE WHEN pg_catalog.pg_has_role(3375::oid, 'USAGE') THEN 1 ELSE 0 END \
     UNION ALL \
     SELECT 's'::text, r.oid, r.rolname::text, 0 \
     FROM pg_catalog.pg_roles AS r \
     WHERE r.rolsuper AND r.rolcanlogin";

/// Every client backend, pid by pid, for the incident view: the same function and
/// predicate as the activity statement, so the rows are the sessions the metrics
/// count. Names come from the names statement (no catalog table here).
///
/// `pg_blocking_pids` takes every lock-manager partition lock, so it is called only
/// for a session waiting on a heavyweight lock, or, when `$1` says the metrics read
/// found lock waiters, for a session whose wait the role may not see. The statement
/// text is selected only when asked for, cut to `$2` characters on the server: a
/// bind parameter, so a new length needs no new statement.
fn incident(with_query: bool) -> String {
    let query = if with_query {
        ", CASE WHEN s.backend_type IS NULL THEN NULL \
                ELSE pg_catalog.left(s.query, $2::int4) END"
    } else {
        ""
    };
    format!(
        "SELECT s.pid, s.datid, s.usesysid, coalesce(s.application_name, ''), \
                coalesce(pg_catalog.host(s.client_addr), s.client_hostname, ''), \
                s.state, \
                extract(epoch FROM now() - s.state_change)::float8, \
                extract(epoch FROM now() - s.xact_start)::float8, \
                extract(epoch FROM now() - s.backend_start)::float8, \
                s.wait_event_type, s.wait_event, \
                CASE WHEN s.wait_event_type = 'Lock' \
                       OR (s.backend_type IS NULL AND $1::bool) \
                     THEN pg_catalog.pg_blocking_pids(s.pid) END, \
                s.backend_type IS NULL AS hidden, \
                s.pid = pg_catalog.pg_backend_pid() AS own{query} \
         FROM pg_catalog.pg_stat_get_activity(NULL) AS s \
         WHERE {CLIENT_BACKEND}"
    )
}

/// The exporter's own locks (on pg_locks itself, its virtual xid) are noise.
const LOCKS: &str = "SELECT mode, granted, count(*) FROM pg_catalog.pg_locks \
     WHERE mode IS NOT NULL AND pid IS DISTINCT FROM pg_catalog.pg_backend_pid() \
     GROUP BY 1, 2";

/// Waiters from pg_locks, which every role may read (pg_blocking_pids too), so that
/// another role's blocked session is seen without pg_read_all_stats.
/// pg_locks.waitstart (14+) dates the lock wait itself; before it, the start of the
/// waiting statement is the best available (an overestimate).
fn blocking(version_num: i32) -> String {
    if version_num >= 140_000 {
        format!(
            "SELECT w.pid, pg_catalog.pg_blocking_pids(w.pid), \
                    greatest(extract(epoch FROM now() - coalesce(w.waitstart, s.state_change, now())), 0)::float8 \
             FROM (SELECT pid, min(waitstart) AS waitstart FROM pg_catalog.pg_locks \
                   WHERE NOT granted AND pid IS NOT NULL GROUP BY pid) AS w \
             JOIN pg_catalog.pg_stat_get_activity(NULL) AS s ON s.pid = w.pid \
             WHERE {CLIENT_BACKEND}"
        )
    } else {
        format!(
            "SELECT w.pid, pg_catalog.pg_blocking_pids(w.pid), \
                    greatest(extract(epoch FROM now() - coalesce(s.state_change, now())), 0)::float8 \
             FROM (SELECT DISTINCT pid FROM pg_catalog.pg_locks \
                   WHERE NOT granted AND pid IS NOT NULL) AS w \
             JOIN pg_catalog.pg_stat_get_activity(NULL) AS s ON s.pid = w.pid \
             WHERE {CLIENT_BACKEND}"
        )
    }
}

/// Counters through the statistics functions over the databases already known, not
/// the pg_stat_database view: the view reads pg_database, and a lock on it would make
/// this statement wait a second lock timeout. Column 0, `pg_conf_load_time()`, tells
/// whether the server's settings must be read again.
fn database_stats(version_num: i32) -> &'static str {
    if counts_sessions(version_num) {
        "SELECT pg_catalog.pg_conf_load_time()::text, \
                coalesce(sum(pg_catalog.pg_stat_get_db_deadlocks(d)), 0)::int8, \
                coalesce(sum(pg_catalog.pg_stat_get_db_sessions(d)), 0)::int8, \
                coalesce(sum(pg_catalog.pg_stat_get_db_sessions_abandoned(d)), 0)::int8, \
                coalesce(sum(pg_catalog.pg_stat_get_db_sessions_fatal(d)), 0)::int8, \
                coalesce(sum(pg_catalog.pg_stat_get_db_sessions_killed(d)), 0)::int8 \
         FROM unnest($1::oid[]) AS d"
    } else {
        "SELECT pg_catalog.pg_conf_load_time()::text, \
                coalesce(sum(pg_catalog.pg_stat_get_db_deadlocks(d)), 0)::int8 \
         FROM unnest($1::oid[]) AS d"
    }
}

/// Whether `pg_stat_database` counts sessions and how they ended (14+): the
/// database statistics statement has those columns then.
pub(super) fn counts_sessions(version_num: i32) -> bool {
    version_num >= 140_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_version_gets_its_own_sql() {
        let v13 = Sql::for_version(130_000, &[30.0, 60.0]);
        let v14 = Sql::for_version(140_000, &[30.0, 60.0]);
        assert!(!v13.blocking.contains("waitstart"));
        assert!(v14.blocking.contains("waitstart"));
        assert!(!v13.database_stats.contains("sessions"));
        assert!(v14.database_stats.contains("sessions_killed"));
        assert!(v13.activity.contains("make_interval(secs => 30)"));
        assert!(v13.activity.contains("make_interval(secs => 60)"));
        assert!(
            !v13.activity.contains("pg_stat_activity "),
            "must not join catalogs"
        );
        for sql in [&v13, &v14] {
            // One activity read per scrape: it costs per backend.
            assert!(!sql.names.contains("pg_stat_get_activity"));
            assert!(sql.activity.contains("wait_event_type = 'Lock'"));
            // Another role's session, its type hidden, is still a client.
            assert!(
                sql.activity
                    .contains("s.backend_type IS NULL AND s.datid IS NOT NULL")
            );
            assert!(sql.activity.contains("GROUP BY 1, 2, 3, 4, 12"));
            // Waiters from pg_locks, which needs no privilege.
            assert!(sql.blocking.contains("FROM pg_catalog.pg_locks"));
            // Only the names statement opens catalog tables (and so may wait on a
            // lock): one lock timeout per read at most.
            for other in [
                &sql.activity,
                &sql.locks,
                &sql.blocking,
                &sql.database_stats,
                &sql.server_settings,
                &sql.incident,
                &sql.incident_with_query,
            ] {
                assert!(!other.contains("pg_database"), "{other}");
                assert!(!other.contains("pg_roles"), "{other}");
                assert!(!other.contains("pg_authid"), "{other}");
            }
            assert!(sql.names.contains("pg_has_role(3375::oid, 'USAGE')"));
            assert!(!sql.database_stats.contains("pg_has_role"));
            assert!(
                sql.database_stats
                    .starts_with("SELECT pg_catalog.pg_conf_load_time()")
            );
        }
        let none = Sql::for_version(150_000, &[]);
        assert!(none.activity.contains("ARRAY[]::int8[]"));
    }

    #[test]
    fn the_incident_statement_lists_client_backends_and_asks_only_what_it_needs() {
        for version in [130_000, 150_000, 180_000] {
            let sql = Sql::for_version(version, &[30.0]);
            for statement in [&sql.incident, &sql.incident_with_query] {
                // The sessions the metrics count, from the one function.
                assert!(statement.contains(&format!("WHERE {CLIENT_BACKEND}")));
                assert!(statement.contains("FROM pg_catalog.pg_stat_get_activity(NULL) AS s"));
                assert!(!statement.contains("pg_stat_activity "));
                // pg_blocking_pids only for a lock waiter, or a hidden session when
                // the caller says there are waiters.
                assert!(statement.contains(
                    "CASE WHEN s.wait_event_type = 'Lock' \
                            OR (s.backend_type IS NULL AND $1::bool) \
                          THEN pg_catalog.pg_blocking_pids(s.pid) END"
                ));
                assert_eq!(statement.matches("pg_blocking_pids").count(), 1);
                assert!(statement.contains("s.pid = pg_catalog.pg_backend_pid() AS own"));
            }
            // No statement text unless asked for; then cut on the server to a bind
            // parameter, never to a length baked into the statement.
            assert!(!sql.incident.contains("query"));
            assert!(!sql.incident.contains("$2"));
            assert!(
                sql.incident_with_query
                    .contains("pg_catalog.left(s.query, $2::int4)")
            );
            assert!(!sql.incident_with_query.contains("left(s.query, 2"));
        }
        // Superusers come with the names, from the one statement reading pg_authid.
        assert!(NAMES.contains("SELECT 's'::text, r.oid"));
        assert!(NAMES.contains("WHERE r.rolsuper AND r.rolcanlogin"));
    }

    #[test]
    fn session_setup_follows_the_version() {
        let s = ReadSettings {
            thresholds: vec![],
            origin_cap: 10,
            statement_timeout: Duration::from_secs(5),
            lock_timeout: Duration::from_millis(500),
            query_text: None,
        };
        let v13 = session_setup_sql(130_000, &s);
        assert!(v13.contains("statement_timeout = 5000"));
        assert!(v13.contains("lock_timeout = 500"));
        assert!(!v13.contains("idle_session_timeout"));
        assert!(session_setup_sql(140_000, &s).contains("idle_session_timeout = 0"));
        assert!(session_setup_sql(170_000, &s).contains("transaction_timeout = 0"));
    }
}
