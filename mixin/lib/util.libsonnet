// Helpers shared by the alerts and the dashboards, so that a selector, a link or a
// threshold is spelled the same way in both.
{
  // `name{<selector>, <matchers>}`, or the bare name when both are empty: every
  // dbconn_* selector goes through here so that _config.selector reaches all of them.
  metric(cfg, name, matchers='')::
    local parts = std.filter(function(x) x != '', [cfg.selector, matchers]);
    if parts == [] then name else '%s{%s}' % [name, std.join(', ', parts)],

  // A number as PromQL and people write it: 0.7 -> '0.7', 300 -> '300' (jsonnet's
  // own std.toString(0.7) gives '0.69999999999999996'). Six decimals at most.
  number(x)::
    local fixed = std.format('%.6f', x);
    local trimmed = std.rstripChars(std.rstripChars(fixed, '0'), '.');
    if std.isNumber(x) then (if trimmed == '' || trimmed == '-' then '0' else trimmed)
    else error 'not a number: ' + std.toString(x),

  // 0.8 -> '80%', 0.95 -> '95%', 0.925 -> '92.5%'.
  percent(ratio):: $.number(std.round(ratio * 1000) / 10) + '%',

  // Seconds in words: 30 -> '30 seconds', 300 -> '5 minutes', 3600 -> '1 hour'.
  duration(seconds)::
    local unit(n, one) = std.toString(n) + ' ' + one + (if n == 1 then '' else 's');
    if seconds % 3600 == 0 then unit(seconds / 3600, 'hour')
    else if seconds % 60 == 0 then unit(seconds / 60, 'minute')
    else unit(seconds, 'second'),

  // Seconds in a Prometheus duration such as '5m' or '1h30m'; null when it is not
  // one (lib/validate.libsonnet names the setting).
  durationSecondsOrNull(d)::
    local units = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 };
    local digits = { [c]: true for c in std.stringChars('0123456789') };
    local step(acc, c) =
      if std.objectHas(digits, c) then
        if acc.u == '' then acc { n+: c }
        else { n: c, u: '', parts: acc.parts + [[acc.n, acc.u]] }
      else acc { u+: c };
    local end = std.foldl(step, std.stringChars(d), { n: '', u: '', parts: [] });
    local parts = end.parts + [[end.n, end.u]];
    local bad = [p for p in parts if p[0] == '' || !std.objectHas(units, p[1])];
    // Prometheus takes each unit once, largest first: 1h30m, not 30m1h or 1m1m.
    local order = ['y', 'w', 'd', 'h', 'm', 's', 'ms'];
    local ranks = [std.find(p[1], order)[0] for p in parts if bad == []];
    local ordered = std.all([ranks[i] < ranks[i + 1] for i in std.range(0, std.length(ranks) - 2)]);
    if !std.isString(d) || d == '' || bad != [] || !ordered then null
    else std.sum([std.parseInt(p[0]) * units[p[1]] for p in parts]),

  durationSeconds(d)::
    local s = $.durationSecondsOrNull(d);
    if s == null then error 'not a Prometheus duration: ' + d else s,

  runbookURL(cfg, name):: cfg.runbookBaseURL + name + cfg.runbookSuffix,

  // The incident page of the alert's target, as a Go template for an annotation.
  alertIncidentURL(cfg):: cfg.incidentPageURL % {
    exporter: '{{ with $labels.exporter }}{{ . }}{{ else }}{{ $labels.instance }}{{ end }}',
    target: '{{ $labels.target | urlquery }}',
  },

  // The incident page of a series' target, as a Grafana data link. Grafana cannot
  // fall back from one label to another, so it uses `instance`: the exporter's
  // address when Prometheus scrapes its /metrics.
  grafanaIncidentURL(cfg):: cfg.incidentPageURL % {
    exporter: '${__field.labels.instance}',
    target: '${__field.labels.target}',
  },
}
