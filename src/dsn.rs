//! Connection strings carry passwords, so everything that touches one lives here:
//! engine detection, the name a target gets when none is configured, and scrubbing
//! secrets out of any text that may reach a log, a metric or an HTTP body.

use std::fmt;

use crate::model::Engine;

/// Kept here for the engines that read certificate files through this path.
pub use crate::config::read_small_file;

/// Which engine a DSN is for, from its scheme. A libpq `key=value` string is
/// PostgreSQL; `mysql://` and `mariadb://` are both [`Engine::MySql`] until the
/// server's version tells them apart.
pub fn engine_of(dsn: &str) -> Option<Engine> {
    let dsn = dsn.trim_start();
    match scheme(dsn) {
        Some(s) if s.eq_ignore_ascii_case("postgres") || s.eq_ignore_ascii_case("postgresql") => {
            Some(Engine::PostgreSql)
        }
        Some(s) if s.eq_ignore_ascii_case("mysql") || s.eq_ignore_ascii_case("mariadb") => {
            Some(Engine::MySql)
        }
        Some(_) => None,
        None if dsn.contains('=') => Some(Engine::PostgreSql),
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
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let mut ahead = bytes.clone();
            if let (Some(h), Some(l)) = (ahead.next().and_then(hex), ahead.next().and_then(hex)) {
                out.push(h * 16 + l);
                bytes = ahead;
                continue;
            }
        }
        out.push(b);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where a connection string stops making sense: a 1-based character position and
/// what was expected there. It never quotes the input, which may hold a password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub position: usize,
    pub expected: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "at character {}: expected {}",
            self.position, self.expected
        )
    }
}

/// One `key=value` of a libpq keyword/value string, with the 1-based character
/// position of its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeywordPair {
    pub key: String,
    pub value: String,
    pub position: usize,
}

/// libpq's idea of white space (C `isspace`), not Unicode's.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

/// Parses a libpq keyword/value string (`host=a port=5432 password='x y'`) completely:
/// every character is understood or the result is an error naming its position.
///
/// libpq's rules: white space around `=` is allowed; a value is either a run of
/// non-space characters or a single-quoted string; a backslash escapes the next
/// character in both; `''` is an empty value. Two stricter rules close libpq's
/// silent traps: a quoted value must be followed by a space or the end, and
/// `key= other=…` (a space after `=`, then what looks like the next pair) is refused
/// instead of becoming the value of `key`. Repeated keys are returned as written;
/// libpq's rule is that the last one wins.
pub fn parse_keyword_dsn(dsn: &str) -> Result<Vec<KeywordPair>, SyntaxError> {
    let chars: Vec<char> = dsn.chars().collect();
    let err = |i: usize, expected: &str| SyntaxError {
        position: i + 1,
        expected: expected.to_string(),
    };
    let is_key_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let at = |i: usize| chars.get(i).copied();
    let mut pairs = Vec::new();
    let mut i = 0;
    loop {
        while at(i).is_some_and(is_space) {
            i += 1;
        }
        if i == chars.len() {
            return Ok(pairs);
        }
        let key_start = i;
        while at(i).is_some_and(is_key_char) {
            i += 1;
        }
        if i == key_start {
            return Err(err(
                i,
                "a keyword (letters, digits and `_`) starting a keyword=value pair",
            ));
        }
        let key: String = chars.get(key_start..i).unwrap_or_default().iter().collect();
        while at(i).is_some_and(is_space) {
            i += 1;
        }
        if chars.get(i) != Some(&'=') {
            return Err(err(
                key_start,
                "keyword=value here (a value holding spaces must be quoted: key='a b')",
            ));
        }
        i += 1;
        let after_equals = i;
        while at(i).is_some_and(is_space) {
            i += 1;
        }
        let value_start = i;
        let mut value = String::new();
        if chars.get(i) == Some(&'\'') {
            i += 1;
            loop {
                match chars.get(i) {
                    None => {
                        return Err(err(
                            value_start,
                            "a closing `'` for the value quoted here (unterminated quote)",
                        ));
                    }
                    Some('\\') => {
                        if let Some(&c) = chars.get(i + 1) {
                            value.push(c);
                        }
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(&c) => {
                        value.push(c);
                        i += 1;
                    }
                }
            }
            if at(i).is_some_and(|c| !is_space(c)) {
                return Err(err(i, "a space after the closing quote"));
            }
        } else {
            while at(i).is_some_and(|c| !is_space(c)) {
                if at(i) == Some('\\') {
                    if let Some(&c) = chars.get(i + 1) {
                        value.push(c);
                    }
                    i += 2;
                } else {
                    value.extend(at(i));
                    i += 1;
                }
            }
            let looks_like_a_pair = value
                .split_once('=')
                .is_some_and(|(k, _)| !k.is_empty() && k.chars().all(is_key_char));
            if value_start > after_equals && looks_like_a_pair {
                return Err(err(
                    value_start,
                    "a value after `=`, not the next keyword=value (write key='' for an empty value)",
                ));
            }
        }
        pairs.push(KeywordPair {
            key,
            value,
            position: key_start + 1,
        });
    }
}

/// Every `key=value` that can be made out of a keyword/value string, skipping what
/// cannot: for finding secrets to scrub, never for connecting (see
/// [`parse_keyword_dsn`]).
pub fn keyword_pairs(dsn: &str) -> Vec<(String, String)> {
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

/// One `key=value` of a URL query string, still percent-encoded, with the 1-based
/// character position of its key in the whole DSN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryPair<'a> {
    pub key: &'a str,
    pub value: &'a str,
    pub position: usize,
}

/// Checks what URL parsers disagree on, before any of them sees the DSN: white
/// space (a URL has none; two DSNs in one value do) and more than one `@` before the
/// host (libpq and tokio-postgres split at the first, the WHATWG URL parser at the
/// last: an unencoded `@` in a password makes its tail a host name for some).
/// Returns the base (scheme, authority, path) and the query pairs.
pub fn split_url(dsn: &str) -> Result<(&str, Vec<QueryPair<'_>>), String> {
    let position = |byte: usize| dsn[..byte].chars().count() + 1;
    if let Some(at) = dsn.find(char::is_whitespace) {
        return Err(format!(
            "at character {}: a URL holds no white space (percent-encode a space as %20)",
            position(at)
        ));
    }
    if let Some(hash) = dsn.find('#') {
        return Err(format!(
            "at character {}: a connection URL has no fragment (percent-encode `#` as %23)",
            position(hash)
        ));
    }
    let bytes = dsn.as_bytes();
    for (i, _) in dsn.match_indices('%') {
        let hex = |b: Option<&u8>| b.is_some_and(u8::is_ascii_hexdigit);
        if !(hex(bytes.get(i + 1)) && hex(bytes.get(i + 2))) {
            return Err(format!(
                "at character {}: `%` must start a percent-encoded byte such as %40 (write `%` itself as %25)",
                position(i)
            ));
        }
    }
    let Some((_, rest)) = dsn.split_once("://") else {
        return Err("expected scheme://".into());
    };
    let authority_start = dsn.len() - rest.len();
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    if authority.matches('@').count() > 1 {
        return Err(
            "more than one `@` before the host: percent-encode `@` in the user name or password as %40"
                .into(),
        );
    }
    let (base, query) = match dsn[authority_start..].find('?') {
        Some(q) => (&dsn[..authority_start + q], Some(authority_start + q + 1)),
        None => (dsn, None),
    };
    let mut pairs = Vec::new();
    if let Some(mut start) = query {
        for pair in dsn[start..].split('&') {
            if !pair.is_empty() {
                match pair.split_once('=') {
                    Some((key, value)) if !key.is_empty() => pairs.push(QueryPair {
                        key,
                        value,
                        position: position(start),
                    }),
                    Some(_) => {
                        return Err(format!(
                            "at character {}: expected a parameter name before `=`",
                            position(start)
                        ));
                    }
                    None => {
                        return Err(format!(
                            "at character {}: expected name=value in the query string",
                            position(start)
                        ));
                    }
                }
            }
            start += pair.len() + 1;
        }
    }
    Ok((base, pairs))
}

/// How many DSNs a value holds, counted by `scheme://`. Another exporter accepts
/// several in one value, separated by commas or spaces; here each needs its own
/// `--target` (or file entry), or its second password would end up in a name.
pub fn url_count(raw: &str) -> usize {
    raw.matches("://").count()
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
        assert_eq!(engine_of("postgres://u@h/db"), Some(Engine::PostgreSql));
        assert_eq!(engine_of("postgresql://u@h/db"), Some(Engine::PostgreSql));
        assert_eq!(engine_of("host=h user=u"), Some(Engine::PostgreSql));
        assert_eq!(engine_of("mysql://u:p@h:3306/"), Some(Engine::MySql));
        assert_eq!(engine_of("mariadb://u@h/"), Some(Engine::MySql));
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

    fn pairs(dsn: &str) -> Vec<(String, String)> {
        parse_keyword_dsn(dsn)
            .unwrap()
            .into_iter()
            .map(|p| (p.key, p.value))
            .collect()
    }

    fn kv(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn keyword_dsns_parse_as_libpq_does() {
        assert_eq!(
            pairs("host=h  port = 5432\tuser=u\n"),
            kv(&[("host", "h"), ("port", "5432"), ("user", "u")])
        );
        assert_eq!(
            pairs(r"password='a \'b\' c' dbname='' options=-c\ x=y"),
            kv(&[
                ("password", "a 'b' c"),
                ("dbname", ""),
                ("options", "-c x=y")
            ])
        );
        // `=` inside a value written right after `=` is the value's.
        assert_eq!(
            pairs("options=-cstatement_timeout=5 password=a=b"),
            kv(&[("options", "-cstatement_timeout=5"), ("password", "a=b")])
        );
        // An empty value at the end, and `key = value` with spaces.
        assert_eq!(pairs("host=h user="), kv(&[("host", "h"), ("user", "")]));
        assert_eq!(pairs("host = 'h'"), kv(&[("host", "h")]));
        // Repeats come back in order: the caller keeps the last, as libpq does.
        assert_eq!(
            pairs("sslmode=require sslmode=disable"),
            kv(&[("sslmode", "require"), ("sslmode", "disable")])
        );
        assert_eq!(pairs("  "), kv(&[]));
        // Non-ASCII white space is part of a value, as in libpq.
        assert_eq!(pairs("user=a\u{a0}b"), kv(&[("user", "a\u{a0}b")]));
    }

    #[test]
    fn keyword_dsn_errors_name_the_position_and_never_the_input() {
        let cases: [(&str, usize, &str); 9] = [
            (
                "host=db user=x junk dbname=foo sslmode=verify-full",
                16,
                "keyword=value",
            ),
            ("host=db user=x password=Secr3t Secr3tTail", 32, "quoted"),
            ("host=db password='Secr3t", 18, "unterminated"),
            ("host=db password='Secr3t\\'", 18, "unterminated"),
            ("host=db password= sslmode=disable", 19, "key=''"),
            ("password='Secr3t'x=1", 18, "space after the closing quote"),
            ("=Secr3t", 1, "keyword"),
            ("host=db sslmode", 9, "keyword=value"),
            ("ü=Secr3t host=h", 1, "keyword"),
        ];
        for (dsn, position, expected) in cases {
            let err = parse_keyword_dsn(dsn).unwrap_err();
            assert_eq!(err.position, position, "{dsn}: {err}");
            let text = err.to_string();
            assert!(text.contains(expected), "{dsn}: {text}");
            assert!(!text.contains("Secr3t"), "{dsn}: {text}");
        }
        // Positions count characters, not bytes.
        let err = parse_keyword_dsn("user=üüü junk=x ü").unwrap_err();
        assert_eq!(err.position, 17);
        let err = parse_keyword_dsn("user=üüü junk").unwrap_err();
        assert_eq!(err.position, 10);
    }

    #[test]
    fn lenient_pairs_find_passwords_past_a_stray_token() {
        let p = passwords_in("host=h junk password=hunter2 'x");
        assert_eq!(p, vec!["hunter2".to_string()]);
        let p = passwords_in("host=h password='hunter2");
        assert_eq!(p, vec!["hunter2".to_string()]);
    }

    #[test]
    fn urls_are_split_completely() {
        let (base, pairs) =
            split_url("postgres://u:p@h/db?sslmode=verify-full&&application_name=a%20b&").unwrap();
        assert_eq!(base, "postgres://u:p@h/db");
        let got: Vec<_> = pairs.iter().map(|p| (p.key, p.value, p.position)).collect();
        assert_eq!(
            got,
            vec![
                ("sslmode", "verify-full", 21),
                ("application_name", "a%20b", 42)
            ]
        );
        let (base, pairs) = split_url("mysql://u@h:3306/").unwrap();
        assert_eq!(base, "mysql://u@h:3306/");
        assert!(pairs.is_empty());
        // An `@` after the host (in the path or query) is not userinfo.
        assert!(split_url("postgres://u@h/db?options=a@b").is_ok());
    }

    #[test]
    fn url_errors_name_the_position_and_never_the_input() {
        for (dsn, expected) in [
            (
                "postgres://u:Secr3t@h/db?sslmode",
                "at character 26: expected name=value",
            ),
            (
                "postgres://u:Secr3t@h/db?a=1&=Secr3t",
                "at character 30: expected a parameter name",
            ),
            ("postgres://u:Secr3t@x@h/db", "%40"),
            ("mysql://u:Secr3t@x@h/", "%40"),
            (
                "postgres://u:Secr3t@h/db postgres://h2",
                "at character 25: a URL holds no white space",
            ),
        ] {
            let err = split_url(dsn).unwrap_err();
            assert!(err.contains(expected), "{dsn}: {err}");
            assert!(!err.contains("Secr3t"), "{dsn}: {err}");
        }
    }

    #[test]
    fn dsns_are_counted_by_scheme() {
        assert_eq!(url_count("postgres://u@h/db"), 1);
        assert_eq!(url_count("postgres://a@h1/db,postgres://b@h2/db"), 2);
        assert_eq!(url_count("host=h user=u"), 0);
        // Several hosts in one URL are one DSN.
        assert_eq!(url_count("postgres://u@h1:5432,h2:5432/db"), 1);
    }

    #[test]
    fn percent_decoding_tolerates_bad_escapes() {
        assert_eq!(percent_decode("a%20b"), "a b");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("a%zzb"), "a%zzb");
        assert_eq!(percent_decode("%"), "%");
    }
}
