//! Sessions, grouped by the engines' SQL, folded into the facts every view needs.
//!
//! The arithmetic alerts depend on (per-state totals, thresholds, the capped origin
//! breakdown) lives here once, beside its unit tests, rather than in each engine.

use std::collections::HashMap;

use super::state::{PerState, State};

/// Who holds a session.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin {
    pub database: String,
    pub user: String,
    pub application: String,
}

impl Origin {
    /// The bucket that origins beyond the cap fold into.
    pub fn other() -> Origin {
        Origin {
            database: "other".into(),
            user: "other".into(),
            application: "other".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct OriginCount {
    pub origin: Origin,
    pub state: State,
    pub count: u64,
}

/// Sessions in each state for longer than one configured threshold.
#[derive(Clone, Debug, PartialEq)]
pub struct OverDuration {
    pub threshold_seconds: f64,
    pub per_state: PerState<u64>,
}

/// One group of sessions as a reader sees it: same origin, same state.
#[derive(Clone, Debug)]
pub struct SessionGroup {
    /// The exporter's privileges hide the group's state and times: its sessions
    /// are counted, in `State::Other`, and left out of the ages.
    pub hidden: bool,
    pub origin: Origin,
    pub state: State,
    pub count: u64,
    /// Longest time a session of the group has been in its state.
    pub max_state_seconds: f64,
    /// Sum and maximum of the sessions' ages (time since connect).
    pub sum_age_seconds: f64,
    pub max_age_seconds: f64,
    /// Age of the group's oldest open transaction, if any is open.
    pub oldest_transaction_seconds: Option<f64>,
    /// Sessions over each configured threshold, aligned with the thresholds.
    pub over: Vec<u64>,
}

/// Everything derived from the sessions alone.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionFacts {
    pub by_state: PerState<u64>,
    pub max_state_duration_seconds: PerState<f64>,
    pub over_duration: Vec<OverDuration>,
    pub origins: Vec<OriginCount>,
    pub oldest_transaction_seconds: f64,
    /// `None` where the server does not tell when a session connected (MySQL and
    /// MariaDB processlists do not): the engine clears them.
    pub average_connection_age_seconds: Option<f64>,
    pub max_connection_age_seconds: Option<f64>,
    /// Exact (uncapped) session counts per user and per database, for limits.
    pub per_user: HashMap<String, u64>,
    pub per_database: HashMap<String, u64>,
    /// Client sessions that are counted (they hold a slot) but whose state, origin
    /// or durations the exporter's privileges hide; they are in `State::Other`.
    pub hidden: u64,
}

/// Folds session groups into per-state facts and a capped origin breakdown.
///
/// `origin_cap` bounds the number of distinct origins reported: the largest
/// `origin_cap - 1` stay, the rest are summed into [`Origin::other`].
pub fn summarize_sessions(
    groups: impl IntoIterator<Item = SessionGroup>,
    thresholds: &[f64],
    origin_cap: usize,
) -> SessionFacts {
    let mut by_state = PerState::<u64>::default();
    let mut max_state = PerState::<f64>::default();
    let mut over: Vec<PerState<u64>> = vec![PerState::default(); thresholds.len()];
    let mut oldest_tx: f64 = 0.0;
    let mut sum_age = 0.0;
    let mut max_age: f64 = 0.0;
    let mut per_user: HashMap<String, u64> = HashMap::new();
    let mut per_database: HashMap<String, u64> = HashMap::new();
    let mut per_origin: HashMap<Origin, PerState<u64>> = HashMap::new();
    let mut hidden = 0;
    let mut aged = 0;

    for g in groups {
        if g.count == 0 {
            continue;
        }
        let g = if g.hidden {
            hidden += g.count;
            SessionGroup {
                state: State::Other,
                ..g
            }
        } else {
            aged += g.count;
            g
        };
        *by_state.get_mut(g.state) += g.count;
        let m = max_state.get_mut(g.state);
        *m = m.max(g.max_state_seconds.max(0.0));
        for (slot, n) in over.iter_mut().zip(g.over.iter()) {
            *slot.get_mut(g.state) += n;
        }
        if let Some(t) = g.oldest_transaction_seconds {
            oldest_tx = oldest_tx.max(t.max(0.0));
        }
        sum_age += g.sum_age_seconds.max(0.0);
        max_age = max_age.max(g.max_age_seconds);
        *per_user.entry(g.origin.user.clone()).or_default() += g.count;
        *per_database.entry(g.origin.database.clone()).or_default() += g.count;
        *per_origin.entry(g.origin).or_default().get_mut(g.state) += g.count;
    }

    SessionFacts {
        by_state,
        max_state_duration_seconds: max_state,
        over_duration: thresholds
            .iter()
            .zip(over)
            .map(|(&threshold_seconds, per_state)| OverDuration {
                threshold_seconds,
                per_state,
            })
            .collect(),
        origins: cap_origins(per_origin, origin_cap),
        oldest_transaction_seconds: oldest_tx,
        average_connection_age_seconds: Some(if aged == 0 {
            0.0
        } else {
            sum_age / aged as f64
        }),
        max_connection_age_seconds: Some(max_age.max(0.0)),
        per_user,
        per_database,
        hidden,
    }
}

fn cap_origins(per_origin: HashMap<Origin, PerState<u64>>, cap: usize) -> Vec<OriginCount> {
    let cap = cap.max(1);
    let mut ranked: Vec<(Origin, PerState<u64>)> = per_origin.into_iter().collect();
    if ranked.len() > cap {
        // Largest first; ties broken by name so the kept set is stable between scrapes.
        ranked.sort_by(|a, b| b.1.total().cmp(&a.1.total()).then_with(|| a.0.cmp(&b.0)));
        let folded = ranked.split_off(cap - 1);
        let mut other = PerState::<u64>::default();
        for (_, counts) in folded {
            for s in State::ALL {
                *other.get_mut(s) += counts.get(s);
            }
        }
        // A real origin named other/other/other merges with the bucket.
        match ranked.iter_mut().find(|(o, _)| *o == Origin::other()) {
            Some((_, counts)) => {
                for s in State::ALL {
                    *counts.get_mut(s) += other.get(s);
                }
            }
            None => ranked.push((Origin::other(), other)),
        }
    }
    ranked.sort_by(|a, b| a.0.cmp(&b.0));
    ranked
        .into_iter()
        .flat_map(|(origin, counts)| {
            State::ALL.into_iter().filter_map(move |state| {
                let count = counts.get(state);
                (count > 0).then(|| OriginCount {
                    origin: origin.clone(),
                    state,
                    count,
                })
            })
        })
        .collect()
}
#[cfg(test)]
mod tests {
    use super::*;

    fn origin(app: &str) -> Origin {
        Origin {
            database: "db".into(),
            user: "u".into(),
            application: app.into(),
        }
    }

    fn group(app: &str, state: State, count: u64) -> SessionGroup {
        SessionGroup {
            hidden: false,
            origin: origin(app),
            state,
            count,
            max_state_seconds: 1.0,
            sum_age_seconds: 10.0 * count as f64,
            max_age_seconds: 10.0,
            oldest_transaction_seconds: None,
            over: vec![count, 0],
        }
    }

    #[test]
    fn summary_adds_up_states_and_thresholds() {
        let facts = summarize_sessions(
            vec![
                group("a", State::Idle, 3),
                group("a", State::Active, 1),
                group("b", State::Idle, 2),
            ],
            &[30.0, 60.0],
            10,
        );
        assert_eq!(facts.by_state.get(State::Idle), 5);
        assert_eq!(facts.by_state.get(State::Active), 1);
        assert_eq!(facts.by_state.total(), 6);
        assert_eq!(facts.over_duration[0].per_state.get(State::Idle), 5);
        assert_eq!(facts.over_duration[1].per_state.get(State::Idle), 0);
        assert_eq!(facts.average_connection_age_seconds, Some(10.0));
        assert_eq!(facts.per_user["u"], 6);
        assert_eq!(facts.origins.len(), 3);
    }

    #[test]
    fn origins_beyond_the_cap_fold_into_other() {
        let groups: Vec<_> = (0..500)
            .map(|i| group(&format!("app-{i}"), State::Idle, 1 + (i % 3)))
            .collect();
        let facts = summarize_sessions(groups, &[], 50);
        let distinct: std::collections::HashSet<_> =
            facts.origins.iter().map(|o| o.origin.clone()).collect();
        assert_eq!(distinct.len(), 50);
        assert!(distinct.contains(&Origin::other()));
        let sum: u64 = facts.origins.iter().map(|o| o.count).sum();
        assert_eq!(
            sum,
            facts.by_state.total(),
            "folding must not lose sessions"
        );
    }

    #[test]
    fn an_origin_really_named_other_merges_with_the_bucket() {
        let mut groups: Vec<_> = (0..5)
            .map(|i| group(&format!("app-{i}"), State::Idle, 1))
            .collect();
        groups.push(SessionGroup {
            origin: Origin::other(),
            ..group("x", State::Idle, 1)
        });
        let facts = summarize_sessions(groups, &[], 3);
        let sum: u64 = facts.origins.iter().map(|o| o.count).sum();
        assert_eq!(sum, 6);
        let distinct: std::collections::HashSet<_> =
            facts.origins.iter().map(|o| o.origin.clone()).collect();
        assert!(distinct.len() <= 3);
    }
}
