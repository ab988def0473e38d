//! The engine readers: SQL in, [`Snapshot`] out.
//!
//! Each engine owns its connection setup, its error classification and its
//! version-gated SQL; nothing outside `engines/` knows SQL. The rest of the exporter
//! sees only the enums below, so adding an engine means adding a variant, not
//! threading generics through the server.

pub mod mysql;
pub mod pgbouncer;
pub mod postgres;
pub mod tls;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::time::Instant;

use crate::incident::Scene;
use crate::model::{ConnectErrorKind, Engine, Snapshot};

/// Classifies an I/O error met while opening the socket or during the handshake.
pub fn classify_io(err: &std::io::Error) -> ConnectErrorKind {
    use std::io::ErrorKind as K;
    // A name that does not resolve: std reports getaddrinfo's failure with no
    // ErrorKind of its own, only this text; tokio says the second when the name
    // resolved to no address.
    let text = err.to_string();
    if text.contains("failed to lookup address information")
        || text.contains("could not resolve to any address")
    {
        return ConnectErrorKind::Unreachable;
    }
    match err.kind() {
        K::TimedOut | K::WouldBlock => ConnectErrorKind::Timeout,
        K::ConnectionRefused
        | K::ConnectionReset
        | K::ConnectionAborted
        | K::NotConnected
        | K::AddrNotAvailable
        | K::BrokenPipe
        | K::UnexpectedEof
        | K::NotFound
        | K::HostUnreachable
        | K::NetworkUnreachable
        | K::NetworkDown => ConnectErrorKind::Unreachable,
        _ => ConnectErrorKind::Other,
    }
}

/// A failed connect, already classified. The message comes from the server or the
/// network stack and never contains the DSN.
#[derive(Clone, Debug)]
pub struct ConnectError {
    pub kind: ConnectErrorKind,
    pub message: String,
}

/// A read that did not produce a snapshot.
#[derive(Clone, Debug)]
pub enum ReadError {
    /// The session is gone (server restarted, network cut): reconnect.
    Lost(String),
    /// The session works but the core of the read failed (e.g. statement timeout).
    Failed(String),
    /// The server is a version the exporter cannot read. Reconnecting would not
    /// help: the target stays down and says why, once.
    Unsupported(String),
}

/// What every read needs to know, from the configuration.
#[derive(Clone, Debug)]
pub struct ReadSettings {
    /// Duration thresholds, in seconds, ascending.
    pub thresholds: Vec<f64>,
    pub origin_cap: usize,
    pub statement_timeout: Duration,
    pub lock_timeout: Duration,
    /// The incident read's statement text: at most this many characters, or none.
    pub query_text: Option<usize>,
}

/// When a session last showed a sign of life: a statement of the current read
/// finished. The target's watchdog reads it to tell a slow read (statements keep
/// finishing, each within its own time limit) from a hung one (nothing for longer
/// than a statement may take), without a timer inside every engine.
#[derive(Debug)]
pub struct Progress {
    base: Instant,
    nanos: AtomicU64,
}

impl Default for Progress {
    fn default() -> Progress {
        Progress {
            base: Instant::now(),
            nanos: AtomicU64::new(0),
        }
    }
}

impl Progress {
    /// Records a sign of life now.
    pub fn touch(&self) {
        let n = self.base.elapsed().as_nanos().min(u128::from(u64::MAX)) as u64;
        self.nanos.fetch_max(n, Ordering::Relaxed);
    }

    /// The last sign of life.
    pub fn last(&self) -> Instant {
        self.base + Duration::from_nanos(self.nanos.load(Ordering::Relaxed))
    }
}

/// Opens sessions to one target: the seam between the target's discipline (one
/// session, backoff, shared reads, watchdog) and an engine, so that the discipline
/// can be unit-tested with a fake engine.
pub trait Source: Send + Sync + std::fmt::Debug {
    fn connect<'a>(
        &'a self,
        settings: &'a ReadSettings,
    ) -> BoxFuture<'a, Result<Box<dyn Reader>, ConnectError>>;

    /// The engine the connection string names, known before connecting: MariaDB
    /// speaks the MySQL protocol and shows as MySQL until a session says otherwise.
    fn engine(&self) -> Option<Engine> {
        None
    }
}

/// One open session: reads snapshots until it is closed.
pub trait Reader: Send {
    fn read<'a>(
        &'a mut self,
        settings: &'a ReadSettings,
    ) -> BoxFuture<'a, Result<Snapshot, ReadError>>;
    /// The incident read: a metrics read and every client session, pid by pid, on
    /// this same session.
    fn incident<'a>(
        &'a mut self,
        settings: &'a ReadSettings,
    ) -> BoxFuture<'a, Result<Scene, ReadError>> {
        let _ = settings;
        async { Err(ReadError::Failed("this engine has no incident read".into())) }.boxed()
    }
    /// Whether the session is known to be gone (no read can succeed on it).
    fn is_closed(&self) -> bool;
    /// The session's sign of life, shared with the target's watchdog.
    fn progress(&self) -> Arc<Progress>;
    /// Closes the session now, releasing its socket even when the peer is hung.
    fn close(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// Opens sessions to one target.
#[derive(Debug)]
// One connector per target, built once: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Connector {
    Postgres(postgres::Connector),
    MySql(mysql::Connector),
    PgBouncer(pgbouncer::Connector),
}

impl Connector {
    /// The name a target gets when the configuration gives none.
    pub fn default_name(&self) -> String {
        match self {
            Connector::Postgres(c) => c.default_name(),
            Connector::MySql(c) => c.default_name(),
            Connector::PgBouncer(c) => c.default_name(),
        }
    }

    /// The root certificates the connector trusts, as read from the file its DSN
    /// names (empty when it names none): part of what makes two connectors the same.
    pub fn roots_pem(&self) -> &[u8] {
        match self {
            Connector::Postgres(c) => c.roots_pem(),
            Connector::MySql(c) => c.roots_pem(),
            Connector::PgBouncer(c) => c.roots_pem(),
        }
    }

    pub async fn connect(&self, settings: &ReadSettings) -> Result<Session, ConnectError> {
        match self {
            Connector::Postgres(c) => c
                .connect(settings)
                .await
                .map(|s| Session::Postgres(Box::new(s))),
            Connector::MySql(c) => c.connect(settings).await.map(Session::MySql),
            Connector::PgBouncer(c) => c.connect(settings).await.map(Session::PgBouncer),
        }
    }
}

impl Source for Connector {
    fn connect<'a>(
        &'a self,
        settings: &'a ReadSettings,
    ) -> BoxFuture<'a, Result<Box<dyn Reader>, ConnectError>> {
        async move {
            Connector::connect(self, settings)
                .await
                .map(|s| Box::new(s) as Box<dyn Reader>)
        }
        .boxed()
    }

    fn engine(&self) -> Option<Engine> {
        Some(match self {
            Connector::Postgres(_) => Engine::PostgreSql,
            Connector::MySql(_) => Engine::MySql,
            Connector::PgBouncer(_) => Engine::PgBouncer,
        })
    }
}

/// The exporter's one persistent session to a target.
pub enum Session {
    Postgres(Box<postgres::Session>),
    MySql(mysql::Session),
    PgBouncer(pgbouncer::Session),
}

impl Reader for Session {
    fn read<'a>(
        &'a mut self,
        settings: &'a ReadSettings,
    ) -> BoxFuture<'a, Result<Snapshot, ReadError>> {
        async move {
            match self {
                Session::Postgres(s) => s.read(settings).await,
                Session::MySql(s) => s.read(settings).await,
                Session::PgBouncer(s) => s.read(settings).await,
            }
        }
        .boxed()
    }

    fn incident<'a>(
        &'a mut self,
        settings: &'a ReadSettings,
    ) -> BoxFuture<'a, Result<Scene, ReadError>> {
        async move {
            match self {
                Session::Postgres(s) => s.incident(settings).await,
                Session::MySql(s) => s.incident(settings).await,
                Session::PgBouncer(_) => Err(ReadError::Failed(
                    "the incident view is for PostgreSQL and MySQL/MariaDB targets, not PgBouncer"
                        .into(),
                )),
            }
        }
        .boxed()
    }

    fn is_closed(&self) -> bool {
        match self {
            Session::Postgres(s) => s.is_closed(),
            Session::MySql(s) => s.is_closed(),
            Session::PgBouncer(s) => s.is_closed(),
        }
    }

    fn progress(&self) -> Arc<Progress> {
        match self {
            Session::Postgres(s) => s.progress(),
            Session::MySql(s) => s.progress(),
            Session::PgBouncer(s) => s.progress(),
        }
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        match *self {
            Session::Postgres(s) => s.close().boxed(),
            Session::MySql(s) => s.close().boxed(),
            Session::PgBouncer(s) => s.close().boxed(),
        }
    }
}
