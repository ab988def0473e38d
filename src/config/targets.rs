//! Targets: one per `--target` value or file entry, each a name and a connector
//! built from its DSN. A DSN holds a password, and a target's name is printed
//! everywhere (labels, logs, the landing page), so every error here is scrubbed and a
//! name derived from a DSN is refused when it would show the password.

use std::collections::HashSet;
use std::time::Duration;

use super::ConfigError;
use super::file::{FileTarget, read_password};
use crate::dsn::{self, Secret};
use crate::engines;
use crate::model::Engine;

/// One database to watch, ready to connect.
#[derive(Debug)]
pub struct TargetSpec {
    pub name: String,
    pub connector: engines::Connector,
    /// What the connector was built from, for a reload to tell an unchanged target.
    pub identity: Identity,
}

/// A digest of everything a target's connector is built from: the DSN as written,
/// the password from its `password_file`, the root certificates its DSN names (their
/// content, not only their path) and the connect timeout. Two specs with the same
/// identity would open the same session, so a reload keeps the one already open.
/// A digest rather than the inputs: the password is held once, by the connector,
/// and this value prints as nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct Identity(Box<[u8]>);

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Identity(..)")
    }
}

impl Identity {
    fn of(
        raw: &str,
        password: Option<&Secret>,
        connector: &engines::Connector,
        connect_timeout: Duration,
    ) -> Identity {
        let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
        // Each part with its length first, so that no two sequences of parts read
        // the same.
        let mut part = |bytes: &[u8]| {
            digest.update(&(bytes.len() as u64).to_le_bytes());
            digest.update(bytes);
        };
        part(raw.as_bytes());
        match password {
            Some(p) => {
                part(b"password_file");
                part(p.expose().as_bytes());
            }
            None => part(b""),
        }
        part(connector.roots_pem());
        part(&connect_timeout.as_nanos().to_le_bytes());
        Identity(digest.finish().as_ref().into())
    }
}

/// Every target, those of the flags first, then those of the file. At least one is
/// needed, and each name once.
pub(super) fn targets(
    flags: &[String],
    file: &[FileTarget],
    connect_timeout: Duration,
) -> Result<Vec<TargetSpec>, ConfigError> {
    let mut targets = Vec::new();
    for (i, raw) in flags.iter().enumerate() {
        let (name, dsn) = split_named_target(raw);
        let spec = TargetSpec::new(name, dsn, None, connect_timeout)
            .map_err(|e| ConfigError(format!("--target #{}: {e}", i + 1)))?;
        targets.push(spec);
    }
    for (i, t) in file.iter().enumerate() {
        targets.push(from_file(i, t, connect_timeout)?);
    }
    if targets.is_empty() {
        return Err(ConfigError(
            "no targets configured: give --target DSN, DBCONN_TARGET, or targets in --config.file"
                .into(),
        ));
    }
    let mut seen = HashSet::new();
    for t in &targets {
        if !seen.insert(t.name.as_str()) {
            return Err(ConfigError(format!(
                "duplicate target name {:?}: every target needs its own name",
                t.name
            )));
        }
    }
    Ok(targets)
}

/// The `i`th entry of the file's `targets:`, its errors prefixed with where it is.
fn from_file(
    i: usize,
    t: &FileTarget,
    connect_timeout: Duration,
) -> Result<TargetSpec, ConfigError> {
    let password = match &t.password_file {
        Some(p) => Some(
            read_password(p)
                .map_err(|e| ConfigError(format!("targets[{i}].password_file: {e}")))?,
        ),
        None => None,
    };
    TargetSpec::new(
        t.name.as_deref(),
        &t.dsn,
        password.as_ref(),
        connect_timeout,
    )
    .map_err(|e| {
        let which = match &t.name {
            Some(n) => format!("targets[{i}] (name {n:?})"),
            None => format!("targets[{i}]"),
        };
        ConfigError(format!("{which}: {e}"))
    })
}

/// `NAME=scheme://…` names a target; anything else is a DSN alone. A libpq
/// keyword string (`host=… user=…`) also contains `=`, so a name is only taken when
/// what follows it is a URL.
fn split_named_target(raw: &str) -> (Option<&str>, &str) {
    if let Some((name, rest)) = raw.split_once('=')
        && dsn::scheme(rest.trim_start()).is_some()
        && dsn::scheme(raw).is_none()
    {
        return (Some(name.trim()), rest.trim_start());
    }
    (None, raw)
}

impl TargetSpec {
    /// A target from one DSN (and the password from its `password_file`, if any),
    /// named `name` or, without one, after the DSN's host, port and database.
    fn new(
        name: Option<&str>,
        raw: &str,
        password: Option<&Secret>,
        connect_timeout: Duration,
    ) -> Result<TargetSpec, String> {
        let urls = dsn::url_count(raw);
        if urls > 1 {
            return Err(format!(
                "this value holds {urls} DSNs: give one --target per DSN (DBCONN_TARGET takes one), or list the targets under `targets:` in --config.file"
            ));
        }
        let connector = connector(raw, password, connect_timeout)?;
        let name = match name {
            Some(n) => validate_name(n)?,
            None => derived_name(&connector, raw, password)?,
        };
        let identity = Identity::of(raw, password, &connector, connect_timeout);
        Ok(TargetSpec {
            name,
            connector,
            identity,
        })
    }
}

/// The connector for the DSN's engine; its errors scrubbed of anything that may be a
/// password.
fn connector(
    raw: &str,
    password: Option<&Secret>,
    connect_timeout: Duration,
) -> Result<engines::Connector, String> {
    let mut secrets = dsn::passwords_in(raw);
    secrets.extend(dsn::likely_secrets(raw));
    let scrub = |e: String| dsn::scrub(&e, &secrets);
    match dsn::engine_of(raw) {
        // PgBouncer's admin console answers a PostgreSQL login but no SELECT: a
        // key=value DSN naming its database was meant for PgBouncer.
        Some(Engine::PostgreSql) if dsn::scheme(raw.trim_start()).is_none() && names_pgbouncer_console(raw) => Err(
            "this key=value DSN names the database `pgbouncer`, PgBouncer's admin console, and a key=value DSN is read as PostgreSQL: for PgBouncer use pgbouncer://USER@HOST:6432/pgbouncer".into(),
        ),
        Some(Engine::PostgreSql) => Ok(engines::Connector::Postgres(
            engines::postgres::Connector::from_dsn(raw, password, connect_timeout)
                .map_err(scrub)?,
        )),
        Some(Engine::MySql | Engine::MariaDb) => Ok(engines::Connector::MySql(
            engines::mysql::Connector::from_dsn(raw, password).map_err(scrub)?,
        )),
        Some(Engine::PgBouncer) => Ok(engines::Connector::PgBouncer(
            engines::pgbouncer::Connector::from_dsn(raw, password, connect_timeout)
                .map_err(scrub)?,
        )),
        None => Err(format!(
            "cannot tell the engine of DSN {:?}: use postgres://, postgresql://, mysql://, mariadb:// or pgbouncer://",
            // Scrub before truncating: a cut would leave part of a password.
            truncate(&dsn::scrub(raw, &secrets), 60)
        )),
    }
}

/// Whether a key=value DSN's `dbname` is `pgbouncer`.
fn names_pgbouncer_console(raw: &str) -> bool {
    dsn::parse_keyword_dsn(raw).is_ok_and(|pairs| {
        pairs
            .iter()
            .any(|p| p.key == "dbname" && p.value == "pgbouncer")
    })
}

/// The connector's default name (host:port/database), unless it would show the
/// password: then the user has to name the target.
fn derived_name(
    connector: &engines::Connector,
    raw: &str,
    password: Option<&Secret>,
) -> Result<String, String> {
    let derived = connector.default_name();
    let mut passwords = dsn::passwords_in(raw);
    passwords.extend(password.map(|p| p.expose().to_string()));
    if passwords
        .iter()
        .any(|p| !p.is_empty() && derived.contains(p.as_str()))
    {
        return Err(
            "the target name derived from this DSN (host:port/database) would contain the password: name the target (NAME=DSN, or `name:` in the file)"
                .into(),
        );
    }
    Ok(derived)
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn validate_name(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("target name is empty".into());
    }
    if name.chars().count() > 128 {
        return Err("target name is longer than 128 characters".into());
    }
    if name.chars().any(char::is_control) {
        return Err("target name contains control characters".into());
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_targets_split_only_before_a_url() {
        assert_eq!(
            split_named_target("a=postgres://h"),
            (Some("a"), "postgres://h")
        );
        assert_eq!(split_named_target("host=h user=u"), (None, "host=h user=u"));
        assert_eq!(
            split_named_target("postgres://h/db?application_name=x"),
            (None, "postgres://h/db?application_name=x")
        );
    }
}
