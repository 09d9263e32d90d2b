-- lifetime_spec.lua — handles and iterators: released on break, on errors,
-- on <close> and by the garbage collector; a log closes its iterators first
-- and is kept alive by them.
local h = require "helper"
local lsmlog = h.lsmlog

local function open(opts, dir)
   dir = dir or h.tmpdir()
   return assert(lsmlog.open_log(dir, opts)), dir
end

local function full_gc()
   collectgarbage()
   collectgarbage()
end

describe("iterators", function()
   local log, dir
   before_each(function()
      log, dir = open()
      log:append_batch { "a", "b", "c", "d" }
   end)
   after_each(function() log:close() end)

   it("are released by break, so the log closes right after", function()
      local iter
      for off, _, _ in log:records() do
         if off == 1 then break end
      end
      for off in log:tail(0, 5) do
         if off == 2 then break end
      end
      local f, _, _, it = log:records()
      iter = it
      for _ in f, nil, nil, it do break end
      assert.are.equal("closed iterator", lsmlog.type(iter))
      -- the C core refuses to close a log with open iterators: this shows
      -- that none is left open
      assert.is_true(log:close())
      assert.are.equal("closed log", lsmlog.type(log))
   end)

   it("are released when the loop body raises", function()
      local _, _, _, it = log:records()
      local ok = pcall(function()
         for _ in log:records() do error("boom") end
      end)
      assert.is_false(ok)
      it:close()
      assert.is_true(log:close())
   end)

   it("are released at the end of the data", function()
      local f, _, _, it = log:records()
      for _ = 1, 4 do f() end
      assert.are.equal("iterator", lsmlog.type(it))
      assert.is_nil(f())
      assert.are.equal("closed iterator", lsmlog.type(it))
   end)

   it("left open are closed by the log's close", function()
      local f1, _, _, it1 = log:records()
      local f2, _, _, it2 = log:tail(0)
      f1()
      f2()
      assert.is_true(log:close())
      assert.are.equal("closed iterator", lsmlog.type(it1))
      assert.are.equal("closed iterator", lsmlog.type(it2))
      local again = open(nil, dir)
      again:close()
   end)

   it("are closed by the garbage collector when unreferenced", function()
      for _ = 1, 100 do
         local f = log:records()
         f()
      end
      full_gc()
      assert.is_true(log:close())
   end)

   it("keep their log alive", function()
      local d = h.tmpdir()
      local f = (function()
         local l = assert(lsmlog.open_log(d))
         l:append_batch { "x", "y" }
         return l:records()
      end)()
      full_gc()
      assert.are.equal(0, (f())) -- the log was not collected under it
      h.fails(lsmlog.E_LOCKED, nil, lsmlog.open_log(d))
      assert.are.equal(1, (f()))
      f = nil
      full_gc()
      local again = assert(lsmlog.open_log(d)) -- log and iterator were collected
      again:close()
   end)

   it("survive in a suspended coroutine, and raise after the log closed", function()
      local co = coroutine.wrap(function()
         for off in log:records() do coroutine.yield(off) end
         return "done"
      end)
      assert.are.equal(0, co())
      assert.are.equal(1, co())
      log:close()
      h.raises("attempt to use an iterator of a closed log", co)
   end)

   it("in a coroutine that is dropped are closed by the collector", function()
      do
         local co = coroutine.wrap(function()
            for off in log:records() do coroutine.yield(off) end
         end)
         co()
      end
      full_gc()
      assert.is_true(log:close())
   end)

   it("can be closed explicitly", function()
      local f, _, _, it = log:records()
      f()
      it:close()
      assert.is_nil(f())
      assert.is_true(log:close())
   end)

   it("many at once", function()
      local fs = {}
      for i = 1, 200 do fs[i] = log:records() end
      for i = 1, 200 do assert.are.equal(0, (fs[i]())) end
      assert.is_true(log:close())
      for i = 1, 200 do h.raises("closed log", fs[i]) end
   end)
end)

describe("logs", function()
   it("are closed by the garbage collector, releasing the writer lock", function()
      local dir = h.tmpdir()
      do
         local log = assert(lsmlog.open_log(dir))
         log:append("x")
      end
      full_gc()
      local log = assert(lsmlog.open_log(dir))
      assert.are.equal(1, log:end_offset())
      log:close()
   end)

   it("with open iterators are collected together", function()
      local dir = h.tmpdir()
      do
         local log = assert(lsmlog.open_log(dir))
         log:append_batch { "x", "y" }
         local f1 = log:records()
         local f2 = log:tail(0, 0)
         f1()
         f2()
      end
      full_gc()
      local log = assert(lsmlog.open_log(dir))
      log:close()
   end)

   it("close on <close> with a live iterator", function()
      local dir = h.tmpdir()
      local f
      do
         local log <close> = assert(lsmlog.open_log(dir))
         log:append("x")
         f = log:records()
      end
      h.raises("attempt to use an iterator of a closed log", f)
      local log = assert(lsmlog.open_log(dir))
      log:close()
   end)

   it("close on <close> when the block raises", function()
      local dir = h.tmpdir()
      pcall(function()
         local log <close> = assert(lsmlog.open_log(dir))
         error("boom")
      end)
      local log = assert(lsmlog.open_log(dir))
      log:close()
   end)

   it("survive many open/close rounds", function()
      local dir = h.tmpdir()
      for i = 1, 100 do
         local log = assert(lsmlog.open_log(dir))
         assert.are.equal(i - 1, log:append("v"))
         if i % 2 == 0 then log:close() else log = nil; full_gc() end
      end
   end)
end)

describe("a Lua state", function()
   it("closing with open logs and iterators in a child process exits cleanly", function()
      local dir = h.tmpdir()
      local child = h.script [[
         local lsmlog = require "lsmlog"
         local log = assert(lsmlog.open_log(arg[1], { durability = "buffered" }))
         log:append_batch { "a", "b" }
         local f = log:records()
         f()
         _G.keep = { log, f, log:tail(0) }
         print("ok")
         os.exit(0, true) -- closes the state: the finalizers run
      ]]
      local p = h.spawn(child, dir)
      local out = p:read("a")
      local ok = p:close()
      assert.are.equal("ok\n", out)
      assert.is_true(ok)
      local log = assert(lsmlog.open_log(dir))
      assert.are.equal(2, log:end_offset()) -- buffered records were flushed by __gc
      log:close()
   end)
end)
