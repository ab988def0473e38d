#!/usr/bin/env python3
"""Generates the Grafana dashboards of dbconn_exporter, and the list of their queries.

    python3 dashboards/generate.py           write the files below
    python3 dashboards/generate.py --check   write nothing; exit 1 (and show a diff)
                                             if a file on disk differs from what this
                                             script generates, or is missing

Outputs (commit them; CI runs --check so they never drift from this script):

    dashboards/dbconn-overview.json             one overview for PostgreSQL, MySQL and
                                                MariaDB targets alike, and a row per
                                                PgBouncer pooler
    dashboards/dbconn-locks-and-sessions.json   who holds the sessions, for how long,
                                                and who blocks whom
    dashboards/queries.json                     every panel query, for end-to-end tests

Standard library only. The dashboards are import-ready: no `__inputs`, no hard-coded
datasource UID. A `datasource` variable (type datasource, Prometheus) feeds every
panel through `${datasource}`, and a multi-select `target` variable
(`label_values(dbconn_up, target)`, with All) filters every query with
`target=~"$target"` — this script refuses to write a query whose dbconn_* selector
lacks that matcher.

queries.json is a JSON array; one object per panel query:

    {"dashboard": <dashboard uid>, "panel": <panel title>, "refId": "A",
     "expr": <PromQL with Grafana variables>, "instant": <bool>,
     "engines": [...]}

`engines` lists the `engine` label values of dbconn_target_info ("postgresql",
"mysql", "mariadb", "pgbouncer") for which the query must return data against a
Prometheus that scraped a real exporter. A query that exists for one engine only (MySQL/MariaDB
server counters such as dbconn_refused_connections_total, or PostgreSQL 14+
pg_stat_database session counters) is never faked with `or vector(0)`: it is the
second (third...) query of a panel whose first query returns data on every engine,
and its `engines` says where to expect data. To run a query outside Grafana,
replace `$target` with a regex of target names (e.g. `pg-e2e` or `.*`),
`$__rate_interval` with `1m`, `$__interval` with the scrape interval and `$__range`
with the dashboard range (e.g. `5m`).

Some panels only have data when the situation they show exists, as on a busy
production server: `dbconn_locks` needs a client session holding a lock,
`dbconn_user_connection_limit` a role with a CONNECTION LIMIT and
`dbconn_database_connection_limit` a database with one. An end-to-end test must
create those (see tests/alerts_e2e.rs).

The PgBouncer row of the overview repeats per pooler: a `pooler` variable lists the
selected targets whose dbconn_target_info says engine="pgbouncer", and its queries
select `target=~"$pooler"` instead of `target=~"$target"` (the variable is itself
filtered by `$target`). Their `engines` is ["pgbouncer"] alone, so an end-to-end
run without a PgBouncer target does not require them to return data; it still runs
them, so a query Prometheus refuses fails there. The panel that shows the database
behind a pooler joins on the `cluster` label (README "PgBouncer: the pooler and its
database"); it needs a PgBouncer target and a database target sharing a `cluster`
value. To run these queries outside Grafana, replace `$pooler` with the pooler's
target name.
"""

import difflib
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

ALL = ["postgresql", "mysql", "mariadb"]
# Server counters only MySQL/MariaDB keep (SHOW GLOBAL STATUS).
MYSQL = ["mysql", "mariadb"]
# Only promised for PostgreSQL so far (README "Metrics"): per-role and per-database
# limits, pg_stat_database session and deadlock counters, timeout settings. Widen
# when the MySQL/MariaDB reader provides them.
POSTGRES = ["postgresql"]
# Connection poolers: their panels repeat per pooler and select it by `$pooler`.
POOLER = ["pgbouncer"]
ENGINES = ALL + POOLER

DS = {"type": "prometheus", "uid": "${datasource}"}
T = 'target=~"$target"'
# The pooler of a repeated PgBouncer row; the negation picks the other targets (the
# database behind it). Only pooler queries (engines POOLER) may use these.
P = 'target=~"$pooler"'
NOT_P = 'target!~"$pooler"'
RUNBOOKS = "https://github.com/dbconn-exporter/dbconn_exporter/blob/main/docs/runbooks/README.md"
# The exporter's incident page for the series' target. Grafana runs elsewhere, so the
# link names the exporter: `instance` is its address when Prometheus scrapes its
# /metrics (the setup the README starts with). In the sharded /probe job `instance`
# is the target's name and the replica's address is in the `exporter` label; Grafana
# cannot fall back from one label to another, so there the link below does not reach
# the exporter and the alerts' incident_page annotation (which can) is the way in.
INCIDENT_LINK = {
    "title": "Incident page for ${__field.labels.target}",
    "url": "http://${__field.labels.instance}/incident?target=${__field.labels.target}",
    "targetBlank": True,
}


# --- panel builders -------------------------------------------------------------------


class Q:
    """One panel query. `engines`: where it must return data (see the docstring)."""

    def __init__(self, expr, legend="", engines=ALL, instant=False, fmt=None):
        self.expr = " ".join(expr.split())
        self.legend = legend
        self.engines = engines
        self.instant = instant
        self.fmt = fmt


def thresholds(*steps, base="green"):
    out = [{"color": base, "value": None}]
    for value, color in steps:
        out.append({"color": color, "value": value})
    return {"mode": "absolute", "steps": out}


RATIO_THRESHOLDS = thresholds((0.8, "orange"), (0.95, "red"))


def panel(kind, title, queries, w, h, description="", unit=None, fc=None, options=None,
          overrides=None, transformations=None, link=False):
    defaults = {"color": {"mode": "palette-classic"}}
    if unit:
        defaults["unit"] = unit
    defaults.update(fc or {})
    if link:
        # The link is built from each series' own instance and target labels: no
        # query of the panel may aggregate them away.
        for q in queries:
            for by in re.findall(r"\bby \(([^)]*)\)", q.expr):
                kept = {label.strip() for label in by.split(",")}
                if not {"instance", "target"} <= kept:
                    sys.exit(f"generate.py: {title}: the incident link needs instance "
                             f"and target, and by ({by}) drops them: {q.expr}")
        defaults["links"] = [INCIDENT_LINK]
    targets = []
    for i, q in enumerate(queries):
        t = {
            "datasource": DS,
            "editorMode": "code",
            "expr": q.expr,
            "legendFormat": q.legend or "__auto",
            "refId": chr(ord("A") + i),
        }
        if q.instant:
            t.update({"instant": True, "range": False})
        else:
            t.update({"instant": False, "range": True})
        if q.fmt:
            t["format"] = q.fmt
        targets.append(t)
    p = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "gridPos": {"w": w, "h": h},
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": options or {},
        "targets": targets,
        "_queries": queries,
    }
    if transformations:
        p["transformations"] = transformations
    return p


def timeseries(title, queries, w=12, h=8, unit="short", description="", stack=False,
               threshold_lines=None, min_=0, soft_max=None, overrides=None, link=False):
    custom = {
        "drawStyle": "line",
        "lineWidth": 1,
        "fillOpacity": 25 if stack else 5,
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        "thresholdsStyle": {"mode": "line+area" if threshold_lines else "off"},
        "axisSoftMin": min_,
    }
    if soft_max is not None:
        custom["axisSoftMax"] = soft_max
    fc = {"custom": custom}
    if threshold_lines:
        fc["thresholds"] = threshold_lines
        fc["color"] = {"mode": "palette-classic"}
    options = {
        "legend": {"displayMode": "table", "placement": "bottom", "showLegend": True,
                   "calcs": ["lastNotNull", "max"]},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return panel("timeseries", title, queries, w, h, description, unit, fc, options, overrides,
                 link=link)


def stat(title, queries, w=6, h=4, unit="short", description="", steps=None,
         mappings=None, color_mode="background", overrides=None, link=False):
    fc = {"thresholds": steps or thresholds()}
    if mappings:
        fc["mappings"] = mappings
    fc["color"] = {"mode": "thresholds"}
    options = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": color_mode,
        "graphMode": "none",
        "justifyMode": "auto",
        "orientation": "auto",
        "textMode": "value_and_name",
        "wideLayout": True,
        "showPercentChange": False,
    }
    return panel("stat", title, queries, w, h, description, unit, fc, options, overrides,
                 link=link)


def bargauge(title, queries, w=8, h=8, unit="short", description="", steps=None,
             max_=None):
    fc = {"thresholds": steps or thresholds(), "color": {"mode": "thresholds"}, "min": 0}
    if max_ is not None:
        fc["max"] = max_
    options = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "displayMode": "gradient",
        "orientation": "horizontal",
        "showUnfilled": True,
        "valueMode": "color",
        "namePlacement": "auto",
        "sizing": "auto",
        "minVizHeight": 16,
        "minVizWidth": 8,
        "maxVizHeight": 300,
    }
    return panel("bargauge", title, queries, w, h, description, unit, fc, options)


def table(title, queries, w=12, h=8, unit="short", description="", rename=None,
          hide=("Time", "__name__", "job", "instance")):
    transformations = [
        {"id": "merge", "options": {}},
        {"id": "organize", "options": {
            "excludeByName": {k: True for k in hide},
            "indexByName": {},
            "renameByName": rename or {},
        }},
    ]
    options = {"showHeader": True, "cellHeight": "sm",
               "footer": {"show": False, "reducer": ["sum"], "fields": ""}}
    fc = {"custom": {"align": "auto", "cellOptions": {"type": "auto"}},
          "thresholds": thresholds()}
    return panel("table", title, queries, w, h, description, unit, fc, options,
                 transformations=transformations)


def row(title, repeat=None):
    r = {"type": "row", "title": title, "collapsed": False, "panels": []}
    if repeat:
        # Grafana repeats the row and the panels up to the next row once per value.
        r["repeat"] = repeat
    return r


UP_MAPPINGS = [{"type": "value", "options": {
    "0": {"text": "DOWN", "color": "red", "index": 0},
    "1": {"text": "UP", "color": "green", "index": 1},
}}]
MISSING_MAPPINGS = [{"type": "value", "options": {
    "0": {"text": "granted", "color": "green", "index": 0},
    "1": {"text": "MISSING", "color": "red", "index": 1},
}}]
OK_MAPPINGS = [{"type": "value", "options": {
    "0": {"text": "FAILED", "color": "red", "index": 0},
    "1": {"text": "OK", "color": "green", "index": 1},
}}]


ROOT_BLOCKERS_DESCRIPTION = (
    "Sessions that block others while not waiting on a lock themselves: the roots of "
    "the lock trees. Ending a root blocker frees every session queued behind it; "
    "ending a waiter frees nothing. Anything above 0 for long: open the incident page "
    "(click the series, then Incident page for the target) to see which session it is, "
    "who runs it, what it ran last, how long its transaction has been open and the "
    "statement that ends it. Runbook: DatabaseLockContention."
)


def by_origin_top(dim):
    return bargauge(
        f"Top {dim}s by sessions",
        [Q(f'topk(10, sum by (target, {dim}) (dbconn_connections_by_origin{{{T}}}))',
           "{{target}} · {{" + dim + "}}", instant=True)],
        w=8, h=9,
        description=f"Client sessions per {dim}, the 10 largest across the selected "
                    "targets (all states). `other` collects what exceeds the exporter's "
                    "origin_cap.",
    )


# --- dashboards -----------------------------------------------------------------------


def overview():
    return "dbconn-overview", "Database connections — overview", [
        row("Saturation"),
        stat(
            "Connection usage",
            [Q(f"dbconn_usage_ratio{{{T}}}", "{{target}}")],
            w=6, h=8, unit="percentunit", steps=RATIO_THRESHOLDS, link=True,
            description="Client sessions over the slots ordinary users can take "
                        "(max_connections minus reserved slots). 100% = the next "
                        "ordinary login is refused. Alerts: 80% warning, 95% critical.",
        ),
        timeseries(
            "Connection usage ratio",
            [Q(f"dbconn_usage_ratio{{{T}}}", "{{target}}")],
            w=18, h=8, unit="percentunit", soft_max=1, threshold_lines=RATIO_THRESHOLDS,
            link=True,
            description="dbconn_usage_ratio per target, with the 80% "
                        "(DatabaseConnectionsHigh) and 95% (DatabaseConnectionsCritical) "
                        "lines. Above 100% reserved slots are in use.",
        ),
        timeseries(
            "Headroom: free ordinary slots",
            [Q(f"dbconn_max_connections{{{T}}} - dbconn_reserved_connections{{{T}}}"
               f" - on (job, instance, target) sum by (job, instance, target) "
               f"(dbconn_connections{{{T}}})", "{{target}}")],
            w=12, h=8, unit="short",
            threshold_lines=None,
            description="max_connections − reserved − client sessions: how many more "
                        "ordinary logins the server accepts.",
        ),
        timeseries(
            "Connections vs limits",
            [
                Q(f"sum by (target) (dbconn_connections{{{T}}})", "{{target}} in use"),
                Q(f"dbconn_max_connections{{{T}}}", "{{target}} max_connections"),
                Q(f"dbconn_max_connections{{{T}}} - dbconn_reserved_connections{{{T}}}",
                  "{{target}} ordinary limit"),
                Q(f"dbconn_max_used_connections{{{T}}}",
                  "{{target}} max used since start", engines=MYSQL),
            ],
            w=12, h=8, unit="short",
            description="Client sessions against the server limit and the ordinary "
                        "limit. MySQL/MariaDB also report the most connections in use "
                        "at once since the server started (Max_used_connections).",
        ),
        row("Sessions"),
        timeseries(
            "Connections by state",
            [Q(f"sum by (target, state) (dbconn_connections{{{T}}})",
               "{{target}} {{state}}")],
            w=12, h=9, stack=True,
            description="Client sessions per normalized state. Many `idle` sessions on "
                        "a full server mean oversized pools (DatabaseIdleConnectionsHigh); "
                        "`idle_in_transaction` holds locks and slots doing nothing. "
                        "`other` includes the sessions whose state the exporter's "
                        "privileges hide: see Missing privileges and hidden sessions.",
        ),
        timeseries(
            "Longest time in state",
            [
                Q(f'dbconn_max_state_duration_seconds{{{T}, state!="idle"}}',
                  "{{target}} {{state}}"),
                Q(f"dbconn_oldest_transaction_seconds{{{T}}}",
                  "{{target}} oldest transaction"),
            ],
            w=12, h=9, unit="s", link=True,
            description="The longest time any session has been in each state (idle "
                        "left out: long idle is normal for pools), and the age of the "
                        "oldest open transaction.",
        ),
        by_origin_top("application"),
        by_origin_top("user"),
        by_origin_top("database"),
        timeseries(
            "Long-running statements (active longer than threshold)",
            [Q(f'dbconn_connections_over_duration{{{T}, state="active"}}',
               "{{target}} > {{threshold_seconds}}s")],
            w=12, h=8, link=True,
            description="Sessions running one statement for longer than each configured "
                        "duration threshold. DatabaseLongRunningQueries fires above 5 "
                        "over 300 s.",
        ),
        timeseries(
            "Idle in transaction longer than threshold",
            [Q(f"sum by (target, threshold_seconds) (dbconn_connections_over_duration"
               f'{{{T}, state=~"idle_in_transaction|idle_in_transaction_aborted"}})',
               "{{target}} > {{threshold_seconds}}s")],
            w=12, h=8,
            description="Sessions idle inside an open transaction (aborted included) for "
                        "longer than each threshold. DatabaseIdleInTransaction fires on "
                        "any over 30 s.",
        ),
        row("Locks and limits"),
        stat(
            "Root blockers",
            [Q(f"dbconn_root_blockers{{{T}}}", "{{target}}")],
            w=6, h=8, steps=thresholds((1, "red")), link=True,
            description=ROOT_BLOCKERS_DESCRIPTION,
        ),
        timeseries(
            "Blocked and blocking sessions",
            [
                Q(f"dbconn_blocked_connections{{{T}}}", "{{target}} blocked"),
                Q(f"dbconn_blocking_connections{{{T}}}", "{{target}} blocking"),
            ],
            w=6, h=8, link=True,
            description="Sessions waiting on a lock another session holds, and the "
                        "sessions holding such locks.",
        ),
        timeseries(
            "Longest lock wait",
            [Q(f"dbconn_max_lock_wait_seconds{{{T}}}", "{{target}}")],
            w=6, h=8, unit="s", link=True,
            threshold_lines=thresholds((30, "orange")),
            description="The longest current lock wait. DatabaseLockContention fires "
                        "when it passes 30 s with sessions blocked.",
        ),
        timeseries(
            "Locks by mode",
            [Q(f"sum by (target, mode, granted) (dbconn_locks{{{T}}})",
               "{{target}} {{mode}} granted={{granted}}")],
            w=6, h=8,
            description="Locks held (granted=true) and awaited (granted=false) by mode; "
                        "the exporter's own locks are left out. Empty while no client "
                        "session holds a lock.",
        ),
        bargauge(
            "Role connection limit use",
            [Q(f"dbconn_user_connections{{{T}}} / (dbconn_user_connection_limit{{{T}}} > 0)",
               "{{target}} · {{user}}", instant=True)],
            w=12, h=8, unit="percentunit", steps=thresholds((0.9, "orange"), (1, "red")),
            max_=1,
            description="Sessions of each role with a CONNECTION LIMIT over that limit "
                        "(limits of 0 are left out). DatabaseRoleConnectionLimitNear fires "
                        "above 90%. Empty when no role has a limit.",
        ),
        bargauge(
            "Database connection limit use",
            [Q(f"dbconn_database_connections{{{T}}} / "
               f"(dbconn_database_connection_limit{{{T}}} > 0)",
               "{{target}} · {{database}}", engines=POSTGRES, instant=True)],
            w=12, h=8, unit="percentunit", steps=thresholds((0.9, "orange"), (1, "red")),
            max_=1,
            description="Sessions on each database with a CONNECTION LIMIT over that "
                        "limit. Empty when no database has a limit.",
        ),
        row("Churn and refusals"),
        timeseries(
            "Refused logins",
            [
                Q(f'rate(dbconn_connect_errors_total{{{T}, reason="too_many_connections"}}'
                  f"[$__rate_interval])",
                  "{{target}} exporter refused: too many connections"),
                Q(f"rate(dbconn_refused_connections_total{{{T}}}[$__rate_interval])",
                  "{{target}} refused by server (max_connections)", engines=MYSQL),
                Q(f"rate(dbconn_failed_connections_total{{{T}}}[$__rate_interval])",
                  "{{target}} failed connection attempts", engines=MYSQL),
            ],
            w=12, h=8, unit="cps",
            description="Connects refused because the server was full: the exporter's "
                        "own (every engine) and, on MySQL/MariaDB, every client's as "
                        "counted by the server.",
        ),
        timeseries(
            "New sessions per second",
            [
                Q(f"rate(dbconn_sessions_total{{{T}}}[$__rate_interval])",
                  "{{target}} sessions established"),
                Q(f"sum by (target, reason) "
                  f"(rate(dbconn_sessions_abnormally_ended_total{{{T}}}[$__rate_interval]))",
                  "{{target}} ended abnormally: {{reason}}", engines=POSTGRES),
            ],
            w=12, h=8, unit="cps",
            description="Connection churn: a high rate of new sessions means clients "
                        "connect per request instead of pooling. PostgreSQL 14+.",
        ),
        row("Exporter health"),
        stat(
            "Exporter reads the target",
            [Q(f"dbconn_up{{{T}}}", "{{target}}")],
            w=6, h=6, steps=thresholds((1, "green"), base="red"), mappings=UP_MAPPINGS,
            description="dbconn_up: 1 if the last scrape read the target. When it is 0, "
                        "see the connect errors: too_many_connections means full, not down.",
        ),
        timeseries(
            "Exporter connect errors by reason",
            [Q(f"sum by (target, reason) "
               f"(rate(dbconn_connect_errors_total{{{T}}}[$__rate_interval]))",
               "{{target}} {{reason}}")],
            w=9, h=6, unit="cps",
            description="The exporter's own failed connects: too_many_connections "
                        "(full), auth_failed, unreachable, timeout, tls, other.",
        ),
        timeseries(
            "Scrape duration",
            [Q(f"dbconn_scrape_duration_seconds{{{T}}}", "{{target}}")],
            w=9, h=6, unit="s",
            description="Time each scrape spent reading the target.",
        ),
        stat(
            "Missing privileges and hidden sessions",
            [
                Q(f"max by (target, privilege) (dbconn_missing_privilege{{{T}}})",
                  "{{target}} · {{privilege}}"),
                Q(f"max by (target) (dbconn_hidden_connections{{{T}}})",
                  "{{target}} · hidden sessions"),
            ],
            w=8, h=7, steps=thresholds((1, "orange")),
            overrides=[{
                "matcher": {"id": "byFrameRefID", "options": "A"},
                "properties": [
                    {"id": "mappings", "value": MISSING_MAPPINGS},
                    {"id": "thresholds", "value": thresholds((1, "red"))},
                ],
            }],
            description="MISSING: the exporter's role lacks the privilege that shows "
                        "other users' sessions (PostgreSQL pg_read_all_stats, MySQL/"
                        "MariaDB PROCESS). Sessions are still counted, so usage and "
                        "headroom are right, but the hidden sessions' state, durations, "
                        "origin and lock waits are not seen: they count as state `other`, "
                        "and the idle, long-running, idle-in-transaction and lock panels "
                        "and alerts are blind for them. Fix: PostgreSQL `GRANT pg_monitor "
                        "TO dbconn_exporter;` (effective at the next scrape); MySQL/MariaDB "
                        "`GRANT PROCESS ON *.* TO 'dbconn_exporter'@'%';` then restart the "
                        "exporter. Runbook: DatabaseExporterMissingPrivilege.",
        ),
        table(
            "Collector status",
            [Q(f"dbconn_scrape_collector_success{{{T}}}", instant=True, fmt="table")],
            w=8, h=7,
            rename={"Value": "ok (1) / failed (0)"},
            description="Which parts of the last read worked; 0 means that part's "
                        "metrics are missing from the scrape (e.g. a catalog locked past "
                        "the exporter's lock timeout).",
        ),
        table(
            "Servers",
            [Q(f"dbconn_target_info{{{T}}}", instant=True, fmt="table")],
            w=8, h=7,
            hide=("Time", "__name__", "Value"),
            description="Engine and version of each target, from its last successful read.",
        ),
        *pooler_row(),
    ]


POOL = "{{database}}/{{user}}"
# The database behind the pooler of the row: the targets that are not PgBouncer and
# share its `cluster` label (set by relabelling on both; never joined without one).
BEHIND = (
    f'(dbconn_usage_ratio{{{NOT_P}}} unless on (job, instance, target) '
    f'dbconn_target_info{{engine="pgbouncer", {NOT_P}}}) '
    f'and on (cluster) dbconn_target_info{{engine="pgbouncer", {P}, cluster!=""}}'
)


def pooler_row():
    """One row per PgBouncer target (the `pooler` variable), last on the overview:
    a repeated row takes every panel up to the next row."""
    return [
        row("PgBouncer pooler $pooler", repeat="pooler"),
        timeseries(
            "Pool clients: active and waiting",
            [Q(f'dbconn_pool_clients{{{P}, state=~"active|waiting"}}',
               POOL + " {{state}}", engines=POOLER)],
            w=8, h=8,
            overrides=[{
                "matcher": {"id": "byRegexp", "options": ".* waiting$"},
                "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": "red"}}],
            }],
            description="Client connections per pool (database/user): `active` are "
                        "linked to a server connection (or idle in the pooler), "
                        "`waiting` queue for one. Any waiting client for long: "
                        "PgBouncerClientsWaiting.",
        ),
        timeseries(
            "Oldest client wait",
            [Q(f"dbconn_pool_max_wait_seconds{{{P}}}", POOL, engines=POOLER)],
            w=8, h=8, unit="s", threshold_lines=thresholds((5, "orange")),
            description="How long the oldest waiting client of each pool has waited "
                        "for a server connection (0 when none waits). "
                        "PgBouncerClientsWaiting fires when it stays over 5 s with "
                        "clients waiting for 1m; at query_wait_timeout PgBouncer "
                        "drops the client with an error.",
        ),
        bargauge(
            "Pool usage",
            [Q(f"dbconn_pool_usage_ratio{{{P}}}", POOL, engines=POOLER, instant=True)],
            w=8, h=8, unit="percentunit", steps=thresholds((0.9, "orange"), (1, "red")),
            max_=1,
            description="Server connections in use over the pool size plus reserve, "
                        "per pool. 100% = the next client queues. "
                        "PgBouncerPoolSaturated fires at 90% for 2m.",
        ),
        timeseries(
            "Server connections vs pool size",
            [
                Q(f"sum by (job, instance, target, database, user) "
                  f"(dbconn_pool_servers{{{P}}})", POOL + " servers open",
                  engines=POOLER),
                Q(f'dbconn_pool_servers{{{P}, state="active"}}', POOL + " servers active",
                  engines=POOLER),
                Q(f"dbconn_pool_size{{{P}}}", POOL + " pool size + reserve",
                  engines=POOLER),
            ],
            w=12, h=8,
            overrides=[{
                "matcher": {"id": "byFrameRefID", "options": "C"},
                "properties": [
                    {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
                    {"id": "custom.fillOpacity", "value": 0},
                ],
            }],
            description="Server connections each pool holds to the database (all "
                        "states: active, idle, used, tested, login), those linked to a "
                        "client now, and the pool's size plus reserve (dashed). Open "
                        "servers at the dashed line with clients waiting: the pool is "
                        "the limit, unless the database behind it is full too.",
        ),
        timeseries(
            "Pooler clients and the database behind it",
            [
                Q(f"dbconn_usage_ratio{{{P}}}", "{{target}} clients / max_client_conn",
                  engines=POOLER),
                Q(BEHIND, "{{target}} (database behind it, cluster {{cluster}})",
                  engines=POOLER),
            ],
            w=12, h=8, unit="percentunit", soft_max=1,
            threshold_lines=thresholds((0.8, "orange"), (0.9, "red")),
            description="The pooler's client connections over max_client_conn "
                        "(DatabaseConnectionsHigh / Critical apply to it), and the "
                        "usage ratio of the database behind it: the targets that are not "
                        "PgBouncer and carry the same `cluster` label (README "
                        "\"PgBouncer: the pooler and its database\"; no line without "
                        "it). Clients waiting while the database is under 80%: raise "
                        "the pool size (PgBouncerQueueWithDatabaseHeadroom); at 90% or "
                        "more the database is the limit (PgBouncerQueueAndDatabaseFull).",
        ),
    ]


def locks_and_sessions():
    return "dbconn-locks-and-sessions", "Database connections — locks and sessions", [
        row("Who holds the sessions"),
        timeseries(
            "Sessions by application and state",
            [Q(f"sum by (target, application, state) "
               f"(dbconn_connections_by_origin{{{T}}})",
               "{{target}} {{application}} {{state}}")],
            w=24, h=9, stack=True,
            description="Client sessions by application_name / program_name and state.",
        ),
        timeseries(
            "Idle sessions by user",
            [Q(f"sum by (target, user) (dbconn_connections_by_origin"
               f'{{{T}, state=~"idle|idle_in_transaction|idle_in_transaction_aborted"}})',
               "{{target}} {{user}}")],
            w=12, h=8, stack=True,
            description="Idle and idle-in-transaction sessions per user: the pools to "
                        "shrink first. Empty while no client session is idle.",
        ),
        table(
            "Sessions by database, user and application",
            [Q(f"sum by (target, database, user, application, state) "
               f"(dbconn_connections_by_origin{{{T}}})", instant=True, fmt="table")],
            w=12, h=8,
            rename={"Value": "sessions"},
            description="The current breakdown; sort by a column to find the holder.",
        ),
        row("How long"),
        timeseries(
            "Sessions over duration thresholds",
            [Q(f'dbconn_connections_over_duration{{{T}, state!="idle"}}',
               "{{target}} {{state}} > {{threshold_seconds}}s")],
            w=12, h=8,
            description="Sessions in each non-idle state for longer than each "
                        "configured threshold.",
        ),
        timeseries(
            "Longest time in state",
            [Q(f"dbconn_max_state_duration_seconds{{{T}}}", "{{target}} {{state}}")],
            w=12, h=8, unit="s", link=True,
            description="Longest time any session has been in each state.",
        ),
        timeseries(
            "Oldest transaction",
            [Q(f"dbconn_oldest_transaction_seconds{{{T}}}", "{{target}}")],
            w=12, h=8, unit="s", link=True,
            description="Age of the oldest open transaction: it holds back vacuum / "
                        "purge and keeps its locks.",
        ),
        timeseries(
            "Connection age",
            [
                Q(f"dbconn_average_connection_age_seconds{{{T}}}", "{{target}} average", engines=POSTGRES),
                Q(f"dbconn_max_connection_age_seconds{{{T}}}", "{{target}} oldest", engines=POSTGRES),
            ],
            w=12, h=8, unit="s",
            description="How long client sessions have been connected (PostgreSQL only: the MySQL processlist does not tell). Old, idle "
                        "sessions point to pools without a max lifetime.",
        ),
        row("Locks"),
        timeseries(
            "Root blockers",
            [Q(f"dbconn_root_blockers{{{T}}}", "{{target}}")],
            w=8, h=8, link=True, threshold_lines=thresholds((1, "red")),
            description=ROOT_BLOCKERS_DESCRIPTION,
        ),
        timeseries(
            "Blocked and blocking sessions",
            [
                Q(f"dbconn_blocked_connections{{{T}}}", "{{target}} blocked"),
                Q(f"dbconn_blocking_connections{{{T}}}", "{{target}} blocking"),
            ],
            w=8, h=8, link=True,
            description="Sessions waiting on a lock another session holds, and the "
                        "sessions holding such locks (a waiter can hold a lock others "
                        "wait on: Root blockers counts only the heads of the queues).",
        ),
        timeseries(
            "Longest lock wait",
            [Q(f"dbconn_max_lock_wait_seconds{{{T}}}", "{{target}}")],
            w=8, h=8, unit="s", threshold_lines=thresholds((30, "orange")), link=True,
        ),
        timeseries(
            "Deadlocks per second",
            [Q(f"rate(dbconn_deadlocks_total{{{T}}}[$__rate_interval])", "{{target}}")],
            w=8, h=8, unit="cps",
            description="Deadlocks detected (and broken) by the server.",
        ),
        timeseries(
            "Locks awaited by mode",
            [Q(f'sum by (target, mode) (dbconn_locks{{{T}, granted="false"}})',
               "{{target}} {{mode}}")],
            w=8, h=8,
            description="Locks sessions wait for. Empty while nobody waits.",
        ),
        timeseries(
            "Locks held by mode",
            [Q(f'sum by (target, mode) (dbconn_locks{{{T}, granted="true"}})',
               "{{target}} {{mode}}")],
            w=8, h=8,
            description="Locks granted to client sessions (the exporter's own left out).",
        ),
        row("Server settings"),
        table(
            "Session and statement timeouts",
            [Q(f"dbconn_timeout_setting_seconds{{{T}}}", instant=True, fmt="table")],
            w=24, h=7, unit="s",
            rename={"Value": "seconds (0 = disabled)"},
            description="Timeouts that end idle sessions, idle transactions and long "
                        "statements, as defaults for the exporter's role. 0 = disabled: "
                        "see the runbooks for idle_session_timeout and "
                        "idle_in_transaction_session_timeout.",
        ),
    ]


# --- assembly -------------------------------------------------------------------------


def layout(panels):
    """Flows panels left to right, top to bottom on Grafana's 24-column grid."""
    x = y = row_h = 0
    for i, p in enumerate(panels, start=1):
        p["id"] = i
        if p["type"] == "row":
            if x:
                y += row_h
            p["gridPos"] = {"h": 1, "w": 24, "x": 0, "y": y}
            y += 1
            x = row_h = 0
            continue
        w, h = p["gridPos"]["w"], p["gridPos"]["h"]
        if x + w > 24:
            y += row_h
            x = row_h = 0
        p["gridPos"] = {"h": h, "w": w, "x": x, "y": y}
        x += w
        row_h = max(row_h, h)
    return panels


SELECTOR = re.compile(r"\b(dbconn_[a-z_]+)\s*(\{[^}]*\})?")


def check_query(where, q):
    expr = q.expr
    unknown = set(q.engines) - set(ENGINES)
    if unknown or not q.engines:
        sys.exit(f"generate.py: {where}: engines {q.engines}: each must be one of {ENGINES}")
    pooler = q.engines == POOLER
    if not pooler and set(q.engines) & set(POOLER):
        sys.exit(f"generate.py: {where}: a pooler query is for {POOLER} alone: {q.engines}")
    allowed = (P, NOT_P) if pooler else (T,)
    for m in SELECTOR.finditer(expr):
        if not m.group(2) or not any(a in m.group(2) for a in allowed):
            sys.exit(f"generate.py: {where}: selector of {m.group(1)} lacks "
                     f"{' or '.join(allowed)}: {expr}")
    if "vector(" in expr:
        sys.exit(f"generate.py: {where}: vector() fakes data: {expr}")


POOLER_VARIABLE = {
    "name": "pooler",
    "label": "Pooler",
    "type": "query",
    "datasource": DS,
    "definition": 'label_values(dbconn_target_info{engine="pgbouncer", target=~"$target"}, target)',
    "query": {
        "qryType": 1,
        "query": 'label_values(dbconn_target_info{engine="pgbouncer", target=~"$target"}, target)',
        "refId": "PrometheusVariableQueryEditor-VariableQuery",
    },
    "current": {},
    "hide": 0,
    "includeAll": True,
    "multi": True,
    "options": [],
    "refresh": 2,
    "regex": "",
    "skipUrlSync": False,
    "sort": 1,
}


def dashboard(uid, title, panels, other_uid):
    return {
        "annotations": {"list": [{
            "builtIn": 1,
            "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True,
            "hide": True,
            "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts",
            "type": "dashboard",
        }]},
        "description": "dbconn_exporter: connection saturation of PostgreSQL and "
                       "MySQL/MariaDB targets. Generated by dashboards/generate.py.",
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [
            {"title": "Overview" if other_uid == "dbconn-overview" else "Locks and sessions",
             "type": "link", "url": f"/d/{other_uid}?${{__url_time_range}}&${{__all_variables}}",
             "icon": "dashboard", "targetBlank": False, "tooltip": "", "asDropdown": False,
             "includeVars": False, "keepTime": False, "tags": []},
            {"title": "Runbooks", "type": "link", "url": RUNBOOKS, "icon": "doc",
             "targetBlank": True, "tooltip": "One page per alert", "asDropdown": False,
             "includeVars": False, "keepTime": False, "tags": []},
        ],
        "panels": layout(panels),
        "refresh": "30s",
        "schemaVersion": 39,
        "tags": ["dbconn", "postgresql", "mysql", "mariadb"]
        + (["pgbouncer"] if any(p.get("repeat") == "pooler" for p in panels) else []),
        "templating": {"list": [
            {
                "name": "datasource",
                "label": "Data source",
                "type": "datasource",
                "query": "prometheus",
                "current": {},
                "hide": 0,
                "includeAll": False,
                "multi": False,
                "options": [],
                "refresh": 1,
                "regex": "",
                "skipUrlSync": False,
            },
            {
                "name": "target",
                "label": "Target",
                "type": "query",
                "datasource": DS,
                "definition": "label_values(dbconn_up, target)",
                "query": {
                    "qryType": 1,
                    "query": "label_values(dbconn_up, target)",
                    "refId": "PrometheusVariableQueryEditor-VariableQuery",
                },
                "current": {},
                "hide": 0,
                "includeAll": True,
                "multi": True,
                "options": [],
                "refresh": 2,
                "regex": "",
                "skipUrlSync": False,
                "sort": 1,
            },
        ] + ([POOLER_VARIABLE] if any(p.get("repeat") == "pooler" for p in panels) else [])},
        "time": {"from": "now-3h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "title": title,
        "uid": uid,
        "version": 1,
        "weekStart": "",
    }


def build():
    files = {}
    queries = []
    boards = [(overview(), "dbconn-locks-and-sessions"),
              (locks_and_sessions(), "dbconn-overview")]
    for (uid, title, panels), other in boards:
        for p in panels:
            for q, t in zip(p.pop("_queries", []), p.get("targets", [])):
                check_query(f"{uid} / {p['title']} / {t['refId']}", q)
                queries.append({
                    "dashboard": uid,
                    "panel": p["title"],
                    "refId": t["refId"],
                    "expr": q.expr,
                    "instant": q.instant,
                    "engines": q.engines,
                })
            first = queries[-len(p["targets"])]["engines"] if p["type"] != "row" else None
            if first is not None and "postgresql" not in first and first != POOLER:
                # Engine-specific queries come after one that has data on PostgreSQL,
                # so that no panel is empty there (pooler panels: on PgBouncer).
                sys.exit(f"generate.py: {uid} / {p['title']}: first query is not for PostgreSQL")
        files[f"{uid}.json"] = dashboard(uid, title, panels, other)
    files["queries.json"] = queries
    return {name: json.dumps(obj, indent=2, ensure_ascii=False) + "\n"
            for name, obj in files.items()}


def main(argv):
    check = argv[1:] == ["--check"]
    if argv[1:] and not check:
        sys.exit("usage: python3 dashboards/generate.py [--check]")
    stale = []
    for name, text in build().items():
        path = HERE / name
        if check:
            current = path.read_text(encoding="utf-8") if path.exists() else ""
            if current != text:
                stale.append(name)
                sys.stdout.writelines(difflib.unified_diff(
                    current.splitlines(keepends=True), text.splitlines(keepends=True),
                    f"dashboards/{name} (on disk)", f"dashboards/{name} (generated)",
                    n=2))
        else:
            path.write_text(text, encoding="utf-8")
            print(f"generate.py: wrote dashboards/{name}")
    if stale:
        sys.exit(f"generate.py: stale: {', '.join(stale)}; run python3 dashboards/generate.py")
    if check:
        print("generate.py: dashboards are up to date")


if __name__ == "__main__":
    main(sys.argv)
