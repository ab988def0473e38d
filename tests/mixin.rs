//! The monitoring mixin (mixin/): the committed alert rules, PrometheusRule and
//! dashboards are built from it, every runbook link they carry names a runbook that
//! exists, and a mixin built with other settings (a selector, other thresholds, the
//! runbooks in a wiki) is still a rule file Prometheus loads, with the settings in
//! every place they belong. `.venv/bin/python3 mixin/build.py --check` (scripts/test.sh)
//! keeps the committed files current; these tests build variants into scratch
//! directories with the same script.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::proc::{ScratchDir, require_binary};

/// Where runbook links point by default: the runbooks shipped in docs/runbooks/.
const RUNBOOK_BASE: &str =
    "https://github.com/dbconn-exporter/dbconn_exporter/blob/main/docs/runbooks/";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn yaml(path: &Path) -> Value {
    serde_saphyr::from_str::<Value>(&read(path))
        .unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// The pinned jsonnet lives in the repository's .venv (scripts/setup.sh).
fn python() -> PathBuf {
    let python = repo().join(".venv/bin/python3");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/setup.sh",
        python.display()
    );
    python
}

/// Runs mixin/build.py with `args` from the repository root.
fn build(args: &[&str]) -> std::process::Output {
    Command::new(python())
        .arg(repo().join("mixin/build.py"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("run mixin/build.py")
}

/// Builds the mixin with `settings` into a scratch directory.
fn build_with(settings: &[&str]) -> ScratchDir {
    let out = ScratchDir::new("dbconn-mixin");
    let mut args = vec!["--out", out.path().to_str().expect("utf-8 path")];
    for s in settings {
        args.extend(["--set", s]);
    }
    let output = build(&args);
    assert!(
        output.status.success(),
        "mixin/build.py {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    out
}

fn promtool(args: &[&str], dir: &Path) {
    let promtool = require_binary("promtool", &["/usr/bin/promtool"]);
    let output = Command::new(&promtool)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run promtool");
    assert!(
        output.status.success(),
        "promtool {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Every alert rule of a rule file (a `groups:` document).
fn alerts(rules: &Value) -> Vec<&Value> {
    rules["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules").iter())
        .filter(|r| r.get("alert").is_some())
        .collect()
}

fn alert<'a>(rules: &'a Value, name: &str) -> &'a Value {
    alerts(rules)
        .into_iter()
        .find(|a| a["alert"] == name)
        .unwrap_or_else(|| panic!("no alert {name}"))
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The matchers of every dbconn_* selector in a PromQL text (also inside the Go
/// templates of annotations): (metric, matchers), "" for a bare name.
fn selectors(promql: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = promql;
    while let Some(at) = rest.find("dbconn_") {
        let tail = &rest[at..];
        let name_len = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..name_len];
        let after = &tail[name_len..];
        let matchers = if let Some(inner) = after.strip_prefix('{') {
            inner.split('}').next().unwrap_or("").to_string()
        } else {
            String::new()
        };
        out.push((name.to_string(), matchers));
        rest = &tail[name_len..];
    }
    out
}

/// Every URL in a text that starts with `base`, up to a quote, space or bracket.
fn links_under<'a>(text: &'a str, base: &str) -> Vec<&'a str> {
    text.match_indices(base)
        .map(|(at, _)| {
            let tail = &text[at..];
            let end = tail
                .find(|c: char| c == '"' || c == '\'' || c.is_whitespace() || c == ')')
                .unwrap_or(tail.len());
            &tail[..end]
        })
        .collect()
}

/// The generated files of a build rooted at `root`, as text: the rules, the
/// PrometheusRule and every dashboard.
fn generated_texts(root: &Path) -> Vec<(PathBuf, String)> {
    let mut files = vec![
        root.join("alerts/dbconn.rules.yml"),
        root.join("alerts/kubernetes/prometheusrule.yaml"),
    ];
    let mut boards: Vec<PathBuf> = std::fs::read_dir(root.join("dashboards"))
        .expect("list dashboards")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    boards.sort();
    files.extend(boards);
    files
        .into_iter()
        .map(|p| {
            let t = read(&p);
            (p, t)
        })
        .collect()
}

#[test]
fn every_runbook_link_names_a_runbook_in_the_repository() {
    assert!(
        read(&repo().join("mixin/config.libsonnet")).contains(&format!("'{RUNBOOK_BASE}'")),
        "the default runbookBaseURL is {RUNBOOK_BASE}"
    );
    let runbooks = repo().join("docs/runbooks");
    let mut linked = BTreeSet::new();
    for (path, text) in generated_texts(&repo()) {
        for link in links_under(&text, RUNBOOK_BASE) {
            let file = &link[RUNBOOK_BASE.len()..];
            assert!(
                !file.contains('/') && runbooks.join(file).is_file(),
                "{}: {link} names no file in docs/runbooks/",
                path.display()
            );
            linked.insert(file.to_string());
        }
    }

    // Every alert has its own runbook, and every runbook page is some alert's.
    let rules = yaml(&repo().join("alerts/dbconn.rules.yml"));
    let mut names = BTreeSet::new();
    for a in alerts(&rules) {
        let name = text(&a["alert"]);
        assert_eq!(
            text(&a["annotations"]["runbook_url"]),
            format!("{RUNBOOK_BASE}{name}.md"),
            "{name}"
        );
        names.insert(format!("{name}.md"));
    }
    let pages: BTreeSet<String> = std::fs::read_dir(&runbooks)
        .expect("list docs/runbooks")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".md") && n != "README.md")
        .collect();
    assert_eq!(pages, names, "runbook pages vs alerts");
    // The dashboards link the index of all runbooks.
    assert!(linked.contains("README.md"), "{linked:?}");
    assert!(names.len() >= 17, "{names:?}");
}

#[test]
fn the_prometheus_rule_carries_the_rule_file() {
    let rules = yaml(&repo().join("alerts/dbconn.rules.yml"));
    let manifest = yaml(&repo().join("alerts/kubernetes/prometheusrule.yaml"));
    assert_eq!(manifest["kind"], "PrometheusRule");
    assert_eq!(manifest["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(manifest["spec"], rules);
}

#[test]
fn a_mixin_with_another_selector_and_thresholds_loads_and_uses_them() {
    let selector = r#"job=~"dbconn.*", env="prod""#;
    let selector_setting = format!("selector={selector}");
    let out = build_with(&[
        &selector_setting,
        "connectionsHighRatio=0.7",
        "connectionsHighFor=5m",
        "connectionsCriticalRatio=0.9",
        "longRunningThresholdSeconds=600",
        "lockWaitSeconds=60",
        "poolMaxWaitSeconds=10",
        // Every other ratio that defaults to 0.8, so that no line may stay there.
        "idleConnectionsShare=0.85",
        "poolQueueDatabaseHeadroomRatio=0.75",
        "dashboardUIDPrefix=team-a-",
        // Behind TLS (README "Alerts, runbooks and dashboards").
        "incidentPageURL=https://%(exporter)s/incident?target=%(target)s",
    ]);
    promtool(&["check", "rules", "alerts/dbconn.rules.yml"], out.path());

    let rules = yaml(&out.path().join("alerts/dbconn.rules.yml"));
    // The selector reaches every dbconn_* selector, in exprs and in the queries the
    // annotations run.
    let mut seen = 0;
    for a in alerts(&rules) {
        let mut found = selectors(&text(&a["expr"]));
        // In the annotations, the selectors of the queries they run (prose may name
        // a metric bare).
        for annotation in a["annotations"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
        {
            found.extend(
                selectors(&text(annotation))
                    .into_iter()
                    .filter(|(_, matchers)| !matchers.is_empty()),
            );
        }
        for (metric, matchers) in found {
            seen += 1;
            assert!(
                matchers.contains(selector),
                "{}: {metric}{{{matchers}}} lacks the selector",
                text(&a["alert"])
            );
        }
    }
    assert!(seen > 40, "{seen} selectors");

    // The thresholds, in the expression, the `for` and the words.
    let high = alert(&rules, "DatabaseConnectionsHigh");
    assert!(text(&high["expr"]).contains("> 0.7"), "{high}");
    assert_eq!(text(&high["for"]), "5m");
    assert!(
        text(&high["annotations"]["summary"]).contains("70%"),
        "{high}"
    );
    let critical = alert(&rules, "DatabaseConnectionsCritical");
    assert!(text(&critical["expr"]).contains("> 0.9"), "{critical}");
    let long = alert(&rules, "DatabaseLongRunningQueries");
    assert!(
        text(&long["expr"]).contains(r#"threshold_seconds="600""#),
        "{long}"
    );
    assert!(
        text(&long["annotations"]["description"]).contains("10 minutes"),
        "{long}"
    );
    let locks = alert(&rules, "DatabaseLockContention");
    assert!(text(&locks["expr"]).contains("> 60"), "{locks}");
    assert!(
        text(&high["annotations"]["incident_page"])
            .starts_with("https://{{ with $labels.exporter }}"),
        "{high}"
    );
    let waiting = alert(&rules, "PgBouncerClientsWaiting");
    assert!(text(&waiting["expr"]).contains("> 10"), "{waiting}");

    // The dashboards: every query carries the selector, the uids the prefix, and the
    // usage panels draw their lines at the new levels.
    let queries = json(&out.path().join("tests/dashboard-queries.json"));
    let queries = queries.as_array().expect("queries");
    assert!(queries.len() > 30, "{} queries", queries.len());
    for q in queries {
        let expr = text(&q["expr"]);
        for (metric, matchers) in selectors(&expr) {
            assert!(
                matchers.contains(selector),
                "{metric}{{{matchers}}} in {expr}"
            );
        }
        assert!(text(&q["dashboard"]).starts_with("team-a-"), "{q}");
    }
    let overview = json(&out.path().join("dashboards/dbconn-overview.json"));
    assert_eq!(overview["uid"], "team-a-overview");
    let links = overview.to_string();
    assert!(
        links.contains(
            "https://${__field.labels.instance}/incident?target=${__field.labels.target}"
        ) && !links.contains("http://${__field"),
        "the data links follow incidentPageURL"
    );
    let steps: Vec<f64> = overview["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .filter(|p| p["fieldConfig"]["defaults"]["unit"] == "percentunit")
        .flat_map(|p| {
            p["fieldConfig"]["defaults"]["thresholds"]["steps"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|s| s["value"].as_f64())
        .collect();
    assert!(steps.contains(&0.7) && steps.contains(&0.9), "{steps:?}");
    assert!(!steps.contains(&0.8), "{steps:?}");
    for variable in overview["templating"]["list"]
        .as_array()
        .expect("variables")
    {
        if let Some(definition) = variable["definition"].as_str() {
            for (metric, matchers) in selectors(definition) {
                assert!(matchers.contains(selector), "{metric}{{{matchers}}}");
            }
        }
    }
}

/// The promtool unit tests of alerts/tests/, one test here per file so that each
/// stays short (promtool evaluates every rule each second of hours of series).
const UNIT_TEST_FILES: [&str; 5] = [
    "exporter.test.yml",
    "pgbouncer.test.yml",
    "privileges.test.yml",
    "saturation.test.yml",
    "sessions.test.yml",
];

#[test]
fn every_alert_unit_test_file_also_runs_against_a_selector_build() {
    let mut found: Vec<String> = std::fs::read_dir(repo().join("alerts/tests"))
        .expect("list alerts/tests")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    found.sort();
    assert_eq!(
        found, UNIT_TEST_FILES,
        "add the new file to UNIT_TEST_FILES"
    );
}

/// Runs one promtool test file against the alerts built with only a selector. The
/// tests' series carry job="dbconn": a selector matching it changes nothing they
/// assert. Only the alerts are evaluated (the dashboards take most of a full build).
fn selector_only_unit_tests(file: &str) {
    let rules = evaluate(
        r#"
local mixin = (import 'mixin/mixin.libsonnet') + { _config+:: { selector: 'job=~"dbconn.*"' } };
std.manifestYamlDoc(mixin.prometheusAlerts, indent_array_in_object=true, quote_keys=false)
"#,
    );
    let rules = rules.as_str().expect("YAML text");
    assert!(
        rules.contains(r#"dbconn_usage_ratio{job=~\"dbconn.*\"}"#),
        "{rules}"
    );
    let out = ScratchDir::new("dbconn-mixin-selector");
    std::fs::create_dir_all(out.path().join("alerts/tests")).expect("create tests dir");
    std::fs::write(out.path().join("alerts/dbconn.rules.yml"), rules).expect("write rules");
    std::fs::copy(
        repo().join("alerts/tests").join(file),
        out.path().join("alerts/tests").join(file),
    )
    .expect("copy the test file");
    promtool(
        &["test", "rules", &format!("alerts/tests/{file}")],
        out.path(),
    );
}

#[test]
fn with_only_a_selector_the_exporter_alert_tests_pass() {
    selector_only_unit_tests(UNIT_TEST_FILES[0]);
}

#[test]
fn with_only_a_selector_the_pgbouncer_alert_tests_pass() {
    selector_only_unit_tests(UNIT_TEST_FILES[1]);
}

#[test]
fn with_only_a_selector_the_privileges_alert_tests_pass() {
    selector_only_unit_tests(UNIT_TEST_FILES[2]);
}

#[test]
fn with_only_a_selector_the_saturation_alert_tests_pass() {
    selector_only_unit_tests(UNIT_TEST_FILES[3]);
}

#[test]
fn with_only_a_selector_the_sessions_alert_tests_pass() {
    selector_only_unit_tests(UNIT_TEST_FILES[4]);
}

/// The README's command that builds the rules for runbooks kept in a wiki.
fn readme_wiki_command() -> String {
    let readme = read(&repo().join("README.md"));
    let section = &readme[readme
        .find("### Runbooks in your own wiki")
        .expect("README has a section on runbooks in a wiki")..];
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a sh block in that section");
    block.trim().to_string()
}

#[test]
fn the_readme_builds_the_rules_for_a_wiki_in_one_command() {
    let command = readme_wiki_command();
    assert_eq!(
        command
            .lines()
            .filter(|l| !l.trim_end().ends_with('\\'))
            .count(),
        1,
        "one command: {command}"
    );
    assert!(command.contains("--out build/wiki"), "{command}");
    let out = ScratchDir::new("dbconn-mixin-wiki");
    let command = command.replace(
        "--out build/wiki",
        &format!("--out {}", out.path().display()),
    );
    let output = Command::new("bash")
        .args(["-c", &command])
        .current_dir(repo())
        .output()
        .expect("run the README's command");
    assert!(
        output.status.success(),
        "{command}:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    promtool(&["check", "rules", "alerts/dbconn.rules.yml"], out.path());
    let rules = yaml(&out.path().join("alerts/dbconn.rules.yml"));
    let wiki = "https://wiki.example.com/dbconn/";
    for a in alerts(&rules) {
        let name = text(&a["alert"]);
        assert_eq!(
            text(&a["annotations"]["runbook_url"]),
            format!("{wiki}{name}"),
            "{name}"
        );
    }
    for (path, text) in generated_texts(out.path()) {
        assert!(
            !text.contains(RUNBOOK_BASE),
            "{} still links the repository's runbooks",
            path.display()
        );
    }
}

#[test]
fn a_wrong_setting_is_refused_by_name() {
    let out = ScratchDir::new("dbconn-mixin-wrong");
    let dir = out.path().to_str().expect("utf-8 path");
    for (args, said) in [
        (
            vec!["--out", dir, "--set", "conectionsHighRatio=0.7"],
            "unknown setting(s): conectionsHighRatio",
        ),
        (
            vec!["--out", dir, "--set", "connectionsHighRatio=high"],
            "connectionsHighRatio (string, not number)",
        ),
        (
            vec!["--set", "connectionsHighRatio=0.7"],
            "write them elsewhere with --out",
        ),
        (
            vec!["--out", dir, "--set", "novalue"],
            "expected NAME=VALUE",
        ),
        (
            vec!["--out", dir, "--set", "connectionsHighFor=abc"],
            "connectionsHighFor: \"abc\" is not a Prometheus duration",
        ),
        (
            vec!["--out", dir, "--set", "connectionsHighRatio=80"],
            "connectionsHighRatio: 80 is a fraction (0.8 for 80%)",
        ),
        (
            vec!["--out", dir, "--set", "longRunningThresholdSeconds=45"],
            "longRunningThresholdSeconds: 45 is not one of durationThresholds",
        ),
        (
            vec![
                "--out",
                dir,
                "--set",
                "incidentPageURL=http://%(exporter)s/incident",
            ],
            "must contain %(exporter)s and %(target)s",
        ),
        (
            vec!["--out", dir, "--set", "runbookBaseURL=https://wiki/{{ . }}"],
            "which the alerts' Go templates would read as their own",
        ),
        (
            vec!["--out", dir, "--set", "selector=job=~`dbconn.*`"],
            "which the alerts' Go templates would read as their own",
        ),
        (
            vec!["--out", dir, "--set", "clusterLabel=k8s-cluster"],
            "clusterLabel: \"k8s-cluster\" is not a Prometheus label name",
        ),
        (
            vec!["--out", dir, "--set", "selector=a", "--set", "selector=b"],
            "--set selector is given twice",
        ),
        (
            vec!["--out", dir, "--set", r#"selector=job="x","#],
            "is not a list of matchers",
        ),
        (
            vec!["--out", dir, "--set", r#"selector=job~"x""#],
            "one of = != =~ !~ expected after job",
        ),
        (
            vec!["--out", dir, "--set", "refusedWindow=0s"],
            r#"refusedWindow: "0s" must be longer than 0"#,
        ),
        (
            vec!["--out", dir, "--set", "exhaustedRefusalWindow=5m1h"],
            r#"exhaustedRefusalWindow: "5m1h" is not a Prometheus duration"#,
        ),
        (
            vec!["--out", dir, "--set", "idleConnectionsShare=1"],
            "idleConnectionsShare must be below 1",
        ),
        (
            vec!["--out", dir, "--set", "runbookSuffix=\")"],
            "which no URL holds",
        ),
        (
            vec!["--out", dir, "--set", "dashboardTimeFrom=nowhere"],
            "is not a Grafana time",
        ),
    ] {
        let output = build(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} was accepted");
        assert!(stderr.contains(said), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("std.jsonnet"),
            "{args:?}: a stack, not a message: {stderr}"
        );
    }
    // Nothing was written by the refused builds.
    assert!(
        std::fs::read_dir(out.path())
            .expect("list")
            .next()
            .is_none(),
        "a refused build wrote files"
    );
}

/// The README's jsonnet that imports the mixin with its own settings.
fn readme_jsonnet() -> String {
    let readme = read(&repo().join("README.md"));
    let section = &readme[readme
        .find("### The mixin in your own jsonnet")
        .expect("README has a section on importing the mixin")..];
    section
        .split("```jsonnet\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a jsonnet block in that section")
        .to_string()
}

/// Evaluates a jsonnet snippet with the repository as its library path.
fn evaluate(snippet: &str) -> Value {
    let output = evaluate_raw(snippet);
    assert!(
        output.status.success(),
        "{snippet}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("jsonnet output")
}

fn evaluate_raw(snippet: &str) -> std::process::Output {
    let mut child = Command::new(python())
        .args([
            "-c",
            "import _jsonnet, sys; print(_jsonnet.evaluate_snippet('snippet', sys.stdin.read(), jpathdir=[sys.argv[1]]))",
            repo().to_str().expect("utf-8 path"),
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run jsonnet");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), snippet.as_bytes())
        .expect("write the snippet");
    child.wait_with_output().expect("wait for jsonnet")
}

#[test]
fn an_import_with_a_wrong_value_is_refused_by_name_and_other_mixins_names_are_left_alone() {
    let config = "connectionsCriticalFor: 'soon'";
    let output = evaluate_raw(&format!(
        "((import 'mixin/mixin.libsonnet') + {{ _config+:: {{ {config} }} }}).prometheusAlerts"
    ));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{config} was accepted");
    assert!(
        stderr.contains(r#"connectionsCriticalFor: "soon" is not a Prometheus duration"#),
        "{stderr}"
    );
    // Mixins merged into one _config each keep their own names.
    let alerts = evaluate(
        "((import 'mixin/mixin.libsonnet') + { _config+:: { nodeExporterSelector: 'job=\"node\"' } }).prometheusAlerts",
    );
    assert!(
        alerts["groups"].as_array().is_some_and(|g| g.len() == 4),
        "{alerts}"
    );
}

#[test]
fn a_selector_with_braces_in_a_regex_builds_and_loads() {
    let out = build_with(&[r#"selector=instance=~"db-[0-9]{2}:9187""#]);
    promtool(&["check", "rules", "alerts/dbconn.rules.yml"], out.path());
    let queries = read(&out.path().join("tests/dashboard-queries.json"));
    assert!(
        queries.contains(r#"instance=~\"db-[0-9]{2}:9187\""#),
        "{queries}"
    );
}

#[test]
fn the_readme_jsonnet_imports_the_mixin_with_its_own_settings() {
    let value = evaluate(&readme_jsonnet());
    let high = alert(&value["alerts"], "DatabaseConnectionsHigh");
    assert_eq!(
        text(&high["expr"])
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
        r#"dbconn_usage_ratio{job=~"dbconn.*"} > 0.75"#
    );
    let overview = &value["dashboards"]["dbconn-overview.json"];
    assert!(
        overview["panels"].as_array().is_some_and(|p| p.len() > 10),
        "{overview}"
    );
}

#[test]
fn the_build_refuses_a_panel_that_breaks_a_rule_of_the_dashboards() {
    let found = evaluate(
        r#"
local g = import 'mixin/lib/grafana.libsonnet';
local T = 'target=~"$target"';
local incident = { title: 'Incident page', url: 'http://${__field.labels.instance}/incident?target=${__field.labels.target}' };
local ts(title, expr, unit='short', todo='Open the incident page.', link=incident) =
  g.timeseries(title, [g.q(expr)], unit=unit, description='What it shows.', todo=todo, link=link);
{
  good: g.problems('d', ts('good', 'dbconn_up{%s}' % T)),
  noTarget: g.problems('d', ts('noTarget', 'dbconn_up')),
  fakes: g.problems('d', ts('fakes', 'dbconn_up{%s} or vector(0)' % T)),
  noUnit: g.problems('d', ts('noUnit', 'dbconn_up{%s}' % T, unit=null)),
  noTodo: g.problems('d', ts('noTodo', 'dbconn_up{%s}' % T, todo='')),
  dropsTarget: g.problems('d', ts('dropsTarget', 'sum by (instance) (dbconn_up{%s})' % T)),
  noLink: g.problems('d', ts('noLink', 'dbconn_up{%s}' % T, link=null)),
  aggregates: g.problems('d', ts('aggregates', 'max(dbconn_up{%s})' % T)),
  rewrites: g.problems('d', ts('rewrites', 'label_replace(dbconn_up{%s}, "target", "x", "", "")' % T)),
}
"#,
    );
    assert_eq!(found["good"], serde_json::json!([]), "{found}");
    for (case, said) in [
        (
            "noTarget",
            "selector of dbconn_up lacks target=~\"$target\"",
        ),
        ("fakes", "vector() fakes data"),
        ("noUnit", "no unit"),
        ("noTodo", "does not say what to do"),
        ("dropsTarget", "the data link needs instance and target"),
        ("noLink", "it needs the incident link"),
        ("aggregates", "the data link needs instance and target"),
        ("rewrites", "the data link needs instance and target"),
    ] {
        let problems: Vec<&str> = found[case]
            .as_array()
            .expect("a list of problems")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let problems = problems.join("\n");
        assert!(problems.contains(said), "{case}: {problems}");
    }
}

#[test]
fn check_finds_a_changed_line_ending_and_a_file_left_behind() {
    let out = build_with(&[]);
    let dir = out.path().to_str().expect("utf-8 path");
    let check = || build(&["--check", "--out", dir]);
    let output = check();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let rules = out.path().join("alerts/dbconn.rules.yml");
    let original = read(&rules);
    std::fs::write(&rules, original.replace('\n', "\r\n")).expect("write CRLF");
    let output = check();
    assert!(!output.status.success(), "CRLF passed --check");
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("stale or missing: alerts/dbconn.rules.yml"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::write(&rules, original).expect("restore");

    std::fs::write(out.path().join("dashboards/dbconn-old.json"), "{}").expect("write");
    let output = check();
    assert!(!output.status.success(), "a stray dashboard passed --check");
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("dashboards/dbconn-old.json is not built by the mixin"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_idle_in_transaction_runbook_tunes_the_threshold_as_it_says() {
    let page = read(&repo().join("docs/runbooks/DatabaseIdleInTransaction.md"));
    let command = page
        .split("```sh\n")
        .skip(1)
        .find(|b| b.contains("idleInTransactionThresholdSeconds"))
        .and_then(|b| b.split("```").next())
        .expect("the runbook's tuning command")
        .trim()
        .to_string();
    let out = ScratchDir::new("dbconn-mixin-runbook");
    let command = command.replace("--out DIR", &format!("--out {}", out.path().display()));
    let output = Command::new("bash")
        .args(["-c", &command])
        .current_dir(repo())
        .output()
        .expect("run the runbook's command");
    assert!(
        output.status.success(),
        "{command}:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rules = yaml(&out.path().join("alerts/dbconn.rules.yml"));
    let alert = alert(&rules, "DatabaseIdleInTransaction");
    assert!(
        text(&alert["expr"]).contains(r#"threshold_seconds="120""#),
        "{alert}"
    );
    assert!(
        text(&alert["annotations"]["description"]).contains("more than 2 minutes"),
        "{alert}"
    );
}
