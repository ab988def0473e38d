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
// against a Prometheus that scraped a real exporter (dashboards/queries.json,
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

  local rootBlockersDescription =
    'Sessions that block others while not waiting on a lock themselves: the roots of ' +
    'the lock trees. Ending a root blocker frees every session queued behind it; ' +
    'ending a waiter frees nothing. Anything above 0 for long: open the incident page ' +
    '(click the series, then Incident page for the target) to see which session it is, ' +
    'who runs it, what it ran last, how long its transaction has been open and the ' +
    'statement that ends it. Runbook: DatabaseLockContention.',

  local byOriginTop(dim) = g.bargauge(
    'Top %ss by sessions' % dim,
    [q('topk(10, sum by (target, %s) (%s))' % [dim, m('dbconn_connections_by_origin')],
       '{{target}} · {{' + dim + '}}', instant=true)],
    w=8, h=9,
    description='Client sessions per %s, the 10 largest across the selected ' % dim +
                "targets (all states). `other` collects what exceeds the exporter's " +
                'origin_cap.',
  ),

  // --- the overview ------------------------------------------------------------

  local overview = [
    g.row('Saturation'),
    g.stat(
      'Connection usage',
      [q(m('dbconn_usage_ratio'), '{{target}}')],
      w=6, h=8, unit='percentunit', steps=ratioThresholds, link=incidentLink,
      description='Client sessions over the slots ordinary users can take ' +
                  '(max_connections minus reserved slots). 100% = the next ' +
                  'ordinary login is refused. Alerts: %s warning, %s critical.'
                  % [pct(cfg.connectionsHighRatio), pct(cfg.connectionsCriticalRatio)],
    ),
    g.timeseries(
      'Connection usage ratio',
      [q(m('dbconn_usage_ratio'), '{{target}}')],
      w=18, h=8, unit='percentunit', softMax=1, thresholdLines=ratioThresholds,
      link=incidentLink,
      description='dbconn_usage_ratio per target, with the %s ' % pct(cfg.connectionsHighRatio) +
                  '(DatabaseConnectionsHigh) and %s (DatabaseConnectionsCritical) '
                  % pct(cfg.connectionsCriticalRatio) +
                  'lines. Above 100% reserved slots are in use.',
    ),
    g.timeseries(
      'Headroom: free ordinary slots',
      [q('%s - %s - on (job, instance, target) sum by (job, instance, target) (%s)' % [
        m('dbconn_max_connections'),
        m('dbconn_reserved_connections'),
        m('dbconn_connections'),
      ], '{{target}}')],
      w=12, h=8, unit='short',
      description='max_connections − reserved − client sessions: how many more ' +
                  'ordinary logins the server accepts.',
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
    ),

    g.row('Sessions'),
    g.timeseries(
      'Connections by state',
      [q('sum by (target, state) (%s)' % m('dbconn_connections'), '{{target}} {{state}}')],
      w=12, h=9, stack=true,
      description='Client sessions per normalized state. Many `idle` sessions on ' +
                  'a full server mean oversized pools (DatabaseIdleConnectionsHigh); ' +
                  '`idle_in_transaction` holds locks and slots doing nothing. ' +
                  "`other` includes the sessions whose state the exporter's " +
                  'privileges hide: see Missing privileges and hidden sessions.',
    ),
    g.timeseries(
      'Longest time in state',
      [
        q(m('dbconn_max_state_duration_seconds', T + ', state!="idle"'),
          '{{target}} {{state}}'),
        q(m('dbconn_oldest_transaction_seconds'), '{{target}} oldest transaction'),
      ],
      w=12, h=9, unit='s', link=incidentLink,
      description='The longest time any session has been in each state (idle ' +
                  'left out: long idle is normal for pools), and the age of the ' +
                  'oldest open transaction.',
    ),
    byOriginTop('application'),
    byOriginTop('user'),
    byOriginTop('database'),
    g.timeseries(
      'Long-running statements (active longer than threshold)',
      [q(m('dbconn_connections_over_duration', T + ', state="active"'),
         '{{target}} > {{threshold_seconds}}s')],
      w=12, h=8, link=incidentLink,
      description='Sessions running one statement for longer than each configured ' +
                  'duration threshold. DatabaseLongRunningQueries fires above %s ' %
                  num(cfg.longRunningMinSessions) +
                  'over %s s.' % num(cfg.longRunningThresholdSeconds),
    ),
    g.timeseries(
      'Idle in transaction longer than threshold',
      [q('sum by (target, threshold_seconds) (%s)' % m(
        'dbconn_connections_over_duration',
        T + ', state=~"idle_in_transaction|idle_in_transaction_aborted"',
      ), '{{target}} > {{threshold_seconds}}s')],
      w=12, h=8,
      description='Sessions idle inside an open transaction (aborted included) for ' +
                  'longer than each threshold. DatabaseIdleInTransaction fires on ' +
                  'any over %s s.' % num(cfg.idleInTransactionThresholdSeconds),
    ),

    g.row('Locks and limits'),
    g.stat(
      'Root blockers',
      [q(m('dbconn_root_blockers'), '{{target}}')],
      w=6, h=8, steps=g.thresholds([[1, 'red']]), link=incidentLink,
      description=rootBlockersDescription,
    ),
    g.timeseries(
      'Blocked and blocking sessions',
      [
        q(m('dbconn_blocked_connections'), '{{target}} blocked'),
        q(m('dbconn_blocking_connections'), '{{target}} blocking'),
      ],
      w=6, h=8, link=incidentLink,
      description='Sessions waiting on a lock another session holds, and the ' +
                  'sessions holding such locks.',
    ),
    g.timeseries(
      'Longest lock wait',
      [q(m('dbconn_max_lock_wait_seconds'), '{{target}}')],
      w=6, h=8, unit='s', link=incidentLink,
      thresholdLines=g.thresholds([[cfg.lockWaitSeconds, 'orange']]),
      description='The longest current lock wait. DatabaseLockContention fires ' +
                  'when it passes %s s with sessions blocked.' % num(cfg.lockWaitSeconds),
    ),
    g.timeseries(
      'Locks by mode',
      [q('sum by (target, mode, granted) (%s)' % m('dbconn_locks'),
         '{{target}} {{mode}} granted={{granted}}')],
      w=6, h=8,
      description='Locks held (granted=true) and awaited (granted=false) by mode; ' +
                  "the exporter's own locks are left out. Empty while no client " +
                  'session holds a lock.',
    ),
    g.bargauge(
      'Role connection limit use',
      [q('%s / (%s > 0)' % [m('dbconn_user_connections'), m('dbconn_user_connection_limit')],
         '{{target}} · {{user}}', instant=true)],
      w=12, h=8, unit='percentunit', steps=limitThresholds, max=1,
      description='Sessions of each role with a CONNECTION LIMIT over that limit ' +
                  '(limits of 0 are left out). DatabaseRoleConnectionLimitNear fires ' +
                  'above %s. Empty when no role has a limit.' % pct(cfg.roleLimitRatio),
    ),
    g.bargauge(
      'Database connection limit use',
      [q('%s / (%s > 0)' % [
        m('dbconn_database_connections'),
        m('dbconn_database_connection_limit'),
      ], '{{target}} · {{database}}', engines=POSTGRES, instant=true)],
      w=12, h=8, unit='percentunit', steps=limitThresholds, max=1,
      description='Sessions on each database with a CONNECTION LIMIT over that ' +
                  'limit. Empty when no database has a limit.',
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
      w=12, h=8, unit='cps',
      description="Connects refused because the server was full: the exporter's " +
                  "own (every engine) and, on MySQL/MariaDB, every client's as " +
                  'counted by the server.',
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
      description='Connection churn: a high rate of new sessions means clients ' +
                  'connect per request instead of pooling. PostgreSQL 14+.',
    ),

    g.row('Exporter health'),
    g.stat(
      'Exporter reads the target',
      [q(m('dbconn_up'), '{{target}}')],
      w=6, h=6, steps=g.thresholds([[1, 'green']], base='red'), mappings=upMappings,
      description='dbconn_up: 1 if the last scrape read the target. When it is 0, ' +
                  'see the connect errors: too_many_connections means full, not down.',
    ),
    g.timeseries(
      'Exporter connect errors by reason',
      [q('sum by (target, reason) (rate(%s[$__rate_interval]))'
         % m('dbconn_connect_errors_total'), '{{target}} {{reason}}')],
      w=9, h=6, unit='cps',
      description="The exporter's own failed connects: too_many_connections " +
                  '(full), auth_failed, unreachable, timeout, tls, other.',
    ),
    g.timeseries(
      'Scrape duration',
      [q(m('dbconn_scrape_duration_seconds'), '{{target}}')],
      w=9, h=6, unit='s',
      description='Time each scrape spent reading the target.',
    ),
    g.stat(
      'Missing privileges and hidden sessions',
      [
        q('max by (target, privilege) (%s)' % m('dbconn_missing_privilege'),
          '{{target}} · {{privilege}}'),
        q('max by (target) (%s)' % m('dbconn_hidden_connections'),
          '{{target}} · hidden sessions'),
      ],
      w=8, h=7, steps=g.thresholds([[1, 'orange']]),
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
                  'and alerts are blind for them. Fix: PostgreSQL `GRANT pg_monitor ' +
                  'TO dbconn_exporter;` (effective at the next scrape); MySQL/MariaDB ' +
                  "`GRANT PROCESS ON *.* TO 'dbconn_exporter'@'%';` then restart the " +
                  'exporter. Runbook: DatabaseExporterMissingPrivilege.',
    ),
    g.table(
      'Collector status',
      [q(m('dbconn_scrape_collector_success'), instant=true, format='table')],
      w=8, h=7,
      rename={ Value: 'ok (1) / failed (0)' },
      description="Which parts of the last read worked; 0 means that part's " +
                  'metrics are missing from the scrape (e.g. a catalog locked past ' +
                  "the exporter's lock timeout).",
    ),
    g.table(
      'Servers',
      [q(m('dbconn_target_info'), instant=true, format='table')],
      w=8, h=7,
      hide=['Time', '__name__', 'Value'],
      description='Engine and version of each target, from its last successful read.',
    ),
  ] + poolerRow,

  // --- the PgBouncer row, repeated per pooler ----------------------------------

  local pool = '{{database}}/{{user}}',
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
      w=8, h=8,
      overrides=[{
        matcher: { id: 'byRegexp', options: '.* waiting$' },
        properties: [{ id: 'color', value: { mode: 'fixed', fixedColor: 'red' } }],
      }],
      description='Client connections per pool (database/user): `active` are ' +
                  'linked to a server connection (or idle in the pooler), ' +
                  '`waiting` queue for one. Any waiting client for long: ' +
                  'PgBouncerClientsWaiting.',
    ),
    g.timeseries(
      'Oldest client wait',
      [q(m('dbconn_pool_max_wait_seconds', P), pool, engines=POOLER)],
      w=8, h=8, unit='s', thresholdLines=g.thresholds([[cfg.poolMaxWaitSeconds, 'orange']]),
      description='How long the oldest waiting client of each pool has waited ' +
                  'for a server connection (0 when none waits). ' +
                  'PgBouncerClientsWaiting fires when it stays over %s s with '
                  % num(cfg.poolMaxWaitSeconds) +
                  'clients waiting for %s; at query_wait_timeout PgBouncer ' % cfg.poolClientsWaitingFor +
                  'drops the client with an error.',
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
      w=12, h=8,
      overrides=[{
        matcher: { id: 'byFrameRefID', options: 'C' },
        properties: [
          { id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } },
          { id: 'custom.fillOpacity', value: 0 },
        ],
      }],
      description='Server connections each pool holds to the database (all ' +
                  'states: active, idle, used, tested, login), those linked to a ' +
                  "client now, and the pool's size plus reserve (dashed). Open " +
                  'servers at the dashed line with clients waiting: the pool is ' +
                  'the limit, unless the database behind it is full too.',
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
                  '"PgBouncer: the pooler and its database"; no line without ' +
                  'it). Clients waiting while the database is under %s: raise '
                  % pct(cfg.poolQueueDatabaseHeadroomRatio) +
                  'the pool size (PgBouncerQueueWithDatabaseHeadroom); at %s or '
                  % pct(cfg.poolQueueDatabaseFullRatio) +
                  'more the database is the limit (PgBouncerQueueAndDatabaseFull).',
    ),
  ],

  // --- locks and sessions --------------------------------------------------------

  local locksAndSessions = [
    g.row('Who holds the sessions'),
    g.timeseries(
      'Sessions by application and state',
      [q('sum by (target, application, state) (%s)' % m('dbconn_connections_by_origin'),
         '{{target}} {{application}} {{state}}')],
      w=24, h=9, stack=true,
      description='Client sessions by application_name / program_name and state.',
    ),
    g.timeseries(
      'Idle sessions by user',
      [q('sum by (target, user) (%s)' % m(
        'dbconn_connections_by_origin',
        T + ', state=~"idle|idle_in_transaction|idle_in_transaction_aborted"',
      ), '{{target}} {{user}}')],
      w=12, h=8, stack=true,
      description='Idle and idle-in-transaction sessions per user: the pools to ' +
                  'shrink first. Empty while no client session is idle.',
    ),
    g.table(
      'Sessions by database, user and application',
      [q('sum by (target, database, user, application, state) (%s)'
         % m('dbconn_connections_by_origin'), instant=true, format='table')],
      w=12, h=8,
      rename={ Value: 'sessions' },
      description='The current breakdown; sort by a column to find the holder.',
    ),

    g.row('How long'),
    g.timeseries(
      'Sessions over duration thresholds',
      [q(m('dbconn_connections_over_duration', T + ', state!="idle"'),
         '{{target}} {{state}} > {{threshold_seconds}}s')],
      w=12, h=8,
      description='Sessions in each non-idle state for longer than each ' +
                  'configured threshold.',
    ),
    g.timeseries(
      'Longest time in state',
      [q(m('dbconn_max_state_duration_seconds'), '{{target}} {{state}}')],
      w=12, h=8, unit='s', link=incidentLink,
      description='Longest time any session has been in each state.',
    ),
    g.timeseries(
      'Oldest transaction',
      [q(m('dbconn_oldest_transaction_seconds'), '{{target}}')],
      w=12, h=8, unit='s', link=incidentLink,
      description='Age of the oldest open transaction: it holds back vacuum / ' +
                  'purge and keeps its locks.',
    ),
    g.timeseries(
      'Connection age',
      [
        q(m('dbconn_average_connection_age_seconds'), '{{target}} average',
          engines=POSTGRES),
        q(m('dbconn_max_connection_age_seconds'), '{{target}} oldest', engines=POSTGRES),
      ],
      w=12, h=8, unit='s',
      description='How long client sessions have been connected (PostgreSQL only: ' +
                  'the MySQL processlist does not tell). Old, idle ' +
                  'sessions point to pools without a max lifetime.',
    ),

    g.row('Locks'),
    g.timeseries(
      'Root blockers',
      [q(m('dbconn_root_blockers'), '{{target}}')],
      w=8, h=8, link=incidentLink, thresholdLines=g.thresholds([[1, 'red']]),
      description=rootBlockersDescription,
    ),
    g.timeseries(
      'Blocked and blocking sessions',
      [
        q(m('dbconn_blocked_connections'), '{{target}} blocked'),
        q(m('dbconn_blocking_connections'), '{{target}} blocking'),
      ],
      w=8, h=8, link=incidentLink,
      description='Sessions waiting on a lock another session holds, and the ' +
                  'sessions holding such locks (a waiter can hold a lock others ' +
                  'wait on: Root blockers counts only the heads of the queues).',
    ),
    g.timeseries(
      'Longest lock wait',
      [q(m('dbconn_max_lock_wait_seconds'), '{{target}}')],
      w=8, h=8, unit='s', thresholdLines=g.thresholds([[cfg.lockWaitSeconds, 'orange']]),
      link=incidentLink,
    ),
    g.timeseries(
      'Deadlocks per second',
      [q('rate(%s[$__rate_interval])' % m('dbconn_deadlocks_total'), '{{target}}')],
      w=8, h=8, unit='cps',
      description='Deadlocks detected (and broken) by the server.',
    ),
    g.timeseries(
      'Locks awaited by mode',
      [q('sum by (target, mode) (%s)' % m('dbconn_locks', T + ', granted="false"'),
         '{{target}} {{mode}}')],
      w=8, h=8,
      description='Locks sessions wait for. Empty while nobody waits.',
    ),
    g.timeseries(
      'Locks held by mode',
      [q('sum by (target, mode) (%s)' % m('dbconn_locks', T + ', granted="true"'),
         '{{target}} {{mode}}')],
      w=8, h=8,
      description="Locks granted to client sessions (the exporter's own left out).",
    ),

    g.row('Server settings'),
    g.table(
      'Session and statement timeouts',
      [q(m('dbconn_timeout_setting_seconds'), instant=true, format='table')],
      w=24, h=7, unit='s',
      rename={ Value: 'seconds (0 = disabled)' },
      description="Timeouts that end idle sessions, idle transactions and long " +
                  "statements, as defaults for the exporter's role. 0 = disabled: " +
                  'see the runbooks for idle_session_timeout and ' +
                  'idle_in_transaction_session_timeout.',
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

  local dashboard(name, title, panels, other, otherTitle) =
    local uid = cfg.dashboardUIDPrefix + name;
    local pooled = [p for p in panels if std.get(p, 'repeat') == 'pooler'] != [];
    local placed = g.layout(panels);
    local problems = std.flattenArrays([g.problems(uid, p) for p in placed]);
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
      'locks-and-sessions', 'Locks and sessions',
    ),
    'dbconn-locks-and-sessions.json': dashboard(
      'locks-and-sessions', 'Database connections — locks and sessions', locksAndSessions,
      'overview', 'Overview',
    ),
  },
}
