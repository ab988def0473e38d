#!/usr/bin/env python3
"""Proves the files in packaging/ install and run what they say, without systemd or a
cluster.

CI has neither a running systemd nor a Kubernetes API server, and a unit or manifest
nobody loads rots silently: a typo in a hardening option, a probe on a path the
exporter does not serve, a password file mounted where the configuration does not
look. So this script checks each file with the tool its platform uses, and then runs
the real exporter the way each file would run it:

* systemd: `systemd-analyze verify` on the unit, with any output (warnings included)
  a failure. verify insists that ExecStart's binary exists, so it reads a copy whose
  ExecStart names the freshly built binary instead of /usr/local/bin; nothing else
  is changed, and the copy keeps the unit's name, on which the credential path
  depends. `systemd-analyze security --offline=yes` then scores the sandbox, and a
  score above EXPOSURE_THRESHOLD fails: a hardening line dropped is a regression.
* Kubernetes: `kubernetes-validate --strict` (pinned in scripts/setup.sh) on the
  core resources, where a warning is a failure too. The ServiceMonitor is a custom
  resource it does not know: it is validated with `jsonschema` against the
  prometheus-operator CRD's schema vendored in packaging/schemas/, made
  strict (an unknown field is an error, as `kubectl apply` makes it). The schemas
  accept a Deployment with no hardening at all, so the pod's non-root user,
  read-only root filesystem, no privilege escalation, no capabilities, seccomp
  RuntimeDefault and no service account token are asserted one by one.
* Both: the files must agree with each other (the config's `password_file` is where
  the credential or the Secret lands, the ServiceMonitor's port is the Service's,
  the Service selects the Deployment's pods), and the exporter must accept the
  shipped configuration (`--config.check`) with a password file laid out as
  systemd or the kubelet lays it out (the kubelet's symlinked `..data` layout
  included). Without that file the check must fail, naming `password_file`.
  Then the exporter is started with the unit's ExecStart arguments and with the
  container's arguments, and the probes' and the ServiceMonitor's paths must answer
  200 through curl; the unit's ExecReload signal must leave it serving.

Every tool it needs (systemd-analyze, curl, the Python packages) missing is a
failure, never a skip: scripts/setup.sh installs them.

    scripts/check-packaging.py [--exporter PATH]
    scripts/check-packaging.py --vendor-servicemonitor-schema CRD.yaml

The second form regenerates the vendored schema from the upstream CRD file (see
SCHEMA_SOURCE).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SYSTEMD = REPO / "packaging" / "systemd"
KUBERNETES = REPO / "packaging" / "kubernetes"
# Outside packaging/kubernetes/, so that `kubectl apply -f packaging/kubernetes/`
# applies the manifests and nothing else.
SCHEMA = REPO / "packaging" / "schemas" / "servicemonitor-v1.schema.json"
UNIT_NAME = "dbconn_exporter.service"
# Where packaging/systemd/README.md says to install the binary and the config.
INSTALLED_BINARY = "/usr/local/bin/dbconn_exporter"
INSTALLED_CONFIG = "/etc/dbconn_exporter/config.yml"
CREDENTIALS_DIR = f"/run/credentials/{UNIT_NAME}"
# The highest exposure the unit may score (0 is fully sandboxed, 10 not at all; the
# README gives what it scores): a little room above that for scoring changes between
# systemd versions, none for a dropped hardening option. systemd-analyze takes it in
# tenths.
EXPOSURE_THRESHOLD = 1.5
DEFAULT_PORT = 10071
CORE_MANIFESTS = ["configmap.yaml", "deployment.yaml", "service.yaml"]
SCHEMA_SOURCE = {
    "repository": "https://github.com/prometheus-operator/prometheus-operator",
    "tag": "v0.93.0",
    "commit": "f8fafd475f3d132e239432ae6172de60a6cb6516",
    "path": "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml",
    "sha256": "a99047972c9dd7679ce2050b9968e8a08773492e671b3e17abd476d42aa78a32",
}
# How long the exporter may take to listen on a loaded machine.
START_DEADLINE = 60.0


class CheckError(Exception):
    pass


def say(message: str) -> None:
    print(f"[packaging] {message}", flush=True)


def require(condition: bool, message: str) -> None:
    if not condition:
        raise CheckError(message)


def python_packages():
    try:
        import jsonschema  # noqa: F401
        import kubernetes_validate  # noqa: F401
        import yaml  # noqa: F401
    except ImportError as e:
        raise CheckError(
            f"{e.name} is missing from {sys.executable}: run scripts/setup.sh "
            "(it installs kubernetes-validate, jsonschema and PyYAML into .venv)"
        ) from e
    import jsonschema
    import yaml

    return jsonschema, yaml


def tool(name: str) -> str:
    path = shutil.which(name)
    require(path is not None, f"{name} is not on PATH: run scripts/setup.sh")
    return path


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, **kwargs)


# --- the exporter -------------------------------------------------------------------


def build_exporter() -> Path:
    say("building the exporter (cargo build --bin dbconn_exporter)")
    done = run(
        ["cargo", "build", "--locked", "--bin", "dbconn_exporter", "--message-format=json"],
        cwd=REPO,
    )
    if done.returncode != 0:
        raise CheckError(f"cargo build failed:\n{done.stderr}")
    for line in done.stdout.splitlines():
        message = json.loads(line)
        if message.get("reason") == "compiler-artifact" and message.get("executable"):
            if message["target"]["name"] == "dbconn_exporter":
                return Path(message["executable"])
    raise CheckError("cargo build reported no dbconn_exporter executable")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def curl(url: str, *extra: str) -> tuple[int, str]:
    done = run(
        ["curl", "-sS", "--max-time", "30", "-o", "-", "-w", "\n%{http_code}", *extra, url]
    )
    body, _, code = done.stdout.rpartition("\n")
    return (int(code) if code.isdigit() else 0), body


class Running:
    """The exporter started with `args` on a free loopback port."""

    def __init__(self, binary: Path, args: list[str], what: str):
        self.port = free_port()
        self.what = what
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(
            [str(binary), *args, f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_DEADLINE
        while True:
            self.alive()
            code, _ = curl(f"{self.base}/-/healthy", "--max-time", "2")
            if code == 200:
                return
            require(
                time.monotonic() < deadline,
                f"{what}: the exporter did not answer /-/healthy within {START_DEADLINE:.0f}s\n{self.logs()}",
            )
            time.sleep(0.2)

    def logs(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def alive(self) -> None:
        code = self.process.poll()
        require(code is None, f"{self.what}: the exporter exited with {code}\n{self.logs()}")

    def get(self, path: str, expect: int = 200, *extra: str) -> str:
        code, body = curl(f"{self.base}{path}", *extra)
        require(code == expect, f"{self.what}: GET {path} answered {code}, not {expect}\n{body}")
        return body

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def config_check(binary: Path, config: Path, what: str) -> str:
    done = run([str(binary), "--config.check", f"--config.file={config}"])
    require(
        done.returncode == 0,
        f"{what}: --config.check failed ({done.returncode}):\n{done.stdout}{done.stderr}",
    )
    return done.stdout.strip()


def config_check_fails_without_password(binary: Path, config: Path, what: str) -> None:
    done = run([str(binary), "--config.check", f"--config.file={config}"])
    require(
        done.returncode == 1 and "password_file" in done.stderr,
        f"{what}: without its password file the configuration must be refused "
        f"naming password_file; got exit {done.returncode}:\n{done.stderr}",
    )


def with_password_at(config_text: str, shipped: str, actual: Path) -> str:
    """The configuration with its password_file moved from where the platform puts
    it to a file that exists here; exactly one occurrence, or the check is wrong."""
    line = f"password_file: {shipped}\n"
    require(
        config_text.count(line) == 1,
        f"expected exactly one `{line.strip()}` in the configuration",
    )
    return config_text.replace(line, f"password_file: {actual}\n")


def scrape_names_target(running: Running, path: str, target: str) -> None:
    body = running.get(path, 200, "-H", "X-Prometheus-Scrape-Timeout-Seconds: 5")
    require(
        re.search(rf'^dbconn_up\{{[^}}]*target="{re.escape(target)}"', body, re.M) is not None,
        f"{running.what}: {path} has no dbconn_up for target {target}:\n{body[:2000]}",
    )


def config_targets(yaml, text: str) -> list[dict]:
    targets = (yaml.safe_load(text) or {}).get("targets") or []
    require(targets, "the example configuration lists no target")
    return targets


# --- systemd ------------------------------------------------------------------------


def unit_entries(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) for every assignment, in order."""
    section = ""
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        require(sep == "=", f"{UNIT_NAME}: not an assignment: {line}")
        out.append((section, key.strip(), value.strip()))
    return out


def check_systemd(binary: Path, yaml, scratch: Path) -> None:
    analyze = tool("systemd-analyze")
    unit_text = (SYSTEMD / UNIT_NAME).read_text()
    entries = unit_entries(unit_text)
    service = {}
    for section, key, value in entries:
        if section == "Service":
            service.setdefault(key, []).append(value)

    exec_start = shlex.split(service["ExecStart"][0])
    require(len(service["ExecStart"]) == 1, "the unit must have one ExecStart")
    require(
        exec_start[0] == INSTALLED_BINARY,
        f"ExecStart runs {exec_start[0]}, not {INSTALLED_BINARY} as the README says",
    )
    require(
        f"--config.file={INSTALLED_CONFIG}" in exec_start,
        f"ExecStart must read {INSTALLED_CONFIG}",
    )
    require(
        service.get("ExecReload") == ["/bin/kill -HUP $MAINPID"],
        "ExecReload must send SIGHUP to the main process",
    )

    # systemd-analyze verify, on a copy that runs the built binary.
    verify_dir = scratch / "systemd-verify"
    verify_dir.mkdir()
    start_line = f"ExecStart={INSTALLED_BINARY} "
    require(unit_text.count(start_line) == 1, f"expected one `{start_line}` line")
    (verify_dir / UNIT_NAME).write_text(
        unit_text.replace(start_line, f"ExecStart={binary} ")
    )
    done = run([analyze, "verify", "--man=no", str(verify_dir / UNIT_NAME)])
    output = (done.stdout + done.stderr).strip()
    require(
        done.returncode == 0 and not output,
        f"systemd-analyze verify is not clean (exit {done.returncode}):\n{output}",
    )
    say(f"systemd-analyze verify {UNIT_NAME}: clean")

    done = run(
        [
            analyze,
            "security",
            "--offline=yes",
            f"--threshold={round(EXPOSURE_THRESHOLD * 10)}",
            str(verify_dir / UNIT_NAME),
        ]
    )
    score = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\S+)", done.stdout)
    require(score is not None, f"systemd-analyze security printed no score:\n{done.stdout}{done.stderr}")
    require(
        done.returncode == 0,
        f"systemd-analyze security: exposure {score.group(1)} is above {EXPOSURE_THRESHOLD}:\n"
        + "\n".join(l for l in done.stdout.splitlines() if l.startswith("✗")),
    )
    say(f"systemd-analyze security --offline=yes: exposure {score.group(1)} {score.group(2)}")

    # The credential the unit loads is the file the configuration reads.
    credentials = {}
    for value in service.get("LoadCredential", []):
        name, _, source = value.partition(":")
        credentials[name] = source
    require(credentials, "the unit loads no credential")
    config_text = (SYSTEMD / "config.yml").read_text()
    targets = config_targets(yaml, config_text)
    password_files = [t["password_file"] for t in targets if "password_file" in t]
    require(password_files, "the systemd example configuration names no password_file")
    for path in password_files:
        directory, _, name = path.rpartition("/")
        require(
            directory == CREDENTIALS_DIR and name in credentials,
            f"password_file {path} is not a credential the unit loads "
            f"({', '.join(f'{CREDENTIALS_DIR}/{n}' for n in credentials)})",
        )

    # --config.check with the credentials where systemd puts them: a directory only
    # the service reads, one file per credential.
    creds = scratch / "credentials"
    creds.mkdir(mode=0o500)
    moved = config_text
    for name in credentials:
        shipped = f"{CREDENTIALS_DIR}/{name}"
        if f"password_file: {shipped}\n" in moved:
            moved = with_password_at(moved, shipped, creds / name)
    config = scratch / "systemd-config.yml"
    config.write_text(moved)
    config_check_fails_without_password(binary, config, "systemd config.yml")
    for name in credentials:
        (creds / name).write_text("not-the-real-password\n")
        (creds / name).chmod(0o400)
    say(f"systemd config.yml: {config_check(binary, config, 'systemd config.yml')}")

    # The unit's own arguments, the config path swapped for the copy above.
    args = [a.replace(INSTALLED_CONFIG, str(config)) for a in exec_start[1:]]
    running = Running(binary, args, "systemd ExecStart")
    try:
        for t in targets:
            scrape_names_target(running, "/metrics", t["name"])
        running.process.send_signal(signal.SIGHUP)
        # SIGHUP must not end the service; poll long enough that a death from it
        # would have been seen.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            running.alive()
            running.get("/-/healthy")
            time.sleep(0.2)
        running.get("/-/ready")
        say("systemd ExecStart serves /metrics, /-/healthy and /-/ready; SIGHUP leaves it serving")
    finally:
        running.stop()


# --- Kubernetes ---------------------------------------------------------------------


def load_manifest(yaml, name: str) -> dict:
    documents = [d for d in yaml.safe_load_all((KUBERNETES / name).read_text()) if d]
    require(len(documents) == 1, f"{name}: expected one resource")
    return documents[0]


def strict_schema(schema):
    """A CRD's structural schema as Kubernetes enforces it for `kubectl apply`: a
    field not in `properties` is an error unless the schema preserves unknown fields
    or declares additionalProperties."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if (
                node.get("type") == "object"
                and "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


def check_servicemonitor(jsonschema, yaml, monitor: dict) -> None:
    vendored = json.loads(SCHEMA.read_text())
    schema = strict_schema(vendored["schema"])
    require(
        monitor.get("apiVersion") == f"{vendored['group']}/{vendored['version']}"
        and monitor.get("kind") == vendored["kind"],
        "servicemonitor.yaml: apiVersion/kind do not match the vendored CRD",
    )
    require(monitor.get("metadata", {}).get("name"), "servicemonitor.yaml: no metadata.name")
    errors = sorted(
        jsonschema.Draft7Validator(schema).iter_errors(monitor), key=lambda e: list(e.path)
    )
    require(
        not errors,
        "servicemonitor.yaml does not validate against the ServiceMonitor CRD:\n"
        + "\n".join(f"  {'.'.join(map(str, e.path)) or '(root)'}: {e.message}" for e in errors),
    )
    # The validator must be able to fail: a field the CRD lacks is refused.
    broken = copy.deepcopy(monitor)
    broken["spec"]["endpoints"][0]["pathh"] = "/metrics"
    require(
        any(True for _ in jsonschema.Draft7Validator(schema).iter_errors(broken)),
        "the ServiceMonitor schema accepted an unknown field: the strict check is broken",
    )
    say(f"servicemonitor.yaml: valid against ServiceMonitor CRD {SCHEMA_SOURCE['tag']} (strict)")


def kubelet_layout(directory: Path, files: dict[str, str], mode: int) -> None:
    """Files as the kubelet mounts a ConfigMap or Secret: each name a symlink
    through `..data` into a timestamped directory, so that updates swap atomically."""
    stamp = directory / "..2026_01_01_00_00_00.000000001"
    stamp.mkdir(parents=True)
    (directory / "..data").symlink_to(stamp.name)
    for name, content in files.items():
        (stamp / name).write_text(content)
        (stamp / name).chmod(mode)
        (directory / name).symlink_to(f"..data/{name}")


def check_hardening(pod_spec: dict, pod_security: dict, container_security: dict) -> None:
    """The container runs as the image's non-root user on a read-only root
    filesystem, unable to gain privileges, with no capability, under the runtime's
    seccomp filter and without an API token it never uses. kubernetes-validate
    accepts a manifest without any of these, so each is asserted here. Where
    Kubernetes lets the container's securityContext override the pod's
    (runAsNonRoot, runAsUser, seccompProfile), the value that applies is checked."""

    def effective(key):
        return container_security.get(key, pod_security.get(key))

    where = "deployment.yaml"
    require(
        effective("runAsNonRoot") is True,
        f"{where}: runAsNonRoot must be true (in the pod's or the container's securityContext, "
        "not false in the container's)",
    )
    require(
        "runAsUser" not in container_security
        or container_security["runAsUser"] == pod_security.get("runAsUser"),
        f"{where}: the container's runAsUser overrides the pod's (the image's user)",
    )
    require(
        container_security.get("readOnlyRootFilesystem") is True,
        f"{where}: the container's securityContext must set readOnlyRootFilesystem: true",
    )
    require(
        container_security.get("allowPrivilegeEscalation") is False,
        f"{where}: the container's securityContext must set allowPrivilegeEscalation: false",
    )
    require(
        container_security.get("privileged") is not True,
        f"{where}: the container must not be privileged",
    )
    capabilities = container_security.get("capabilities") or {}
    require(
        "ALL" in (capabilities.get("drop") or []),
        f"{where}: the container's securityContext must drop ALL capabilities",
    )
    require(
        not capabilities.get("add"),
        f"{where}: the container adds capabilities {capabilities.get('add')}; it needs none",
    )
    seccomp = effective("seccompProfile") or {}
    require(
        seccomp.get("type") == "RuntimeDefault",
        f"{where}: seccompProfile type must be RuntimeDefault, not {seccomp.get('type')}",
    )
    require(
        pod_spec.get("automountServiceAccountToken") is False,
        f"{where}: automountServiceAccountToken must be false (the exporter never calls the API)",
    )
    say(
        f"{where}: non-root, read-only root filesystem, no privilege escalation, "
        "ALL capabilities dropped, seccomp RuntimeDefault, no service account token"
    )


def check_kubernetes(binary: Path, jsonschema, yaml, scratch: Path) -> None:
    # kubernetes-validate, through the interpreter running this script: the .venv's
    # console scripts carry the path of the checkout that created it.
    done = run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", *CORE_MANIFESTS],
        cwd=KUBERNETES,
    )
    lines = (done.stdout + done.stderr).strip().splitlines()
    passed = [l for l in lines if l.startswith("INFO") and " passed " in l]
    require(
        done.returncode == 0
        and len(passed) == len(CORE_MANIFESTS)
        and len(lines) == len(CORE_MANIFESTS),
        f"kubernetes-validate --strict is not clean (exit {done.returncode}):\n" + "\n".join(lines),
    )
    for line in passed:
        say(f"kubernetes-validate --strict: {line.removeprefix('INFO ')}")

    # Every manifest shipped is one this script checks.
    shipped = sorted(p.name for p in KUBERNETES.iterdir())
    require(
        shipped == sorted([*CORE_MANIFESTS, "servicemonitor.yaml"]),
        f"packaging/kubernetes/ holds {shipped}: check every file there",
    )

    configmap = load_manifest(yaml, "configmap.yaml")
    deployment = load_manifest(yaml, "deployment.yaml")
    service = load_manifest(yaml, "service.yaml")
    monitor = load_manifest(yaml, "servicemonitor.yaml")
    check_servicemonitor(jsonschema, yaml, monitor)

    pod = deployment["spec"]["template"]
    pod_labels = pod["metadata"]["labels"]
    [container] = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"] if "name" in p}
    port_numbers = {p["containerPort"] for p in container["ports"]}

    def container_port(ref) -> bool:
        """Whether `ref` (a probe's, the Service's or an endpoint's target port)
        names a container port: Kubernetes takes a port's name or its number."""
        return ref in ports if isinstance(ref, str) else ref in port_numbers

    # What the image is: its user, its binary's port.
    dockerfile = (REPO / "Dockerfile").read_text()
    user = re.search(r"^USER (\d+):(\d+)$", dockerfile, re.M)
    require(user is not None, "Dockerfile: no numeric USER uid:gid")
    security = pod["spec"].get("securityContext") or {}
    check_hardening(pod["spec"], security, container.get("securityContext") or {})
    require(
        (security.get("runAsUser"), security.get("runAsGroup"))
        == (int(user.group(1)), int(user.group(2))),
        "deployment.yaml: runAsUser/runAsGroup differ from the Dockerfile's USER",
    )
    require(f"EXPOSE {DEFAULT_PORT}\n" in dockerfile, f"Dockerfile does not expose {DEFAULT_PORT}")
    help_text = run([str(binary), "--help"]).stdout
    require(
        f"[default: :{DEFAULT_PORT}]" in help_text,
        f"the exporter's default listen address is not :{DEFAULT_PORT}",
    )
    require(ports.get("http") == DEFAULT_PORT, f"deployment.yaml: port http is not {DEFAULT_PORT}")

    # The objects find each other.
    require(
        all(pod_labels.get(k) == v for k, v in service["spec"]["selector"].items()),
        "service.yaml's selector does not select the Deployment's pods",
    )
    require(
        all(
            pod_labels.get(k) == v
            for k, v in deployment["spec"]["selector"]["matchLabels"].items()
        ),
        "deployment.yaml's selector does not select its own pods",
    )
    service_ports = {p.get("name"): p for p in service["spec"]["ports"]}
    for p in service["spec"]["ports"]:
        # Without targetPort, Kubernetes forwards to the Service's own port number.
        target = p.get("targetPort", p["port"])
        require(container_port(target), f"service.yaml: targetPort {target} is not a container port")
    require(
        all(
            service["metadata"]["labels"].get(k) == v
            for k, v in monitor["spec"]["selector"]["matchLabels"].items()
        ),
        "servicemonitor.yaml's selector does not select the Service",
    )
    for endpoint in monitor["spec"]["endpoints"]:
        # `port` names a Service port; the older `targetPort` is the pod's port, by
        # name or number. One of them says where Prometheus scrapes.
        if "port" in endpoint:
            require(
                endpoint["port"] in service_ports,
                f"servicemonitor.yaml: no Service port named {endpoint['port']}",
            )
        else:
            require(
                "targetPort" in endpoint,
                "servicemonitor.yaml: an endpoint names neither `port` nor `targetPort`",
            )
            require(
                container_port(endpoint["targetPort"]),
                f"servicemonitor.yaml: targetPort {endpoint['targetPort']} is not a container port",
            )

    # The config file is where the container reads it; the password is where the
    # Secret lands and the config looks.
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    config_args = [a for a in container["args"] if a.startswith("--config.file=")]
    require(len(config_args) == 1, "deployment.yaml: the container needs one --config.file=")
    config_path = config_args[0].removeprefix("--config.file=")
    config_dir, _, config_key = config_path.rpartition("/")
    config_volume = next(
        (n for n, v in volumes.items() if v.get("configMap", {}).get("name") == configmap["metadata"]["name"]),
        None,
    )
    require(
        config_volume is not None and mounts[config_volume]["mountPath"] == config_dir,
        f"deployment.yaml: the ConfigMap is not mounted at {config_dir}",
    )
    require(config_key in configmap["data"], f"configmap.yaml has no key {config_key}")
    config_text = configmap["data"][config_key]
    targets = config_targets(yaml, config_text)

    secret_paths = {}
    for name, volume in volumes.items():
        secret = volume.get("secret")
        if secret is None:
            continue
        for item in secret.get("items", []):
            secret_paths[f"{mounts[name]['mountPath']}/{item['path']}"] = (
                secret["secretName"],
                item["key"],
                secret.get("defaultMode", 0o644),
            )
    password_files = [t["password_file"] for t in targets if "password_file" in t]
    require(password_files, "the ConfigMap's configuration names no password_file")
    for path in password_files:
        require(path in secret_paths, f"password_file {path} is not where a Secret is mounted")

    # The kubelet's layout, with the group the pod's fsGroup gives the files: the
    # mode must let the container's user read them through that group.
    for _, _, mode in secret_paths.values():
        require(mode & 0o040 and not mode & 0o007, f"Secret defaultMode {oct(mode)}: must be readable by the group (fsGroup) and not by others")
    require(security.get("fsGroup") == security.get("runAsGroup"), "deployment.yaml: fsGroup must be the runAsGroup")
    config_mount = scratch / "kubernetes" / "config"
    secret_mount = scratch / "kubernetes" / "secret"
    moved = config_text
    for path in password_files:
        moved = with_password_at(moved, path, secret_mount / path.rpartition("/")[2])
    kubelet_layout(config_mount, {config_key: moved}, 0o444)
    config_check_fails_without_password(binary, config_mount / config_key, "ConfigMap config.yml")
    kubelet_layout(
        secret_mount,
        {path.rpartition("/")[2]: "not-the-real-password\n" for path in password_files},
        0o440,
    )
    say(f"ConfigMap config.yml: {config_check(binary, config_mount / config_key, 'ConfigMap config.yml')}")

    args = [
        a.replace(config_path, str(config_mount / config_key)) for a in container["args"]
    ]
    running = Running(binary, args, "Deployment container")
    try:
        for probe in ("livenessProbe", "readinessProbe"):
            get = container[probe]["httpGet"]
            require(container_port(get["port"]), f"{probe}: no container port {get['port']}")
            running.get(get.get("path", "/"))
        for endpoint in monitor["spec"]["endpoints"]:
            for t in targets:
                scrape_names_target(running, endpoint.get("path", "/metrics"), t["name"])
        say("Deployment container serves its probes' paths and the ServiceMonitor's path")
    finally:
        running.stop()


# --- vendoring ----------------------------------------------------------------------


def strip_descriptions(node):
    """Drops the prose (`description:` strings), which is most of the file's bytes
    and none of its rules; a property named `description` (a mapping) is kept."""
    if isinstance(node, dict):
        return {
            k: strip_descriptions(v)
            for k, v in node.items()
            if not (k == "description" and isinstance(v, str))
        }
    if isinstance(node, list):
        return [strip_descriptions(v) for v in node]
    return node


def vendor_schema(crd_path: Path, yaml) -> None:
    raw = crd_path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    require(
        digest == SCHEMA_SOURCE["sha256"],
        f"{crd_path}: sha256 {digest}, not the {SCHEMA_SOURCE['tag']} file's; "
        "update SCHEMA_SOURCE when moving to another release",
    )
    crd = yaml.safe_load(raw)
    [version] = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    out = {
        "$comment": (
            "The openAPIV3Schema of the prometheus-operator ServiceMonitor CRD, version v1, "
            "with its description strings removed; regenerate with "
            "scripts/check-packaging.py --vendor-servicemonitor-schema FILE."
        ),
        "source": SCHEMA_SOURCE,
        "group": crd["spec"]["group"],
        "version": version["name"],
        "kind": crd["spec"]["names"]["kind"],
        "schema": strip_descriptions(version["schema"]["openAPIV3Schema"]),
    }
    SCHEMA.parent.mkdir(parents=True, exist_ok=True)
    SCHEMA.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    say(f"wrote {SCHEMA.relative_to(REPO)} ({SCHEMA.stat().st_size} bytes)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exporter", type=Path, help="the built binary (default: cargo build)")
    parser.add_argument("--vendor-servicemonitor-schema", type=Path, metavar="CRD_YAML")
    options = parser.parse_args()
    try:
        jsonschema, yaml = python_packages()
        if options.vendor_servicemonitor_schema:
            vendor_schema(options.vendor_servicemonitor_schema, yaml)
            return 0
        tool("systemd-analyze")
        tool("curl")
        binary = options.exporter.resolve() if options.exporter else build_exporter()
        require(os.access(binary, os.X_OK), f"{binary} is not an executable")
        with tempfile.TemporaryDirectory(prefix="dbconn-packaging-") as scratch:
            check_systemd(binary, yaml, Path(scratch))
            check_kubernetes(binary, jsonschema, yaml, Path(scratch))
    except CheckError as e:
        print(f"[packaging] FAILED: {e}", file=sys.stderr)
        return 1
    say("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
