//! Which database server a target is.

/// The server behind a target. Before the first read a MySQL-protocol target is
/// `MySql`; the read tells MySQL from MariaDB by the server's version string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
