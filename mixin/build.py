#!/usr/bin/env python3
"""Builds the alert rules and dashboards from the mixin, or checks they are current.

    .venv/bin/python3 mixin/build.py            write the committed outputs
    .venv/bin/python3 mixin/build.py --check    write nothing; exit 1 with a diff if a
                                                committed output is stale or missing, or
                                                a file beside them is not built at all
                                                (with --out DIR: check DIR instead)
    .venv/bin/python3 mixin/build.py --out DIR --set NAME=VALUE ...
                                                build with changed settings into DIR
                                                (e.g. runbooks in an internal wiki)

Outputs (paths relative to the repository, or to DIR): alerts/dbconn.rules.yml,
alerts/kubernetes/prometheusrule.yaml, dashboards/*.json, tests/dashboard-queries.json.

`--set` takes a name of mixin/config.libsonnet and a value: JSON when it parses as
JSON (0.7, 300, ["a","b"], "30s"), else the text as it is (30s, https://wiki/x/).
An unknown name is refused. The committed outputs are always the defaults, so
`--set` needs `--out`.

The jsonnet is the pinned PyPI `jsonnet` in .venv (scripts/setup.sh installs it).
"""

import argparse
import difflib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# Where only generated files live: (folder, glob).
GENERATED_FOLDERS = [("dashboards", "*"), ("alerts", "*.y*ml"), ("alerts/kubernetes", "*")]
# The panel queries are a test fixture, kept out of dashboards/: a Grafana provisioner
# pointed at that folder loads every .json file in it as a dashboard.


def fail(message):
    sys.exit(f"mixin/build.py: {message}")


def parse_set(item):
    name, sep, text = item.partition("=")
    if not sep or not name:
        fail(f"--set {item!r}: expected NAME=VALUE")
    def no_constant(word):
        raise ValueError(word)

    try:
        # NaN and Infinity are not JSON: as text, they are refused by type.
        value = json.loads(text, parse_constant=no_constant)
    except ValueError:
        value = text
    return name, value


def build(overrides):
    try:
        import _jsonnet
    except ImportError:
        fail("the jsonnet module is missing: run scripts/setup.sh (it installs the pinned "
             "jsonnet into .venv) and use .venv/bin/python3")
    try:
        text = _jsonnet.evaluate_file(
            str(HERE / "build.jsonnet"),
            ext_codes={"overrides": json.dumps(overrides)},
        )
    except RuntimeError as e:
        # The first line says what is wrong; the rest is jsonnet's stack.
        fail(str(e).strip().splitlines()[0].removeprefix("RUNTIME ERROR: "))
    files = {}
    for path, body in json.loads(text).items():
        if isinstance(body, str):
            files[path] = body
        elif path.endswith(".json"):
            files[path] = json.dumps(body, indent=2, ensure_ascii=False) + "\n"
        else:
            fail(f"{path}: build.jsonnet must give the text of a non-JSON file")
    return files


def main():
    parser = argparse.ArgumentParser(
        prog="mixin/build.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="fail (exit 1, diff shown) if a committed output is stale")
    parser.add_argument("--out", type=Path,
                        help="write into (with --check: compare) this directory instead")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="change a setting of mixin/config.libsonnet")
    args = parser.parse_args()
    overrides = {}
    for item in args.set:
        name, value = parse_set(item)
        if name in overrides:
            fail(f"--set {name} is given twice")
        overrides[name] = value
    if overrides and (args.out is None or args.out.resolve() == REPO):
        fail("--set changes the outputs: write them elsewhere with --out DIR "
             "(the committed files are built from the defaults)")

    files = build(overrides)
    root = args.out if args.out is not None else REPO
    stale = []
    for path, body in sorted(files.items()):
        target = root / path
        if args.check:
            # Bytes, not text: reading text would take a CRLF for the LF written.
            current = target.read_bytes() if target.exists() else b""
            if current != body.encode("utf-8"):
                current = current.decode("utf-8", errors="replace")
                stale.append(path)
                sys.stdout.writelines(difflib.unified_diff(
                    current.splitlines(keepends=True), body.splitlines(keepends=True),
                    f"{path} (in the tree)", f"{path} (generated)", n=2))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(body, encoding="utf-8")
            print(f"mixin/build.py: wrote {target}")
    if args.check:
        # A file left beside the outputs (a dashboard renamed or removed from the
        # mixin) would still be provisioned or loaded from the tree.
        for folder, pattern in GENERATED_FOLDERS:
            for path in sorted((root / folder).glob(pattern)):
                relative = path.relative_to(root).as_posix()
                if relative not in files:
                    fail(f"{relative} is not built by the mixin: remove it, or build it there")
    if stale:
        rebuild = ".venv/bin/python3 mixin/build.py" + (
            f" --out {args.out} (with the same --set)" if args.out is not None else "")
        fail(f"stale or missing: {', '.join(stale)}; run {rebuild}")
    if args.check:
        print(f"mixin/build.py: {len(files)} generated files are up to date")


if __name__ == "__main__":
    main()
