-- db_process_spec.lua — the DB across processes: a writer killed with
-- SIGKILL keeps every batch it acknowledged and leaves no batch in part;
-- read-only handles follow a writer in another process and see its batches
-- whole or not at all.
local h = require "helper"
local lsmlog = h.lsmlog

-- SEED=n replays the random choices (kill times still depend on the clock);
-- CRASH_DEBUG=1 prints, per round, the last acknowledged batch and the last
-- batch found after the kill.
local SEED = tonumber(os.getenv("SEED") or "") or os.time()
print(("db_process_spec: SEED=%d"):format(SEED))

-- Small memtables, so that the kill also lands in flushes and compactions.
local MEMTABLE = 128 * 1024

-- The batch i, a pure function of i: "last" = i, the marker p<i> put and
-- p<i-1> deleted, and 1..5 data keys b<i>/<j> with values of 0..1500 bytes
-- (zero bytes included). After a crash, "last" names the newest batch; every
-- batch up to it must be there whole, and nothing of a later one.
local BATCH = [[
local function nkeys(i) return 1 + i % 5 end
local function key(i, j) return ("b%08d/%d"):format(i, j) end
local function value(i, j)
   return ("%d.%d\0"):format(i, j) .. string.char(i % 256):rep((i * 7 + j * 131) % 1500)
end
local function batch(i)
   local b = { { "put", "last", tostring(i) }, { "put", ("p%08d"):format(i), "" } }
   if i > 1 then b[#b + 1] = { "delete", ("p%08d"):format(i - 1) } end
   for j = 1, nkeys(i) do b[#b + 1] = { "put", key(i, j), value(i, j) } end
   return b
end
]]
local B = assert(load(BATCH .. " return { nkeys = nkeys, key = key, value = value }", "batch", "t",
   { string = string, tostring = tostring }))()

-- The child writes batches forever, appending the number of each batch
-- acknowledged to a file (one write() per line, so a kill cannot tear a
-- line; a file, not a pipe, so the child never waits for the parent).
local WRITER = BATCH .. [[
local lsmlog = require "lsmlog"
local dir, durability, acks = arg[1], arg[2], arg[3]
local out = assert(io.open(acks, "w"))
out:setvbuf("line")
io.stdout:setvbuf("line")
local db = assert(lsmlog.open_db(dir, { durability = durability, memtable_bytes = ]] .. MEMTABLE .. [[ }))
local i = tonumber(db:get("last") or "0")
print("start " .. i)
while true do
   i = i + 1
   assert(db:write(batch(i)))
   out:write(i, "\n")
end
]]

local function last_ack(path, default)
   local f = assert(io.open(path, "rb"))
   local data = f:read("a")
   f:close()
   local last = data:match("(%d+)\n$") or data:match("(%d+)\n%d*$")
   return last and tonumber(last) or default
end

-- Checks the DB holds batches 1..last whole and nothing else; returns last.
local function check_db(dir)
   local db = assert(lsmlog.open_db(dir, { memtable_bytes = MEMTABLE }))
   local last = tonumber(db:get("last") or "0")
   local want = {} -- the expected keys in order, with their values
   for i = 1, last do
      for j = 1, B.nkeys(i) do want[#want + 1] = { B.key(i, j), B.value(i, j) } end
   end
   local n = 0
   -- plain checks: busted's asserts are slow for 10^4 keys
   for k, v in db:scan { prefix = "b" } do
      n = n + 1
      local w = want[n]
      if not w then error(("key %q of a batch past the last one (%d)"):format(k, last)) end
      if k ~= w[1] then error(("key %q where %q was expected (last batch %d)"):format(k, w[1], last)) end
      if v ~= w[2] then error(("key %q holds a wrong value"):format(k)) end
   end
   if n ~= #want then error(("%d data keys where %d were expected (last batch %d)"):format(n, #want, last)) end
   local markers = {}
   for k in db:scan { prefix = "p" } do markers[#markers + 1] = k end
   assert.are.equal(last > 0 and ("p%08d"):format(last) or "", table.concat(markers, ","))
   db:close()
   return last
end

describe("a DB writer killed with SIGKILL", function()
   local script = h.script(WRITER)
   local rounds = { os = 3, sync = 2, buffered = 2 }
   for _, durability in ipairs { "os", "sync", "buffered" } do
      it("keeps every acknowledged batch, and no batch in part (durability " .. durability .. ")", function()
         local dir = h.tmpdir()
         local durable = durability ~= "buffered"
         math.randomseed(SEED)
         local last, acked = 0, 0
         for round = 1, rounds[durability] do
            local acks = h.tmpdir() .. ".acks"
            local p, pid = h.spawn(script, dir, durability, acks)
            assert.are.equal("start " .. last, p:read("l"))
            h.sleep(("%.3f"):format(0.05 + math.random() * 0.25)) -- writing meanwhile
            h.kill(pid, "KILL")
            local rest = p:read("a")
            assert.are.equal("", rest, "the child said: " .. rest)
            local ok, how, sig = p:close()
            assert.is_nil(ok)
            assert.are.same({ "signal", 9 }, { how, sig })
            acked = last_ack(acks, acked)
            last = check_db(dir)
            if os.getenv("CRASH_DEBUG") then print(durability, round, "acked", acked, "last", last) end
            -- a batch may land and the kill come before its acknowledgement
            assert.is_true(last <= acked + 1, ("batch %d found, %d acknowledged"):format(last, acked))
            if durable then
               assert.is_true(last >= acked, ("acknowledged batch %d is gone (last %d)"):format(acked, last))
            end
         end
         assert.is_true(last > 0, "the child wrote nothing")
      end)
   end
end)

describe("read-only DB handles across processes", function()
   it("see a writer's batches whole or not at all", function()
      local dir = h.tmpdir()
      assert(lsmlog.open_db(dir)):close()
      local child = h.script(BATCH .. [[
         local lsmlog = require "lsmlog"
         local db = assert(lsmlog.open_db(arg[1], { memtable_bytes = ]] .. MEMTABLE .. [[ }))
         for i = 1, 400 do
            assert(db:write(batch(i)))
            if i % 50 == 0 then -- a pause, without a command that LeakSanitizer would check
               local t = os.clock() + 0.02
               while os.clock() < t do end
            end
         end
         db:close()
      ]])
      local ro = assert(lsmlog.open_db(dir, { readonly = true }))
      local p = h.spawn(child, dir)
      local last, polls = 0, 0
      while last < 400 do
         polls = polls + 1
         assert.is_true(polls < 20000, "the writer stopped at batch " .. last)
         -- one scan sees one state: the data keys ("b...") and then "last"
         local n, l = 0, 0
         for k, v in ro:scan { stop = "m" } do
            if k == "last" then l = tonumber(v) else n = n + 1 end
         end
         assert.is_true(l >= last, "went back from " .. last .. " to " .. l)
         local want = 0
         for i = 1, l do want = want + B.nkeys(i) end
         assert.are.equal(want, n, "batch " .. l .. " seen in part")
         last = l
      end
      assert.are.equal("", p:read("a"))
      assert.is_true(p:close())
      assert.are.equal(400, check_db(dir))
      ro:close()
   end)

   it("a read-only handle in a child follows this writer", function()
      local dir = h.tmpdir()
      local db = assert(lsmlog.open_db(dir))
      local child = h.script [[
         local lsmlog = require "lsmlog"
         io.stdout:setvbuf("line")
         local ro = assert(lsmlog.open_db(arg[1], { readonly = true }))
         print("ready")
         local want = 0
         while want < 10 do
            local v = ro:get("n")
            if v and tonumber(v) >= want then
               print(v, ro:get("k" .. v))
               want = tonumber(v) + 1
            end
         end
         ro:close()
      ]]
      local p = h.spawn(child, dir)
      assert.are.equal("ready", p:read("l"))
      local lines = {}
      for i = 0, 9 do
         db:write { { "put", "k" .. i, "v" .. i }, { "put", "n", tostring(i) } }
         local line = p:read("l")
         lines[#lines + 1] = line
      end
      assert.is_true(p:close())
      for i = 0, 9 do assert.are.equal(("%d\tv%d"):format(i, i), lines[i + 1]) end
      db:close()
   end)
end)
