-- misuse_spec.lua — what raises (wrong types, bad values, closed handles,
-- writes on a read-only handle) and what returns nil, message, code (a
-- second writer, a missing directory).
local h = require "helper"
local lsmlog = h.lsmlog

local function open(opts, dir)
   dir = dir or h.tmpdir()
   return assert(lsmlog.open_log(dir, opts)), dir
end

describe("open_log misuse raises", function()
   local cases = {
      { "a nil path", "string expected, got no value" },
      { "a number path", "string expected, got number", 123 },
      { "a path with a zero byte", "path contains a zero byte", "a\0b" },
      { "an empty path", "empty path", "" },
      { "options that are not a table", "table expected, got string", "DIR", "os" },
      { "an unknown durability", 'durability must be "buffered", "os" or "sync", not "fast"', "DIR",
        { durability = "fast" } },
      { "a durability that is not a string", "option 'durability' must be a string, not number", "DIR",
        { durability = 1 } },
      { "a boolean option given a string", "option 'create' must be a boolean, not string", "DIR",
        { create = "yes" } },
      { "readonly given a number", "option 'readonly' must be a boolean, not number", "DIR", { readonly = 1 } },
      { "segment_bytes with a fraction", "option 'segment_bytes' must be an integer, not a number with a fraction", "DIR",
        { segment_bytes = 4096.5 } },
      { "segment_bytes as a string", "option 'segment_bytes' must be an integer, not string", "DIR",
        { segment_bytes = "64M" } },
      { "segment_bytes below 4 KiB", "segment_bytes 100 is outside", "DIR", { segment_bytes = 100 } },
      { "segment_bytes above 1 GiB", "is outside", "DIR", { segment_bytes = 1 << 31 } },
      { "segment_bytes <= 0", "option 'segment_bytes' must be > 0", "DIR", { segment_bytes = -1 } },
      { "a negative segment_ms", "option 'segment_ms' must be >= 0", "DIR", { segment_ms = -1 } },
      { "a misspelt option", "unknown option 'durabilty'", "DIR", { durabilty = "os" } },
      { "a DB option", "unknown option 'memtable_bytes'", "DIR", { memtable_bytes = 1 } },
      { "an option key that is not a string", "option names must be strings, not number", "DIR", { [1] = true } },
      { "repair with readonly", "repair needs a writer", "DIR", { readonly = true, repair = true } },
   }
   for _, c in ipairs(cases) do
      it("for " .. c[1], function()
         local path = c[3] == "DIR" and h.tmpdir() or c[3]
         if c[3] == nil then
            h.raises(c[2], lsmlog.open_log)
         else
            h.raises(c[2], lsmlog.open_log, path, c[4])
         end
         if c[3] == "DIR" then -- nothing was made
            assert.is_nil(io.open(path .. "/LOCK"))
         end
      end)
   end
end)

describe("method misuse raises", function()
   local log
   before_each(function()
      log = open()
      log:append("x")
   end)
   after_each(function() log:close() end)

   local cases = {
      { "append without a value", "string expected, got no value", "append" },
      { "append of a number", "string expected, got number", "append", 42 },
      { "append of a table", "string expected, got table", "append", {} },
      { "append of a boolean", "string expected, got boolean", "append", true },
      { "append with a string timestamp", "integer expected, got string", "append", "v", "now" },
      { "append with a fractional timestamp", "number has no integer representation", "append", "v", 1.5 },
      { "append_batch of a string", "table expected, got string", "append_batch", "abc" },
      { "append_batch of nothing", "table expected, got no value", "append_batch" },
      { "append_batch of an empty table", "empty batch", "append_batch", {} },
      { "append_batch with a number inside", "string expected at index 2, got number", "append_batch",
        { "a", 2, "c" } },
      { "append_batch with a table inside", "string expected at index 1, got table", "append_batch", { {} } },
      { "append_batch with a string timestamp", "integer expected, got string", "append_batch", { "a" }, "ts" },
      { "get of a string offset", "integer expected, got string", "get", "0" },
      { "get of a negative offset", "offset must be >= 0", "get", -1 },
      { "get of a fractional offset", "number has no integer representation", "get", 1.5 },
      { "get without an offset", "integer expected, got no value", "get" },
      { "records from a negative offset", "offset must be >= 0", "records", -1 },
      { "records from a string", "integer expected, got string", "records", "a" },
      { "records with a negative stop", "offset must be >= 0", "records", 0, -2 },
      { "records with an unknown field", "unknown field 'begin'", "records", { begin = 0 } },
      { "records with a string since", "field 'since' must be an integer, not string", "records", { since = "x" } },
      { "records with a fractional until", "field 'until' must be an integer", "records", { ["until"] = 0.5 } },
      { "records with a negative start field", "field 'start' must be >= 0", "records", { start = -1 } },
      { "records with an argument after the table", "no argument expected after a table", "records", {}, 5 },
      { "tail with a negative timeout", "timeout must be >= 0 seconds", "tail", 0, -1 },
      { "tail with a NaN timeout", "timeout must be >= 0 seconds", "tail", 0, 0 / 0 },
      { "tail with a string timeout", "number expected, got string", "tail", 0, "1" },
      { "tail from a negative offset", "offset must be >= 0", "tail", -3 },
      { "wait with a string offset", "integer expected, got string", "wait", "x" },
      { "offset_for_time of a string", "integer expected, got string", "offset_for_time", "x" },
      { "truncate_before a negative offset", "offset must be >= 0", "truncate_before", -5 },
      { "retain with a number", "table expected, got number", "retain", 100 },
      { "retain with an unknown field", "unknown field 'max_size'", "retain", { max_size = 1 } },
      { "retain with a negative age", "field 'max_age_ms' must be >= 0", "retain", { max_age_ms = -1 } },
      { "retain with a string size", "field 'max_bytes' must be an integer, not string", "retain",
        { max_bytes = "1G" } },
   }
   for _, c in ipairs(cases) do
      it("for " .. c[1], function()
         local err = h.raises(c[2], log[c[3]], log, table.unpack(c, 4))
         assert.matches("bad argument", err)
         assert.are.equal(1, log:end_offset()) -- nothing was written
      end)
   end

   it("for a method called on something that is not a log", function()
      h.raises("lsmlog.log expected, got FILE*", log.get, io.stdout, 0)
      h.raises("lsmlog.log expected, got no value", log.append)
      h.raises("lsmlog.log expected, got table", log.close, {})
   end)

   it("for a method called with a dot instead of a colon", function()
      h.raises("lsmlog.log expected, got string", log.append, "value")
   end)

   it("for strerror of a string", function()
      h.raises("integer expected, got string", lsmlog.strerror, "x")
   end)

   it("for lsmlog.type without an argument", function()
      h.raises("value expected", lsmlog.type)
   end)
end)

describe("a closed log", function()
   local methods = {
      { "append", "x" }, { "append_batch", { "x" } }, { "get", 0 }, { "records" }, { "tail", 0, 0 },
      { "wait", 0, 0 }, { "flush" }, { "sync" }, { "start_offset" }, { "end_offset" },
      { "offset_for_time", 0 }, { "truncate_before", 0 }, { "retain", {} }, { "verify" }, { "recovery" },
      { "stat" },
   }
   for _, m in ipairs(methods) do
      it("raises on " .. m[1], function()
         local log = open()
         log:close()
         h.raises("attempt to use a closed log", log[m[1]], log, table.unpack(m, 2))
      end)
   end

   it("raises on #log", function()
      local log = open()
      log:close()
      h.raises("attempt to use a closed log", function() return #log end)
   end)

   it("may be closed again (a no-op returning true)", function()
      local log = open()
      assert.is_true(log:close())
      assert.is_true(log:close())
   end)
end)

describe("an iterator whose log closed", function()
   it("raises when stepped", function()
      local log = open()
      log:append("a")
      log:append("b")
      local f, _, _, it = log:records()
      assert.are.equal(0, (f()))
      assert.is_true(log:close())
      assert.are.equal("closed iterator", lsmlog.type(it))
      h.raises("attempt to use an iterator of a closed log", f)
      h.raises("attempt to use an iterator of a closed log", f)
   end)

   it("raises when stepped even if it had ended", function()
      local log = open()
      local f = log:records()
      assert.is_nil(f())
      log:close()
      h.raises("attempt to use an iterator of a closed log", f)
   end)

   it("raises inside a for loop", function()
      local log = open()
      log:append_batch { "a", "b", "c" }
      h.raises("attempt to use an iterator of a closed log", function()
         for off in log:records() do
            if off == 1 then log:close() end
         end
      end)
   end)

   it("raises for a tail", function()
      local log = open()
      local f = log:tail(0, 0)
      log:close()
      h.raises("attempt to use an iterator of a closed log", f)
   end)

   it("can still be closed (a no-op)", function()
      local log = open()
      local _, _, _, it = log:records()
      log:close()
      it:close()
      it:close()
      assert.are.equal("closed iterator", lsmlog.type(it))
   end)
end)

describe("a read-only handle", function()
   local log, ro
   before_each(function()
      local dir
      log, dir = open()
      log:append("x")
      ro = open({ readonly = true }, dir)
   end)
   after_each(function()
      ro:close()
      log:close()
   end)

   for _, m in ipairs { { "append", "x" }, { "append_batch", { "x" } }, { "truncate_before", 0 },
                        { "retain", { max_bytes = 1 } }, { "flush" }, { "sync" } } do
      it("raises on " .. m[1], function()
         h.raises("the log is open read-only", ro[m[1]], ro, table.unpack(m, 2))
         assert.are.equal(1, ro:end_offset())
      end)
   end

   it("still reads", function()
      assert.are.equal("x", (ro:get(0)))
      assert.are.equal(1, ro:verify())
   end)
end)

describe("a second writer", function()
   it("in the same process gets nil, message, E_LOCKED", function()
      local log, dir = open()
      local msg = h.fails(lsmlog.E_LOCKED, nil, lsmlog.open_log(dir))
      assert.matches("LOCK", msg)
      assert.is_true(log:close())
      local again = open(nil, dir) -- the lock went with the close
      again:close()
   end)

   it("in another process gets nil, message, E_LOCKED", function()
      local log, dir = open()
      local child = h.script [[
         local lsmlog = require "lsmlog"
         local log, msg, code = lsmlog.open_log(arg[1])
         print(tostring(log), code == lsmlog.E_LOCKED, msg)
      ]]
      local p = h.spawn(child, dir)
      local out = p:read("a")
      p:close()
      assert.matches("^nil\ttrue\t.*LOCK", out)
      log:close()
   end)

   it("does not stop read-only handles", function()
      local log, dir = open()
      local ro = open({ readonly = true }, dir)
      ro:close()
      log:close()
   end)
end)
