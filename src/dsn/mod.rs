//! Connection strings: which engine one is for, its two syntaxes, and the passwords
//! in it. A DSN is the one input that carries a password, so what reads one and what
//! scrubs one live side by side: `keyword` (libpq `key=value`), `url` (URLs and
//! percent-encoding), and `secret` (finding and scrubbing passwords in any text that
//! may reach a log, a metric or an HTTP body). The name a target gets from its DSN is
//! the connector's (`engines::Connector::default_name`).

mod keyword;
mod secret;
mod url;

pub use keyword::{KeywordPair, SyntaxError, parse_keyword_dsn, quote_keyword_value};
pub use secret::{Secret, likely_secrets, passwords_in, scrub};
pub use url::{QueryPair, percent_decode, split_url, url_count};

/// Kept here for the engines that read certificate files through this path.
use crate::model::Engine;

/// Which engine a DSN is for, from its scheme. A libpq `key=value` string is
/// PostgreSQL; `mysql://` and `mariadb://` are both [`Engine::MySql`] until the
/// server's version tells them apart; `pgbouncer://` is PgBouncer's admin console.
pub fn engine_of(dsn: &str) -> Option<Engine> {
    let dsn = dsn.trim_start();
    match scheme(dsn) {
        Some(s) if s.eq_ignore_ascii_case("postgres") || s.eq_ignore_ascii_case("postgresql") => {
            Some(Engine::PostgreSql)
        }
        Some(s) if s.eq_ignore_ascii_case("mysql") || s.eq_ignore_ascii_case("mariadb") => {
            Some(Engine::MySql)
        }
        Some(s) if s.eq_ignore_ascii_case("pgbouncer") => Some(Engine::PgBouncer),
        Some(_) => None,
        None if dsn.contains('=') => Some(Engine::PostgreSql),
        None => None,
    }
}

/// The URL scheme, if the string is of the form `scheme://…`.
pub fn scheme(dsn: &str) -> Option<&str> {
    let (scheme, _) = dsn.split_once("://")?;
    let valid = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some(scheme)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_are_detected_from_the_scheme() {
        assert_eq!(engine_of("postgres://u@h/db"), Some(Engine::PostgreSql));
        assert_eq!(engine_of("postgresql://u@h/db"), Some(Engine::PostgreSql));
        assert_eq!(engine_of("host=h user=u"), Some(Engine::PostgreSql));
        assert_eq!(engine_of("mysql://u:p@h:3306/"), Some(Engine::MySql));
        assert_eq!(engine_of("mariadb://u@h/"), Some(Engine::MySql));
        assert_eq!(
            engine_of("pgbouncer://u@h:6432/pgbouncer"),
            Some(Engine::PgBouncer)
        );
        assert_eq!(engine_of("redis://h"), None);
        assert_eq!(engine_of("just-a-host"), None);
    }
}
