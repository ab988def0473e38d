//! Passwords: a type that never prints, and the finding and scrubbing of every
//! spelling of a password in text that may reach a log, a metric or an HTTP body.
//! Finding is deliberately lenient (over-finding only blanks a little too much);
//! reading a DSN to connect is strict (see `keyword`).

use std::fmt;

use super::keyword::is_space;
use super::url::percent_decode;

/// A value that must never be printed. `Debug` and `Display` show `****`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

/// Every spelling of the password found in a DSN: as written (possibly
/// percent-encoded) and decoded. Used to scrub messages, so over-finding is fine.
pub fn passwords_in(dsn: &str) -> Vec<String> {
    let mut found = Vec::new();
    if super::scheme(dsn).is_some() {
        if let Some(raw) = url_password(dsn) {
            found.push(percent_decode(raw));
            found.push(raw.to_string());
        }
    } else {
        for (key, value) in keyword_pairs(dsn) {
            if key == "password" {
                found.push(value);
            }
        }
    }
    distinct(found)
}

/// Anything in free text (a config file, a DSN no parser accepts) that could be a
/// password: the part between `user:` and `@` of every URL-like token, and every
/// `password=` value. Used to scrub error messages that quote their input, where
/// the input may be too broken for [`passwords_in`]; over-finding is fine.
pub fn likely_secrets(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        found.extend(passwords_in(line.trim()));
        for token in line.split(|c: char| {
            c.is_whitespace() || matches!(c, '"' | '\'' | ',' | '[' | ']' | '{' | '}')
        }) {
            let rest = token.split_once("://").map_or(token, |(_, r)| r);
            if let Some(at) = rest.rfind('@')
                && let Some((_, password)) = rest[..at].split_once(':')
            {
                found.push(password.to_string());
                found.push(percent_decode(password));
            }
            if let Some(value) = token.strip_prefix("password=") {
                found.push(value.to_string());
            }
        }
    }
    distinct(found)
}

/// Each non-empty candidate once.
fn distinct(mut found: Vec<String>) -> Vec<String> {
    found.retain(|p| !p.is_empty());
    found.sort();
    found.dedup();
    found
}

/// Replaces every occurrence of each secret in `text` with `****`.
pub fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    // Longest first so that a secret containing another is replaced whole.
    let mut sorted: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for secret in sorted {
        out = out.replace(secret.as_str(), "****");
    }
    out
}

fn url_password(dsn: &str) -> Option<&str> {
    let (_, rest) = dsn.split_once("://")?;
    // userinfo ends at the last '@' before the path/query starts; passwords may
    // legally contain '@' only percent-encoded, but be generous and take the last.
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let at = authority.rfind('@').or_else(|| rest.rfind('@'))?;
    let userinfo = &rest[..at];
    let (_, password) = userinfo.split_once(':')?;
    Some(password)
}

/// Every `key=value` that can be made out of a keyword/value string, skipping what
/// cannot: for finding secrets to scrub, never for connecting (see
/// [`parse_keyword_dsn`]).
fn keyword_pairs(dsn: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut chars = dsn.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| is_space(*c)) {
            chars.next();
        }
        if chars.peek().is_none() {
            return pairs;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || is_space(c) {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| is_space(*c)) {
            chars.next();
        }
        if chars.peek() != Some(&'=') {
            // A stray token: skip it and go on with the next.
            continue;
        }
        chars.next();
        while chars.peek().is_some_and(|c| is_space(*c)) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            value.push(n);
                        }
                    }
                    '\'' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if is_space(c) {
                    break;
                }
                chars.next();
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        value.push(n);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn likely_secrets_are_found_in_broken_input() {
        let found =
            likely_secrets(":s3cret@ and postgres://u:p%40ss@h/db, password=kw\n  dsn: 'x:y@'");
        for s in ["s3cret", "p%40ss", "p@ss", "kw", "y"] {
            assert!(found.contains(&s.to_string()), "{s} not in {found:?}");
        }
    }

    #[test]
    fn url_passwords_are_found_encoded_and_decoded() {
        let p = passwords_in("postgres://user:s%40cr%3Aet@host:5432/db");
        assert!(p.contains(&"s@cr:et".to_string()));
        assert!(p.contains(&"s%40cr%3Aet".to_string()));
        assert!(passwords_in("postgres://user@host/db").is_empty());
    }

    #[test]
    fn keyword_passwords_are_found_quoted() {
        let p = passwords_in("host=h password='it''s' user=u");
        assert!(!p.is_empty());
        let p = passwords_in(r"host=h password='a \'b\' c' user=u");
        assert_eq!(p, vec!["a 'b' c".to_string()]);
        let p = passwords_in("host=h password=plain user=u");
        assert_eq!(p, vec!["plain".to_string()]);
    }

    #[test]
    fn scrubbing_removes_the_password() {
        let redact = |dsn: &str| scrub(dsn, &passwords_in(dsn));
        let r = redact("postgres://user:hunter2@host/db");
        assert_eq!(r, "postgres://user:****@host/db");
        let r = redact("host=h password=hunter2");
        assert!(!r.contains("hunter2"));
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "**** ****");
    }

    #[test]
    fn lenient_pairs_find_passwords_past_a_stray_token() {
        let p = passwords_in("host=h junk password=hunter2 'x");
        assert_eq!(p, vec!["hunter2".to_string()]);
        let p = passwords_in("host=h password='hunter2");
        assert_eq!(p, vec!["hunter2".to_string()]);
    }
}
