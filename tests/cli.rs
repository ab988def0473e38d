//! Bad input gets a clear error and a non-zero exit, and never shows a password.
//! These run the real binary; no database is needed.

mod support;

use support::exporter::Exporter;

fn config(text: &str) -> (tempdir::Dir, String) {
    let dir = tempdir::Dir::new();
    let path = dir.0.join("config.yml");
    std::fs::write(&path, text).unwrap();
    (dir, format!("--config.file={}", path.display()))
}

mod tempdir {
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new() -> Dir {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let p = std::env::temp_dir().join(format!(
                "dbconn-cli-test-{}-{}",
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

/// Runs the exporter expecting it to refuse to start; returns what it printed.
fn refused(args: &[String]) -> String {
    let (status, output) = Exporter::start_expect_failure(args);
    assert!(!status.success(), "exporter started with {args:?}");
    assert!(
        !output.contains("hunter2"),
        "the password leaked into the error output:\n{output}"
    );
    output
}

#[test]
fn a_yaml_syntax_error_names_the_line() {
    let (_d, arg) =
        config("targets:\n  - name: a\n    dsn: postgres://u:hunter2@h/db\n  - [broken\n");
    let out = refused(&[arg]);
    assert!(out.contains("config.yml"), "{out}");
    assert!(
        out.contains('4') && out.contains("line"),
        "no line number in: {out}"
    );
}

#[test]
fn an_unknown_key_is_named() {
    let (_d, arg) =
        config("targets:\n  - name: a\n    dsn: postgres://u:hunter2@h/db\n    pasword: x\n");
    let out = refused(&[arg]);
    assert!(out.contains("pasword"), "{out}");
}

#[test]
fn a_dsn_that_does_not_parse_is_refused_without_its_password() {
    let out = refused(&["--target=postgres://u:hunter2@h:notaport/db".into()]);
    assert!(out.contains("invalid PostgreSQL DSN"), "{out}");
    let out = refused(&["--target=ftp://u:hunter2@h/".into()]);
    assert!(out.contains("cannot tell the engine"), "{out}");
    let out = refused(&["--target=host=h user=u password=hunter2 sslmode=sometimes".into()]);
    assert!(out.contains("sslmode"), "{out}");
}

#[test]
fn duplicate_target_names_are_refused() {
    let (_d, arg) = config(
        "targets:\n  - name: a\n    dsn: postgres://u@h1/db\n  - name: a\n    dsn: postgres://u@h2/db\n",
    );
    let out = refused(&[arg]);
    assert!(out.contains("duplicate target name \"a\""), "{out}");
    // A flag target and a file target can collide too.
    let (_d, arg) = config("targets:\n  - name: a\n    dsn: postgres://u@h1/db\n");
    let out = refused(&[arg, "--target=a=postgres://u@h2/db".into()]);
    assert!(out.contains("duplicate target name"), "{out}");
}

#[test]
fn no_target_is_refused() {
    let out = refused(&[]);
    assert!(out.contains("no targets configured"), "{out}");
}

#[test]
fn bad_flags_are_refused() {
    let out = refused(&[
        "--target=postgres://u@h/db".into(),
        "--log.format=xml".into(),
    ]);
    assert!(out.contains("log.format"), "{out}");
    let out = refused(&[
        "--target=postgres://u@h/db".into(),
        "--web.telemetry-path=metrics".into(),
    ]);
    assert!(out.contains("telemetry-path"), "{out}");
    let out = refused(&[
        "--target=postgres://u@h/db".into(),
        "--web.listen-address=256.0.0.1:99999".into(),
    ]);
    assert!(out.contains("cannot listen"), "{out}");
}

#[test]
fn config_check_validates_and_exits() {
    let (_d, arg) = config(
        "targets:\n  - name: a\n    dsn: postgres://u:hunter2@h1/db\n  - name: b\n    dsn: postgres://u@h2/db\n",
    );
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dbconn_exporter"))
        .args([arg.as_str(), "--config.check"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("2 target(s): a, b"), "{stdout}");
    assert!(!stdout.contains("hunter2"));
}
