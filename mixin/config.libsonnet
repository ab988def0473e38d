// Everything a team sets for its environment. Override any field from your own
// jsonnet:
//
//   (import 'mixin/mixin.libsonnet') + { _config+:: { selector: 'job=~"dbconn.*"' } }
//
// or, without writing jsonnet, with `mixin/build.py --set NAME=VALUE --out DIR`
// (README "Runbooks in your own wiki"). Either way lib/validate.libsonnet refuses,
// by name, a value that would give a rule Prometheus refuses or one that can never
// fire; build.py also refuses a name this file does not have (an import leaves
// other names alone: they may be another mixin's).
{
  _config+:: {
    // --- series and links ------------------------------------------------------
    // Matchers added to every dbconn_* selector of the alerts and dashboards, e.g.
    // 'job=~"dbconn.*"' when one Prometheus scrapes several exporters' fleets. Empty
    // by default: the dbconn_ names are the exporter's own, so no other exporter's
    // series can match, and a selector naming a job you do not have would silently
    // never fire.
    selector: '',

    // Where each alert's runbook_url points: runbookBaseURL + <alert name> +
    // runbookSuffix. The default is the runbooks shipped in docs/runbooks/; for an
    // internal wiki set e.g. runbookBaseURL 'https://wiki.example.com/dbconn/' and
    // runbookSuffix ''. The dashboards' "Runbooks" link is <base>README<suffix>.
    runbookBaseURL: 'https://github.com/dbconn-exporter/dbconn_exporter/blob/main/docs/runbooks/',
    runbookSuffix: '.md',

    // The exporter's incident page for one target. %(exporter)s becomes the
    // exporter's host:port (the `exporter` label when relabelling sets one, as in the
    // sharded /probe job, else `instance`; Grafana links use `instance`), %(target)s
    // the target's name, URL-escaped; both are required, and a literal % is %%.
    // Behind TLS (--web.config.file) use https://.
    incidentPageURL: 'http://%(exporter)s/incident?target=%(target)s',

    // The label relabelling puts on a PgBouncer target and on the database behind it
    // so that the pooler alerts and panels can join the two.
    clusterLabel: 'cluster',

    // --- alerts: thresholds and `for` ------------------------------------------
    // Ratios are fractions (0.8 = 80 %); durations are Prometheus durations.
    // The dashboards draw their threshold lines at the same levels.
    connectionsHighRatio: 0.8,  // DatabaseConnectionsHigh
    connectionsHighFor: '2m',
    connectionsCriticalRatio: 0.95,  // DatabaseConnectionsCritical
    connectionsCriticalFor: '30s',
    // DatabaseConnectionsExhausted fires at a ratio of 1 (by definition) or on a
    // refusal of the exporter's own login within this window.
    exhaustedRefusalWindow: '5m',
    // DatabaseConnectionsExhaustionPredicted: above this ratio, the linear fit over
    // the window reaches 1 within the horizon.
    exhaustionPredictedMinRatio: 0.5,
    exhaustionPredictedFitWindow: '30m',
    exhaustionPredictedHorizonSeconds: 3600,
    exhaustionPredictedFor: '10m',
    refusedWindow: '5m',  // DatabaseConnectionsRefused (MySQL/MariaDB server counter)
    // The two *ThresholdSeconds select a `threshold_seconds` label value, which only
    // exists for the exporter's collection.duration_thresholds: list yours here (in
    // seconds; the exporter's default below), and a threshold outside it is refused
    // rather than built into an alert that never fires.
    durationThresholds: [30, 60, 300, 600, 1800, 3600],
    longRunningThresholdSeconds: 300,  // DatabaseLongRunningQueries
    longRunningMinSessions: 5,
    longRunningFor: '1m',
    idleInTransactionThresholdSeconds: 30,  // DatabaseIdleInTransaction
    idleInTransactionFor: '1m',
    idleConnectionsShare: 0.8,  // DatabaseIdleConnectionsHigh: idle share of sessions,
    idleConnectionsMinUsageRatio: 0.5,  // while the server is this full
    idleConnectionsFor: '10m',
    lockWaitSeconds: 30,  // DatabaseLockContention
    lockContentionFor: '1m',
    roleLimitRatio: 0.9,  // DatabaseRoleConnectionLimitNear
    roleLimitFor: '2m',
    targetDownFor: '2m',  // DatabaseExporterTargetDown
    targetDownRefusalWindow: '10m',
    missingPrivilegeFor: '15m',  // DatabaseExporterMissingPrivilege
    configReloadFailedFor: '5m',  // DatabaseExporterConfigReloadFailed
    poolMaxWaitSeconds: 5,  // PgBouncerClientsWaiting and the two Queue* alerts
    poolClientsWaitingFor: '1m',
    poolSaturatedRatio: 0.9,  // PgBouncerPoolSaturated
    poolSaturatedFor: '2m',
    // PgBouncerQueueWithDatabaseHeadroom below this database ratio,
    // PgBouncerQueueAndDatabaseFull at or above the next.
    poolQueueDatabaseHeadroomRatio: 0.8,
    poolQueueDatabaseFullRatio: 0.9,
    poolQueueFor: '1m',

    // --- dashboards ------------------------------------------------------------
    // (dashboards section: owned by mixin/dashboards.libsonnet)
    dashboardUIDPrefix: 'dbconn-',
    dashboardTags: ['dbconn'],
    dashboardRefresh: '30s',
    dashboardTimeFrom: 'now-3h',
  },
}
