-- The Lua 5.4 module of lsmlog: the Log and the DB.
-- From the repository root, offline:
--   luarocks --lua-version=5.4 make lua/lsmlog-0.1.0-1.rockspec [--tree DIR]
-- The builtin backend has no globs: the C sources are listed by hand (every
-- file of bindings/lua/ and core/src/: the DB uses nearly all of the core),
-- and scripts/test_lua.sh fails if a listed file is missing or a binding
-- file is not listed; a missing core file shows as an undefined symbol.
rockspec_format = "3.0"
package = "lsmlog"
version = "0.1.0-1"
source = {
   -- `luarocks make` builds the checked-out tree and fetches nothing; the
   -- project has no public address yet.
   url = "git+file://.",
}
description = {
   summary = "An embedded segmented record log and LSM key-value store",
   detailed = [[
lsmlog's two stores in a directory. The Log (a Kafka partition): dense
offsets, millisecond timestamps, reads by offset or time, live tailing across
processes, retention. The DB (RocksDB/LevelDB-style LSM tree): put/get/delete
with TTLs, atomic write batches, ordered range and prefix scans both ways,
snapshots, compaction with progress, stats. Both: durability buffered/os/sync
with group commit, CRC32C everywhere, crash recovery and repair, one writer
and any number of read-only readers across processes. A thin binding of the
C core.
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
            "bindings/lua/lsmlog_lua_db.c",
            "core/src/alloc.c",
            "core/src/arena.c",
            "core/src/batch.c",
            "core/src/block.c",
            "core/src/block_builder.c",
            "core/src/block_cache.c",
            "core/src/bloom.c",
            "core/src/compaction.c",
            "core/src/crc32c.c",
            "core/src/db.c",
            "core/src/db_iter.c",
            "core/src/db_read.c",
            "core/src/db_repair.c",
            "core/src/dbformat.c",
            "core/src/env.c",
            "core/src/index.c",
            "core/src/iter.c",
            "core/src/log.c",
            "core/src/log_open.c",
            "core/src/log_read.c",
            "core/src/memtable.c",
            "core/src/merge_iter.c",
            "core/src/segment.c",
            "core/src/sst_builder.c",
            "core/src/sst_index.c",
            "core/src/sst_reader.c",
            "core/src/status.c",
            "core/src/version.c",
            "core/src/version_edit.c",
            "core/src/write_batch.c",
         },
         incdirs = { "core/include" },
         defines = { "_GNU_SOURCE" },
         libraries = { "pthread", "m" },
      },
   },
}
