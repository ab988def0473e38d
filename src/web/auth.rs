//! Basic authentication against the toolkit's `basic_auth_users` (bcrypt hashes).
//!
//! bcrypt is slow on purpose (tens to hundreds of milliseconds), and Prometheus sends
//! the same credentials on every scrape: without a cache, each scrape would cost a
//! bcrypt, and a few scrapers a core. So a successful check is remembered, keyed by an
//! HMAC of user, hash and password under a key drawn at load, which keeps no password
//! in memory and changes with every load. Only successes are cached: wrong guesses
//! cannot evict them, and always cost a full bcrypt.
//!
//! An unknown user is checked against a dummy hash of the users' usual cost, so the
//! answer takes as long as for a known user with a wrong password. The bcrypt runs on
//! the blocking pool, one at a time (as the toolkit serialises them), so the
//! single-threaded runtime keeps answering cached scrapes while a check runs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;
use ring::hmac;
use tokio::sync::Semaphore;

/// Most successful checks remembered; more distinct valid credentials than this
/// start the cache afresh.
const CACHE_LIMIT: usize = 256;

/// A valid bcrypt hash of a random password, whose cost digits are replaced by the
/// users' usual cost: verifying against it costs what verifying a real hash does.
const DUMMY_HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

pub(super) struct BasicAuth {
    users: HashMap<String, String>,
    dummy: String,
    key: hmac::Key,
    verified: Mutex<HashSet<Vec<u8>>>,
    /// Shared by every load, so a reload does not allow a second bcrypt at once.
    bcrypt_slot: Arc<Semaphore>,
}

impl BasicAuth {
    /// Checks every hash; `Ok(None)` when no user is configured (no authentication,
    /// as in the toolkit). Errors name the user, never the hash.
    pub(super) fn new(
        users: &BTreeMap<String, String>,
        bcrypt_slot: Arc<Semaphore>,
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
                    format!("basic_auth_users: the password of user {user:?} is not a bcrypt hash")
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
            bcrypt_slot,
        }))
    }

    /// Whether the request's `Authorization` header names a user and their password.
    pub(super) async fn allows(&self, authorization: Option<&[u8]>) -> bool {
        let Some((user, password)) = authorization.and_then(credentials) else {
            return false;
        };
        let known = std::str::from_utf8(&user)
            .ok()
            .and_then(|u| self.users.get(u));
        let hash = known.unwrap_or(&self.dummy).clone();
        let cache_key = self.cache_key(&user, &hash, &password);
        if known.is_some() && self.cached().contains(&cache_key) {
            return true;
        }
        let Ok(_slot) = self.bcrypt_slot.acquire().await else {
            return false;
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
            return true;
        }
        false
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
        let slot = Arc::new(Semaphore::new(1));
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
        assert!(BasicAuth::new(&BTreeMap::new(), slot).unwrap().is_none());
    }

    #[tokio::test]
    async fn successes_are_cached_and_failures_are_not() {
        let users = BTreeMap::from([
            ("alice".to_string(), hash("right", 4)),
            ("bob".to_string(), hash("other", 4)),
            ("carol".to_string(), hash("other", 5)),
        ]);
        let auth = BasicAuth::new(&users, Arc::new(Semaphore::new(1)))
            .unwrap()
            .unwrap();
        assert!(auth.dummy.starts_with("$2y$04$"), "{}", auth.dummy);
        assert!(auth.allows(Some(&basic("alice", "right"))).await);
        assert_eq!(auth.cache_len(), 1);
        assert!(auth.allows(Some(&basic("alice", "right"))).await);
        assert_eq!(auth.cache_len(), 1);
        assert!(!auth.allows(Some(&basic("alice", "wrong"))).await);
        assert!(!auth.allows(Some(&basic("mallory", "right"))).await);
        assert!(!auth.allows(Some(&basic("bob", "right"))).await);
        assert!(!auth.allows(None).await);
        assert!(!auth.allows(Some(b"Basic %%%")).await);
        assert_eq!(auth.cache_len(), 1);
        // A key never holds the password itself.
        let key = auth.cache_key(b"alice", &users["alice"], b"right");
        assert!(!key.windows(5).any(|w| w == b"right"));
    }
}
