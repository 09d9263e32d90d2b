-- process_spec.lua — other processes: a writer killed with SIGKILL keeps what
-- it acknowledged, tails follow a writer in another process, and Ctrl-C
-- (SIGINT) stops a tail that waits forever.
local h = require "helper"
local lsmlog = h.lsmlog

-- SEED=n replays the random choices (kill times still depend on the clock);
-- CRASH_DEBUG=1 prints, per round, the last acknowledged offset and the end
-- found after the kill.
local SEED = tonumber(os.getenv("SEED") or "") or os.time()
print(("process_spec: SEED=%d"):format(SEED))

local BASE_TS = 1600000000000
local SEGMENT_BYTES = 65536

-- The child appends forever: single records and batches whose values are a
-- pure function of their offset, writing the last acknowledged offset to a
-- file after every call (one write() per line, so a kill cannot tear a line;
-- a file, not a pipe, so that the child never waits for the parent and the
-- kill lands in the middle of appends).
local WRITER = [[
local lsmlog = require "lsmlog"
local dir, durability, seed, acks = arg[1], arg[2], tonumber(arg[3]), arg[4]
local function value_for(off)
   return ("%d:"):format(off) .. string.rep(string.char(off % 256), off % 37) .. "\0end"
end
local out = assert(io.open(acks, "w"))
out:setvbuf("line")
io.stdout:setvbuf("line")
local log = assert(lsmlog.open_log(dir, { durability = durability, segment_bytes = ]] .. SEGMENT_BYTES .. [[ }))
local nxt = log:end_offset()
print("start " .. nxt)
math.randomseed(seed)
while true do
   local n = math.random(1, 5)
   local off
   if n == 1 then
      off = assert(log:append(value_for(nxt), ]] .. BASE_TS .. [[ + nxt))
   else
      local t = {}
      for i = 1, n do t[i] = value_for(nxt + i - 1) end
      off = assert(log:append_batch(t, ]] .. BASE_TS .. [[ + nxt))
   end
   assert(off == nxt, "offset " .. off .. " where " .. nxt .. " was expected")
   nxt = nxt + n
   out:write(nxt - 1, "\n")
end
]]

-- The last whole line of the acknowledgements file, as a number.
local function last_ack(path, default)
   local f = assert(io.open(path, "rb"))
   local data = f:read("a")
   f:close()
   local last = data:match("(%d+)\n$") or data:match("(%d+)\n%d*$")
   return last and tonumber(last) or default
end

local function check_log(dir, acked, durable)
   local log = assert(lsmlog.open_log(dir, { segment_bytes = SEGMENT_BYTES }))
   local stop = log:end_offset()
   if durable then
      assert.is_true(stop > acked, ("acknowledged offset %d is gone (end %d)"):format(acked, stop))
   end
   local expect = 0
   for off, v, ts in log:records() do -- plain checks: busted's asserts are slow for 100k records
      if off ~= expect then error(("offset %d where %d was expected"):format(off, expect)) end
      if v ~= h.value_for(off) then error(("offset %d holds a wrong value %q"):format(off, v)) end
      if ts < BASE_TS or ts > BASE_TS + off then error(("offset %d has timestamp %d"):format(off, ts)) end
      expect = off + 1
   end
   assert.are.equal(stop, expect)
   assert.are.equal(stop, log:verify())
   log:close()
   return stop
end

describe("a writer killed with SIGKILL", function()
   local script = h.script(WRITER)
   local rounds = { os = 4, sync = 3, buffered = 2 }
   for _, durability in ipairs { "os", "sync", "buffered" } do
      it("keeps every acknowledged record (durability " .. durability .. ")", function()
         local dir = h.tmpdir()
         local durable = durability ~= "buffered"
         math.randomseed(SEED)
         local stop, acked = 0, -1
         for round = 1, rounds[durability] do
            local acks = h.tmpdir() .. ".acks"
            local p, pid = h.spawn(script, dir, durability, SEED + round, acks)
            local first = p:read("l")
            assert.are.equal("start " .. stop, first)
            h.sleep(("%.3f"):format(0.01 + math.random() * 0.12)) -- appending meanwhile
            h.kill(pid, "KILL")
            local rest = p:read("a")
            assert.are.equal("", rest, "the child said: " .. rest)
            acked = last_ack(acks, acked)
            local ok, how, sig = p:close()
            assert.is_nil(ok)
            assert.are.same({ "signal", 9 }, { how, sig })
            stop = check_log(dir, acked, durable)
            if os.getenv("CRASH_DEBUG") then print(durability, round, "acked", acked, "end", stop) end
            if durable then assert.is_true(stop > acked) end
         end
      end)
   end
end)

describe("tailing across processes", function()
   it("a read-only tail here follows a writer in a child", function()
      local dir = h.tmpdir()
      assert(lsmlog.open_log(dir)):close()
      local ro = assert(lsmlog.open_log(dir, { readonly = true }))
      local child = h.script [[
         local lsmlog = require "lsmlog"
         local log = assert(lsmlog.open_log(arg[1]))
         for i = 0, 19 do
            log:append("m" .. i)
            if i % 5 == 0 then -- a pause, without a command that LeakSanitizer would check
               local t = os.clock() + 0.05
               while os.clock() < t do end
            end
         end
         log:close()
      ]]
      local p = h.spawn(child, dir)
      local got = {}
      for off, v in ro:tail(0, 5) do
         got[#got + 1] = v
         assert.are.equal("m" .. off, v)
         if off == 19 then break end
      end
      assert.are.equal(20, #got)
      assert.are.equal("", p:read("a"))
      assert.is_true(p:close())
      assert.is_true(ro:close())
   end)

   it("a read-only tail in a child follows this writer", function()
      local log, dir = assert(lsmlog.open_log(h.tmpdir())), nil
      dir = tostring(log):match('"(.*)"')
      local child = h.script [[
         local lsmlog = require "lsmlog"
         io.stdout:setvbuf("line")
         local ro = assert(lsmlog.open_log(arg[1], { readonly = true }))
         print("ready")
         for off, v in ro:tail(0, 1.5) do print(off, v) end
         print("end")
      ]]
      local p = h.spawn(child, dir)
      assert.are.equal("ready", p:read("l"))
      for i = 0, 9 do
         log:append("w" .. i)
         if i == 4 then h.sleep(0.2) end
      end
      local out = p:read("a")
      assert.is_true(p:close())
      local want = {}
      for i = 0, 9 do want[#want + 1] = ("%d\tw%d\n"):format(i, i) end
      assert.are.equal(table.concat(want) .. "end\n", out)
      log:close()
   end)

   it("readers see a batch whole or not at all", function()
      local dir = h.tmpdir()
      assert(lsmlog.open_log(dir)):close()
      local child = h.script [[
         local lsmlog = require "lsmlog"
         local log = assert(lsmlog.open_log(arg[1]))
         for i = 1, 300 do
            local t = {}
            for j = 1, 7 do t[j] = ("%d/%d"):format(i, j) end
            log:append_batch(t)
         end
         log:close()
      ]]
      local ro = assert(lsmlog.open_log(dir, { readonly = true }))
      local p = h.spawn(child, dir)
      local seen, idle = 0, 0
      while seen < 300 * 7 do
         local stop = ro:end_offset()
         assert.are.equal(0, stop % 7)
         seen = stop
         if not ro:wait(stop, 0.5) then idle = idle + 1 end
         assert.is_true(idle < 20, "the writer stopped at " .. seen)
      end
      assert.is_true(p:close())
      ro:close()
   end)
end)

describe("Ctrl-C", function()
   it("stops a tail that waits forever (lua.c's SIGINT hook)", function()
      local dir = h.tmpdir()
      local child = h.script [[
         local lsmlog = require "lsmlog"
         io.stdout:setvbuf("line")
         local log = assert(lsmlog.open_log(arg[1]))
         print("ready")
         for off in log:tail() do print(off) end
         print("not reached")
      ]]
      local p, pid = h.spawn(child, dir)
      assert.are.equal("ready", p:read("l"))
      h.sleep(0.3)
      local t0 = h.now_ms()
      h.kill(pid, "INT")
      local out = p:read("a")
      local ok, how, code = p:close()
      assert.is_true(h.now_ms() - t0 < 3000)
      assert.matches("interrupted!", out)
      assert.is_nil(out:find("not reached", 1, true))
      assert.is_nil(ok)
      assert.are.same({ "exit", 1 }, { how, code })
      -- the interrupted child's lock went with it
      local log = assert(lsmlog.open_log(dir))
      log:close()
   end)

   it("stops log:wait with no timeout", function()
      local dir = h.tmpdir()
      local child = h.script [[
         local lsmlog = require "lsmlog"
         io.stdout:setvbuf("line")
         local log = assert(lsmlog.open_log(arg[1], { readonly = false }))
         print("ready")
         log:wait(0)
         print("not reached")
      ]]
      local p, pid = h.spawn(child, dir)
      assert.are.equal("ready", p:read("l"))
      h.sleep(0.3)
      h.kill(pid, "INT")
      local out = p:read("a")
      local _, how, code = p:close()
      assert.matches("interrupted!", out)
      assert.are.same({ "exit", 1 }, { how, code })
   end)
end)
