//! Exposition parsed by the reference OpenMetrics parser (Python `prometheus_client`,
//! installed into `.venv` by scripts/setup.sh). Tests read values through it, never
//! by grepping text, so an output that breaks the format fails every test that reads
//! it.

use std::collections::BTreeMap;
use std::path::PathBuf;

pub type Labels = BTreeMap<String, String>;

#[derive(Clone, Debug)]
pub struct Sample {
    pub family: String,
    pub kind: String,
    pub name: String,
    pub labels: Labels,
    pub value: f64,
}

#[derive(Clone, Debug)]
pub struct Metrics {
    pub samples: Vec<Sample>,
    text: String,
}

fn python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let py = root.join(".venv/bin/python3");
    assert!(
        py.is_file(),
        "{} is missing: run scripts/setup.sh (it installs the reference OpenMetrics parser)",
        py.display()
    );
    py
}

/// Parses OpenMetrics text strictly; panics with the text on any format error.
pub fn parse(text: &str) -> Metrics {
    let raw: Vec<serde_json::Value> = run_parser(&[], text);
    Metrics {
        samples: raw.iter().map(sample).collect(),
        text: text.to_string(),
    }
}

/// Parses many expositions with one parser process.
pub fn parse_many(texts: &[String]) -> Vec<Metrics> {
    if texts.is_empty() {
        return Vec::new();
    }
    let joined = texts.join("\0");
    let raw: Vec<Vec<serde_json::Value>> = run_parser(&["--many"], &joined);
    assert_eq!(raw.len(), texts.len());
    raw.iter()
        .zip(texts)
        .map(|(samples, text)| Metrics {
            samples: samples.iter().map(sample).collect(),
            text: text.clone(),
        })
        .collect()
}

fn run_parser<T: serde::de::DeserializeOwned>(args: &[&str], input: &str) -> T {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/parse_openmetrics.py");
    let mut all = vec![script.to_str().expect("UTF-8 path")];
    all.extend_from_slice(args);
    let output = super::proc::run_with_stdin(&python(), &all, input.as_bytes());
    assert!(
        output.status.success(),
        "the OpenMetrics parser rejected the exposition:\n{}\n--- exposition ---\n{input}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("parser output is JSON")
}

fn sample(s: &serde_json::Value) -> Sample {
    Sample {
        family: s["family"].as_str().unwrap_or_default().to_string(),
        kind: s["type"].as_str().unwrap_or_default().to_string(),
        name: s["name"].as_str().unwrap_or_default().to_string(),
        labels: s["labels"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default(),
        value: s["value"].as_f64().unwrap_or(f64::NAN),
    }
}

impl Metrics {
    /// The value of the one sample named `name` whose labels include all of
    /// `labels`; None if there is none. Several matches are a test bug and panic.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let matching: Vec<&Sample> = self
            .samples
            .iter()
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect();
        match matching.as_slice() {
            [] => None,
            [one] => Some(one.value),
            many => panic!(
                "{} samples of {name} match {labels:?}: {:?}",
                many.len(),
                many.iter().map(|s| &s.labels).collect::<Vec<_>>()
            ),
        }
    }

    /// Like [`Metrics::value`] for one target's sample, panicking (with the
    /// exposition) when it is missing.
    pub fn get(&self, target: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
        let mut all = vec![("target", target)];
        all.extend_from_slice(labels);
        self.value(name, &all)
            .unwrap_or_else(|| panic!("no sample {name}{all:?} in:\n{}", self.text))
    }

    /// Every sample named `name`, with its labels.
    pub fn series(&self, name: &str) -> Vec<(Labels, f64)> {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .map(|s| (s.labels.clone(), s.value))
            .collect()
    }

    /// The exposition as served, for failure messages.
    pub fn text(&self) -> &str {
        &self.text
    }
}
