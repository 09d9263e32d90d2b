-- helper.lua — shared by the Lua specs: fresh directories, files, child
-- processes, and assertions on how lsmlog raises and fails.
local lsmlog = require "lsmlog"

local M = { lsmlog = lsmlog }

-- The interpreter for child processes (the specs' own one by default).
M.lua = os.getenv("LSMLOG_LUA") or "lua5.4"

function M.q(s) -- quotes for sh
   return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- Under the sanitizer run LD_PRELOAD holds libasan: the Lua children keep it
-- (they use the module), but external commands drop it, or LeakSanitizer
-- would fail them for their own leaks at exit. (kill is a shell builtin.)
local plain = os.getenv("LD_PRELOAD") and "env -u LD_PRELOAD " or ""

function M.sh(cmd) -- runs the command cmd; its stdout (trimmed), or raises
   cmd = plain .. cmd
   local p = assert(io.popen(cmd, "r"))
   local out = p:read("a")
   local ok, how, code = p:close()
   assert(ok, ("command failed (%s %s): %s\n%s"):format(how, code, cmd, out))
   return (out:gsub("%s+$", ""))
end

-- A root for this run's directories: $LSMLOG_TEST_TMP, or a new one in /tmp.
local root = os.getenv("LSMLOG_TEST_TMP")
if not root or root == "" then
   root = M.sh("mktemp -d /tmp/lsmlog-lua-XXXXXX")
   -- removed when the state closes (busted exits with os.exit(code, true))
   M._cleanup = setmetatable({}, { __gc = function() M.rmrf(root) end })
end
local counter = 0

-- A fresh path for a log directory (not created: open_log creates it).
function M.tmpdir()
   counter = counter + 1
   return ("%s/t%d-%d"):format(root, counter, math.random(1 << 30))
end

function M.rmrf(path)
   os.execute(plain .. "rm -rf " .. M.q(path))
end

function M.now_ms()
   return tonumber(M.sh("date +%s%3N"))
end

function M.sleep(s)
   os.execute(plain .. "sleep " .. s)
end

-- The files of a directory whose names match pattern, sorted.
function M.ls(dir, pattern)
   local t = {}
   for name in M.sh("ls -1 " .. M.q(dir)):gmatch("[^\n]+") do
      if not pattern or name:match(pattern) then t[#t + 1] = name end
   end
   table.sort(t)
   return t
end

function M.segments(dir)
   return M.ls(dir, "^%d+%.log$")
end

function M.file_size(path)
   local f = assert(io.open(path, "rb"))
   local n = f:seek("end")
   f:close()
   return n
end

-- Flips the bits of the byte at position pos (0-based) of a file.
function M.flip_byte(path, pos)
   local f = assert(io.open(path, "r+b"))
   f:seek("set", pos)
   local b = f:read(1)
   f:seek("set", pos)
   f:write(string.char(b:byte() ~ 0xff))
   f:close()
end

-- Writes a Lua script to a file for a child process; returns its path.
function M.script(source)
   local path = M.tmpdir() .. ".lua"
   local f = assert(io.open(path, "w"))
   f:write(source)
   f:close()
   return path
end

-- Starts `lua5.4 script args...` with stdout and stderr on a pipe; returns the
-- pipe and the child's pid (sh prints its pid, then becomes the interpreter).
function M.spawn(script, ...)
   local args = {}
   for i, a in ipairs({ ... }) do args[i] = M.q(a) end
   local p = assert(io.popen(("echo $$; exec %s %s %s 2>&1"):format(M.lua, M.q(script), table.concat(args, " ")), "r"))
   local pid = assert(tonumber(p:read("l")), "no pid from the child")
   return p, pid
end

function M.kill(pid, sig)
   os.execute(("kill -%s %d 2>/dev/null"):format(sig or "KILL", pid))
end

-- Calls f(...) and checks that it raises an error whose message contains
-- `text` (plain, not a pattern).
function M.raises(text, f, ...)
   local ok, err = pcall(f, ...)
   assert(not ok, "expected an error containing: " .. text)
   err = tostring(err)
   assert(err:find(text, 1, true), ("error %q does not contain %q"):format(err, text))
   return err
end

-- Checks the io.open-style failure triple: nil, a message, the code.
function M.fails(code, text, v, msg, got)
   assert(v == nil, "expected nil, got " .. tostring(v))
   assert(type(msg) == "string" and #msg > 0, "expected a message")
   assert(got == code, ("expected code %s, got %s (%s)"):format(code, got, msg))
   if text then assert(msg:find(text, 1, true), ("message %q does not contain %q"):format(msg, text)) end
   return msg
end

-- All (off, value, ts) of an iterator, as a list of {off, value, ts}.
function M.collect(f, s, c, closing)
   local t = {}
   for off, v, ts in f, s, c, closing do t[#t + 1] = { off, v, ts } end
   return t
end

-- A value that is a pure function of an offset, with zero bytes in it.
function M.value_for(off)
   return ("%d:"):format(off) .. string.rep(string.char(off % 256), off % 37) .. "\0end"
end

return M
