//! Reports → samples, one function per group of families, through
//! prometheus-client's [`Collector`].
//!
//! A family is a catalogue entry plus an iterator of (label values, value): the
//! label names come from the catalogue, the value's type from the family's kind
//! (gauges are floats, counters whole numbers, an info is 1). A family without
//! samples is left out, as a target that is down leaves out what only a read
//! knows. Functions run in catalogue order, which is the output order.

use std::collections::HashSet;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeMetric, LabelSetEncoder, MetricEncoder,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

use super::catalog::*;
use crate::model::{
    ConnectErrorKind, ExporterState, LimitUse, Loss, Pool, Snapshot, State, TargetReport,
};

/// One scrape's reports. prometheus-client encodes only what is registered, and a
/// collector sees only itself, so each scrape registers its own.
#[derive(Debug)]
pub(super) struct Scrape {
    pub(super) results: Vec<TargetReport>,
    pub(super) exporter: Option<ExporterState>,
}

impl Collector for Scrape {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let (e, rs) = (&mut enc, &self.results[..]);
        exporter(e, self.exporter, rs)?;
        read_health(e, rs)?;
        sessions(e, rs)?;
        capacity(e, rs)?;
        durations(e, rs)?;
        locks(e, rs)?;
        limits(e, rs)?;
        server_counters(e, rs)?;
        pools(e, rs)
    }
}

/// The exporter's own state, then what it knows of each target whether or not its
/// read came in.
fn exporter(
    e: &mut DescriptorEncoder,
    state: Option<ExporterState>,
    rs: &[TargetReport],
) -> std::fmt::Result {
    family(e, &BUILD_INFO, [([env!("CARGO_PKG_VERSION")], Info)])?;
    family(
        e,
        &CONFIG_RELOAD_SUCCESSFUL,
        state.map(|s| ([], flag(s.last_reload_successful))),
    )?;
    family(
        e,
        &CONFIG_RELOAD_SUCCESS_TIME,
        state.map(|s| ([], s.last_reload_success_seconds)),
    )?;
    family(
        e,
        &UP,
        rs.iter()
            .map(|r| ([&*r.target], flag(r.snapshot().is_some()))),
    )?;
    family(
        e,
        &TARGET_INFO,
        rs.iter().filter_map(|r| {
            let (engine, version) = r.info.as_ref()?;
            Some(([&*r.target, engine.as_str(), version.as_str()], Info))
        }),
    )?;
    family(
        e,
        &SCRAPE_DURATION,
        rs.iter().map(|r| ([&*r.target], r.duration.as_secs_f64())),
    )?;
    by_reason(e, &CONNECT_ERRORS, rs, ConnectErrorKind::ALL, |r, k| {
        (k.as_str(), r.connect_errors.get(k))
    })?;
    by_reason(e, &SESSION_LOSSES, rs, Loss::ALL, |r, l| {
        (l.as_str(), r.session_losses.get(l))
    })
}

/// Which parts of a read worked, and what the exporter's privileges hide.
fn read_health(e: &mut DescriptorEncoder, rs: &[TargetReport]) -> std::fmt::Result {
    per_target_by(e, &COLLECTOR_SUCCESS, rs, |s| {
        s.parts.iter().map(|c| (c.name, flag(c.success)))
    })?;
    per_target_by(e, &MISSING_PRIVILEGE, rs, |s| {
        s.privileges.iter().map(|p| (p.name, flag(!p.granted)))
    })?;
    per_target(e, &HIDDEN_CONNECTIONS, rs, |s| {
        Some(s.sessions.hidden as f64)
    })
}

/// Client sessions by state and by origin.
fn sessions(e: &mut DescriptorEncoder, rs: &[TargetReport]) -> std::fmt::Result {
    per_state(e, &CONNECTIONS, rs, |s, st| {
        s.sessions.by_state.get(st) as f64
    })?;
    family(
        e,
        &CONNECTIONS_BY_ORIGIN,
        reads(rs).flat_map(|(target, s)| {
            s.sessions.origins.iter().map(move |o| {
                let origin = &o.origin;
                let labels = [
                    target,
                    origin.database.as_str(),
                    origin.user.as_str(),
                    origin.application.as_str(),
                    o.state.as_str(),
                ];
                (labels, o.count as f64)
            })
        }),
    )
}

/// The server's connection limit and how much of it is used.
fn capacity(e: &mut DescriptorEncoder, rs: &[TargetReport]) -> std::fmt::Result {
    per_target(e, &MAX_CONNECTIONS, rs, |s| Some(s.max_connections as f64))?;
    per_target(e, &RESERVED_CONNECTIONS, rs, |s| {
        Some(s.reserved_connections as f64)
    })?;
    per_target(e, &USAGE_RATIO, rs, Snapshot::usage_ratio)
}

/// How long sessions have been in their state, in a transaction, connected.
fn durations(e: &mut DescriptorEncoder, rs: &[TargetReport]) -> std::fmt::Result {
    over_duration(e, rs)?;
    family(
        e,
        &MAX_STATE_DURATION,
        reads(rs).flat_map(|(target, s)| {
            State::ALL
                .into_iter()
                .filter(move |&st| duration_known(s, st))
                .map(move |st| {
                    let value = s.sessions.max_state_duration_seconds.get(st);
                    ([target, st.as_str()], value)
                })
        }),
    )?;
    per_target(e, &OLDEST_TRANSACTION, rs, |s| {
        s.pools
            .is_none()
            .then_some(s.sessions.oldest_transaction_seconds)
    })?;
    per_target(e, &AVERAGE_CONNECTION_AGE, rs, |s| {
        s.sessions.average_connection_age_seconds
    })?;
    per_target(e, &MAX_CONNECTION_AGE, rs, |s| {
        s.sessions.max_connection_age_seconds
    })
}

/// Whether the read knows how long sessions have been in `state`. A pooler's
/// console tells only how long a client has waited (state `other`): the other
/// states' durations, and transactions, are left out rather than shown as 0.
fn duration_known(s: &Snapshot, state: State) -> bool {
    s.pools.is_none() || state == State::Other
}

/// Sessions over each configured duration threshold, per state. The threshold is
/// a label, written as a whole number where it is one (`30`, not `30.0`).
fn over_duration(e: &mut DescriptorEncoder, rs: &[TargetReport]) -> std::fmt::Result {
    let reads: Vec<(&str, &Snapshot, Vec<String>)> = reads(rs)
        .map(|(target, s)| {
            let over = &s.sessions.over_duration;
            let labels = over.iter().map(|o| threshold_label(o.threshold_seconds));
            (target, s, labels.collect())
        })
        .collect();
    family(
        e,
        &OVER_DURATION,
        reads.iter().flat_map(|(target, s, labels)| {
            let known = State::ALL.into_iter().filter(|&st| duration_known(s, st));
            known.flat_map(move |st| {
                let over = s.sessions.over_duration.iter().zip(labels);
                over.map(move |(o, threshold)| {
                    (
                        [*target, st.as_str(), threshold.as_str()],
                        o.per_state.get(st) as f64,
                    )
                })
            })
        }),
    )
}

/// Lock waits and the locks themselves, where the engine reads them.
fn locks(e: &mut DescriptorEncoder, rs: &[TargetReport]) -> std::fmt::Result {
    per_target(e, &BLOCKED, rs, |s| {
        s.blocking.as_ref().map(|b| b.blocked as f64)
    })?;
    per_target(e, &BLOCKING, rs, |s| {
        s.blocking.as_ref().map(|b| b.blocking as f64)
    })?;
    per_target(e, &ROOT_BLOCKERS, rs, |s| {
        s.blocking.as_ref().map(|b| b.root_blockers as f64)
    })?;
    per_target(e, &MAX_LOCK_WAIT, rs, |s| {
        s.blocking.as_ref().map(|b| b.max_lock_wait_seconds)
    })?;
    family(
        e,
        &LOCKS,
        reads(rs)
            .filter_map(|(target, s)| Some((target, s.locks.as_ref()?)))
            .flat_map(|(target, locks)| {
                locks.iter().map(move |l| {
                    let granted = if l.granted { "true" } else { "false" };
                    ([target, l.mode.as_str(), granted], l.count as f64)
                })
            }),
    )
}

/// Per-user and per-database connection limits and their use, and the timeouts
/// that end sessions.
fn limits(e: &mut DescriptorEncoder, rs: &[TargetReport]) -> std::fmt::Result {
    limit_and_use(e, [&USER_LIMIT, &USER_CONNECTIONS], rs, |s| {
        s.user_limits.as_deref()
    })?;
    limit_and_use(e, [&DATABASE_LIMIT, &DATABASE_CONNECTIONS], rs, |s| {
        s.database_limits.as_deref()
    })?;
    per_target_by(e, &TIMEOUT_SETTING, rs, |s| {
        s.timeouts.iter().map(|(name, secs)| (name.as_str(), *secs))
    })
}

/// What the server itself counts, where the engine and version count it.
fn server_counters(e: &mut DescriptorEncoder, rs: &[TargetReport]) -> std::fmt::Result {
    per_target(e, &MAX_USED_CONNECTIONS, rs, |s| {
        s.max_used_connections.map(|n| n as f64)
    })?;
    per_target(e, &THREADS_RUNNING, rs, |s| {
        s.threads_running.map(|n| n as f64)
    })?;
    per_target(e, &DEADLOCKS, rs, |s| s.counters.deadlocks)?;
    per_target(e, &SESSIONS, rs, |s| s.counters.sessions)?;
    per_target_by(e, &SESSIONS_ABNORMALLY_ENDED, rs, |s| {
        s.counters.abnormal_ends.iter().copied()
    })?;
    per_target(e, &REFUSED_CONNECTIONS, rs, |s| s.counters.refused)?;
    per_target(e, &FAILED_CONNECTIONS, rs, |s| s.counters.failed)
}

/// A pooler's pools: clients and servers by the pooler's states, the oldest wait,
/// the size and its use.
fn pools(e: &mut DescriptorEncoder, rs: &[TargetReport]) -> std::fmt::Result {
    let all = || {
        reads(rs)
            .filter_map(|(target, s)| Some((target, s.pools.as_deref()?)))
            .flat_map(|(target, pools)| pools.iter().map(move |p| (target, p)))
    };
    for (metric, states) in [
        (
            &POOL_CLIENTS,
            (|p: &Pool| &p.clients) as fn(&Pool) -> &Vec<(&'static str, u64)>,
        ),
        (&POOL_SERVERS, |p: &Pool| &p.servers),
    ] {
        family(
            e,
            metric,
            all().flat_map(|(target, p)| {
                states(p).iter().map(move |(state, n)| {
                    (
                        [target, p.database.as_str(), p.user.as_str(), *state],
                        *n as f64,
                    )
                })
            }),
        )?;
    }
    family(
        e,
        &POOL_MAX_WAIT,
        all().map(|(target, p)| {
            (
                [target, p.database.as_str(), p.user.as_str()],
                p.max_wait_seconds,
            )
        }),
    )?;
    family(
        e,
        &POOL_SIZE,
        all().filter_map(|(target, p)| {
            Some((
                [target, p.database.as_str(), p.user.as_str()],
                p.size? as f64,
            ))
        }),
    )?;
    family(
        e,
        &POOL_USAGE_RATIO,
        all().filter_map(|(target, p)| {
            Some((
                [target, p.database.as_str(), p.user.as_str()],
                p.usage_ratio()?,
            ))
        }),
    )
}

/// The targets whose read came in, with that read.
fn reads(rs: &[TargetReport]) -> impl Iterator<Item = (&str, &Snapshot)> {
    rs.iter().filter_map(|r| Some((&*r.target, r.snapshot()?)))
}

/// A family labelled by `target` alone, from the reads that have the value.
fn per_target<V: Value>(
    e: &mut DescriptorEncoder,
    metric: &Metric,
    rs: &[TargetReport],
    value: impl Fn(&Snapshot) -> Option<V>,
) -> std::fmt::Result {
    family(
        e,
        metric,
        reads(rs).filter_map(|(target, s)| Some(([target], value(s)?))),
    )
}

/// A family labelled by `target` and one more label: each read gives its (label
/// value, value) pairs.
fn per_target_by<'a, V: Value, I>(
    e: &mut DescriptorEncoder,
    metric: &Metric,
    rs: &'a [TargetReport],
    values: impl Fn(&'a Snapshot) -> I,
) -> std::fmt::Result
where
    I: IntoIterator<Item = (&'a str, V)>,
{
    family(
        e,
        metric,
        reads(rs).flat_map(|(target, s)| values(s).into_iter().map(move |(l, v)| ([target, l], v))),
    )
}

/// A family labelled by `target` and `state`, every state present.
fn per_state(
    e: &mut DescriptorEncoder,
    metric: &Metric,
    rs: &[TargetReport],
    value: impl Fn(&Snapshot, State) -> f64 + Copy,
) -> std::fmt::Result {
    family(
        e,
        metric,
        reads(rs).flat_map(|(target, s)| {
            State::ALL
                .into_iter()
                .map(move |st| ([target, st.as_str()], value(s, st)))
        }),
    )
}

/// A counter the exporter keeps for every target, every reason present.
fn by_reason<K: Copy, const N: usize>(
    e: &mut DescriptorEncoder,
    metric: &Metric,
    rs: &[TargetReport],
    reasons: [K; N],
    count: impl Fn(&TargetReport, K) -> (&'static str, u64) + Copy,
) -> std::fmt::Result {
    family(
        e,
        metric,
        rs.iter().flat_map(|r| {
            reasons.into_iter().map(move |k| {
                let (reason, n) = count(r, k);
                ([&*r.target, reason], n)
            })
        }),
    )
}

/// A limit family and its use family, from the same list of limits.
fn limit_and_use(
    e: &mut DescriptorEncoder,
    [limit, used]: [&Metric; 2],
    rs: &[TargetReport],
    list: impl Fn(&Snapshot) -> Option<&[LimitUse]>,
) -> std::fmt::Result {
    let entries = || {
        reads(rs)
            .filter_map(|(target, s)| Some((target, list(s)?)))
            .flat_map(|(target, list)| list.iter().map(move |l| ([target, l.name.as_str()], l)))
    };
    family(
        e,
        limit,
        entries().map(|(labels, l)| (labels, l.limit as f64)),
    )?;
    family(
        e,
        used,
        entries().map(|(labels, l)| (labels, l.used as f64)),
    )
}

fn threshold_label(seconds: f64) -> String {
    if seconds.fract() == 0.0 && (0.0..1e15).contains(&seconds) {
        format!("{}", seconds as u64)
    } else {
        format!("{seconds}")
    }
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// Writes one family: its descriptor, then each sample with the catalogue's label
/// names. A label set met twice keeps its first value: OpenMetrics forbids
/// repeating one, and a server can report two objects that map to the same labels
/// (e.g. MySQL accounts `app@%` and `app@10.0.0.1` are both user `app`).
fn family<'a, const N: usize, V: Value>(
    e: &mut DescriptorEncoder,
    metric: &Metric,
    samples: impl IntoIterator<Item = ([&'a str; N], V)>,
) -> std::fmt::Result {
    debug_assert_eq!(
        metric.kind,
        V::KIND,
        "{} is fed the wrong value type",
        metric.name
    );
    debug_assert_eq!(
        metric.labels.len(),
        N,
        "{} is fed the wrong labels",
        metric.name
    );
    // Collected first so that the set below is sized once: growing it would hash
    // every label set again (`cargo bench --bench encode` shows the difference).
    let samples: Vec<_> = samples.into_iter().collect();
    if samples.is_empty() {
        return Ok(());
    }
    let (stem, unit) = metric.stem_and_unit();
    let unit = unit.map(|u| match u {
        "seconds" => Unit::Seconds,
        other => Unit::Other(other.into()),
    });
    let mut me = e.encode_descriptor(stem, metric.help, unit.as_ref(), V::TYPE)?;
    if N == 0 {
        // One sample, written bare: prometheus-client writes `{}` for an empty set.
        return match samples.first() {
            Some((_, value)) => value.encode_bare(me),
            None => Ok(()),
        };
    }
    let mut seen = HashSet::with_capacity(samples.len());
    for (values, value) in &samples {
        if seen.insert(values) {
            value.encode(&mut me, &Labels(metric.labels, *values))?;
        }
    }
    Ok(())
}

/// Label names from the catalogue paired with one sample's values.
struct Labels<'a, const N: usize>(&'static [&'static str], [&'a str; N]);

impl<const N: usize> EncodeLabelSet for Labels<'_, N> {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> std::fmt::Result {
        for pair in self.0.iter().copied().zip(self.1) {
            prometheus_client::encoding::EncodeLabel::encode(&pair, encoder.encode_label())?;
        }
        Ok(())
    }
}

/// A sample value, typed as its family.
trait Value: Copy {
    const KIND: Kind;
    const TYPE: MetricType;
    fn encode<L: EncodeLabelSet>(self, me: &mut MetricEncoder, labels: &L) -> std::fmt::Result;
    /// The one sample of a family without labels.
    fn encode_bare(self, me: MetricEncoder) -> std::fmt::Result;
}

impl Value for f64 {
    const KIND: Kind = Kind::Gauge;
    const TYPE: MetricType = MetricType::Gauge;
    fn encode<L: EncodeLabelSet>(self, me: &mut MetricEncoder, labels: &L) -> std::fmt::Result {
        ConstGauge::new(self).encode(me.encode_family(labels)?)
    }
    fn encode_bare(self, me: MetricEncoder) -> std::fmt::Result {
        ConstGauge::new(self).encode(me)
    }
}

impl Value for u64 {
    const KIND: Kind = Kind::Counter;
    const TYPE: MetricType = MetricType::Counter;
    fn encode<L: EncodeLabelSet>(self, me: &mut MetricEncoder, labels: &L) -> std::fmt::Result {
        ConstCounter::new(self).encode(me.encode_family(labels)?)
    }
    fn encode_bare(self, me: MetricEncoder) -> std::fmt::Result {
        ConstCounter::new(self).encode(me)
    }
}

/// The value of an info sample, always 1.
#[derive(Clone, Copy)]
struct Info;

impl Value for Info {
    const KIND: Kind = Kind::Info;
    const TYPE: MetricType = MetricType::Info;
    /// The labels go to the info itself: prometheus-client writes a stray comma
    /// when an info's own labels are empty and its family's are not.
    fn encode<L: EncodeLabelSet>(self, me: &mut MetricEncoder, labels: &L) -> std::fmt::Result {
        me.encode_family(&NO_LABELS)?.encode_info(labels)
    }
    fn encode_bare(self, mut me: MetricEncoder) -> std::fmt::Result {
        me.encode_info(&NO_LABELS)
    }
}

const NO_LABELS: [(&str, &str); 0] = [];
