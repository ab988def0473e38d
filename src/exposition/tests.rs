//! The exposition's bytes, pinned: alerts, dashboards and parsers depend on every
//! one of them, so any change to how reports become text must show up here as a
//! diff to review in `testdata/`. The reports are built by hand to reach every family, both
//! formats, targets that are down, label values that need escaping and values that
//! are not finite.
//!
//! After an intended change to the output, regenerate the files and review the diff:
//!
//!     DBCONN_UPDATE_GOLDEN=1 cargo nextest run --lib exposition::tests

use std::sync::Arc;
use std::time::Duration;

use super::catalog::*;
use super::{Format, encode};
use crate::model::*;

/// The exporter's own state on `/metrics`: its last configuration load worked.
const STATE: ExporterState = ExporterState {
    last_reload_successful: true,
    last_reload_success_seconds: 1_767_225_600.5,
};

const HOSTILE: &str = "quote\" back\\slash\nnew line 🐘 tab\t{brace}=,";

fn group(database: &str, user: &str, application: &str, state: State, count: u64) -> SessionGroup {
    SessionGroup {
        hidden: false,
        origin: Origin {
            database: database.into(),
            user: user.into(),
            application: application.into(),
        },
        state,
        count,
        max_state_seconds: 61.25 * count as f64,
        sum_age_seconds: 30.5 * count as f64,
        max_age_seconds: 12.0 + count as f64,
        oldest_transaction_seconds: (state == State::IdleInTransaction).then_some(7.125),
        over: vec![count, count / 2, 0, 1],
    }
}

/// A PostgreSQL read with every optional part present and odd values throughout.
fn postgres() -> Snapshot {
    let groups = vec![
        group("orders", "app", "web", State::Active, 4),
        group("orders", "app", HOSTILE, State::Idle, 3),
        group("orders", "app", "web", State::IdleInTransaction, 2),
        group("reports", "analyst", "", State::IdleInTransactionAborted, 1),
        SessionGroup {
            hidden: true,
            ..group("other", "other", "other", State::Active, 2)
        },
    ];
    // Integral, fractional, tiny and huge thresholds take different label paths.
    let mut sessions = summarize_sessions(groups, &[30.0, 0.5, 1e20, 2.5e-7], 10);
    *sessions.max_state_duration_seconds.get_mut(State::Other) = f64::INFINITY;
    Snapshot {
        blocking: Some(Blocking {
            blocked: 2,
            blocking: 1,
            root_blockers: 1,
            max_lock_wait_seconds: f64::NAN,
        }),
        locks: Some(vec![
            LockCount {
                mode: "AccessShareLock".into(),
                granted: true,
                count: 5,
            },
            LockCount {
                mode: "RowExclusiveLock".into(),
                granted: false,
                count: 1,
            },
            LockCount {
                mode: HOSTILE.into(),
                granted: true,
                count: 0,
            },
        ]),
        user_limits: Some(vec![
            LimitUse {
                name: "app".into(),
                limit: 5,
                used: 1,
            },
            // The same label set again: the first one wins.
            LimitUse {
                name: "app".into(),
                limit: 9,
                used: 9,
            },
            LimitUse {
                name: HOSTILE.into(),
                limit: 0,
                used: 0,
            },
        ]),
        database_limits: Some(vec![LimitUse {
            name: "orders".into(),
            limit: 100,
            used: 9,
        }]),
        timeouts: vec![
            ("statement_timeout".into(), 0.0),
            ("idle_session_timeout".into(), 86400.0),
            ("lock_timeout".into(), 0.001),
            (
                "idle_in_transaction_session_timeout".into(),
                f64::NEG_INFINITY,
            ),
        ],
        counters: ServerCounters {
            deadlocks: Some(0),
            sessions: Some(u64::MAX),
            abnormal_ends: vec![
                ("fatal", 1),
                ("killed", 2),
                ("abandoned", 9_007_199_254_740_992),
            ],
            refused: None,
            failed: None,
        },
        parts: vec![
            ReadPart {
                name: "activity",
                success: true,
            },
            ReadPart {
                name: "locks",
                success: false,
            },
        ],
        privileges: vec![Privilege {
            name: "pg_read_all_stats",
            granted: false,
        }],
        ..Snapshot::new(Engine::PostgreSql, "17.2", 20, 3, sessions)
    }
}

/// A MariaDB read with the MySQL-only parts, no slot left to ordinary users (no
/// usage ratio) and no optional PostgreSQL parts.
fn mariadb() -> Snapshot {
    let sessions = summarize_sessions(
        vec![group("shop", "shop", "", State::Idle, 7)],
        &[30.0, 0.5, 1e20, 2.5e-7],
        2,
    );
    Snapshot {
        max_used_connections: Some(151),
        threads_running: Some(1),
        counters: ServerCounters {
            deadlocks: None,
            sessions: Some(1234),
            abnormal_ends: vec![],
            refused: Some(3),
            failed: Some(17),
        },
        privileges: vec![Privilege {
            name: "PROCESS",
            granted: true,
        }],
        ..Snapshot::new(Engine::MariaDb, "11.4.2-MariaDB", 3, 3, sessions)
    }
}

/// A PgBouncer read: clients in the common states, two pools (one full, one whose
/// size is not known), and only the waiting clients' durations.
fn pgbouncer() -> Snapshot {
    let mut waiting = group("orders", "app", "web", State::Other, 8);
    waiting.max_state_seconds = 2.5;
    let sessions = summarize_sessions(
        vec![group("orders", "app", "web", State::Active, 2), waiting],
        &[1.0],
        10,
    );
    let pool = Pool {
        database: "orders".into(),
        user: "app".into(),
        clients: vec![("active", 2), ("waiting", 8)],
        servers: vec![
            ("active", 2),
            ("idle", 0),
            ("used", 0),
            ("tested", 0),
            ("login", 0),
        ],
        max_wait_seconds: 2.5,
        size: Some(2),
        servers_in_use: 2,
    };
    Snapshot {
        pools: Some(vec![
            pool.clone(),
            Pool {
                user: HOSTILE.into(),
                size: None,
                ..pool
            },
        ]),
        database_limits: Some(vec![LimitUse {
            name: "orders".into(),
            limit: 5,
            used: 2,
        }]),
        ..Snapshot::new(Engine::PgBouncer, "1.18.0", 20, 0, sessions)
    }
}

fn report(target: &str, snapshot: Option<Snapshot>, info: Option<(Engine, &str)>) -> TargetReport {
    TargetReport {
        target: Arc::from(target),
        snapshot: snapshot.map(Arc::new),
        duration: Duration::from_micros(3_141_593),
        connect_errors: ConnectErrorCounts {
            too_many_connections: 1,
            auth_failed: 2,
            unreachable: 3,
            timeout: 4,
            tls: 5,
            other: 6,
        },
        session_losses: LossCounts { closed: 7, hung: 8 },
        info: info.map(|(e, v)| (e, v.to_string())),
    }
}

/// Several targets: two up, one down that was up before (its info survives), one
/// never read, one with a hostile name.
fn reports() -> Vec<TargetReport> {
    vec![
        report(
            "orders-primary",
            Some(postgres()),
            Some((Engine::PostgreSql, "17.2")),
        ),
        report(
            "shop",
            Some(mariadb()),
            Some((Engine::MariaDb, "11.4.2-MariaDB")),
        ),
        report(
            "pooler",
            Some(pgbouncer()),
            Some((Engine::PgBouncer, "1.18.0")),
        ),
        report("was-up", None, Some((Engine::MySql, "8.4.0"))),
        TargetReport {
            duration: Duration::ZERO,
            connect_errors: ConnectErrorCounts::default(),
            session_losses: LossCounts::default(),
            ..report("never-up", None, None)
        },
        report(
            HOSTILE,
            Some(postgres()),
            Some((Engine::PostgreSql, HOSTILE)),
        ),
    ]
}

/// Compares with the golden file; the build's own version is written as a
/// placeholder so that a release does not touch the files.
fn check(name: &str, actual: &str) {
    let version = format!("{{version=\"{}\"}}", env!("CARGO_PKG_VERSION"));
    let actual: &str = &actual.replacen(&version, "{version=\"CARGO_PKG_VERSION\"}", 1);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/exposition/testdata")
        .join(name);
    if std::env::var_os("DBCONN_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{name} differs from its golden file at line {}:\n  golden: {:?}\n  now:    {:?}",
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line)
        );
    }
}

#[test]
fn openmetrics_bytes_are_unchanged() {
    check(
        "rich.openmetrics",
        &encode(reports(), Some(STATE), Format::OpenMetrics).unwrap(),
    );
    check(
        "empty.openmetrics",
        &encode(vec![], Some(STATE), Format::OpenMetrics).unwrap(),
    );
}

#[test]
fn classic_text_bytes_are_unchanged() {
    check(
        "rich.txt",
        &encode(reports(), Some(STATE), Format::Text).unwrap(),
    );
    check(
        "empty.txt",
        &encode(vec![], Some(STATE), Format::Text).unwrap(),
    );
}

#[test]
fn the_reports_reach_every_family() {
    let text = encode(reports(), Some(STATE), Format::OpenMetrics).unwrap();
    for metric in METRICS {
        assert!(
            text.contains(&format!("\n{}{{", metric.name))
                || (metric.labels.is_empty() && text.contains(&format!("\n{} ", metric.name))),
            "no sample of {} in the golden reports",
            metric.name
        );
    }
}

/// A sample line as the exposition writes it, label names from the catalogue.
fn sample(metric: &Metric, values: &[&str], value: &str) -> String {
    let labels: Vec<String> = metric
        .labels
        .iter()
        .zip(values)
        .map(|(name, v)| format!("{name}=\"{v}\""))
        .collect();
    format!("\n{}{{{}}} {value}\n", metric.name, labels.join(","))
}

#[test]
fn the_exporter_state_is_written_only_when_given() {
    let text = encode(vec![], Some(STATE), Format::OpenMetrics).unwrap();
    assert!(text.contains("\ndbconn_config_last_reload_successful 1.0\n"));
    assert!(text.contains("\ndbconn_config_last_reload_success_timestamp_seconds 1767225600.5\n"));
    let failed = ExporterState {
        last_reload_successful: false,
        ..STATE
    };
    let text = encode(vec![], Some(failed), Format::OpenMetrics).unwrap();
    assert!(text.contains("\ndbconn_config_last_reload_successful 0.0\n"));
    let text = encode(reports(), None, Format::OpenMetrics).unwrap();
    for metric in [&CONFIG_RELOAD_SUCCESSFUL, &CONFIG_RELOAD_SUCCESS_TIME] {
        assert!(!text.contains(metric.name), "{}", metric.name);
    }
    assert!(text.contains(BUILD_INFO.name));
}

#[test]
fn up_says_whether_the_read_came_in() {
    let text = encode(reports(), Some(STATE), Format::OpenMetrics).unwrap();
    assert!(text.contains(&sample(&UP, &["shop"], "1.0")));
    assert!(text.contains(&sample(&UP, &["was-up"], "0.0")));
}

#[test]
fn a_target_that_is_down_keeps_its_counters_and_info_but_no_read() {
    let text = encode(reports(), Some(STATE), Format::OpenMetrics).unwrap();
    let errors = sample(&CONNECT_ERRORS, &["was-up", "too_many_connections"], "1");
    assert!(text.contains(&errors));
    let info = sample(&TARGET_INFO, &["was-up", "mysql", "8.4.0"], "1");
    assert!(text.contains(&info));
    assert!(!text.contains(&format!("{}{{target=\"was-up\"", CONNECTIONS.name)));
    assert!(!text.contains(&format!("{}{{target=\"never-up\"", TARGET_INFO.name)));
}

#[test]
fn every_state_is_written_even_when_empty() {
    let text = encode(reports(), Some(STATE), Format::OpenMetrics).unwrap();
    for state in State::ALL {
        let zero = state != State::Idle;
        let value = if zero { "0.0" } else { "7.0" };
        assert!(text.contains(&sample(&CONNECTIONS, &["shop", state.as_str()], value)));
    }
}

#[test]
fn thresholds_that_are_whole_numbers_have_no_decimals() {
    let text = encode(reports(), Some(STATE), Format::OpenMetrics).unwrap();
    let labels = ["shop", "idle", "30"];
    assert!(text.contains(&sample(&OVER_DURATION, &labels, "7.0")));
    let labels = ["shop", "idle", "0.5"];
    assert!(text.contains(&sample(&OVER_DURATION, &labels, "3.0")));
}

#[test]
fn openmetrics_declares_units_and_ends_with_eof() {
    let text = encode(reports(), Some(STATE), Format::OpenMetrics).unwrap();
    assert!(text.ends_with("\n# EOF\n"));
    for metric in METRICS {
        if let (_, Some(unit)) = metric.stem_and_unit() {
            assert!(text.contains(&format!("\n# UNIT {} {unit}\n", metric.name)));
        }
    }
}

#[test]
fn classic_text_names_each_family_as_its_samples() {
    let text = "\n".to_string() + &encode(reports(), Some(STATE), Format::Text).unwrap();
    assert!(!text.contains("# EOF"));
    assert!(!text.contains("# UNIT"));
    for metric in METRICS {
        let kind = match metric.kind {
            Kind::Counter => "counter",
            Kind::Gauge | Kind::Info => "gauge",
        };
        assert!(text.contains(&format!("\n# HELP {} {}\n", metric.name, metric.help)));
        assert!(text.contains(&format!("\n# TYPE {} {kind}\n", metric.name)));
    }
}

#[test]
fn root_blockers_follow_the_blocking_read() {
    let text = encode(reports(), Some(STATE), Format::OpenMetrics).unwrap();
    assert!(text.contains(&sample(&ROOT_BLOCKERS, &["orders-primary"], "1.0")));
    // No blocking read (the MariaDB report has none, a target down has no read):
    // no sample rather than a 0 that would claim nobody blocks.
    for target in ["shop", "was-up"] {
        let prefix = format!("\n{}{{target=\"{target}\"", ROOT_BLOCKERS.name);
        assert!(!text.contains(&prefix), "{target}");
        let prefix = format!("\n{}{{target=\"{target}\"", BLOCKING.name);
        assert!(!text.contains(&prefix), "{target}");
    }
}

#[test]
fn a_pooler_shows_its_pools_and_only_the_durations_it_knows() {
    let text = encode(reports(), Some(STATE), Format::OpenMetrics).unwrap();
    let pool = ["pooler", "orders", "app"];
    assert!(text.contains(&sample(&POOL_USAGE_RATIO, &pool, "1.0")));
    assert!(text.contains(&sample(&POOL_SIZE, &pool, "2.0")));
    assert!(text.contains(&sample(&POOL_MAX_WAIT, &pool, "2.5")));
    let waiting = ["pooler", "orders", "app", "waiting"];
    assert!(text.contains(&sample(&POOL_CLIENTS, &waiting, "8.0")));
    assert!(text.contains(&sample(
        &POOL_SERVERS,
        &["pooler", "orders", "app", "active"],
        "2.0"
    )));
    // A pool whose size is unknown has no size and no ratio, not a 0.
    let prefix = format!(
        "\n{}{{target=\"pooler\",database=\"orders\",user=\"quote",
        POOL_SIZE.name
    );
    assert!(!text.contains(&prefix));
    // Waiting clients' durations are known; the other states' are not written.
    assert!(text.contains(&sample(&MAX_STATE_DURATION, &["pooler", "other"], "2.5")));
    assert!(!text.contains(&sample(&MAX_STATE_DURATION, &["pooler", "active"], "0.0")));
    let prefix = format!("\n{}{{target=\"pooler\"", OLDEST_TRANSACTION.name);
    assert!(!text.contains(&prefix));
    assert!(text.contains(&sample(&USAGE_RATIO, &["pooler"], "0.5")));
    assert!(text.contains(&sample(
        &TARGET_INFO,
        &["pooler", "pgbouncer", "1.18.0"],
        "1"
    )));
}
