// What is wrong with a _config, as messages naming the setting (none: fine). The
// mixin asserts there are none, so a wrong value stops the build, through
// mixin/build.py or an import, instead of giving a rule Prometheus refuses (a
// `for` that is not a duration), one that can never fire (a ratio of 80 meant as
// 80 %, a threshold the exporter does not export, a selector that breaks the
// annotations' templates) or a link without its target.
local util = import 'util.libsonnet';
local defaults = (import '../config.libsonnet')._config;

local charSet(chars) = { [c]: true for c in std.stringChars(chars) };
local labelStart = charSet('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_');
local labelRest = labelStart + charSet('0123456789');
local uidChars = labelRest + charSet('-');
local only(s, set) = std.all([std.objectHas(set, c) for c in std.stringChars(s)]);
local has(pat, s) = std.length(std.split(s, pat)) > 1;

// Why a selector is not a comma-separated list of `name op "value"` matchers (op
// one of = != =~ !~), or null when it is ('' is none at all). Regular expressions
// are not checked: `promtool check rules` on the output does.
local selectorProblem(sel) =
  local n = std.length(sel);
  local skip(i) = if i < n && std.objectHas(charSet(' \t'), sel[i]) then skip(i + 1) else i;
  local name(i) = if i < n && std.objectHas(labelRest, sel[i]) then name(i + 1) else i;
  local str(i) =  // i: just after the opening quote; the index after the closing one
    if i >= n then null
    else if sel[i] == '\\' then str(i + 2)
    else if sel[i] == '"' then i + 1
    else if sel[i] == '\n' then null
    else str(i + 1);
  local matcher(i0) =
    local i = skip(i0);
    local e = name(i);
    local o = skip(e);
    local op = if std.substr(sel, o, 2) == '=~' || std.substr(sel, o, 2) == '!=' || std.substr(sel, o, 2) == '!~' then 2
               else if std.substr(sel, o, 1) == '=' then 1 else 0;
    local v = skip(o + op);
    if e == i || !std.objectHas(labelStart, sel[i]) then 'a label name expected at character %d' % (i + 1)
    else if op == 0 then 'one of = != =~ !~ expected after %s' % std.substr(sel, i, e - i)
    else if v >= n || sel[v] != '"' then 'a "quoted" value expected after %s' % std.substr(sel, i, o + op - i)
    else
      local after = str(v + 1);
      if after == null then 'the value after %s is not closed by "' % std.substr(sel, i, e - i)
      else
        local next = skip(after);
        if next >= n then null
        else if sel[next] == ',' then matcher(next + 1)
        else 'a comma or the end expected at character %d' % (next + 1);
  if std.stripChars(sel, ' \t') == '' then (if sel == '' then null else 'blank')
  else matcher(0);

local named(suffix) = [k for k in std.objectFields(defaults) if std.endsWith(k, suffix)];
// Ratios that may be 0 (a condition that always holds); every other is in (0, 1].
local mayBeZero = ['idleConnectionsMinUsageRatio', 'exhaustionPredictedMinRatio'];

{
  problems(cfg)::
    local known = std.objectFields(defaults);
    local mistyped = [
      '%s (%s, not %s)' % [k, std.type(cfg[k]), std.type(defaults[k])]
      for k in known
      if std.type(cfg[k]) != std.type(defaults[k])
    ];
    // Names of other mixins sharing this _config are theirs (build.py refuses an
    // unknown --set by itself).
    if mistyped != [] then
      ['setting(s) of the wrong type: ' + std.join(', ', mistyped)]
    else
      local templated = ['selector', 'runbookBaseURL', 'runbookSuffix', 'incidentPageURL'];
      local url = cfg.incidentPageURL;
      local rest = std.strReplace(std.strReplace(std.strReplace(
        url, '%(exporter)s', ''), '%(target)s', ''), '%%', '');
      [
        '%s: %s is not a Prometheus duration (e.g. 30s, 5m, 1h)' % [k, std.manifestJson(cfg[k])]
        for k in named('For') + named('Window')
        if util.durationSecondsOrNull(cfg[k]) == null
      ]
      + [
        '%s: %s must be longer than 0' % [k, std.manifestJson(cfg[k])]
        for k in named('Window')
        if util.durationSecondsOrNull(cfg[k]) == 0
      ]
      + [
        '%s: %s is a fraction (0.8 for 80%%), over 0 and at most 1, with 6 decimals at most'
        % [k, util.number(cfg[k])]
        for k in named('Ratio') + named('Share')
        if cfg[k] > 1 || cfg[k] < 0 || (cfg[k] == 0 && !std.member(mayBeZero, k))
           || std.abs(std.round(cfg[k] * 1e6) - cfg[k] * 1e6) > 1e-6
      ]
      + (if cfg.idleConnectionsShare >= 1 then
           ['idleConnectionsShare must be below 1: no share of sessions is over all of them']
         else [])
      + (if cfg.connectionsHighRatio >= cfg.connectionsCriticalRatio then [
           'connectionsHighRatio (%s) must be below connectionsCriticalRatio (%s)'
           % [util.number(cfg.connectionsHighRatio), util.number(cfg.connectionsCriticalRatio)],
         ] else [])
      + (if cfg.poolQueueDatabaseHeadroomRatio > cfg.poolQueueDatabaseFullRatio then [
           'poolQueueDatabaseHeadroomRatio (%s) must not be above poolQueueDatabaseFullRatio (%s)'
           % [util.number(cfg.poolQueueDatabaseHeadroomRatio), util.number(cfg.poolQueueDatabaseFullRatio)],
         ] else [])
      + (if cfg.exhaustionPredictedMinRatio >= 1 then
           ['exhaustionPredictedMinRatio must be below 1'] else [])
      + [
        '%s: durationThresholds holds %s; each must be a whole number of seconds over 0'
        % [k, std.manifestJsonMinified(cfg[k])]
        for k in ['durationThresholds']
        if !std.all([std.isNumber(t) && t > 0 && std.floor(t) == t for t in cfg[k]])
      ]
      + [
        '%s: %s is not one of durationThresholds %s (the exporter exports no other '
        % [k, util.number(cfg[k]), std.manifestJsonMinified(cfg.durationThresholds)]
        + 'threshold_seconds; add it to collection.duration_thresholds and here)'
        for k in named('ThresholdSeconds')
        if !std.member(cfg.durationThresholds, cfg[k])
      ]
      + [
        '%s: %s must be a whole number of seconds over 0' % [k, util.number(cfg[k])]
        for k in ['exhaustionPredictedHorizonSeconds']
        if cfg[k] <= 0 || std.floor(cfg[k]) != cfg[k] || cfg[k] > 1e9
      ]
      + [
        '%s: %s must be 0 or more, and finite' % [k, util.number(cfg[k])]
        for k in ['longRunningMinSessions', 'lockWaitSeconds', 'poolMaxWaitSeconds']
        if cfg[k] < 0 || cfg[k] > 1e9
      ]
      + (if cfg.clusterLabel == '' || !std.objectHas(labelStart, cfg.clusterLabel[0])
            || !only(cfg.clusterLabel, labelRest) then [
           'clusterLabel: %s is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)'
           % std.manifestJson(cfg.clusterLabel),
         ] else [])
      + [
        '%s: %s contains %s, which the alerts\' Go templates would read as their own' % [
          k,
          std.manifestJson(cfg[k]),
          std.join(' and ', [t for t in ['{{', '}}', '`'] if has(t, cfg[k])]),
        ]
        for k in templated
        if has('{{', cfg[k]) || has('}}', cfg[k]) || has('`', cfg[k])
      ]
      + (
        local why = selectorProblem(cfg.selector);
        if why == null then []
        else ['selector: %s is not a list of matchers such as job=~"dbconn.*" (%s)'
              % [std.manifestJson(cfg.selector), why]]
      )
      + [
        '%s: %s contains a space, a quote or a bracket, which no URL holds' % [k, std.manifestJson(cfg[k])]
        // The placeholders of incidentPageURL are its own brackets.
        for k in ['runbookBaseURL', 'runbookSuffix', 'incidentPageURL']
        if std.length([
          c
          for c in std.stringChars(if k == 'incidentPageURL' then rest else cfg[k])
          if std.member(' \t\n"<>()', c)
        ]) > 0
      ]
      + (if !has('%(target)s', url) || !has('%(exporter)s', url) then [
           'incidentPageURL: %s must contain %%(exporter)s and %%(target)s' % std.manifestJson(url),
         ] else if has('%', rest) then [
           'incidentPageURL: %s has a %% other than %%(exporter)s, %%(target)s or %%%% (a literal %%)'
           % std.manifestJson(url),
         ] else [])
      + (if cfg.dashboardUIDPrefix == '' || !only(cfg.dashboardUIDPrefix, uidChars)
            || std.length(cfg.dashboardUIDPrefix) + std.length('locks-and-sessions') > 40 then [
           'dashboardUIDPrefix: %s must be letters, digits, - and _, 1 to %d long '
           % [std.manifestJson(cfg.dashboardUIDPrefix), 40 - std.length('locks-and-sessions')]
           + '(Grafana refuses a uid over 40)',
         ] else [])
      + (if !std.all([std.isString(t) && std.stripChars(t, ' \t\n') == t && t != '' for t in cfg.dashboardTags]) then
           ['dashboardTags: %s must be a list of words' % std.manifestJsonMinified(cfg.dashboardTags)]
         else [])
      + (if cfg.dashboardRefresh != '' && util.durationSecondsOrNull(cfg.dashboardRefresh) == null then
           ['dashboardRefresh: %s is not a duration such as 30s or 1m (or "" for off)'
            % std.manifestJson(cfg.dashboardRefresh)]
         else [])
      + (if cfg.dashboardTimeFrom != 'now'
            && !(std.startsWith(cfg.dashboardTimeFrom, 'now-')
                 && util.durationSecondsOrNull(cfg.dashboardTimeFrom[4:]) != null) then
           ['dashboardTimeFrom: %s is not a Grafana time such as now-3h'
            % std.manifestJson(cfg.dashboardTimeFrom)]
         else []),
}
