//! Basic authentication against the toolkit's `basic_auth_users` (bcrypt hashes).
//!
//! bcrypt is slow on purpose (tens to hundreds of milliseconds), and Prometheus sends
//! the same credentials on every scrape: without a cache, each scrape would cost a
//! bcrypt, and a few scrapers a core. So a successful check is remembered, keyed by an
//! HMAC of user, hash and password under a key drawn at load, which keeps no password
//! in memory and changes with every load. Only successes are cached: wrong guesses
//! cannot evict them, and each one checked costs a full bcrypt.
//!
//! An unknown user is checked against a dummy hash of the users' usual cost, so the
//! answer takes as long as for a known user with a wrong password. The bcrypt runs on
//! the blocking pool, one at a time (as the toolkit serialises them), so the
//! single-threaded runtime keeps answering cached scrapes while a check runs.
//!
//! The queue in front of that one bcrypt is short ([`MAX_PENDING_CHECKS`]): beyond it
//! a request is answered at once, without a check. Unbounded, a flood of wrong
//! passwords would keep every connection waiting in line, each counted as a request
//! being answered, which the connection cap never closes: the cap would fill with
//! them and cut the scrapes that matter, and a correct password would wait behind
//! every wrong one. Answered at once, those connections turn idle and the cap closes
//! them first; a correct password already checked never waits in the line at all.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;
use ring::hmac;
use tokio::sync::Semaphore;

/// Most successful checks remembered; more distinct valid credentials than this
/// start the cache afresh.
const CACHE_LIMIT: usize = 256;

/// Password checks running or waiting at most; more are answered without a check.
pub(super) const MAX_PENDING_CHECKS: usize = 4;

/// A valid bcrypt hash of a random password, whose cost digits are replaced by the
/// users' usual cost: verifying against it costs what verifying a real hash does.
const DUMMY_HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

/// The one bcrypt at a time, and how many checks hold or wait for it. Shared by
/// every load, so a reload does not allow a second bcrypt at once.
pub(super) struct BcryptQueue {
    slot: Semaphore,
    pending: AtomicUsize,
}

impl BcryptQueue {
    pub(super) fn new() -> BcryptQueue {
        BcryptQueue {
            slot: Semaphore::new(1),
            pending: AtomicUsize::new(0),
        }
    }

    /// A place in the line, or `None` when it is full.
    fn join(&self) -> Option<InLine<'_>> {
        self.pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_PENDING_CHECKS).then_some(n + 1)
            })
            .ok()
            .map(|_| InLine(self))
    }
}

/// Leaves the line when the check ends, however it ends (the client may go away).
struct InLine<'a>(&'a BcryptQueue);

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What a request's credentials get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    Allowed,
    Denied,
    /// Not checked: too many checks are waiting already.
    Busy,
}

pub(super) struct BasicAuth {
    users: HashMap<String, String>,
    dummy: String,
    key: hmac::Key,
    verified: Mutex<HashSet<Vec<u8>>>,
    queue: Arc<BcryptQueue>,
}

impl BasicAuth {
    /// Checks every hash; `Ok(None)` when no user is configured (no authentication,
    /// as in the toolkit). Errors name the user, never the hash, nor a user name that
    /// looks like one (user and hash swapped).
    pub(super) fn new(
        users: &BTreeMap<String, String>,
        queue: Arc<BcryptQueue>,
    ) -> Result<Option<BasicAuth>, String> {
        if users.is_empty() {
            return Ok(None);
        }
        let mut costs: BTreeMap<u32, usize> = BTreeMap::new();
        for (user, hash) in users {
            let cost = bcrypt::HashParts::from_str(hash)
                .map(|p| p.get_cost())
                .ok()
                .filter(|c| (4..=31).contains(c))
                .ok_or_else(|| {
                    if looks_like_a_hash(user) {
                        "basic_auth_users: a user name looks like a bcrypt hash and its \
                         password is not one (user and hash swapped?)"
                            .to_string()
                    } else {
                        format!(
                            "basic_auth_users: the password of user {user:?} is not a bcrypt hash"
                        )
                    }
                })?;
            *costs.entry(cost).or_default() += 1;
        }
        // The most common cost; the lowest of equally common ones.
        let usual = costs
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map_or(10, |(cost, _)| *cost);
        let dummy = DUMMY_HASH.replacen("$10$", &format!("${usual:02}$"), 1);
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &ring::rand::SystemRandom::new())
            .map_err(|_| "cannot draw a random key for the password cache".to_string())?;
        Ok(Some(BasicAuth {
            users: users.clone().into_iter().collect(),
            dummy,
            key,
            verified: Mutex::new(HashSet::new()),
            queue,
        }))
    }

    /// Whether the request's `Authorization` header names a user and their password;
    /// [`Verdict::Busy`] when it would have to wait behind too many checks.
    pub(super) async fn check(&self, authorization: Option<&[u8]>) -> Verdict {
        let Some((user, password)) = authorization.and_then(credentials) else {
            return Verdict::Denied;
        };
        let known = std::str::from_utf8(&user)
            .ok()
            .and_then(|u| self.users.get(u));
        let hash = known.unwrap_or(&self.dummy).clone();
        let cache_key = self.cache_key(&user, &hash, &password);
        if known.is_some() && self.cached().contains(&cache_key) {
            return Verdict::Allowed;
        }
        let Some(_in_line) = self.queue.join() else {
            return Verdict::Busy;
        };
        let Ok(_slot) = self.queue.slot.acquire().await else {
            return Verdict::Denied;
        };
        let matches = tokio::task::spawn_blocking(move || bcrypt::verify(&password, &hash))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(false);
        if matches && known.is_some() {
            let mut cached = self.cached();
            if cached.len() >= CACHE_LIMIT {
                cached.clear();
            }
            cached.insert(cache_key);
            return Verdict::Allowed;
        }
        Verdict::Denied
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, HashSet<Vec<u8>>> {
        self.verified.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn cache_key(&self, user: &[u8], hash: &str, password: &[u8]) -> Vec<u8> {
        let mut ctx = hmac::Context::with_key(&self.key);
        for part in [user, hash.as_bytes(), password] {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part);
        }
        ctx.sign().as_ref().to_vec()
    }

    #[cfg(test)]
    fn cache_len(&self) -> usize {
        self.cached().len()
    }
}

/// Whether a user name starts as a bcrypt hash does: such a name is never quoted.
fn looks_like_a_hash(user: &str) -> bool {
    ["$2a$", "$2b$", "$2y$", "$2x$"]
        .iter()
        .any(|prefix| user.starts_with(prefix))
}

/// User and password from `Basic <base64(user:password)>`; `None` if malformed.
fn credentials(header: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let header = std::str::from_utf8(header).ok()?.trim();
    let (scheme, encoded) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let colon = decoded.iter().position(|b| *b == b':')?;
    let (user, password) = decoded.split_at(colon);
    Some((user.to_vec(), password.get(1..)?.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(password: &str, cost: u32) -> String {
        bcrypt::hash_with_salt(password, cost, [7u8; 16])
            .unwrap()
            .format_for_version(bcrypt::Version::TwoY)
    }

    fn basic(user: &str, password: &str) -> Vec<u8> {
        let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {b}").into_bytes()
    }

    #[test]
    fn the_header_is_parsed_strictly() {
        assert_eq!(
            credentials(&basic("alice", "pw:with:colons")),
            Some((b"alice".to_vec(), b"pw:with:colons".to_vec()))
        );
        assert_eq!(
            credentials(b"basic YWxpY2U6"),
            Some((b"alice".to_vec(), Vec::new()))
        );
        assert_eq!(credentials(b"Basic not-base64!"), None);
        assert_eq!(credentials(b"Basic YWxpY2U="), None, "no colon");
        assert_eq!(credentials(b"Bearer YWxpY2U6cHc="), None);
        assert_eq!(credentials(b"Basic"), None);
        assert_eq!(credentials(&[0xff, 0xfe]), None);
    }

    #[test]
    fn bad_hashes_are_refused_without_printing_them() {
        let slot = Arc::new(BcryptQueue::new());
        for bad in [
            "TopSecretPlain",
            "$2y$99$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi",
            "$1$TopSecret",
            "",
        ] {
            let users = BTreeMap::from([("alice".to_string(), bad.to_string())]);
            let err = BasicAuth::new(&users, Arc::clone(&slot))
                .err()
                .unwrap_or_else(|| panic!("accepted {bad:?}"));
            assert!(err.contains("user \"alice\" is not a bcrypt hash"), "{err}");
            assert!(
                !err.contains("TopSecret") && !err.contains("QOauh"),
                "{err}"
            );
        }
        // A hash where the user name goes is not quoted either.
        let users = BTreeMap::from([(
            "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi".to_string(),
            "alice".to_string(),
        )]);
        let err = BasicAuth::new(&users, Arc::clone(&slot))
            .err()
            .unwrap_or_default();
        assert!(err.contains("looks like a bcrypt hash"), "{err}");
        assert!(!err.contains("QOauh") && !err.contains("$2y$"), "{err}");
        assert!(BasicAuth::new(&BTreeMap::new(), slot).unwrap().is_none());
    }

    #[tokio::test]
    async fn successes_are_cached_and_failures_are_not() {
        let users = BTreeMap::from([
            ("alice".to_string(), hash("right", 4)),
            ("bob".to_string(), hash("other", 4)),
            ("carol".to_string(), hash("other", 5)),
        ]);
        let auth = BasicAuth::new(&users, Arc::new(BcryptQueue::new()))
            .unwrap()
            .unwrap();
        assert!(auth.dummy.starts_with("$2y$04$"), "{}", auth.dummy);
        let check = |user: &str, password: &str| {
            let header = basic(user, password);
            let auth = &auth;
            async move { auth.check(Some(&header)).await }
        };
        assert_eq!(check("alice", "right").await, Verdict::Allowed);
        assert_eq!(auth.cache_len(), 1);
        assert_eq!(check("alice", "right").await, Verdict::Allowed);
        assert_eq!(auth.cache_len(), 1);
        assert_eq!(check("alice", "wrong").await, Verdict::Denied);
        assert_eq!(check("mallory", "right").await, Verdict::Denied);
        assert_eq!(check("bob", "right").await, Verdict::Denied);
        assert_eq!(auth.check(None).await, Verdict::Denied);
        assert_eq!(auth.check(Some(b"Basic %%%")).await, Verdict::Denied);
        assert_eq!(auth.cache_len(), 1);
        // A key never holds the password itself.
        let key = auth.cache_key(b"alice", &users["alice"], b"right");
        assert!(!key.windows(5).any(|w| w == b"right"));
    }

    #[tokio::test]
    async fn a_full_line_answers_at_once_but_never_a_cached_password() {
        let users = BTreeMap::from([("alice".to_string(), hash("right", 4))]);
        let queue = Arc::new(BcryptQueue::new());
        let auth = BasicAuth::new(&users, Arc::clone(&queue)).unwrap().unwrap();
        assert_eq!(
            auth.check(Some(&basic("alice", "right"))).await,
            Verdict::Allowed
        );
        let places: Vec<_> = (0..MAX_PENDING_CHECKS)
            .map(|_| queue.join().unwrap())
            .collect();
        assert!(queue.join().is_none());
        assert_eq!(
            auth.check(Some(&basic("alice", "wrong"))).await,
            Verdict::Busy
        );
        assert_eq!(
            auth.check(Some(&basic("alice", "right"))).await,
            Verdict::Allowed,
            "a cached password does not queue"
        );
        drop(places);
        assert_eq!(queue.pending.load(Ordering::Acquire), 0);
        assert_eq!(
            auth.check(Some(&basic("alice", "wrong"))).await,
            Verdict::Denied
        );
        assert_eq!(queue.pending.load(Ordering::Acquire), 0, "left the line");
    }
}
