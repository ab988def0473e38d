// What mixin/build.py writes: relative path -> file text (or, for JSON files, the
// value). `overrides` (an external variable, a JSON object) replaces settings of
// config.libsonnet.
local overrides = std.extVar('overrides');
local base = import 'mixin.libsonnet';
local util = import 'lib/util.libsonnet';
// lib/validate.libsonnet (the mixin's assert) refuses a wrong value by name; a name
// the mixin does not know is refused here (an import may share _config with other
// mixins, whose names are theirs).
local known = std.objectFieldsAll(base._config);
local unknown = [k for k in std.objectFields(overrides) if !std.member(known, k)];
local mixin =
  if unknown != [] then
    error 'unknown setting(s): %s (known: %s)' % [std.join(', ', unknown), std.join(', ', known)]
  else base { _config+:: overrides };

local settings =
  if std.length(overrides) == 0 then ''
  else '# Settings changed from mixin/config.libsonnet: %s\n' % std.join(', ', [
    '%s=%s' % [
      k,
      if std.isNumber(overrides[k]) then util.number(overrides[k])
      else std.manifestJsonMinified(overrides[k]),
    ]
    for k in std.objectFields(overrides)
  ]);
local header =
  '# Generated from mixin/ by mixin/build.py: do not edit. Change mixin/*.libsonnet\n' +
  '# (thresholds and links: mixin/config.libsonnet) and run .venv/bin/python3 mixin/build.py\n' +
  settings;
local yaml(v) = std.manifestYamlDoc(v, indent_array_in_object=true, quote_keys=false) + '\n';
local prometheusRule = {
  apiVersion: 'monitoring.coreos.com/v1',
  kind: 'PrometheusRule',
  metadata: {
    name: 'dbconn-exporter',
    // The operator selects PrometheusRules by label (Prometheus.spec.ruleSelector,
    // e.g. `release: <helm release>`): add yours with kustomize or `kubectl label`.
    labels: {
      'app.kubernetes.io/name': 'dbconn-exporter',
      'app.kubernetes.io/component': 'alert-rules',
      'app.kubernetes.io/part-of': 'dbconn-exporter',
    },
  },
};
// std.manifestYamlDoc takes seconds on the rules: written once, and indented under
// the manifest's `spec:` (a rule file's top level is exactly a PrometheusRule spec).
local rulesYaml = yaml(mixin.prometheusAlerts);
local prometheusRuleYaml =
  yaml(prometheusRule) + 'spec:\n' + std.join('\n', [
    if line == '' then '' else '  ' + line
    for line in std.split(rulesYaml, '\n')
  ]);

// Every panel query, for the end-to-end test that runs them against a Prometheus
// that scraped real exporters. `engines` (a hidden field of each panel target) lists
// the dbconn_target_info engines on which the query must return data.
// Evaluated once (array elements are cached, object fields are not): the queries
// and the files both read them.
local names = std.objectFields(mixin.grafanaDashboards);
local boards = [mixin.grafanaDashboards[n] for n in names];
local queries = [
  {
    dashboard: d.uid,
    panel: p.title,
    refId: t.refId,
    expr: t.expr,
    instant: t.instant,
    engines: t.engines,
  }
  for d in boards
  for p in d.panels
  if p.type != 'row'
  for t in p.targets
];

// YAML files as text; JSON files as values, which build.py writes as
// json.dumps(indent=2) does (jsonnet would print a threshold of 0.8 as
// 0.80000000000000004: the same double, but not what anyone wrote).
{
  'tests/dashboard-queries.json': queries,
  'alerts/dbconn.rules.yml': header + rulesYaml,
  'alerts/kubernetes/prometheusrule.yaml': header + prometheusRuleYaml,
} + {
  ['dashboards/' + names[i]]: boards[i]
  for i in std.range(0, std.length(names) - 1)
}
