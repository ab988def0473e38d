//! Reload without restart: the configuration being served, swapped whole when
//! SIGHUP or `POST /-/reload` asks for it.
//!
//! A request reads the served configuration once and keeps that copy to the end, so
//! it never sees half of a reload: the targets and the settings it reads them with
//! always come from the same file.
//!
//! Targets are matched by name, and a target whose connector would be built from the
//! same inputs (its [`Identity`]) is kept as it is: its session stays open and its
//! counters go on. Reconnecting an unchanged target would cost its server a login,
//! and on a server that is full the exporter might not get back in, which is when it
//! is needed. Only new targets connect (and, in eager mode, kept ones holding no
//! session, as after lazy sessions turned eager: eager means a session is ready
//! before the first scrape), only removed or changed ones close their session, and
//! those close before the new configuration is served and anything new connects: a
//! renamed target, or a changed DSN, may point at the same server, and the exporter
//! must never hold an old and a new session there at once. So a reload waits for a
//! login in flight on such a target too (abandoning it would leave its server
//! process holding a slot); a scrape that meanwhile still reads the old
//! configuration sees those targets down.
//!
//! A file that does not load, or whose targets would not fit in the open files left
//! beside the HTTP connections, changes nothing: the previous configuration goes on
//! being served and `dbconn_config_last_reload_successful` says it. Reloads run one
//! at a time, each to its end even if the client that asked for it hangs up: a
//! reload stopped halfway would leave sessions that belong to no served target.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::cli::Cli;
use crate::config::{Collection, Config, Identity};
use crate::model::ExporterState;
use crate::target::Target;
use crate::web::Web;

/// The configuration as served: what one request reads from start to end.
pub struct Served {
    pub targets: Vec<Arc<Target>>,
    pub collection: Collection,
    /// Each target's identity, by name.
    identities: HashMap<String, Identity>,
}

/// What a reload did, by target name.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Unchanged: the target, its session and its counters go on.
    pub keep: Vec<String>,
    /// New names: a target is started.
    pub start: Vec<String>,
    /// Same name, another DSN, password, root certificate or connect timeout: the
    /// old target is retired, then a new one started.
    pub replace: Vec<String>,
    /// Names no longer configured: the target is retired, its session closed.
    pub retire: Vec<String>,
}

/// Which targets a new configuration keeps, starts, replaces and retires, from the
/// names and identities of the old and of the new one (in the new one's order;
/// retired names in the old one's).
pub fn plan(old: &[(&str, &Identity)], new: &[(&str, &Identity)]) -> Plan {
    let before: HashMap<&str, &Identity> = old.iter().copied().collect();
    let after: HashSet<&str> = new.iter().map(|(name, _)| *name).collect();
    let mut plan = Plan::default();
    for (name, identity) in new {
        let list = match before.get(name) {
            Some(was) if was == identity => &mut plan.keep,
            Some(_) => &mut plan.replace,
            None => &mut plan.start,
        };
        list.push(name.to_string());
    }
    plan.retire = old
        .iter()
        .filter(|(name, _)| !after.contains(name))
        .map(|(name, _)| name.to_string())
        .collect();
    plan
}

/// The check a new configuration's number of targets must pass: the open-file
/// budget decided at start, which the caller (the server, which owns the
/// descriptors) knows and this module does not.
pub type Admit = Box<dyn Fn(usize) -> Result<(), String> + Send + Sync>;

/// The served configuration, the outcome of the last load, and the means to load
/// again.
pub struct Reloader {
    /// The flags as given at start: `--target` values stay, the file is read again.
    cli: Cli,
    served: RwLock<Arc<Served>>,
    state: Mutex<ExporterState>,
    /// `--web.config.file`, read again by every reload.
    web: Arc<Web>,
    /// Whether a reload's target count fits the open files.
    admit: Admit,
    /// Held for a whole reload, so that two never interleave.
    one_at_a_time: tokio::sync::Mutex<()>,
}

impl Reloader {
    /// Starts serving `config` (loaded from `cli`): builds its targets and starts
    /// opening their sessions. Every reload's target count must pass `admit`.
    pub fn start(cli: Cli, config: Config, web: Arc<Web>, admit: Admit) -> Arc<Reloader> {
        let read_settings = config.collection.read_settings();
        let policy = config.collection.policy();
        let mut identities = HashMap::new();
        let mut targets = Vec::new();
        for spec in config.targets {
            identities.insert(spec.name.clone(), spec.identity);
            targets.push(Target::new(
                spec.name,
                spec.connector,
                read_settings.clone(),
                policy.clone(),
            ));
        }
        warm_up(&targets);
        Arc::new(Reloader {
            cli,
            served: RwLock::new(Arc::new(Served {
                targets,
                collection: config.collection,
                identities,
            })),
            state: Mutex::new(ExporterState {
                last_reload_successful: true,
                last_reload_success_seconds: now(),
            }),
            web,
            admit,
            one_at_a_time: tokio::sync::Mutex::new(()),
        })
    }

    /// The configuration being served now.
    pub fn served(&self) -> Arc<Served> {
        Arc::clone(&self.served.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The outcome of the last load, for the exporter's own metrics.
    pub fn state(&self) -> ExporterState {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads the configuration file again and applies it; on failure keeps serving
    /// the previous configuration. `trigger` (SIGHUP, the HTTP route) is logged. The
    /// error is the reason, fit for a log or an HTTP body: it names files, keys and
    /// targets, never a password.
    pub async fn reload(self: &Arc<Self>, trigger: &'static str) -> Result<Plan, String> {
        let this = Arc::clone(self);
        // A task of its own: a client that hangs up must not stop a reload halfway.
        tokio::spawn(async move { this.reload_now(trigger).await })
            .await
            .unwrap_or_else(|e| Err(format!("the reload did not finish: {e}")))
    }

    async fn reload_now(&self, trigger: &'static str) -> Result<Plan, String> {
        let _alone = self.one_at_a_time.lock().await;
        let loaded = async {
            let config = self.load().await?;
            (self.admit)(config.targets.len())?;
            // The web configuration is read again by the same reload, after the
            // configuration file and before anything is applied: a bad web file fails
            // the reload, and keeps everything as it was, as a bad configuration does.
            let web = Arc::clone(&self.web);
            tokio::task::spawn_blocking(move || web.reload())
                .await
                .map_err(|e| format!("the web configuration reload did not finish: {e}"))??;
            Ok::<Config, String>(config)
        };
        let loaded = match loaded.await {
            Ok(config) => config,
            Err(e) => {
                self.state
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .last_reload_successful = false;
                tracing::error!(
                    trigger,
                    error = %e,
                    "configuration reload failed; still serving the previous configuration"
                );
                return Err(e);
            }
        };
        let plan = self.apply(loaded).await;
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = ExporterState {
            last_reload_successful: true,
            last_reload_success_seconds: now(),
        };
        tracing::info!(
            trigger,
            kept = plan.keep.len(),
            started = plan.start.len(),
            replaced = plan.replace.len(),
            retired = plan.retire.len(),
            "configuration reloaded"
        );
        Ok(plan)
    }

    /// `Config::load` off the runtime's one thread: it reads files (the
    /// configuration, password files, certificates), and a slow disk must not stall
    /// scrapes meanwhile.
    async fn load(&self) -> Result<Config, String> {
        let cli = self.cli.clone();
        match tokio::task::spawn_blocking(move || Config::load(&cli)).await {
            Ok(Ok(config)) => Ok(config),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(format!("the configuration load did not finish: {e}")),
        }
    }

    /// Serves `config` from now on, keeping every unchanged target.
    async fn apply(&self, config: Config) -> Plan {
        let old = self.served();
        let plan = {
            let before: Vec<(&str, &Identity)> = old
                .targets
                .iter()
                .filter_map(|t| Some((t.name(), old.identities.get(t.name())?)))
                .collect();
            let after: Vec<(&str, &Identity)> = config
                .targets
                .iter()
                .map(|s| (s.name.as_str(), &s.identity))
                .collect();
            plan(&before, &after)
        };
        let kept: HashSet<&str> = plan.keep.iter().map(String::as_str).collect();
        let mut old_targets: HashMap<&str, &Arc<Target>> =
            old.targets.iter().map(|t| (t.name(), t)).collect();
        let settings_changed = old.collection != config.collection;
        let read_settings = config.collection.read_settings();
        let policy = config.collection.policy();
        let mut targets = Vec::with_capacity(config.targets.len());
        let mut identities = HashMap::with_capacity(config.targets.len());
        for spec in config.targets {
            let same = if kept.contains(spec.name.as_str()) {
                old_targets.remove(spec.name.as_str())
            } else {
                None
            };
            let target = match same {
                Some(t) => {
                    if settings_changed {
                        t.reconfigure(read_settings.clone(), policy.clone());
                    }
                    Arc::clone(t)
                }
                None => Target::new(
                    spec.name.clone(),
                    spec.connector,
                    read_settings.clone(),
                    policy.clone(),
                ),
            };
            identities.insert(spec.name, spec.identity);
            targets.push(target);
        }
        // What is left of the old targets is removed or replaced: closed first.
        futures::future::join_all(old_targets.values().map(|t| t.retire())).await;
        let served = Arc::new(Served {
            targets,
            collection: config.collection,
            identities,
        });
        *self.served.write().unwrap_or_else(PoisonError::into_inner) = Arc::clone(&served);
        // Every served target, not only the new ones: a kept target has no session
        // when the file turned lazy sessions eager (warming one that has a session,
        // or is connecting, does nothing; in lazy mode nothing warms up).
        warm_up(&served.targets);
        plan
    }
}

/// Starts opening each target's session ahead of the first scrape.
fn warm_up(targets: &[Arc<Target>]) {
    for t in targets {
        let t = Arc::clone(t);
        tokio::spawn(async move { t.warm_up().await });
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Cli;
    use clap::Parser;

    /// Identities of real specs, from DSNs (and password files) as a user writes them.
    fn identities(targets: &[&str]) -> Vec<(String, Identity)> {
        let mut args = vec!["dbconn_exporter".to_string()];
        for t in targets {
            args.push("--target".into());
            args.push(t.to_string());
        }
        let config = Config::load(&Cli::try_parse_from(args).unwrap()).unwrap();
        config
            .targets
            .into_iter()
            .map(|s| (s.name, s.identity))
            .collect()
    }

    fn borrowed(v: &[(String, Identity)]) -> Vec<(&str, &Identity)> {
        v.iter().map(|(n, i)| (n.as_str(), i)).collect()
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn targets_are_kept_started_replaced_and_retired_by_name_and_identity() {
        let old = identities(&[
            "a=postgres://u:pw@h1/db",
            "b=postgres://u:pw@h2/db",
            "c=mysql://u:pw@h3/",
        ]);
        let new = identities(&[
            "d=postgres://u:pw@h4/db",
            "b=postgres://u:pw@h2/db",
            "c=mysql://u:other@h3/",
        ]);
        let p = plan(&borrowed(&old), &borrowed(&new));
        assert_eq!(
            p,
            Plan {
                keep: names(&["b"]),
                start: names(&["d"]),
                replace: names(&["c"]),
                retire: names(&["a"]),
            }
        );
    }

    #[test]
    fn the_same_configuration_keeps_everything() {
        let old = identities(&["a=postgres://u@h1/db", "b=mysql://u@h2/"]);
        let new = identities(&["a=postgres://u@h1/db", "b=mysql://u@h2/"]);
        let p = plan(&borrowed(&old), &borrowed(&new));
        assert_eq!(p.keep, names(&["a", "b"]));
        assert!(p.start.is_empty() && p.replace.is_empty() && p.retire.is_empty());
    }

    #[test]
    fn a_renamed_target_is_a_new_one() {
        let old = identities(&["a=postgres://u@h1/db"]);
        let new = identities(&["z=postgres://u@h1/db"]);
        let p = plan(&borrowed(&old), &borrowed(&new));
        assert_eq!((p.start, p.retire), (names(&["z"]), names(&["a"])));
    }

    #[test]
    fn any_change_to_what_the_session_is_opened_with_replaces_the_target() {
        let base = "a=postgres://u:pw@h/db";
        for changed in [
            "a=postgres://u:pw@h/other",
            "a=postgres://u:pw2@h/db",
            "a=postgres://u:pw@h:5433/db",
            "a=postgres://u:pw@h/db?application_name=x",
        ] {
            let old = identities(&[base]);
            let new = identities(&[changed]);
            let p = plan(&borrowed(&old), &borrowed(&new));
            assert_eq!(p.replace, names(&["a"]), "{changed}");
        }
    }
}
