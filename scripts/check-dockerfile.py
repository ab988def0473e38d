#!/usr/bin/env python3
"""Proves the Dockerfile builds, without a Docker engine.

CI machines have the docker client but no engine, so `docker build` cannot run there;
a Dockerfile nobody builds rots (it once copied too little for cargo to accept the
manifest). This script replays the build stage on the host from exactly what Docker
would see:

* the build context as the .dockerignore filters it (Docker's pattern rules: last
  match wins, a pattern also matches every file below a matching directory, `!`
  re-includes);
* the build stage's COPY lines, copied into an empty temporary root at the paths the
  image would have them (WORKDIR honoured, directory sources copy their contents);
* the stage's RUN steps, which must be cargo commands (anything else cannot be
  replayed faithfully on the host and is refused), run in the emulated WORKDIR with
  a persistent CARGO_TARGET_DIR so that dependencies are not rebuilt on every run;
* then the runtime stage: the artifact it copies out of the build stage must exist,
  the entrypoint must be that artifact, the user must be a numeric non-root id, and
  the image's Rust must not be older than the manifest's rust-version.

Anything the replay does not understand (ARG/ENV substitution, ADD, unknown COPY
flags) is an error, never skipped: a check that silently does less is the failure it
exists to prevent. `hadolint` (pinned in scripts/setup.sh, installed into .venv)
lints the file first; a missing hadolint is a failure.

    scripts/check-dockerfile.py [--dockerfile F] [--dockerignore F] [--no-build] [--no-lint]

DOCKER_CHECK_TARGET_DIR overrides the target directory, by default
$DBCONN_CACHE_DIR/docker-check-target (DBCONN_CACHE_DIR defaults to
/var/tmp/dbconn_exporter-cache, outside the checkout, so that CI's fresh clones on
the same machine reuse it, as scripts/fetch-postgres.sh does for its binaries).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


class CheckError(Exception):
    pass


# --- Dockerfile parsing -------------------------------------------------------------


@dataclass
class Instruction:
    line: int
    keyword: str
    args: str


@dataclass
class Stage:
    index: int
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)


def logical_lines(text: str) -> list[tuple[int, str]]:
    """Joins backslash continuations and drops comments and blank lines."""
    out: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # comment lines inside a continuation are dropped by Docker
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1])
            continue
        pending.append(stripped)
        out.append((start, " ".join(p.strip() for p in pending if p.strip())))
        pending = []
    if pending:
        raise CheckError(f"line {start}: continuation at the end of the file")
    return out


def parse_dockerfile(text: str) -> list[Stage]:
    stages: list[Stage] = []
    for number, line in logical_lines(text):
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        args = args.strip()
        if keyword == "FROM":
            words = args.split()
            words = [w for w in words if not w.startswith("--platform=")]
            if len(words) == 1:
                stages.append(Stage(len(stages), words[0], None))
            elif len(words) == 3 and words[1].lower() == "as":
                stages.append(Stage(len(stages), words[0], words[2]))
            else:
                raise CheckError(f"line {number}: cannot read FROM {args!r}")
            continue
        if keyword in ("ARG",) and not stages:
            raise CheckError(f"line {number}: global ARG is not supported by this check")
        if not stages:
            raise CheckError(f"line {number}: {keyword} before any FROM")
        stages[-1].instructions.append(Instruction(number, keyword, args))
    if not stages:
        raise CheckError("no FROM: not a Dockerfile")
    return stages


def no_substitution(ins: Instruction, value: str) -> None:
    if "$" in value:
        raise CheckError(
            f"line {ins.line}: {ins.keyword} uses variable substitution ({value!r}); "
            "this check does not emulate it: extend scripts/check-dockerfile.py"
        )


def split_args(ins: Instruction) -> tuple[dict[str, str], list[str]]:
    """COPY/ADD arguments: (flags, paths), for both the shell and the JSON form."""
    flags: dict[str, str] = {}
    rest = ins.args
    while rest.startswith("--"):
        flag, _, rest = rest.partition(" ")
        name, _, value = flag[2:].partition("=")
        flags[name] = value
        rest = rest.strip()
    if rest.startswith("["):
        try:
            paths = json.loads(rest)
        except json.JSONDecodeError as e:
            raise CheckError(f"line {ins.line}: bad JSON form: {e}") from e
    else:
        paths = rest.split()
    if len(paths) < 2:
        raise CheckError(f"line {ins.line}: {ins.keyword} needs a source and a destination")
    for p in paths:
        no_substitution(ins, p)
    return flags, paths


def stage_by_ref(stages: list[Stage], ref: str, before: int) -> Stage | None:
    for s in stages[:before]:
        if s.name == ref or str(s.index) == ref:
            return s
    return None


# --- .dockerignore ----------------------------------------------------------------


@dataclass
class IgnorePattern:
    regex: re.Pattern[str]
    negated: bool
    text: str


def compile_pattern(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            if pattern.startswith("**", i):
                i += 2
                if pattern.startswith("/", i):
                    i += 1
                    out.append("(?:.*/)?")
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise CheckError(f".dockerignore: unterminated [ in {pattern!r}")
            body = pattern[i + 1 : end]
            negate = body.startswith(("^", "!"))
            if negate:
                body = body[1:]
            out.append("[" + ("^" if negate else "") + body.replace("\\", "\\\\") + "]")
            i = end
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


def read_dockerignore(path: Path) -> list[IgnorePattern]:
    if not path.exists():
        return []
    patterns = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        if negated:
            line = line[1:].strip()
        line = posixpath.normpath(line).lstrip("/")
        if line in ("", "."):
            continue
        patterns.append(IgnorePattern(compile_pattern(line), negated, raw.strip()))
    return patterns


def ignored(rel: str, patterns: list[IgnorePattern]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents wins."""
    parts = rel.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for p in patterns:
        if any(p.regex.match(c) for c in candidates):
            excluded = not p.negated
    return excluded


# --- the replay -------------------------------------------------------------------


def context_files(src: str, ins: Instruction, patterns: list[IgnorePattern]) -> list[tuple[str, bool]]:
    """The context paths a COPY source names: [(relative path, is_dir)], after the
    .dockerignore. Fails like Docker when nothing is left."""
    rel = posixpath.normpath(src).lstrip("/")
    if rel.startswith(".."):
        raise CheckError(f"line {ins.line}: COPY source {src!r} is outside the context")
    if any(ch in rel for ch in "*?["):
        matches = sorted(
            posixpath.relpath(m, REPO) for m in glob.glob(str(REPO / rel)) if m
        )
    else:
        matches = [rel] if (REPO / rel).exists() or rel == "." else []
    found = []
    for m in matches:
        if m != "." and ignored(m, patterns) and not (REPO / m).is_dir():
            continue
        found.append((m, (REPO / m).is_dir()))
    if not found:
        raise CheckError(
            f"line {ins.line}: COPY source {src!r} is not in the build context "
            "(missing, or excluded by .dockerignore)"
        )
    return found


def copy_tree(rel_dir: str, dest: Path, patterns: list[IgnorePattern]) -> int:
    """Copies a context directory's non-ignored content into dest; returns files copied."""
    count = 0
    base = REPO / rel_dir
    for root, dirs, files in os.walk(base):
        dirs.sort()
        root_rel = posixpath.normpath(posixpath.join(rel_dir, os.path.relpath(root, base)))
        for name in sorted(files):
            rel = name if root_rel == "." else f"{root_rel}/{name}"
            if ignored(rel, patterns):
                continue
            target = dest / os.path.relpath(REPO / rel, base)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, target)
            count += 1
    return count


def in_root(root: Path, container_path: str) -> Path:
    return root / posixpath.normpath(container_path).lstrip("/")


def replay_build_stage(
    stage: Stage, root: Path, patterns: list[IgnorePattern], target_dir: Path, run: bool
) -> str:
    """Copies what the stage copies and runs its cargo steps; returns its WORKDIR."""
    workdir = "/"
    env = dict(os.environ)
    copied: list[str] = []
    for ins in stage.instructions:
        if ins.keyword == "WORKDIR":
            no_substitution(ins, ins.args)
            workdir = posixpath.normpath(posixpath.join(workdir, ins.args))
            in_root(root, workdir).mkdir(parents=True, exist_ok=True)
        elif ins.keyword == "ENV":
            no_substitution(ins, ins.args)
            for word in shlex.split(ins.args):
                key, eq, value = word.partition("=")
                if not eq:
                    raise CheckError(f"line {ins.line}: use ENV KEY=VALUE")
                env[key] = value
        elif ins.keyword == "COPY":
            flags, paths = split_args(ins)
            unknown = set(flags) - {"chown", "chmod", "link"}
            if unknown:
                raise CheckError(
                    f"line {ins.line}: COPY --{', --'.join(sorted(unknown))} in the build "
                    "stage is not emulated: extend scripts/check-dockerfile.py"
                )
            *sources, dest = paths
            dest_path = posixpath.normpath(posixpath.join(workdir, dest))
            dest_is_dir = dest.endswith("/") or len(sources) > 1
            for src in sources:
                for rel, is_dir in context_files(src, ins, patterns):
                    if is_dir:
                        target = in_root(root, dest_path)
                        target.mkdir(parents=True, exist_ok=True)
                        n = copy_tree(rel, target, patterns)
                        if n == 0 and ignored(rel, patterns):
                            raise CheckError(
                                f"line {ins.line}: COPY source {src!r} is excluded by "
                                ".dockerignore"
                            )
                        copied.append(f"{rel}/ ({n} files) -> {dest_path}")
                    else:
                        target = in_root(root, dest_path)
                        if dest_is_dir or target.is_dir():
                            target = target / posixpath.basename(rel)
                        target.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(REPO / rel, target)
                        copied.append(f"{rel} -> {target.relative_to(root)}")
        elif ins.keyword == "RUN":
            if ins.args.startswith("["):
                argv = json.loads(ins.args)
            else:
                argv = shlex.split(ins.args)
            if not argv or argv[0] != "cargo" or any(
                w in ("&&", "||", ";", "|") for w in argv
            ):
                raise CheckError(
                    f"line {ins.line}: RUN {ins.args!r} is not a single cargo command; "
                    "only cargo steps can be replayed on the host"
                )
            for line in copied:
                print(f"[docker-check]   copied {line}")
            copied.clear()
            cwd = in_root(root, workdir)
            env["CARGO_TARGET_DIR"] = str(target_dir)
            if not run:
                print(f"[docker-check] would run in {workdir}: {' '.join(argv)}")
                continue
            print(f"[docker-check] running in {workdir}: {' '.join(argv)}", flush=True)
            started = time.monotonic()
            result = subprocess.run(argv, cwd=cwd, env=env)
            elapsed = time.monotonic() - started
            if result.returncode != 0:
                raise CheckError(
                    f"line {ins.line}: `{ins.args}` failed (exit {result.returncode}) "
                    f"on exactly the files the Dockerfile copies"
                )
            print(f"[docker-check] {argv[0]} step took {elapsed:.1f} s")
        elif ins.keyword in ("LABEL", "EXPOSE", "USER", "SHELL", "ARG"):
            if ins.keyword in ("USER", "SHELL", "ARG"):
                raise CheckError(
                    f"line {ins.line}: {ins.keyword} in the build stage is not emulated"
                )
        else:
            raise CheckError(
                f"line {ins.line}: {ins.keyword} in the build stage is not emulated: "
                "extend scripts/check-dockerfile.py"
            )
    return workdir


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


def check_runtime(
    stages: list[Stage], final: Stage, roots: dict[int, tuple[Path, str]], target_dir: Path, built: bool
) -> None:
    copied_to: list[str] = []
    user = None
    entrypoint = None
    for ins in final.instructions:
        if ins.keyword == "COPY":
            flags, paths = split_args(ins)
            if "from" not in flags:
                raise CheckError(
                    f"line {ins.line}: the runtime stage copies from the build context; "
                    "only artifacts of the build stage belong in it"
                )
            source_stage = stage_by_ref(stages, flags["from"], final.index)
            if source_stage is None:
                raise CheckError(f"line {ins.line}: COPY --from={flags['from']}: no such stage")
            root, workdir = roots[source_stage.index]
            *sources, dest = paths
            for src in sources:
                container = posixpath.normpath(src)
                default_target = posixpath.join(workdir, "target") + "/"
                if container.startswith(default_target):
                    host = target_dir / container[len(default_target) :]
                else:
                    host = in_root(root, container)
                if built and not host.exists():
                    raise CheckError(
                        f"line {ins.line}: the build stage does not produce {src} "
                        f"(looked for {host})"
                    )
                copied_to.append(
                    dest if not dest.endswith("/") else dest + posixpath.basename(src)
                )
        elif ins.keyword == "USER":
            user = ins.args
        elif ins.keyword == "ENTRYPOINT":
            entrypoint = json.loads(ins.args) if ins.args.startswith("[") else None
            if entrypoint is None:
                raise CheckError(f"line {ins.line}: use the exec (JSON) form of ENTRYPOINT")
    uid = (user or "0").split(":")[0]
    if not uid.isdigit() or uid == "0":
        raise CheckError(
            f"the runtime user is {user or 'root (no USER)'}: it must be a numeric, "
            "non-root uid (Kubernetes runAsNonRoot can only verify a number)"
        )
    if "distroless" not in final.image:
        raise CheckError(f"the runtime image is {final.image}, not distroless")
    if not entrypoint or entrypoint[0] not in copied_to:
        raise CheckError(
            f"the entrypoint {entrypoint} is not the binary copied from the build stage "
            f"({copied_to})"
        )


def check_toolchain(build: Stage) -> None:
    manifest = tomllib.loads((REPO / "Cargo.toml").read_text())
    wanted = manifest.get("package", {}).get("rust-version")
    m = re.match(r"(?:docker\.io/)?(?:library/)?rust:(\d+\.\d+(?:\.\d+)?)", build.image)
    if not m:
        raise CheckError(f"the build image {build.image} is not a versioned rust image")
    if wanted and version_tuple(m.group(1)) < version_tuple(wanted):
        raise CheckError(
            f"the build image has Rust {m.group(1)}, the manifest needs {wanted}"
        )


def hadolint(dockerfile: Path) -> None:
    binary = REPO / ".venv" / "bin" / "hadolint"
    if not binary.exists():
        found = shutil.which("hadolint")
        if not found:
            raise CheckError("hadolint is not installed (scripts/setup.sh installs it into .venv)")
        binary = Path(found)
    result = subprocess.run([str(binary), "--no-color", str(dockerfile)])
    if result.returncode != 0:
        raise CheckError(f"hadolint found problems in {dockerfile}")
    print(f"[docker-check] hadolint clean ({binary})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dockerfile", default=str(REPO / "Dockerfile"))
    parser.add_argument("--dockerignore", default=str(REPO / ".dockerignore"))
    parser.add_argument("--no-build", action="store_true", help="parse and copy, do not run cargo")
    parser.add_argument("--no-lint", action="store_true", help="skip hadolint")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # keep order with stderr in CI logs

    dockerfile = Path(args.dockerfile)
    cache = Path(os.environ.get("DBCONN_CACHE_DIR", "/var/tmp/dbconn_exporter-cache"))
    target_dir = Path(os.environ.get("DOCKER_CHECK_TARGET_DIR", cache / "docker-check-target"))
    try:
        if not args.no_lint:
            hadolint(dockerfile)
        stages = parse_dockerfile(dockerfile.read_text())
        final = stages[-1]
        patterns = read_dockerignore(Path(args.dockerignore))
        wanted_stages = []
        for ins in final.instructions:
            if ins.keyword == "COPY":
                flags, _ = split_args(ins)
                if "from" in flags:
                    s = stage_by_ref(stages, flags["from"], final.index)
                    if s is not None and s not in wanted_stages:
                        wanted_stages.append(s)
        if not wanted_stages:
            raise CheckError("the runtime stage copies nothing from a build stage")
        target_dir.mkdir(parents=True, exist_ok=True)
        roots: dict[int, tuple[Path, str]] = {}
        with tempfile.TemporaryDirectory(prefix="dbconn-docker-check-") as tmp:
            for stage in wanted_stages:
                check_toolchain(stage)
                root = Path(tmp) / f"stage{stage.index}"
                root.mkdir()
                print(
                    f"[docker-check] replaying stage {stage.name or stage.index} "
                    f"({stage.image}) in {root}, CARGO_TARGET_DIR={target_dir}"
                )
                workdir = replay_build_stage(stage, root, patterns, target_dir, not args.no_build)
                roots[stage.index] = (root, workdir)
            check_runtime(stages, final, roots, target_dir, not args.no_build)
    except CheckError as e:
        print(f"[docker-check] FAILED: {dockerfile}: {e}", file=sys.stderr)
        return 1
    print("[docker-check] ok: the build stage builds from exactly what it copies")
    return 0


if __name__ == "__main__":
    sys.exit(main())
