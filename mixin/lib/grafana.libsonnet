// Grafana panel builders, the grid layout and the checks every dashboard passes.
// Nothing here knows the settings: mixin/dashboards.libsonnet passes them in.
// std.findSubstr walks the text in jsonnet, tens of milliseconds a call on a
// query; std.split is native. Positions of `pat` in `s`, from the split pieces.
local findSubstr(pat, s) =
  local parts = std.split(s, pat);
  local starts = std.foldl(
    function(acc, part) acc + [acc[std.length(acc) - 1] + std.length(part) + std.length(pat)],
    parts[:std.length(parts) - 1],
    [0],
  );
  [starts[k + 1] - std.length(pat) for k in std.range(0, std.length(parts) - 2)];
local has(pat, s) = std.length(std.split(s, pat)) > 1;

// Character classes as objects: std.member on a string is as slow as findSubstr.
local charSet(chars) = { [c]: true for c in std.stringChars(chars) };
local words = charSet('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_');
local lower = charSet('abcdefghijklmnopqrstuvwxyz_');
local blank = charSet(' \t\n');

local last(xs) = if xs == [] then -1 else xs[std.length(xs) - 1];
local scan(s, i, chars) =
  if i < std.length(s) && std.objectHas(chars, s[i]) then scan(s, i + 1, chars) else i;

// Whether position i of a query is inside a {...} selector or a "..." string: a
// selector of job="dbconn_x" names no metric.
local quoted(s, i) =
  local before = std.substr(s, 0, i);
  last(findSubstr('{', before)) > last(findSubstr('}', before))
  || std.length(findSubstr('"', before)) % 2 == 1;

// Every dbconn_* metric a query selects: {name, matchers} (the text of its {...},
// or '' without one).
local selectors(expr) = [
  local end = scan(expr, i + std.length('dbconn_'), lower);
  local brace = scan(expr, end, blank);
  // The selector ends at the first } outside a quoted value (a regex may hold {2}).
  local close = [
    c
    for c in findSubstr('}', expr)
    if c > brace && std.length(findSubstr('"', std.substr(expr, brace, c - brace))) % 2 == 0
  ];
  {
    name: std.substr(expr, i, end - i),
    matchers:
      if brace < std.length(expr) && expr[brace] == '{' && close != []
      then std.substr(expr, brace, close[0] - brace + 1)
      else '',
  }
  for i in findSubstr('dbconn_', expr)
  if (i == 0 || !std.objectHas(words, expr[i - 1])) && !quoted(expr, i)
];

// The label lists of every `by (...)` of a query.
local byClauses(expr) = [
  local open = i + std.length('by (');
  local close = [c for c in findSubstr(')', expr) if c >= open];
  [std.stripChars(l, ' ') for l in std.split(std.substr(expr, open, close[0] - open), ',')]
  for i in findSubstr('by (', expr)
  if i == 0 || !std.objectHas(words, expr[i - 1])
];

// Whether every series of a query keeps its instance and target labels: each
// `by (...)` names both, and no aggregation drops them wholesale.
local aggregations = ['sum', 'min', 'max', 'avg', 'count', 'count_values', 'group', 'stddev', 'stdvar', 'quantile'];
local keepsInstanceAndTarget(expr) =
  std.all([std.member(by, 'instance') && std.member(by, 'target') for by in byClauses(expr)])
  && !has('without', expr)
  && !has('label_replace', expr)
  && std.all([
    !has(a + '(', expr) && !has(a + ' (', expr)
    for a in aggregations
  ]);

{
  engines: {
    // PostgreSQL, MySQL and MariaDB: every database engine the exporter reads.
    all: ['postgresql', 'mysql', 'mariadb'],
    // Server counters only MySQL/MariaDB keep (SHOW GLOBAL STATUS).
    mysql: ['mysql', 'mariadb'],
    // Only promised for PostgreSQL so far (README "Metrics"): per-role and
    // per-database limits, pg_stat_database session and deadlock counters, timeout
    // settings. Widen when the MySQL/MariaDB reader provides them.
    postgres: ['postgresql'],
    // Connection poolers: their panels repeat per pooler and select it by `$pooler`.
    pooler: ['pgbouncer'],
    known: self.all + self.pooler,
  },

  // The target variable's matcher, in every database query.
  T: 'target=~"$target"',
  // The pooler of a repeated PgBouncer row; the negation picks the other targets
  // (the database behind it). Only pooler queries (engines `pooler`) may use these.
  P: 'target=~"$pooler"',
  NOT_P: 'target!~"$pooler"',

  datasource: { type: 'prometheus', uid: '${datasource}' },

  // One panel query. `engines`: the dbconn_target_info engines on which it must
  // return data (tests/dashboard-queries.json, tests/alerts_e2e.rs). Whitespace is
  // collapsed so that a query can be written over several lines.
  q(expr, legend='', engines=$.engines.all, instant=false, format=null):: {
    expr: std.join(' ', [
      w
      for w in std.split(std.strReplace(std.strReplace(expr, '\n', ' '), '\t', ' '), ' ')
      if w != ''
    ]),
    legend: legend,
    engines: engines,
    instant: instant,
    format: format,
  },

  // steps: [[value, color], ...] above the base color.
  thresholds(steps=[], base='green'):: {
    mode: 'absolute',
    steps: [{ color: base, value: null }] + [{ color: s[1], value: s[0] } for s in steps],
  },

  // `description` says what the panel shows, `todo` what to do about it (which
  // runbook, which setting, the incident page): both are required, and so is the
  // unit. `link`: a data link built from each series' labels, or null.
  panel(kind, title, queries, w, h, description='', unit=null, fc={}, options={},
        overrides=[], transformations=null, link=null, todo=''):: {
    type: kind,
    title: title,
    description: std.join('\n\n', [t for t in [description, todo] if t != '']),
    what:: description,
    todo:: todo,
    datasource: $.datasource,
    gridPos: { w: w, h: h },
    fieldConfig: {
      defaults: { color: { mode: 'palette-classic' } }
                + (if unit != null then { unit: unit } else {})
                + fc
                + (if link != null then { links: [link] } else {}),
      overrides: overrides,
    },
    options: options,
    targets: [
      {
        datasource: $.datasource,
        editorMode: 'code',
        expr: queries[i].expr,
        legendFormat: if queries[i].legend == '' then '__auto' else queries[i].legend,
        refId: std.char(std.codepoint('A') + i),
        instant: queries[i].instant,
        range: !queries[i].instant,
        engines:: queries[i].engines,
      } + (if queries[i].format != null then { format: queries[i].format } else {})
      for i in std.range(0, std.length(queries) - 1)
    ],
  } + (if transformations != null then { transformations: transformations } else {}),

  // thresholdStyle: 'line+area' for a level (a ratio, a wait), 'dashed' for a count
  // whose level applies to some of the series only.
  timeseries(title, queries, w=12, h=8, unit=null, description='', stack=false,
             thresholdLines=null, thresholdStyle='line+area', min=0, softMax=null,
             overrides=[], link=null, todo='')::
    $.panel(
      'timeseries', title, queries, w, h, description, unit,
      fc={
        custom: {
          drawStyle: 'line',
          lineWidth: 1,
          fillOpacity: if stack then 25 else 5,
          showPoints: 'never',
          spanNulls: false,
          stacking: { mode: if stack then 'normal' else 'none', group: 'A' },
          thresholdsStyle: { mode: if thresholdLines != null then thresholdStyle else 'off' },
          axisSoftMin: min,
        } + (if softMax != null then { axisSoftMax: softMax } else {}),
      } + (if thresholdLines != null then { thresholds: thresholdLines } else {}),
      options={
        legend: {
          displayMode: 'table',
          placement: 'bottom',
          showLegend: true,
          calcs: ['lastNotNull', 'max'],
        },
        tooltip: { mode: 'multi', sort: 'desc' },
      },
      overrides=overrides,
      link=link,
      todo=todo,
    ),

  stat(title, queries, w=6, h=4, unit=null, description='', steps=null,
       mappings=null, colorMode='background', overrides=[], link=null, todo='')::
    $.panel(
      'stat', title, queries, w, h, description, unit,
      fc={
        thresholds: if steps != null then steps else $.thresholds(),
        color: { mode: 'thresholds' },
      } + (if mappings != null then { mappings: mappings } else {}),
      options={
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
        colorMode: colorMode,
        graphMode: 'none',
        justifyMode: 'auto',
        orientation: 'auto',
        textMode: 'value_and_name',
        wideLayout: true,
        showPercentChange: false,
      },
      overrides=overrides,
      link=link,
      todo=todo,
    ),

  bargauge(title, queries, w=8, h=8, unit=null, description='', steps=null,
           max=null, link=null, todo='')::
    $.panel(
      'bargauge', title, queries, w, h, description, unit,
      fc={
        thresholds: if steps != null then steps else $.thresholds(),
        color: { mode: 'thresholds' },
        min: 0,
      } + (if max != null then { max: max } else {}),
      options={
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
        displayMode: 'gradient',
        orientation: 'horizontal',
        showUnfilled: true,
        valueMode: 'color',
        namePlacement: 'auto',
        sizing: 'auto',
        minVizHeight: 16,
        minVizWidth: 8,
        maxVizHeight: 300,
      },
      link=link,
      todo=todo,
    ),

  table(title, queries, w=12, h=8, unit=null, description='', rename={},
        hide=['Time', '__name__', 'job', 'instance'], steps=null, link=null, todo='')::
    $.panel(
      'table', title, queries, w, h, description, unit,
      fc={
        custom: { align: 'auto', cellOptions: { type: 'auto' } },
        thresholds: if steps != null then steps else $.thresholds(),
      },
      options={
        showHeader: true,
        cellHeight: 'sm',
        footer: { show: false, reducer: ['sum'], fields: '' },
      },
      transformations=[
        { id: 'merge', options: {} },
        {
          id: 'organize',
          options: {
            excludeByName: { [k]: true for k in hide },
            indexByName: {},
            renameByName: rename,
          },
        },
      ],
      link=link,
      todo=todo,
    ),

  // Grafana repeats a row with `repeat`, and the panels up to the next row, once
  // per value of that variable.
  row(title, repeat=null):: {
    type: 'row',
    title: title,
    collapsed: false,
    panels: [],
  } + (if repeat != null then { repeat: repeat } else {}),

  // Flows panels left to right, top to bottom on Grafana's 24-column grid, a row
  // starting a new line, and numbers them from 1.
  layout(panels)::
    local step(state, p) =
      if p.type == 'row' then
        local y = if state.x > 0 then state.y + state.rowH else state.y;
        state {
          x: 0,
          y: y + 1,
          rowH: 0,
          out+: [p { gridPos: { h: 1, w: 24, x: 0, y: y } }],
        }
      else
        local wrap = state.x + p.gridPos.w > 24;
        local x = if wrap then 0 else state.x;
        local y = if wrap then state.y + state.rowH else state.y;
        local rowH = if wrap then 0 else state.rowH;
        state {
          x: x + p.gridPos.w,
          y: y,
          rowH: std.max(rowH, p.gridPos.h),
          out+: [p { gridPos: { h: p.gridPos.h, w: p.gridPos.w, x: x, y: y } }],
        };
    local placed = std.foldl(step, panels, { x: 0, y: 0, rowH: 0, out: [] }).out;
    [placed[i] { id: i + 1 } for i in std.range(0, std.length(placed) - 1)],

  // What is wrong with one panel, as messages (none: fine). A query must filter
  // every dbconn_* selector by the target variable (pooler queries: by $pooler or
  // its negation), must not fake data with vector(), and must name where it has
  // data; the first query of a panel has data on PostgreSQL (or, in a pooler
  // panel, on PgBouncer), so that no panel is empty there; a panel with a data link
  // built from instance and target keeps both in every `by (...)`. Every panel has
  // a unit and says what it shows and what to do about it. The incident page is
  // one click away wherever it can be: a panel of a database target's series that
  // all keep instance and target carries the data link (tables excepted: their
  // rows are not series), and a pooler panel none (the incident view is not
  // offered for PgBouncer).
  problems(where, p)::
    if p.type == 'row' then []
    else
      local at = where + ' / ' + p.title;
      local links = std.get(p.fieldConfig.defaults, 'links', []);
      local first = if p.targets == [] then null else p.targets[0].engines;
      local pooler = first == $.engines.pooler;
      (if std.get(p.fieldConfig.defaults, 'unit') == null then ['%s: no unit' % at] else [])
      + (if std.get(p, 'what', '') == '' then ['%s: no description of what it shows' % at] else [])
      + (if std.get(p, 'todo', '') == '' then ['%s: the description does not say what to do' % at] else [])
      + (if pooler && links != [] then
           ['%s: a pooler panel carries a data link: the incident view is not offered for PgBouncer' % at]
         else if !pooler && links == [] && p.type != 'table' && p.targets != []
                 && std.all([keepsInstanceAndTarget(t.expr) for t in p.targets])
         then ['%s: its series keep instance and target: it needs the incident link' % at]
         else [])
      + (if first == null then ['%s: no query' % at]
       else if !std.member(first, 'postgresql') && first != $.engines.pooler
       then ['%s: the first query has no data on PostgreSQL: engines %s' % [at, std.toString(first)]]
       else [])
      + std.flattenArrays([
        local e = t.engines;
        local pooler = e == $.engines.pooler;
        local allowed = if pooler then [$.P, $.NOT_P] else [$.T];
        local here = '%s / %s' % [at, t.refId];
        (if e == [] || std.setDiff(std.set(e), std.set($.engines.known)) != []
         then ['%s: engines %s: each must be one of %s' % [here, std.toString(e), std.toString($.engines.known)]]
         else if !pooler && std.setInter(std.set(e), std.set($.engines.pooler)) != []
         then ['%s: a pooler query is for %s alone: %s' % [here, std.toString($.engines.pooler), std.toString(e)]]
         else [])
        + [
          '%s: selector of %s lacks %s: %s' % [here, s.name, std.join(' or ', allowed), t.expr]
          for s in selectors(t.expr)
          if std.length([a for a in allowed if has(a, s.matchers)]) == 0
        ]
        + (if has('vector(', t.expr)
           then ['%s: vector() fakes data: %s' % [here, t.expr]] else [])
        + (if links == [] then []
           else if !keepsInstanceAndTarget(t.expr) then [
             '%s: the data link needs instance and target, and the query may drop or rewrite them: %s'
             % [here, t.expr],
           ] else [])
        for t in p.targets
      ]),
}
