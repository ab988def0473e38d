//! The `incident` command: one report, printed, then exit.
//!
//! With `--exporter` the report comes from a running exporter, which reads through
//! the session it already holds: at a full server that is the one way in, and the
//! command adds no login. Without it the command is its own one-target exporter for
//! a moment: the DSN goes through the configuration's checks, one [`Target`] opens
//! one session, makes one incident read, and closes it.

use std::time::Duration;

use crate::cli::IncidentArgs;
use crate::dsn::Secret;
use crate::incident::fetch::{ExporterUrl, FetchError, Request, fetch};
use crate::incident::report::{Report, SCHEMA_VERSION};
use crate::incident::{analyze, text};
use crate::target::{IncidentError, Target};

/// The environment variable the basic authentication password is read from.
pub const PASSWORD_ENV: &str = "DBCONN_INCIDENT_PASSWORD";

/// Runs the command and returns what to print; an error is a message safe to print.
pub async fn run(args: &IncidentArgs) -> Result<String, String> {
    let timeout = Duration::from_secs_f64(args.timeout);
    let json = args.output == "json";
    match &args.exporter {
        Some(url) => {
            let password = std::env::var(PASSWORD_ENV).ok().map(Secret::new);
            let body = remote(args, url, password, timeout).await?;
            render_body(&body, json)
        }
        None => {
            if args.basic_auth_user.is_some() || args.ca_file.is_some() {
                return Err(
                    "--basic-auth-user and --ca-file are for --exporter; without it --target is a DSN read directly"
                        .into(),
                );
            }
            let report = local(args, timeout).await?;
            if json {
                serde_json::to_string_pretty(&report)
                    .map(|s| s + "\n")
                    .map_err(|e| format!("cannot write the report as JSON: {e}"))
            } else {
                Ok(text::render(&report))
            }
        }
    }
}

/// Basic authentication from `--basic-auth-user` and [`PASSWORD_ENV`], or from the
/// URL's user information.
pub fn credentials(
    url: &ExporterUrl,
    flag_user: Option<&str>,
    env_password: Option<Secret>,
) -> Result<Option<(String, Secret)>, String> {
    let user = flag_user.map(str::to_string).or_else(|| url.user.clone());
    let password = env_password.or_else(|| url.password.clone());
    match (user, password) {
        (Some(u), Some(p)) => Ok(Some((u, p))),
        (Some(u), None) => Err(format!(
            "basic authentication user {u:?} has no password: set {PASSWORD_ENV}"
        )),
        (None, Some(_)) => Err(format!(
            "{PASSWORD_ENV} is set but no user is given: add --basic-auth-user"
        )),
        (None, None) => Ok(None),
    }
}

async fn remote(
    args: &IncidentArgs,
    raw_url: &str,
    env_password: Option<Secret>,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    if args.config_file.is_some() {
        return Err(
            "--config.file is for reading a DSN directly; with --exporter the exporter's own configuration applies"
                .into(),
        );
    }
    let url = ExporterUrl::parse(raw_url).map_err(|e| e.to_string())?;
    if args.ca_file.is_some() && !url.https {
        return Err("--ca-file needs an https:// exporter URL".into());
    }
    let basic_auth = credentials(&url, args.basic_auth_user.as_deref(), env_password)?;
    let body = fetch(&Request {
        url: &url,
        target: &args.target,
        basic_auth,
        ca_file: args.ca_file.as_deref(),
        timeout,
    })
    .await
    .map_err(|e: FetchError| e.to_string())?;
    Ok(body.to_vec())
}

/// The body as received (pretty-printed) for `json`; rendered for `text`.
pub fn render_body(body: &[u8], json: bool) -> Result<String, String> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| format!("the exporter's answer is not JSON: {e}"))?;
    if json {
        return serde_json::to_string_pretty(&value)
            .map(|s| s + "\n")
            .map_err(|e| format!("cannot write the report as JSON: {e}"));
    }
    let version = value
        .get("schema_version")
        .and_then(serde_json::Value::as_u64);
    if version != Some(u64::from(SCHEMA_VERSION)) {
        return Err(format!(
            "the exporter's report has schema version {}, this command renders {SCHEMA_VERSION}; use --output json",
            version.map_or_else(|| "(none)".to_string(), |v| v.to_string())
        ));
    }
    let report: Report = serde_json::from_value(value).map_err(|e| {
        format!("the exporter's report does not read as schema {SCHEMA_VERSION}: {e}")
    })?;
    Ok(text::render(&report))
}

async fn local(args: &IncidentArgs, timeout: Duration) -> Result<Report, String> {
    let (spec, collection) =
        crate::config::incident_target(&args.target, args.config_file.as_deref())
            .map_err(|e| e.to_string())?;
    let name = spec.name.clone();
    let target = Target::new(
        spec.name,
        spec.connector,
        collection.read_settings(),
        collection.policy(),
    );
    let deadline = tokio::time::Instant::now() + timeout;
    let scene = target.incident(deadline).await;
    // Close the session before printing; a login the server never answered is not
    // waited for past a few seconds (the process exit closes its socket).
    let _ = tokio::time::timeout(Duration::from_secs(5), target.retire()).await;
    let scene = scene.map_err(|e| match e {
        IncidentError::Timeout => format!(
            "no incident read of {name} within {} s (connect and read)",
            args.timeout
        ),
        IncidentError::Unavailable(_) => format!(
            "no incident read of {name}: the connection or the read failed (the log lines above say why)"
        ),
    })?;
    Ok(analyze(&name, &scene, &collection.incident.options))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(raw: &str) -> ExporterUrl {
        ExporterUrl::parse(raw).unwrap()
    }

    #[test]
    fn credentials_come_from_the_flag_and_the_environment_first() {
        let u = url("http://urluser:urlpass@h:1");
        let (user, pass) = credentials(&u, Some("ops"), Some(Secret::new("envpass")))
            .unwrap()
            .unwrap();
        assert_eq!((user.as_str(), pass.expose()), ("ops", "envpass"));
        let (user, pass) = credentials(&u, None, None).unwrap().unwrap();
        assert_eq!((user.as_str(), pass.expose()), ("urluser", "urlpass"));
        assert_eq!(credentials(&url("http://h:1"), None, None).unwrap(), None);
        let e = credentials(&url("http://h:1"), Some("ops"), None).unwrap_err();
        assert!(e.contains(PASSWORD_ENV), "{e}");
        let e = credentials(&url("http://h:1"), None, Some(Secret::new("hunter2"))).unwrap_err();
        assert!(
            e.contains("--basic-auth-user") && !e.contains("hunter2"),
            "{e}"
        );
    }

    #[test]
    fn a_body_renders_as_text_or_as_pretty_json() {
        use crate::incident::analyze::tests::{payflow_sessions, scene};
        let s = scene(
            crate::model::Engine::PostgreSql,
            103,
            3,
            &[],
            payflow_sessions(),
        );
        let report = analyze("payflow-db", &s, &crate::incident::Options::default());
        let mut body = serde_json::to_value(&report).unwrap();
        // A field a newer exporter adds is kept in the JSON output.
        body["added_later"] = serde_json::json!(1);
        let bytes = serde_json::to_vec(&body).unwrap();
        let json = render_body(&bytes, true).unwrap();
        assert!(json.contains("\n  \"added_later\": 1"), "{json}");
        let text = render_body(&bytes, false).unwrap();
        assert!(
            text.starts_with("Target payflow-db (postgresql 16.4)"),
            "{text}"
        );
        body["schema_version"] = serde_json::json!(2);
        let e = render_body(&serde_json::to_vec(&body).unwrap(), false).unwrap_err();
        assert!(
            e.contains("schema version 2") && e.contains("--output json"),
            "{e}"
        );
        let e = render_body(b"<html>", false).unwrap_err();
        assert!(e.contains("not JSON"), "{e}");
    }
}
