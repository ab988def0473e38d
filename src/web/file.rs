//! The web configuration file as the Prometheus exporter-toolkit defines it, key for
//! key, so that a file written for postgres_exporter or mysqld_exporter is read
//! here unchanged. Unknown keys are refused (the toolkit reads strictly too): a
//! misspelt `client_auth_type` must not leave the endpoint open. Parse errors go
//! through the configuration's scrubber, because the file holds bcrypt hashes and
//! possibly an inline private key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::config::yaml_error;
use crate::files::read_small_file;

/// The largest web configuration file read.
const MAX_WEB_FILE_BYTES: u64 = 1 << 20;

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct WebFile {
    pub(super) tls_server_config: Option<TlsFile>,
    pub(super) http_server_config: Option<HttpFile>,
    pub(super) basic_auth_users: Option<BTreeMap<String, String>>,
    pub(super) rate_limit: Option<RateLimitFile>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct TlsFile {
    pub(super) cert: Option<String>,
    pub(super) key: Option<String>,
    pub(super) client_ca: Option<String>,
    pub(super) cert_file: Option<PathBuf>,
    pub(super) key_file: Option<PathBuf>,
    pub(super) client_auth_type: Option<String>,
    pub(super) client_ca_file: Option<PathBuf>,
    pub(super) cipher_suites: Option<Vec<String>>,
    pub(super) curve_preferences: Option<Vec<String>>,
    pub(super) min_version: Option<String>,
    pub(super) max_version: Option<String>,
    pub(super) prefer_server_cipher_suites: Option<bool>,
    pub(super) client_allowed_sans: Option<Vec<String>>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct HttpFile {
    pub(super) http2: Option<bool>,
    pub(super) headers: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RateLimitFile {
    pub(super) burst: Option<u32>,
    pub(super) interval: Option<String>,
}

/// Reads and parses the file named by `--web.config.file`.
pub(super) fn read(path: &Path) -> Result<WebFile, String> {
    let bytes = read_small_file(path, MAX_WEB_FILE_BYTES, "web configuration file")
        .map_err(|e| format!("web config file: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        format!(
            "web config file {}: not UTF-8 (byte {})",
            path.display(),
            e.utf8_error().valid_up_to() + 1
        )
    })?;
    parse(&text).map_err(|e| format!("web config file {}: {e}", path.display()))
}

pub(super) fn parse(text: &str) -> Result<WebFile, String> {
    if text.trim().is_empty() {
        return Ok(WebFile::default());
    }
    serde_saphyr::from_str::<WebFile>(text).map_err(|e| yaml_error(&e, text))
}

/// A path from the file, relative to the file's directory as the toolkit resolves
/// it; an empty string means "not set", as in the toolkit.
pub(super) fn resolve(dir: &Path, path: Option<&PathBuf>) -> Option<PathBuf> {
    let path = path.filter(|p| !p.as_os_str().is_empty())?;
    Some(if path.is_absolute() {
        path.clone()
    } else {
        dir.join(path)
    })
}

/// A Go duration (`1s`, `1m30s`, `250ms`, `1.5h`), as the toolkit reads
/// `rate_limit.interval`.
pub(super) fn go_duration(text: &str) -> Result<Duration, String> {
    const INVALID: &str = "invalid duration (use 250ms, 1s, 1m30s)";
    let t = text.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    if t.is_empty() {
        return Err(INVALID.into());
    }
    let mut total = 0.0_f64;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("{INVALID}: missing unit"))?;
        let (number, after) = rest.split_at(digits);
        let number: f64 = number.parse().map_err(|_| INVALID.to_string())?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let factor = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(format!("{INVALID}: unknown unit")),
        };
        total += number * factor;
        rest = after;
    }
    Duration::try_from_secs_f64(total).map_err(|_| INVALID.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_toolkit_documentation_example_is_read() {
        let f = parse(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
             client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  \
             min_version: TLS12\n  max_version: TLS13\n  prefer_server_cipher_suites: true\n  \
             cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n  \
             curve_preferences: [X25519]\n\
             http_server_config:\n  http2: true\n  headers:\n    Strict-Transport-Security: max-age=31536000\n\
             basic_auth_users:\n  alice: $2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n\
             rate_limit:\n  interval: 1s\n  burst: 5\n",
        )
        .unwrap();
        let tls = f.tls_server_config.unwrap();
        assert_eq!(tls.cert_file, Some(PathBuf::from("server.crt")));
        assert_eq!(tls.min_version.as_deref(), Some("TLS12"));
        assert_eq!(f.basic_auth_users.unwrap().len(), 1);
        assert_eq!(f.rate_limit.unwrap().burst, Some(5));
        assert!(parse("").unwrap().tls_server_config.is_none());
    }

    #[test]
    fn unknown_keys_are_refused_and_values_never_quoted() {
        let err = parse("tls_server_config:\n  cert_filse: TopSecret.crt\n").unwrap_err();
        assert!(err.contains("unknown field `cert_filse`"), "{err}");
        assert!(!err.contains("TopSecret"), "{err}");
        let err = parse("basic_auth_users: [TopSecretHash]\n").unwrap_err();
        assert!(err.contains("line 1"), "{err}");
        assert!(!err.contains("TopSecret"), "{err}");
        let err = parse("basic_auth_users:\n  a: x\n  a: TopSecretHash\n").unwrap_err();
        assert!(err.contains("duplicate"), "{err}");
        assert!(!err.contains("TopSecret"), "{err}");
        // A hash as a user name, twice: the duplicate key is not quoted.
        let h = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";
        let err = parse(&format!("basic_auth_users:\n  {h}: a\n  {h}: b\n")).unwrap_err();
        assert!(
            err.contains("line 3, column 3: duplicate mapping key"),
            "{err}"
        );
        assert!(!err.contains("QOauh") && !err.contains("$2y$"), "{err}");
        let err = parse("hWkNKCp3fvIx3jKnsaBI\nTuEjdwNS8A2vYdFbiKqr\n").unwrap_err();
        assert!(!err.contains("hWkNKCp3"), "{err}");
    }

    #[test]
    fn paths_are_relative_to_the_file() {
        let dir = Path::new("/etc/exporter");
        assert_eq!(
            resolve(dir, Some(&PathBuf::from("tls/a.crt"))),
            Some(PathBuf::from("/etc/exporter/tls/a.crt"))
        );
        assert_eq!(
            resolve(dir, Some(&PathBuf::from("/x/a.crt"))),
            Some(PathBuf::from("/x/a.crt"))
        );
        assert_eq!(resolve(dir, Some(&PathBuf::new())), None);
        assert_eq!(resolve(dir, None), None);
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("1s").unwrap(), Duration::from_secs(1));
        assert_eq!(go_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(go_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(go_duration("0").unwrap(), Duration::ZERO);
        assert!(go_duration("5").is_err());
        assert!(go_duration("1d").is_err());
        assert!(go_duration("").is_err());
    }
}
