/*
 * lsmlog_lua_db.c — the DB half of the Lua 5.4 module: lsmlog.open_db, DB
 * handles, snapshots and scan iterators over the C DB (lsmlog_db_* in
 * core/include/lsmlog.h; docs/db.md). Thin: types and errors only.
 *
 * The conventions are the Log's (top of lsmlog_lua.c): liolib-style handles
 * made closed before the C resource is opened; a `to*` accessor that raises
 * on a closed handle; misuse raises, other failures return nil, message,
 * code; iterators are C closures whose userdata is the generic for's
 * to-be-closed 4th value, and they raise on failure.
 *
 * Parent and children: the core refuses to close a DB while iterators or
 * snapshots are open (LSMLOG_E_BUSY). Both are children of the DB userdata:
 * each keeps it alive (user value 1) and is registered, before its C object
 * is opened, in the DB's weak-keyed table of children (the DB's user value
 * 1), which the DB closes first. An iterator opened through a snapshot also
 * keeps the snapshot alive (user value 2), and closing the snapshot closes
 * it: a child never outlives its parent's C object, and is never used after.
 *
 * The progress function of db:compact runs inside the core's compaction,
 * which holds the DB's work lock: it is called under lua_pcall (a Lua error
 * must not unwind through the core), its error cancels the compaction and is
 * raised again once the core has returned. While it runs, the calls that
 * could wait for that lock (writes, flush_memtable, compact, close) raise
 * instead of deadlocking.
 */
#include "lsmlog_lua.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define DB_MT "lsmlog.db"
#define SNAP_MT "lsmlog.snapshot"
#define DBITER_MT "lsmlog.db_iterator"

/* A DB handle. User values: 1 = weak-keyed table of live children
 * (iterators and snapshots), 2 = the path it was opened with. */
typedef struct lua_db {
    lsmlog_db *h; /* NULL: closed (or not opened yet) */
    int readonly;
    int in_progress; /* > 0: inside the progress function of a compaction */
} lua_db;

/* A snapshot. User value 1 = its DB userdata. */
typedef struct lua_snap {
    lsmlog_snapshot *h; /* NULL: closed */
} lua_snap;

/* A scan iterator. User values: 1 = its DB userdata, 2 = the snapshot
 * userdata it was opened through, or nil. */
typedef struct lua_dbiter {
    lsmlog_db_iter *h; /* NULL: closed */
    int started;       /* positioned on the first (or last) key */
    int ended;         /* every further step returns nil */
    int reverse;       /* from the last key down */
} lua_dbiter;

/* ---- handles ------------------------------------------------------------ */

static lua_db *todb(lua_State *L, int i) {
    lua_db *d = luaL_checkudata(L, i, DB_MT);
    if (d->h == NULL) luaL_error(L, "attempt to use a closed DB");
    return d;
}

/* For the calls that may wait for the compaction's lock. */
static lua_db *todb_idle(lua_State *L, int i, const char *what) {
    lua_db *d = todb(L, i);
    if (d->in_progress)
        luaL_error(L, "cannot %s the DB from the progress function of its compaction", what);
    return d;
}

/* The DB userdata that the child userdata at `idx` belongs to. */
static lua_db *parent_db(lua_State *L, int idx) {
    lua_getiuservalue(L, idx, 1);
    lua_db *d = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return d;
}

static lua_snap *tosnap(lua_State *L, int i) {
    lua_snap *s = luaL_checkudata(L, i, SNAP_MT);
    if (s->h == NULL) {
        lua_db *d = parent_db(L, i);
        luaL_error(L, d && !d->h ? "attempt to use a snapshot of a closed DB"
                                 : "attempt to use a closed snapshot");
    }
    return s;
}

/* Registers the new child userdata on top of the stack with the DB at
 * `db_idx`: the child keeps the DB alive, the DB can close the child. */
static void adopt(lua_State *L, int db_idx) {
    int child = lua_gettop(L);
    lua_pushvalue(L, db_idx);
    lua_setiuservalue(L, child, 1);
    lua_getiuservalue(L, db_idx, 1);
    lua_pushvalue(L, child);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

/* Takes the child at `idx` out of its DB's table. Allocates nothing. */
static void disown(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    if (lua_getiuservalue(L, idx, 1) == LUA_TUSERDATA) {
        if (lua_getiuservalue(L, -1, 1) == LUA_TTABLE) {
            lua_pushvalue(L, idx);
            lua_pushnil(L); /* removing an absent key inserts nothing */
            lua_rawset(L, -3);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

static void close_iter(lua_State *L, int idx) {
    lua_dbiter *it = lua_touserdata(L, idx);
    if (it->h) lsmlog_db_iter_close(it->h);
    it->h = NULL;
    it->ended = 1;
    disown(L, idx);
}

/* Closes the iterators of the DB at `db_idx` that were opened through the
 * snapshot at `snap_idx` (every iterator when snap_idx is 0), then, when
 * snap_idx is 0, its snapshots. Allocates nothing (it runs in __gc). */
static void close_children(lua_State *L, int db_idx, int snap_idx) {
    db_idx = lua_absindex(L, db_idx);
    if (snap_idx) snap_idx = lua_absindex(L, snap_idx);
    if (lua_getiuservalue(L, db_idx, 1) != LUA_TTABLE) {
        lua_pop(L, 1);
        return;
    }
    /* two passes: no iterator is left open when a snapshot goes (the core
     * does not need it, but nothing then depends on the order) */
    for (int pass = 0; pass < (snap_idx ? 1 : 2); pass++) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            lua_pop(L, 1);
            lua_dbiter *it = pass == 0 ? luaL_testudata(L, -1, DBITER_MT) : NULL;
            lua_snap *s = pass == 1 ? luaL_testudata(L, -1, SNAP_MT) : NULL;
            int mine = 1;
            if (it && snap_idx) {
                lua_getiuservalue(L, -1, 2);
                mine = lua_rawequal(L, -1, snap_idx);
                lua_pop(L, 1);
            }
            if (!(it || s) || !mine) continue;
            if (it) {
                if (it->h) lsmlog_db_iter_close(it->h);
                it->h = NULL;
                it->ended = 1;
            } else {
                lsmlog_db_snapshot_release(s->h);
                s->h = NULL;
            }
            lua_pushvalue(L, -1);
            lua_pushnil(L); /* clearing a field while traversing is allowed */
            lua_rawset(L, -4);
        }
    }
    lua_pop(L, 1);
}

/* Closes the children of the DB at `idx`, then the DB. The status of
 * lsmlog_db_close. */
static int close_db(lua_State *L, int idx) {
    lua_db *d = lua_touserdata(L, idx);
    close_children(L, idx, 0);
    int rc = lsmlog_db_close(d->h);
    /* the core frees the handle even when the final flush fails; BUSY cannot
     * happen (every child was closed above) but would leave it open */
    if (rc != LSMLOG_E_BUSY) d->h = NULL;
    return rc;
}

/* db:close() -> true, or nil, message, code if the final flush failed (the
 * handle is closed either way). Closing a closed DB does nothing. */
static int l_db_close(lua_State *L) {
    lua_db *d = luaL_checkudata(L, 1, DB_MT);
    if (!d->h) {
        lua_pushboolean(L, 1);
        return 1;
    }
    todb_idle(L, 1, "close");
    return lsmlua_push_ok(L, close_db(L, 1));
}

/* __close: closes quietly, as liolib does; a failure becomes a warning. */
static int l_db_gc(lua_State *L) {
    lua_db *d = luaL_checkudata(L, 1, DB_MT);
    if (d->h && d->in_progress) {
        /* only a state closed from inside a progress function gets here:
         * closing would wait for the compaction's lock, which is held */
        lua_warning(L, "lsmlog: a DB left open: collected inside its compaction", 0);
        return 0;
    }
    if (d->h && close_db(L, 1) != LSMLOG_OK) {
        lua_warning(L, "lsmlog: closing a DB: ", 1);
        lua_warning(L, lsmlog_errmsg(), 0);
    }
    return 0;
}

static int l_db_tostring(lua_State *L) {
    lua_db *d = luaL_checkudata(L, 1, DB_MT);
    lua_getiuservalue(L, 1, 2);
    if (d->h)
        lua_pushfstring(L, "lsmlog.db (\"%s\"%s)", lua_tostring(L, -1),
                        d->readonly ? ", read-only" : "");
    else
        lua_pushliteral(L, "lsmlog.db (closed)");
    return 1;
}

/* ---- opening ------------------------------------------------------------ */

static const char *const db_option_names[] = {
    "durability",     "create",      "readonly",   "repair",
    "memtable_bytes", "cache_bytes", "bloom_bits", NULL};

static void read_db_options(lua_State *L, int arg, lsmlog_options *o) {
    lsmlua_read_common_options(L, arg, db_option_names, o);
    lua_Integer v;
    if (lsmlua_field_int(L, arg, "option", "memtable_bytes", &v)) {
        luaL_argcheck(L, v > 0, arg, "option 'memtable_bytes' must be > 0");
        o->memtable_bytes = (uint64_t)v;
    }
    if (lsmlua_field_int(L, arg, "option", "cache_bytes", &v)) {
        luaL_argcheck(L, v >= 0, arg, "option 'cache_bytes' must be >= 0");
        o->cache_bytes = (uint64_t)v;
    }
    if (lsmlua_field_int(L, arg, "option", "bloom_bits", &v)) {
        luaL_argcheck(L, v >= 0 && v <= INT_MAX, arg, "option 'bloom_bits' must be >= 0");
        o->bloom_bits = (int)v;
    }
}

/* lsmlog.open_db(path [, options]) -> db, or nil, message, code. */
int lsmlua_open_db(lua_State *L) {
    size_t len;
    const char *path = lsmlua_check_bytes(L, 1, &len);
    luaL_argcheck(L, strlen(path) == len, 1, "path contains a zero byte");
    lsmlog_options o;
    lsmlog_options_init(&o);
    if (!lua_isnoneornil(L, 2)) read_db_options(L, 2, &o);

    /* the userdata and its tables first, closed: nothing can fail after the open */
    lua_db *d = lua_newuserdatauv(L, sizeof *d, 2);
    memset(d, 0, sizeof *d);
    d->readonly = o.readonly;
    luaL_setmetatable(L, DB_MT);
    lua_newtable(L); /* live children, weak keys: an unreferenced one is collected (and closed) */
    luaL_getmetatable(L, LSMLUA_WEAK_KEYS);
    lua_setmetatable(L, -2);
    lua_setiuservalue(L, -2, 1);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 2);

    int rc = lsmlog_db_open(path, &o, &d->h);
    if (rc != LSMLOG_OK) return lsmlua_fail(L, rc);
    return 1;
}

/* ---- writes ------------------------------------------------------------- */

/* Seconds to whole milliseconds, rounded up (0.0001 s is 1 ms, not 0: a
 * TTL never shortens to nothing). 0 means no TTL: math.huge, or anything
 * beyond any clock. s > 0 and not NaN. */
static int64_t ttl_ms_of(lua_Number s) {
    if (s >= 9.0e15 / 1000) return 0;
    return (int64_t)ceil(s * 1000);
}

/* A TTL in seconds at `idx` (the argument `arg`, or the entry `entry` of a
 * batch): raises unless nil or a number > 0. */
static int64_t check_ttl(lua_State *L, int idx, int arg, lua_Integer entry) {
    int t = lua_type(L, idx);
    if (t == LUA_TNIL || t == LUA_TNONE) return 0;
    const char *bad = NULL;
    if (t != LUA_TNUMBER)
        bad = lua_pushfstring(L, "ttl must be a number of seconds, not %s", luaL_typename(L, idx));
    else if (!(lua_tonumber(L, idx) > 0)) /* also NaN */
        bad = "ttl must be > 0 seconds";
    if (bad) {
        if (entry) bad = lua_pushfstring(L, "entry %I: %s", entry, bad);
        luaL_argerror(L, arg, bad);
    }
    return ttl_ms_of(lua_tonumber(L, idx));
}

/* db:put(key, value [, ttl_s]) -> true */
static int l_put(lua_State *L) {
    lua_db *d = todb_idle(L, 1, "write to");
    size_t kl, vl;
    const char *k = lsmlua_check_bytes(L, 2, &kl);
    const char *v = lsmlua_check_bytes(L, 3, &vl);
    int64_t ttl = check_ttl(L, 4, 4, 0);
    int rc = ttl ? lsmlog_db_put_ttl(d->h, k, kl, v, vl, ttl) : lsmlog_db_put(d->h, k, kl, v, vl);
    return lsmlua_push_ok(L, rc);
}

/* db:delete(key) -> true (also when the key is absent) */
static int l_delete(lua_State *L) {
    lua_db *d = todb_idle(L, 1, "write to");
    size_t kl;
    const char *k = lsmlua_check_bytes(L, 2, &kl);
    return lsmlua_push_ok(L, lsmlog_db_delete(d->h, k, kl));
}

/* The element i of the table on top of the stack, which must be a string
 * (else raises about argument `arg`, entry `entry`, naming it `what`). */
static void entry_string(lua_State *L, int i, int arg, lua_Integer entry, const char *what) {
    if (lua_rawgeti(L, -1, i) != LUA_TSTRING)
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "entry %I: %s must be a string, not %s", entry, what,
                                      luaL_typename(L, -1)));
    lua_pop(L, 1);
}

/* Checks the whole batch table at `arg` before anything is written: every
 * entry {"put", key, value [, ttl_s]} or {"delete", key}. */
static void check_batch(lua_State *L, int arg, size_t n) {
    luaL_checkstack(L, 4, "batch");
    for (size_t i = 1; i <= n; i++) {
        lua_Integer e = (lua_Integer)i;
        if (lua_rawgeti(L, arg, e) != LUA_TTABLE)
            luaL_argerror(
                L, arg,
                lua_pushfstring(L, "entry %I must be a table, not %s", e, luaL_typename(L, -1)));
        int op = lua_rawgeti(L, -1, 1);
        const char *name = op == LUA_TSTRING ? lua_tostring(L, -1) : "";
        int put = strcmp(name, "put") == 0, del = strcmp(name, "delete") == 0;
        if (!put && !del)
            luaL_argerror(
                L, arg,
                lua_pushfstring(
                    L, "entry %I: the operation must be \"put\" or \"delete\", not %s%s%s", e,
                    op == LUA_TSTRING ? "\"" : "", op == LUA_TSTRING ? name : luaL_typename(L, -1),
                    op == LUA_TSTRING ? "\"" : ""));
        lua_pop(L, 1);
        entry_string(L, 2, arg, e, "the key");
        size_t len = (size_t)lua_rawlen(L, -1);
        if (put) {
            entry_string(L, 3, arg, e, "the value");
            luaL_argcheck(
                L, len <= 4, arg,
                lua_pushfstring(L, "entry %I: a put takes a key, a value and a ttl at most", e));
            lua_rawgeti(L, -1, 4);
            check_ttl(L, -1, arg, e);
            lua_pop(L, 1);
        } else {
            luaL_argcheck(L, len <= 2, arg,
                          lua_pushfstring(L, "entry %I: a delete takes a key only", e));
        }
        lua_pop(L, 1);
    }
}

/* Adds the checked entries of the table at `arg` to b. Raises nothing and
 * allocates nothing in Lua (b must be freed by the caller whatever happens). */
static int fill_batch(lua_State *L, int arg, size_t n, lsmlog_batch *b) {
    int rc = LSMLOG_OK;
    for (size_t i = 1; i <= n && rc == LSMLOG_OK; i++) {
        lua_rawgeti(L, arg, (lua_Integer)i);
        size_t kl, vl;
        lua_rawgeti(L, -1, 1);
        int put = lua_tostring(L, -1)[0] == 'p';
        lua_rawgeti(L, -2, 2);
        const char *k = lua_tolstring(L, -1, &kl); /* alive in the entry */
        if (put) {
            lua_rawgeti(L, -3, 3);
            const char *v = lua_tolstring(L, -1, &vl);
            lua_rawgeti(L, -4, 4);
            int64_t ttl = lua_isnil(L, -1) ? 0 : ttl_ms_of(lua_tonumber(L, -1));
            rc = ttl ? lsmlog_batch_put_ttl(b, k, kl, v, vl, ttl)
                     : lsmlog_batch_put(b, k, kl, v, vl);
            lua_pop(L, 2);
        } else {
            rc = lsmlog_batch_delete(b, k, kl);
        }
        lua_pop(L, 3);
    }
    return rc;
}

/* db:write{ {"put", k, v [, ttl_s]}, {"delete", k}, ... } -> true: applied
 * atomically (all or nothing, also after a crash). The whole table is
 * checked first: a bad entry raises and nothing is written. */
static int l_write(lua_State *L) {
    lua_db *d = todb_idle(L, 1, "write to");
    luaL_checktype(L, 2, LUA_TTABLE);
    size_t n = (size_t)lua_rawlen(L, 2);
    check_batch(L, 2, n);
    lua_settop(L, 2);
    luaL_checkstack(L, 6, "batch");
    lsmlog_batch *b = NULL;
    int rc = lsmlog_batch_new(&b);
    if (rc == LSMLOG_OK) rc = fill_batch(L, 2, n, b);
    if (rc == LSMLOG_OK) rc = lsmlog_db_write(d->h, b);
    lsmlog_batch_free(b);
    return lsmlua_push_ok(L, rc);
}

static int l_flush(lua_State *L) {
    return lsmlua_push_ok(L, lsmlog_db_flush(todb(L, 1)->h));
}

static int l_sync(lua_State *L) {
    return lsmlua_push_ok(L, lsmlog_db_sync(todb(L, 1)->h));
}

static int l_flush_memtable(lua_State *L) {
    return lsmlua_push_ok(L, lsmlog_db_flush_memtable(todb_idle(L, 1, "flush")->h));
}

/* ---- reads -------------------------------------------------------------- */

/* value, or a single nil when absent; nil, message, code on failure */
static int get(lua_State *L, lsmlog_db *db, const lsmlog_snapshot *snap, int arg) {
    size_t kl, vl;
    const char *k = lsmlua_check_bytes(L, arg, &kl);
    void *v;
    int rc = lsmlog_db_get(db, snap, k, kl, &v, &vl);
    if (rc == LSMLOG_NOTFOUND) {
        lua_pushnil(L);
        return 1;
    }
    if (rc != LSMLOG_OK) return lsmlua_fail(L, rc);
    lsmlua_push_owned(L, v, vl);
    return 1;
}

/* db:get(key) -> value, or nil when absent (or deleted, or expired) */
static int l_get(lua_State *L) {
    return get(L, todb(L, 1)->h, NULL, 2);
}

/* snap:get(key) -> the value as of the snapshot, or nil */
static int l_snap_get(lua_State *L) {
    lua_snap *s = tosnap(L, 1);
    return get(L, parent_db(L, 1)->h, s->h, 2);
}

/* ---- scan iterators ----------------------------------------------------- */

static int l_iter_close(lua_State *L) {
    luaL_checkudata(L, 1, DBITER_MT);
    close_iter(L, 1);
    return 0;
}

static int l_iter_tostring(lua_State *L) {
    lua_dbiter *it = luaL_checkudata(L, 1, DBITER_MT);
    if (it->h)
        lua_pushfstring(L, "lsmlog.iterator (scan%s)", it->reverse ? ", reverse" : "");
    else
        lua_pushliteral(L, "lsmlog.iterator (closed)");
    return 1;
}

/* Raises the calling thread's lsmlog message after closing the iterator. */
static int iter_fail(lua_State *L, int self) {
    lua_pushstring(L, lsmlog_errmsg());
    close_iter(L, self);
    return lsmlua_raise_top(L);
}

/* One step: key, value, or nil at the end. Raises on failure. */
static int iter_step(lua_State *L) {
    int self = lua_upvalueindex(1);
    lua_dbiter *it = lua_touserdata(L, self);
    if (!parent_db(L, self)->h) return luaL_error(L, "attempt to use an iterator of a closed DB");
    if (lua_getiuservalue(L, self, 2) == LUA_TUSERDATA &&
        ((lua_snap *)lua_touserdata(L, -1))->h == NULL)
        return luaL_error(L, "attempt to use an iterator of a closed snapshot");
    lua_pop(L, 1);
    if (it->ended) {
        lua_pushnil(L);
        return 1;
    }
    int rc;
    if (!it->started) {
        it->started = 1;
        rc = it->reverse ? lsmlog_db_iter_last(it->h) : lsmlog_db_iter_first(it->h);
    } else {
        rc = it->reverse ? lsmlog_db_iter_prev(it->h) : lsmlog_db_iter_next(it->h);
    }
    if (rc != LSMLOG_OK) return iter_fail(L, self);
    if (!lsmlog_db_iter_valid(it->h)) {
        close_iter(L, self); /* at the end: release it (and its pinned tables) at once */
        lua_pushnil(L);
        return 1;
    }
    size_t kl, vl;
    const void *k = lsmlog_db_iter_key(it->h, &kl);
    lua_pushlstring(L, k, kl); /* copies before any finalizer can run */
    if (!it->h)                /* a finalizer run by that allocation closed the iterator */
        return luaL_error(L, "the iterator was closed during its step");
    const void *v = lsmlog_db_iter_value(it->h, &vl);
    lua_pushlstring(L, v, vl);
    return 2;
}

static const char *const scan_names[] = {"start", "stop", "prefix", "reverse", "snapshot", NULL};
static const char *const snap_scan_names[] = {"start", "stop", "prefix", "reverse", NULL};

/* A string field of the table argument `arg`, or NULL when nil. The value
 * is left on the stack: an __index metamethod may have made it, and it must
 * stay alive until the core has copied it. */
static const char *field_bytes(lua_State *L, int arg, const char *name, size_t *len) {
    int type = lua_getfield(L, arg, name);
    *len = 0;
    if (type == LUA_TSTRING) return lua_tolstring(L, -1, len);
    if (type != LUA_TNIL)
        luaL_argerror(
            L, arg,
            lua_pushfstring(L, "field '%s' must be a string, not %s", name, luaL_typename(L, -1)));
    return NULL;
}

/* Makes a scan iterator over the DB at `db_idx`, as of the snapshot at
 * `snap_idx` (0: none; a snapshot= field may give one), with the bounds in
 * the table argument `arg` (or none). Returns the four values of a generic
 * for: the step closure, nil, nil, and the iterator (to-be-closed). */
static int open_scan(lua_State *L, int db_idx, int snap_idx, int arg) {
    lua_db *d = lua_touserdata(L, db_idx);
    lsmlog_db_iter_opts o;
    lsmlog_db_iter_opts_init(&o);
    int reverse = 0;
    if (!lua_isnoneornil(L, arg)) {
        luaL_checktype(L, arg, LUA_TTABLE);
        lsmlua_check_keys(L, arg, snap_idx ? snap_scan_names : scan_names, "field");
        luaL_checkstack(L, 8, "scan");
        o.start = field_bytes(L, arg, "start", &o.start_len);
        o.stop = field_bytes(L, arg, "stop", &o.stop_len);
        o.prefix = field_bytes(L, arg, "prefix", &o.prefix_len);
        int type = lua_getfield(L, arg, "reverse");
        if (type != LUA_TNIL && type != LUA_TBOOLEAN)
            luaL_argerror(L, arg,
                          lua_pushfstring(L, "field 'reverse' must be a boolean, not %s",
                                          luaL_typename(L, -1)));
        reverse = lua_toboolean(L, -1);
        lua_pop(L, 1);
        if (!snap_idx && lua_getfield(L, arg, "snapshot") != LUA_TNIL) {
            lua_snap *s = luaL_testudata(L, -1, SNAP_MT);
            if (!s)
                luaL_argerror(L, arg,
                              lua_pushfstring(L, "field 'snapshot' must be a snapshot, not %s",
                                              luaL_typename(L, -1)));
            snap_idx = lua_gettop(L); /* stays on the stack */
            tosnap(L, snap_idx);
            if (parent_db(L, snap_idx) != d)
                luaL_argerror(L, arg, "field 'snapshot' is a snapshot of another DB");
        }
    }
    if (snap_idx) o.snapshot = ((lua_snap *)lua_touserdata(L, snap_idx))->h;

    lua_dbiter *it = lua_newuserdatauv(L, sizeof *it, 2);
    memset(it, 0, sizeof *it);
    it->reverse = reverse;
    luaL_setmetatable(L, DBITER_MT);
    int self = lua_gettop(L);
    if (snap_idx) {
        lua_pushvalue(L, snap_idx);
        lua_setiuservalue(L, self, 2); /* keeps the snapshot alive; its close closes us */
    }
    adopt(L, db_idx); /* registered before it is opened: the DB can always close it */
    lua_pushvalue(L, self);
    lua_pushcclosure(L, iter_step, 1);
    int rc = lsmlog_db_iter_open(d->h, &o, &it->h);
    if (rc != LSMLOG_OK) {
        lua_pushstring(L, lsmlog_errmsg());
        close_iter(L, self);
        return lsmlua_raise_top(L); /* for a generic for, as io.lines does */
    }
    lua_pushnil(L);
    lua_pushnil(L);
    lua_pushvalue(L, self);
    return 4;
}

/* db:scan{start =, stop =, prefix =, reverse =, snapshot =}: key, value
 * pairs in key order (reverse: descending), start included, stop excluded */
static int l_scan(lua_State *L) {
    todb(L, 1);
    luaL_argcheck(L, lua_gettop(L) <= 2, 3, "no argument expected after the table");
    lua_settop(L, 2);
    return open_scan(L, 1, 0, 2);
}

/* snap:scan{start =, stop =, prefix =, reverse =} */
static int l_snap_scan(lua_State *L) {
    tosnap(L, 1);
    luaL_argcheck(L, lua_gettop(L) <= 2, 3, "no argument expected after the table");
    lua_settop(L, 2);
    lua_getiuservalue(L, 1, 1); /* 3: the DB */
    return open_scan(L, 3, 1, 2);
}

/* ---- snapshots ---------------------------------------------------------- */

/* db:snapshot() -> a snapshot: reads through it see the DB as it is now */
static int l_snapshot(lua_State *L) {
    lua_db *d = todb(L, 1);
    lua_settop(L, 1);
    lua_snap *s = lua_newuserdatauv(L, sizeof *s, 1);
    s->h = NULL;
    luaL_setmetatable(L, SNAP_MT);
    adopt(L, 1);
    int rc = lsmlog_db_snapshot(d->h, &s->h);
    if (rc != LSMLOG_OK) {
        disown(L, 2); /* allocates nothing: the message is still the core's */
        return lsmlua_fail(L, rc);
    }
    return 1;
}

/* Closes the snapshot at `idx`: its iterators first. Allocates nothing. */
static void close_snap(lua_State *L, int idx) {
    lua_snap *s = lua_touserdata(L, idx);
    if (!s->h) return;
    idx = lua_absindex(L, idx);
    lua_getiuservalue(L, idx, 1);
    close_children(L, -1, idx);
    lua_pop(L, 1);
    lsmlog_db_snapshot_release(s->h);
    s->h = NULL;
    disown(L, idx);
}

/* snap:close() -> true; closing a closed snapshot does nothing */
static int l_snap_close(lua_State *L) {
    luaL_checkudata(L, 1, SNAP_MT);
    close_snap(L, 1);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_snap_gc(lua_State *L) {
    luaL_checkudata(L, 1, SNAP_MT);
    close_snap(L, 1);
    return 0;
}

static int l_snap_tostring(lua_State *L) {
    lua_snap *s = luaL_checkudata(L, 1, SNAP_MT);
    if (s->h) {
        lua_getiuservalue(L, 1, 1);
        lua_getiuservalue(L, -1, 2);
        lua_pushfstring(L, "lsmlog.snapshot (\"%s\")", lua_tostring(L, -1));
    } else {
        lua_pushliteral(L, "lsmlog.snapshot (closed)");
    }
    return 1;
}

/* ---- compaction --------------------------------------------------------- */

typedef struct progress_ctx {
    lua_State *L;
    int fn;       /* stack index of the progress function */
    int raised;   /* it raised: its error object is on top of the stack */
    int canceled; /* it returned false */
} progress_ctx;

/* Called by the core, from this thread, with the DB's work lock held: so
 * under lua_pcall, with the stack space reserved beforehand. Allocates only
 * inside the pcall. */
static int progress_cb(void *ctx, uint64_t done, uint64_t total) {
    progress_ctx *p = ctx;
    if (p->raised || p->canceled) return 1;
    lua_State *L = p->L;
    lua_pushvalue(L, p->fn);
    lua_pushinteger(L, (lua_Integer)done);
    lua_pushinteger(L, (lua_Integer)total);
    if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
        p->raised = 1;
        return 1;
    }
    p->canceled = lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1);
    lua_pop(L, 1);
    return p->canceled;
}

/* A string or nil at `arg`: the bytes, or NULL for no bound. */
static const char *opt_bound(lua_State *L, int arg, size_t *len) {
    *len = 0;
    return lua_isnoneornil(L, arg) ? NULL : lsmlua_check_bytes(L, arg, len);
}

/* db:compact([start, stop [, progress]]) or db:compact(progress) -> true.
 * progress(done, total) is called as the work goes (bytes); returning false
 * cancels (nil, message, E_CANCELED); an error in it cancels and is raised
 * again. */
static int l_compact(lua_State *L) {
    lua_db *d = todb_idle(L, 1, "compact");
    if (lua_type(L, 2) == LUA_TFUNCTION && lua_gettop(L) == 2) {
        lua_pushnil(L);
        lua_insert(L, 2);
        lua_pushnil(L);
        lua_insert(L, 2);
    }
    size_t sl, el;
    const char *start = opt_bound(L, 2, &sl), *stop = opt_bound(L, 3, &el);
    if (!lua_isnoneornil(L, 4)) luaL_checktype(L, 4, LUA_TFUNCTION);
    lua_settop(L, 4);
    progress_ctx p = {L, 4, 0, 0};
    luaL_checkstack(L, 8, "compact");
    d->in_progress++;
    int rc = lsmlog_db_compact(d->h, start, sl, stop, el, lua_isnil(L, 4) ? NULL : progress_cb, &p);
    d->in_progress--;
    if (p.raised) return lua_error(L); /* the progress function's own error, as it was */
    return lsmlua_push_ok(L, rc);
}

/* ---- figures ------------------------------------------------------------ */

/* db:stats() -> a table of figures; levels is an array of {files =, bytes =} */
static int l_stats(lua_State *L) {
    lua_db *d = todb(L, 1);
    lsmlog_db_stats st;
    int rc = lsmlog_db_get_stats(d->h, &st);
    if (rc != LSMLOG_OK) return lsmlua_fail(L, rc);
    lua_createtable(L, 0, 24);
    lua_createtable(L, LSMLOG_DB_LEVELS, 0);
    uint64_t files = 0, bytes = 0;
    for (int l = 0; l < LSMLOG_DB_LEVELS; l++) {
        lua_createtable(L, 0, 2);
        lsmlua_set_int(L, "files", (lua_Integer)st.levels[l].files);
        lsmlua_set_int(L, "bytes", (lua_Integer)st.levels[l].bytes);
        lua_rawseti(L, -2, l + 1);
        files += st.levels[l].files;
        bytes += st.levels[l].bytes;
    }
    lua_setfield(L, -2, "levels");
    lsmlua_set_int(L, "files", (lua_Integer)files);
    lsmlua_set_int(L, "bytes", (lua_Integer)bytes);
    lsmlua_set_int(L, "memtable_bytes", (lua_Integer)st.memtable_bytes);
    lsmlua_set_int(L, "last_seq", (lua_Integer)st.last_seq);
    lsmlua_set_int(L, "user_bytes", (lua_Integer)st.user_bytes);
    lsmlua_set_int(L, "wal_bytes", (lua_Integer)st.wal_bytes);
    lsmlua_set_int(L, "flush_bytes", (lua_Integer)st.flush_bytes);
    lsmlua_set_int(L, "compact_read_bytes", (lua_Integer)st.compact_read_bytes);
    lsmlua_set_int(L, "compact_write_bytes", (lua_Integer)st.compact_write_bytes);
    lua_pushnumber(L, st.write_amp);
    lua_setfield(L, -2, "write_amp");
    lsmlua_set_int(L, "flushes", (lua_Integer)st.flushes);
    lsmlua_set_int(L, "compactions", (lua_Integer)st.compactions);
    lsmlua_set_int(L, "trivial_moves", (lua_Integer)st.trivial_moves);
    lsmlua_set_int(L, "stalls", (lua_Integer)st.stalls);
    lsmlua_set_int(L, "stall_us", (lua_Integer)st.stall_us);
    lsmlua_set_int(L, "cache_hits", (lua_Integer)st.cache_hits);
    lsmlua_set_int(L, "cache_misses", (lua_Integer)st.cache_misses);
    lsmlua_set_int(L, "bloom_useful", (lua_Integer)st.bloom_useful);
    lsmlua_set_int(L, "bloom_useless", (lua_Integer)st.bloom_useless);
    return 1;
}

/* db:recovery() -> what recovery did at open (the write-ahead log's, and
 * what a repair set aside) */
static int l_recovery(lua_State *L) {
    lsmlua_push_recovery(L, lsmlog_db_recovery(todb(L, 1)->h));
    return 1;
}

/* ---- registration ------------------------------------------------------- */

const char *lsmlua_db_type(lua_State *L, int idx) {
    lua_db *d = luaL_testudata(L, idx, DB_MT);
    if (d) return d->h ? "db" : "closed db";
    lua_snap *s = luaL_testudata(L, idx, SNAP_MT);
    if (s) return s->h ? "snapshot" : "closed snapshot";
    lua_dbiter *it = luaL_testudata(L, idx, DBITER_MT);
    if (it) return it->h ? "iterator" : "closed iterator";
    return NULL;
}

static const luaL_Reg db_methods[] = {
    {"put", l_put},         {"get", l_get},
    {"delete", l_delete},   {"write", l_write},
    {"scan", l_scan},       {"snapshot", l_snapshot},
    {"compact", l_compact}, {"flush", l_flush},
    {"sync", l_sync},       {"flush_memtable", l_flush_memtable},
    {"stats", l_stats},     {"recovery", l_recovery},
    {"close", l_db_close},  {NULL, NULL},
};

/* __close is close() without its results: a failure raises only for misuse
 * (inside the progress function), else becomes a warning, as in __gc. */
static int l_db_close_meta(lua_State *L) {
    lua_db *d = luaL_checkudata(L, 1, DB_MT);
    if (d->h) todb_idle(L, 1, "close");
    return l_db_gc(L);
}

static const luaL_Reg db_meta[] = {
    {"__index", NULL},
    {"__gc", l_db_gc},
    {"__close", l_db_close_meta},
    {"__tostring", l_db_tostring},
    {NULL, NULL},
};

static const luaL_Reg snap_methods[] = {
    {"get", l_snap_get},
    {"scan", l_snap_scan},
    {"close", l_snap_close},
    {NULL, NULL},
};

static const luaL_Reg snap_meta[] = {
    {"__index", NULL}, {"__gc", l_snap_gc}, {"__close", l_snap_gc}, {"__tostring", l_snap_tostring},
    {NULL, NULL},
};

static const luaL_Reg iter_methods[] = {
    {"close", l_iter_close},
    {NULL, NULL},
};

static const luaL_Reg iter_meta[] = {
    {"__index", NULL},
    {"__gc", l_iter_close},
    {"__close", l_iter_close},
    {"__tostring", l_iter_tostring},
    {NULL, NULL},
};

static void new_metatable(lua_State *L, const char *name, const luaL_Reg *meta,
                          const luaL_Reg *methods) {
    luaL_newmetatable(L, name);
    luaL_setfuncs(L, meta, 0);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}

void lsmlua_db_init(lua_State *L) {
    new_metatable(L, DB_MT, db_meta, db_methods);
    new_metatable(L, SNAP_MT, snap_meta, snap_methods);
    new_metatable(L, DBITER_MT, iter_meta, iter_methods);
}
