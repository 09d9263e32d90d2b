-- recovery_spec.lua — damage on disk as Lua sees it: a torn tail is cut and
-- reported, damage before the tail fails the open with E_CORRUPT (naming file
-- and byte) unless repair is set, and a live handle reports damage from
-- get, records and verify without ever returning a damaged record.
local h = require "helper"
local lsmlog = h.lsmlog

local SEGMENT_BYTES = 4096
local HEADER = 40 -- segment header bytes (docs/format-log.md)

-- A closed log of n records over several segments.
local function make(n)
   local dir = h.tmpdir()
   local log = assert(lsmlog.open_log(dir, { segment_bytes = SEGMENT_BYTES }))
   for i = 0, n - 1 do log:append(h.value_for(i) .. string.rep("p", 60)) end
   log:close()
   return dir, h.segments(dir)
end

local function want(off)
   return h.value_for(off) .. string.rep("p", 60)
end

describe("a torn tail", function()
   it("is cut at open and reported by recovery()", function()
      local dir, segs = make(100)
      local last = dir .. "/" .. segs[#segs]
      local size = h.file_size(last)
      assert.is_true(size > HEADER + 10)
      h.sh(("truncate -s %d %s"):format(size - 3, h.q(last)))
      local log = assert(lsmlog.open_log(dir, { segment_bytes = SEGMENT_BYTES }))
      local r = log:recovery()
      assert.is_true(r.truncated_bytes > 0)
      assert.are.equal("string", type(r.message))
      assert.is_true(#r.message > 0)
      assert.are.equal(99, log:end_offset())
      assert.is_nil(log:get(99))
      assert.are.equal(99, log:append("again")) -- the lost offset is reused: it was never acknowledged whole
      log:close()
   end)
end)

-- Damage followed by a valid batch in the last segment: not a torn tail.
local function damage_last(dir, segs)
   local path = dir .. "/" .. segs[#segs]
   assert.is_true(h.file_size(path) > HEADER + 400, "the last segment needs batches after the damage")
   h.flip_byte(path, HEADER + 20)
   return segs[#segs]
end

-- Damage in a sealed segment whose index files are gone, so open scans it.
local function damage_sealed(dir, segs)
   local base = segs[1]:match("^(%d+)")
   os.remove(dir .. "/" .. base .. ".index")
   os.remove(dir .. "/" .. base .. ".timeindex")
   h.flip_byte(dir .. "/" .. segs[1], HEADER + 200)
   return segs[1]
end

local function check_repaired(log, n)
   local missing, present, last = {}, 0, -1
   for off, v in log:records() do
      assert.are.equal(want(off), v)
      for gap = last + 1, off - 1 do missing[#missing + 1] = gap end
      last = off
      present = present + 1
   end
   for gap = last + 1, n - 1 do missing[#missing + 1] = gap end
   assert.is_true(#missing >= 1)
   assert.are.equal(n, present + #missing)
   for _, gap in ipairs(missing) do assert.is_nil(log:get(gap)) end
   assert.are.equal(present, log:verify())
end

describe("damage before the tail", function()
   for _, case in ipairs { { "in the last segment", damage_last, 230 },
                           { "in a sealed segment being reindexed", damage_sealed, 200 } } do
      local name, damage, n = case[1], case[2], case[3]

      it(name .. " fails the open with nil, message, E_CORRUPT naming file and byte", function()
         local dir, segs = make(n)
         local file = damage(dir, segs)
         local msg = h.fails(lsmlog.E_CORRUPT, nil, lsmlog.open_log(dir, { segment_bytes = SEGMENT_BYTES }))
         assert.is_truthy(msg:find(file, 1, true), msg)
         assert.matches("byte %d+", msg)
         h.fails(lsmlog.E_CORRUPT, nil, lsmlog.open_log(dir, { readonly = true }))
      end)

      it(name .. " is salvaged by repair = true, which reports what it set aside", function()
         local dir, segs = make(n)
         damage(dir, segs)
         local log = assert(lsmlog.open_log(dir, { segment_bytes = SEGMENT_BYTES, repair = true }))
         local r = log:recovery()
         assert.is_true(r.dropped_batches >= 1)
         assert.is_true(r.dropped_bytes > 0)
         assert.matches("repair", r.message)
         assert.are.equal(n, log:end_offset()) -- offsets are never reused
         check_repaired(log, n)
         assert.are.equal(n, log:append("after repair"))
         log:close()
         log = assert(lsmlog.open_log(dir, { segment_bytes = SEGMENT_BYTES })) -- opens cleanly now
         assert.are.equal(0, log:recovery().dropped_batches)
         log:close()
      end)
   end
end)

describe("damage in a sealed segment with whole indexes", function()
   it("is found by the read that reaches it, not at open", function()
      local dir, segs = make(200)
      h.flip_byte(dir .. "/" .. segs[1], HEADER + 200)
      local log = assert(lsmlog.open_log(dir, { segment_bytes = SEGMENT_BYTES }))
      h.fails(lsmlog.E_CORRUPT, segs[1], log:verify())
      log:close()
   end)
end)

describe("damage under an open handle", function()
   local dir, segs, log
   before_each(function()
      dir, segs = make(200)
      log = assert(lsmlog.open_log(dir, { readonly = true }))
      h.flip_byte(dir .. "/" .. segs[1], HEADER + 200)
   end)
   after_each(function() log:close() end)

   it("makes verify return nil, message, E_CORRUPT", function()
      local msg = h.fails(lsmlog.E_CORRUPT, nil, log:verify())
      assert.is_truthy(msg:find(segs[1], 1, true), msg)
   end)

   it("makes get return nil, message, E_CORRUPT for a record in the damaged batch", function()
      local found = false
      for off = 0, 30 do
         local v, msg, code = log:get(off)
         if v == nil then
            assert.are.equal(lsmlog.E_CORRUPT, code, msg)
            found = true
         else
            assert.are.equal(want(off), v) -- never a damaged value
         end
      end
      assert.is_true(found)
   end)

   it("makes a records loop raise, and releases the iterator", function()
      local err = h.raises(segs[1], function()
         for off, v in log:records() do assert.are.equal(want(off), v) end
      end)
      assert.matches("byte %d+", err)
   end)

   it("leaves the undamaged segments readable", function()
      local start = tonumber(segs[2]:match("^(%d+)"))
      local n = 0
      for off, v in log:records(start) do
         assert.are.equal(want(off), v)
         n = n + 1
      end
      assert.are.equal(200 - start, n)
   end)
end)
