-- log_spec.lua — the Log's Lua surface, method by method.
local h = require "helper"
local lsmlog = h.lsmlog

local function open(opts, dir)
   dir = dir or h.tmpdir()
   return assert(lsmlog.open_log(dir, opts)), dir
end

describe("lsmlog module", function()
   it("has a version, error codes and strerror", function()
      assert.are.equal("string", type(lsmlog.version))
      for _, name in ipairs { "E_IO", "E_CORRUPT", "E_NOMEM", "E_INVALID", "E_BUSY", "E_LOCKED", "E_CLOSED",
                              "E_READONLY", "E_TOOBIG", "E_VERSION", "E_NOENT", "E_FAILED" } do
         assert.are.equal("integer", math.type(lsmlog[name]), name)
         assert.is_true(lsmlog[name] < 0, name)
      end
      assert.are.equal("locked by another writer", lsmlog.strerror(lsmlog.E_LOCKED))
   end)

   it("tells handles apart with lsmlog.type", function()
      local log = open()
      local _, _, _, it = log:records()
      assert.are.equal("log", lsmlog.type(log))
      assert.are.equal("iterator", lsmlog.type(it))
      it:close()
      assert.are.equal("closed iterator", lsmlog.type(it))
      log:close()
      assert.are.equal("closed log", lsmlog.type(log))
      assert.is_nil(lsmlog.type(io.stdout))
      assert.is_nil(lsmlog.type(42))
   end)
end)

describe("open_log", function()
   it("creates the directory and starts empty", function()
      local log, dir = open()
      assert.are.equal(0, log:start_offset())
      assert.are.equal(0, log:end_offset())
      assert.are.equal(0, #log)
      assert.are.same({ "LOCK" }, h.ls(dir, "^LOCK$"))
      log:close()
   end)

   it("reopens with what was written", function()
      local log, dir = open()
      log:append("a")
      log:append("b")
      assert.is_true(log:close())
      log = open(nil, dir)
      assert.are.equal(2, log:end_offset())
      assert.are.equal("b", (log:get(1)))
      log:close()
   end)

   it("accepts every option", function()
      for _, d in ipairs { "buffered", "os", "sync" } do
         local log, dir = open { durability = d, create = true, readonly = false, repair = false,
                                 segment_bytes = 1 << 20, segment_ms = 60000 }
         assert.are.equal(0, log:append("x"))
         log:close()
         log = open({ create = false }, dir)
         assert.are.equal("x", (log:get(0)), d)
         log:close()
      end
   end)

   it("returns nil, message, E_NOENT for a missing directory with create = false", function()
      local dir = h.tmpdir()
      h.fails(lsmlog.E_NOENT, dir, lsmlog.open_log(dir, { create = false }))
   end)

   it("returns nil, message, E_NOENT for a missing directory opened read-only", function()
      h.fails(lsmlog.E_NOENT, nil, lsmlog.open_log(h.tmpdir(), { readonly = true }))
   end)

   it("returns nil, message, E_IO when the path is a file", function()
      local path = h.script("-- a file, not a directory\n")
      h.fails(lsmlog.E_IO, nil, lsmlog.open_log(path))
   end)

   it("shows the path in tostring", function()
      local log, dir = open()
      assert.are.equal(('lsmlog.log ("%s")'):format(dir), tostring(log))
      local ro = open({ readonly = true }, dir)
      assert.are.equal(('lsmlog.log ("%s", read-only)'):format(dir), tostring(ro))
      ro:close()
      log:close()
      assert.are.equal("lsmlog.log (closed)", tostring(log))
   end)

   it("closes on <close>", function()
      local dir = h.tmpdir()
      do
         local log <close> = assert(lsmlog.open_log(dir))
         log:append("x")
      end
      local again <close> = assert(lsmlog.open_log(dir)) -- the lock was released
      assert.are.equal(1, again:end_offset())
   end)
end)

describe("append", function()
   it("returns dense integer offsets", function()
      local log = open()
      for i = 0, 99 do
         local off = log:append("v" .. i)
         assert.are.equal("integer", math.type(off))
         assert.are.equal(i, off)
      end
      assert.are.equal(100, #log)
      log:close()
   end)

   it("keeps a given timestamp and stamps now by default", function()
      local log = open()
      local before = h.now_ms()
      log:append("now")
      local after = h.now_ms()
      log:append("given", 1700000000000)
      log:append("neg", -5)
      log:append("zero", 0)
      log:append("max", math.maxinteger)
      local _, ts = log:get(0)
      assert.are.equal("integer", math.type(ts))
      assert.is_true(ts >= before - 1 and ts <= after + 1, ("%d not in [%d, %d]"):format(ts, before, after))
      assert.are.same({ "given", 1700000000000 }, { log:get(1) })
      assert.are.same({ "neg", -5 }, { log:get(2) })
      assert.are.same({ "zero", 0 }, { log:get(3) })
      assert.are.same({ "max", math.maxinteger }, { log:get(4) })
      log:close()
   end)

   it("stores the empty string", function()
      local log = open()
      log:append("")
      assert.are.same({ "" }, { (log:get(0)) })
      log:close()
   end)

   it("stores values of 32 MiB with the default segment size", function()
      local log, dir = open()
      local big = string.rep("0123456789abcdef", 2 * 1024 * 1024)
      assert.are.equal(32 * 1024 * 1024, #big)
      assert.are.equal(0, log:append(big))
      log:close()
      log = open(nil, dir)
      assert.is_true(log:get(0) == big)
      log:close()
   end)

   it("returns nil, message, E_TOOBIG for a value larger than a segment", function()
      local log = open { segment_bytes = 4096 }
      h.fails(lsmlog.E_TOOBIG, nil, log:append(string.rep("x", 5000)))
      assert.are.equal(0, log:end_offset())
      assert.are.equal(0, log:append("small")) -- the log goes on
      log:close()
   end)
end)

describe("append_batch", function()
   it("returns the first offset; offsets are contiguous", function()
      local log = open()
      log:append("x")
      assert.are.equal(1, log:append_batch { "a", "b", "c" })
      assert.are.equal(4, log:append_batch { "d" })
      assert.are.equal(5, log:end_offset())
      for off, want in pairs { [1] = "a", [2] = "b", [3] = "c", [4] = "d" } do
         assert.are.equal(want, (log:get(off)))
      end
      log:close()
   end)

   it("stamps every record of a batch with the given timestamp", function()
      local log = open()
      log:append_batch({ "a", "b" }, 42)
      assert.are.same({ "a", 42 }, { log:get(0) })
      assert.are.same({ "b", 42 }, { log:get(1) })
      log:close()
   end)

   it("takes a large batch", function()
      local log = open()
      local t = {}
      for i = 1, 10000 do t[i] = h.value_for(i - 1) end
      assert.are.equal(0, log:append_batch(t))
      local n = 0
      for off, v in log:records() do
         assert.are.equal(h.value_for(off), v)
         n = n + 1
      end
      assert.are.equal(10000, n)
      log:close()
   end)

   it("returns nil, message, E_TOOBIG for a batch larger than a segment", function()
      local log = open { segment_bytes = 4096 }
      h.fails(lsmlog.E_TOOBIG, nil, log:append_batch { string.rep("x", 3000), string.rep("y", 3000) })
      log:close()
   end)
end)

describe("embedded zero bytes", function()
   local values = { "\0", "a\0b", string.rep("\0", 1000), "\0\0end", "" }
   local all = {}
   for i = 0, 255 do all[#all + 1] = string.char(i) end
   values[#values + 1] = table.concat(all)

   it("round-trip through append, get, records and tail", function()
      local log = open()
      for _, v in ipairs(values) do log:append(v) end
      for i, v in ipairs(values) do assert.are.equal(v, (log:get(i - 1))) end
      for off, v in log:records() do assert.are.equal(values[off + 1], v) end
      for off, v in log:tail(0, 0) do assert.are.equal(values[off + 1], v) end
      log:close()
   end)

   it("round-trip through append_batch and a reopen", function()
      local log, dir = open()
      log:append_batch(values)
      log:close()
      log = open({ readonly = true }, dir)
      local got = h.collect(log:records())
      assert.are.equal(#values, #got)
      for i, r in ipairs(got) do assert.are.equal(values[i], r[2]) end
      log:close()
   end)
end)

describe("get", function()
   it("returns value and timestamp, or a single nil when absent", function()
      local log = open()
      log:append("a", 10)
      assert.are.same({ "a", 10 }, { log:get(0) })
      assert.are.equal(1, select("#", log:get(1)))
      assert.is_nil(log:get(1))
      assert.is_nil(log:get(math.maxinteger))
      log:close()
   end)
end)

describe("records", function()
   local log
   before_each(function()
      log = open()
      for i = 0, 19 do log:append("v" .. i, 1000 + 10 * i) end
   end)
   after_each(function() log:close() end)

   local function offsets(...)
      local t = {}
      for off in ... do t[#t + 1] = off end
      return t
   end

   it("yields off, value, ts for everything by default", function()
      local got = h.collect(log:records())
      assert.are.equal(20, #got)
      assert.are.same({ 0, "v0", 1000 }, got[1])
      assert.are.same({ 19, "v19", 1190 }, got[20])
   end)

   it("returns the four values of a generic for", function()
      local f, s, c, closing = log:records()
      assert.are.equal("function", type(f))
      assert.is_nil(s)
      assert.is_nil(c)
      assert.are.equal("iterator", lsmlog.type(closing))
      closing:close()
   end)

   it("takes a half-open range start, stop", function()
      assert.are.same({ 5, 6, 7 }, offsets(log:records(5, 8)))
      assert.are.same({ 18, 19 }, offsets(log:records(18)))
      assert.are.same({}, offsets(log:records(8, 8)))
      assert.are.same({}, offsets(log:records(9, 3)))
      assert.are.same({}, offsets(log:records(100)))
      assert.are.same({ 0, 1 }, offsets(log:records(nil, 2)))
   end)

   it("takes a table with start and stop", function()
      assert.are.same({ 3, 4 }, offsets(log:records { start = 3, stop = 5 }))
   end)

   it("takes a table with since and until (timestamps)", function()
      assert.are.same({ 2, 3, 4 }, offsets(log:records { since = 1020, ["until"] = 1050 }))
      assert.are.same({ 3, 4 }, offsets(log:records { since = 1021, ["until"] = 1041 }))
      assert.are.same({ 18, 19 }, offsets(log:records { since = 1180 }))
      assert.are.same({ 0, 1 }, offsets(log:records { ["until"] = 1020 }))
      assert.are.same({}, offsets(log:records { since = 5000 }))
      assert.are.same({ 4, 5 }, offsets(log:records { start = 4, since = 1010, ["until"] = 1060 }))
   end)

   it("returns nil again once it ended", function()
      local f = log:records(19)
      assert.are.equal(19, (f()))
      assert.is_nil(f())
      assert.is_nil(f())
   end)

   it("reads records appended before it reaches the end (like io.lines)", function()
      local n = 0
      for off in log:records() do
         n = n + 1
         if off == 19 then log:append("late") end
      end
      assert.are.equal(21, n)
   end)

   it("can run several at once, interleaved", function()
      local a, b = log:records(0, 3), log:records(10, 13)
      assert.are.equal(0, (a()))
      assert.are.equal(10, (b()))
      assert.are.equal(1, (a()))
      assert.are.equal(11, (b()))
   end)

   it("shows its position in tostring", function()
      local f, _, _, it = log:records(7)
      f()
      assert.are.equal("lsmlog.iterator (records, next offset 8)", tostring(it))
      it:close()
      assert.are.equal("lsmlog.iterator (closed)", tostring(it))
   end)
end)

describe("tail", function()
   it("yields what exists from start, then ends after the timeout", function()
      local log = open()
      for i = 0, 4 do log:append("v" .. i) end
      local t0 = h.now_ms()
      local got = h.collect(log:tail(2, 0.3))
      local took = h.now_ms() - t0
      assert.are.same({ 2, 3, 4 }, { got[1][1], got[2][1], got[3][1] })
      assert.are.equal(3, #got)
      assert.is_true(took >= 250 and took < 3000, "took " .. took .. " ms")
      log:close()
   end)

   it("starts at the current end by default", function()
      local log = open()
      log:append("old")
      assert.are.same({}, h.collect(log:tail(nil, 0.05)))
      log:close()
   end)

   it("ends at once with timeout 0", function()
      local log = open()
      log:append("a")
      local t0 = h.now_ms()
      assert.are.equal(1, #h.collect(log:tail(0, 0)))
      assert.is_true(h.now_ms() - t0 < 1000)
      log:close()
   end)

   it("does not spin when start is below the log's start", function()
      local log = open { segment_bytes = 4096 }
      for i = 0, 199 do log:append(string.rep("x", 100)) end
      log:truncate_before(150)
      local start = log:start_offset()
      assert.is_true(start > 0)
      local got = h.collect(log:tail(0, 0.2))
      assert.are.equal(start, got[1][1])
      assert.are.equal(200 - start, #got)
      log:close()
   end)
end)

describe("flush, sync and durability", function()
   it("flush and sync return true", function()
      for _, d in ipairs { "buffered", "os", "sync" } do
         local log = open { durability = d }
         log:append("x")
         assert.is_true(log:flush())
         assert.is_true(log:sync())
         log:close()
      end
   end)

   it("buffered records reach other handles on flush", function()
      local log, dir = open { durability = "buffered" }
      local ro = open({ readonly = true }, dir)
      log:append_batch { "a", "b", "c" }
      assert.are.equal(3, log:end_offset())
      assert.are.equal(0, ro:end_offset())
      log:flush()
      assert.are.equal(3, ro:end_offset())
      assert.are.equal("b", (ro:get(1)))
      log:append("d")
      assert.are.equal(3, ro:end_offset())
      assert.are.equal("d", (log:get(3))) -- the writer's own reads see its buffer (by flushing it)
      assert.are.equal(4, ro:end_offset())
      ro:close()
      log:close()
   end)

   it("close flushes buffered records", function()
      local log, dir = open { durability = "buffered" }
      log:append("kept")
      log:close()
      log = open(nil, dir)
      assert.are.equal("kept", (log:get(0)))
      log:close()
   end)
end)

describe("read-only handles", function()
   it("see records as they land", function()
      local log, dir = open()
      local ro = open({ readonly = true }, dir)
      assert.are.equal(0, #ro)
      log:append("a")
      assert.are.equal(1, #ro)
      assert.are.equal("a", (ro:get(0)))
      local f = ro:records()
      assert.are.equal(0, (f()))
      log:append("b")
      assert.are.equal(1, (f()))
      assert.is_true(ro:wait(1, 0))
      assert.is_false(ro:wait(2, 0.05))
      ro:close()
      log:close()
   end)

   it("any number may be open next to a writer", function()
      local log, dir = open()
      log:append("x")
      local ros = {}
      for i = 1, 5 do ros[i] = open({ readonly = true }, dir) end
      for i = 1, 5 do
         assert.are.equal("x", (ros[i]:get(0)))
         ros[i]:close()
      end
      log:close()
   end)
end)

describe("offsets, time and figures", function()
   it("start_offset, end_offset and #log", function()
      local log = open()
      log:append_batch { "a", "b", "c" }
      assert.are.equal(0, log:start_offset())
      assert.are.equal(3, log:end_offset())
      assert.are.equal(3, #log)
      log:close()
   end)

   it("offset_for_time finds the first record at or after a time", function()
      local log = open()
      for i = 0, 9 do log:append("v", 100 * i) end
      assert.are.equal(0, log:offset_for_time(-1))
      assert.are.equal(3, log:offset_for_time(300))
      assert.are.equal(4, log:offset_for_time(301))
      assert.is_nil(log:offset_for_time(901))
      log:close()
   end)

   it("wait returns true when a record exists, false after the timeout", function()
      local log = open()
      log:append("a")
      assert.is_true(log:wait(0))
      assert.is_true(log:wait(0, 0))
      local t0 = h.now_ms()
      assert.is_false(log:wait(1, 0.15))
      assert.is_true(h.now_ms() - t0 >= 100)
      log:close()
   end)

   it("stat gives the log's figures", function()
      local log = open()
      log:append("a", 5)
      log:append("b", 7)
      local s = log:stat()
      assert.are.equal(0, s.start_offset)
      assert.are.equal(2, s.end_offset)
      assert.are.equal(1, s.segments)
      assert.is_true(s.bytes > 0)
      assert.are.equal(5, s.first_ts)
      assert.are.equal(7, s.max_ts)
      log:close()
   end)

   it("verify counts the records it checked", function()
      local log = open { segment_bytes = 4096 }
      for i = 0, 299 do log:append(h.value_for(i)) end
      assert.are.equal(300, log:verify())
      log:close()
   end)

   it("recovery reports nothing after a clean close", function()
      local log, dir = open()
      log:append("a")
      log:close()
      log = open(nil, dir)
      assert.are.same({ truncated_bytes = 0, dropped_batches = 0, dropped_bytes = 0,
                        rebuilt_indexes = 0, message = "" }, log:recovery())
      log:close()
   end)
end)

describe("segments and retention", function()
   local function filled(n)
      local log, dir = open { segment_bytes = 4096 }
      for i = 0, n - 1 do log:append(h.value_for(i) .. string.rep("x", 100), 1000 + i) end
      return log, dir
   end

   it("rolls segments past segment_bytes", function()
      local log, dir = filled(200)
      local segs = h.segments(dir)
      assert.is_true(#segs > 3)
      assert.are.equal(#segs, log:stat().segments)
      log:close()
   end)

   it("truncate_before drops whole sealed segments", function()
      local log, dir = filled(200)
      local nsegs = #h.segments(dir)
      assert.is_true(log:truncate_before(100))
      local start = log:start_offset()
      assert.is_true(start > 0 and start <= 100, "start " .. start)
      assert.is_true(#h.segments(dir) < nsegs)
      assert.is_nil(log:get(start - 1))
      assert.are.equal(h.value_for(start) .. string.rep("x", 100), (log:get(start)))
      assert.are.equal(start, (log:records()()))
      assert.are.equal(200 - start, #log)
      log:close()
   end)

   it("truncate_before keeps the active segment", function()
      local log = filled(200)
      log:truncate_before(math.maxinteger)
      assert.is_true(#log > 0)
      assert.are.equal(200, log:end_offset())
      log:close()
   end)

   it("retain by size drops the oldest segments", function()
      local log = filled(300)
      local before = log:stat().bytes
      local dropped = log:retain { max_bytes = 10000 }
      assert.are.equal("integer", math.type(dropped))
      assert.is_true(dropped > 0)
      local s = log:stat()
      assert.is_true(s.bytes < before)
      assert.is_true(s.start_offset > 0)
      assert.are.equal(0, log:retain {})
      log:close()
   end)

   it("retain by age drops segments whose newest record is older", function()
      local log = filled(200) -- timestamps in 1970: old
      local now = h.now_ms()
      for i = 1, 40 do log:append(string.rep("n", 100), now) end
      assert.is_true(log:retain { max_age_ms = 3600 * 1000 } > 0)
      local start = log:start_offset()
      local _, ts = log:get(start)
      assert.is_true(start > 0)
      assert.is_true(start <= 200, "the new records stay")
      assert.are.equal("number", type(ts))
      log:close()
   end)

   it("an iterator moves on to the new start when retention drops what it was to read", function()
      local log = filled(200)
      local f = log:records()
      assert.are.equal(0, (f()))
      log:truncate_before(150)
      local start = log:start_offset()
      local offs = {}
      for off in f do offs[#offs + 1] = off end
      assert.is_true(#offs > 0)
      assert.are.equal(199, offs[#offs])
      for i = 2, #offs do assert.is_true(offs[i] > offs[i - 1]) end
      assert.is_true(offs[#offs] - start + 1 <= #offs)
      log:close()
   end)
end)
