// The alert rules: the same rules for PostgreSQL, MySQL and MariaDB (groups
// dbconn.saturation, dbconn.sessions, dbconn.exporter), and for the pools of
// PgBouncer targets (dbconn.pooler). Rendered into alerts/dbconn.rules.yml and
// alerts/kubernetes/prometheusrule.yaml by mixin/build.py; tested by
// `promtool test rules alerts/tests/*.yml` against the default settings.
//
// Only dbconn_* metrics are used (see the "Metrics" table in README.md), each
// through util.metric so that _config.selector reaches every selector, the Go
// templates' `query` calls included. Every alert keeps the job, instance and target
// labels of the series it comes from (and any label added by relabelling): no
// aggregation, or `without (...)` dropping only the label being summed away, so
// that routing labels survive.
//
// Alerts about a target's sessions (saturation, idle, long-running, locks) carry an
// `incident_page` annotation: the exporter's incident page for the target, which
// names the sessions holding the connections, the lock tree and the statements that
// bring relief. util.alertIncidentURL builds it from the `exporter` label when
// relabelling sets one (the sharded /probe job in README "Sharding a fleet", where
// `instance` is the target's name), else from `instance`, the exporter's address
// when Prometheus scrapes its /metrics. Behind TLS (--web.config.file) set
// _config.incidentPageURL to https://.
//
// Thresholds on dbconn_connections_over_duration select the `threshold_seconds`
// label, which must be one of the exporter's `collection.duration_thresholds`
// (default 30s, 1m, 5m, 10m, 30m, 1h, rendered "30", "60", "300", "600", "1800",
// "3600"). To tune such an alert, pick another configured threshold or add yours to
// duration_thresholds; a threshold the exporter does not export never fires.
local util = import 'lib/util.libsonnet';

local durationSeconds = util.durationSeconds;

// '5m' -> '5 minutes'.
local words(d) = util.duration(durationSeconds(d));

// '5m' -> '5 minutes', '1h' -> 'hour': for "in the last ...".
local last(d) =
  local s = words(d);
  if std.startsWith(s, '1 ') then s[2:] else s;

// 3600 -> 'an hour', 7200 -> '2 hours': for "within ...".
local aDuration(seconds) =
  local s = util.duration(seconds);
  if s == '1 hour' then 'an hour'
  else if std.startsWith(s, '1 ') then 'a ' + s[2:]
  else s;

// 0.5 -> 'half', 0.6 -> '60%': for "over ... full".
local share(ratio) = if ratio == 0.5 then 'half' else util.percent(ratio);

// A description written over several lines of a ||| block, as one line (what
// YAML's folded `>-` made of it): a notification shows it as one paragraph.
local fold(text) = std.join(' ', std.split(std.rstripChars(text, '\n'), '\n'));

{
  prometheusAlerts+:: {
    local cfg = $._config,
    local m(name, matchers='') = util.metric(cfg, name, matchers),
    // A selector inside a Go template's printf format: a `%` of the selector
    // would be read as a verb.
    local q(name, matchers) =
      util.metric(cfg { selector: std.strReplace(cfg.selector, '%', '%%') }, name, matchers),
    local n = util.number,
    local incident = { incident_page: util.alertIncidentURL(cfg) },
    local tooMany = m('dbconn_connect_errors_total', 'reason="too_many_connections"'),
    local cluster = cfg.clusterLabel,

    // The two Queue* rules differ only in the comparison on the database's ratio
    // and in what the description tells to fix.
    local queueRule(name, databaseCondition, summary, conjunction, fix) = {
      alert: name,
      expr: |||
        (
          %(wait)s > %(maxWait)s
          and on (job, instance, target, database, user)
          %(waiting)s > 0
        ) * 0
        + on (%(cluster)s) group_left ()
        (
          max by (%(cluster)s) (
            %(ratio)s
            unless on (job, instance, target)
            %(pooler)s
          ) %(condition)s
        )
      ||| % {
        wait: m('dbconn_pool_max_wait_seconds', '%s!=""' % cluster),
        maxWait: n(cfg.poolMaxWaitSeconds),
        waiting: m('dbconn_pool_clients', 'state="waiting"'),
        cluster: cluster,
        ratio: m('dbconn_usage_ratio', '%s!=""' % cluster),
        pooler: m('dbconn_target_info', 'engine="pgbouncer"'),
        condition: databaseCondition,
      },
      'for': cfg.poolQueueFor,
      labels: { severity: 'critical' },
      annotations: {
        summary: summary,
        description: fold(|||
          Clients of pool {{ $labels.database }}/{{ $labels.user }} on the pooler
          {{ $labels.target }} queue for a server connection
          {{- with printf `%(wait)s` $labels.job $labels.instance $labels.target $labels.database $labels.user | query }}
          (the oldest for {{ . | first | value | humanizeDuration }})
          {{- end }}, %(conjunction)s the database behind it in cluster {{ $labels.%(cluster)s }}
          {{- with printf `topk(1, %(ratio)s unless on (job, instance, target) %(pooler)s)` $labels.%(cluster)s | query }}
          ({{ . | first | label "target" }})
          {{- end }} %(fix)s
        ||| % {
          wait: q('dbconn_pool_max_wait_seconds', 'job=%q,instance=%q,target=%q,database=%q,user=%q'),
          conjunction: conjunction,
          cluster: cluster,
          ratio: q('dbconn_usage_ratio', '%s=%%q' % cluster),
          pooler: q('dbconn_target_info', 'engine="pgbouncer"'),
          fix: fold(fix),
        }),
        runbook_url: util.runbookURL(cfg, name),
      },
    },

    groups+: [
      {
        name: 'dbconn.saturation',
        rules: [
          {
            alert: 'DatabaseConnectionsHigh',
            expr: '%s > %s' % [m('dbconn_usage_ratio'), n(cfg.connectionsHighRatio)],
            'for': cfg.connectionsHighFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Connections on {{ $labels.target }} above %s of the limit'
                       % util.percent(cfg.connectionsHighRatio),
              description: fold(|||
                {{ $labels.target }} uses {{ $value | humanizePercentage }} of the
                connections ordinary users can open (max_connections minus reserved slots).
                New logins start being refused at 100%.
              |||),
              runbook_url: util.runbookURL(cfg, 'DatabaseConnectionsHigh'),
            } + incident,
          },
          {
            alert: 'DatabaseConnectionsCritical',
            expr: '%s > %s' % [m('dbconn_usage_ratio'), n(cfg.connectionsCriticalRatio)],
            'for': cfg.connectionsCriticalFor,
            labels: { severity: 'critical' },
            annotations: {
              summary: 'Connections on {{ $labels.target }} above %s of the limit'
                       % util.percent(cfg.connectionsCriticalRatio),
              description: fold(|||
                {{ $labels.target }} uses {{ $value | humanizePercentage }} of the
                connections ordinary users can open. Logins will be refused within
                moments if this keeps growing.
              |||),
              runbook_url: util.runbookURL(cfg, 'DatabaseConnectionsCritical'),
            } + incident,
          },
          // Fires on either signal, one alert per target (`or on (...)` keeps the
          // ratio when both exist):
          //  - signal="usage_ratio": the exporter still reads the server (its
          //    persistent session) and the ratio is at or above 100%;
          //  - signal="exporter_refused": the exporter's own connect was refused as
          //    "too many connections". Then dbconn_up is 0 and dbconn_usage_ratio is
          //    absent, so this branch uses only the connect-errors counter. The
          //    second half of that branch covers an exporter that (re)started while
          //    the server was full: its counter series starts above 0, which
          //    increase() cannot see.
          // No `for`: a ratio of 1 or a refusal is already the outage.
          {
            alert: 'DatabaseConnectionsExhausted',
            expr: |||
              label_replace(%(ratio)s >= 1, "signal", "usage_ratio", "", "")
              or on (job, instance, target)
              label_replace(
                (
                  sum without (reason) (increase(%(tooMany)s[%(window)s])) > 0
                )
                or
                (
                  (
                    sum without (reason) (%(tooMany)s) > 0
                    unless
                    sum without (reason) (%(tooMany)s offset %(window)s)
                  )
                  and on (job, instance, target)
                  %(up)s == 0
                ),
                "signal", "exporter_refused", "", ""
              )
            ||| % {
              ratio: m('dbconn_usage_ratio'),
              tooMany: tooMany,
              window: cfg.exhaustedRefusalWindow,
              up: m('dbconn_up'),
            },
            labels: { severity: 'critical' },
            annotations: {
              summary: '{{ $labels.target }} is out of connections',
              description: fold(|||
                {{ if eq $labels.signal "usage_ratio" -}}
                {{ $labels.target }} uses {{ $value | humanizePercentage }} of the
                connections ordinary users can open: the next ordinary login is refused.
                {{- else -}}
                The exporter's own connection to {{ $labels.target }} was refused as "too
                many connections" ({{ printf "%%.0f" $value }} in the last %(window)s): the
                server was full (not down), so applications were being refused too.
                {{- end }}
              ||| % { window: last(cfg.exhaustedRefusalWindow) }),
              runbook_url: util.runbookURL(cfg, 'DatabaseConnectionsExhausted'),
            } + incident,
          },
          // The value is the current ratio; the linear fit over the window reaches
          // 100% within the horizon. Below exhaustionPredictedMinRatio it is noise,
          // at 100% Exhausted has fired.
          {
            alert: 'DatabaseConnectionsExhaustionPredicted',
            expr: |||
              (%(ratio)s > %(min)s < 1)
              and on (job, instance, target)
              (predict_linear(%(ratio)s[%(window)s], %(horizon)s) >= 1)
            ||| % {
              ratio: m('dbconn_usage_ratio'),
              min: n(cfg.exhaustionPredictedMinRatio),
              window: cfg.exhaustionPredictedFitWindow,
              horizon: n(cfg.exhaustionPredictedHorizonSeconds),
            },
            'for': cfg.exhaustionPredictedFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: '{{ $labels.target }} will run out of connections within %s'
                       % aDuration(cfg.exhaustionPredictedHorizonSeconds),
              description: fold(|||
                {{ $labels.target }} uses {{ $value | humanizePercentage }} of its
                connections and, at the growth rate of the last %(window)s, reaches 100%%
                within %(horizon)s.
              ||| % {
                window: last(cfg.exhaustionPredictedFitWindow),
                horizon: aDuration(cfg.exhaustionPredictedHorizonSeconds),
              }),
              runbook_url: util.runbookURL(cfg, 'DatabaseConnectionsExhaustionPredicted'),
            } + incident,
          },
          // MySQL/MariaDB only: the server's own refusal counter
          // (Connection_errors_max_connections). Every refusal is an application
          // failing to log in, so no `for`.
          {
            alert: 'DatabaseConnectionsRefused',
            expr: 'increase(%s[%s]) > 0'
                  % [m('dbconn_refused_connections_total'), cfg.refusedWindow],
            labels: { severity: 'critical' },
            annotations: {
              summary: '{{ $labels.target }} refuses logins: max_connections reached',
              description: fold(|||
                {{ $labels.target }} refused {{ printf "%%.0f" $value }} login(s) in the
                last %(window)s because max_connections was reached
                (Connection_errors_max_connections). Applications are failing to connect.
              ||| % { window: last(cfg.refusedWindow) }),
              runbook_url: util.runbookURL(cfg, 'DatabaseConnectionsRefused'),
            } + incident,
          },
        ],
      },
      {
        name: 'dbconn.sessions',
        rules: [
          // longRunningThresholdSeconds selects a threshold_seconds value (see the
          // top of this file).
          {
            alert: 'DatabaseLongRunningQueries',
            expr: '%s > %s' % [
              m('dbconn_connections_over_duration',
                'state="active",threshold_seconds="%s"' % n(cfg.longRunningThresholdSeconds)),
              n(cfg.longRunningMinSessions),
            ],
            'for': cfg.longRunningFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Long-running statements on {{ $labels.target }}',
              description: fold(|||
                {{ $value }} session(s) on {{ $labels.target }} have been running a
                statement for more than %(threshold)s
                {{- with printf `%(query)s` $labels.job $labels.instance $labels.target | query }}
                (the longest for {{ . | first | value | humanizeDuration }})
                {{- end }}. Each holds a connection slot.
              ||| % {
                threshold: util.duration(cfg.longRunningThresholdSeconds),
                query: q('dbconn_max_state_duration_seconds',
                         'job=%q,instance=%q,target=%q,state="active"'),
              }),
              runbook_url: util.runbookURL(cfg, 'DatabaseLongRunningQueries'),
            } + incident,
          },
          // Tuning: set idleInTransactionThresholdSeconds to another configured
          // duration threshold (e.g. 60 or 300), or add the value you want to the
          // exporter's duration_thresholds.
          {
            alert: 'DatabaseIdleInTransaction',
            expr: |||
              sum without (state) (
                %s
              ) > 0
            ||| % m('dbconn_connections_over_duration',
                    'state=~"idle_in_transaction|idle_in_transaction_aborted",threshold_seconds="%s"'
                    % n(cfg.idleInTransactionThresholdSeconds)),
            'for': cfg.idleInTransactionFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Sessions idle in transaction on {{ $labels.target }}',
              description: fold(|||
                {{ $value }} session(s) on {{ $labels.target }} have been idle inside
                an open transaction for more than %(threshold)s
                {{- with printf `max(%(query)s)` $labels.job $labels.instance $labels.target | query }}
                (the longest for {{ . | first | value | humanizeDuration }})
                {{- end }}. They hold a connection slot, and their locks and snapshot, while doing nothing.
              ||| % {
                threshold: util.duration(cfg.idleInTransactionThresholdSeconds),
                query: q('dbconn_max_state_duration_seconds',
                         'job=%q,instance=%q,target=%q,state=~"idle_in_transaction|idle_in_transaction_aborted"'),
              }),
              runbook_url: util.runbookURL(cfg, 'DatabaseIdleInTransaction'),
            } + incident,
          },
          // Idle share of all client sessions, while the server is fuller than
          // idleConnectionsMinUsageRatio: application pools hold far more
          // connections than they use.
          {
            alert: 'DatabaseIdleConnectionsHigh',
            expr: |||
              (
                %(idle)s
                / ignoring (state)
                sum without (state) (%(all)s)
              ) > %(share)s
              and on (job, instance, target)
              %(ratio)s > %(min)s
            ||| % {
              idle: m('dbconn_connections', 'state="idle"'),
              all: m('dbconn_connections'),
              share: n(cfg.idleConnectionsShare),
              ratio: m('dbconn_usage_ratio'),
              min: n(cfg.idleConnectionsMinUsageRatio),
            },
            'for': cfg.idleConnectionsFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Most connections on {{ $labels.target }} are idle',
              description: fold(|||
                {{ $value | humanizePercentage }} of the client sessions on
                {{ $labels.target }} are idle while the server is over %s full:
                connection pools hold more connections than they use.
              ||| % share(cfg.idleConnectionsMinUsageRatio)),
              runbook_url: util.runbookURL(cfg, 'DatabaseIdleConnectionsHigh'),
            } + incident,
          },
          {
            alert: 'DatabaseLockContention',
            expr: |||
              %s > %s
              and on (job, instance, target)
              %s > 0
            ||| % [
              m('dbconn_max_lock_wait_seconds'),
              n(cfg.lockWaitSeconds),
              m('dbconn_blocked_connections'),
            ],
            'for': cfg.lockContentionFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Sessions blocked on locks on {{ $labels.target }}',
              description: fold(|||
                A session on {{ $labels.target }} has waited {{ $value | humanizeDuration }}
                for a lock
                {{- with printf `%s` $labels.job $labels.instance $labels.target | query }}
                ({{ . | first | value }} session(s) blocked)
                {{- end }}. Blocked sessions keep their connections while they wait.
              ||| % q('dbconn_blocked_connections', 'job=%q,instance=%q,target=%q')),
              runbook_url: util.runbookURL(cfg, 'DatabaseLockContention'),
            } + incident,
          },
          // Limits of 0 (PostgreSQL CONNECTION LIMIT 0: no logins allowed) and -1
          // (unlimited) are excluded by `> 0`.
          {
            alert: 'DatabaseRoleConnectionLimitNear',
            expr: |||
              (%(user)s / (%(userLimit)s > 0)) > %(ratio)s
              or
              (%(database)s / (%(databaseLimit)s > 0)) > %(ratio)s
            ||| % {
              user: m('dbconn_user_connections'),
              userLimit: m('dbconn_user_connection_limit'),
              database: m('dbconn_database_connections'),
              databaseLimit: m('dbconn_database_connection_limit'),
              ratio: n(cfg.roleLimitRatio),
            },
            'for': cfg.roleLimitFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: fold(|||
                {{ if $labels.user }}Role {{ $labels.user }}{{ else }}Database {{ $labels.database }}{{ end }}
                near its connection limit on {{ $labels.target }}
              |||),
              description: fold(|||
                {{ if $labels.user }}Role {{ $labels.user }}{{ else }}Database {{ $labels.database }}{{ end }}
                on {{ $labels.target }} uses {{ $value | humanizePercentage }} of its own
                connection limit; its next logins are refused at 100% even though the
                server has room.
              |||),
              runbook_url: util.runbookURL(cfg, 'DatabaseRoleConnectionLimitNear'),
            } + incident,
          },
        ],
      },
      {
        name: 'dbconn.exporter',
        rules: [
          // Down for any reason except "the server is full": a too_many_connections
          // refusal within targetDownRefusalWindow means DatabaseConnectionsExhausted
          // owns it. The `unless` half mirrors Exhausted's exporter_refused branch,
          // the restarted-exporter case included.
          {
            alert: 'DatabaseExporterTargetDown',
            expr: |||
              %(up)s == 0
              unless on (job, instance, target)
              (
                sum without (reason) (increase(%(tooMany)s[%(window)s])) > 0
                or
                (
                  sum without (reason) (%(tooMany)s) > 0
                  unless
                  sum without (reason) (%(tooMany)s offset %(window)s)
                )
              )
            ||| % {
              up: m('dbconn_up'),
              tooMany: tooMany,
              window: cfg.targetDownRefusalWindow,
            },
            'for': cfg.targetDownFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'dbconn_exporter cannot read {{ $labels.target }}',
              description: fold(|||
                The exporter has not read {{ $labels.target }} for at least %s
                (not because the server is full). Connection saturation on this target is
                not being watched. dbconn_connect_errors_total on {{ $labels.instance }}
                tells why (auth_failed, unreachable, timeout, tls, other).
              ||| % words(cfg.targetDownFor)),
              runbook_url: util.runbookURL(cfg, 'DatabaseExporterTargetDown'),
            },
          },
          // The exporter's role lacks a privilege that decides what it can see
          // (PostgreSQL pg_read_all_stats, granted through pg_monitor; MySQL/MariaDB
          // PROCESS). Sessions stay counted, so the saturation alerts above keep
          // working, but other users' states, durations and lock waits are hidden:
          // the session alerts are blind for them. The series exists only on
          // successful reads, so a down target never fires this
          // (DatabaseExporterTargetDown covers it).
          // missingPrivilegeFor (default 15m): a missing grant is a standing
          // configuration fault, not an incident: no need to page within minutes,
          // and 15 minutes lets a deployment that starts the exporter before its
          // provisioning job grants the role settle without noise, while a
          // misconfigured exporter is still flagged the same hour.
          {
            alert: 'DatabaseExporterMissingPrivilege',
            expr: '%s == 1' % m('dbconn_missing_privilege'),
            'for': cfg.missingPrivilegeFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: "dbconn_exporter lacks {{ $labels.privilege }} on {{ $labels.target }}: other sessions' states are hidden",
              description: fold(|||
                The exporter's role on {{ $labels.target }} lacks {{ $labels.privilege }}.
                Every session is still counted (connections, usage ratio and the
                saturation alerts stay right), but the states, durations, origins and lock
                waits of other users' sessions are hidden
                {{- with printf `%s` $labels.job $labels.instance $labels.target | query }}
                ({{ . | first | value }} session(s) now, counted as state "other")
                {{- end }}, so the idle, long-running, idle-in-transaction and lock alerts
                cannot see them.
                {{ if eq $labels.privilege "PROCESS" -}}
                Fix: GRANT PROCESS ON *.* to the exporter's account, then restart the
                exporter (a session keeps the privileges it logged in with).
                {{- else if eq $labels.privilege "pg_read_all_stats" -}}
                Fix: GRANT pg_monitor to the exporter's role (effective at the next scrape).
                {{- else -}}
                See the runbook for the grant.
                {{- end }}
              ||| % q('dbconn_hidden_connections', 'job=%q,instance=%q,target=%q')),
              runbook_url: util.runbookURL(cfg, 'DatabaseExporterMissingPrivilege'),
            },
          },
          // A reload (SIGHUP or POST /-/reload) refused the new configuration file:
          // the exporter still serves the previous one, so targets added since are
          // not watched and removed ones still are. Exporter-level: one alert per
          // exporter (the series is on /metrics only, not on /probe).
          // configReloadFailedFor (default 5m): a deployment that writes the file in
          // several steps may trigger a reload between them; the next reload of the
          // finished file clears it.
          {
            alert: 'DatabaseExporterConfigReloadFailed',
            expr: '%s == 0' % m('dbconn_config_last_reload_successful'),
            'for': cfg.configReloadFailedFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'dbconn_exporter on {{ $labels.instance }} refused its new configuration',
              description: fold(|||
                The last configuration reload of the exporter on {{ $labels.instance }}
                failed: it still serves the configuration it last loaded successfully, so
                targets added since are not watched and targets removed since still are.
                Its log says why ("configuration reload failed"), naming the file, the
                line or the target (never a password). Fix the file and reload again
                (SIGHUP, or POST /-/reload with --web.enable-lifecycle).
              |||),
              runbook_url: util.runbookURL(cfg, 'DatabaseExporterConfigReloadFailed'),
            },
          },
        ],
      },
      // PgBouncer targets (dbconn_target_info{engine="pgbouncer"}). The saturation
      // alerts above apply to a pooler unchanged: its dbconn_usage_ratio is client
      // connections over max_client_conn. These rules watch its pools, one per
      // database and user. They carry no incident_page: the incident view reads a
      // database's sessions and locks, and is not offered for a pooler.
      //
      // The two Queue* rules join a pooler's pool to the database behind it through
      // the _config.clusterLabel label (default `cluster`) that Prometheus
      // relabelling puts on both targets' series (see README "PgBouncer: the pooler
      // and its database"). Assumption: one database cluster per label value. If
      // several non-pooler targets share a value (a primary and its replica), the
      // fullest one is taken (`max by (cluster)`), so the join never fails on
      // duplicates. Series without the label never join (`cluster!=""`: an absent
      // label on both sides would otherwise match everything). Between
      // poolQueueDatabaseHeadroomRatio and poolQueueDatabaseFullRatio (80% and 90%
      // by default) on the database neither fires; PgBouncerClientsWaiting does.
      {
        name: 'dbconn.pooler',
        rules: [
          // Clients queue for a server connection, and the oldest has waited over
          // poolMaxWaitSeconds: requests stall in the pooler (for up to
          // query_wait_timeout, then fail).
          {
            alert: 'PgBouncerClientsWaiting',
            expr: |||
              %s > %s
              and on (job, instance, target, database, user)
              %s > 0
            ||| % [
              m('dbconn_pool_max_wait_seconds'),
              n(cfg.poolMaxWaitSeconds),
              m('dbconn_pool_clients', 'state="waiting"'),
            ],
            'for': cfg.poolClientsWaitingFor,
            labels: { severity: 'critical' },
            annotations: {
              summary: 'Clients wait for a server connection in pool {{ $labels.database }}/{{ $labels.user }} on {{ $labels.target }}',
              description: fold(|||
                {{ with printf `%s` $labels.job $labels.instance $labels.target $labels.database $labels.user | query -}}
                {{ . | first | value }} client(s)
                {{- else -}}
                Clients
                {{- end }} of pool {{ $labels.database }}/{{ $labels.user }} on the pooler
                {{ $labels.target }} are queued for a server connection; the oldest has
                waited {{ $value | humanizeDuration }}. Either the pool is too small or the
                database behind it is slow or full: the runbook tells which.
              ||| % q('dbconn_pool_clients',
                      'job=%q,instance=%q,target=%q,database=%q,user=%q,state="waiting"')),
              runbook_url: util.runbookURL(cfg, 'PgBouncerClientsWaiting'),
            },
          },
          {
            alert: 'PgBouncerPoolSaturated',
            expr: '%s >= %s' % [m('dbconn_pool_usage_ratio'), n(cfg.poolSaturatedRatio)],
            'for': cfg.poolSaturatedFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Pool {{ $labels.database }}/{{ $labels.user }} on {{ $labels.target }} is nearly full',
              description: fold(|||
                Pool {{ $labels.database }}/{{ $labels.user }} on the pooler
                {{ $labels.target }} has {{ $value | humanizePercentage }} of its server
                connections in use
                {{- with printf `%s` $labels.job $labels.instance $labels.target $labels.database $labels.user | query }}
                (pool size plus reserve: {{ . | first | value }})
                {{- end }}. At 100%% the next client queues in the pooler.
              ||| % q('dbconn_pool_size', 'job=%q,instance=%q,target=%q,database=%q,user=%q')),
              runbook_url: util.runbookURL(cfg, 'PgBouncerPoolSaturated'),
            },
          },
        ] + [
          // The PgBouncerClientsWaiting condition, in a pool whose pooler shares its
          // cluster label with a database that still has room (below
          // poolQueueDatabaseHeadroomRatio): the pool is the limit. The value is the
          // database's usage ratio (`* 0 +` keeps the pool's labels and takes the
          // database's value).
          queueRule(
            'PgBouncerQueueWithDatabaseHeadroom',
            '< ' + n(cfg.poolQueueDatabaseHeadroomRatio),
            'Pool {{ $labels.database }}/{{ $labels.user }} on {{ $labels.target }} is too small: clients queue while the database has room',
            'while',
            |||
              uses only {{ $value | humanizePercentage }} of its connections.
              Fix the pooler side: raise this pool's size in PgBouncer (pool_size, or
              default_pool_size) and reload PgBouncer.
            |||,
          ),
          // The PgBouncerClientsWaiting condition while the database behind the
          // pooler is full (at or above poolQueueDatabaseFullRatio): a bigger pool
          // would only be refused by the database.
          queueRule(
            'PgBouncerQueueAndDatabaseFull',
            '>= ' + n(cfg.poolQueueDatabaseFullRatio),
            'Clients queue on {{ $labels.target }} because the database behind it is full',
            'and',
            |||
              uses {{ $value | humanizePercentage }} of its connections. Fix
              the database side: find who holds its connections (its own alerts and
              incident page); a bigger pool would only be refused by the database.
            |||,
          ),
        ],
      },
    ],
  },
}
