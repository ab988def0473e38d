// The Grafana dashboards: one overview for PostgreSQL, MySQL and MariaDB targets
// alike (with a row repeated per PgBouncer pooler), and one on who holds the
// sessions, for how long, and who blocks whom.
//
// Import-ready: no `__inputs`, no hard-coded datasource UID. A `datasource`
// variable feeds every panel, and a multi-select `target` variable (with All)
// filters every query with target=~"$target"; the build refuses a query whose
// dbconn_* selector lacks it (lib/grafana.libsonnet, `problems`).
//
// Each panel query carries a hidden `engines`: the dbconn_target_info engines
// ("postgresql", "mysql", "mariadb", "pgbouncer") on which it must return data
// against a Prometheus that scraped a real exporter (tests/dashboard-queries.json,
// tests/alerts_e2e.rs). A query that exists for one engine only (MySQL/MariaDB
// server counters such as dbconn_refused_connections_total, PostgreSQL 14+
// pg_stat_database session counters) is never faked with `or vector(0)`: it comes
// after a query of the same panel that returns data on PostgreSQL, and its
// `engines` says where to expect data. To run a query outside Grafana, replace
// `$target` with a regex of target names (e.g. `pg-e2e` or `.*`), `$__rate_interval`
// with `1m`, `$__interval` with the scrape interval and `$__range` with the
// dashboard range (e.g. `5m`).
//
// Some panels only have data when the situation they show exists, as on a busy
// production server: `dbconn_locks` needs a client session holding a lock,
// `dbconn_user_connection_limit` a role with a CONNECTION LIMIT and
// `dbconn_database_connection_limit` a database with one. An end-to-end test must
// create those (see tests/alerts_e2e.rs).
//
// The PgBouncer row of the overview repeats per pooler: a `pooler` variable lists
// the selected targets whose dbconn_target_info says engine="pgbouncer", and its
// queries select target=~"$pooler" instead of target=~"$target" (the variable is
// itself filtered by `$target`). Their `engines` is ["pgbouncer"] alone, so an
// end-to-end run without a PgBouncer target does not require them to return data;
// it still runs them, so a query Prometheus refuses fails there. The panel that
// shows the database behind a pooler joins on _config.clusterLabel (README
// "PgBouncer: the pooler and its database"); it needs a PgBouncer target and a
// database target sharing a value of that label. To run these queries outside
// Grafana, replace `$pooler` with the pooler's target name.
local g = import 'lib/grafana.libsonnet';
local util = import 'lib/util.libsonnet';
local q = g.q;
local T = g.T;
local P = g.P;
local NOT_P = g.NOT_P;
local ALL = g.engines.all;
local MYSQL = g.engines.mysql;
local POSTGRES = g.engines.postgres;
local POOLER = g.engines.pooler;

{
  local cfg = $._config,
  // Every dbconn_* selector of the dashboards: _config.selector and the matchers.
  local m(name, matchers=T) = util.metric(cfg, name, matchers),
  local pct = util.percent,
  local num = util.number,

  // The exporter's incident page for the series' target. Grafana runs elsewhere,
  // so the link names the exporter: `instance` is its address when Prometheus
  // scrapes its /metrics (the setup the README starts with). In the sharded /probe
  // job `instance` is the target's name and the replica's address is in the
  // `exporter` label; Grafana cannot fall back from one label to another, so there
  // the link does not reach the exporter and the alerts' incident_page annotation
  // (which can) is the way in.
  local incidentLink = {
    title: 'Incident page for ${__field.labels.target}',
    url: util.grafanaIncidentURL(cfg),
    targetBlank: true,
  },

  local ratioThresholds = g.thresholds([
    [cfg.connectionsHighRatio, 'orange'],
    [cfg.connectionsCriticalRatio, 'red'],
  ]),
  local limitThresholds = g.thresholds([[cfg.roleLimitRatio, 'orange'], [1, 'red']]),

  local upMappings = [{ type: 'value', options: {
    '0': { text: 'DOWN', color: 'red', index: 0 },
    '1': { text: 'UP', color: 'green', index: 1 },
  } }],
  local missingMappings = [{ type: 'value', options: {
    '0': { text: 'granted', color: 'green', index: 0 },
    '1': { text: 'MISSING', color: 'red', index: 1 },
  } }],

  // A runbook as a Markdown link (Grafana renders panel descriptions as Markdown).
  local runbook(name) = '[%s](%s)' % [name, util.runbookURL(cfg, name)],
  local incidentOn(what) = 'open the incident page of the target (click %s, then ' % what +
                           '"Incident page for …")',
  local incident = incidentOn('a series'),
  // Inside parentheses.
  local incidentBrief = 'its incident page: click a series',
  local idleInTransaction = 'state=~"idle_in_transaction|idle_in_transaction_aborted"',
  // Dashed count lines at the alerts' own levels.
  local longRunningLine = g.thresholds([[cfg.longRunningMinSessions, 'orange']]),
  local anyLine = g.thresholds([[1, 'orange']]),

  local rootBlockersWhat =
    'Sessions that block others while not waiting on a lock themselves: the roots of ' +
    'the lock trees. Ending a root blocker frees every session queued behind it; ' +
    'ending a waiter frees nothing.',
  local rootBlockersTodo =
    'Anything above 0 for long: open the incident page (click the series, then ' +
    'Incident page for the target) to see which session it is, who runs it, what it ' +
    'ran last, how long its transaction has been open and the statement that ends it. ' +
    'Runbook: ' + runbook('DatabaseLockContention') + '.',

  local byOriginTop(dim, w, h, todo) = g.bargauge(
    'Top %ss by sessions' % dim,
    [q('topk(10, sum by (target, %s) (%s))' % [dim, m('dbconn_connections_by_origin')],
       '{{target}} · {{' + dim + '}}', instant=true)],
    w=w, h=h, unit='short',
    description='Client sessions per %s, the 10 largest across the selected ' % dim +
                "targets (all states). `other` collects what exceeds the exporter's " +
                'origin_cap.',
    todo=todo,
  ),

  // --- the overview ------------------------------------------------------------

  // The first screen (y < 18, no scrolling on a 1080p display) answers how full,
  // who holds the connections, since when, and who blocks whom.
  local firstScreen = [
    'Connection usage',
    'Top applications by sessions',
    'Top users by sessions',
    'Longest time in state',
    'Idle in transaction over %s s' % num(cfg.idleInTransactionThresholdSeconds),
    'Root blockers',
    'Blocked and blocking sessions',
    'Longest lock wait',
  ],

  local overview = [
    g.row('At a glance'),
    g.stat(
      'Connection usage',
      [q(m('dbconn_usage_ratio'), '{{target}}')],
      w=5, h=8, unit='percentunit', steps=ratioThresholds, link=incidentLink,
      description='How full each target is: client sessions over the slots ordinary ' +
                  'users can take (max_connections minus reserved slots). 100% = the ' +
                  'next ordinary login is refused. Orange from %s (DatabaseConnectionsHigh), '
                  % pct(cfg.connectionsHighRatio) +
                  'red from %s (DatabaseConnectionsCritical).' % pct(cfg.connectionsCriticalRatio),
      todo='Orange or red: ' + incidentOn('the value') + ' for who holds the slots and which idle ' +
           'sessions to end first. Runbooks: ' + runbook('DatabaseConnectionsHigh') + ', ' +
           runbook('DatabaseConnectionsCritical') + ', ' + runbook('DatabaseConnectionsExhausted') +
           ' at 100%. A PgBouncer target counts clients over max_client_conn and has ' +
           'no incident page: see its row at the bottom.',
    ),
    byOriginTop(
      'application', 5, 8,
      'The top bars are the pools to look at first when usage is high: shrink that ' +
      "application's pool (its maximum pool size) or end its idle sessions, as in " +
      runbook('DatabaseIdleConnectionsHigh') + '; the incident page of the target ' +
      '(Connection usage) lists them. Their states: the Locks and sessions dashboard.',
    ),
    byOriginTop(
      'user', 5, 8,
      'One user taking most slots: cap it with a connection limit of its own ' +
      '(PostgreSQL `ALTER ROLE … CONNECTION LIMIT n`, MySQL/MariaDB ' +
      '`MAX_USER_CONNECTIONS`) and watch Role connection limit use; ' +
      runbook('DatabaseRoleConnectionLimitNear') + '.',
    ),
    g.timeseries(
      'Longest time in state',
      [
        q(m('dbconn_max_state_duration_seconds', T + ', state!="idle"'),
          '{{target}} {{state}}'),
        q(m('dbconn_oldest_transaction_seconds'), '{{target}} oldest transaction'),
      ],
      w=9, h=8, unit='s', link=incidentLink,
      description='Since when: the longest time any session has been in each state ' +
                  '(idle left out: long idle is normal for pools), and the age of the ' +
                  'oldest open transaction. DatabaseLongRunningQueries counts the active ' +
                  'sessions over %s s, DatabaseIdleInTransaction those idle in a transaction '
                  % num(cfg.longRunningThresholdSeconds) +
                  'over %s s.' % num(cfg.idleInTransactionThresholdSeconds),
      todo='A line that keeps climbing is one session stuck: click it and ' +
           'open the incident page to see which session, who runs it and the statement ' +
           'that ends it. Runbooks: ' + runbook('DatabaseLongRunningQueries') +
           ' (cancel the statement first; statement_timeout, max_execution_time or ' +
           'max_statement_time per role), ' + runbook('DatabaseIdleInTransaction') +
           ' (idle_in_transaction_session_timeout, MariaDB idle_transaction_timeout).',
    ),
    g.stat(
      'Idle in transaction over %s s' % num(cfg.idleInTransactionThresholdSeconds),
      [q('sum by (job, instance, target) (%s)' % m(
        'dbconn_connections_over_duration',
        '%s, %s, threshold_seconds="%s"'
        % [T, idleInTransaction, num(cfg.idleInTransactionThresholdSeconds)],
      ), '{{target}}')],
      w=4, h=8, unit='short', steps=g.thresholds([[1, 'orange']]), link=incidentLink,
      description='Sessions idle inside an open transaction (aborted included) for ' +
                  'more than %s s: what DatabaseIdleInTransaction fires on (any, for %s). '
                  % [num(cfg.idleInTransactionThresholdSeconds), cfg.idleInTransactionFor] +
                  'They hold a slot, their locks and their snapshot while doing nothing. ' +
                  'Empty when the exporter has no duration threshold of %s s.'
                  % num(cfg.idleInTransactionThresholdSeconds),
      todo='Above 0: ' + incidentOn('the value') + ' for the sessions, their application and the ' +
           'statement that ends them; those blocking others go first. Runbook: ' +
           runbook('DatabaseIdleInTransaction') + '. Lasting: ' +
           'idle_in_transaction_session_timeout per role (PostgreSQL), ' +
           'idle_transaction_timeout (MariaDB).',
    ),
    g.stat(
      'Root blockers',
      [q(m('dbconn_root_blockers'), '{{target}}')],
      w=4, h=8, unit='short', steps=g.thresholds([[1, 'red']]), link=incidentLink,
      description=rootBlockersWhat,
      todo=rootBlockersTodo,
    ),
    g.timeseries(
      'Blocked and blocking sessions',
      [
        q(m('dbconn_blocked_connections'), '{{target}} blocked'),
        q(m('dbconn_blocking_connections'), '{{target}} blocking'),
      ],
      w=8, h=8, unit='short', link=incidentLink,
      thresholdLines=anyLine, thresholdStyle='dashed',
      description='Who blocks whom: sessions waiting on a lock another session holds, ' +
                  'and the sessions holding such locks. DatabaseLockContention fires ' +
                  'while any session is blocked (dashed line) and the longest wait is ' +
                  'over %s s, for %s.' % [num(cfg.lockWaitSeconds), cfg.lockContentionFor],
      todo='End the blocker, not the waiters: Root blockers counts the heads of the ' +
           'queues, and the incident page (click a series) names them with the ' +
           'statement that ends them. Runbook: ' + runbook('DatabaseLockContention') + '.',
    ),
    g.timeseries(
      'Longest lock wait',
      [q(m('dbconn_max_lock_wait_seconds'), '{{target}}')],
      w=8, h=8, unit='s', link=incidentLink,
      thresholdLines=g.thresholds([[cfg.lockWaitSeconds, 'orange']]),
      description='The longest current lock wait per target. DatabaseLockContention ' +
                  'fires when it passes %s s (the line) with sessions blocked, for %s.'
                  % [num(cfg.lockWaitSeconds), cfg.lockContentionFor],
      todo='Above the line: ' + incident + ' for the blocker and the statement that ' +
           'ends it. Runbook: ' + runbook('DatabaseLockContention') + '. Lasting: ' +
           'lock_timeout per role (PostgreSQL), innodb_lock_wait_timeout and ' +
           'lock_wait_timeout (MySQL/MariaDB).',
    ),

    g.row('Saturation'),
    g.timeseries(
      'Connection usage ratio',
      [q(m('dbconn_usage_ratio'), '{{target}}')],
      w=12, h=8, unit='percentunit', softMax=1, thresholdLines=ratioThresholds,
      link=incidentLink,
      description='dbconn_usage_ratio per target over time, with the %s '
                  % pct(cfg.connectionsHighRatio) +
                  '(DatabaseConnectionsHigh, for %s) and %s ' % [
                    cfg.connectionsHighFor, pct(cfg.connectionsCriticalRatio),
                  ] +
                  '(DatabaseConnectionsCritical, for %s) lines. ' % cfg.connectionsCriticalFor +
                  'Above 100% reserved slots are in use.',
      todo='A step up points to a deploy or a pool change, a steady climb to a leak: ' +
           incident + '. Runbooks: ' + runbook('DatabaseConnectionsHigh') + ', ' +
           runbook('DatabaseConnectionsCritical') + '. Lasting: size the application ' +
           'pools so that their sum stays under the ordinary limit, or put PgBouncer ' +
           'in front; raising max_connections is the last resort.',
    ),
    g.timeseries(
      'Usage in %s at the current trend' % util.duration(cfg.exhaustionPredictedHorizonSeconds),
      [q('predict_linear(%s[%s], %s)' % [
        m('dbconn_usage_ratio'),
        cfg.exhaustionPredictedFitWindow,
        num(cfg.exhaustionPredictedHorizonSeconds),
      ], '{{target}}')],
      w=12, h=8, unit='percentunit', softMax=1, link=incidentLink,
      thresholdLines=g.thresholds([[1, 'red']]),
      description='Where dbconn_usage_ratio will be in %s if it keeps the trend of the '
                  % util.duration(cfg.exhaustionPredictedHorizonSeconds) +
                  'last %s (a linear fit). DatabaseConnectionsExhaustionPredicted fires '
                  % cfg.exhaustionPredictedFitWindow +
                  'when this reaches 100% (the line) while usage is between ' +
                  '%s and 100%%, for %s.' % [
                    pct(cfg.exhaustionPredictedMinRatio), cfg.exhaustionPredictedFor,
                  ],
      todo='At or above the line: find what grows before the server is full (Top ' +
           'applications, Connections by state, ' + incidentBrief + '). Runbook: ' +
           runbook('DatabaseConnectionsExhaustionPredicted') + '.',
    ),
    g.timeseries(
      'Headroom: free ordinary slots',
      [q('%s - %s - on (job, instance, target) sum by (job, instance, target) (%s)' % [
        m('dbconn_max_connections'),
        m('dbconn_reserved_connections'),
        m('dbconn_connections'),
      ], '{{target}}')],
      w=12, h=8, unit='short', link=incidentLink,
      description='max_connections − reserved − client sessions: how many more ' +
                  'ordinary logins the server accepts.',
      todo='Near 0 the next logins fail: free slots held by idle sessions (' +
           incidentBrief + '; ' + runbook('DatabaseConnectionsCritical') + ') before raising ' +
           'max_connections, which needs a restart on PostgreSQL.',
    ),
    g.timeseries(
      'Connections vs limits',
      [
        q('sum by (target) (%s)' % m('dbconn_connections'), '{{target}} in use'),
        q(m('dbconn_max_connections'), '{{target}} max_connections'),
        q('%s - %s' % [m('dbconn_max_connections'), m('dbconn_reserved_connections')],
          '{{target}} ordinary limit'),
        q(m('dbconn_max_used_connections'), '{{target}} max used since start',
          engines=MYSQL),
      ],
      w=12, h=8, unit='short',
      description='Client sessions against the server limit and the ordinary ' +
                  'limit. MySQL/MariaDB also report the most connections in use ' +
                  'at once since the server started (Max_used_connections).',
      todo='`in use` at the ordinary limit: logins are refused, ' +
           runbook('DatabaseConnectionsExhausted') + '. Max used since start at ' +
           'max_connections: the server has been full before, see Refused logins.',
    ),

    g.row('Sessions'),
    g.timeseries(
      'Connections by state',
      [q('sum by (target, state) (%s)' % m('dbconn_connections'), '{{target}} {{state}}')],
      w=8, h=9, unit='short', stack=true,
      description='Client sessions per normalized state. `idle_in_transaction` holds ' +
                  "locks and slots doing nothing; `other` includes the sessions whose " +
                  "state the exporter's privileges hide.",
      todo='Mostly `idle` on a full server: the pools are oversized (Idle share of ' +
           'sessions, ' + runbook('DatabaseIdleConnectionsHigh') + '). Growing `active`: ' +
           'the database is slow or locked (Longest time in state, Blocked and blocking ' +
           'sessions). Growing `other`: grant the exporter its privilege (Missing ' +
           'privileges and hidden sessions).',
    ),
    g.timeseries(
      'Idle share of sessions',
      [q('sum by (job, instance, target) (%s) / sum by (job, instance, target) (%s)' % [
        m('dbconn_connections', T + ', state="idle"'),
        m('dbconn_connections'),
      ], '{{target}}')],
      w=8, h=9, unit='percentunit', softMax=1, link=incidentLink,
      thresholdLines=g.thresholds([[cfg.idleConnectionsShare, 'orange']]),
      description='Idle sessions over all client sessions, per target. ' +
                  'DatabaseIdleConnectionsHigh fires above %s (the line) while usage '
                  % pct(cfg.idleConnectionsShare) +
                  'is over %s, for %s.' % [
                    pct(cfg.idleConnectionsMinUsageRatio), cfg.idleConnectionsFor,
                  ],
      todo='Above the line on a filling server: pools hold more connections than they ' +
           'use. Shrink the largest idle pools (Top applications by sessions, ' +
           incidentBrief + ') or give them an idle timeout. Runbook: ' +
           runbook('DatabaseIdleConnectionsHigh') + '. Lasting: idle_session_timeout ' +
           '(PostgreSQL 14+), wait_timeout (MySQL/MariaDB).',
    ),
    byOriginTop(
      'database', 8, 9,
      'A database taking most slots: give it a connection limit of its own ' +
      '(PostgreSQL `ALTER DATABASE … CONNECTION LIMIT n`) and watch Database connection ' +
      'limit use; ' + runbook('DatabaseRoleConnectionLimitNear') + '.',
    ),
    g.timeseries(
      'Long-running statements (active longer than threshold)',
      [q(m('dbconn_connections_over_duration', T + ', state="active"'),
         '{{target}} > {{threshold_seconds}}s')],
      w=12, h=8, unit='short', link=incidentLink,
      thresholdLines=longRunningLine, thresholdStyle='dashed',
      description='Sessions running one statement for longer than each configured ' +
                  'duration threshold. DatabaseLongRunningQueries fires when more than ' +
                  '%s are over %s s (the dashed line applies to that series), for %s.' % [
                    num(cfg.longRunningMinSessions),
                    num(cfg.longRunningThresholdSeconds),
                    cfg.longRunningFor,
                  ],
      todo=std.strReplace(incident, 'open', 'Open') + ' for the statements and their ' +
           'sessions; cancel the statement first (pg_cancel_backend, KILL QUERY). ' +
           'Runbook: ' + runbook('DatabaseLongRunningQueries') + '. Lasting: ' +
           'statement_timeout per role (PostgreSQL), max_execution_time (MySQL), ' +
           'max_statement_time (MariaDB).',
    ),
    g.timeseries(
      'Idle in transaction longer than threshold',
      [q('sum by (target, threshold_seconds) (%s)'
         % m('dbconn_connections_over_duration', T + ', ' + idleInTransaction),
         '{{target}} > {{threshold_seconds}}s')],
      w=12, h=8, unit='short', thresholdLines=anyLine, thresholdStyle='dashed',
      description='Sessions idle inside an open transaction (aborted included) for ' +
                  'longer than each threshold. DatabaseIdleInTransaction fires on ' +
                  'any (the dashed line) over %s s, for %s.'
                  % [num(cfg.idleInTransactionThresholdSeconds), cfg.idleInTransactionFor],
      todo='Over the line at the %s s threshold: the panel Idle in transaction over %s s '
           % [num(cfg.idleInTransactionThresholdSeconds), num(cfg.idleInTransactionThresholdSeconds)] +
           'links to the incident page of the target. Runbook: ' +
           runbook('DatabaseIdleInTransaction') + '.',
    ),

    g.row('Locks and limits'),
    g.timeseries(
      'Locks by mode',
      [q('sum by (target, mode, granted) (%s)' % m('dbconn_locks'),
         '{{target}} {{mode}} granted={{granted}}')],
      w=8, h=8, unit='short',
      description='Locks held (granted=true) and awaited (granted=false) by mode; ' +
                  "the exporter's own locks are left out. Empty while no client " +
                  'session holds a lock.',
      todo='Awaited locks piling up: find the blocker (Root blockers, then the ' +
           'incident page). An AccessExclusiveLock awaited behind a long transaction is ' +
           'usually a migration: run DDL with lock_timeout. Runbook: ' +
           runbook('DatabaseLockContention') + '.',
    ),
    g.bargauge(
      'Role connection limit use',
      [q('%s / (%s > 0)' % [m('dbconn_user_connections'), m('dbconn_user_connection_limit')],
         '{{target}} · {{user}}', instant=true)],
      w=8, h=8, unit='percentunit', steps=limitThresholds, max=1, link=incidentLink,
      description='Sessions of each role with a CONNECTION LIMIT over that limit ' +
                  '(limits of 0 are left out). DatabaseRoleConnectionLimitNear fires ' +
                  'above %s, for %s. Empty when no role has a limit.'
                  % [pct(cfg.roleLimitRatio), cfg.roleLimitFor],
      todo="Near 100% that role's logins are refused while the server has room: end " +
           'its idle sessions (its incident page: click a bar) or raise its limit (PostgreSQL ' +
           '`ALTER ROLE … CONNECTION LIMIT n`, MySQL/MariaDB `MAX_USER_CONNECTIONS`). ' +
           'Runbook: ' + runbook('DatabaseRoleConnectionLimitNear') + '.',
    ),
    g.bargauge(
      'Database connection limit use',
      [q('%s / (%s > 0)' % [
        m('dbconn_database_connections'),
        m('dbconn_database_connection_limit'),
      ], '{{target}} · {{database}}', engines=POSTGRES, instant=true)],
      w=8, h=8, unit='percentunit', steps=limitThresholds, max=1, link=incidentLink,
      description='Sessions on each database with a CONNECTION LIMIT over that ' +
                  'limit. DatabaseRoleConnectionLimitNear fires above %s, for %s. '
                  % [pct(cfg.roleLimitRatio), cfg.roleLimitFor] +
                  'Empty when no database has a limit.',
      todo="Near 100% that database's logins are refused while the server has room: " +
           'end its idle sessions (its incident page: click a bar) or raise its limit (`ALTER ' +
           'DATABASE … CONNECTION LIMIT n`). Runbook: ' +
           runbook('DatabaseRoleConnectionLimitNear') + '.',
    ),

    g.row('Churn and refusals'),
    g.timeseries(
      'Refused logins',
      [
        q('rate(%s[$__rate_interval])'
          % m('dbconn_connect_errors_total', T + ', reason="too_many_connections"'),
          '{{target}} exporter refused: too many connections'),
        q('rate(%s[$__rate_interval])' % m('dbconn_refused_connections_total'),
          '{{target}} refused by server (max_connections)', engines=MYSQL),
        q('rate(%s[$__rate_interval])' % m('dbconn_failed_connections_total'),
          '{{target}} failed connection attempts', engines=MYSQL),
      ],
      w=12, h=8, unit='cps', link=incidentLink,
      description="Connects refused because the server was full: the exporter's " +
                  "own (every engine) and, on MySQL/MariaDB, every client's as " +
                  'counted by the server. DatabaseConnectionsRefused fires on any ' +
                  'refusal counted by the server in %s.' % cfg.refusedWindow,
      todo='Any refusal means clients fail to connect now: ' + incident + ' for who ' +
           'holds the slots. Runbooks: ' + runbook('DatabaseConnectionsRefused') + ', ' +
           runbook('DatabaseConnectionsExhausted') + '.',
    ),
    g.timeseries(
      'New sessions per second',
      [
        q('rate(%s[$__rate_interval])' % m('dbconn_sessions_total'),
          '{{target}} sessions established'),
        q('sum by (target, reason) (rate(%s[$__rate_interval]))'
          % m('dbconn_sessions_abnormally_ended_total'),
          '{{target}} ended abnormally: {{reason}}', engines=POSTGRES),
      ],
      w=12, h=8, unit='cps',
      description='Connection churn: new sessions per second and, on PostgreSQL 14+, ' +
                  'sessions that ended abnormally, by reason.',
      todo='A high rate of new sessions means clients connect per request instead of ' +
           'pooling: give the application a pool, or put PgBouncer in front. Sessions ' +
           'ending abnormally: look for client crashes and terminations in the server ' +
           'log.',
    ),

    g.row('Exporter health'),
    g.stat(
      'Exporter reads the target',
      [q(m('dbconn_up'), '{{target}}')],
      w=6, h=6, unit='none', steps=g.thresholds([[1, 'green']], base='red'),
      mappings=upMappings, link=incidentLink,
      description='dbconn_up: 1 if the last scrape read the target.',
      todo='DOWN: Exporter connect errors by reason says why; too_many_connections ' +
           'means full, not down (' + runbook('DatabaseConnectionsExhausted') +
           '), anything else ' + runbook('DatabaseExporterTargetDown') + '.',
    ),
    g.timeseries(
      'Exporter connect errors by reason',
      [q('sum by (target, reason) (rate(%s[$__rate_interval]))'
         % m('dbconn_connect_errors_total'), '{{target}} {{reason}}')],
      w=9, h=6, unit='cps',
      description="The exporter's own failed connects: too_many_connections " +
                  '(full), auth_failed, unreachable, timeout, tls, other.',
      todo="auth_failed: the exporter's password or grants changed; unreachable, " +
           'timeout, tls: the network, the server or its certificate; ' +
           'too_many_connections: the server is full (' +
           runbook('DatabaseConnectionsExhausted') + '). Runbook: ' +
           runbook('DatabaseExporterTargetDown') + '.',
    ),
    g.timeseries(
      'Scrape duration',
      [q(m('dbconn_scrape_duration_seconds'), '{{target}}')],
      w=9, h=6, unit='s', link=incidentLink,
      description='Time each scrape spent reading the target.',
      todo="Rising toward Prometheus's scrape timeout: the server is slow to answer " +
           "the exporter's reads (overloaded, or a catalog locked); Collector status " +
           "and the exporter's log tell which part.",
    ),
    g.stat(
      'Missing privileges and hidden sessions',
      [
        q('max by (target, privilege) (%s)' % m('dbconn_missing_privilege'),
          '{{target}} · {{privilege}}'),
        q('max by (target) (%s)' % m('dbconn_hidden_connections'),
          '{{target}} · hidden sessions'),
      ],
      w=8, h=7, unit='short', steps=g.thresholds([[1, 'orange']]),
      overrides=[{
        matcher: { id: 'byFrameRefID', options: 'A' },
        properties: [
          { id: 'mappings', value: missingMappings },
          { id: 'thresholds', value: g.thresholds([[1, 'red']]) },
        ],
      }],
      description="MISSING: the exporter's role lacks the privilege that shows " +
                  "other users' sessions (PostgreSQL pg_read_all_stats, MySQL/" +
                  'MariaDB PROCESS). Sessions are still counted, so usage and ' +
                  "headroom are right, but the hidden sessions' state, durations, " +
                  'origin and lock waits are not seen: they count as state `other`, ' +
                  'and the idle, long-running, idle-in-transaction and lock panels ' +
                  'and alerts are blind for them.',
      todo='Fix: PostgreSQL `GRANT pg_monitor TO dbconn_exporter;` (effective at the ' +
           "next scrape); MySQL/MariaDB `GRANT PROCESS ON *.* TO 'dbconn_exporter'@'%';` " +
           'then restart the exporter. Runbook: ' +
           runbook('DatabaseExporterMissingPrivilege') + '.',
    ),
    g.table(
      'Collector status',
      [q(m('dbconn_scrape_collector_success'), instant=true, format='table')],
      w=8, h=7, unit='none',
      rename={ Value: 'ok (1) / failed (0)' },
      description="Which parts of the last read worked; 0 means that part's " +
                  'metrics are missing from the scrape (e.g. a catalog locked past ' +
                  "the exporter's lock timeout).",
      todo="A 0: that part's panels are empty or stale. The exporter's log names " +
           'the error: a lock on a catalog, a timeout, a missing privilege (Missing ' +
           'privileges and hidden sessions).',
    ),
    g.table(
      'Servers',
      [q(m('dbconn_target_info'), instant=true, format='table')],
      w=8, h=7, unit='none',
      hide=['Time', '__name__', 'Value'],
      description='Engine and version of each target, from its last successful read.',
      todo='A panel empty for one target: check its engine here. Connection age, ' +
           'database connection limits and abnormally ended sessions are PostgreSQL ' +
           "only; the server's refusal counters and Max_used_connections " +
           'MySQL/MariaDB only.',
    ),
  ] + poolerRow,

  // --- the PgBouncer row, repeated per pooler ----------------------------------

  local pool = '{{database}}/{{user}}',
  local adminConsole = 'The incident view is not offered for PgBouncer: the admin ' +
                       'console (`SHOW POOLS;`) shows the pool.',
  // The database behind the pooler of the row: the targets that are not PgBouncer
  // and share its cluster label (set by relabelling on both; never joined without
  // one).
  local behind = '(%s unless on (job, instance, target) %s) and on (%s) %s' % [
    m('dbconn_usage_ratio', NOT_P),
    m('dbconn_target_info', 'engine="pgbouncer", ' + NOT_P),
    cfg.clusterLabel,
    m('dbconn_target_info', 'engine="pgbouncer", %s, %s!=""' % [P, cfg.clusterLabel]),
  ],

  // Last on the overview: a repeated row takes every panel up to the next row.
  local poolerRow = [
    g.row('PgBouncer pooler $pooler', repeat='pooler'),
    g.timeseries(
      'Pool clients: active and waiting',
      [q(m('dbconn_pool_clients', P + ', state=~"active|waiting"'), pool + ' {{state}}',
         engines=POOLER)],
      w=8, h=8, unit='short',
      overrides=[{
        matcher: { id: 'byRegexp', options: '.* waiting$' },
        properties: [{ id: 'color', value: { mode: 'fixed', fixedColor: 'red' } }],
      }],
      description='Client connections per pool (database/user): `active` are ' +
                  'linked to a server connection (or idle in the pooler), ' +
                  '`waiting` (red) queue for one.',
      todo='Waiting clients for long: ' + runbook('PgBouncerClientsWaiting') + '; the ' +
           "last panel of this row tells whether the pool or the database behind it " +
           'is the limit. ' + adminConsole,
    ),
    g.timeseries(
      'Oldest client wait',
      [q(m('dbconn_pool_max_wait_seconds', P), pool, engines=POOLER)],
      w=8, h=8, unit='s', thresholdLines=g.thresholds([[cfg.poolMaxWaitSeconds, 'orange']]),
      description='How long the oldest waiting client of each pool has waited ' +
                  'for a server connection (0 when none waits). ' +
                  'PgBouncerClientsWaiting fires when it stays over %s s (the line) with '
                  % num(cfg.poolMaxWaitSeconds) +
                  'clients waiting, for %s; at query_wait_timeout PgBouncer '
                  % cfg.poolClientsWaitingFor +
                  'drops the client with an error.',
      todo='Above the line: ' + runbook('PgBouncerClientsWaiting') + '. With the ' +
           'database behind it under %s, the pool is too small: raise pool_size '
           % pct(cfg.poolQueueDatabaseHeadroomRatio) +
           '(or default_pool_size) and RELOAD (' +
           runbook('PgBouncerQueueWithDatabaseHeadroom') + '); at %s or more the '
           % pct(cfg.poolQueueDatabaseFullRatio) +
           'database is the limit (' + runbook('PgBouncerQueueAndDatabaseFull') + ').',
    ),
    g.bargauge(
      'Pool usage',
      [q(m('dbconn_pool_usage_ratio', P), pool, engines=POOLER, instant=true)],
      w=8, h=8, unit='percentunit',
      steps=g.thresholds([[cfg.poolSaturatedRatio, 'orange'], [1, 'red']]), max=1,
      description='Server connections in use over the pool size plus reserve, ' +
                  'per pool. 100% = the next client queues. ' +
                  'PgBouncerPoolSaturated fires at %s for %s.'
                  % [pct(cfg.poolSaturatedRatio), cfg.poolSaturatedFor],
      todo='Near 100%% with the database behind it below %s: raise pool_size (or '
           % pct(cfg.poolQueueDatabaseHeadroomRatio) +
           'reserve_pool_size for bursts) and RELOAD; with the database near full, ' +
           'relieve the database instead. Runbook: ' +
           runbook('PgBouncerPoolSaturated') + '. ' + adminConsole,
    ),
    g.timeseries(
      'Server connections vs pool size',
      [
        q('sum by (job, instance, target, database, user) (%s)' % m('dbconn_pool_servers', P),
          pool + ' servers open', engines=POOLER),
        q(m('dbconn_pool_servers', P + ', state="active"'), pool + ' servers active',
          engines=POOLER),
        q(m('dbconn_pool_size', P), pool + ' pool size + reserve', engines=POOLER),
      ],
      w=12, h=8, unit='short',
      overrides=[{
        matcher: { id: 'byFrameRefID', options: 'C' },
        properties: [
          { id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } },
          { id: 'custom.fillOpacity', value: 0 },
        ],
      }],
      description='Server connections each pool holds to the database (all ' +
                  'states: active, idle, used, tested, login), those linked to a ' +
                  "client now, and the pool's size plus reserve (dashed).",
      todo='Open servers at the dashed line with clients waiting: the pool is the ' +
           'limit (' + runbook('PgBouncerPoolSaturated') + '), unless the database ' +
           'behind it is full too. Open servers below the line while clients wait: ' +
           'the database refuses or is slow to accept logins.',
    ),
    g.timeseries(
      'Pooler clients and the database behind it',
      [
        q(m('dbconn_usage_ratio', P), '{{target}} clients / max_client_conn',
          engines=POOLER),
        q(behind, '{{target}} (database behind it, %s {{%s}})'
                  % [cfg.clusterLabel, cfg.clusterLabel], engines=POOLER),
      ],
      w=12, h=8, unit='percentunit', softMax=1,
      thresholdLines=g.thresholds([
        [cfg.poolQueueDatabaseHeadroomRatio, 'orange'],
        [cfg.poolQueueDatabaseFullRatio, 'red'],
      ]),
      description="The pooler's client connections over max_client_conn " +
                  '(DatabaseConnectionsHigh / Critical apply to it), and the ' +
                  'usage ratio of the database behind it: the targets that are not ' +
                  'PgBouncer and carry the same `%s` label (README ' % cfg.clusterLabel +
                  '"PgBouncer: the pooler and its database"; no line without it). ' +
                  "The lines are the database's levels for the two queue alerts " +
                  '(%s, %s); the pooler\'s own ratio alerts at %s and %s.'
                  % [pct(cfg.poolQueueDatabaseHeadroomRatio), pct(cfg.poolQueueDatabaseFullRatio),
                     pct(cfg.connectionsHighRatio), pct(cfg.connectionsCriticalRatio)],
      todo='Clients waiting while the database is under %s: raise '
           % pct(cfg.poolQueueDatabaseHeadroomRatio) +
           'the pool size (' + runbook('PgBouncerQueueWithDatabaseHeadroom') + '); at ' +
           '%s or more the database is the limit (' % pct(cfg.poolQueueDatabaseFullRatio) +
           runbook('PgBouncerQueueAndDatabaseFull') + '): free its connections, the ' +
           "database's own panels above link to its incident page. The pooler's own " +
           'line near 100%: raise max_client_conn (and the file-descriptor limit).',
    ),
  ],

  // --- locks and sessions --------------------------------------------------------

  local locksAndSessions = [
    g.row('Who holds the sessions'),
    g.timeseries(
      'Sessions by application and state',
      [q('sum by (target, application, state) (%s)' % m('dbconn_connections_by_origin'),
         '{{target}} {{application}} {{state}}')],
      w=24, h=9, unit='short', stack=true,
      description='Client sessions by application_name / program_name and state.',
      todo='One application holding most sessions `idle`: shrink its pool or end its ' +
           'idle sessions (' + runbook('DatabaseIdleConnectionsHigh') + '); ' +
           'mostly `idle_in_transaction`: ' + runbook('DatabaseIdleInTransaction') +
           '. The incident page of the target (Longest time in state below) lists the ' +
           'sessions.',
    ),
    g.timeseries(
      'Idle sessions by user',
      [q('sum by (target, user) (%s)' % m(
        'dbconn_connections_by_origin',
        T + ', state=~"idle|idle_in_transaction|idle_in_transaction_aborted"',
      ), '{{target}} {{user}}')],
      w=12, h=8, unit='short', stack=true,
      description='Idle and idle-in-transaction sessions per user: the pools to ' +
                  'shrink first. Empty while no client session is idle.',
      todo="Shrink the top user's pools or give them an idle timeout " +
           '(idle_session_timeout on PostgreSQL 14+, wait_timeout on MySQL/MariaDB). ' +
           'Runbook: ' + runbook('DatabaseIdleConnectionsHigh') + '.',
    ),
    g.table(
      'Sessions by database, user and application',
      [q('sum by (target, database, user, application, state) (%s)'
         % m('dbconn_connections_by_origin'), instant=true, format='table')],
      w=12, h=8, unit='short',
      rename={ Value: 'sessions' },
      description='The current breakdown; sort by a column to find the holder.',
      todo='The holder found: its own connection limit (' +
           runbook('DatabaseRoleConnectionLimitNear') + ') or a smaller pool keeps it ' +
           'from taking every slot.',
    ),

    g.row('How long'),
    g.timeseries(
      'Sessions over duration thresholds',
      [q(m('dbconn_connections_over_duration', T + ', state!="idle"'),
         '{{target}} {{state}} > {{threshold_seconds}}s')],
      w=12, h=8, unit='short', link=incidentLink,
      thresholdLines=longRunningLine, thresholdStyle='dashed',
      description='Sessions in each non-idle state for longer than each configured ' +
                  'threshold. DatabaseLongRunningQueries fires when more than %s active '
                  % num(cfg.longRunningMinSessions) +
                  'sessions are over %s s (the dashed line), DatabaseIdleInTransaction '
                  % num(cfg.longRunningThresholdSeconds) +
                  'on any idle in transaction over %s s.'
                  % num(cfg.idleInTransactionThresholdSeconds),
      todo=std.strReplace(incident, 'open', 'Open') + '. Runbooks: ' +
           runbook('DatabaseLongRunningQueries') + ', ' +
           runbook('DatabaseIdleInTransaction') + '.',
    ),
    g.timeseries(
      'Longest time in state',
      [q(m('dbconn_max_state_duration_seconds'), '{{target}} {{state}}')],
      w=12, h=8, unit='s', link=incidentLink,
      description='Longest time any session has been in each state.',
      todo='A non-idle state climbing: ' + incident + ' for the session and the ' +
           'statement that ends it. Runbooks: ' + runbook('DatabaseLongRunningQueries') +
           ', ' + runbook('DatabaseIdleInTransaction') + '.',
    ),
    g.timeseries(
      'Oldest transaction',
      [q(m('dbconn_oldest_transaction_seconds'), '{{target}}')],
      w=12, h=8, unit='s', link=incidentLink,
      description='Age of the oldest open transaction: it holds back vacuum / ' +
                  'purge and keeps its locks.',
      todo='Hours old: ' + incident + ' for its session; end it if it is idle in ' +
           'transaction (' + runbook('DatabaseIdleInTransaction') + '), or ask its ' +
           'owner if it is a report or a migration.',
    ),
    g.timeseries(
      'Connection age',
      [
        q(m('dbconn_average_connection_age_seconds'), '{{target}} average',
          engines=POSTGRES),
        q(m('dbconn_max_connection_age_seconds'), '{{target}} oldest', engines=POSTGRES),
      ],
      w=12, h=8, unit='s', link=incidentLink,
      description='How long client sessions have been connected (PostgreSQL only: ' +
                  'the MySQL processlist does not tell).',
      todo='Old, idle sessions point to pools without a max lifetime: set one in the ' +
           "application's pool (e.g. maxLifetime, pool_recycle), or server_lifetime in " +
           'PgBouncer. ' + runbook('DatabaseIdleConnectionsHigh') + '.',
    ),

    g.row('Locks'),
    g.timeseries(
      'Root blockers',
      [q(m('dbconn_root_blockers'), '{{target}}')],
      w=8, h=8, unit='short', link=incidentLink, thresholdLines=g.thresholds([[1, 'red']]),
      description=rootBlockersWhat,
      todo=rootBlockersTodo,
    ),
    g.timeseries(
      'Blocked and blocking sessions',
      [
        q(m('dbconn_blocked_connections'), '{{target}} blocked'),
        q(m('dbconn_blocking_connections'), '{{target}} blocking'),
      ],
      w=8, h=8, unit='short', link=incidentLink,
      thresholdLines=anyLine, thresholdStyle='dashed',
      description='Sessions waiting on a lock another session holds, and the ' +
                  'sessions holding such locks (a waiter can hold a lock others ' +
                  'wait on: Root blockers counts only the heads of the queues). ' +
                  'DatabaseLockContention fires while any session is blocked (dashed ' +
                  'line) and the longest wait is over %s s.' % num(cfg.lockWaitSeconds),
      todo='End the blocker, not the waiters: ' + incident + '. Runbook: ' +
           runbook('DatabaseLockContention') + '.',
    ),
    g.timeseries(
      'Longest lock wait',
      [q(m('dbconn_max_lock_wait_seconds'), '{{target}}')],
      w=8, h=8, unit='s', thresholdLines=g.thresholds([[cfg.lockWaitSeconds, 'orange']]),
      link=incidentLink,
      description='The longest current lock wait per target. DatabaseLockContention ' +
                  'fires when it passes %s s (the line) with sessions blocked, for %s.'
                  % [num(cfg.lockWaitSeconds), cfg.lockContentionFor],
      todo='Above the line: ' + incident + ' for the blocker and the statement that ' +
           'ends it. Runbook: ' + runbook('DatabaseLockContention') + '. Lasting: ' +
           'lock_timeout per role (PostgreSQL), innodb_lock_wait_timeout and ' +
           'lock_wait_timeout (MySQL/MariaDB).',
    ),
    g.timeseries(
      'Deadlocks per second',
      [q('rate(%s[$__rate_interval])' % m('dbconn_deadlocks_total'), '{{target}}')],
      w=8, h=8, unit='cps', link=incidentLink,
      description='Deadlocks detected (and broken) by the server: one transaction of ' +
                  'each was rolled back.',
      todo='Steady deadlocks: the application takes locks in inconsistent order; the ' +
           'server log names both statements. Lock rows in one order, keep transactions ' +
           'short (' + runbook('DatabaseLockContention') + ', Lasting fixes).',
    ),
    g.timeseries(
      'Locks awaited by mode',
      [q('sum by (target, mode) (%s)' % m('dbconn_locks', T + ', granted="false"'),
         '{{target}} {{mode}}')],
      w=8, h=8, unit='short',
      description='Locks sessions wait for. Empty while nobody waits.',
      todo='Waits that last: find the blocker in Root blockers and end it (' +
           runbook('DatabaseLockContention') + ').',
    ),
    g.timeseries(
      'Locks held by mode',
      [q('sum by (target, mode) (%s)' % m('dbconn_locks', T + ', granted="true"'),
         '{{target}} {{mode}}')],
      w=8, h=8, unit='short',
      description="Locks granted to client sessions (the exporter's own left out).",
      todo='Strong modes (AccessExclusiveLock, EXCLUSIVE) held for long block ' +
           'everything on that table: find the holder with Root blockers and the ' +
           'incident page (' + runbook('DatabaseLockContention') + ').',
    ),

    g.row('Server settings'),
    g.table(
      'Session and statement timeouts',
      [q(m('dbconn_timeout_setting_seconds'), instant=true, format='table')],
      w=24, h=7, unit='s',
      rename={ Value: 'seconds (0 = disabled)' },
      description="Timeouts that end idle sessions, idle transactions and long " +
                  "statements, as defaults for the exporter's role. 0 = disabled.",
      todo='Set idle_session_timeout and idle_in_transaction_session_timeout per ' +
           'application role, not server-wide (MySQL/MariaDB: wait_timeout; MariaDB ' +
           'idle_transaction_timeout): see ' +
           runbook('DatabaseIdleConnectionsHigh') + ' and ' +
           runbook('DatabaseIdleInTransaction') + '.',
    ),
  ],

  // --- the dashboards around the panels -----------------------------------------

  local variable(name, label, query) = {
    name: name,
    label: label,
    type: 'query',
    datasource: g.datasource,
    definition: query,
    query: {
      qryType: 1,
      query: query,
      refId: 'PrometheusVariableQueryEditor-VariableQuery',
    },
    current: {},
    hide: 0,
    includeAll: true,
    multi: true,
    options: [],
    refresh: 2,
    regex: '',
    skipUrlSync: false,
    sort: 1,
  },

  // firstScreen: titles of panels that must be in view without scrolling.
  local dashboard(name, title, panels, other, otherTitle, firstScreen=[]) =
    local uid = cfg.dashboardUIDPrefix + name;
    local pooled = [p for p in panels if std.get(p, 'repeat') == 'pooler'] != [];
    local placed = g.layout(panels);
    local titles = [p.title for p in placed if p.type != 'row'];
    local problems = std.flattenArrays([g.problems(uid, p) for p in placed])
      // tests/dashboard-queries.json and the runbooks name panels by title.
      + ['%s: two panels titled %s' % [uid, t] for t in std.set(titles)
         if std.count(titles, t) > 1]
      + [
        '%s / %s: not on the first screen (y + h = %s, over 18)' % [uid, t, p.gridPos.y + p.gridPos.h]
        for t in firstScreen
        for p in placed
        if p.title == t && p.gridPos.y + p.gridPos.h > 18
      ]
      + ['%s / %s: no such panel for the first screen' % [uid, t] for t in firstScreen
         if !std.member(titles, t)];
    {
      assert problems == [] : problems[0] + (
        if std.length(problems) > 1 then ' (and %d more)' % (std.length(problems) - 1) else ''
      ),
      annotations: { list: [{
        builtIn: 1,
        datasource: { type: 'grafana', uid: '-- Grafana --' },
        enable: true,
        hide: true,
        iconColor: 'rgba(0, 211, 255, 1)',
        name: 'Annotations & Alerts',
        type: 'dashboard',
      }] },
      description: 'dbconn_exporter: connection saturation of PostgreSQL and ' +
                   'MySQL/MariaDB targets. Generated from mixin/ by mixin/build.py.',
      editable: true,
      fiscalYearStartMonth: 0,
      graphTooltip: 1,
      id: null,
      links: [
        {
          title: otherTitle,
          type: 'link',
          url: '/d/%s?${__url_time_range}&${__all_variables}' % (cfg.dashboardUIDPrefix + other),
          icon: 'dashboard',
          targetBlank: false,
          tooltip: '',
          asDropdown: false,
          includeVars: false,
          keepTime: false,
          tags: [],
        },
        {
          title: 'Runbooks',
          type: 'link',
          url: util.runbookURL(cfg, 'README'),
          icon: 'doc',
          targetBlank: true,
          tooltip: 'One page per alert',
          asDropdown: false,
          includeVars: false,
          keepTime: false,
          tags: [],
        },
      ],
      panels: placed,
      refresh: cfg.dashboardRefresh,
      schemaVersion: 39,
      tags: cfg.dashboardTags + ['postgresql', 'mysql', 'mariadb']
            + (if pooled then ['pgbouncer'] else []),
      templating: { list: [
        {
          name: 'datasource',
          label: 'Data source',
          type: 'datasource',
          query: 'prometheus',
          current: {},
          hide: 0,
          includeAll: false,
          multi: false,
          options: [],
          refresh: 1,
          regex: '',
          skipUrlSync: false,
        },
        variable('target', 'Target', 'label_values(%s, target)' % m('dbconn_up', '')),
      ] + (
        if pooled then [variable(
          'pooler',
          'Pooler',
          'label_values(%s, target)' % m('dbconn_target_info', 'engine="pgbouncer", ' + T),
        )] else []
      ) },
      time: { from: cfg.dashboardTimeFrom, to: 'now' },
      timepicker: {},
      timezone: '',
      title: title,
      uid: uid,
      version: 1,
      weekStart: '',
    },

  grafanaDashboards+:: {
    'dbconn-overview.json': dashboard(
      'overview', 'Database connections — overview', overview,
      'locks-and-sessions', 'Locks and sessions', firstScreen,
    ),
    'dbconn-locks-and-sessions.json': dashboard(
      'locks-and-sessions', 'Database connections — locks and sessions', locksAndSessions,
      'overview', 'Overview',
    ),
  },
}
