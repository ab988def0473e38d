//! Property tests over the parts that take input from outside: the configuration
//! file, DSNs, and label values (application, user and database names come from
//! whoever connects to the database). No input may panic, leak a password, or make
//! the exposition unparseable. Expositions are checked by the reference OpenMetrics
//! parser, all cases of a property in one parser process.

mod support;

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};

use dbconn_exporter::config::{Cli, Config};
use dbconn_exporter::dsn;
use dbconn_exporter::exposition::{self, Format};
use dbconn_exporter::model::*;

fn load(args: &[String]) -> Result<Config, String> {
    let mut all = vec!["dbconn_exporter".to_string()];
    all.extend_from_slice(args);
    let cli = Cli::try_parse_from(all).map_err(|e| e.to_string())?;
    Config::load(&cli).map_err(|e| e.to_string())
}

/// A password the generators embed; it must never come back in an error.
const SECRET: &str = "Pr0p-s3cret-XYZ";
/// A token without `=` (it could be the tail of an unquoted password).
const STRAY: &str = "Pr0pStrayTokenXYZ";

fn dsn_strategy() -> impl Strategy<Value = String> {
    let scheme = prop_oneof![
        Just("postgres://"),
        Just("postgresql://"),
        Just("mysql://"),
        Just("mariadb://"),
        Just("ftp://"),
        Just(""),
    ];
    (
        scheme,
        "[a-z]{0,6}",
        "[a-z0-9.:\\[\\]-]{0,20}",
        "[ -~]{0,30}",
    )
        .prop_map(|(scheme, user, host, rest)| format!("{scheme}{user}:{SECRET}@{host}{rest}"))
}

proptest! {
    #![proptest_config(RunnerConfig { cases: 300, ..RunnerConfig::default() })]

    /// Any DSN: a config or a clear error, never a panic, never the password.
    #[test]
    fn dsns_never_panic_or_leak(dsn in dsn_strategy()) {
        match load(&[format!("--target={dsn}")]) {
            Ok(config) => {
                for t in &config.targets {
                    prop_assert!(!t.name.contains(SECRET), "name {:?}", t.name);
                }
            }
            Err(e) => prop_assert!(!e.contains(SECRET), "{e}"),
        }
    }

    /// Keyword/value DSNs (libpq style) with arbitrary values.
    #[test]
    fn keyword_dsns_never_panic_or_leak(extra in "[ -~]{0,40}") {
        let dsn = format!("host=h user=u password={SECRET} {extra}");
        if let Err(e) = load(&[format!("--target={dsn}")]) {
            prop_assert!(!e.contains(SECRET), "{e}");
        }
    }

    /// Any keyword/value pairs, quoted as libpq quotes and separated by any white
    /// space, parse back exactly (libpq's escaping round-trips).
    #[test]
    fn quoted_keyword_values_round_trip(
        pairs in prop::collection::vec(("[a-z_]{1,12}", any::<String>()), 0..6),
        spaces in prop::collection::vec("[ \t\n]{1,3}", 6),
    ) {
        let text: Vec<String> = pairs
            .iter()
            .zip(&spaces)
            .map(|((k, v), sep)| format!("{sep}{k}{}={}", &sep[..1], dsn::quote_keyword_value(v)))
            .collect();
        let text = text.concat();
        let parsed = dsn::parse_keyword_dsn(&text).map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        let parsed: Vec<(String, String)> = parsed.into_iter().map(|p| (p.key, p.value)).collect();
        prop_assert_eq!(parsed, pairs);
    }

    /// A stray token anywhere between pairs is an error at its position, never a
    /// shorter DSN, and the error does not quote it.
    #[test]
    fn a_stray_token_is_always_refused_at_its_position(
        before in prop::collection::vec(("[a-z_]{1,8}", "[ -~]{0,8}"), 0..4),
        after in prop::collection::vec(("[a-z_]{1,8}", "[ -~]{0,8}"), 0..4),
    ) {
        let pair = |(k, v): &(String, String)| format!("{k}={}", dsn::quote_keyword_value(v));
        let head: Vec<String> = before.iter().map(pair).collect();
        let tail: Vec<String> = after.iter().map(pair).collect();
        let mut head = head.join(" ");
        if !head.is_empty() {
            head.push(' ');
        }
        let position = head.chars().count() + 1;
        let text = format!("{head}{STRAY} {}", tail.join(" "));
        match dsn::parse_keyword_dsn(&text) {
            Ok(p) => return Err(TestCaseError::fail(format!("{text:?} parsed as {p:?}"))),
            Err(e) => {
                prop_assert_eq!(e.position, position, "{}", e);
                prop_assert!(!e.to_string().contains(STRAY));
            }
        }
    }

    /// Any text after a keyword DSN that asks for verify-full: refused, or the
    /// configuration loads with verify-full still in it.
    #[test]
    fn a_keyword_dsn_never_loses_its_sslmode(extra in "[ -~]{0,30}") {
        let dsn = format!("host=h user=u {extra} sslmode=verify-full");
        if load(&[format!("--target={dsn}")]).is_ok() {
            // What loaded was understood whole: its last sslmode is verify-full.
            let pairs = dsn::parse_keyword_dsn(&dsn).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mode = pairs.iter().rev().find(|p| p.key == "sslmode").map(|p| p.value.as_str());
            prop_assert_eq!(mode, Some("verify-full"), "{}", dsn);
        }
    }

    /// Arbitrary YAML-ish files: a config or an error naming the problem.
    #[test]
    fn config_files_never_panic_or_leak(
        body in prop_oneof![
            "[ -~\n]{0,200}",
            (dsn_strategy(), "[a-z_]{1,12}", "[ -~]{0,12}").prop_map(|(dsn, key, value)| format!(
                "targets:\n  - name: a\n    dsn: \"{}\"\n    {key}: {value}\ncollection:\n  {key}: {value}\n",
                dsn.replace('"', "")
            )),
        ]
    ) {
        let file = support::ConfigFile::new(&body);
        match load(&[file.arg()]) {
            Ok(_) => {}
            Err(e) => {
                prop_assert!(!e.contains(SECRET), "{e}");
                prop_assert!(!e.is_empty());
            }
        }
    }
}

fn snapshot_with_names(names: &[(String, String, String)]) -> Snapshot {
    let thresholds = [30.0, 60.0, 300.0];
    let groups = names
        .iter()
        .enumerate()
        .map(|(i, (db, user, app))| SessionGroup {
            hidden: false,
            origin: Origin {
                database: db.clone(),
                user: user.clone(),
                application: app.clone(),
            },
            state: [State::Idle, State::Active, State::IdleInTransaction][i % 3],
            count: 1 + i as u64,
            max_state_seconds: i as f64 * 7.5,
            sum_age_seconds: 10.0,
            max_age_seconds: 10.0,
            oldest_transaction_seconds: None,
            over: vec![1, 0, 0],
        });
    let facts = summarize_sessions(groups, &thresholds, 8);
    let version = names.first().map(|n| n.2.clone()).unwrap_or_default();
    Snapshot {
        blocking: Some(Blocking::default()),
        locks: Some(vec![]),
        user_limits: Some(
            names
                .iter()
                .map(|(_, user, _)| LimitUse {
                    name: user.clone(),
                    limit: 5,
                    used: 1,
                })
                .collect(),
        ),
        database_limits: Some(vec![]),
        ..Snapshot::new(Engine::PostgreSql, version, 100, 3, facts)
    }
}

/// Names as hostile as a database allows: any character but NUL (neither engine
/// stores one).
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[\"\\\\\n{}=, #a-z🐘ü]{0,12}",
        any::<String>().prop_map(|s| s.replace('\0', "")),
    ]
}

#[test]
fn any_label_value_gives_parseable_openmetrics() {
    let mut runner = TestRunner::new(RunnerConfig {
        cases: 256,
        ..RunnerConfig::default()
    });
    let cases = RefCell::new(Vec::new());
    runner
        .run(
            &(
                prop::collection::vec((name(), name(), name()), 1..12),
                name(),
            ),
            |(names, target)| {
                let target = if target.is_empty() {
                    "t".to_string()
                } else {
                    target
                };
                let snapshot = snapshot_with_names(&names);
                let result = TargetReport {
                    target: Arc::from(target.as_str()),
                    snapshot: Some(Arc::new(snapshot)),
                    duration: Duration::from_millis(2),
                    connect_errors: ConnectErrorCounts::default(),
                    session_losses: LossCounts::default(),
                    info: None,
                };
                let text = exposition::encode(vec![result], None, Format::OpenMetrics)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                cases.borrow_mut().push((names, target, text));
                Ok(())
            },
        )
        .unwrap();
    let cases = cases.into_inner();
    let texts: Vec<String> = cases.iter().map(|c| c.2.clone()).collect();
    let parsed = support::openmetrics::parse_many(&texts);
    for ((names, target, _), m) in cases.iter().zip(parsed) {
        // Every origin label reads back exactly as given (or folded into "other").
        for (labels, _) in m.series("dbconn_connections_by_origin") {
            assert_eq!(&labels["target"], target);
            let known = names.iter().any(|(d, u, a)| {
                &labels["database"] == d && &labels["user"] == u && &labels["application"] == a
            });
            let other = labels["database"] == "other" && labels["application"] == "other";
            assert!(known || other, "unexpected origin {labels:?}");
        }
        let total: f64 = m.series("dbconn_connections").iter().map(|(_, v)| v).sum();
        let expected: u64 = (0..names.len() as u64).map(|i| i + 1).sum();
        assert_eq!(total, expected as f64);
    }
}
