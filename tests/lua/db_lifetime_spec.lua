-- db_lifetime_spec.lua — DB handles, snapshots and scan iterators: released
-- on break, on errors, on <close> and by the garbage collector; a DB closes
-- its children first and is kept alive by them; a snapshot closes the
-- iterators opened through it.
local h = require "helper"
local lsmlog = h.lsmlog

local function open(opts, dir)
   dir = dir or h.tmpdir()
   return assert(lsmlog.open_db(dir, opts)), dir
end

local function full_gc()
   collectgarbage()
   collectgarbage()
end

describe("scan iterators", function()
   local db, dir
   before_each(function()
      db, dir = open()
      db:write { { "put", "a", "1" }, { "put", "b", "2" }, { "put", "c", "3" }, { "put", "d", "4" } }
   end)
   after_each(function() db:close() end)

   it("are released by break", function()
      local f, _, _, it = db:scan()
      for k in f, nil, nil, it do
         if k == "b" then break end
      end
      assert.are.equal("closed iterator", lsmlog.type(it))
      local g, _, _, it2 = db:scan { reverse = true }
      for _ in g, nil, nil, it2 do break end
      assert.are.equal("closed iterator", lsmlog.type(it2))
   end)

   it("are released when the loop body raises", function()
      local f, _, _, it = db:scan()
      local ok = pcall(function()
         for _ in f, nil, nil, it do error("boom") end
      end)
      assert.is_false(ok)
      assert.are.equal("closed iterator", lsmlog.type(it))
   end)

   it("are released at the end of the data", function()
      local f, _, _, it = db:scan()
      for _ = 1, 4 do f() end
      assert.are.equal("iterator", lsmlog.type(it))
      assert.is_nil(f())
      assert.are.equal("closed iterator", lsmlog.type(it))
   end)

   it("left open are closed by the DB's close, which succeeds", function()
      local f1, _, _, it1 = db:scan()
      local _, _, _, it2 = db:scan { prefix = "c" }
      f1()
      assert.is_true(db:close())
      assert.are.equal("closed iterator", lsmlog.type(it1))
      assert.are.equal("closed iterator", lsmlog.type(it2))
      open(nil, dir):close() -- the lock was released
   end)

   it("are closed by the garbage collector when unreferenced", function()
      local weak = setmetatable({}, { __mode = "v" })
      for i = 1, 200 do
         local f, _, _, it = db:scan()
         f()
         weak[i] = it
      end
      full_gc()
      assert.is_nil(next(weak))
      assert.is_true(db:close())
   end)

   it("keep their DB alive", function()
      local f = db:scan()
      db = nil -- luacheck: ignore
      full_gc()
      assert.are.equal("a", (f()))
      assert.are.equal("b", (f()))
      db = open({ readonly = true }, dir) -- for after_each
   end)

   it("pin what they read: compactions and new writes do not disturb them", function()
      local f = db:scan()
      assert.are.equal("a", (f()))
      db:delete("b")
      db:compact()
      db:put("bb", "x")
      assert.are.equal("b", (f()))
      assert.are.equal("c", (f()))
   end)

   it("close on <close>", function()
      local iter
      do
         local _, _, _, it <close> = db:scan()
         iter = it
      end
      assert.are.equal("closed iterator", lsmlog.type(iter))
   end)
end)

describe("snapshots", function()
   local db, dir
   before_each(function()
      db, dir = open()
      db:put("a", "1")
   end)
   after_each(function() db:close() end)

   it("close on <close>", function()
      local s
      do
         local snap <close> = db:snapshot()
         s = snap
         assert.are.equal("1", snap:get("a"))
      end
      assert.are.equal("closed snapshot", lsmlog.type(s))
   end)

   it("left open are closed by the DB's close, which succeeds", function()
      local s1, s2 = db:snapshot(), db:snapshot()
      local f = s1:scan()
      f()
      assert.is_true(db:close())
      assert.are.equal("closed snapshot", lsmlog.type(s1))
      assert.are.equal("closed snapshot", lsmlog.type(s2))
      open(nil, dir):close()
   end)

   it("are closed by the garbage collector when unreferenced", function()
      local weak = setmetatable({}, { __mode = "v" })
      for i = 1, 200 do weak[i] = db:snapshot() end
      full_gc()
      assert.is_nil(next(weak))
   end)

   it("keep their DB alive", function()
      local snap = db:snapshot()
      db = nil -- luacheck: ignore
      full_gc()
      assert.are.equal("1", snap:get("a"))
      snap:close()
      db = open({ readonly = true }, dir)
   end)

   it("are kept alive by their iterators", function()
      local db2 = db
      local f = (function()
         local snap = db2:snapshot()
         return snap:scan()
      end)()
      db:put("a", "changed")
      full_gc()
      local k, v = f()
      assert.are.same({ "a", "1" }, { k, v })
   end)

   it("close the iterators opened through them, and no others", function()
      local snap = db:snapshot()
      local _, _, _, mine = snap:scan()
      local _, _, _, also_mine = db:scan { snapshot = snap }
      local f, _, _, theirs = db:scan()
      snap:close()
      assert.are.equal("closed iterator", lsmlog.type(mine))
      assert.are.equal("closed iterator", lsmlog.type(also_mine))
      assert.are.equal("iterator", lsmlog.type(theirs))
      assert.are.equal("a", (f()))
   end)
end)

describe("DB handles", function()
   it("close on <close>, with their children", function()
      local dir = h.tmpdir()
      local it, snap
      do
         local db <close> = open(nil, dir)
         db:put("a", "1")
         snap = db:snapshot()
         local _
         _, _, _, it = db:scan()
      end
      assert.are.equal("closed snapshot", lsmlog.type(snap))
      assert.are.equal("closed iterator", lsmlog.type(it))
      open(nil, dir):close()
   end)

   it("are closed by the garbage collector, releasing the lock", function()
      local dir = h.tmpdir()
      do
         local db = open(nil, dir)
         db:put("a", "1")
         db:snapshot()
         db:scan()
      end
      full_gc()
      local db = open(nil, dir)
      assert.are.equal("1", db:get("a"))
      db:close()
   end)

   it("collected with their children in the same cycle close cleanly", function()
      local dir = h.tmpdir()
      for _ = 1, 20 do
         local db = open(nil, dir)
         db:put("k", "v")
         local snap = db:snapshot()
         local f = snap:scan()
         f()
         db:scan { snapshot = snap }
         db = nil -- luacheck: ignore
         snap = nil -- luacheck: ignore
         f = nil -- luacheck: ignore
         full_gc()
      end
      open(nil, dir):close()
   end)
end)
