-- The Lua 5.4 module of lsmlog (the Log; the DB is not built yet).
-- From the repository root, offline:
--   luarocks --lua-version=5.4 make lua/lsmlog-0.1.0-1.rockspec [--tree DIR]
-- The builtin backend has no globs: the C sources are listed by hand, and
-- scripts/test_lua.sh fails if this list and core/src/*.c disagree.
rockspec_format = "3.0"
package = "lsmlog"
version = "0.1.0-1"
source = {
   -- `luarocks make` builds the checked-out tree and fetches nothing; the
   -- project has no public address yet.
   url = "git+file://.",
}
description = {
   summary = "An embedded append-only segmented record log (Kafka partition in a directory)",
   detailed = [[
lsmlog's Log: dense offsets, millisecond timestamps, durability buffered/os/sync
with group commit, reads by offset or time, live tailing across processes,
retention, crash recovery and repair. A thin binding of the C core.
]],
}
dependencies = {
   "lua >= 5.4, < 5.5",
}
build = {
   type = "builtin",
   modules = {
      lsmlog = {
         sources = {
            "bindings/lua/lsmlog_lua.c",
            "core/src/alloc.c",
            "core/src/batch.c",
            "core/src/crc32c.c",
            "core/src/env.c",
            "core/src/index.c",
            "core/src/log.c",
            "core/src/log_open.c",
            "core/src/log_read.c",
            "core/src/segment.c",
            "core/src/status.c",
         },
         incdirs = { "core/include" },
         defines = { "_GNU_SOURCE" },
         libraries = { "pthread", "m" },
      },
   },
}
