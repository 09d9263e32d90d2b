-- db_spec.lua — the DB's Lua surface, method by method: open_db, put, get,
-- delete, write, scan, snapshots, TTLs, compact with progress, flushes,
-- stats; and a randomized run checked against a plain Lua table (SEED=n
-- replays it).
local h = require "helper"
local lsmlog = h.lsmlog

-- memtable_bytes of 128 KiB: small enough that a few hundred KiB of writes
-- flush tables and compact, and above the 64 KiB an empty memtable already
-- counts (docs/lua.md).
local SMALL = 128 * 1024

local function open(opts, dir)
   dir = dir or h.tmpdir()
   return assert(lsmlog.open_db(dir, opts)), dir
end

-- Every key, value pair of a scan, as a list of {k, v}.
local function pairs_of(obj, opts)
   local t = {}
   for k, v in obj:scan(opts) do t[#t + 1] = { k, v } end
   return t
end

-- The keys of a scan, as one string "a,b,c" (for short readable asserts).
local function keys_of(obj, opts)
   local t = {}
   for k in obj:scan(opts) do t[#t + 1] = k end
   return table.concat(t, ",")
end

local function fill(db, n, fmt, vsize)
   for i = 1, n do
      assert(db:put((fmt or "k%06d"):format(i), ("%d:"):format(i) .. ("v"):rep(vsize or 100)))
   end
end

local function level_files(st)
   local t = {}
   for i, l in ipairs(st.levels) do t[i] = l.files end
   return t
end

describe("lsmlog module (DB)", function()
   it("has open_db and the E_CANCELED code", function()
      assert.are.equal("function", type(lsmlog.open_db))
      assert.are.equal("integer", math.type(lsmlog.E_CANCELED))
      assert.is_true(lsmlog.E_CANCELED < 0)
      assert.are.equal("string", type(lsmlog.strerror(lsmlog.E_CANCELED)))
   end)

   it("tells DB objects apart with lsmlog.type", function()
      local db = open()
      local snap = db:snapshot()
      local _, _, _, it = db:scan()
      assert.are.equal("db", lsmlog.type(db))
      assert.are.equal("snapshot", lsmlog.type(snap))
      assert.are.equal("iterator", lsmlog.type(it))
      it:close()
      assert.are.equal("closed iterator", lsmlog.type(it))
      snap:close()
      assert.are.equal("closed snapshot", lsmlog.type(snap))
      db:close()
      assert.are.equal("closed db", lsmlog.type(db))
   end)
end)

describe("open_db", function()
   it("creates the directory and starts empty", function()
      local db, dir = open()
      assert.is_nil(db:get("a"))
      assert.are.same({}, pairs_of(db))
      assert.are.equal(0, db:stats().files)
      assert.truthy(io.open(dir .. "/LOCK"))
      assert.is_true(db:close())
   end)

   it("reopens with what was written", function()
      local db, dir = open()
      db:put("a", "1")
      db:put("b", "2")
      db:delete("a")
      db:close()
      db = open(nil, dir)
      assert.is_nil(db:get("a"))
      assert.are.equal("2", db:get("b"))
      db:close()
   end)

   it("reopens with what was flushed to tables and compacted", function()
      local db, dir = open { memtable_bytes = SMALL }
      fill(db, 3000)
      assert.is_true(db:compact())
      fill(db, 100, "z%03d")
      db:close()
      db = open({ memtable_bytes = SMALL }, dir)
      local n = 0
      for k, v in db:scan() do
         n = n + 1
         local i = tonumber(k:match("%d+"))
         assert(v:match("^(%d+):") == tostring(i), k)
      end
      assert.are.equal(3100, n)
      db:close()
   end)

   it("accepts every option", function()
      for _, d in ipairs { "buffered", "os", "sync" } do
         local db = open { durability = d, create = true, readonly = false, repair = false,
                           memtable_bytes = 1 << 20, cache_bytes = 0, bloom_bits = 0 }
         db:put("k", "v")
         assert.are.equal("v", db:get("k"))
         db:close()
      end
   end)

   it("returns nil, message, E_NOENT for a missing directory with create = false", function()
      local dir = h.tmpdir()
      h.fails(lsmlog.E_NOENT, "no such DB", lsmlog.open_db(dir, { create = false }))
      assert.is_nil(io.open(dir))
   end)

   it("returns nil, message, E_NOENT for a missing directory opened read-only", function()
      h.fails(lsmlog.E_NOENT, nil, lsmlog.open_db(h.tmpdir(), { readonly = true }))
   end)

   it("returns nil, message, E_IO when the path is a file", function()
      local dir = h.tmpdir()
      os.execute("mkdir -p " .. h.q(dir))
      local f = assert(io.open(dir .. "/file", "w"))
      f:close()
      h.fails(lsmlog.E_IO, "file", lsmlog.open_db(dir .. "/file"))
   end)

   it("shows the path in tostring", function()
      local db, dir = open()
      assert.are.equal(('lsmlog.db ("%s")'):format(dir), tostring(db))
      local ro = open({ readonly = true }, dir)
      assert.are.equal(('lsmlog.db ("%s", read-only)'):format(dir), tostring(ro))
      ro:close()
      db:close()
      assert.are.equal("lsmlog.db (closed)", tostring(db))
   end)

   it("closes on <close>", function()
      local dir = h.tmpdir()
      do
         local db <close> = open(nil, dir)
         db:put("a", "1")
      end
      local db <close> = open(nil, dir) -- the lock went with the close
      assert.are.equal("1", db:get("a"))
   end)
end)

describe("put, get and delete", function()
   local db
   before_each(function() db = open() end)
   after_each(function() db:close() end)

   it("put returns true; get returns the value, or a single nil when absent", function()
      assert.is_true(db:put("k", "v"))
      assert.are.equal("v", db:get("k"))
      assert.are.equal(1, select("#", db:get("k")))
      assert.is_nil(db:get("absent"))
      assert.are.equal(1, select("#", db:get("absent")))
   end)

   it("overwrites", function()
      db:put("k", "1")
      db:put("k", "2")
      assert.are.equal("2", db:get("k"))
   end)

   it("deletes, and deleting an absent key is fine", function()
      db:put("k", "v")
      assert.is_true(db:delete("k"))
      assert.is_nil(db:get("k"))
      assert.is_true(db:delete("never"))
      assert.is_true(db:delete("k"))
   end)

   it("stores the empty key and the empty value", function()
      db:put("", "empty key")
      db:put("e", "")
      assert.are.equal("empty key", db:get(""))
      assert.are.equal("", db:get("e"))
      assert.are.same({ { "", "empty key" }, { "e", "" } }, pairs_of(db))
      db:delete("")
      assert.is_nil(db:get(""))
   end)

   it("stores values of 32 MiB", function()
      local big = ("0123456789abcdef"):rep(2 * 1024 * 1024) .. "\0tail"
      assert.is_true(db:put("big", big))
      assert.are.equal(big, db:get("big"))
      db:flush_memtable()
      assert.are.equal(big, db:get("big"))
   end)

   it("takes keys of 64 KiB and returns nil, message, E_TOOBIG above", function()
      local k = ("k"):rep(64 * 1024)
      assert.is_true(db:put(k, "v"))
      assert.are.equal("v", db:get(k))
      h.fails(lsmlog.E_TOOBIG, "65537 bytes", db:put(k .. "x", "v"))
      h.fails(lsmlog.E_TOOBIG, nil, db:delete(k .. "x"))
      assert.is_nil(db:get(k .. "x"))
   end)

   it("reads through the memtable and the tables", function()
      db:put("a", "old")
      db:put("b", "gone")
      db:flush_memtable()
      db:put("a", "new")
      db:delete("b")
      assert.are.equal("new", db:get("a"))
      assert.is_nil(db:get("b"))
      db:flush_memtable()
      db:compact()
      assert.are.equal("new", db:get("a"))
      assert.is_nil(db:get("b"))
   end)
end)

describe("embedded zero bytes", function()
   local keys = { "a", "a\0", "a\0\0", "a\0b", "a\1", "\0", "\0\0", "b\0\255", "\255\0" }

   it("round-trip through put, get, scan, write, snapshots and a reopen, in bytewise order", function()
      local db, dir = open()
      for i, k in ipairs(keys) do
         if i % 2 == 0 then
            db:put(k, "v\0" .. k)
         else
            db:write { { "put", k, "v\0" .. k } }
         end
      end
      local sorted = { table.unpack(keys) }
      table.sort(sorted) -- Lua compares strings bytewise (the C locale)
      local want = {}
      for i, k in ipairs(sorted) do want[i] = { k, "v\0" .. k } end
      local snap = db:snapshot()
      for _, k in ipairs(keys) do assert.are.equal("v\0" .. k, db:get(k)) end
      assert.are.same(want, pairs_of(db))
      assert.are.same(want, pairs_of(snap))
      assert.are.same({ { "a\0", "v\0a\0" }, { "a\0\0", "v\0a\0\0" }, { "a\0b", "v\0a\0b" } },
         pairs_of(db, { prefix = "a\0" }))
      assert.are.same({ { "a\0\0", "v\0a\0\0" } }, pairs_of(db, { start = "a\0\0", stop = "a\0b" }))
      snap:close()
      db:close()
      db = open(nil, dir)
      assert.are.same(want, pairs_of(db))
      db:compact()
      assert.are.same(want, pairs_of(db))
      db:close()
   end)
end)

describe("TTL", function()
   local db
   before_each(function() db = open() end)
   after_each(function() db:close() end)

   it("hides a key once its ttl (in seconds, fractions allowed) has passed", function()
      assert.is_true(db:put("short", "v", 0.5))
      assert.is_true(db:put("long", "v", 3600))
      db:put("plain", "v")
      assert.are.equal("v", db:get("short"))
      assert.are.equal("long,plain,short", keys_of(db))
      h.sleep(0.7)
      assert.is_nil(db:get("short"))
      assert.are.equal("v", db:get("long"))
      assert.are.equal("long,plain", keys_of(db))
      assert.are.equal("plain,long", keys_of(db, { reverse = true }))
   end)

   it("hides older values of the key too", function()
      db:put("k", "old")
      db:flush_memtable()
      db:put("k", "new", 0.4)
      assert.are.equal("new", db:get("k"))
      h.sleep(0.6)
      assert.is_nil(db:get("k"))
      assert.are.equal("", keys_of(db))
   end)

   it("applies to write entries", function()
      db:write { { "put", "t", "v", 0.4 }, { "put", "p", "v" } }
      assert.are.equal("p,t", keys_of(db))
      h.sleep(0.6)
      assert.are.equal("p", keys_of(db))
   end)

   it("is dropped by a put without one", function()
      db:put("k", "v", 0.1)
      db:put("k", "w")
      h.sleep(0.25)
      assert.are.equal("w", db:get("k"))
   end)

   it("of math.huge never expires", function()
      db:put("k", "v", math.huge)
      assert.are.equal("v", db:get("k"))
   end)

   it("expires in tables too, and compaction drops what expired", function()
      for i = 1, 500 do db:put(("t%04d"):format(i), ("x"):rep(200), 0.6) end
      db:put("keep", "v")
      db:flush_memtable()
      assert.is_not_nil(db:get("t0001"))
      local before = db:stats().bytes
      h.sleep(0.8)
      assert.is_nil(db:get("t0001"))
      assert.are.equal("keep", keys_of(db))
      assert.is_true(db:compact())
      local after = db:stats().bytes
      assert.is_true(after < before / 10, ("%d bytes before, %d after"):format(before, after))
      assert.are.equal("v", db:get("keep"))
   end)
end)

describe("write", function()
   local db
   before_each(function() db = open() end)
   after_each(function() db:close() end)

   it("applies puts and deletes together", function()
      db:put("old", "x")
      assert.is_true(db:write { { "put", "a", "1" }, { "put", "b", "2" }, { "delete", "old" } })
      assert.are.same({ { "a", "1" }, { "b", "2" } }, pairs_of(db))
   end)

   it("takes an empty table (a no-op)", function()
      assert.is_true(db:write {})
      assert.are.equal("", keys_of(db))
   end)

   it("applies entries in order: a later one wins", function()
      db:write { { "put", "a", "1" }, { "delete", "a" }, { "delete", "b" }, { "put", "b", "2" },
                 { "put", "c", "1" }, { "put", "c", "3" } }
      assert.is_nil(db:get("a"))
      assert.are.equal("2", db:get("b"))
      assert.are.equal("3", db:get("c"))
   end)

   it("writes nothing when the core refuses an entry (nil, message, E_TOOBIG)", function()
      local seq = db:stats().last_seq
      h.fails(lsmlog.E_TOOBIG, nil, db:write { { "put", "a", "1" }, { "put", ("k"):rep(70000), "v" } })
      assert.is_nil(db:get("a"))
      assert.are.equal(seq, db:stats().last_seq)
   end)

   it("takes a large batch", function()
      local t = {}
      for i = 1, 5000 do t[i] = { "put", ("k%05d"):format(i), ("v"):rep(i % 50) } end
      assert.is_true(db:write(t))
      local n = 0
      for k, v in db:scan() do
         n = n + 1
         assert(#v == tonumber(k:sub(2)) % 50)
      end
      assert.are.equal(5000, n)
   end)

   it("reads entries raw, ignoring fields past the sequence", function()
      assert.is_true(db:write { { "put", "a", "1" }, note = "ignored" })
      assert.are.equal("a", keys_of(db))
   end)
end)

describe("scan", function()
   local db
   before_each(function()
      db = open()
      for _, k in ipairs { "a", "ab", "abc", "b", "ba", "c" } do db:put(k, "v" .. k) end
   end)
   after_each(function() db:close() end)

   it("yields key, value in key order by default", function()
      assert.are.same({ { "a", "va" }, { "ab", "vab" }, { "abc", "vabc" }, { "b", "vb" }, { "ba", "vba" },
                        { "c", "vc" } }, pairs_of(db))
      assert.are.equal("a,ab,abc,b,ba,c", keys_of(db, {}))
   end)

   it("returns the four values of a generic for", function()
      local f, s, c, it = db:scan()
      assert.are.equal("function", type(f))
      assert.is_nil(s)
      assert.is_nil(c)
      assert.are.equal("iterator", lsmlog.type(it))
      assert.are.equal("lsmlog.iterator (scan)", tostring(it))
      local k, v = f()
      assert.are.same({ "a", "va" }, { k, v })
      it:close()
      assert.are.equal("lsmlog.iterator (closed)", tostring(it))
   end)

   it("goes backwards with reverse = true", function()
      assert.are.equal("c,ba,b,abc,ab,a", keys_of(db, { reverse = true }))
      local _, _, _, it = db:scan { reverse = true }
      assert.are.equal("lsmlog.iterator (scan, reverse)", tostring(it))
      it:close()
   end)

   it("takes a half-open range start, stop", function()
      assert.are.equal("ab,abc,b", keys_of(db, { start = "ab", stop = "ba" }))
      assert.are.equal("b,abc,ab", keys_of(db, { start = "ab", stop = "ba", reverse = true }))
      assert.are.equal("b,ba,c", keys_of(db, { start = "az" }))
      assert.are.equal("a,ab", keys_of(db, { stop = "abc" }))
      assert.are.equal("ab,a", keys_of(db, { stop = "abc", reverse = true }))
      assert.are.equal("", keys_of(db, { start = "b", stop = "b" }))
      assert.are.equal("", keys_of(db, { start = "c", stop = "a" }))
   end)

   it("takes a prefix, alone or with bounds", function()
      assert.are.equal("a,ab,abc", keys_of(db, { prefix = "a" }))
      assert.are.equal("abc,ab,a", keys_of(db, { prefix = "a", reverse = true }))
      assert.are.equal("ab,abc", keys_of(db, { prefix = "ab" }))
      assert.are.equal("ab", keys_of(db, { prefix = "a", start = "aa", stop = "abc" }))
      assert.are.equal("", keys_of(db, { prefix = "x" }))
      assert.are.equal("a,ab,abc,b,ba,c", keys_of(db, { prefix = "" }))
   end)

   it("takes a prefix of 0xff bytes", function()
      db:put("\255", "1")
      db:put("\255\255", "2")
      db:put("\255\0", "3")
      assert.are.equal("\255,\255\0,\255\255", keys_of(db, { prefix = "\255" }))
      assert.are.equal("\255\255", keys_of(db, { prefix = "\255\255" }))
   end)

   it("does not show deleted keys", function()
      db:delete("ab")
      db:delete("c")
      assert.are.equal("a,abc,b,ba", keys_of(db))
      assert.are.equal("ba,b,abc,a", keys_of(db, { reverse = true }))
   end)

   it("merges the memtable with tables in every level", function()
      db:compact()
      db:put("aa", "new")
      db:delete("b")
      db:flush_memtable()
      db:put("ab", "newer")
      assert.are.equal("a,aa,ab,abc,ba,c", keys_of(db))
      assert.are.equal("newer", db:get("ab"))
      assert.are.equal("c,ba,abc,ab,aa,a", keys_of(db, { reverse = true }))
   end)

   it("sees the DB as of its opening", function()
      local seen = {}
      for k in db:scan() do
         seen[#seen + 1] = k
         db:put(k .. "+", "x") -- lands right after k: not seen
         db:delete("c")
      end
      assert.are.equal("a,ab,abc,b,ba,c", table.concat(seen, ","))
      assert.are.equal("a,a+,ab,ab+,abc,abc+,b,b+,ba,ba+,c+", keys_of(db))
   end)

   it("returns nil again once it ended", function()
      local f, _, _, it = db:scan { start = "c" }
      assert.are.equal("c", (f()))
      assert.is_nil(f())
      assert.are.equal("closed iterator", lsmlog.type(it))
      assert.is_nil(f())
   end)

   it("can run several at once, interleaved", function()
      local f1 = db:scan()
      local f2 = db:scan { reverse = true }
      assert.are.equal("a", (f1()))
      assert.are.equal("c", (f2()))
      assert.are.equal("ab", (f1()))
      assert.are.equal("ba", (f2()))
   end)

   it("reads as of a snapshot given as snapshot =", function()
      local snap = db:snapshot()
      db:delete("a")
      db:put("d", "vd")
      assert.are.equal("a,ab,abc,b,ba,c", keys_of(db, { snapshot = snap }))
      assert.are.equal("c,ba", keys_of(db, { snapshot = snap, reverse = true, start = "ba" }))
      assert.are.equal("ab,abc,b,ba,c,d", keys_of(db))
      snap:close()
   end)
end)

describe("snapshots", function()
   local db, dir
   before_each(function() db, dir = open { memtable_bytes = SMALL } end)
   after_each(function() db:close() end)

   it("are isolated from later puts, overwrites and deletes", function()
      db:put("a", "1")
      db:put("b", "2")
      local snap <close> = db:snapshot()
      db:put("a", "changed")
      db:delete("b")
      db:put("c", "new")
      assert.are.equal("1", snap:get("a"))
      assert.are.equal("2", snap:get("b"))
      assert.is_nil(snap:get("c"))
      assert.are.same({ { "a", "1" }, { "b", "2" } }, pairs_of(snap))
      assert.are.same({ { "a", "changed" }, { "c", "new" } }, pairs_of(db))
   end)

   it("stay isolated across memtable flushes and compactions", function()
      fill(db, 2000)
      local snap = db:snapshot()
      for i = 1, 2000, 2 do db:delete(("k%06d"):format(i)) end
      for i = 2, 2000, 2 do db:put(("k%06d"):format(i), "overwritten") end
      db:flush_memtable()
      assert.is_true(db:compact())
      assert.are.equal("1:" .. ("v"):rep(100), snap:get("k000001"))
      assert.are.equal("2:" .. ("v"):rep(100), snap:get("k000002"))
      assert.is_nil(db:get("k000001"))
      assert.are.equal("overwritten", db:get("k000002"))
      local n = 0
      for k, v in snap:scan() do
         n = n + 1
         assert(v == tonumber(k:sub(2)) .. ":" .. ("v"):rep(100), k)
      end
      assert.are.equal(2000, n)
      snap:close()
      local m = 0
      for _ in db:scan() do m = m + 1 end
      assert.are.equal(1000, m)
   end)

   it("scan with bounds, a prefix and reverse", function()
      for _, k in ipairs { "a1", "a2", "b1", "b2" } do db:put(k, k) end
      local snap = db:snapshot()
      db:delete("a2")
      db:put("a3", "a3")
      assert.are.equal("a1,a2", keys_of(snap, { prefix = "a" }))
      assert.are.equal("b1,a2", keys_of(snap, { start = "a2", stop = "b2", reverse = true }))
      snap:close()
   end)

   it("taken at different times see different states", function()
      local snaps = {}
      for i = 1, 5 do
         db:put("k", tostring(i))
         snaps[i] = db:snapshot()
      end
      db:delete("k")
      for i = 1, 5 do assert.are.equal(tostring(i), snaps[i]:get("k")) end
      assert.is_nil(db:get("k"))
      for i = 1, 5 do snaps[i]:close() end
   end)

   it("close with close() (idempotent) and show in tostring", function()
      local snap = db:snapshot()
      assert.matches('^lsmlog%.snapshot %(".*"%)$', tostring(snap))
      assert.is_true(snap:close())
      assert.is_true(snap:close())
      assert.are.equal("lsmlog.snapshot (closed)", tostring(snap))
   end)

   it("work on a read-only handle", function()
      db:put("a", "1")
      local ro = open({ readonly = true }, dir)
      local snap = ro:snapshot()
      db:put("a", "2")
      assert.are.equal("2", ro:get("a"))
      assert.are.equal("1", snap:get("a"))
      snap:close()
      ro:close()
   end)
end)

describe("compact", function()
   local db
   before_each(function()
      db = open { memtable_bytes = SMALL }
      fill(db, 4000)
   end)
   after_each(function() db:close() end)

   it("returns true and moves everything out of the memtable and level 0", function()
      assert.is_true(db:compact())
      local st = db:stats()
      assert.are.equal(0, st.levels[1].files)
      assert.is_true(st.files > 0)
      assert.are.equal("4000:" .. ("v"):rep(100), db:get("k004000"))
   end)

   it("drops overwritten and deleted entries", function()
      db:compact()
      local before = db:stats().bytes
      for i = 1, 4000 do
         if i % 4 == 0 then db:put(("k%06d"):format(i), "small") else db:delete(("k%06d"):format(i)) end
      end
      assert.is_true(db:compact())
      local after = db:stats().bytes
      assert.is_true(after < before / 5, ("%d bytes before, %d after"):format(before, after))
      local n = 0
      for _, v in db:scan() do
         n = n + 1
         assert.are.equal("small", v)
      end
      assert.are.equal(1000, n)
   end)

   it("takes a range start, stop", function()
      assert.is_true(db:compact("k001000", "k002000"))
      assert.is_true(db:compact(nil, "k000100"))
      assert.is_true(db:compact("k003000", nil))
      assert.are.equal("1500:" .. ("v"):rep(100), db:get("k001500"))
   end)

   it("calls the progress function with done <= total, ending with done == total", function()
      local calls = {}
      assert.is_true(db:compact(nil, nil, function(done, total)
         assert.are.equal("integer", math.type(done))
         assert.are.equal("integer", math.type(total))
         calls[#calls + 1] = { done, total }
      end))
      assert.is_true(#calls >= 2)
      local last_done = 0
      for _, c in ipairs(calls) do
         assert.is_true(c[1] <= c[2], c[1] .. " > " .. c[2])
         assert.is_true(c[1] >= last_done)
         last_done = c[1]
      end
      assert.are.equal(calls[#calls][1], calls[#calls][2])
   end)

   it("takes the progress function alone: db:compact(fn)", function()
      local n = 0
      assert.is_true(db:compact(function() n = n + 1 end))
      assert.is_true(n >= 1)
   end)

   it("is canceled by a progress function returning false: nil, message, E_CANCELED", function()
      local n = 0
      h.fails(lsmlog.E_CANCELED, "canceled", db:compact(function()
         n = n + 1
         return false
      end))
      assert.are.equal(1, n)
      assert.are.equal("4000:" .. ("v"):rep(100), db:get("k004000"))
      assert.is_true(db:put("after", "x")) -- the DB still takes writes
      assert.is_true(db:compact())
   end)

   it("goes on when the progress function returns true or nothing", function()
      assert.is_true(db:compact(function() return true end))
      assert.is_true(db:compact(function() return 0 end)) -- only false cancels
   end)

   it("raises the progress function's error as it is, canceling the compaction", function()
      local err = { "my error" }
      local ok, got = pcall(db.compact, db, function() error(err) end)
      assert.is_false(ok)
      assert.are.equal(err, got)
      local ok2, msg = pcall(db.compact, db, function(done) if done >= 0 then error("boom") end end)
      assert.is_false(ok2)
      assert.matches("boom", msg)
      assert.are.equal("1:" .. ("v"):rep(100), db:get("k000001"))
      assert.is_true(db:put("after", "x"))
      assert.is_true(db:compact())
      assert.are.equal(0, db:stats().levels[1].files)
   end)

   it("lets the progress function read the DB", function()
      local seen
      assert.is_true(db:compact(function()
         seen = { db:get("k000007"), keys_of(db, { prefix = "k00000" }), db:stats().files }
         db:sync()
      end))
      assert.are.equal("7:" .. ("v"):rep(100), seen[1])
      assert.are.equal("k000001,k000002,k000003,k000004,k000005,k000006,k000007,k000008,k000009", seen[2])
   end)
end)

describe("flush, sync and flush_memtable", function()
   it("return true", function()
      local db = open()
      db:put("a", "1")
      assert.is_true(db:flush())
      assert.is_true(db:sync())
      assert.is_true(db:flush_memtable())
      assert.is_true(db:flush_memtable()) -- an empty memtable: nothing to do
      db:close()
   end)

   it("flush_memtable writes a level-0 table", function()
      local db = open()
      db:put("a", "1")
      local st0 = db:stats()
      db:flush_memtable()
      local st = db:stats()
      assert.are.equal(st0.flushes + 1, st.flushes)
      assert.are.equal(1, st.levels[1].files)
      assert.is_true(st.levels[1].bytes > 0)
      assert.are.equal("1", db:get("a"))
      db:close()
   end)

   it("hand buffered writes to other handles on flush", function()
      local db, dir = open { durability = "buffered" }
      local ro = open({ readonly = true }, dir)
      db:put("a", "1")
      assert.is_nil(ro:get("a"))
      db:flush()
      assert.are.equal("1", ro:get("a"))
      ro:close()
      db:close()
   end)

   it("close flushes buffered writes", function()
      local db, dir = open { durability = "buffered" }
      db:write { { "put", "a", "1" }, { "put", "b", "2" } }
      db:close()
      db = open(nil, dir)
      assert.are.equal("a,b", keys_of(db))
      db:close()
   end)
end)

describe("stats", function()
   it("is a table of figures, levels an array of {files, bytes}", function()
      local db = open { memtable_bytes = SMALL }
      local st = db:stats()
      assert.are.equal(7, #st.levels)
      for _, l in ipairs(st.levels) do
         assert.are.same({ files = 0, bytes = 0 }, l)
      end
      for _, name in ipairs { "files", "bytes", "memtable_bytes", "last_seq", "user_bytes", "wal_bytes",
                              "flush_bytes", "compact_read_bytes", "compact_write_bytes", "flushes",
                              "compactions", "trivial_moves", "stalls", "stall_us", "cache_hits",
                              "cache_misses", "bloom_useful", "bloom_useless" } do
         assert.are.equal("integer", math.type(st[name]), name)
      end
      assert.are.equal("float", math.type(st.write_amp))
      assert.are.equal(0.0, st.write_amp)
      fill(db, 3000)
      db:compact()
      for i = 1, 50 do db:get(("k%06d"):format(i)) end
      for i = 1, 50 do db:get(("absent%d"):format(i)) end
      st = db:stats()
      assert.are.equal(3000, st.last_seq)
      assert.is_true(st.user_bytes > 3000 * 100)
      assert.is_true(st.write_amp > 1)
      assert.is_true(st.flushes >= 1)
      -- the tables are mapped, read in place: the block cache is for tables
      -- read with pread (the C tests force that)
      assert.are.equal(0, st.cache_hits + st.cache_misses)
      local files, bytes = 0, 0
      for _, l in ipairs(st.levels) do
         files = files + l.files
         bytes = bytes + l.bytes
      end
      assert.are.equal(files, st.files)
      assert.are.equal(bytes, st.bytes)
      assert.is_true(st.files > 0)
      db:close()
   end)
end)

describe("recovery", function()
   it("says what recovery did at open", function()
      local db = open()
      local r = db:recovery()
      assert.are.equal(0, r.truncated_bytes)
      assert.are.equal(0, r.dropped_batches)
      assert.are.equal("string", type(r.message))
      db:close()
   end)
end)

describe("read-only handles", function()
   it("see writes as they land, any number of them", function()
      local db, dir = open()
      local ro1 = open({ readonly = true }, dir)
      local ro2 = open({ readonly = true }, dir)
      db:put("a", "1")
      assert.are.equal("1", ro1:get("a"))
      db:write { { "put", "b", "2" }, { "delete", "a" } }
      assert.are.equal("b", keys_of(ro1))
      db:flush_memtable()
      db:put("c", "3")
      db:compact()
      assert.are.equal("b,c", keys_of(ro2))
      assert.are.equal("2", ro2:get("b"))
      ro1:close()
      ro2:close()
      db:close()
   end)
end)

describe("a randomized run against a model", function()
   local SEED = tonumber(os.getenv("SEED") or "") or os.time()
   print(("db_spec: SEED=%d"):format(SEED))

   local function sorted_keys(model)
      local t = {}
      for k in pairs(model) do t[#t + 1] = k end
      table.sort(t)
      return t
   end

   -- The model's keys in [start, stop) with the prefix, in order.
   local function expect(keys, start, stop, prefix, reverse)
      local t = {}
      for _, k in ipairs(keys) do
         if (not start or k >= start) and (not stop or k < stop) and (not prefix or k:sub(1, #prefix) == prefix) then
            t[#t + 1] = k
         end
      end
      if reverse then
         for i = 1, #t // 2 do t[i], t[#t + 1 - i] = t[#t + 1 - i], t[i] end
      end
      return table.concat(t, ",")
   end

   it("puts, deletes, batches, flushes, compactions, reopens and snapshots agree with a table", function()
      math.randomseed(SEED)
      local dir = h.tmpdir()
      local db = open({ memtable_bytes = SMALL }, dir)
      local model = {}
      local function rkey()
         return ("%s%03d"):format(("abc"):sub(math.random(3), math.random(3)), math.random(0, 300))
      end
      local function rval()
         return ("v%d\0"):format(math.random(1000)) .. ("x"):rep(math.random(0, 600))
      end
      local function check(obj, m)
         local keys = sorted_keys(m)
         local got = {}
         for k, v in obj:scan() do
            got[#got + 1] = k
            if v ~= m[k] then error(("key %q: %q where %q was expected"):format(k, v, m[k])) end
         end
         assert.are.equal(table.concat(keys, ","), table.concat(got, ","))
         for _ = 1, 20 do
            local a, b = rkey(), rkey()
            if a > b then a, b = b, a end
            local pre = ("abc"):sub(math.random(3), math.random(3))
            local rev = math.random(2) == 1
            assert.are.equal(expect(keys, a, b, nil, rev), keys_of(obj, { start = a, stop = b, reverse = rev }))
            assert.are.equal(expect(keys, nil, nil, pre, rev), keys_of(obj, { prefix = pre, reverse = rev }))
            local k = rkey()
            assert.are.equal(m[k], obj:get(k), k)
         end
      end
      local snap, snap_model
      for step = 1, 3000 do
         local r = math.random(100)
         if r <= 50 then
            local k, v = rkey(), rval()
            db:put(k, v)
            model[k] = v
         elseif r <= 70 then
            local k = rkey()
            db:delete(k)
            model[k] = nil
         elseif r <= 90 then
            local b = {}
            for i = 1, math.random(1, 8) do
               local k = rkey()
               if math.random(3) == 1 then
                  b[i] = { "delete", k }
                  model[k] = nil
               else
                  b[i] = { "put", k, rval() }
                  model[k] = b[i][3]
               end
            end
            db:write(b)
         elseif r <= 93 then
            db:flush_memtable()
         elseif r <= 95 then
            db:compact(rkey(), rkey())
         elseif r <= 97 then
            if snap then
               check(snap, snap_model)
               snap:close()
            end
            snap, snap_model = db:snapshot(), {}
            for k, v in pairs(model) do snap_model[k] = v end
         elseif r == 98 then
            if snap then snap:close() end
            snap = nil
            db:close()
            db = open({ memtable_bytes = SMALL }, dir)
         end
         if step % 500 == 0 then check(db, model) end
      end
      check(db, model)
      if snap then check(snap, snap_model) end
      db:compact()
      check(db, model)
      db:close()
   end)
end)
