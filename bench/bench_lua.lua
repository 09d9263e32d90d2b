#!/usr/bin/env lua5.4
--[[
bench_lua.lua — the lsmlog Log from Lua 5.4 against SQLite through LuaSQL
(require "luasql.sqlite3", Debian's lua-sql-sqlite3), in one run.

  append_batch  N strings of 100 bytes in tables of 1,000: log:append_batch(t);
                LuaSQL: one transaction per 1,000 rows (setautocommit(false),
                one conn:execute("INSERT ...") per row, conn:commit()).
                Timed from open to close.
  records       a full scan with a fresh handle: for off, v, ts in
                log:records(); LuaSQL: cur:fetch() over SELECT off, ts, v
                ORDER BY off. Timed from the first step to the last.

LuaSQL 2.6 has no prepared statements: each row is an SQL string, built in
the timed loop (that is what inserting with LuaSQL costs). So that no value
needs escaping, the values are random letters and digits (100 bytes each,
the same strings for both sides) — in LuaSQL's favour. SQLite runs with
journal_mode=WAL, synchronous=OFF (commits written to the WAL, no fsync), the
Log with durability "os" (each batch handed to the OS, no fsync).

Goals (printed with a verdict): append_batch >= 10x LuaSQL's insert rate,
records() >= 3x its scan rate, and a per-record cost under 300 ns for each.

Clock: Lua has no wall clock finer than a second, so the time is read with
`date +%s%N` around each timed part (about 1 ms of error, under 1% at the
default N). Usage (LUA_CPATH must find lsmlog.so; scripts/bench.sh sets it):

  lua5.4 bench/bench_lua.lua [--n N] [--reps R] [--dir DIR] [--json FILE]
]]

local BATCH = 1000
local VALUE_LEN = 100

-- ---- arguments ----------------------------------------------------------------

local opts = { n = 1000000, reps = 3, dir = "/tmp", json = nil }
do
  local i = 1
  while i <= #arg do
    local a, v = arg[i], arg[i + 1]
    if a == "--n" then opts.n = math.tointeger(tonumber(v))
    elseif a == "--reps" then opts.reps = math.tointeger(tonumber(v))
    elseif a == "--dir" then opts.dir = v
    elseif a == "--json" then opts.json = v
    else
      io.stderr:write("usage: lua5.4 bench/bench_lua.lua [--n N] [--reps R] [--dir DIR] [--json FILE]\n")
      os.exit(2)
    end
    i = i + 2
  end
  if not opts.n or opts.n < BATCH or not opts.reps or opts.reps < 1 then
    io.stderr:write("bench_lua: --n must be >= 1000 and --reps >= 1\n")
    os.exit(2)
  end
end

-- ---- helpers -------------------------------------------------------------------

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out
end

local function now()
  return tonumber(sh("date +%s%N")) / 1e9
end

local function peak_rss_reset()
  local f = io.open("/proc/self/clear_refs", "w")
  if not f then return false end
  local ok = f:write("5")
  f:close()
  return ok ~= nil
end

local function proc_field(file, field)
  local f = io.open(file)
  if not f then return nil end
  for line in f:lines() do
    local v = line:match("^" .. field .. ":%s*(%d+)")
    if v then f:close(); return tonumber(v) end
  end
  f:close()
  return nil
end

local function du(path)
  return tonumber(sh("du -s -B1 '" .. path .. "' 2>/dev/null | cut -f1")) or 0
end

local function median(t)
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  local n = #s
  if n % 2 == 1 then return s[(n + 1) // 2] end
  return (s[n // 2] + s[n // 2 + 1]) / 2
end

-- Runs fn (which returns its timed seconds) between the meters.
local function measure(fn, path)
  collectgarbage("collect")
  peak_rss_reset()
  local wb0 = proc_field("/proc/self/io", "write_bytes")
  local secs = fn()
  local wb1 = proc_field("/proc/self/io", "write_bytes")
  local hwm = proc_field("/proc/self/status", "VmHWM")
  return {
    seconds = secs,
    peak_rss = hwm and hwm * 1024 or nil,
    write_bytes = (wb0 and wb1) and (wb1 - wb0) or nil,
    disk_bytes = du(path),
  }
end

-- ---- data ------------------------------------------------------------------------

math.randomseed(tonumber(os.getenv("SEED") or "") or 0x6c736d6c6f67)
local POOL = math.min(opts.n, 1000000)
local values = {}
do
  local alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
  local chars = {}
  for i = 1, POOL + VALUE_LEN do
    local c = math.random(1, #alnum)
    chars[i] = alnum:sub(c, c)
  end
  local big = table.concat(chars)
  -- 101 and POOL are coprime for POOL = 10^k: every value starts elsewhere.
  for i = 0, POOL - 1 do
    local p = (i * 101) % POOL + 1
    values[i + 1] = big:sub(p, p + VALUE_LEN - 1)
  end
end
local batches = {}
for b = 0, (opts.n - 1) // BATCH do
  local t = {}
  for j = 1, math.min(BATCH, opts.n - b * BATCH) do
    t[j] = values[(b * BATCH + j - 1) % POOL + 1]
  end
  batches[b + 1] = t
end

local base = sh("mktemp -d '" .. opts.dir .. "/lsmlog-luabench-XXXXXX'"):gsub("%s+$", "")
assert(base ~= "", "mktemp failed")

-- ---- stores ------------------------------------------------------------------------

local stores = {}
local skipped = {}

local ok_lsm, lsmlog = pcall(require, "lsmlog")
if ok_lsm then
  stores[#stores + 1] = {
    name = "lsmlog (Lua)",
    version = lsmlog.version,
    settings = 'durability "os": each batch handed to the OS with one write, no fsync',
    write = function(path)
      local t0 = now()
      local log = assert(lsmlog.open_log(path, { durability = "os" }))
      for b = 1, #batches do
        log:append_batch(batches[b])
      end
      assert(log:close())
      return now() - t0
    end,
    scan = function(path)
      local log = assert(lsmlog.open_log(path, { readonly = true }))
      local count = 0
      local t0 = now()
      for _off, _v, _ts in log:records() do
        count = count + 1
      end
      local secs = now() - t0
      assert(log:close())
      return secs, count
    end,
  }
else
  skipped[#skipped + 1] = { peer = "lsmlog (Lua)", reason = "require 'lsmlog' failed: " .. tostring(lsmlog) }
end

local ok_sql, luasql = pcall(require, "luasql.sqlite3")
if ok_sql then
  local env = assert(luasql.sqlite3())
  local function connect(path)
    os.execute("mkdir -p '" .. path .. "'")
    local conn = assert(env:connect(path .. "/log.sqlite"))
    for _, sql in ipairs {
      "PRAGMA journal_mode=WAL", "PRAGMA synchronous=OFF",
      "CREATE TABLE IF NOT EXISTS log(off INTEGER PRIMARY KEY, ts INTEGER NOT NULL, v BLOB NOT NULL)",
    } do
      local r = assert(conn:execute(sql))
      if type(r) == "userdata" then r:close() end
    end
    return conn
  end
  local sqlite_version = "?"
  do
    local conn = assert(env:connect(":memory:"))
    local cur = assert(conn:execute("SELECT sqlite_version()"))
    sqlite_version = cur:fetch() or "?"
    cur:close()
    conn:close()
  end
  stores[#stores + 1] = {
    name = "LuaSQL sqlite3",
    version = (luasql._VERSION or "LuaSQL") .. ", SQLite " .. sqlite_version,
    settings = "journal_mode=WAL, synchronous=OFF (commits written to the WAL, no fsync); one transaction per 1,000 rows; one SQL string per row (no prepared statements in LuaSQL 2.6)",
    write = function(path)
      local t0 = now()
      local conn = connect(path)
      conn:setautocommit(false)
      local fmt = string.format
      local ts = 1700000000000
      for b = 1, #batches do
        local t = batches[b]
        for j = 1, #t do
          assert(conn:execute(fmt("INSERT INTO log(ts, v) VALUES(%d, '%s')", ts + b, t[j])))
        end
        assert(conn:commit())
      end
      conn:close()
      return now() - t0
    end,
    scan = function(path)
      local conn = connect(path)
      local count = 0
      local t0 = now()
      local cur = assert(conn:execute("SELECT off, ts, v FROM log ORDER BY off"))
      local off = cur:fetch()
      while off do
        count = count + 1
        off = cur:fetch()
      end
      local secs = now() - t0
      cur:close()
      conn:close()
      return secs, count
    end,
  }
else
  skipped[#skipped + 1] = { peer = "LuaSQL sqlite3", reason = "require 'luasql.sqlite3' failed under " .. _VERSION .. " (Debian: apt-get install lua-sql-sqlite3): " .. tostring(luasql) }
end

-- ---- run ------------------------------------------------------------------------------

local t_start = now()
print(string.format("bench_lua — lsmlog from %s against LuaSQL's SQLite driver (one run)", _VERSION))
print(string.format("  N=%d strings of %d bytes (random letters and digits) in tables of %d; %d runs each,\n" ..
  "  median shown; timed with `date +%%s%%N` (about 1 ms of error)", opts.n, VALUE_LEN, BATCH, opts.reps))
for _, s in ipairs(skipped) do print(string.format("\n%s: skipped: %s", s.peer, s.reason)) end

-- Repetitions outside, stores inside, in alternating order: drift in the
-- machine's load (it is shared) hits both stores alike.
local results = {}
local samples = {}
for _, st in ipairs(stores) do samples[st.name] = { append_batch = {}, records = {} } end
for rep = 1, opts.reps do
  for k = 1, #stores do
    local st = stores[rep % 2 == 1 and k or #stores + 1 - k]
    local runs = samples[st.name]
    io.stderr:write(string.format("  [%s %d/%d]\n", st.name, rep, opts.reps))
    local path = string.format("%s/%s-%d", base, st.name:gsub("%W", "_"), rep)
    os.execute("sync")
    runs.append_batch[rep] = measure(function() return st.write(path) end, path)
    local count
    runs.records[rep] = measure(function()
      local secs
      secs, count = st.scan(path)
      return secs
    end, path)
    if count ~= opts.n then
      io.stderr:write(string.format("bench_lua: %s scan saw %d records, expected %d\n", st.name, count, opts.n))
      os.exit(1)
    end
    os.execute("rm -rf '" .. path .. "'")
  end
end
for _, st in ipairs(stores) do
  local runs = samples[st.name]
  local wl = {}
  for _, w in ipairs { "append_batch", "records" } do
    local col = function(k)
      local t = {}
      for i, r in ipairs(runs[w]) do
        if r[k] == nil then return nil end
        t[i] = r[k]
      end
      return median(t)
    end
    local secs = col("seconds")
    local secs_runs = {}
    for i, r in ipairs(runs[w]) do secs_runs[i] = r.seconds end
    wl[w] = {
      label = w == "append_batch" and "append_batch, tables of 1,000 (open..close)" or "records() full scan, fresh handle",
      ops = opts.n, seconds = secs, ops_per_s = opts.n / secs, us_per_op = secs * 1e6 / opts.n,
      mb_per_s = opts.n * VALUE_LEN / secs / 1e6, peak_rss_bytes = col("peak_rss"),
      write_bytes = col("write_bytes"), disk_bytes = col("disk_bytes"), runs_seconds = secs_runs,
    }
  end
  results[st.name] = { peer = st.name, status = "ran", version = st.version, settings = st.settings, workloads = wl }
  print(string.format("\n%s %s — %s", st.name, st.version, st.settings))
  print(string.format("  %-46s %12s %9s %8s %9s %10s %9s", "workload", "ops/s", "ns/op", "MB/s", "peak RSS", "written", "on disk"))
  for _, w in ipairs { "append_batch", "records" } do
    local r = wl[w]
    print(string.format("  %-46s %12.0f %9.1f %8.1f %5.0f MiB %6.1f MiB %5.0f MiB", r.label, r.ops_per_s,
      r.us_per_op * 1e3, r.mb_per_s, (r.peak_rss_bytes or 0) / 2 ^ 20, (r.write_bytes or 0) / 2 ^ 20,
      r.disk_bytes / 2 ^ 20))
  end
  io.stdout:flush()
end
os.execute("rm -rf '" .. base .. "'")

-- ---- goals ------------------------------------------------------------------------------

local goals = {}
local lsm, sql = results["lsmlog (Lua)"], results["LuaSQL sqlite3"]
local function goal(text, value, target, unit, lower_is_better)
  local met = nil
  if value then
    if lower_is_better then met = value < target else met = value >= target end
  end
  goals[#goals + 1] = { layer = "Lua", goal = text, value = value, target = target, unit = unit, met = met }
end
if lsm then
  local a, s = lsm.workloads.append_batch, lsm.workloads.records
  goal("append_batch >= 10x LuaSQL sqlite3 inserts (transactions of 1,000)",
    sql and a.ops_per_s / sql.workloads.append_batch.ops_per_s, 10, "x")
  goal("records() scan >= 3x LuaSQL sqlite3 SELECT scan", sql and s.ops_per_s / sql.workloads.records.ops_per_s, 3, "x")
  goal("append_batch per record < 300 ns", a.us_per_op * 1e3, 300, " ns", true)
  goal("records() per record < 300 ns", s.us_per_op * 1e3, 300, " ns", true)
end
print("\ngoals:")
for _, g in ipairs(goals) do
  local verdict = g.met == nil and "n/a (no figure)" or (g.met and "MET" or "NOT MET")
  local val = g.value and string.format("%.2f%s", g.value, g.unit) or "n/a"
  print(string.format("  %-66s %12s (target %s %g%s)  %s", g.goal, val, g.unit == "x" and ">=" or "<", g.target,
    g.unit, verdict))
end
local total = now() - t_start
print(string.format("\ntotal run time %.1f s", total))

-- ---- JSON ------------------------------------------------------------------------------

local function encode(v, ind)
  ind = ind or ""
  local t = type(v)
  if v == nil then return "null"
  elseif t == "boolean" then return tostring(v)
  elseif t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return "null" end
    if math.type(v) == "integer" then return tostring(v) end
    return string.format("%.6g", v)
  elseif t == "string" then
    return '"' .. v:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
  end
  local parts = {}
  if #v > 0 or next(v) == nil then
    for i = 1, #v do parts[i] = encode(v[i], ind .. " ") end
    return "[" .. table.concat(parts, ", ") .. "]"
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do parts[#parts + 1] = ind .. " " .. encode(k) .. ": " .. encode(v[k], ind .. " ") end
  return "{\n" .. table.concat(parts, ",\n") .. "\n" .. ind .. "}"
end

if opts.json then
  local peers = {}
  for _, st in ipairs(stores) do peers[#peers + 1] = results[st.name] end
  for _, s in ipairs(skipped) do peers[#peers + 1] = { peer = s.peer, status = "skipped", reason = s.reason } end
  local f = assert(io.open(opts.json, "w"))
  f:write(encode {
    bench = "bench_lua", layer = "lua", lua = _VERSION,
    params = { n = opts.n, reps = opts.reps, batch = BATCH, value_bytes = VALUE_LEN },
    peers = peers, goals = goals, total_seconds = total,
  }, "\n")
  f:close()
end
