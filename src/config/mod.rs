//! Flags, environment and the YAML file, merged into one validated [`Config`].
//!
//! Everything a user can get wrong is caught here, before the server starts, with a
//! message that names the place (file, line, column, key, target) and never the
//! password. The rest of the program only ever sees a valid configuration.
//!
//! The flow: [`Config::load`] reads the file (`file`), fills the collection
//! settings from it (`collection`), builds a target from every `--target` and file
//! entry (`targets`), and checks the one web flag that becomes a route.

mod collection;
mod file;
mod incident;
mod targets;

pub use collection::{Collection, SessionMode};
/// The web configuration file's errors are scrubbed the same way.
pub(crate) use file::yaml_error;
pub use incident::IncidentSettings;
/// Also reads the certificate files a DSN names (`engines::tls`, through `dsn`).
pub use targets::{Identity, TargetSpec};

/// Kept for callers that name the flags through this path.
pub use crate::cli::Cli;

/// A validated configuration.
#[derive(Debug)]
pub struct Config {
    pub targets: Vec<TargetSpec>,
    pub collection: Collection,
    pub listen_address: String,
    pub telemetry_path: String,
}

/// A configuration error, ready to print.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl Config {
    /// Builds the configuration from parsed flags (and the environment they read).
    pub fn load(cli: &Cli) -> Result<Config, ConfigError> {
        let file = match &cli.config_file {
            Some(path) => file::read_file(path)?,
            None => file::FileConfig::default(),
        };
        let collection = Collection::from_file(&file.collection, &file.incident)?;
        let targets = targets::targets(&cli.targets, &file.targets, collection.connect_timeout)?;
        validate_telemetry_path(&cli.telemetry_path)?;
        Ok(Config {
            targets,
            collection,
            listen_address: cli.listen_address.clone(),
            telemetry_path: cli.telemetry_path.clone(),
        })
    }
}

/// Checks `--web.telemetry-path`. It becomes a route, and the router reads `:name`,
/// `{name}` and `*name` as parameters (`/{x}` would serve metrics on every path, `/:x`
/// panics at start): only literal segments of unreserved URL characters are taken.
fn validate_telemetry_path(path: &str) -> Result<(), ConfigError> {
    let bad = |why: &str| {
        ConfigError(format!(
            "--web.telemetry-path {path:?}: {why}; use `/`-separated segments of letters, digits, `-`, `.`, `_` and `~`, such as /metrics"
        ))
    };
    let Some(rest) = path.strip_prefix('/') else {
        return Err(bad("must start with /"));
    };
    if rest.is_empty() {
        return Err(bad("must not be / alone (/ is the landing page)"));
    }
    for segment in rest.split('/') {
        if segment.is_empty() {
            return Err(bad("has an empty segment (`//` or a trailing /)"));
        }
        if !segment
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~'))
        {
            return Err(bad("is not a literal path"));
        }
        if segment == "." || segment == ".." {
            return Err(bad("has a `.` or `..` segment"));
        }
    }
    if [
        "/probe",
        "/discovery",
        "/-/healthy",
        "/-/ready",
        "/-/reload",
        "/incident",
        "/api/v1/incident",
    ]
    .contains(&path)
    {
        return Err(ConfigError(format!(
            "--web.telemetry-path {path:?} collides with a built-in route"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::path::PathBuf;
    use std::time::Duration;

    fn cli(args: &[&str]) -> Cli {
        let mut all = vec!["dbconn_exporter"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).unwrap()
    }

    fn write(text: &str) -> (tempdir::Dir, PathBuf) {
        let dir = tempdir::Dir::new();
        let path = dir.0.join("config.yml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                use std::sync::atomic::{AtomicU32, Ordering};
                static N: AtomicU32 = AtomicU32::new(0);
                let p = std::env::temp_dir().join(format!(
                    "dbconn-config-test-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    fn load_file(text: &str) -> Result<Config, ConfigError> {
        let (_dir, path) = write(text);
        Config::load(&cli(&["--config.file", path.to_str().unwrap()]))
    }

    fn load_flags(args: &[&str]) -> Result<Config, ConfigError> {
        Config::load(&cli(args))
    }

    /// The error a configuration was refused with.
    fn refusal(loaded: Result<Config, ConfigError>) -> String {
        loaded.unwrap_err().to_string()
    }

    #[test]
    fn a_flag_target_gets_a_derived_name() {
        let c = load_flags(&["--target", "postgres://u@db:5432/app"]).unwrap();
        assert_eq!(c.targets[0].name, "db:5432/app");
        let c = load_flags(&["--target", "main=postgres://u@db:5432/app"]).unwrap();
        assert_eq!(c.targets[0].name, "main");
        let c = load_flags(&["--target", "host=db user=u dbname=x"]).unwrap();
        assert_eq!(c.targets[0].name, "db:5432/x");
    }

    #[test]
    fn a_file_with_several_targets_loads() {
        let c = load_file(
            "targets:\n  - name: a\n    dsn: postgres://u@h1/db\n  - name: b\n    dsn: postgres://u@h2/db\n\
             collection:\n  origin_cap: 7\n  duration_thresholds: [1m, 30s, 90]\n  statement_timeout: 2s\n  lock_timeout: 500ms\n",
        )
        .unwrap();
        assert_eq!(c.targets.len(), 2);
        assert_eq!(c.collection.origin_cap, 7);
        assert_eq!(c.collection.thresholds, vec![30.0, 60.0, 90.0]);
        assert_eq!(c.collection.lock_timeout, Duration::from_millis(500));
    }

    #[test]
    fn duplicate_names_are_refused() {
        let err = refusal(load_file(
            "targets:\n  - name: a\n    dsn: postgres://u@h1/db\n  - name: a\n    dsn: postgres://u@h2/db\n",
        ));
        assert!(err.contains("duplicate target name \"a\""), "{err}");
    }

    #[test]
    fn a_bad_dsn_is_an_error_without_the_password() {
        let err = refusal(load_file(
            "targets:\n  - name: a\n    dsn: postgres://u:hunter2@h:99999/db\n",
        ));
        assert!(err.contains("targets[0]"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let err = refusal(load_flags(&["--target", "redis://u:hunter2@h"]));
        assert!(err.contains("cannot tell the engine"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn no_target_is_an_error() {
        let err = refusal(load_flags(&[]));
        assert!(err.contains("no targets configured"), "{err}");
    }

    #[test]
    fn password_files_are_read_and_trimmed() {
        let dir = tempdir::Dir::new();
        let pw = dir.0.join("pw");
        std::fs::write(&pw, "s3cret\n").unwrap();
        let c = load_file(&format!(
            "targets:\n  - name: a\n    dsn: postgres://u@h/db\n    password_file: {}\n",
            pw.display()
        ))
        .unwrap();
        assert_eq!(c.targets[0].name, "a");
        let err = refusal(load_file(
            "targets:\n  - name: a\n    dsn: postgres://u@h/db\n    password_file: /nonexistent/pw\n",
        ));
        assert!(err.contains("password_file"), "{err}");
    }

    /// The identity of the one target `text` configures.
    fn identity(text: &str) -> Identity {
        let mut c = load_file(text).unwrap();
        c.targets.remove(0).identity
    }

    #[test]
    fn a_target_is_the_same_while_what_its_session_is_opened_with_is() {
        let dir = tempdir::Dir::new();
        let (pw, ca) = (dir.0.join("pw"), dir.0.join("ca.pem"));
        std::fs::write(&pw, "s3cret\n").unwrap();
        std::fs::write(&ca, crate::engines::tls::tests::CA).unwrap();
        let text = |timeout: &str| {
            format!(
                "targets:\n  - name: a\n    dsn: postgres://u@h/db?sslmode=verify-full&sslrootcert={}\n    password_file: {}\n\
                 collection:\n  connect_timeout: {timeout}\n",
                ca.display(),
                pw.display()
            )
        };
        let first = identity(&text("5s"));
        assert_eq!(identity(&text("5s")), first);
        // Read again, and only the files' content changed: another target.
        std::fs::write(&pw, "rotated\n").unwrap();
        let rotated = identity(&text("5s"));
        assert_ne!(rotated, first);
        let ca_text = crate::engines::tls::tests::CA;
        std::fs::write(&ca, format!("{ca_text}{ca_text}")).unwrap();
        assert_ne!(identity(&text("5s")), rotated);
        let two_roots = identity(&text("5s"));
        assert_ne!(identity(&text("7s")), two_roots);
        // Settings a session is not opened with do not make another target.
        let more = text("5s") + "  origin_cap: 3\n";
        assert_eq!(identity(&more), two_roots);
        // It prints as nothing.
        assert_eq!(format!("{two_roots:?}"), "Identity(..)");
    }

    #[test]
    fn telemetry_paths_must_be_literal() {
        for good in ["/metrics", "/a/b", "/x-y_z.v~1"] {
            assert!(validate_telemetry_path(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/",
            "metrics",
            "/:x",
            "/{x}",
            "/*x",
            "/a//b",
            "/a/",
            "/a b",
            "/%2e",
            "/..",
            "/a/./b",
            "/probe",
            "/discovery",
            "/-/ready",
            "/-/reload",
            "/incident",
            "/api/v1/incident",
            "/ü",
        ] {
            let err = validate_telemetry_path(bad).unwrap_err().to_string();
            assert!(err.contains("--web.telemetry-path"), "{bad}: {err}");
        }
    }

    #[test]
    fn one_value_holds_one_dsn() {
        for value in [
            "postgres://a:pw1@h1/db,postgres://b:hunter2@h2/db",
            "postgres://a:pw1@h1/db postgres://b:hunter2@h2/db",
            "a=mysql://a:pw1@h1/,b=mysql://b:hunter2@h2/",
        ] {
            let err = refusal(load_flags(&["--target", value]));
            assert!(err.contains("holds 2 DSNs"), "{err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
        let err = refusal(load_file(
            "targets:\n  - name: a\n    dsn: postgres://a:pw1@h1/db,postgres://b:hunter2@h2/db\n",
        ));
        assert!(
            err.contains("targets[0]") && err.contains("holds 2 DSNs"),
            "{err}"
        );
    }

    #[test]
    fn a_derived_name_never_holds_the_password() {
        let err = refusal(load_flags(&[
            "--target",
            "postgres://postgres:postgres@h/postgres",
        ]));
        assert!(err.contains("name the target"), "{err}");
        let c = load_flags(&["--target", "pg=postgres://postgres:postgres@h/postgres"]).unwrap();
        assert_eq!(c.targets[0].name, "pg");
        let dir = tempdir::Dir::new();
        let pw = dir.0.join("pw");
        std::fs::write(&pw, "orders\n").unwrap();
        let err = refusal(load_file(&format!(
            "targets:\n  - dsn: postgres://u@h/orders\n    password_file: {}\n",
            pw.display()
        )));
        assert!(err.contains("name the target"), "{err}");
    }
}
