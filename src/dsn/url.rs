//! URL-form DSNs (`postgres://`, `mysql://`): what URL parsers disagree on is refused
//! before any of them sees the string, and the query string is split here so each
//! engine only has to know its own parameter names.

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

#[cfg(test)]
mod tests {
    use super::*;

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
