//! The admin console's answers → a [`Snapshot`] with its pools.
//!
//! Every column is found by its name, never by its position: each PgBouncer
//! release adds columns (the cancel-request states, `maxwait_us`, `pool_mode`,
//! `load_balance_hosts`, the client limits) and some rename one (`reserve_pool`
//! became `reserve_pool_size`). A column this version lacks leaves its state out;
//! a column the read cannot do without is an error naming it.

use std::collections::HashMap;

use tokio_postgres::SimpleQueryMessage;

use crate::model::{
    LimitUse, Origin, Pool, ReadPart, SessionFacts, SessionGroup, State, summarize_sessions,
};

/// The admin console's own database: its pool holds the console's clients (the
/// exporter among them) and never a server connection.
pub const ADMIN_DATABASE: &str = "pgbouncer";

/// One SHOW command's answer: column names and text values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    columns: Vec<String>,
    rows: Vec<Vec<Option<String>>>,
}

impl Table {
    /// The rows of a simple-query answer, by the names its row description gives.
    pub fn from_messages(messages: &[SimpleQueryMessage]) -> Table {
        let mut table = Table::default();
        for m in messages {
            match m {
                SimpleQueryMessage::RowDescription(columns) => {
                    table.columns = columns.iter().map(|c| c.name().to_string()).collect();
                }
                SimpleQueryMessage::Row(row) => {
                    if table.columns.is_empty() {
                        table.columns =
                            row.columns().iter().map(|c| c.name().to_string()).collect();
                    }
                    table.rows.push(
                        (0..row.len())
                            .map(|i| row.get(i).map(str::to_string))
                            .collect(),
                    );
                }
                _ => {}
            }
        }
        table
    }

    /// A table from names and rows, as the tests capture them.
    #[cfg(test)]
    pub fn new(columns: &[&str], rows: &[&[&str]]) -> Table {
        Table {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: rows
                .iter()
                .map(|r| r.iter().map(|v| Some(v.to_string())).collect())
                .collect(),
        }
    }

    /// A table from psql's aligned output (header, rule, rows; `|` between cells),
    /// as the outputs of each version are captured in the tests.
    #[cfg(test)]
    pub fn from_psql(text: &str) -> Table {
        let mut lines = text
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('('));
        let split =
            |l: &str| -> Vec<String> { l.split('|').map(|c| c.trim().to_string()).collect() };
        let columns = lines.next().map(split).unwrap_or_default();
        let rows = lines
            .filter(|l| !l.trim_start().starts_with("--"))
            .map(|l| split(l).into_iter().map(Some).collect())
            .collect();
        Table { columns, rows }
    }

    pub fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(move |values| Row {
            table: self,
            values,
        })
    }
}

/// One row, read by column name.
pub struct Row<'a> {
    table: &'a Table,
    values: &'a [Option<String>],
}

impl<'a> Row<'a> {
    /// The column's text; `None` for a column this version lacks or a NULL.
    pub fn text(&self, column: &str) -> Option<&'a str> {
        let i = self.table.columns.iter().position(|c| c == column)?;
        self.values.get(i)?.as_deref()
    }

    /// A column the read needs, as text.
    fn required(&self, what: &str, column: &str) -> Result<&'a str, String> {
        self.text(column)
            .ok_or_else(|| format!("{what}: no column {column}"))
    }

    /// A count the read needs.
    fn count(&self, what: &str, column: &str) -> Result<u64, String> {
        let text = self.required(what, column)?;
        parse_count(text).ok_or_else(|| format!("{what}: {column} is not a count: {text:?}"))
    }

    /// A count this version may not report (`None` then); an unreadable value is
    /// an error all the same.
    fn optional_count(&self, what: &str, column: &str) -> Result<Option<u64>, String> {
        match self.text(column) {
            None => Ok(None),
            Some(text) if text.trim().is_empty() => Ok(None),
            Some(text) => parse_count(text)
                .map(Some)
                .ok_or_else(|| format!("{what}: {column} is not a count: {text:?}")),
        }
    }
}

/// A whole number as the console writes it; a negative one (a limit PgBouncer
/// reports as unset) is 0.
fn parse_count(text: &str) -> Option<u64> {
    let n: i64 = text.trim().parse().ok()?;
    Some(u64::try_from(n).unwrap_or(0))
}

/// `SHOW VERSION`: "PgBouncer 1.18.0" → "1.18.0".
pub fn version(table: &Table) -> Result<String, String> {
    let row = table
        .rows()
        .next()
        .ok_or_else(|| "SHOW VERSION: no row".to_string())?;
    let text = row.required("SHOW VERSION", "version")?;
    let text = text.trim();
    Ok(text.strip_prefix("PgBouncer ").unwrap_or(text).to_string())
}

/// What the read uses of `SHOW CONFIG`.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub max_client_conn: u64,
    /// 0 when there is no global limit.
    pub max_user_connections: u64,
    /// Settings that end waits, queries or connections, in seconds (0 = off).
    pub timeouts: Vec<(String, f64)>,
}

/// PgBouncer's settings that end a client's wait or query, or a connection.
const TIMEOUTS: [&str; 8] = [
    "query_timeout",
    "query_wait_timeout",
    "client_idle_timeout",
    "client_login_timeout",
    "idle_transaction_timeout",
    "server_idle_timeout",
    "server_lifetime",
    "server_connect_timeout",
];

pub fn config(table: &Table) -> Result<Config, String> {
    let mut values: HashMap<&str, &str> = HashMap::new();
    for row in table.rows() {
        if let (Some(key), Some(value)) = (row.text("key"), row.text("value")) {
            values.insert(key, value);
        }
    }
    let count = |key: &str| -> Result<Option<u64>, String> {
        match values.get(key) {
            None => Ok(None),
            Some(v) => parse_count(v)
                .map(Some)
                .ok_or_else(|| format!("SHOW CONFIG: {key} is not a count: {v:?}")),
        }
    };
    let max_client_conn =
        count("max_client_conn")?.ok_or_else(|| "SHOW CONFIG: no max_client_conn".to_string())?;
    let max_user_connections = count("max_user_connections")?.unwrap_or(0);
    let timeouts = TIMEOUTS
        .iter()
        .filter_map(|key| {
            let seconds: f64 = values.get(key)?.trim().parse().ok()?;
            seconds
                .is_finite()
                .then(|| ((*key).to_string(), seconds.max(0.0)))
        })
        .collect();
    Ok(Config {
        max_client_conn,
        max_user_connections,
        timeouts,
    })
}

/// `SHOW LISTS`' `used_clients`: every client PgBouncer holds, the count it
/// compares with `max_client_conn`.
pub fn used_clients(table: &Table) -> Result<u64, String> {
    for row in table.rows() {
        if row.text("list") == Some("used_clients") {
            return row.count("SHOW LISTS", "items");
        }
    }
    Err("SHOW LISTS: no used_clients".into())
}

/// A client's state in the common schema.
///
/// - linked to a server connection → `active`: it holds a server now (in session
///   pooling, for its whole session, idle or not);
/// - not linked and not waiting (`idle` in newer versions, `active` without a link
///   in older ones) → `idle`: it holds only its place in `max_client_conn`;
/// - waiting for a server, sending a cancel request, or logging in → `other`: it
///   wants a server and has none, which is neither running nor idle.
///
/// A pooler has no transactions of its own to show: the in-transaction states stay
/// 0.
fn client_state(state: &str, linked: bool) -> State {
    match state {
        "active" if linked => State::Active,
        "active" | "idle" => State::Idle,
        _ => State::Other,
    }
}

/// `SHOW CLIENTS` → session groups by database, user, application and state. A
/// waiting client's state duration is how long it has waited; the console tells
/// no other state's duration.
pub fn client_groups(table: &Table, thresholds: &[f64]) -> Result<Vec<SessionGroup>, String> {
    let mut groups: HashMap<(Origin, State), SessionGroup> = HashMap::new();
    for row in table.rows() {
        let what = "SHOW CLIENTS";
        let state_text = row.required(what, "state")?;
        let linked = row.text("link").is_some_and(|l| !l.trim().is_empty());
        let state = client_state(state_text, linked);
        let waited = if state_text == "waiting" {
            let secs = row.count(what, "wait")? as f64;
            let micros = row.optional_count(what, "wait_us")?.unwrap_or(0) as f64;
            secs + micros / 1e6
        } else {
            0.0
        };
        let origin = Origin {
            database: row.required(what, "database")?.to_string(),
            user: row.required(what, "user")?.to_string(),
            application: row.text("application_name").unwrap_or("").to_string(),
        };
        let g = groups
            .entry((origin.clone(), state))
            .or_insert_with(|| SessionGroup {
                hidden: false,
                origin,
                state,
                count: 0,
                max_state_seconds: 0.0,
                sum_age_seconds: 0.0,
                max_age_seconds: 0.0,
                oldest_transaction_seconds: None,
                over: vec![0; thresholds.len()],
            });
        g.count += 1;
        g.max_state_seconds = g.max_state_seconds.max(waited);
        for (n, t) in g.over.iter_mut().zip(thresholds) {
            if waited > *t {
                *n += 1;
            }
        }
    }
    let mut groups: Vec<SessionGroup> = groups.into_values().collect();
    groups.sort_by(|a, b| (&a.origin, a.state).cmp(&(&b.origin, b.state)));
    Ok(groups)
}

/// The clients: those `SHOW CLIENTS` lists, plus those PgBouncer counts in
/// `used_clients` but lists in no pool (being freed, or between lists), as hidden
/// clients in `other`, so that the total is the count `max_client_conn` is
/// compared with.
pub fn sessions(
    mut groups: Vec<SessionGroup>,
    used_clients: u64,
    thresholds: &[f64],
    origin_cap: usize,
) -> SessionFacts {
    let listed: u64 = groups.iter().map(|g| g.count).sum();
    if used_clients > listed {
        groups.push(SessionGroup {
            hidden: true,
            origin: Origin::other(),
            state: State::Other,
            count: used_clients - listed,
            max_state_seconds: 0.0,
            sum_age_seconds: 0.0,
            max_age_seconds: 0.0,
            oldest_transaction_seconds: None,
            over: vec![0; thresholds.len()],
        });
    }
    let mut facts = summarize_sessions(groups, thresholds, origin_cap);
    // The console shows when a client connected only as wall-clock text in the
    // pooler's time zone: no age is claimed from it.
    facts.average_connection_age_seconds = None;
    facts.max_connection_age_seconds = None;
    facts
}

/// Client states of `SHOW POOLS`, by column, and the name each is shown as.
const CLIENT_COLUMNS: [(&str, &str); 5] = [
    ("cl_active", "active"),
    ("cl_waiting", "waiting"),
    ("cl_active_cancel_req", "active_cancel_req"),
    ("cl_waiting_cancel_req", "waiting_cancel_req"),
    // Before 1.18: one count for both.
    ("cl_cancel_req", "cancel_req"),
];

/// Server states of `SHOW POOLS`. `idle` and `used` are the ones a new client can
/// be given (a `used` one after its check query).
const SERVER_COLUMNS: [(&str, &str); 7] = [
    ("sv_active", "active"),
    ("sv_active_cancel", "active_cancel"),
    ("sv_being_canceled", "being_canceled"),
    ("sv_idle", "idle"),
    ("sv_used", "used"),
    ("sv_tested", "tested"),
    ("sv_login", "login"),
];

/// A database's pool settings and server-connection limit, from `SHOW DATABASES`.
struct DatabaseRow {
    pool_size: Option<u64>,
    reserve: Option<u64>,
    max_connections: u64,
    current_connections: u64,
}

/// A user's pool settings and limit, from `SHOW USERS` where the version has
/// them.
struct UserRow {
    pool_size: Option<u64>,
    reserve: Option<u64>,
    max_connections: Option<u64>,
    current_connections: Option<u64>,
}

fn databases(table: &Table) -> Result<HashMap<String, DatabaseRow>, String> {
    let what = "SHOW DATABASES";
    let mut out = HashMap::new();
    for row in table.rows() {
        let name = row.required(what, "name")?.to_string();
        // `reserve_pool` was renamed `reserve_pool_size`.
        let reserve = match row.optional_count(what, "reserve_pool_size")? {
            Some(n) => Some(n),
            None => row.optional_count(what, "reserve_pool")?,
        };
        out.insert(
            name,
            DatabaseRow {
                pool_size: row.optional_count(what, "pool_size")?,
                reserve,
                max_connections: row.optional_count(what, "max_connections")?.unwrap_or(0),
                current_connections: row
                    .optional_count(what, "current_connections")?
                    .unwrap_or(0),
            },
        );
    }
    Ok(out)
}

fn users(table: &Table) -> Result<HashMap<String, UserRow>, String> {
    let what = "SHOW USERS";
    let mut out = HashMap::new();
    for row in table.rows() {
        let name = row.required(what, "name")?.to_string();
        out.insert(
            name,
            UserRow {
                // Empty where the user has no pool size of its own.
                pool_size: row.optional_count(what, "pool_size")?,
                reserve: row.optional_count(what, "reserve_pool_size")?,
                max_connections: row.optional_count(what, "max_user_connections")?,
                current_connections: row.optional_count(what, "current_connections")?,
            },
        );
    }
    Ok(out)
}

/// The pools, sized as PgBouncer sizes them: a user's own pool size (and reserve)
/// where the version has one for it, else the database's (which `SHOW DATABASES`
/// already shows with the global default applied). The admin console's pool is
/// left out: it never has a server.
pub fn pools(
    pools: &Table,
    databases_table: &Table,
    users_table: Option<&Table>,
) -> Result<Vec<Pool>, String> {
    let what = "SHOW POOLS";
    let databases = databases(databases_table)?;
    let users = match users_table {
        Some(t) => users(t)?,
        None => HashMap::new(),
    };
    let mut out = Vec::new();
    for row in pools.rows() {
        let database = row.required(what, "database")?.to_string();
        if database == ADMIN_DATABASE {
            continue;
        }
        let user = row.required(what, "user")?.to_string();
        let mut clients = Vec::new();
        for (column, name) in CLIENT_COLUMNS {
            if let Some(n) = row.optional_count(what, column)? {
                clients.push((name, n));
            }
        }
        let mut servers = Vec::new();
        for (column, name) in SERVER_COLUMNS {
            if let Some(n) = row.optional_count(what, column)? {
                servers.push((name, n));
            }
        }
        let available: u64 = servers
            .iter()
            .filter(|(name, _)| matches!(*name, "idle" | "used"))
            .map(|(_, n)| n)
            .sum();
        let total: u64 = servers.iter().map(|(_, n)| n).sum();
        let max_wait_seconds = row.count(what, "maxwait")? as f64
            + row.optional_count(what, "maxwait_us")?.unwrap_or(0) as f64 / 1e6;
        let db = databases.get(&database);
        let own = users.get(&user);
        let size = own
            .and_then(|u| u.pool_size)
            .or(db.and_then(|d| d.pool_size));
        let reserve = own
            .and_then(|u| u.reserve)
            .or(db.and_then(|d| d.reserve))
            .unwrap_or(0);
        out.push(Pool {
            database,
            user,
            clients,
            servers,
            max_wait_seconds,
            size: size.map(|s| s + reserve),
            servers_in_use: total.saturating_sub(available),
        });
    }
    Ok(out)
}

/// Per-database server-connection limits (`max_db_connections`) that are set, with
/// their use.
pub fn database_limits(databases_table: &Table) -> Result<Vec<LimitUse>, String> {
    let mut out: Vec<LimitUse> = databases(databases_table)?
        .into_iter()
        .filter(|(name, d)| name != ADMIN_DATABASE && d.max_connections > 0)
        .map(|(name, d)| LimitUse {
            name,
            limit: d.max_connections,
            used: d.current_connections,
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Per-user server-connection limits (`max_user_connections`) that are set, with
/// their use. Where `SHOW USERS` has the limit (newer versions) it is each user's
/// own; where it does not, the global setting applies to every user with a pool,
/// whose use is the sum of its pools' server connections.
pub fn user_limits(
    users_table: Option<&Table>,
    pools: &[Pool],
    config: &Config,
) -> Result<Vec<LimitUse>, String> {
    let users = match users_table {
        Some(t) => users(t)?,
        None => HashMap::new(),
    };
    let per_user_columns = users.values().any(|u| u.max_connections.is_some());
    let mut out: Vec<LimitUse> = if per_user_columns {
        users
            .into_iter()
            .filter_map(|(name, u)| {
                let limit = u.max_connections.filter(|&n| n > 0)?;
                Some(LimitUse {
                    name,
                    limit,
                    used: u.current_connections.unwrap_or(0),
                })
            })
            .collect()
    } else if config.max_user_connections > 0 {
        let mut used: HashMap<&str, u64> = HashMap::new();
        for p in pools {
            *used.entry(p.user.as_str()).or_default() +=
                p.servers.iter().map(|(_, n)| n).sum::<u64>();
        }
        used.into_iter()
            .map(|(name, used)| LimitUse {
                name: name.to_string(),
                limit: config.max_user_connections,
                used,
            })
            .collect()
    } else {
        Vec::new()
    };
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The parts of a read, each a SHOW command; `users` alone may fail without
/// failing the read (it sizes pools where a user has a size of its own).
pub fn parts(users_ok: bool) -> Vec<ReadPart> {
    let mut parts: Vec<ReadPart> = ["pools", "databases", "config", "lists", "clients"]
        .into_iter()
        .map(|name| ReadPart {
            name,
            success: true,
        })
        .collect();
    parts.push(ReadPart {
        name: "users",
        success: users_ok,
    });
    parts
}

#[cfg(test)]
mod tests;
