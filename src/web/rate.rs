//! The toolkit's `rate_limit`: a token bucket in front of every protected route, so
//! a file that limits requests keeps limiting them here.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

pub(super) struct RateLimit {
    /// One token comes back every `interval`.
    interval: Duration,
    burst: f64,
    bucket: Mutex<(f64, Instant)>,
}

impl RateLimit {
    /// `None` when the interval is zero (the toolkit's "disabled").
    pub(super) fn new(interval: Duration, burst: u32) -> Option<RateLimit> {
        if interval.is_zero() {
            return None;
        }
        let burst = f64::from(burst);
        Some(RateLimit {
            interval,
            burst,
            bucket: Mutex::new((burst, Instant::now())),
        })
    }

    /// Takes a token if there is one.
    pub(super) fn allow(&self) -> bool {
        let mut bucket = self.bucket.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let refill = now.duration_since(bucket.1).as_secs_f64() / self.interval.as_secs_f64();
        bucket.0 = (bucket.0 + refill).min(self.burst);
        bucket.1 = now;
        if bucket.0 >= 1.0 {
            bucket.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_then_one_per_interval() {
        let r = RateLimit::new(Duration::from_secs(1), 2).unwrap();
        assert!(r.allow());
        assert!(r.allow());
        assert!(!r.allow());
        tokio::time::advance(Duration::from_millis(1000)).await;
        assert!(r.allow());
        assert!(!r.allow());
        assert!(RateLimit::new(Duration::ZERO, 1).is_none());
        let none = RateLimit::new(Duration::from_secs(1), 0).unwrap();
        assert!(!none.allow(), "burst 0 allows nothing, as in Go");
    }
}
