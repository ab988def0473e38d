//! Which database server a target is.
//!
//! PgBouncer is a pooler, not a database, but it has a connection limit of its own
//! (`max_client_conn`) that runs out like a server's: it is an engine here so that
//! the common schema and alerts apply to it unchanged.

/// The server behind a target. Before the first read a MySQL-protocol target is
/// `MySql`; the read tells MySQL from MariaDB by the server's version string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Engine {
    PostgreSql,
    MySql,
    MariaDb,
    PgBouncer,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::PostgreSql => "postgresql",
            Engine::MySql => "mysql",
            Engine::MariaDb => "mariadb",
            Engine::PgBouncer => "pgbouncer",
        }
    }
}
