//! One monitored database: its single session, its connect backoff, and the sharing
//! of in-flight reads.
//!
//! A connection monitor must never be the thing that exhausts connections. So a
//! target holds at most one session, opened at start and re-opened only when lost,
//! never more often than the backoff allows. Concurrent scrapes do not queue reads:
//! they join the read already in flight and all get its result. The read runs as its
//! own task, so a scrape that gives up (its deadline passed, Prometheus hung up) does
//! not cancel the read for the others, and never leaves a half-used session behind.
//!
//! Why our own session rather than deadpool-postgres with a pool of one: a pool
//! lends its session to one caller at a time, so concurrent scrapes would queue for
//! it instead of sharing one read; a pool reconnects without backoff and without
//! telling "full" from "down"; and it is PostgreSQL-only, while MySQL targets need
//! the same discipline. What is left of a pool of one is `connect` below.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use tokio::time::Instant;

use crate::engines::{ConnectErrorKind, Connector, ReadError, ReadSettings, Session};
use crate::snapshot::{Engine, Snapshot};

/// Connection policy of a target, from the configuration.
#[derive(Clone, Debug)]
pub struct Policy {
    pub connect_timeout: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
}

/// What one read produced.
#[derive(Debug)]
pub struct ReadOutcome {
    pub snapshot: Option<Snapshot>,
}

type SharedRead = Shared<BoxFuture<'static, Arc<ReadOutcome>>>;

/// Everything the exposition needs about one target for one scrape.
#[derive(Debug, Clone)]
pub struct ScrapeResult {
    pub target: Arc<str>,
    pub outcome: Option<Arc<ReadOutcome>>,
    pub duration: Duration,
    pub connect_errors: [u64; 6],
    /// Engine and version from the last successful read, so that `target_info`
    /// survives an outage.
    pub info: Option<(Engine, String)>,
}

impl ScrapeResult {
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.outcome.as_ref().and_then(|o| o.snapshot.as_ref())
    }
}

#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
    not_before: Option<Instant>,
}

pub struct Target {
    name: Arc<str>,
    connector: Connector,
    settings: ReadSettings,
    policy: Policy,
    session: tokio::sync::Mutex<Option<Session>>,
    backoff: Mutex<Backoff>,
    inflight: Mutex<Option<SharedRead>>,
    connect_errors: [AtomicU64; 6],
    info: Mutex<Option<(Engine, String)>>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target").field("name", &self.name).finish()
    }
}

impl Target {
    pub fn new(
        name: impl Into<Arc<str>>,
        connector: Connector,
        settings: ReadSettings,
        policy: Policy,
    ) -> Arc<Target> {
        Arc::new(Target {
            name: name.into(),
            connector,
            settings,
            policy,
            session: tokio::sync::Mutex::new(None),
            backoff: Mutex::new(Backoff::default()),
            inflight: Mutex::new(None),
            connect_errors: Default::default(),
            info: Mutex::new(None),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Opens the session ahead of the first scrape, so that the exporter holds its
    /// slot before the server fills up.
    pub async fn warm_up(self: &Arc<Self>) {
        let mut session = self.session.lock().await;
        if session.is_none() {
            let deadline = Instant::now() + self.policy.connect_timeout;
            *session = self.connect(deadline).await;
        }
    }

    /// Reads the target, sharing a read already in flight, and gives up at
    /// `deadline` (the scrape's own deadline).
    pub async fn scrape(self: &Arc<Self>, deadline: Instant) -> ScrapeResult {
        let started = Instant::now();
        let read = self.join_or_start_read(deadline);
        let outcome = tokio::time::timeout_at(deadline, read).await.ok();
        if outcome.is_none() {
            tracing::warn!(target_name = %self.name, "scrape deadline reached before the read finished");
        }
        ScrapeResult {
            target: self.name.clone(),
            outcome,
            duration: started.elapsed(),
            connect_errors: self.connect_error_counts(),
            info: lock(&self.info).clone(),
        }
    }

    pub fn connect_error_counts(&self) -> [u64; 6] {
        std::array::from_fn(|i| self.connect_errors[i].load(Ordering::Relaxed))
    }

    fn join_or_start_read(self: &Arc<Self>, deadline: Instant) -> SharedRead {
        let mut inflight = lock(&self.inflight);
        if let Some(read) = inflight.as_ref() {
            return read.clone();
        }
        let this = Arc::clone(self);
        let task = tokio::spawn(async move {
            let outcome = Arc::new(this.read(deadline).await);
            *lock(&this.inflight) = None;
            outcome
        });
        let read = async move {
            task.await
                .unwrap_or_else(|_| Arc::new(ReadOutcome { snapshot: None }))
        }
        .boxed()
        .shared();
        *inflight = Some(read.clone());
        read
    }

    async fn read(&self, deadline: Instant) -> ReadOutcome {
        let mut slot = self.session.lock().await;
        // At most two attempts: a session found dead (server restarted) is replaced
        // once within the same read, so the first scrape after a restart succeeds.
        for attempt in 0..2 {
            let fresh = match slot.as_ref() {
                Some(s) if !s.is_closed() => false,
                _ => {
                    *slot = None;
                    match self.connect(deadline).await {
                        Some(s) => *slot = Some(s),
                        None => return ReadOutcome { snapshot: None },
                    }
                    true
                }
            };
            let Some(session) = slot.as_mut() else {
                return ReadOutcome { snapshot: None };
            };
            match tokio::time::timeout_at(deadline, session.read(&self.settings)).await {
                Ok(Ok(snapshot)) => {
                    *lock(&self.info) = Some((snapshot.engine, snapshot.version.clone()));
                    return ReadOutcome {
                        snapshot: Some(snapshot),
                    };
                }
                Ok(Err(ReadError::Lost(e))) => {
                    tracing::warn!(target_name = %self.name, error = %e, "session lost");
                    *slot = None;
                    if fresh || attempt == 1 {
                        return ReadOutcome { snapshot: None };
                    }
                }
                Ok(Err(ReadError::Failed(e))) => {
                    tracing::warn!(target_name = %self.name, error = %e, "read failed");
                    return ReadOutcome { snapshot: None };
                }
                Err(_) => {
                    // The statements keep running on the server until their own
                    // statement timeout; the session stays and is reused.
                    tracing::warn!(target_name = %self.name, "read did not finish before the scrape deadline");
                    return ReadOutcome { snapshot: None };
                }
            }
        }
        ReadOutcome { snapshot: None }
    }

    /// One connect attempt, unless the backoff forbids one now. Counts and logs the
    /// failure reason.
    async fn connect(&self, deadline: Instant) -> Option<Session> {
        let now = Instant::now();
        if let Some(not_before) = lock(&self.backoff).not_before
            && now < not_before
        {
            tracing::debug!(target_name = %self.name, "connect skipped: backing off");
            return None;
        }
        let limit = deadline
            .saturating_duration_since(now)
            .min(self.policy.connect_timeout);
        let result = tokio::time::timeout(limit, self.connector.connect(&self.settings)).await;
        let (kind, message) = match result {
            Ok(Ok(session)) => {
                *lock(&self.backoff) = Backoff::default();
                tracing::info!(target_name = %self.name, "connected");
                return Some(session);
            }
            Ok(Err(e)) => (e.kind, e.message),
            Err(_) => (
                ConnectErrorKind::Timeout,
                format!("no answer within {limit:?}"),
            ),
        };
        self.connect_errors[kind.index()].fetch_add(1, Ordering::Relaxed);
        let wait = {
            let mut b = lock(&self.backoff);
            b.failures = b.failures.saturating_add(1);
            let wait = backoff_delay(&self.policy, b.failures);
            b.not_before = Some(Instant::now() + wait);
            wait
        };
        tracing::warn!(
            target_name = %self.name,
            reason = kind.as_str(),
            error = %message,
            retry_after = ?wait,
            "connect failed"
        );
        None
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
}
