//! Connection strings carry passwords, so everything that touches one lives here:
//! engine detection, the name a target gets when none is configured, and scrubbing
//! secrets out of any text that may reach a log, a metric or an HTTP body.

use std::fmt;

/// Which engine a DSN is for, from its scheme. A libpq `key=value` string is
/// PostgreSQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    Postgres,
    Mysql,
}

pub fn engine_of(dsn: &str) -> Option<EngineKind> {
    let dsn = dsn.trim_start();
    match scheme(dsn) {
        Some(s) if s.eq_ignore_ascii_case("postgres") || s.eq_ignore_ascii_case("postgresql") => {
            Some(EngineKind::Postgres)
        }
        Some(s) if s.eq_ignore_ascii_case("mysql") || s.eq_ignore_ascii_case("mariadb") => {
            Some(EngineKind::Mysql)
        }
        Some(_) => None,
        None if dsn.contains('=') => Some(EngineKind::Postgres),
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
    if scheme(dsn).is_some() {
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
    found.retain(|p| !p.is_empty());
    found.sort();
    found.dedup();
    found
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

/// Returns the DSN with the password replaced by `****`, for display.
pub fn redact(dsn: &str) -> String {
    let secrets = passwords_in(dsn);
    scrub(dsn, &secrets)
}

pub fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits a libpq keyword/value string (`host=a port=5432 password='x y'`) into
/// pairs, honouring single quotes and backslash escapes. Malformed input yields what
/// could be read; the engine's own parser reports the error.
pub fn keyword_pairs(dsn: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut chars = dsn.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() {
            break;
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek() != Some(&'=') {
            break;
        }
        chars.next();
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
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
                if c.is_whitespace() {
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
    pairs
}

/// Quotes a value for a libpq keyword/value string.
pub fn quote_keyword_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
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
    fn engines_are_detected_from_the_scheme() {
        assert_eq!(engine_of("postgres://u@h/db"), Some(EngineKind::Postgres));
        assert_eq!(engine_of("postgresql://u@h/db"), Some(EngineKind::Postgres));
        assert_eq!(engine_of("host=h user=u"), Some(EngineKind::Postgres));
        assert_eq!(engine_of("mysql://u:p@h:3306/"), Some(EngineKind::Mysql));
        assert_eq!(engine_of("mariadb://u@h/"), Some(EngineKind::Mysql));
        assert_eq!(engine_of("redis://h"), None);
        assert_eq!(engine_of("just-a-host"), None);
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
    fn redaction_removes_the_password() {
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
    fn percent_decoding_tolerates_bad_escapes() {
        assert_eq!(percent_decode("a%20b"), "a b");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("a%zzb"), "a%zzb");
        assert_eq!(percent_decode("%"), "%");
    }
}
