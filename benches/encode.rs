//! Snapshot → OpenMetrics encoding for a large snapshot: 200 origins × 5 states ×
//! 6 duration thresholds (issue 6; the goal is under 1 ms per encode). Encoding runs
//! on every scrape after the database read, so it is the exporter's own share of
//! the latency; this keeps it visible apart from the database.
//!
//!     cargo bench --bench encode
//!
//! divan prints fastest / slowest / median / mean per encode; the figures quoted in
//! bench/RESULTS.md come from that table.

use std::sync::Arc;
use std::time::Duration;

use dbconn_exporter::exposition::{Format, encode};
use dbconn_exporter::model::{
    Blocking, Engine, LimitUse, LockCount, Origin, SessionGroup, Snapshot, State, TargetReport,
    summarize_sessions,
};

const ORIGINS: usize = 200;
const STATES: [State; 5] = [
    State::Active,
    State::Idle,
    State::IdleInTransaction,
    State::IdleInTransactionAborted,
    State::Other,
];
const THRESHOLDS: [f64; 6] = [30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0];

fn large_snapshot() -> Snapshot {
    let mut groups = Vec::with_capacity(ORIGINS * STATES.len());
    for o in 0..ORIGINS {
        let origin = Origin {
            database: format!("db_{}", o % 10),
            user: format!("user_{}", o % 20),
            application: format!("application-{o}"),
        };
        for (s, state) in STATES.iter().enumerate() {
            groups.push(SessionGroup {
                hidden: false,
                origin: origin.clone(),
                state: *state,
                count: 1 + (o + s) as u64 % 7,
                max_state_seconds: (o * 13 + s * 7) as f64,
                sum_age_seconds: 1000.0 + o as f64,
                max_age_seconds: 500.0 + o as f64,
                oldest_transaction_seconds: (*state == State::IdleInTransaction)
                    .then_some(o as f64 * 3.0),
                over: (0..THRESHOLDS.len())
                    .map(|t| ((o + s) % (t + 2)) as u64)
                    .collect(),
            });
        }
    }
    // Keep every origin: the cap is above their number.
    let facts = summarize_sessions(groups, &THRESHOLDS, ORIGINS + 1);
    Snapshot {
        blocking: Some(Blocking::default()),
        locks: Some(Vec::<LockCount>::new()),
        user_limits: Some(
            (0..20)
                .map(|u| LimitUse {
                    name: format!("user_{u}"),
                    limit: 100,
                    used: 10,
                })
                .collect(),
        ),
        database_limits: Some(
            (0..10)
                .map(|d| LimitUse {
                    name: format!("db_{d}"),
                    limit: 500,
                    used: 50,
                })
                .collect(),
        ),
        timeouts: vec![
            ("idle_in_transaction_session_timeout".into(), 0.0),
            ("statement_timeout".into(), 0.0),
        ],
        ..Snapshot::new(Engine::PostgreSql, "17.2", 2100, 3, facts)
    }
}

fn main() {
    let text = encode(vec![large_result()], None, Format::OpenMetrics).expect("encode");
    let samples = text.lines().filter(|l| !l.starts_with('#')).count();
    println!(
        "large snapshot: {ORIGINS} origins × {} states × {} thresholds → {samples} samples, {} bytes",
        STATES.len(),
        THRESHOLDS.len(),
        text.len()
    );
    divan::main();
}

fn large_result() -> TargetReport {
    TargetReport {
        target: Arc::from("orders-primary"),
        snapshot: Some(Arc::new(large_snapshot())),
        duration: Duration::from_millis(3),
        connect_errors: Default::default(),
        session_losses: Default::default(),
        info: None,
    }
}

/// One encode of the large snapshot; cloning the input (Arc bumps) is outside the
/// timed part.
#[divan::bench(sample_count = 1000)]
fn encode_large_snapshot(bencher: divan::Bencher) {
    let result = large_result();
    bencher
        .with_inputs(|| vec![result.clone()])
        .bench_values(|input| encode(input, None, Format::OpenMetrics).expect("encode"));
}
