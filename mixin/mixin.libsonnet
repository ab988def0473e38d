// The dbconn_exporter monitoring mixin: alerts, (no) recording rules and Grafana
// dashboards for PostgreSQL, MySQL/MariaDB and PgBouncer targets, all built from the
// settings in config.libsonnet.
//
//   prometheusAlerts   { groups: [...] }  the alert rules (alerts/dbconn.rules.yml)
//   prometheusRules    { groups: [] }     none: every dashboard query reads a few
//                                         per-target gauges, cheap enough raw
//   grafanaDashboards  { '<file>.json': dashboard }
(import 'config.libsonnet') +
(import 'alerts.libsonnet') +
(import 'dashboards.libsonnet') +
{
  prometheusRules+:: { groups+: [] },
}
