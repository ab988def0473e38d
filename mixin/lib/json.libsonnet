// JSON text as Python's json.dumps(indent=2) writes it. std.manifestJsonEx prints
// a threshold of 0.8 as 0.80000000000000004: the same double, but not what anyone
// wrote or reads in a diff of the committed dashboards.
local number(x) =
  if std.floor(x) == x && std.abs(x) < 1e15 then std.format('%d', x)
  else
    // The shortest of these that reads back as the same double.
    local tries = [std.format('%.' + p + 'g', x) for p in [15, 16, 17]];
    local exact = [t for t in tries if std.parseJson(t) == x];
    if exact != [] then exact[0] else tries[2];

local manifest(v, indent) =
  local inner = indent + '  ';
  if std.isObject(v) then
    local keys = std.objectFields(v);
    if keys == [] then '{}'
    else '{\n' + std.join(',\n', [
      inner + std.escapeStringJson(k) + ': ' + manifest(v[k], inner)
      for k in keys
    ]) + '\n' + indent + '}'
  else if std.isArray(v) then
    if v == [] then '[]'
    else '[\n' + std.join(',\n', [inner + manifest(e, inner) for e in v]) + '\n' + indent + ']'
  else if std.isString(v) then std.escapeStringJson(v)
  else if std.isNumber(v) then number(v)
  else if std.isBoolean(v) then (if v then 'true' else 'false')
  else if v == null then 'null'
  else error 'not JSON: ' + std.type(v);

{
  // Keys sorted, hidden fields left out, two spaces a level.
  manifest(v):: manifest(v, ''),
}
