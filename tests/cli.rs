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

/// Runs the binary under a 1 GiB address-space limit (an input that is read without
/// bound must fail here, not take the machine's memory), with `env` set, and kills it
/// after 10 s. Returns the exit code (`None` when killed by a signal) and everything it
/// printed.
fn run_bounded(args: &[String], env: &[(&str, &str)]) -> (Option<i32>, String) {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -v 1048576; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_dbconn_exporter"))
        .args(args)
        .env_remove("DBCONN_TARGET")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "the exporter was still running after 10 s with {args:?}:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), printed)
}

/// A configuration error: exit code 1 (as the README says), a message, no password.
fn config_error(args: &[String], env: &[(&str, &str)]) -> String {
    let (code, out) = run_bounded(args, env);
    assert_eq!(
        code,
        Some(1),
        "expected a configuration error (exit 1):\n{out}"
    );
    assert!(
        out.contains("configuration error"),
        "not a configuration error:\n{out}"
    );
    for secret in ["hunter2", "TopSecretPw", "pw1", "pw2"] {
        assert!(
            !out.contains(secret),
            "the password {secret} leaked into the error output:\n{out}"
        );
    }
    out
}

fn check(target: &str) -> Vec<String> {
    vec![format!("--target={target}"), "--config.check".into()]
}

#[test]
fn a_keyword_dsn_with_a_stray_token_is_refused_at_its_position() {
    // Before: the string was cut at `junk`, sslmode and dbname dropped, and the
    // exporter connected in plain text.
    let out = config_error(
        &check("host=db user=x junk dbname=foo sslmode=verify-full"),
        &[],
    );
    assert!(out.contains("character 16"), "{out}");
    // The stray token may be the tail of an unquoted password: never echoed.
    let out = config_error(
        &check("host=db user=x password=hunter2 TopSecretPw dbname=foo"),
        &[],
    );
    assert!(out.contains("character 33"), "{out}");
    assert!(out.contains("quote"), "{out}");
    // An unterminated quote.
    let out = config_error(
        &check("host=db user=x password='hunter2 dbname=foo sslmode=verify-full"),
        &[],
    );
    assert!(out.contains("character 25"), "{out}");
    assert!(out.contains("unterminated"), "{out}");
    // `key= next=…` would make `next=…` the value (libpq does): ambiguous, refused.
    let out = config_error(&check("host=db user=x password= sslmode=verify-full"), &[]);
    assert!(out.contains("character 26"), "{out}");
    // What libpq accepts still parses.
    let (code, out) = run_bounded(
        &check(r"host = db  user=x password='a \'b\' c' dbname='' sslmode=verify-full"),
        &[],
    );
    assert_eq!(code, Some(0), "{out}");
}

#[test]
fn url_query_strings_are_parsed_completely() {
    for dsn in [
        "postgres://u:hunter2@h/db?application_name&sslmode=verify-full",
        "postgres://u:hunter2@h/db?sslmode=verify-full&=x",
        "mysql://u:hunter2@h/?ssl-mode=required&verify",
        "mysql://u:hunter2@h/?=x&ssl-mode=required",
    ] {
        let out = config_error(&check(dsn), &[]);
        assert!(out.contains("character"), "{dsn}: {out}");
    }
}

#[test]
fn help_does_not_print_the_target_from_the_environment() {
    let (code, out) = run_bounded(
        &["--help".into()],
        &[("DBCONN_TARGET", "postgres://u:hunter2@h/db")],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("DBCONN_TARGET"), "{out}");
    assert!(
        !out.contains("hunter2"),
        "--help printed the password:\n{out}"
    );
}

#[test]
fn two_dsns_in_one_target_are_refused() {
    // Before: one target whose name held the second password.
    for value in [
        "postgres://a:pw1@h1/db,postgres://b:pw2@h2/db",
        "postgres://a:pw1@h1/db postgres://b:pw2@h2/db",
        "mysql://a:pw1@h1/,mysql://b:pw2@h2/",
        "one=postgres://a:pw1@h1/db,two=postgres://b:pw2@h2/db",
    ] {
        let out = config_error(&check(value), &[]);
        assert!(out.contains("one --target per DSN"), "{value}: {out}");
        let out = config_error(&["--config.check".into()], &[("DBCONN_TARGET", value)]);
        assert!(out.contains("one --target per DSN"), "{value}: {out}");
    }
}

#[test]
fn an_unknown_key_is_named_without_its_value() {
    let (_d, arg) =
        config("targets:\n  - name: a\n    dsn: postgres://u@h/db\n    password: TopSecretPw\n");
    let out = config_error(&[arg, "--config.check".into()], &[]);
    assert!(out.contains("password"), "{out}");
    assert!(out.contains("line 4"), "{out}");
    let (_d, arg) = config("collection:\n  statement_timeout: TopSecretPw\n  origin_cap: 1\n");
    let out = config_error(&[arg, "--config.check".into()], &[]);
    assert!(out.contains("line 2"), "{out}");
}

#[test]
fn an_unencoded_at_in_a_url_password_is_refused() {
    // Before: `x@h` became the host, and the name showed it.
    for dsn in [
        "postgres://u:hunter2@x@h/db",
        "mysql://u:hunter2@x@h/",
        "mariadb://u:hunter2@x@h:3306/",
    ] {
        let out = config_error(&check(dsn), &[]);
        assert!(out.contains("%40"), "{dsn}: {out}");
    }
}

#[test]
fn password_files_must_be_small_regular_files() {
    let dir = tempdir::Dir::new();
    let fifo = dir.0.join("fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let big = dir.0.join("big");
    std::fs::write(&big, "x".repeat(5000)).unwrap();
    for (path, expect) in [
        ("/dev/zero".to_string(), "not a regular file"),
        (fifo.display().to_string(), "not a regular file"),
        (dir.0.display().to_string(), "not a regular file"),
        (big.display().to_string(), "4096 bytes"),
    ] {
        let (_d, arg) = config(&format!(
            "targets:\n  - name: a\n    dsn: postgres://u@h/db\n    password_file: {path}\n"
        ));
        let out = config_error(&[arg, "--config.check".into()], &[]);
        assert!(out.contains("password_file"), "{path}: {out}");
        assert!(out.contains(expect), "{path}: {out}");
    }
}

#[test]
fn config_files_must_be_regular_files() {
    let dir = tempdir::Dir::new();
    let fifo = dir.0.join("fifo.yml");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    for path in ["/dev/zero".to_string(), fifo.display().to_string()] {
        let out = config_error(
            &[format!("--config.file={path}"), "--config.check".into()],
            &[],
        );
        assert!(out.contains("not a regular file"), "{path}: {out}");
    }
}

#[test]
fn certificate_files_must_be_small_regular_files() {
    let dir = tempdir::Dir::new();
    let fifo = dir.0.join("ca.pem");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    for file in ["/dev/zero".to_string(), fifo.display().to_string()] {
        for dsn in [
            format!("postgres://u@h/db?sslmode=verify-full&sslrootcert={file}"),
            format!("host=h user=u sslmode=verify-ca sslrootcert={file}"),
            format!("mysql://u@h/?ssl-mode=verify_identity&ssl-ca={file}"),
        ] {
            let out = config_error(&check(&dsn), &[]);
            assert!(out.contains("not a regular file"), "{dsn}: {out}");
        }
    }
    // The MySQL CA is read when the configuration is, not at the first connect.
    let out = config_error(
        &check("mysql://u@h/?ssl-mode=verify_ca&ssl-ca=/nonexistent/ca.pem"),
        &[],
    );
    assert!(out.contains("/nonexistent/ca.pem"), "{out}");
}

#[test]
fn settings_that_make_no_sense_are_refused() {
    for (collection, expect) in [
        (
            "scrape_timeout: 2s\n  scrape_timeout_offset: 2s",
            "scrape_timeout_offset",
        ),
        (
            "scrape_timeout: 2s\n  scrape_timeout_offset: 5s",
            "scrape_timeout_offset",
        ),
        (
            "statement_timeout: 0.0009\n  lock_timeout: 0.0005",
            "statement_timeout",
        ),
        ("lock_timeout: 0.0005", "lock_timeout"),
        ("connect_timeout: 0.0001", "connect_timeout"),
    ] {
        let (_d, arg) = config(&format!(
            "targets:\n  - dsn: postgres://u@h/db\ncollection:\n  {collection}\n"
        ));
        let out = config_error(&[arg, "--config.check".into()], &[]);
        assert!(out.contains(expect), "{collection}: {out}");
    }
}

#[test]
fn telemetry_paths_are_literal() {
    // Before: `/:x` made the router panic (exit 101) and `/{x}` served metrics on
    // every path.
    for path in ["/:x", "/{x}", "/*rest", "/a//b", "/a/", "/me trics", "/%2e"] {
        let out = config_error(
            &[
                "--target=postgres://u@h/db".into(),
                format!("--web.telemetry-path={path}"),
                "--web.listen-address=127.0.0.1:0".into(),
            ],
            &[],
        );
        assert!(out.contains("telemetry-path"), "{path}: {out}");
    }
    for path in ["/metrics", "/a/b-c/d_e.f~g"] {
        let (code, out) = run_bounded(
            &[
                "--target=postgres://u@h/db".into(),
                format!("--web.telemetry-path={path}"),
                "--config.check".into(),
            ],
            &[],
        );
        assert_eq!(code, Some(0), "{path}: {out}");
    }
}
