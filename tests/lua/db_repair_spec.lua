-- db_repair_spec.lua — a DB table damaged on disk, as Lua sees it: a read
-- that meets the damage fails naming the table, and open_db with
-- repair = true salvages the rest, reports what it set aside, and never
-- returns a wrong value (docs/db.md "Repair"). (repair with readonly is
-- refused: db_misuse_spec.lua.)
local h = require "helper"
local lsmlog = h.lsmlog

local N = 3000

local function value(i)
   return ("%d:"):format(i) .. ("v"):rep(60)
end

-- Every key, value of a full scan; raises what the scan raises.
local function all(db)
   local t, n = {}, 0
   for k, v in db:scan() do
      t[k] = v
      n = n + 1
   end
   return t, n
end

describe("open_db with repair = true", function()
   it("salvages a table with a damaged block and reports it", function()
      local dir = h.tmpdir()
      local db = assert(lsmlog.open_db(dir, { memtable_bytes = 64 * 1024 }))
      for i = 1, N do assert(db:put(("k%06d"):format(i), value(i))) end
      assert.is_true(db:compact()) -- every write in tables
      db:close()
      -- the write-ahead log still holds every write: without it, what the
      -- damage takes is gone for good, and the test sees what repair loses
      h.rmrf(dir .. "/wal")
      local tables = h.ls(dir, "^%d+%.sst$")
      assert.is_true(#tables >= 1)
      local name = tables[#tables]
      h.flip_byte(dir .. "/" .. name, 200) -- in its first data block

      db = assert(lsmlog.open_db(dir))
      local ok, err = pcall(all, db)
      assert.is_false(ok)
      assert.is_truthy(tostring(err):find(name, 1, true), tostring(err))
      db:close()

      db = assert(lsmlog.open_db(dir, { repair = true }))
      local r = db:recovery()
      assert.is_truthy(r.message:find(name, 1, true), r.message)
      assert.is_true(r.dropped_batches > 0)
      assert.is_true(r.dropped_bytes > 0)
      local got, n = all(db)
      assert.is_true(n > 0 and n < N)
      for k, v in pairs(got) do -- what is there is right; what is not was lost
         assert.are.equal(value(tonumber(k:sub(2))), v)
      end
      assert(db:put("after", "repair"))
      db:close()
      assert.is_true(#h.ls(dir .. "/lost", "^" .. name:gsub("%.", "%%.") .. "$") == 1)

      db = assert(lsmlog.open_db(dir)) -- opens plainly now, with the same data
      assert.are.equal("", db:recovery().message)
      assert.are.equal("repair", db:get("after"))
      local again, m = all(db)
      assert.are.equal(n + 1, m)
      for k, v in pairs(got) do assert.are.equal(v, again[k]) end
      db:close()
   end)
end)
