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
use tokio::time::Instant;
use tracing::Instrument;

use crate::engines::{ReadError, ReadSettings, Reader, Source};
use crate::model::{
    ConnectErrorCounts, ConnectErrorKind, Engine, Loss, LossCounts, Snapshot, TargetReport,
};

/// How long a connect attempt is waited for before it is given up and may be
/// repeated. Past `connect_timeout` the attempt is counted as a timeout and scrapes
/// stop waiting for it, but it goes on: repeating it would leave the first one's
/// server process holding a slot.
pub const CONNECT_PATIENCE: Duration = Duration::from_secs(60);

/// Connection policy of a target, from the configuration.
#[derive(Clone, Debug)]
pub struct Policy {
    pub connect_timeout: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
}

/// A read in flight, which every scrape arriving meanwhile joins.
type SharedRead = Shared<BoxFuture<'static, Option<Arc<Snapshot>>>>;
type SharedConnect = Shared<BoxFuture<'static, ()>>;

#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
    not_before: Option<Instant>,
}

/// The target's one connection, in whichever form it is.
enum Slot {
    Empty,
    /// Open, and no read is using it.
    Idle(Box<dyn Reader>),
    /// A read has it.
    InUse,
    /// A connect attempt is in flight, started at the given instant.
    Connecting(SharedConnect, Instant),
}

pub struct Target {
    name: Arc<str>,
    source: Box<dyn Source>,
    settings: ReadSettings,
    policy: Policy,
    slot: Mutex<Slot>,
    backoff: Mutex<Backoff>,
    inflight: Mutex<Option<SharedRead>>,
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
enum Watched {
    Done(Result<Snapshot, ReadError>),
    /// No sign of life for this long.
    Hung(Duration),
}

/// Clears the in-flight read and a session left in use, whatever way the read task
/// ends — a panic included, which would otherwise leave every later scrape joining
/// a read that never finishes.
struct ReadGuard(Arc<Target>);

impl Drop for ReadGuard {
    fn drop(&mut self) {
        let target = &self.0;
        if std::thread::panicking() {
            tracing::error!(
                target_name = %target.name,
                "the read panicked; its session is dropped and the next scrape reads anew"
            );
        }
        *lock(&target.inflight) = None;
        let mut slot = lock(&target.slot);
        if matches!(*slot, Slot::InUse) {
            *slot = Slot::Empty;
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
            settings,
            policy,
            slot: Mutex::new(Slot::Empty),
            backoff: Mutex::new(Backoff::default()),
            inflight: Mutex::new(None),
            connect_errors: Default::default(),
            losses: Default::default(),
            info: Mutex::new(None),
            said_unsupported: AtomicBool::new(false),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Starts opening the session ahead of the first scrape, so that the exporter
    /// holds its slot before the server fills up.
    pub async fn warm_up(self: &Arc<Self>) {
        let mut slot = lock(&self.slot);
        if matches!(*slot, Slot::Empty) {
            self.start_connect(&mut slot);
        }
    }

    /// This target's part of a scrape: reads the target, sharing a read already in
    /// flight, and gives up waiting at `deadline` (the scrape's own deadline; the
    /// read goes on for the others).
    pub async fn report(self: &Arc<Self>, deadline: Instant) -> TargetReport {
        let started = Instant::now();
        let read = self.join_or_start_read();
        let finished = tokio::time::timeout_at(deadline, read).await;
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
        let guard = ReadGuard(Arc::clone(self));
        let task = tokio::spawn(async move {
            let snapshot = guard.0.read().await.map(Arc::new);
            drop(guard);
            snapshot
        });
        let read = async move { task.await.ok().flatten() }.boxed().shared();
        *inflight = Some(read.clone());
        read
    }

    async fn read(self: &Arc<Self>) -> Option<Snapshot> {
        let down = None;
        // At most two attempts: a session found dead (server restarted) is replaced
        // once within the same read, so the first scrape after a restart succeeds.
        for attempt in 0..2 {
            let Some((mut session, fresh)) = self.acquire().await else {
                return down;
            };
            match self.watched_read(&mut session).await {
                Watched::Done(Ok(snapshot)) => {
                    *lock(&self.info) = Some((snapshot.engine, snapshot.version.clone()));
                    self.put_back(session);
                    return Some(snapshot);
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
                    self.put_back(session);
                    return down;
                }
                Watched::Done(Err(ReadError::Unsupported(e))) => {
                    if !self.said_unsupported.swap(true, Ordering::Relaxed) {
                        tracing::error!(target_name = %self.name, error = %e, "unsupported server; the target stays down");
                    }
                    self.put_back(session);
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
    async fn watched_read(&self, session: &mut Box<dyn Reader>) -> Watched {
        let progress = session.progress();
        progress.touch();
        let quiet_limit = (self.settings.statement_timeout * 2).max(Duration::from_secs(1));
        let read = session.read(&self.settings).instrument(self.span());
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
    /// until `connect_timeout` after it started.
    async fn acquire(self: &Arc<Self>) -> Option<(Box<dyn Reader>, bool)> {
        let (attempt, started) = {
            let mut slot = lock(&self.slot);
            match std::mem::replace(&mut *slot, Slot::InUse) {
                Slot::Idle(s) if !s.is_closed() => return Some((s, false)),
                Slot::Idle(s) => {
                    self.lost(Loss::Closed);
                    tracing::warn!(target_name = %self.name, "session closed by the server or the network");
                    tokio::spawn(s.close());
                    *slot = Slot::Empty;
                    self.start_connect(&mut slot)?
                }
                Slot::Connecting(attempt, started) => {
                    *slot = Slot::Connecting(attempt.clone(), started);
                    (attempt, started)
                }
                Slot::Empty => {
                    *slot = Slot::Empty;
                    self.start_connect(&mut slot)?
                }
                // Reads do not overlap; nothing to take.
                Slot::InUse => return None,
            }
        };
        let _ = tokio::time::timeout_at(started + self.policy.connect_timeout, attempt).await;
        let mut slot = lock(&self.slot);
        match std::mem::replace(&mut *slot, Slot::InUse) {
            Slot::Idle(s) => Some((s, true)),
            other => {
                *slot = other;
                None
            }
        }
    }

    fn put_back(&self, session: Box<dyn Reader>) {
        let mut slot = lock(&self.slot);
        *slot = Slot::Idle(session);
    }

    /// Closes a session that is lost or hung before anything opens another.
    async fn discard(&self, session: Box<dyn Reader>) {
        session.close().await;
        let mut slot = lock(&self.slot);
        if matches!(*slot, Slot::InUse) {
            *slot = Slot::Empty;
        }
    }

    fn lost(&self, loss: Loss) {
        *lock(&self.losses).get_mut(loss) += 1;
    }

    /// Starts the one connect attempt, unless the backoff forbids one now. Must be
    /// called with the slot locked and empty; leaves it `Connecting`.
    fn start_connect(self: &Arc<Self>, slot: &mut Slot) -> Option<(SharedConnect, Instant)> {
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
        *slot = Slot::Connecting(attempt.clone(), started);
        Some((attempt, started))
    }

    /// One connect attempt, run as its own task. Counts and logs the failure
    /// reason, once per attempt, and leaves the slot idle (connected) or empty.
    async fn connect(self: Arc<Self>, started: Instant) {
        let timeout = self.policy.connect_timeout;
        let give_up = started + CONNECT_PATIENCE.max(timeout);
        let attempt = self.source.connect(&self.settings).instrument(self.span());
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
                *lock(&self.backoff) = Backoff::default();
                tracing::info!(target_name = %self.name, "connected");
                *lock(&self.slot) = Slot::Idle(session);
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
            let wait = backoff_delay(&self.policy, b.failures);
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
        *lock(&self.slot) = Slot::Empty;
    }

    /// The span the engine's own log lines carry, so that each names its target.
    fn span(&self) -> tracing::Span {
        tracing::info_span!("target", target_name = %self.name)
    }

    fn count(&self, kind: ConnectErrorKind) {
        *lock(&self.connect_errors).get_mut(kind) += 1;
    }
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
        connects: AtomicUsize,
        open: Arc<AtomicUsize>,
        peak: Arc<AtomicUsize>,
    }

    impl Fake {
        fn new(behaviour: Behaviour) -> Arc<Fake> {
            Arc::new(Fake {
                behaviour: Mutex::new(behaviour),
                connect_delay: Mutex::new(Duration::ZERO),
                connects: AtomicUsize::new(0),
                open: Arc::new(AtomicUsize::new(0)),
                peak: Arc::new(AtomicUsize::new(0)),
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

    impl Reader for FakeSession {
        fn read<'a>(
            &'a mut self,
            _settings: &'a ReadSettings,
        ) -> BoxFuture<'a, Result<Snapshot, ReadError>> {
            async move {
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
            .boxed()
        }
        fn is_closed(&self) -> bool {
            false
        }
        fn progress(&self) -> Arc<Progress> {
            Arc::clone(&self.progress)
        }
        fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
            async move { drop(self) }.boxed()
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

    fn target(fake: &Arc<Fake>) -> Arc<Target> {
        Target::new(
            "fake",
            FakeSource(Arc::clone(fake)),
            ReadSettings {
                thresholds: vec![],
                origin_cap: 10,
                statement_timeout: Duration::from_secs(1),
                lock_timeout: Duration::from_millis(500),
            },
            Policy {
                connect_timeout: Duration::from_secs(2),
                backoff_initial: Duration::from_millis(100),
                backoff_max: Duration::from_millis(100),
            },
        )
    }

    fn in_(d: u64) -> Instant {
        Instant::now() + Duration::from_millis(d)
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
}
