// The dbconn_exporter monitoring mixin: alerts, (no) recording rules and Grafana
// dashboards for PostgreSQL, MySQL/MariaDB and PgBouncer targets, all built from the
// settings in config.libsonnet.
//
//   prometheusAlerts   { groups: [...] }  the alert rules (alerts/dbconn.rules.yml)
//   prometheusRules    { groups: [] }     none: every dashboard query reads a few
//                                         per-target gauges, cheap enough raw
//   grafanaDashboards  { '<file>.json': dashboard }
//
// A wrong setting stops the evaluation with a message naming it
// (lib/validate.libsonnet).
(import 'config.libsonnet') +
(import 'alerts.libsonnet') +
(import 'dashboards.libsonnet') +
{
  local problems = (import 'lib/validate.libsonnet').problems($._config),
  assert problems == [] : 'mixin _config: ' + std.join('; ', problems),
  prometheusRules+:: { groups+: [] },
}
