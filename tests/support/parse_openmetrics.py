"""Strict OpenMetrics parsing for the Rust tests: the reference parser from
prometheus_client, reading the exposition on stdin and writing its samples as JSON.
Any deviation from the OpenMetrics spec is an exception and a non-zero exit."""
import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families


def samples(text):
    out = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.append({
                "family": family.name,
                "type": family.type,
                "name": s.name,
                "labels": s.labels,
                "value": s.value,
            })
    return out


# With --many, stdin holds several expositions separated by NUL bytes, and the output
# is one list of samples per exposition (one process for a whole scrape storm).
text = sys.stdin.read()
if sys.argv[1:] == ["--many"]:
    json.dump([samples(t) for t in text.split("\0")], sys.stdout)
else:
    json.dump(samples(text), sys.stdout)
