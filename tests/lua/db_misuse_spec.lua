-- db_misuse_spec.lua — the DB's misuse raises (wrong types, bad values,
-- malformed batches, closed handles, iterators and snapshots after close,
-- writes on a read-only handle, calls the progress function may not make),
-- and what returns nil, message, code instead (a second writer, a missing
-- directory).
local h = require "helper"
local lsmlog = h.lsmlog

local function open(opts, dir)
   dir = dir or h.tmpdir()
   return assert(lsmlog.open_db(dir, opts)), dir
end

local function count(db)
   local n = 0
   for _ in db:scan() do n = n + 1 end
   return n
end

describe("open_db misuse raises", function()
   local cases = {
      { "a nil path", "string expected, got no value" },
      { "a number path", "string expected, got number", 123 },
      { "a path with a zero byte", "path contains a zero byte", "a\0b" },
      { "an empty path", "empty path", "" },
      { "options that are not a table", "table expected, got string", "DIR", "os" },
      { "an unknown durability", 'durability must be "buffered", "os" or "sync", not "fast"', "DIR",
        { durability = "fast" } },
      { "a boolean option given a number", "option 'readonly' must be a boolean, not number", "DIR",
        { readonly = 1 } },
      { "memtable_bytes as a string", "option 'memtable_bytes' must be an integer, not string", "DIR",
        { memtable_bytes = "4M" } },
      { "memtable_bytes with a fraction", "option 'memtable_bytes' must be an integer, not a number with a fraction",
        "DIR", { memtable_bytes = 65536.5 } },
      { "memtable_bytes <= 0", "option 'memtable_bytes' must be > 0", "DIR", { memtable_bytes = 0 } },
      { "memtable_bytes below 4 KiB", "memtable_bytes must be between 4096", "DIR", { memtable_bytes = 100 } },
      { "a negative cache_bytes", "option 'cache_bytes' must be >= 0", "DIR", { cache_bytes = -1 } },
      { "bloom_bits above 64", "bloom_bits must be between 0 and 64", "DIR", { bloom_bits = 65 } },
      { "a negative bloom_bits", "option 'bloom_bits' must be >= 0", "DIR", { bloom_bits = -1 } },
      { "a Log option", "unknown option 'segment_bytes'", "DIR", { segment_bytes = 1 << 20 } },
      { "a misspelt option", "unknown option 'memtable_size'", "DIR", { memtable_size = 1 << 20 } },
      { "repair with readonly", "repair needs a writer", "EXISTING", { readonly = true, repair = true } },
   }
   for _, c in ipairs(cases) do
      it("for " .. c[1], function()
         local path = c[3]
         if path == "DIR" then path = h.tmpdir() end
         if path == "EXISTING" then
            path = h.tmpdir()
            open(nil, path):close()
         end
         if c[3] == nil then
            h.raises(c[2], lsmlog.open_db)
         else
            h.raises(c[2], lsmlog.open_db, path, c[4])
         end
         if c[3] == "DIR" then -- nothing was made
            assert.is_nil(io.open(path .. "/LOCK"))
         end
      end)
   end
end)

describe("DB method misuse raises", function()
   local db, snap, other
   before_each(function()
      db = open()
      db:put("x", "1")
      other = open()
      snap = other:snapshot()
   end)
   after_each(function()
      db:close()
      other:close()
   end)

   local big = ("k"):rep(70000)
   local cases = {
      { "put without a value", "string expected, got no value", "put", "k" },
      { "put of a number key", "string expected, got number", "put", 1, "v" },
      { "put of a table value", "string expected, got table", "put", "k", {} },
      { "put of a boolean value", "string expected, got boolean", "put", "k", true },
      { "put with a string ttl", "ttl must be a number of seconds, not string", "put", "k", "v", "60" },
      { "put with a ttl of 0", "ttl must be > 0 seconds", "put", "k", "v", 0 },
      { "put with a negative ttl", "ttl must be > 0 seconds", "put", "k", "v", -1 },
      { "put with a NaN ttl", "ttl must be > 0 seconds", "put", "k", "v", 0 / 0 },
      { "get of a number", "string expected, got number", "get", 42 },
      { "get without a key", "string expected, got no value", "get" },
      { "delete of a boolean", "string expected, got boolean", "delete", false },
      { "write of a string", "table expected, got string", "write", "put" },
      { "write without a table", "table expected, got no value", "write" },
      { "write with an entry that is not a table", "entry 2 must be a table, not string", "write",
        { { "put", "a", "1" }, "delete" } },
      { "write with an unknown operation", 'entry 1: the operation must be "put" or "delete", not "upsert"', "write",
        { { "upsert", "a", "1" } } },
      { "write with an operation that is not a string", 'must be "put" or "delete", not nil', "write", { { nil, "a" } } },
      { "write with a number key", "entry 1: the key must be a string, not number", "write", { { "delete", 5 } } },
      { "write with a put without a value", "entry 2: the value must be a string, not nil", "write",
        { { "put", "a", "1" }, { "put", "b" } } },
      { "write with a delete given a value", "entry 1: a delete takes a key only", "write", { { "delete", "a", "1" } } },
      { "write with a put given too much", "a put takes a key, a value and a ttl at most", "write",
        { { "put", "a", "1", 5, "extra" } } },
      { "write with a bad ttl", "entry 3: ttl must be > 0 seconds", "write",
        { { "put", "a", "1" }, { "delete", "x" }, { "put", "b", "2", -5 } } },
      { "write whose bad entry comes after a too-big key", "entry 2: the value must be a string", "write",
        { { "put", big, "1" }, { "put", "b", 2 } } },
      { "scan of a string", "table expected, got string", "scan", "a" },
      { "scan with an unknown field", "unknown field 'from'", "scan", { from = "a" } },
      { "scan with a number start", "field 'start' must be a string, not number", "scan", { start = 1 } },
      { "scan with a table prefix", "field 'prefix' must be a string, not table", "scan", { prefix = {} } },
      { "scan with a string reverse", "field 'reverse' must be a boolean, not string", "scan", { reverse = "yes" } },
      { "scan with a snapshot that is not one", "field 'snapshot' must be a snapshot, not string", "scan",
        { snapshot = "now" } },
      { "scan with an argument after the table", "no argument expected after the table", "scan", {}, 1 },
      { "compact with a number bound", "string expected, got number", "compact", 1, "z" },
      { "compact with a progress that is not a function", "function expected, got table", "compact", nil, nil, {}, n = 6 },
   }
   for _, c in ipairs(cases) do
      it("for " .. c[1], function()
         local err = h.raises(c[2], db[c[3]], db, table.unpack(c, 4, c.n or #c))
         assert.matches("bad argument", err)
         assert.are.equal(1, count(db)) -- nothing was written
         assert.are.equal("1", db:get("x"))
         assert.are.equal(1, db:stats().last_seq)
      end)
   end

   it("for a scan with a snapshot of another DB", function()
      h.raises("field 'snapshot' is a snapshot of another DB", db.scan, db, { snapshot = snap })
   end)

   it("for a snapshot's scan given a snapshot field", function()
      local s = db:snapshot()
      h.raises("unknown field 'snapshot'", s.scan, s, { snapshot = s })
      s:close()
   end)

   it("for a method called on something that is not a DB", function()
      h.raises("lsmlog.db expected, got FILE*", db.get, io.stdout, "x")
      h.raises("lsmlog.db expected, got no value", db.put)
      h.raises("lsmlog.db expected, got lsmlog.snapshot", db.get, snap, "x")
      local log = assert(lsmlog.open_log(h.tmpdir()))
      h.raises("lsmlog.db expected, got lsmlog.log", db.close, log)
      h.raises("lsmlog.snapshot expected, got lsmlog.db", snap.get, db, "x")
      log:close()
   end)

   it("for a method called with a dot instead of a colon", function()
      h.raises("lsmlog.db expected, got string", db.put, "k", "v")
   end)
end)

describe("a closed DB", function()
   local methods = {
      { "put", "k", "v" }, { "get", "k" }, { "delete", "k" }, { "write", {} }, { "scan" }, { "snapshot" },
      { "compact" }, { "flush" }, { "sync" }, { "flush_memtable" }, { "stats" }, { "recovery" },
   }
   for _, m in ipairs(methods) do
      it("raises on " .. m[1], function()
         local db = open()
         db:close()
         h.raises("attempt to use a closed DB", db[m[1]], db, table.unpack(m, 2))
      end)
   end

   it("may be closed again (a no-op returning true)", function()
      local db = open()
      assert.is_true(db:close())
      assert.is_true(db:close())
   end)
end)

describe("children of a closed parent", function()
   it("an iterator raises when stepped after its DB closed", function()
      local db = open()
      db:write { { "put", "a", "1" }, { "put", "b", "2" } }
      local f, _, _, it = db:scan()
      assert.are.equal("a", (f()))
      assert.is_true(db:close())
      assert.are.equal("closed iterator", lsmlog.type(it))
      h.raises("attempt to use an iterator of a closed DB", f)
      h.raises("attempt to use an iterator of a closed DB", f)
      it:close() -- still a no-op
   end)

   it("an iterator raises inside a for loop whose body closed the DB", function()
      local db = open()
      db:write { { "put", "a", "1" }, { "put", "b", "2" }, { "put", "c", "3" } }
      h.raises("attempt to use an iterator of a closed DB", function()
         for k in db:scan() do
            if k == "b" then db:close() end
         end
      end)
   end)

   it("an iterator raises when stepped after its snapshot closed", function()
      local db = open()
      db:put("a", "1")
      local snap = db:snapshot()
      local f, _, _, it = snap:scan()
      local g, _, _, it2 = db:scan { snapshot = snap }
      snap:close()
      assert.are.equal("closed iterator", lsmlog.type(it))
      assert.are.equal("closed iterator", lsmlog.type(it2))
      h.raises("attempt to use an iterator of a closed snapshot", f)
      h.raises("attempt to use an iterator of a closed snapshot", g)
      db:close()
   end)

   it("a snapshot raises after its DB closed", function()
      local db = open()
      local snap = db:snapshot()
      db:close()
      assert.are.equal("closed snapshot", lsmlog.type(snap))
      h.raises("attempt to use a snapshot of a closed DB", snap.get, snap, "a")
      h.raises("attempt to use a snapshot of a closed DB", snap.scan, snap)
      assert.is_true(snap:close())
   end)

   it("a closed snapshot raises, and cannot be given to scan", function()
      local db = open()
      local snap = db:snapshot()
      snap:close()
      h.raises("attempt to use a closed snapshot", snap.get, snap, "a")
      h.raises("attempt to use a closed snapshot", snap.scan, snap)
      h.raises("attempt to use a closed snapshot", db.scan, db, { snapshot = snap })
      db:close()
   end)

   it("a snapshot of a closed DB cannot be taken", function()
      local db = open()
      db:close()
      h.raises("attempt to use a closed DB", db.snapshot, db)
   end)
end)

describe("a read-only DB", function()
   local db, ro
   before_each(function()
      local dir
      db, dir = open()
      db:put("x", "1")
      ro = open({ readonly = true }, dir)
   end)
   after_each(function()
      ro:close()
      db:close()
   end)

   for _, m in ipairs { { "put", "k", "v" }, { "put", "k", "v", 10 }, { "delete", "x" },
                        { "write", { { "put", "k", "v" } } }, { "write", {} }, { "flush" }, { "sync" },
                        { "flush_memtable" }, { "compact" }, { "compact", "a", "z" } } do
      it("raises on " .. m[1], function()
         h.raises("the DB is open read-only", ro[m[1]], ro, table.unpack(m, 2))
         assert.are.equal("1", ro:get("x"))
         assert.are.equal(1, count(ro))
      end)
   end

   it("still reads", function()
      assert.are.equal("1", ro:get("x"))
      local snap = ro:snapshot()
      assert.are.equal("1", snap:get("x"))
      snap:close()
      assert.are.equal(1, ro:stats().last_seq)
   end)
end)

describe("a second writer", function()
   it("in the same process gets nil, message, E_LOCKED", function()
      local db, dir = open()
      local msg = h.fails(lsmlog.E_LOCKED, nil, lsmlog.open_db(dir))
      assert.matches("LOCK", msg)
      assert.is_true(db:close())
      open(nil, dir):close() -- the lock went with the close
   end)

   it("in another process gets nil, message, E_LOCKED", function()
      local db, dir = open()
      local child = h.script [[
         local lsmlog = require "lsmlog"
         local db, msg, code = lsmlog.open_db(arg[1])
         print(tostring(db), code == lsmlog.E_LOCKED, msg)
      ]]
      local p = h.spawn(child, dir)
      local out = p:read("a")
      p:close()
      assert.matches("^nil\ttrue\t.*LOCK", out)
      db:close()
   end)

   it("does not stop read-only handles", function()
      local db, dir = open()
      local ro = open({ readonly = true }, dir)
      ro:close()
      db:close()
   end)
end)

describe("the progress function of compact", function()
   local db
   before_each(function()
      db = open()
      db:put("a", "1")
   end)
   after_each(function() db:close() end)

   local calls = {
      { "put", function(d) d:put("b", "2") end, "cannot write to the DB from the progress function" },
      { "delete", function(d) d:delete("a") end, "cannot write to the DB" },
      { "write", function(d) d:write { { "put", "b", "2" } } end, "cannot write to the DB" },
      { "flush_memtable", function(d) d:flush_memtable() end, "cannot flush the DB" },
      { "compact", function(d) d:compact() end, "cannot compact the DB" },
      { "close", function(d) d:close() end, "cannot close the DB" },
      { "<close>", function(d) local _ <close> = d end, "cannot close the DB" },
   }
   for _, c in ipairs(calls) do
      it("raises on " .. c[1] .. " (it would wait for the compaction), and the error propagates", function()
         h.raises(c[3], db.compact, db, function() c[2](db) end)
         assert.are.equal("db", lsmlog.type(db))
         assert.are.equal("a", (db:scan()()))
         assert.is_nil(db:get("b"))
         assert.is_true(db:put("c", "3"))
      end)
   end
end)
