//! From the rows of an incident read to the [`Scene`]'s sessions. As in `parse`,
//! the driver's rows are first copied into plain structs with no rule applied, so
//! that every rule (which threads are listed, their state, who waits for whom, who
//! is a superuser) is unit-tested without a server.
//!
//! The processlist names a thread's user, not the account it matched, so
//! superusers are known by user name: a name that some account with `SUPER` uses
//! (itself or through roles granted to it) marks every session of that name.
//! Erring that way only keeps a session from being offered for termination.

use std::collections::{BTreeMap, HashMap, HashSet};

use mysql_async::{Row, Value};

use super::parse::{NO_DATABASE, number, state_of, text};
use super::sql::PROCESS;
use crate::incident::SessionRow;
use crate::model::State;

/// One row of the sessions statement: one thread, every column as the server sent
/// it (`None` for NULL).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ThreadRow {
    pub id: Option<i64>,
    pub user: Option<String>,
    pub client: Option<String>,
    pub database: Option<String>,
    pub command: Option<String>,
    pub seconds: Option<f64>,
    pub state: Option<String>,
    pub query: Option<String>,
    pub transaction_seconds: Option<f64>,
    /// Non-zero for the exporter's own thread.
    pub own: Option<f64>,
}

/// One row of the lock-waits statement: a thread waits for a lock another holds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WaitRow {
    pub waiting: Option<i64>,
    pub blocking: Option<i64>,
}

/// The commands of a replica's connection: listed, never offered for termination.
const REPLICATION: [&str; 2] = ["Binlog Dump", "Binlog Dump GTID"];

/// The sessions of the scene, in thread id order: client threads and replication
/// connections; the other threads `state_of` does not count as sessions (one still
/// logging in, say) are left out, as the metrics leave them out. `superusers` is
/// `None` when the accounts could not be read: nobody is marked.
pub fn sessions(
    threads: &[ThreadRow],
    waits: &[WaitRow],
    applications: &HashMap<i64, String>,
    superusers: Option<&HashSet<String>>,
) -> Vec<SessionRow> {
    let blocked_by = blocked_by(waits);
    let mut rows: Vec<SessionRow> = threads
        .iter()
        .filter_map(|t| {
            let pid = t.id?;
            let command = t.command.as_deref().unwrap_or_default();
            let replication = REPLICATION.contains(&command);
            let state = if replication {
                // Streaming the binlog: a running command.
                State::Active
            } else {
                state_of(command, t.transaction_seconds.is_some())?
            };
            let user = t.user.clone().unwrap_or_default();
            Some(SessionRow {
                pid,
                application: applications.get(&pid).cloned().unwrap_or_default(),
                superuser: superusers.is_some_and(|s| s.contains(&user)),
                user,
                database: t
                    .database
                    .clone()
                    .filter(|d| !d.is_empty())
                    .unwrap_or_else(|| NO_DATABASE.to_string()),
                client: t.client.clone().unwrap_or_default(),
                state: Some(state),
                state_seconds: t.seconds,
                transaction_seconds: t.transaction_seconds,
                // The processlist does not tell when a session connected.
                connection_seconds: None,
                wait_event: t.state.clone().filter(|s| !s.is_empty()),
                blocked_by: blocked_by.get(&pid).cloned().unwrap_or_default(),
                query: t.query.clone(),
                replication,
                own: t.own.is_some_and(|o| o != 0.0),
            })
        })
        .collect();
    rows.sort_by_key(|r| r.pid);
    rows
}

/// For each waiting thread, the threads it waits for, ascending and once each.
fn blocked_by(waits: &[WaitRow]) -> HashMap<i64, Vec<i64>> {
    let mut out: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for w in waits {
        if let (Some(waiting), Some(blocking)) = (w.waiting, w.blocking)
            && waiting != blocking
        {
            out.entry(waiting).or_default().push(blocking);
        }
    }
    out.into_iter()
        .map(|(k, mut v)| {
            v.sort_unstable();
            v.dedup();
            (k, v)
        })
        .collect()
}

/// A row's cells by position: the driver's rows, and plain vectors in tests (the
/// driver offers no way to build a row).
pub trait Cells {
    fn cell(&self, i: usize) -> Option<&Value>;
}

impl Cells for Row {
    fn cell(&self, i: usize) -> Option<&Value> {
        self.as_ref(i)
    }
}

impl Cells for Vec<Value> {
    fn cell(&self, i: usize) -> Option<&Value> {
        self.get(i)
    }
}

/// The `program_name` of each thread that sent one.
pub fn applications(rows: &[impl Cells]) -> HashMap<i64, String> {
    rows.iter()
        .filter_map(|r| Some((integer(r.cell(0))?, text(r.cell(1))?)))
        .collect()
}

/// The user names of the superusers, from the rows of the superusers statement: a
/// name alone holds the privilege itself, a name with a role was granted that role.
pub fn superusers(rows: &[impl Cells]) -> HashSet<String> {
    let mut holders = HashSet::new();
    let mut grants = Vec::new();
    for r in rows {
        let Some(name) = text(r.cell(0)) else {
            continue;
        };
        match text(r.cell(1)) {
            Some(role) => grants.push((name, role)),
            None => {
                holders.insert(name);
            }
        }
    }
    through_roles(holders, &grants)
}

/// Every name that holds a privilege: the `holders` themselves, and whoever was
/// granted a role that holds it, however long the chain of roles. `grants` are
/// (grantee, role) pairs; a cycle among them ends where a name is already known.
pub fn through_roles(holders: HashSet<String>, grants: &[(String, String)]) -> HashSet<String> {
    let mut grantees: HashMap<&str, Vec<&str>> = HashMap::new();
    for (grantee, role) in grants {
        grantees.entry(role).or_default().push(grantee);
    }
    let mut queue: Vec<String> = holders.iter().cloned().collect();
    let mut found = holders;
    while let Some(name) = queue.pop() {
        for grantee in grantees.get(name.as_str()).into_iter().flatten() {
            if found.insert((*grantee).to_string()) {
                queue.push((*grantee).to_string());
            }
        }
    }
    found
}

/// Whether `SELECT @@performance_schema` said on.
pub fn performance_schema_on<R: Cells>(rows: &[R]) -> bool {
    rows.first()
        .and_then(|r| number(r.cell(0)))
        .is_some_and(|n| n != 0.0)
}

pub fn thread_row(r: &impl Cells) -> ThreadRow {
    ThreadRow {
        id: integer(r.cell(0)),
        user: text(r.cell(1)),
        client: text(r.cell(2)),
        database: text(r.cell(3)),
        command: text(r.cell(4)),
        seconds: number(r.cell(5)),
        state: text(r.cell(6)),
        query: text(r.cell(7)),
        transaction_seconds: number(r.cell(8)),
        own: number(r.cell(9)),
    }
}

pub fn wait_row(r: &impl Cells) -> WaitRow {
    WaitRow {
        waiting: integer(r.cell(0)),
        blocking: integer(r.cell(1)),
    }
}

/// A cell as a whole number (a thread id); anything else is `None`.
fn integer(v: Option<&Value>) -> Option<i64> {
    text(v).and_then(|t| t.trim().parse::<i64>().ok())
}

/// The note of a read without `PROCESS`.
pub fn without_process_note() -> String {
    format!(
        "The exporter's account lacks the {PROCESS} privilege: only its own threads are \
         listed (the others are counted as hidden), and open transactions and lock waits \
         are not read. Fix: GRANT {PROCESS} ON *.* TO the exporter's account."
    )
}

/// The note when performance_schema is off.
pub const APPLICATIONS_NEED_PERFORMANCE_SCHEMA: &str = "Application names need \
    performance_schema (the program_name connect attribute), which is off on this server: \
    no session shows one.";

/// The note when `session_connect_attrs` cannot be read.
pub fn applications_refused_note(error: &str) -> String {
    format!(
        "Application names need SELECT on performance_schema.session_connect_attrs \
         ({error}): no session shows one."
    )
}

/// The note when the accounts or their role grants cannot be read; `tables` are
/// those the superusers statement reads.
pub fn superusers_unknown_note(error: &str, tables: &str) -> String {
    format!(
        "Superusers are not known ({error}): no session is marked as one, and none is \
         offered for termination. Reading them needs SELECT on {tables}."
    )
}

/// The note when the lock waits cannot be read.
pub fn lock_waits_failed_note(error: &str) -> String {
    format!("Lock waits could not be read ({error}): no session shows whom it waits for.")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thread(id: i64, user: &str, command: &str) -> ThreadRow {
        ThreadRow {
            id: Some(id),
            user: Some(user.into()),
            client: Some("10.0.0.7".into()),
            database: Some("shop".into()),
            command: Some(command.into()),
            seconds: Some(3.0),
            state: Some(String::new()),
            query: None,
            transaction_seconds: None,
            own: Some(0.0),
        }
    }

    fn wait(waiting: i64, blocking: i64) -> WaitRow {
        WaitRow {
            waiting: Some(waiting),
            blocking: Some(blocking),
        }
    }

    #[test]
    fn states_follow_the_command_and_the_open_transaction() {
        let mut in_trx = thread(2, "app", "Sleep");
        in_trx.transaction_seconds = Some(12.5);
        let mut running = thread(3, "app", "Query");
        running.transaction_seconds = Some(1.0);
        running.state = Some("Updating".into());
        let rows = sessions(
            &[running, thread(1, "app", "Sleep"), in_trx],
            &[],
            &HashMap::new(),
            None,
        );
        let states: Vec<_> = rows.iter().map(|r| (r.pid, r.state)).collect();
        assert_eq!(
            states,
            [
                (1, Some(State::Idle)),
                (2, Some(State::IdleInTransaction)),
                (3, Some(State::Active)),
            ]
        );
        assert_eq!(rows[1].transaction_seconds, Some(12.5));
        assert_eq!(rows[0].transaction_seconds, None);
        // An empty processlist state is no wait at all.
        assert_eq!(rows[0].wait_event, None);
        assert_eq!(rows[2].wait_event.as_deref(), Some("Updating"));
        assert_eq!(rows[0].state_seconds, Some(3.0));
        assert_eq!(rows[0].connection_seconds, None);
    }

    #[test]
    fn replication_is_listed_and_other_server_threads_are_not() {
        let rows = sessions(
            &[
                thread(1, "repl", "Binlog Dump GTID"),
                thread(2, "repl", "Binlog Dump"),
                thread(3, "unauthenticated user", "Connect"),
                thread(4, "app", "Query"),
                // A row without an id names nobody.
                ThreadRow {
                    id: None,
                    ..thread(0, "app", "Query")
                },
            ],
            &[],
            &HashMap::new(),
            None,
        );
        let listed: Vec<_> = rows.iter().map(|r| (r.pid, r.replication)).collect();
        assert_eq!(listed, [(1, true), (2, true), (4, false)]);
        assert_eq!(rows[0].state, Some(State::Active));
    }

    #[test]
    fn waiters_name_their_blockers_once_each() {
        let rows = sessions(
            &[
                thread(10, "app", "Sleep"),
                thread(11, "app", "Query"),
                thread(12, "app", "Query"),
            ],
            &[
                wait(12, 11),
                wait(11, 10),
                wait(12, 10),
                wait(12, 11),
                // A self-wait or a NULL side is no edge.
                wait(10, 10),
                WaitRow {
                    waiting: Some(10),
                    blocking: None,
                },
            ],
            &HashMap::new(),
            None,
        );
        let edges: Vec<_> = rows.iter().map(|r| r.blocked_by.clone()).collect();
        assert_eq!(edges, [vec![], vec![10], vec![10, 11]]);
    }

    #[test]
    fn applications_superusers_own_and_nulls() {
        let mut own = thread(5, "monitor", "Query");
        own.own = Some(1.0);
        own.database = None;
        own.client = None;
        own.query = Some("SELECT p.ID".into());
        let mut empty_db = thread(6, "root", "Sleep");
        empty_db.database = Some(String::new());
        empty_db.user = None;
        let apps = HashMap::from([(5, "dbconn_exporter".to_string())]);
        let supers = HashSet::from(["root".to_string(), String::new()]);
        let rows = sessions(&[own.clone(), empty_db.clone()], &[], &apps, Some(&supers));
        assert!(rows[0].own);
        assert!(!rows[1].own);
        assert_eq!(rows[0].application, "dbconn_exporter");
        assert_eq!(rows[1].application, "");
        assert_eq!(rows[0].database, NO_DATABASE);
        assert_eq!(rows[1].database, NO_DATABASE);
        assert_eq!(rows[0].client, "");
        assert_eq!(rows[0].query.as_deref(), Some("SELECT p.ID"));
        assert!(!rows[0].superuser);
        // A NULL user is the empty name; here some account of that name has SUPER.
        assert!(rows[1].superuser);
        // Superusers unknown: nobody is marked.
        let rows = sessions(&[own, empty_db], &[], &apps, None);
        assert!(rows.iter().all(|r| !r.superuser));
    }

    #[test]
    fn cells_become_rows() {
        let bytes = |s: &str| Value::Bytes(s.as_bytes().to_vec());
        let row = vec![
            bytes("42"),
            bytes("app"),
            bytes("10.0.0.7"),
            Value::NULL,
            bytes("Sleep"),
            bytes("7"),
            bytes(""),
            Value::NULL,
            bytes("1.250000"),
            Value::Int(1),
        ];
        assert_eq!(
            thread_row(&row),
            ThreadRow {
                id: Some(42),
                user: Some("app".into()),
                client: Some("10.0.0.7".into()),
                database: None,
                command: Some("Sleep".into()),
                seconds: Some(7.0),
                state: Some(String::new()),
                query: None,
                transaction_seconds: Some(1.25),
                own: Some(1.0),
            }
        );
        assert_eq!(wait_row(&vec![bytes("12"), Value::UInt(11)]), wait(12, 11));
        assert_eq!(
            wait_row(&vec![bytes("x")]),
            WaitRow {
                waiting: None,
                blocking: None
            }
        );
        let attrs = [
            vec![bytes("5"), bytes("payflow")],
            vec![Value::NULL, bytes("lost")],
        ];
        assert_eq!(
            applications(&attrs),
            HashMap::from([(5, "payflow".to_string())])
        );
        assert_eq!(
            superusers(&[vec![bytes("root")], vec![Value::NULL]]),
            HashSet::from(["root".to_string()])
        );
        assert!(performance_schema_on(&[vec![bytes("1")]]));
        assert!(!performance_schema_on(&[vec![Value::Int(0)]]));
        assert!(!performance_schema_on::<Vec<Value>>(&[]));
    }

    fn names(list: &[&str]) -> HashSet<String> {
        list.iter().map(|n| n.to_string()).collect()
    }

    fn grants(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(g, r)| (g.to_string(), r.to_string()))
            .collect()
    }

    #[test]
    fn a_role_passes_its_privilege_down_a_chain_of_grants() {
        // root holds it itself; admin -> dba -> ops -> alice; bob has an
        // unprivileged role; carol was granted nothing.
        let found = through_roles(
            names(&["root", "admin"]),
            &grants(&[
                ("dba", "admin"),
                ("ops", "dba"),
                ("alice", "ops"),
                ("bob", "reader"),
                ("reader", "nobody"),
            ]),
        );
        assert_eq!(found, names(&["root", "admin", "dba", "ops", "alice"]));
        // A grant that leads to no holder marks nobody.
        assert_eq!(
            through_roles(names(&[]), &grants(&[("a", "b"), ("b", "c")])),
            names(&[])
        );
        // A name granted both a plain and a privileged role is marked.
        assert_eq!(
            through_roles(names(&["su"]), &grants(&[("u", "plain"), ("u", "su")])),
            names(&["su", "u"])
        );
    }

    #[test]
    fn a_cycle_of_role_grants_ends() {
        // x -> y -> z -> x, with z holding the privilege, and w granted x.
        let found = through_roles(
            names(&["z"]),
            &grants(&[("x", "y"), ("y", "z"), ("z", "x"), ("w", "x")]),
        );
        assert_eq!(found, names(&["x", "y", "z", "w"]));
        // A cycle without a holder marks nobody, and a role granted to itself ends.
        let none = through_roles(names(&["other"]), &grants(&[("p", "q"), ("q", "p")]));
        assert_eq!(none, names(&["other"]));
        assert_eq!(
            through_roles(names(&["s"]), &grants(&[("s", "s")])),
            names(&["s"])
        );
    }

    #[test]
    fn superuser_rows_are_holders_or_grants() {
        let bytes = |s: &str| Value::Bytes(s.as_bytes().to_vec());
        let rows = [
            // A holder, as the two-column statements send it.
            vec![bytes("root"), Value::NULL],
            vec![bytes("rt_admin"), Value::NULL],
            // A grant: the user rt_u was granted the role rt_admin.
            vec![bytes("rt_u"), bytes("rt_admin")],
            vec![bytes("rt_top"), bytes("rt_mid")],
            vec![bytes("rt_mid"), bytes("rt_admin")],
            vec![bytes("plain"), bytes("reader")],
            // A NULL grantee names nobody.
            vec![Value::NULL, bytes("rt_admin")],
        ];
        assert_eq!(
            superusers(&rows),
            names(&["root", "rt_admin", "rt_u", "rt_top", "rt_mid"])
        );
        // The one-column statement of servers without roles.
        assert_eq!(
            superusers(&[vec![bytes("root")], vec![bytes("admin")]]),
            names(&["root", "admin"])
        );
    }

    #[test]
    fn notes_name_what_is_missing() {
        assert!(without_process_note().contains("GRANT PROCESS ON *.*"));
        assert!(APPLICATIONS_NEED_PERFORMANCE_SCHEMA.contains("performance_schema"));
        assert!(applications_refused_note("denied").contains("(denied)"));
        let note = superusers_unknown_note("denied", "mysql.global_priv and mysql.roles_mapping");
        assert!(note.contains("(denied)"), "{note}");
        assert!(
            note.contains("SELECT on mysql.global_priv and mysql.roles_mapping."),
            "{note}"
        );
        assert!(lock_waits_failed_note("timeout").contains("(timeout)"));
    }
}
