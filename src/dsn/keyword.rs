//! libpq's keyword/value syntax (`host=a port=5432 password='x y'`), read strictly:
//! a character the parser does not understand is an error at its position, never a
//! guess, because a guess about where a value ends can put half a password in a
//! host name.

use std::fmt;

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
pub(super) fn is_space(c: char) -> bool {
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
            return Err(syntax_error(
                i,
                "a keyword (letters, digits and `_`) starting a keyword=value pair",
            ));
        }
        let key: String = chars.get(key_start..i).unwrap_or_default().iter().collect();
        while at(i).is_some_and(is_space) {
            i += 1;
        }
        if at(i) != Some('=') {
            return Err(syntax_error(
                key_start,
                "keyword=value here (a value holding spaces must be quoted: key='a b')",
            ));
        }
        i += 1;
        let after_equals = i;
        while at(i).is_some_and(is_space) {
            i += 1;
        }
        let (value, next) = if at(i) == Some('\'') {
            quoted_value(&chars, i)?
        } else {
            bare_value(&chars, i, after_equals)?
        };
        i = next;
        pairs.push(KeywordPair {
            key,
            value,
            position: key_start + 1,
        });
    }
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The error at 0-based character `i`.
fn syntax_error(i: usize, expected: &str) -> SyntaxError {
    SyntaxError {
        position: i + 1,
        expected: expected.to_string(),
    }
}

/// The value quoted at `start` (its opening `'`), and where the pair after it starts.
fn quoted_value(chars: &[char], start: usize) -> Result<(String, usize), SyntaxError> {
    let mut value = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            None => {
                return Err(syntax_error(
                    start,
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
    if chars.get(i).is_some_and(|&c| !is_space(c)) {
        return Err(syntax_error(i, "a space after the closing quote"));
    }
    Ok((value, i))
}

/// The unquoted value at `start` (a run of non-space characters), and where it ends.
/// `after_equals` is where the value could have started: a space before a value that
/// looks like the next pair means the value was left empty by mistake.
fn bare_value(
    chars: &[char],
    start: usize,
    after_equals: usize,
) -> Result<(String, usize), SyntaxError> {
    let at = |i: usize| chars.get(i).copied();
    let mut value = String::new();
    let mut i = start;
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
    if start > after_equals && looks_like_a_pair {
        return Err(syntax_error(
            start,
            "a value after `=`, not the next keyword=value (write key='' for an empty value)",
        ));
    }
    Ok((value, i))
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
}
