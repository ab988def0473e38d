//! One monitored database: its single session, its one connect attempt, its backoff,
//! and the sharing of in-flight reads.
//!
//! A connection monitor must never be the thing that exhausts connections. So a
//! target holds at most one connection to its server at any moment, counting one that
//! is still logging in: the session, or the one connect attempt, never both, never
//! two. A connect attempt that the server is slow to answer (a locked `pg_authid`
//! keeps a login waiting) is waited for rather than abandoned and repeated, because
//! an abandoned login keeps its server process, and its slot, until the server gets
//! round to it; only after [`CONNECT_PATIENCE`] is it given up.
//!
//! Reads are shared, and each runs under its own budget, not a scrape's: concurrent
//! scrapes join the read in flight, and each waits for it at most until its own
//! deadline. A scrape that gives up (a short Prometheus timeout, a client that hung
//! up) never cuts the read short for the others, and never leaves a half-read
//! session behind — on MySQL a read cut mid-answer leaves the protocol out of step,
//! and the session would be lost exactly when the server is too full to let the
//! exporter back in. A read ends on its own: each statement carries the server's
//! statement and lock timeouts, and a watchdog replaces a session that shows no sign
//! of life for longer than a statement may take (a network path that went silent
//! without a reset).
//!
//! A target outlives configuration reloads in two ways. [`Target::reconfigure`] swaps
//! the read settings and the policy in place; a session set up under settings it can
//! no longer honour (the PostgreSQL session prepares its statements with the
//! duration thresholds and `SET`s the timeouts once) is marked stale and replaced,
//! closed first, by the next read. [`Target::retire`] ends a target for good: it
//! closes the session, lets a connect attempt in flight finish rather than abandon
//! its server process, closes what that attempt yields, and resolves only once the
//! target holds nothing — so a caller that starts the replacement after it keeps
//! the one-connection invariant across the reload.
//!
//! In lazy mode (`Policy::idle_close`) the session is opened by the first read and
//! closed once it has gone that long without one, by one watcher task per target
//! that lives only while the target holds a session. Idleness counts from the end
//! of the last read, and a session a read is waiting for is never idle: under load
//! the read that opened a session can be scheduled later than the idle timeout, and
//! closing the session under it would report a healthy target down. Closing takes
//! the slot, so a read arriving meanwhile waits for the close and then connects:
//! never two.
//!
//! The incident read ([`Target::incident`]) uses the same session, never another:
//! at 100/100 it is the one way in. Reads of both kinds take the session in turn
//! (a metrics read waits for an incident read in flight, bounded by the same
//! statement timeouts and watchdog), one incident read is in flight at a time, and
//! its result is reused for [`INCIDENT_REUSE`] whatever the number of viewers, so a
//! page left open on many phones costs one read every two seconds at most.
//!
//! Why our own session rather than deadpool-postgres with a pool of one: a pool
//! lends its session to one caller at a time, so concurrent scrapes would queue for
//! it instead of sharing one read; a pool reconnects without backoff, without telling
//! "full" from "down", and abandons a slow connect to open another; and it is
//! PostgreSQL-only, while MySQL targets need the same discipline.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::Instrument;

use crate::engines::{ReadError, ReadSettings, Reader, Source};
use crate::incident::Scene;
use crate::model::{
    ConnectErrorCounts, ConnectErrorKind, Engine, Loss, LossCounts, Snapshot, TargetReport,
};

/// How long a connect attempt is waited for before it is given up and may be
/// repeated. Past `connect_timeout` the attempt is counted as a timeout and scrapes
/// stop waiting for it, but it goes on: repeating it would leave the first one's
/// server process holding a slot.
pub const CONNECT_PATIENCE: Duration = Duration::from_secs(60);

/// How long an incident read's result is served again instead of reading anew.
pub const INCIDENT_REUSE: Duration = Duration::from_secs(2);

/// Why an incident read gave no scene. The message never holds a secret.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum IncidentError {
    /// The read did not finish by the caller's deadline; it goes on, and a later
    /// request may get its result.
    #[error("the incident read did not finish in time; it goes on, try again shortly")]
    Timeout,
    /// The target is down or the read failed (the target's metrics say why).
    #[error("{0}")]
    Unavailable(String),
}

/// Connection policy of a target, from the configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub connect_timeout: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Lazy mode: the session is opened by the first read, not ahead of it, and
    /// closed after this long without a read. `None` is eager: held for good.
    pub idle_close: Option<Duration>,
}

/// A read in flight, which every scrape arriving meanwhile joins.
type SharedRead = Shared<BoxFuture<'static, Option<Arc<Snapshot>>>>;
type SharedConnect = Shared<BoxFuture<'static, ()>>;
type SharedIncident = Shared<BoxFuture<'static, Result<Arc<Scene>, IncidentError>>>;

/// The incident read in flight, and the last result while it may be reused.
#[derive(Default)]
struct Incidents {
    inflight: Option<SharedIncident>,
    last: Option<(Instant, Arc<Scene>)>,
}

#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
    not_before: Option<Instant>,
}

/// An open session no read is using.
struct Held {
    session: Box<dyn Reader>,
    /// The settings generation it was set up under; an older one is stale.
    generation: u64,
    /// When it was last put back (or opened).
    since: Instant,
}

/// The target's one connection, in whichever form it is.
enum Slot {
    Empty,
    /// Open, and no read is using it.
    Idle(Held),
    /// A read has it.
    InUse,
    /// A connect attempt is in flight, started at the given instant.
    Connecting(SharedConnect, Instant),
    /// The session is being closed; the slot is empty once this resolves.
    Closing(SharedConnect),
}

/// The slot and what decides its next state, under one lock so that a retire or
/// an idle close never races a read putting its session back.
struct Conn {
    slot: Slot,
    /// Retired by a reload: nothing opens again; the target is released once the
    /// slot is empty.
    retired: bool,
    /// Whether the lazy-mode idle watcher task is running.
    watching: bool,
    /// Reads waiting for the connect attempt in flight. The idle watcher never
    /// closes a session while one waits: it was opened for that read.
    waiting: usize,
    /// The last session was closed by the idle watcher: the next connect is the
    /// routine reopening of lazy mode, not news.
    idle_closed: bool,
}

/// The read settings and their generation, bumped when a change needs the session
/// set up anew.
struct Settings {
    read: Arc<ReadSettings>,
    generation: u64,
}

pub struct Target {
    name: Arc<str>,
    source: Box<dyn Source>,
    settings: Mutex<Settings>,
    policy: Mutex<Policy>,
    conn: Mutex<Conn>,
    /// Set once a retired target holds no connection.
    released: watch::Sender<bool>,
    backoff: Mutex<Backoff>,
    inflight: Mutex<Option<SharedRead>>,
    /// Held by a read of either kind while it uses the session (and until its
    /// guard has cleaned up), so that reads never overlap.
    turn: Arc<tokio::sync::Mutex<()>>,
    incidents: Mutex<Incidents>,
    connect_errors: Mutex<ConnectErrorCounts>,
    losses: Mutex<LossCounts>,
    info: Mutex<Option<(Engine, String)>>,
    /// Whether "this server version is not supported" was already logged.
    said_unsupported: AtomicBool,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target").field("name", &self.name).finish()
    }
}

/// How a watched read ended. Short-lived, one at a time: its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Watched<T> {
    Done(Result<T, ReadError>),
    /// No sign of life for this long.
    Hung(Duration),
}

/// A read counted in `Conn::waiting` while it waits for a connect attempt;
/// uncounted under the lock that hands it the session, or on drop should the read
/// end mid-wait.
struct Waiting<'a> {
    target: &'a Target,
    counted: bool,
}

impl<'a> Waiting<'a> {
    /// Counts the read; `conn` is the target's locked state.
    fn start<T>(target: &'a Target, conn: &mut Conn, attempt: T) -> (Waiting<'a>, T) {
        conn.waiting = conn.waiting.saturating_add(1);
        (
            Waiting {
                target,
                counted: true,
            },
            attempt,
        )
    }

    fn done(mut self, conn: &mut Conn) {
        conn.waiting = conn.waiting.saturating_sub(1);
        self.counted = false;
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.counted {
            let mut conn = lock(&self.target.conn);
            conn.waiting = conn.waiting.saturating_sub(1);
        }
    }
}

/// What a read does with the session: a metrics read or an incident read.
type Op<T> =
    for<'a> fn(&'a mut dyn Reader, &'a ReadSettings) -> BoxFuture<'a, Result<T, ReadError>>;

fn metrics_read<'a>(
    session: &'a mut dyn Reader,
    settings: &'a ReadSettings,
) -> BoxFuture<'a, Result<Snapshot, ReadError>> {
    session.read(settings)
}

fn incident_read<'a>(
    session: &'a mut dyn Reader,
    settings: &'a ReadSettings,
) -> BoxFuture<'a, Result<Scene, ReadError>> {
    session.incident(settings)
}

/// Clears the in-flight read and a session left in use, whatever way the read task
/// ends — a panic included, which would otherwise leave every later scrape joining
/// a read that never finishes. Dropped while the read still holds the turn.
struct ReadGuard(Arc<Target>, bool);

impl ReadGuard {
    fn metrics(target: Arc<Target>) -> ReadGuard {
        ReadGuard(target, false)
    }

    fn incident(target: Arc<Target>) -> ReadGuard {
        ReadGuard(target, true)
    }
}

impl Drop for ReadGuard {
    fn drop(&mut self) {
        let target = &self.0;
        if std::thread::panicking() {
            tracing::error!(
                target_name = %target.name,
                "the read panicked; its session is dropped and the next scrape reads anew"
            );
        }
        if self.1 {
            lock(&target.incidents).inflight = None;
        } else {
            *lock(&target.inflight) = None;
        }
        let mut conn = lock(&target.conn);
        if matches!(conn.slot, Slot::InUse) {
            target.emptied(&mut conn);
        }
    }
}

impl Target {
    pub fn new(
        name: impl Into<Arc<str>>,
        source: impl Source + 'static,
        settings: ReadSettings,
        policy: Policy,
    ) -> Arc<Target> {
        Arc::new(Target {
            name: name.into(),
            source: Box::new(source),
            settings: Mutex::new(Settings {
                read: Arc::new(settings),
                generation: 0,
            }),
            policy: Mutex::new(policy),
            conn: Mutex::new(Conn {
                slot: Slot::Empty,
                retired: false,
                watching: false,
                waiting: 0,
                idle_closed: false,
            }),
            released: watch::Sender::new(false),
            backoff: Mutex::new(Backoff::default()),
            inflight: Mutex::new(None),
            turn: Arc::new(tokio::sync::Mutex::new(())),
            incidents: Mutex::new(Incidents::default()),
            connect_errors: Default::default(),
            losses: Default::default(),
            info: Mutex::new(None),
            said_unsupported: AtomicBool::new(false),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The engine its connection string names (see [`Source::engine`]).
    pub fn engine(&self) -> Option<Engine> {
        self.source.engine()
    }

    /// Starts opening the session ahead of the first scrape, so that the exporter
    /// holds its slot before the server fills up. In lazy mode it does nothing: the
    /// first read opens the session.
    pub async fn warm_up(self: &Arc<Self>) {
        if self.policy().idle_close.is_some() {
            return;
        }
        let mut conn = lock(&self.conn);
        if matches!(conn.slot, Slot::Empty) {
            self.start_connect(&mut conn);
        }
    }

    /// A reload changed the collection settings but not this target's DSN: later
    /// reads use `settings` and later connects `policy`. The session is kept,
    /// unless the change touches what a session is set up with (the duration
    /// thresholds, the statement and lock timeouts): then the next read closes it
    /// and opens another, never both at once.
    pub fn reconfigure(self: &Arc<Self>, settings: ReadSettings, policy: Policy) {
        {
            let mut current = lock(&self.settings);
            if needs_new_session(&current.read, &settings) {
                current.generation = current.generation.wrapping_add(1);
            }
            current.read = Arc::new(settings);
        }
        let lazy = policy.idle_close.is_some();
        *lock(&self.policy) = policy;
        if lazy {
            let mut conn = lock(&self.conn);
            if matches!(conn.slot, Slot::Idle(_)) {
                self.watch_idle(&mut conn);
            }
        }
    }

    /// The target was removed by a reload. Its session is closed now if idle, or
    /// when the read in flight is done with it; a connect attempt in flight is let
    /// finish (abandoning it would leave its server process holding a slot) and
    /// what it yields is closed at once; no connect starts again, and every later
    /// report says down. Resolves once the target holds no connection — at most
    /// [`CONNECT_PATIENCE`] for a login the server does not answer — so that a
    /// replacement started after it never overlaps it.
    pub async fn retire(self: &Arc<Self>) {
        {
            let mut conn = lock(&self.conn);
            if !conn.retired {
                conn.retired = true;
                match std::mem::replace(&mut conn.slot, Slot::Empty) {
                    Slot::Idle(held) => self.start_close(&mut conn, held.session),
                    Slot::Empty => self.emptied(&mut conn),
                    // The read, the attempt or the close in flight ends it.
                    other => conn.slot = other,
                }
            }
        }
        let mut released = self.released.subscribe();
        let _ = released.wait_for(|released| *released).await;
    }

    fn read_settings(&self) -> (Arc<ReadSettings>, u64) {
        let s = lock(&self.settings);
        (Arc::clone(&s.read), s.generation)
    }

    fn policy(&self) -> Policy {
        lock(&self.policy).clone()
    }

    /// This target's part of a scrape: reads the target, sharing a read already in
    /// flight, and gives up waiting at `deadline` (the scrape's own deadline; the
    /// read goes on for the others).
    pub async fn report(self: &Arc<Self>, deadline: Instant) -> TargetReport {
        let started = Instant::now();
        let finished = if lock(&self.conn).retired {
            Ok(None)
        } else {
            let read = self.join_or_start_read();
            tokio::time::timeout_at(deadline, read).await
        };
        if finished.is_err() {
            // Debug, not warn: a client looping with a tiny timeout would flood the
            // log; `dbconn_up 0` in its own answer says it.
            tracing::debug!(target_name = %self.name, "scrape deadline reached before the read finished; the read goes on for later scrapes");
        }
        TargetReport {
            target: self.name.clone(),
            snapshot: finished.ok().flatten(),
            duration: started.elapsed(),
            connect_errors: *lock(&self.connect_errors),
            session_losses: *lock(&self.losses),
            info: lock(&self.info).clone(),
        }
    }

    fn join_or_start_read(self: &Arc<Self>) -> SharedRead {
        let mut inflight = lock(&self.inflight);
        if let Some(read) = inflight.as_ref() {
            return read.clone();
        }
        let guard = ReadGuard::metrics(Arc::clone(self));
        let task = tokio::spawn(async move {
            // The guard cleans up before the turn passes to another read.
            let turn = Arc::clone(&guard.0.turn).lock_owned().await;
            let snapshot = guard.0.read().await.map(Arc::new);
            drop(guard);
            drop(turn);
            snapshot
        });
        let read = async move { task.await.ok().flatten() }.boxed().shared();
        *inflight = Some(read.clone());
        read
    }

    async fn read(self: &Arc<Self>) -> Option<Snapshot> {
        self.use_session(metrics_read, |s: &Snapshot| (s.engine, s.version.clone()))
            .await
    }

    /// The incident view's read of this target: every client session, pid by pid,
    /// on the target's one session. Joins a read in flight, or serves the last
    /// result if it is younger than [`INCIDENT_REUSE`]; waits until `deadline` and
    /// no longer (the read goes on).
    pub async fn incident(
        self: &Arc<Self>,
        deadline: Instant,
    ) -> Result<Arc<Scene>, IncidentError> {
        if lock(&self.conn).retired {
            return Err(IncidentError::Unavailable(
                "the target was removed by a configuration reload".into(),
            ));
        }
        let read = {
            let mut incidents = lock(&self.incidents);
            if let Some((at, scene)) = &incidents.last
                && at.elapsed() < INCIDENT_REUSE
            {
                return Ok(Arc::clone(scene));
            }
            match &incidents.inflight {
                Some(read) => read.clone(),
                None => {
                    let this = Arc::clone(self);
                    let task = tokio::spawn(async move {
                        let turn = Arc::clone(&this.turn).lock_owned().await;
                        let guard = ReadGuard::incident(Arc::clone(&this));
                        let scene = this
                            .use_session(incident_read, |s: &Scene| {
                                (s.snapshot.engine, s.snapshot.version.clone())
                            })
                            .await
                            .map(Arc::new);
                        let result = scene.ok_or_else(|| this.why_no_incident());
                        {
                            let mut incidents = lock(&this.incidents);
                            if let Ok(scene) = &result {
                                incidents.last = Some((Instant::now(), Arc::clone(scene)));
                            }
                        }
                        drop(guard);
                        drop(turn);
                        result
                    });
                    let read = async move {
                        task.await.unwrap_or_else(|_| {
                            Err(IncidentError::Unavailable(
                                "the incident read failed".into(),
                            ))
                        })
                    }
                    .boxed()
                    .shared();
                    incidents.inflight = Some(read.clone());
                    read
                }
            }
        };
        tokio::time::timeout_at(deadline, read)
            .await
            .unwrap_or(Err(IncidentError::Timeout))
    }

    /// Why an incident read yielded nothing, in words safe to show.
    fn why_no_incident(&self) -> IncidentError {
        let connected = matches!(lock(&self.conn).slot, Slot::Idle(_));
        IncidentError::Unavailable(if connected {
            "the incident read failed on the exporter's session (the exporter's log says why)"
                .into()
        } else {
            "the exporter holds no session to this target now (see dbconn_up and dbconn_connect_errors_total)".into()
        })
    }

    /// Runs `op` on the target's session: takes it (connecting first if there is
    /// none), replaces it once if it is found dead, and puts it back. `info` names
    /// the engine and version a successful result shows.
    async fn use_session<T>(
        self: &Arc<Self>,
        op: Op<T>,
        info: impl Fn(&T) -> (Engine, String),
    ) -> Option<T> {
        let down = None;
        // At most two attempts: a session found dead (server restarted) is replaced
        // once within the same read, so the first scrape after a restart succeeds.
        for attempt in 0..2 {
            let (settings, generation) = self.read_settings();
            let Some((mut session, fresh)) = self.acquire(generation).await else {
                return down;
            };
            match self.watched_read(&mut session, &settings, op).await {
                Watched::Done(Ok(result)) => {
                    *lock(&self.info) = Some(info(&result));
                    self.put_back(session, generation);
                    return Some(result);
                }
                Watched::Done(Err(ReadError::Lost(e))) => {
                    self.lost(Loss::Closed);
                    tracing::warn!(target_name = %self.name, error = %e, "session lost");
                    self.discard(session).await;
                    if fresh || attempt == 1 {
                        return down;
                    }
                }
                Watched::Done(Err(ReadError::Failed(e))) => {
                    tracing::warn!(target_name = %self.name, error = %e, "read failed");
                    self.put_back(session, generation);
                    return down;
                }
                Watched::Done(Err(ReadError::Unsupported(e))) => {
                    if !self.said_unsupported.swap(true, Ordering::Relaxed) {
                        tracing::error!(target_name = %self.name, error = %e, "unsupported server; the target stays down");
                    }
                    self.put_back(session, generation);
                    return down;
                }
                Watched::Hung(quiet) => {
                    self.lost(Loss::Hung);
                    tracing::warn!(
                        target_name = %self.name,
                        quiet = ?quiet,
                        "session hung: no answer for longer than a statement may take; closing it, the next read reconnects"
                    );
                    self.discard(session).await;
                    return down;
                }
            }
        }
        down
    }

    /// Runs one read, replacing neither the session nor the read's budget: the
    /// statements carry the server's own time limits. Only a session that shows no
    /// sign of life for twice the statement timeout (at least a second) is given
    /// up as hung.
    async fn watched_read<T>(
        &self,
        session: &mut Box<dyn Reader>,
        settings: &ReadSettings,
        op: Op<T>,
    ) -> Watched<T> {
        let progress = session.progress();
        progress.touch();
        let quiet_limit = (settings.statement_timeout * 2).max(Duration::from_secs(1));
        let read = op(session.as_mut(), settings).instrument(self.span());
        tokio::pin!(read);
        loop {
            let wake = progress.last() + quiet_limit;
            tokio::select! {
                result = &mut read => return Watched::Done(result),
                _ = tokio::time::sleep_until(wake) => {
                    if Instant::now() >= progress.last() + quiet_limit {
                        return Watched::Hung(quiet_limit);
                    }
                }
            }
        }
    }

    /// The session for a read, and whether it was opened for this read. Waits for
    /// a connect attempt in flight (starting one if none is and the backoff allows)
    /// until `connect_timeout` after it started, and for a close in flight before
    /// connecting. A session set up under an older settings `generation` is closed
    /// and replaced. While it waits for the attempt it is counted in
    /// `Conn::waiting`, so that the idle watcher leaves the session it yields for
    /// this read: closing it first would report the target down for no fault.
    async fn acquire(self: &Arc<Self>, generation: u64) -> Option<(Box<dyn Reader>, bool)> {
        let (waiting, (attempt, started)) = loop {
            let closing = {
                let mut conn = lock(&self.conn);
                if conn.retired {
                    return None;
                }
                match std::mem::replace(&mut conn.slot, Slot::InUse) {
                    Slot::Idle(held) if held.session.is_closed() => {
                        self.lost(Loss::Closed);
                        tracing::warn!(target_name = %self.name, "session closed by the server or the network");
                        // Released before the next one opens, like any other.
                        self.start_close(&mut conn, held.session);
                        match &conn.slot {
                            Slot::Closing(closing) => closing.clone(),
                            _ => return None,
                        }
                    }
                    Slot::Idle(held) if held.generation != generation => {
                        tracing::info!(target_name = %self.name, "settings changed: replacing the session");
                        self.start_close(&mut conn, held.session);
                        match &conn.slot {
                            Slot::Closing(closing) => closing.clone(),
                            _ => return None,
                        }
                    }
                    Slot::Idle(held) => return Some((held.session, false)),
                    Slot::Connecting(attempt, started) => {
                        conn.slot = Slot::Connecting(attempt.clone(), started);
                        break Waiting::start(self, &mut conn, (attempt, started));
                    }
                    Slot::Closing(closing) => {
                        conn.slot = Slot::Closing(closing.clone());
                        closing
                    }
                    Slot::Empty => {
                        conn.slot = Slot::Empty;
                        let attempt = self.start_connect(&mut conn)?;
                        break Waiting::start(self, &mut conn, attempt);
                    }
                    // Reads do not overlap; nothing to take.
                    Slot::InUse => return None,
                }
            };
            closing.await;
        };
        let connect_timeout = self.policy().connect_timeout;
        let _ = tokio::time::timeout_at(started + connect_timeout, attempt).await;
        let mut conn = lock(&self.conn);
        waiting.done(&mut conn);
        match std::mem::replace(&mut conn.slot, Slot::InUse) {
            Slot::Idle(held) => Some((held.session, true)),
            other => {
                conn.slot = other;
                None
            }
        }
    }

    /// A read is done with the session: idle again, or closed if the target was
    /// retired meanwhile.
    fn put_back(self: &Arc<Self>, session: Box<dyn Reader>, generation: u64) {
        let mut conn = lock(&self.conn);
        self.hold(&mut conn, session, generation);
    }

    /// Makes `session` the idle one, or closes it at once on a retired target.
    fn hold(self: &Arc<Self>, conn: &mut Conn, session: Box<dyn Reader>, generation: u64) {
        if conn.retired {
            self.start_close(conn, session);
            return;
        }
        conn.slot = Slot::Idle(Held {
            session,
            generation,
            since: Instant::now(),
        });
        if self.policy().idle_close.is_some() {
            self.watch_idle(conn);
        }
    }

    /// Closes a session that is lost or hung before anything opens another.
    async fn discard(&self, session: Box<dyn Reader>) {
        session.close().await;
        let mut conn = lock(&self.conn);
        if matches!(conn.slot, Slot::InUse) {
            self.emptied(&mut conn);
        }
    }

    /// Closes `session` in a task of its own, the slot `Closing` until it is gone:
    /// a read arriving meanwhile waits rather than opening a second connection.
    fn start_close(self: &Arc<Self>, conn: &mut Conn, session: Box<dyn Reader>) {
        let this = Arc::clone(self);
        let task = tokio::spawn(async move {
            session.close().await;
            let mut conn = lock(&this.conn);
            this.emptied(&mut conn);
        });
        let closing = async move {
            let _ = task.await;
        }
        .boxed()
        .shared();
        conn.slot = Slot::Closing(closing);
    }

    /// The slot is empty; a retired target is now released.
    fn emptied(&self, conn: &mut Conn) {
        conn.slot = Slot::Empty;
        if conn.retired {
            self.released.send_replace(true);
        }
    }

    /// Lazy mode: makes sure one task watches the idle session and closes it after
    /// `idle_close` without a read. The task ends when the target holds nothing.
    fn watch_idle(self: &Arc<Self>, conn: &mut Conn) {
        if conn.watching {
            return;
        }
        conn.watching = true;
        let this = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                let wake = {
                    let mut conn = lock(&this.conn);
                    let Some(idle) = this.policy().idle_close else {
                        conn.watching = false;
                        return;
                    };
                    let awaited = conn.waiting > 0;
                    match &conn.slot {
                        // A read waits for this session: it is about to be used.
                        Slot::Idle(_) if awaited => Instant::now() + idle,
                        Slot::Idle(held) if Instant::now() >= held.since + idle => {
                            if let Slot::Idle(held) = std::mem::replace(&mut conn.slot, Slot::InUse)
                            {
                                tracing::debug!(target_name = %this.name, idle = ?idle, "closing the session: no read for the idle timeout");
                                this.start_close(&mut conn, held.session);
                                conn.idle_closed = true;
                            }
                            conn.watching = false;
                            return;
                        }
                        Slot::Idle(held) => held.since + idle,
                        Slot::Empty => {
                            conn.watching = false;
                            return;
                        }
                        // In use, connecting or closing: look again later.
                        Slot::InUse | Slot::Connecting(..) | Slot::Closing(_) => {
                            Instant::now() + idle
                        }
                    }
                };
                tokio::time::sleep_until(wake).await;
            }
        });
    }

    fn lost(&self, loss: Loss) {
        *lock(&self.losses).get_mut(loss) += 1;
    }

    /// Starts the one connect attempt, unless the backoff forbids one now or the
    /// target is retired. Must be called with the slot locked and empty; leaves it
    /// `Connecting`.
    fn start_connect(self: &Arc<Self>, conn: &mut Conn) -> Option<(SharedConnect, Instant)> {
        if conn.retired {
            return None;
        }
        if let Some(not_before) = lock(&self.backoff).not_before
            && Instant::now() < not_before
        {
            tracing::debug!(target_name = %self.name, "connect skipped: backing off");
            return None;
        }
        let started = Instant::now();
        let this = Arc::clone(self);
        let task = tokio::spawn(async move { this.connect(started).await });
        let attempt = async move {
            let _ = task.await;
        }
        .boxed()
        .shared();
        conn.slot = Slot::Connecting(attempt.clone(), started);
        Some((attempt, started))
    }

    /// One connect attempt, run as its own task. Counts and logs the failure
    /// reason, once per attempt, and leaves the slot idle (connected) or empty.
    async fn connect(self: Arc<Self>, started: Instant) {
        let timeout = self.policy().connect_timeout;
        let give_up = started + CONNECT_PATIENCE.max(timeout);
        let (settings, generation) = self.read_settings();
        let attempt = self.source.connect(&settings).instrument(self.span());
        tokio::pin!(attempt);
        let mut timed_out = false;
        let result = loop {
            tokio::select! {
                result = &mut attempt => break Some(result),
                _ = tokio::time::sleep_until(started + timeout), if !timed_out => {
                    timed_out = true;
                    self.count(ConnectErrorKind::Timeout);
                    tracing::warn!(
                        target_name = %self.name,
                        reason = ConnectErrorKind::Timeout.as_str(),
                        timeout = ?timeout,
                        "connect not answered in time; waiting for it rather than opening another connection"
                    );
                }
                _ = tokio::time::sleep_until(give_up) => break None,
            }
        };
        let failure = match result {
            Some(Ok(session)) => {
                let recovered = std::mem::take(&mut *lock(&self.backoff)).failures > 0;
                let mut conn = lock(&self.conn);
                if std::mem::take(&mut conn.idle_closed) && !recovered {
                    // Lazy mode reopening after an idle close: routine, as often as
                    // the idle timeout allows; info would repeat it all day.
                    tracing::debug!(target_name = %self.name, "connected: reopened after the idle close");
                } else {
                    tracing::info!(target_name = %self.name, "connected");
                }
                self.hold(&mut conn, session, generation);
                return;
            }
            Some(Err(e)) => {
                if !timed_out {
                    self.count(e.kind);
                }
                Some(e)
            }
            None => None,
        };
        let wait = {
            let mut b = lock(&self.backoff);
            b.failures = b.failures.saturating_add(1);
            let wait = backoff_delay(&self.policy(), b.failures);
            b.not_before = Some(Instant::now() + wait);
            wait
        };
        match failure {
            Some(e) => tracing::warn!(
                target_name = %self.name,
                reason = e.kind.as_str(),
                error = %e.message,
                retry_after = ?wait,
                "connect failed"
            ),
            None => tracing::warn!(
                target_name = %self.name,
                waited = ?CONNECT_PATIENCE.max(timeout),
                retry_after = ?wait,
                "connect given up: no answer"
            ),
        }
        let mut conn = lock(&self.conn);
        self.emptied(&mut conn);
    }

    /// The span the engine's own log lines carry, so that each names its target.
    fn span(&self) -> tracing::Span {
        tracing::info_span!("target", target_name = %self.name)
    }

    fn count(&self, kind: ConnectErrorKind) {
        *lock(&self.connect_errors).get_mut(kind) += 1;
    }
}

/// Whether a session set up under `old` cannot serve reads under `new`: the
/// PostgreSQL session prepares its statements with the thresholds and `SET`s the
/// timeouts once, at connect.
fn needs_new_session(old: &ReadSettings, new: &ReadSettings) -> bool {
    old.thresholds != new.thresholds
        || old.statement_timeout != new.statement_timeout
        || old.lock_timeout != new.lock_timeout
}

/// Exponential backoff: initial, doubled per consecutive failure, capped.
fn backoff_delay(policy: &Policy, failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(16));
    policy
        .backoff_initial
        .saturating_mul(factor)
        .min(policy.backoff_max)
}

/// Locks a std mutex, recovering the data if a holder panicked: every value guarded
/// here is valid at any point.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engines::{ConnectError, Progress};
    use crate::model::summarize_sessions;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = Policy {
            connect_timeout: Duration::from_secs(5),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(4),
            idle_close: None,
        };
        assert_eq!(backoff_delay(&p, 1), Duration::from_millis(500));
        assert_eq!(backoff_delay(&p, 2), Duration::from_secs(1));
        assert_eq!(backoff_delay(&p, 3), Duration::from_secs(2));
        assert_eq!(backoff_delay(&p, 4), Duration::from_secs(4));
        assert_eq!(backoff_delay(&p, 40), Duration::from_secs(4));
    }

    /// What the fake session does on a read.
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Behaviour {
        /// Answers after this long, touching progress every 100 ms.
        Answer(Duration),
        Panic,
        /// Never answers and shows no sign of life.
        Hang,
        Unsupported,
    }

    /// A fake engine: counts connects, open connections (sessions plus attempts in
    /// flight) and their peak.
    #[derive(Debug)]
    struct Fake {
        behaviour: Mutex<Behaviour>,
        connect_delay: Mutex<Duration>,
        close_delay: Mutex<Duration>,
        /// What every session says when asked whether the server closed it.
        closed: AtomicBool,
        /// The `origin_cap` of the last read, to tell which settings it used.
        read_cap: AtomicUsize,
        connects: AtomicUsize,
        open: Arc<AtomicUsize>,
        peak: Arc<AtomicUsize>,
        /// Incident reads made.
        incidents: AtomicUsize,
        /// Reads of either kind using a session now, and the most at once.
        busy: AtomicUsize,
        busy_peak: AtomicUsize,
    }

    impl Fake {
        fn new(behaviour: Behaviour) -> Arc<Fake> {
            Arc::new(Fake {
                behaviour: Mutex::new(behaviour),
                connect_delay: Mutex::new(Duration::ZERO),
                close_delay: Mutex::new(Duration::ZERO),
                closed: AtomicBool::new(false),
                read_cap: AtomicUsize::new(0),
                connects: AtomicUsize::new(0),
                open: Arc::new(AtomicUsize::new(0)),
                peak: Arc::new(AtomicUsize::new(0)),
                incidents: AtomicUsize::new(0),
                busy: AtomicUsize::new(0),
                busy_peak: AtomicUsize::new(0),
            })
        }

        fn opened(&self) {
            let n = self.open.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(n, Ordering::SeqCst);
        }
    }

    #[derive(Debug)]
    struct FakeSource(Arc<Fake>);

    struct Open(Arc<AtomicUsize>);
    impl Drop for Open {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }

    struct FakeSession {
        fake: Arc<Fake>,
        _open: Open,
        progress: Arc<Progress>,
    }

    impl Source for FakeSource {
        fn connect<'a>(
            &'a self,
            _settings: &'a ReadSettings,
        ) -> BoxFuture<'a, Result<Box<dyn Reader>, ConnectError>> {
            async move {
                let fake = Arc::clone(&self.0);
                fake.connects.fetch_add(1, Ordering::SeqCst);
                fake.opened();
                let open = Open(Arc::clone(&fake.open));
                let delay = *lock(&fake.connect_delay);
                tokio::time::sleep(delay).await;
                Ok(Box::new(FakeSession {
                    fake,
                    _open: open,
                    progress: Arc::new(Progress::default()),
                }) as Box<dyn Reader>)
            }
            .boxed()
        }
    }

    impl FakeSession {
        /// What a read of either kind does, counted as a use of the session.
        async fn answer(&mut self) -> Result<Snapshot, ReadError> {
            let busy = self.fake.busy.fetch_add(1, Ordering::SeqCst) + 1;
            self.fake.busy_peak.fetch_max(busy, Ordering::SeqCst);
            let result = self.behave().await;
            self.fake.busy.fetch_sub(1, Ordering::SeqCst);
            result
        }

        async fn behave(&mut self) -> Result<Snapshot, ReadError> {
            let behaviour = *lock(&self.fake.behaviour);
            match behaviour {
                Behaviour::Answer(d) => {
                    let end = Instant::now() + d;
                    while Instant::now() < end {
                        tokio::time::sleep(Duration::from_millis(100).min(d)).await;
                        self.progress.touch();
                    }
                    Ok(snapshot())
                }
                Behaviour::Panic => panic!("a bug in a parser"),
                Behaviour::Hang => std::future::pending().await,
                Behaviour::Unsupported => Err(ReadError::Unsupported("too old".into())),
            }
        }
    }

    impl Reader for FakeSession {
        fn read<'a>(
            &'a mut self,
            settings: &'a ReadSettings,
        ) -> BoxFuture<'a, Result<Snapshot, ReadError>> {
            async move {
                self.fake
                    .read_cap
                    .store(settings.origin_cap, Ordering::SeqCst);
                self.answer().await
            }
            .boxed()
        }
        fn incident<'a>(
            &'a mut self,
            _settings: &'a ReadSettings,
        ) -> BoxFuture<'a, Result<Scene, ReadError>> {
            async move {
                self.fake.incidents.fetch_add(1, Ordering::SeqCst);
                let snapshot = self.answer().await?;
                Ok(Scene {
                    engine: snapshot.engine,
                    version: snapshot.version.clone(),
                    snapshot,
                    sessions: Vec::new(),
                    notes: Vec::new(),
                    read_at_unix_seconds: 0.0,
                })
            }
            .boxed()
        }
        fn is_closed(&self) -> bool {
            self.fake.closed.load(Ordering::SeqCst)
        }
        fn progress(&self) -> Arc<Progress> {
            Arc::clone(&self.progress)
        }
        fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
            async move {
                let delay = *lock(&self.fake.close_delay);
                tokio::time::sleep(delay).await;
                drop(self)
            }
            .boxed()
        }
    }

    fn snapshot() -> Snapshot {
        Snapshot::new(
            Engine::PostgreSql,
            "17",
            10,
            0,
            summarize_sessions(Vec::new(), &[], 10),
        )
    }

    fn settings() -> ReadSettings {
        ReadSettings {
            thresholds: vec![],
            origin_cap: 10,
            statement_timeout: Duration::from_secs(1),
            lock_timeout: Duration::from_millis(500),
            query_text: None,
        }
    }

    fn policy() -> Policy {
        Policy {
            connect_timeout: Duration::from_secs(2),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_millis(100),
            idle_close: None,
        }
    }

    fn target(fake: &Arc<Fake>) -> Arc<Target> {
        Target::new("fake", FakeSource(Arc::clone(fake)), settings(), policy())
    }

    fn lazy_target(fake: &Arc<Fake>, idle: Duration) -> Arc<Target> {
        let policy = Policy {
            idle_close: Some(idle),
            ..policy()
        };
        Target::new("fake", FakeSource(Arc::clone(fake)), settings(), policy)
    }

    fn open(fake: &Fake) -> usize {
        fake.open.load(Ordering::SeqCst)
    }

    fn connects(fake: &Fake) -> usize {
        fake.connects.load(Ordering::SeqCst)
    }

    fn in_(d: u64) -> Instant {
        Instant::now() + Duration::from_millis(d)
    }

    fn incidents(fake: &Fake) -> usize {
        fake.incidents.load(Ordering::SeqCst)
    }

    #[tokio::test(start_paused = true)]
    async fn incident_reads_are_shared_and_reused_for_a_while() {
        let fake = Fake::new(Behaviour::Answer(Duration::from_millis(300)));
        let t = target(&fake);
        let viewers = futures::future::join_all((0..20).map(|_| t.incident(in_(5_000)))).await;
        assert!(viewers.iter().all(Result::is_ok));
        assert_eq!(incidents(&fake), 1, "twenty viewers, one read");
        tokio::time::sleep(INCIDENT_REUSE / 2).await;
        assert!(t.incident(in_(5_000)).await.is_ok());
        assert_eq!(incidents(&fake), 1, "reused while young");
        tokio::time::sleep(INCIDENT_REUSE).await;
        assert!(t.incident(in_(5_000)).await.is_ok());
        assert_eq!(incidents(&fake), 2, "read anew once stale");
        assert_eq!(connects(&fake), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn incident_and_metrics_reads_take_the_session_in_turn() {
        let fake = Fake::new(Behaviour::Answer(Duration::from_millis(200)));
        let t = target(&fake);
        for _ in 0..5 {
            let scrapes = futures::future::join_all((0..4).map(|_| t.report(in_(5_000))));
            let views = futures::future::join_all((0..4).map(|_| t.incident(in_(5_000))));
            let (reports, scenes) = tokio::join!(scrapes, views);
            assert!(reports.iter().all(|r| r.snapshot().is_some()));
            assert!(scenes.iter().all(Result::is_ok));
            tokio::time::sleep(INCIDENT_REUSE).await;
        }
        assert_eq!(fake.busy_peak.load(Ordering::SeqCst), 1, "reads overlapped");
        assert_eq!(fake.peak.load(Ordering::SeqCst), 1, "one connection");
        assert_eq!(incidents(&fake), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_incident_read_times_out_alone_and_goes_on() {
        let fake = Fake::new(Behaviour::Answer(Duration::from_secs(3)));
        let t = target(&fake);
        assert_eq!(
            t.incident(in_(1_000)).await.err(),
            Some(IncidentError::Timeout)
        );
        // The read went on: a patient viewer gets its result, no second read.
        assert!(t.incident(in_(5_000)).await.is_ok());
        assert_eq!(incidents(&fake), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_incident_read_that_fails_is_not_reused() {
        let fake = Fake::new(Behaviour::Unsupported);
        let t = target(&fake);
        assert!(matches!(
            t.incident(in_(5_000)).await,
            Err(IncidentError::Unavailable(_))
        ));
        *lock(&fake.behaviour) = Behaviour::Answer(Duration::from_millis(10));
        assert!(t.incident(in_(5_000)).await.is_ok());
        assert_eq!(incidents(&fake), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_retired_target_has_no_incident_view() {
        let fake = Fake::new(Behaviour::Answer(Duration::from_millis(10)));
        let t = target(&fake);
        t.retire().await;
        assert!(matches!(
            t.incident(in_(5_000)).await,
            Err(IncidentError::Unavailable(_))
        ));
        assert_eq!(connects(&fake), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_short_deadline_fails_only_its_own_scrape() {
        let fake = Fake::new(Behaviour::Answer(Duration::from_millis(300)));
        let t = target(&fake);
        // The impatient scrape starts the read and gives up at once; a patient
        // one joins the same read and gets its answer.
        let impatient = t.report(in_(1)).await;
        assert!(impatient.snapshot().is_none());
        let patient = t.report(in_(10_000)).await;
        assert!(patient.snapshot().is_some());
        // Interleaved for a while: every patient scrape is answered.
        for _ in 0..20 {
            let (short, long) = tokio::join!(t.report(in_(1)), t.report(in_(10_000)));
            assert!(short.snapshot().is_none());
            assert!(long.snapshot().is_some());
        }
        assert_eq!(fake.connects.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_read_is_cleared_and_the_next_read_works() {
        let fake = Fake::new(Behaviour::Panic);
        let t = target(&fake);
        assert!(t.report(in_(5_000)).await.snapshot().is_none());
        *lock(&fake.behaviour) = Behaviour::Answer(Duration::from_millis(10));
        // Not stuck on the panicked read: the next scrape reads anew.
        assert!(t.report(in_(5_000)).await.snapshot().is_some());
        assert!(fake.peak.load(Ordering::SeqCst) <= 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_connect_is_waited_for_never_repeated_beside() {
        let fake = Fake::new(Behaviour::Answer(Duration::from_millis(10)));
        *lock(&fake.connect_delay) = Duration::from_secs(30);
        let t = target(&fake);
        let t0 = Instant::now();
        // Scrapes every 300 ms for 20 s while the login takes 30 s.
        let mut next = t0;
        while t0.elapsed() < Duration::from_secs(20) {
            let r = t.report(in_(250)).await;
            assert!(r.snapshot().is_none());
            next += Duration::from_millis(300);
            tokio::time::sleep_until(next).await;
        }
        assert_eq!(fake.connects.load(Ordering::SeqCst), 1);
        assert_eq!(fake.peak.load(Ordering::SeqCst), 1);
        // Counted once as a timeout, not once per scrape.
        assert_eq!(lock(&t.connect_errors).timeout, 1);
        // The login completes: the same attempt becomes the session.
        tokio::time::sleep_until(t0 + Duration::from_secs(31)).await;
        assert!(t.report(in_(5_000)).await.snapshot().is_some());
        assert_eq!(fake.connects.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_connect_without_answer_is_given_up_after_the_patience() {
        let fake = Fake::new(Behaviour::Answer(Duration::from_millis(10)));
        *lock(&fake.connect_delay) = Duration::from_secs(3600);
        let t = target(&fake);
        t.warm_up().await;
        tokio::time::sleep(CONNECT_PATIENCE + Duration::from_secs(1)).await;
        assert_eq!(
            fake.open.load(Ordering::SeqCst),
            0,
            "the attempt was dropped"
        );
        *lock(&fake.connect_delay) = Duration::ZERO;
        assert!(t.report(in_(5_000)).await.snapshot().is_some());
        assert_eq!(fake.connects.load(Ordering::SeqCst), 2);
        assert_eq!(fake.peak.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_session_is_replaced_never_doubled() {
        let fake = Fake::new(Behaviour::Answer(Duration::from_millis(10)));
        let t = target(&fake);
        assert!(t.report(in_(5_000)).await.snapshot().is_some());
        *lock(&fake.behaviour) = Behaviour::Hang;
        let started = Instant::now();
        let mut scrapes = 0;
        while t.report(in_(5_000)).await.session_losses.hung == 0 {
            scrapes += 1;
            assert!(scrapes < 10, "the hung session was never given up");
        }
        // Twice the 1 s statement timeout without a sign of life.
        assert!(started.elapsed() >= Duration::from_secs(2));
        assert_eq!(
            fake.open.load(Ordering::SeqCst),
            0,
            "closed before replacing"
        );
        *lock(&fake.behaviour) = Behaviour::Answer(Duration::from_millis(10));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(t.report(in_(5_000)).await.snapshot().is_some());
        assert_eq!(fake.connects.load(Ordering::SeqCst), 2);
        assert_eq!(fake.peak.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_read_that_keeps_answering_is_not_hung() {
        // Five seconds, five times the statement timeout, but alive throughout.
        let fake = Fake::new(Behaviour::Answer(Duration::from_secs(5)));
        let t = target(&fake);
        let r = t.report(in_(10_000)).await;
        assert!(r.snapshot().is_some());
        assert_eq!(r.session_losses, LossCounts::default());
        assert_eq!(fake.connects.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unsupported_server_is_said_once_and_not_reconnected() {
        let fake = Fake::new(Behaviour::Unsupported);
        let t = target(&fake);
        for _ in 0..5 {
            assert!(t.report(in_(5_000)).await.snapshot().is_none());
        }
        assert_eq!(fake.connects.load(Ordering::SeqCst), 1);
        assert!(t.said_unsupported.load(Ordering::Relaxed));
        assert_eq!(*lock(&t.connect_errors), ConnectErrorCounts::default());
    }

    #[tokio::test(start_paused = true)]
    async fn retire_closes_an_idle_session_at_once_and_reports_down_after() {
        let fake = Fake::new(Behaviour::Answer(Duration::from_millis(10)));
        let t = target(&fake);
        assert!(t.report(in_(5_000)).await.snapshot().is_some());
        assert_eq!(open(&fake), 1);
        t.retire().await;
        assert_eq!(open(&fake), 0);
        for _ in 0..3 {
            assert!(t.report(in_(5_000)).await.snapshot().is_none());
        }
        t.warm_up().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(connects(&fake), 1, "nothing connects after retire");
        assert_eq!(open(&fake), 0);
        // Retiring twice is harmless.
        t.retire().await;
    }

    #[tokio::test(start_paused = true)]
    async fn retire_during_a_read_closes_the_session_when_the_read_is_done() {
        let fake = Fake::new(Behaviour::Answer(Duration::from_millis(500)));
        let t = target(&fake);
        let reading = tokio::spawn({
            let t = Arc::clone(&t);
            async move { t.report(in_(5_000)).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let retired = tokio::spawn({
            let t = Arc::clone(&t);
            async move { t.retire().await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(open(&fake), 1, "the read in flight is not cut");
        assert!(!retired.is_finished());
        // The read that started before the retire finishes with its answer.
        assert!(reading.await.unwrap().snapshot().is_some());
        retired.await.unwrap();
        assert_eq!(open(&fake), 0);
        assert!(t.report(in_(5_000)).await.snapshot().is_none());
        assert_eq!(connects(&fake), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn retire_during_a_connect_lets_it_finish_and_closes_what_it_yields() {
        let fake = Fake::new(Behaviour::Answer(Duration::from_millis(10)));
        *lock(&fake.connect_delay) = Duration::from_secs(5);
        let t = target(&fake);
        t.warm_up().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let retired = tokio::spawn({
            let t = Arc::clone(&t);
            async move { t.retire().await }
        });
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(open(&fake), 1, "the login in flight is not abandoned");
        assert!(!retired.is_finished());
        retired.await.unwrap();
        assert_eq!(open(&fake), 0, "the session it yielded is closed");
        assert_eq!(connects(&fake), 1);
        assert!(t.report(in_(5_000)).await.snapshot().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_replacement_started_after_retire_never_overlaps_the_old_target() {
        // Old and new target of the same name on the same server: the peak counts
        // both. The old one is mid-read, then mid-connect, when retired.
        for connecting in [false, true] {
            let fake = Fake::new(Behaviour::Answer(Duration::from_millis(800)));
            let old = target(&fake);
            if connecting {
                *lock(&fake.connect_delay) = Duration::from_secs(3);
                old.warm_up().await;
            } else {
                let old = Arc::clone(&old);
                tokio::spawn(async move { old.report(in_(5_000)).await });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert_eq!(open(&fake), 1);
            *lock(&fake.connect_delay) = Duration::ZERO;
            let new = target(&fake);
            let started = {
                let new = Arc::clone(&new);
                async move {
                    old.retire().await;
                    new.warm_up().await;
                }
            };
            started.await;
            assert!(new.report(in_(5_000)).await.snapshot().is_some());
            assert_eq!(
                fake.peak.load(Ordering::SeqCst),
                1,
                "connecting: {connecting}"
            );
            assert_eq!(connects(&fake), 2);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn reconfigure_keeps_the_session_and_reads_with_the_new_settings() {
        let fake = Fake::new(Behaviour::Answer(Duration::from_millis(10)));
        let t = target(&fake);
        assert!(t.report(in_(5_000)).await.snapshot().is_some());
        assert_eq!(fake.read_cap.load(Ordering::SeqCst), 10);
        let wider = ReadSettings {
            origin_cap: 25,
            ..settings()
        };
        let slower = Policy {
            connect_timeout: Duration::from_secs(7),
            ..policy()
        };
        t.reconfigure(wider, slower.clone());
        assert!(t.report(in_(5_000)).await.snapshot().is_some());
        assert_eq!(fake.read_cap.load(Ordering::SeqCst), 25);
        assert_eq!(t.policy(), slower);
        assert_eq!(connects(&fake), 1, "the session is kept");
    }

    #[tokio::test(start_paused = true)]
    async fn reconfigure_of_what_a_session_is_set_up_with_replaces_it_closed_first() {
        let fake = Fake::new(Behaviour::Answer(Duration::from_millis(10)));
        *lock(&fake.close_delay) = Duration::from_millis(300);
        let t = target(&fake);
        assert!(t.report(in_(5_000)).await.snapshot().is_some());
        t.reconfigure(
            ReadSettings {
                thresholds: vec![60.0],
                ..settings()
            },
            policy(),
        );
        assert!(t.report(in_(5_000)).await.snapshot().is_some());
        assert_eq!(connects(&fake), 2);
        assert_eq!(fake.peak.load(Ordering::SeqCst), 1);
        // Set up under the new settings: kept from then on.
        assert!(t.report(in_(5_000)).await.snapshot().is_some());
        assert_eq!(connects(&fake), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn lazy_sessions_open_on_the_first_read_and_close_when_idle() {
        let fake = Fake::new(Behaviour::Answer(Duration::from_millis(10)));
        let t = lazy_target(&fake, Duration::from_secs(10));
        t.warm_up().await;
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(connects(&fake), 0);
        // Reads more often than the idle timeout keep the one session.
        for _ in 0..12 {
            assert!(t.report(in_(5_000)).await.snapshot().is_some());
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        assert_eq!(connects(&fake), 1);
        assert_eq!(open(&fake), 1);
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert_eq!(open(&fake), 0, "closed after 10 s without a read");
        assert!(t.report(in_(5_000)).await.snapshot().is_some());
        assert_eq!(connects(&fake), 2);
        assert_eq!(fake.peak.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_arriving_during_the_idle_close_waits_for_it() {
        let fake = Fake::new(Behaviour::Answer(Duration::from_millis(10)));
        *lock(&fake.close_delay) = Duration::from_secs(2);
        let t = lazy_target(&fake, Duration::from_secs(10));
        assert!(t.report(in_(5_000)).await.snapshot().is_some());
        // The close starts at 10 s and takes 2 s; the read arrives in between.
        tokio::time::sleep(Duration::from_secs(11)).await;
        assert_eq!(open(&fake), 1);
        assert!(t.report(in_(5_000)).await.snapshot().is_some());
        assert_eq!(connects(&fake), 2);
        assert_eq!(fake.peak.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_session_opened_for_a_read_is_not_closed_as_idle_before_the_read_runs() {
        let fake = Fake::new(Behaviour::Answer(Duration::from_millis(10)));
        let t = lazy_target(&fake, Duration::from_secs(1));
        // The read starts the connect and waits for it...
        let mut acquiring = Box::pin(t.acquire(0));
        assert!(futures::poll!(acquiring.as_mut()).is_pending());
        // ...but is scheduled only long after the session is open (a loaded
        // machine): the idle watcher runs first, several times over.
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(connects(&fake), 1);
        assert_eq!(open(&fake), 1, "the awaited session was closed as idle");
        let Some((session, fresh)) = acquiring.await else {
            panic!("the read found no session: the target would report down");
        };
        assert!(fresh);
        // Idleness counts from the end of the read: kept for the idle timeout
        // after it, closed after that.
        t.put_back(session, 0);
        tokio::time::sleep(Duration::from_millis(900)).await;
        assert_eq!(open(&fake), 1);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(open(&fake), 0, "closed once idle");
        assert_eq!(lock(&t.conn).waiting, 0);
        assert_eq!(fake.peak.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_that_stops_waiting_for_the_connect_is_uncounted() {
        let fake = Fake::new(Behaviour::Answer(Duration::from_millis(10)));
        *lock(&fake.connect_delay) = Duration::from_secs(3);
        let t = lazy_target(&fake, Duration::from_secs(1));
        // Waits past connect_timeout (2 s): down for this read, the login goes on.
        assert!(t.report(in_(10_000)).await.snapshot().is_none());
        assert_eq!(lock(&t.conn).waiting, 0);
        // A waiting read dropped mid-wait is uncounted too.
        *lock(&fake.connect_delay) = Duration::from_secs(3);
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(
            open(&fake),
            0,
            "the session nobody waited for closed as idle"
        );
        {
            let mut acquiring = Box::pin(t.acquire(0));
            assert!(futures::poll!(acquiring.as_mut()).is_pending());
            assert_eq!(lock(&t.conn).waiting, 1);
        }
        assert_eq!(lock(&t.conn).waiting, 0);
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(open(&fake), 0, "closed as idle once nobody waits");
    }

    #[tokio::test(start_paused = true)]
    async fn a_session_the_server_closed_is_released_before_the_next_opens() {
        let fake = Fake::new(Behaviour::Answer(Duration::from_millis(10)));
        *lock(&fake.close_delay) = Duration::from_millis(300);
        let t = target(&fake);
        assert!(t.report(in_(5_000)).await.snapshot().is_some());
        fake.closed.store(true, Ordering::SeqCst);
        let r = t.report(in_(5_000)).await;
        fake.closed.store(false, Ordering::SeqCst);
        assert!(r.snapshot().is_some());
        assert_eq!(r.session_losses.closed, 1);
        assert_eq!(connects(&fake), 2);
        assert_eq!(fake.peak.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_longer_than_the_idle_timeout_is_never_cut() {
        let fake = Fake::new(Behaviour::Answer(Duration::from_secs(5)));
        let t = lazy_target(&fake, Duration::from_secs(1));
        assert!(t.report(in_(10_000)).await.snapshot().is_some());
        assert_eq!(
            t.report(in_(10_000)).await.session_losses,
            LossCounts::default()
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(open(&fake), 0);
        assert_eq!(fake.peak.load(Ordering::SeqCst), 1);
    }
}
