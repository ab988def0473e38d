//! Reaching PgBouncer's admin console: a `pgbouncer://` URL read as PostgreSQL
//! reads its DSNs (the same keywords, `sslmode` and `sslrootcert` rules), and
//! PgBouncer's own refusals told apart.
//!
//! PgBouncer refuses a login with its own messages, most under the protocol
//! violation SQLSTATE (08P01) whatever the reason, so its refusals are classified
//! by their text before the PostgreSQL classification (SQLSTATE, TLS, network)
//! applies.

use std::time::Duration;

use super::Session;
use super::parse::ADMIN_DATABASE;
use crate::dsn;
use crate::engines::postgres::connect::{self as pg, classify_connect_error};
use crate::engines::{ConnectError, ReadSettings};
use crate::model::ConnectErrorKind;

pub struct Connector {
    inner: pg::Connector,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the config itself: it holds the password.
        f.debug_struct("Connector")
            .field("target", &self.default_name())
            .finish()
    }
}

impl Connector {
    /// Parses a `pgbouncer://user@host:6432/pgbouncer` DSN. The database, when
    /// given, must be the admin console's; without one it is. Errors never contain
    /// the password.
    pub fn from_dsn(
        raw: &str,
        password: Option<&dsn::Secret>,
        connect_timeout: Duration,
    ) -> Result<Connector, String> {
        if dsn::scheme(raw.trim_start()).is_none() {
            return Err(
                "a key=value DSN is read as PostgreSQL and cannot name PgBouncer: use pgbouncer://USER@HOST:6432/pgbouncer"
                    .into(),
            );
        }
        let mut inner =
            pg::Connector::from_url_as_postgresql(raw.trim_start(), password, connect_timeout)
                .map_err(|e| e.replace("invalid PostgreSQL DSN", "invalid PgBouncer DSN"))?;
        match inner.config().get_dbname() {
            None | Some("") => {
                inner.config_mut().dbname(ADMIN_DATABASE);
            }
            Some(ADMIN_DATABASE) => {}
            Some(_) => {
                return Err(format!(
                    "invalid PgBouncer DSN: the exporter reads PgBouncer's admin console, the database `{ADMIN_DATABASE}`; name it in the path (pgbouncer://USER@HOST:6432/{ADMIN_DATABASE}) or leave the path empty"
                ));
            }
        }
        Ok(Connector { inner })
    }

    /// `host:port/pgbouncer`: the default target name.
    pub fn default_name(&self) -> String {
        self.inner.default_name()
    }

    pub fn roots_pem(&self) -> &[u8] {
        self.inner.roots_pem()
    }

    pub async fn connect(&self, settings: &ReadSettings) -> Result<Session, ConnectError> {
        let (client, connection) = self.inner.open().await.map_err(|e| classify(&e))?;
        Session::set_up(client, connection, settings).await
    }
}

/// A failed login, PgBouncer's refusals first.
pub fn classify(err: &tokio_postgres::Error) -> ConnectError {
    let mut error = classify_connect_error(err);
    if let Some(kind) = err
        .as_db_error()
        .and_then(|db| classify_message(db.message()))
    {
        error.kind = kind;
    }
    error
}

/// What PgBouncer means by the messages it refuses a login with.
fn classify_message(message: &str) -> Option<ConnectErrorKind> {
    let m = message.to_ascii_lowercase();
    if m.starts_with("no more connections allowed") {
        // "(max_client_conn)"; the console itself is admitted past that limit,
        // but a login can still be refused for it on the way in.
        Some(ConnectErrorKind::TooManyConnections)
    } else if m.contains("authentication failed")
        || m == "not allowed"
        || m.starts_with("no such user")
    {
        // "not allowed": the user is in neither admin_users nor stats_users.
        Some(ConnectErrorKind::AuthFailed)
    } else if m.contains("shutting down") {
        Some(ConnectErrorKind::Unreachable)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(raw: &str) -> Result<Connector, String> {
        Connector::from_dsn(raw, None, Duration::from_secs(1))
    }

    #[test]
    fn pgbouncer_refusals_are_classified_by_their_text() {
        let c = |m| classify_message(m);
        assert_eq!(
            c("no more connections allowed (max_client_conn)"),
            Some(ConnectErrorKind::TooManyConnections)
        );
        assert_eq!(
            c("password authentication failed"),
            Some(ConnectErrorKind::AuthFailed)
        );
        assert_eq!(c("not allowed"), Some(ConnectErrorKind::AuthFailed));
        assert_eq!(
            c("pgbouncer is shutting down"),
            Some(ConnectErrorKind::Unreachable)
        );
        assert_eq!(c("no such database: x"), None);
    }

    #[test]
    fn the_dsn_is_read_as_postgresql_with_the_console_as_database() {
        let c = from("pgbouncer://admin:s3cret@db1:6432/pgbouncer?sslmode=disable").unwrap();
        assert_eq!(c.default_name(), "db1:6432/pgbouncer");
        let c = from("pgbouncer://admin@db1:6432").unwrap();
        assert_eq!(c.default_name(), "db1:6432/pgbouncer");
        assert_eq!(c.inner.config().get_dbname(), Some("pgbouncer"));
        let c = from("PgBouncer://admin@db1:6432/").unwrap();
        assert_eq!(c.default_name(), "db1:6432/pgbouncer");
    }

    #[test]
    fn wrong_dsns_are_clear_errors_without_the_password() {
        let err = from("pgbouncer://admin:s3cret@db1:6432/orders").unwrap_err();
        assert!(err.contains("admin console"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
        let err = from("host=db1 port=6432 dbname=pgbouncer user=admin").unwrap_err();
        assert!(err.contains("cannot name PgBouncer"), "{err}");
        let err =
            from("pgbouncer://admin:s3cret@db1:6432/pgbouncer?sslmode=sometimes").unwrap_err();
        assert!(err.starts_with("invalid PgBouncer DSN"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
        let err = from("pgbouncer://admin@db1:6432/pgbouncer?sslcert=/c.pem").unwrap_err();
        assert!(err.contains("`sslcert` is a libpq keyword"), "{err}");
    }
}
