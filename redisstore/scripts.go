package redisstore

import "github.com/redis/go-redis/v9"

// luaParents is the Lua function, shared by the scripts that create keys,
// that lists a key's tuple parents ("a" and "a/b" for "a/b/c").
const luaParents = `
local function parents(k)
  local out, i = {}, 1
  while true do
    local j = string.find(k, '/', i, true)
    if not j then return out end
    out[#out + 1] = string.sub(k, 1, j - 1)
    i = j + 1
  end
end
`

// writeScript checks and writes the keys of one unit of a batch (all of a
// single node's batch, or one hash tag's keys in a cluster) atomically: it
// checks every key before it writes any, so a refusal writes nothing.
//
//	KEYS[i]  the data name of the i-th key
//	ARGV     mode ("a" append, "s" set, "c" check only), namespace, part
//	         size, operation id, milliseconds to remember the operation,
//	         largest staged chunk to merge into a part; then for each key:
//	         key, hash tag, number of chunks, and for each chunk: "i"
//	         (inline) or "s" (staged), the bytes or the staged name, and
//	         the staged chunk's length (0 for an inline one).
//
// It returns {"ok"}, {"dup"} (the operation was already applied: a replay
// after a lost reply), {"conflict", key, other}, {"lost", key} (a staged
// chunk expired) or {"corrupt", key, why}.
var writeScript = redis.NewScript(luaParents + `
local mode, ns = ARGV[1], ARGV[2]
local partSize, opid, opTTL, mergeMax = tonumber(ARGV[3]), ARGV[4], ARGV[5], tonumber(ARGV[6])

local function name(kind, tag, rest) return ns .. ':' .. kind .. tag .. rest end


local entries, a = {}, 7
for i = 1, #KEYS do
  local e = {d = KEYS[i], k = ARGV[a], tag = ARGV[a + 1], chunks = {}}
  local n = tonumber(ARGV[a + 2])
  a = a + 3
  for j = 1, n do
    local c = {staged = ARGV[a] == 's', data = ARGV[a + 1], len = tonumber(ARGV[a + 2])}
    if not c.staged then c.len = string.len(c.data) end
    e.chunks[j] = c
    a = a + 3
  end
  entries[i] = e
end

local applied
if mode ~= 'c' then
  applied = name('o', entries[1].tag, opid)
  if redis.call('EXISTS', applied) == 1 then
    -- A write, so that a WAIT after this call on its connection waits
    -- for the replicas to have the write this call replays too.
    redis.call('PEXPIRE', applied, opTTL)
    return {'dup'}
  end
end

-- Check every key before writing any.
for _, e in ipairs(entries) do
  e.type = redis.call('TYPE', e.d)['ok']
  e.parts = {}
  if e.type == 'none' then
    for _, p in ipairs(parents(e.k)) do
      if redis.call('EXISTS', name('d', e.tag, p)) == 1 then return {'conflict', e.k, p} end
    end
    if redis.call('EXISTS', name('c', e.tag, e.k)) == 1 then return {'conflict', e.k, e.k .. '/...'} end
  elseif e.type == 'string' then
    e.parts[1] = {id = false, len = redis.call('STRLEN', e.d)}
  elseif e.type == 'list' then
    for i, m in ipairs(redis.call('LRANGE', e.d, 0, -1)) do
      local len, id = string.match(m, '^(%d+):(.+)$')
      if not len then return {'corrupt', e.k, 'bad manifest entry'} end
      e.parts[i] = {id = id, len = tonumber(len)}
    end
  else
    return {'corrupt', e.k, 'its data name holds a ' .. e.type}
  end
  for _, c in ipairs(e.chunks) do
    if c.staged and redis.call('STRLEN', c.data) ~= c.len then return {'lost', e.k} end
  end
end
if mode == 'c' then return {'ok'} end
redis.call('SET', applied, '1', 'PX', opTTL)

local seq = 0
local function newID()
  seq = seq + 1
  return opid .. '.' .. seq
end

for _, e in ipairs(entries) do
  local parts = e.parts
  local created = e.type == 'none'
  local rewrite = false
  local function pname(p)
    if p.id then return name('x', e.tag, e.k .. '\0' .. p.id) end
    return e.d
  end
  if mode == 's' and not created then
    for _, p in ipairs(parts) do
      if p.id then redis.call('UNLINK', pname(p)) end
    end
    redis.call('UNLINK', e.d)
    parts = {}
  end
  for _, c in ipairs(e.chunks) do
    local last = parts[#parts]
    if last and last.len + c.len <= partSize and (not c.staged or c.len <= mergeMax) then
      local data = c.data
      if c.staged then
        data = redis.call('GET', c.data)
        redis.call('UNLINK', c.data)
      end
      redis.call('APPEND', pname(last), data)
      last.len = last.len + c.len
      if last.id then rewrite = true end
    else
      local p = {id = false, len = c.len}
      if #parts > 0 then
        if not parts[1].id then
          parts[1].id = newID()
          redis.call('RENAME', e.d, pname(parts[1]))
        end
        p.id = newID()
        rewrite = true
      end
      parts[#parts + 1] = p
      if c.staged then
        redis.call('RENAME', c.data, pname(p))
        redis.call('PERSIST', pname(p))
      else
        redis.call('SET', pname(p), c.data)
      end
    end
  end
  if rewrite then
    redis.call('DEL', e.d)
    local m = {}
    for _, p in ipairs(parts) do
      m[#m + 1] = p.len .. ':' .. p.id
      if #m == 1000 then
        redis.call('RPUSH', e.d, unpack(m))
        m = {}
      end
    end
    if #m > 0 then redis.call('RPUSH', e.d, unpack(m)) end
  end
  if created then
    for _, p in ipairs(parents(e.k)) do redis.call('INCR', name('c', e.tag, p)) end
  end
end
return {'ok'}
`)

// deleteScript deletes keys with all their parts and updates the counts of
// their tuple prefixes, atomically.
//
//	KEYS[i]  the data name of the i-th key
//	ARGV     namespace, then for each key: key, hash tag
//
// It returns how many of the keys existed.
var deleteScript = redis.NewScript(`
local ns = ARGV[1]
local function name(kind, tag, rest) return ns .. ':' .. kind .. tag .. rest end
local n = 0
for i = 1, #KEYS do
  local d, k, tag = KEYS[i], ARGV[2 * i], ARGV[2 * i + 1]
  local t = redis.call('TYPE', d)['ok']
  if t ~= 'none' then
    if t == 'list' then
      for _, m in ipairs(redis.call('LRANGE', d, 0, -1)) do
        local id = string.match(m, '^%d+:(.+)$')
        if id then redis.call('UNLINK', name('x', tag, k .. '\0' .. id)) end
      end
    end
    redis.call('UNLINK', d)
    local j = 1
    while true do
      local s = string.find(k, '/', j, true)
      if not s then break end
      local c = name('c', tag, string.sub(k, 1, s - 1))
      if redis.call('DECR', c) <= 0 then redis.call('DEL', c) end
      j = s + 1
    end
    n = n + 1
  end
end
return n
`)

// fastScript brackets the plain APPENDs of an Append's fast path (see
// appendFast), which never pass values through Lua: Lua hashes every byte of
// every string it is given, which costs Redis more than the APPENDs
// themselves. One MULTI … EXEC holds, for one unit,
//
//	EVAL fastScript (step "pre")   checks the unit and commits its bookkeeping
//	APPEND name chunk …            the values
//	EVALSHA fastScript (step "post")  undoes the APPENDs if "pre" refused
//
// "pre" is sent as EVAL, with its source, so it runs even on a server that
// lacks the script (a new master after a failover): the APPENDs never run
// unchecked. It caches the script for "post".
//
// Step "pre" checks, as writeScript does, that the operation was not applied
// yet and that each key is a string that stays within a part or is new and
// conflicts with no stored key, then records the operation and counts the new
// keys. If any check fails, it moves the unit's existing data names aside (a
// RENAME: no bytes are copied) under a guard name, so that the APPENDs land
// in fresh strings, and returns its verdict: {"dup"}, {"conflict", key,
// other}, or {"slow"} for a unit the script path must write (a key in parts
// or growing past a part, or a data name that holds what the store never
// writes). Step "post" then deletes the fresh strings and moves the data
// names back; after a "pre" that passed, it finds no guard and does nothing.
//
//	KEYS[i]  the data name of the i-th key
//	ARGV     "pre", namespace, operation id, milliseconds to remember the
//	         operation, part size, then for each key: key, hash tag, bytes
//	         appended; or "post", namespace, operation id, then for each
//	         key: hash tag.
var fastScript = redis.NewScript(luaParents + `
local step, ns, opid = ARGV[1], ARGV[2], ARGV[3]
local function name(kind, tag, rest) return ns .. ':' .. kind .. tag .. rest end
if step == 'post' then
  local guard = name('s', ARGV[4], opid .. '.g')
  if redis.call('EXISTS', guard) == 0 then return {'ok'} end
  for i, d in ipairs(KEYS) do
    redis.call('UNLINK', d)
    local held = name('s', ARGV[3 + i], opid .. '.h' .. i)
    if redis.call('EXISTS', held) == 1 then redis.call('RENAME', held, d) end
  end
  redis.call('DEL', guard)
  return {'undone'}
end

local opTTL, partSize = ARGV[4], tonumber(ARGV[5])
local entries = {}
for i = 1, #KEYS do
  local a = 3 + 3 * i
  entries[i] = {d = KEYS[i], k = ARGV[a], tag = ARGV[a + 1], n = tonumber(ARGV[a + 2])}
end
local tag1 = entries[1].tag

local function refuse(...)
  redis.call('SET', name('s', tag1, opid .. '.g'), '1', 'PX', opTTL)
  for i, e in ipairs(entries) do
    if redis.call('EXISTS', e.d) == 1 then redis.call('RENAME', e.d, name('s', e.tag, opid .. '.h' .. i)) end
  end
  return {...}
end


local applied = name('o', tag1, opid)
if redis.call('EXISTS', applied) == 1 then return refuse('dup') end
for _, e in ipairs(entries) do
  local len = redis.pcall('STRLEN', e.d)
  if type(len) ~= 'number' then return refuse('slow') end
  if len == 0 and redis.call('EXISTS', e.d) == 0 then
    e.created = true
    for _, p in ipairs(parents(e.k)) do
      if redis.call('EXISTS', name('d', e.tag, p)) == 1 then return refuse('conflict', e.k, p) end
    end
    if redis.call('EXISTS', name('c', e.tag, e.k)) == 1 then return refuse('conflict', e.k, e.k .. '/...') end
  end
  if len + e.n > partSize then return refuse('slow') end
end
redis.call('SET', applied, '1', 'PX', opTTL)
for _, e in ipairs(entries) do
  if e.created then
    for _, p in ipairs(parents(e.k)) do redis.call('INCR', name('c', e.tag, p)) end
  end
end
return {'ok'}
`)
