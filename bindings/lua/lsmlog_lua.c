/*
 * lsmlog_lua.c — the Lua 5.4 binding of lsmlog (`require "lsmlog"`): the
 * module, the helpers both halves share (lsmlog_lua.h) and the Log. The DB
 * is in lsmlog_lua_db.c and follows the same conventions.
 *
 * Thin: it converts types and errors and nothing more; every behaviour is the
 * core's (core/include/lsmlog.h, docs/log.md, docs/db.md). The user-facing
 * contract is the Lua section of API.md; docs/lua.md says what is built and
 * the choices made.
 *
 * The model is liolib.c (5.4):
 *  - A handle is a full userdata holding the C handle, NULL when closed. It is
 *    made (closed) before the C resource is opened, so a memory error after
 *    the open cannot strand the resource: the userdata's __gc closes it.
 *  - `tolog`, like liolib's `tofile`, rejects a closed handle by raising.
 *  - Misuse raises (a wrong type, a closed handle, a bad option value, a write
 *    on a read-only handle: LSMLOG_E_INVALID, LSMLOG_E_READONLY); any other
 *    failure returns nil, message, code (the LSMLOG_E_* number). Iterators
 *    raise instead, as io.lines does: they are consumed by a generic `for`,
 *    where a nil would silently end the loop.
 *  - Iterators are C closures. The iterator userdata is their upvalue and the
 *    generic `for`'s 4th (to-be-closed) value, so `break` releases it
 *    (LuaFileSystem's dir_iter).
 *
 * Parent and children (lsqlite3's pattern): the C core refuses to close a log
 * while iterators are open (LSMLOG_E_BUSY). An iterator userdata keeps its
 * log userdata alive (user value 1), and the log keeps a weak-keyed table of
 * its iterators (its user value 1) that it closes before closing itself; an
 * iterator whose log closed raises when used, and never touches the freed
 * log. An iterator is registered before its C iterator is opened, so every
 * open C iterator is always in its log's table.
 *
 * lsmlog_errmsg() belongs to the thread and to the last failing call, and a
 * Lua allocation may run a finalizer that makes another failing call: so a
 * message is always pushed right after the failing call, before anything else
 * allocates.
 */
#include "lsmlog_lua.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define LOG_MT "lsmlog.log"
#define ITER_MT "lsmlog.iterator"
#define WEAK_KEYS LSMLUA_WEAK_KEYS

/* How long one wait of a tail lasts before Lua hooks get a chance to run
 * (lua.c answers Ctrl-C with a hook). */
#define WAIT_SLICE_MS 100

/* A log handle. User values: 1 = weak-keyed table of live iterators,
 * 2 = the path it was opened with (for __tostring). */
typedef struct lua_log {
    lsmlog_log *h; /* NULL: closed (or not opened yet) */
    int readonly;
} lua_log;

/* An iterator. User value 1 = its log userdata (keeps it alive). */
typedef struct lua_iter {
    lsmlog_log_iter *h; /* NULL: closed */
    int ended;          /* no more records: every further step returns nil */
    int tail;           /* follow the log: wait for new records */
    int64_t idle_ms;    /* tail: end after this long with nothing new; < 0: never */
    uint64_t next;      /* offset after the last record returned */
} lua_iter;

/* ---- errors ------------------------------------------------------------- */

/* Raises the message on top of the stack, with the caller's position. */
int lsmlua_raise_top(lua_State *L) {
    luaL_where(L, 1);
    lua_insert(L, -2);
    lua_concat(L, 2);
    return lua_error(L);
}

/* After a failing call: raises for misuse, else returns nil, message, code. */
int lsmlua_fail(lua_State *L, int rc) {
    lua_pushstring(L, lsmlog_errmsg()); /* first: see the top of the file */
    if (rc == LSMLOG_E_INVALID || rc == LSMLOG_E_READONLY || rc == LSMLOG_E_CLOSED)
        return lsmlua_raise_top(L);
    lua_pushnil(L);
    lua_insert(L, -2);
    lua_pushinteger(L, rc);
    return 3;
}

/* After a failing call in an iterator or metamethod: raises. */
int lsmlua_fail_raise(lua_State *L) {
    lua_pushstring(L, lsmlog_errmsg());
    return lsmlua_raise_top(L);
}

int lsmlua_push_ok(lua_State *L, int rc) {
    if (rc != LSMLOG_OK) return lsmlua_fail(L, rc);
    lua_pushboolean(L, 1);
    return 1;
}

/* ---- argument conversion ------------------------------------------------ */

/* A Lua number with an exact integer value (not a numeric string). */
static lua_Integer check_int(lua_State *L, int arg) {
    int ok = 0;
    lua_Integer v = 0;
    if (lua_type(L, arg) == LUA_TNUMBER) v = lua_tointegerx(L, arg, &ok);
    if (!ok) {
        if (lua_type(L, arg) == LUA_TNUMBER)
            luaL_argerror(L, arg, "number has no integer representation");
        luaL_typeerror(L, arg, "integer");
    }
    return v;
}

static uint64_t check_offset(lua_State *L, int arg) {
    lua_Integer v = check_int(L, arg);
    luaL_argcheck(L, v >= 0, arg, "offset must be >= 0");
    return (uint64_t)v;
}

static uint64_t opt_offset(lua_State *L, int arg, uint64_t def) {
    return lua_isnoneornil(L, arg) ? def : check_offset(L, arg);
}

/* A timestamp in ms since the epoch; nil or none: now. */
static int64_t opt_ts(lua_State *L, int arg) {
    return lua_isnoneornil(L, arg) ? LSMLOG_NOW : (int64_t)check_int(L, arg);
}

/* A string, and only a string: values are bytes, and a number converted
 * behind the user's back would not read back as what was appended. */
const char *lsmlua_check_bytes(lua_State *L, int arg, size_t *len) {
    if (lua_type(L, arg) != LUA_TSTRING) luaL_typeerror(L, arg, "string");
    return lua_tolstring(L, arg, len);
}

/* Seconds (a number >= 0; nil or math.huge: never) to milliseconds, -1 for
 * never. */
static int64_t opt_timeout_ms(lua_State *L, int arg) {
    if (lua_isnoneornil(L, arg)) return -1;
    if (lua_type(L, arg) != LUA_TNUMBER) luaL_typeerror(L, arg, "number");
    lua_Number s = lua_tonumber(L, arg);
    luaL_argcheck(L, s >= 0, arg, "timeout must be >= 0 seconds"); /* also rejects NaN */
    if (s >= 9.0e15 / 1000) return -1;                             /* beyond any clock: never */
    return (int64_t)ceil(s * 1000);
}

/* The field `name` of the table argument `arg` (an "option" or a "field"),
 * which must be a number with an integer value, or nil: 1 and *out, or 0. */
int lsmlua_field_int(lua_State *L, int arg, const char *what, const char *name, lua_Integer *out) {
    int type = lua_getfield(L, arg, name), ok = 0;
    if (type == LUA_TNIL) {
        lua_pop(L, 1);
        return 0;
    }
    if (type == LUA_TNUMBER) *out = lua_tointegerx(L, -1, &ok);
    if (!ok)
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "%s '%s' must be an integer, not %s", what, name,
                                      type == LUA_TNUMBER ? "a number with a fraction"
                                                          : luaL_typename(L, -1)));
    lua_pop(L, 1);
    return 1;
}

/* Raises if the table argument `arg` has a key not in `names` (NULL-
 * terminated): a misspelt option must not be silently ignored. */
void lsmlua_check_keys(lua_State *L, int arg, const char *const names[], const char *what) {
    lua_pushnil(L);
    while (lua_next(L, arg)) {
        lua_pop(L, 1);
        int known = 0;
        if (lua_type(L, -1) == LUA_TSTRING)
            for (int i = 0; names[i] && !known; i++)
                known = strcmp(lua_tostring(L, -1), names[i]) == 0;
        if (!known) {
            luaL_Buffer b;
            if (lua_type(L, -1) != LUA_TSTRING)
                luaL_argerror(L, arg,
                              lua_pushfstring(L, "%s names must be strings, not %s", what,
                                              luaL_typename(L, -1)));
            luaL_buffinit(L, &b);
            lua_pushfstring(L, "unknown %s '%s' (known:", what, lua_tostring(L, -2));
            luaL_addvalue(&b);
            for (int i = 0; names[i]; i++) {
                luaL_addchar(&b, ' ');
                luaL_addstring(&b, names[i]);
            }
            luaL_addchar(&b, ')');
            luaL_pushresult(&b);
            luaL_argerror(L, arg, lua_tostring(L, -1));
        }
    }
}

/* ---- log handles -------------------------------------------------------- */

static lua_log *tolog(lua_State *L, int i) {
    lua_log *lg = luaL_checkudata(L, i, LOG_MT);
    if (lg->h == NULL) luaL_error(L, "attempt to use a closed log");
    return lg;
}

/* Closes every iterator of the log at `idx` (its C iterators, marking the
 * userdata ended), then the log itself. The status of lsmlog_log_close. */
static int close_log(lua_State *L, int idx) {
    lua_log *lg = lua_touserdata(L, idx);
    idx = lua_absindex(L, idx);
    if (lua_getiuservalue(L, idx, 1) == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            lua_pop(L, 1);
            lua_iter *it = luaL_testudata(L, -1, ITER_MT);
            if (it) {
                if (it->h) lsmlog_log_iter_close(it->h);
                it->h = NULL;
                it->ended = 1;
            }
            lua_pushvalue(L, -1);
            lua_pushnil(L); /* clearing a field while traversing is allowed */
            lua_rawset(L, -4);
        }
    }
    lua_pop(L, 1);
    int rc = lsmlog_log_close(lg->h);
    /* the core frees the handle even when the final flush fails; BUSY cannot
     * happen (every iterator was closed above) but would leave it open */
    if (rc != LSMLOG_E_BUSY) lg->h = NULL;
    return rc;
}

/* log:close() -> true, or nil, message, code if the final flush failed (the
 * handle is closed either way). Closing a closed log does nothing. */
static int l_log_close(lua_State *L) {
    lua_log *lg = luaL_checkudata(L, 1, LOG_MT);
    if (!lg->h) {
        lua_pushboolean(L, 1);
        return 1;
    }
    return lsmlua_push_ok(L, close_log(L, 1));
}

/* __gc and __close: close quietly, as liolib does; a failure becomes a
 * warning (lua -W shows them). */
static int l_log_gc(lua_State *L) {
    lua_log *lg = luaL_checkudata(L, 1, LOG_MT);
    if (lg->h && close_log(L, 1) != LSMLOG_OK) {
        lua_warning(L, "lsmlog: closing a log: ", 1);
        lua_warning(L, lsmlog_errmsg(), 0);
    }
    return 0;
}

static int l_log_tostring(lua_State *L) {
    lua_log *lg = luaL_checkudata(L, 1, LOG_MT);
    lua_getiuservalue(L, 1, 2);
    if (lg->h)
        lua_pushfstring(L, "lsmlog.log (\"%s\"%s)", lua_tostring(L, -1),
                        lg->readonly ? ", read-only" : "");
    else
        lua_pushliteral(L, "lsmlog.log (closed)");
    return 1;
}

static const char *const log_option_names[] = {"durability",    "create",     "readonly", "repair",
                                               "segment_bytes", "segment_ms", NULL};

int lsmlua_field_bool(lua_State *L, int arg, const char *name, int *out) {
    int type = lua_getfield(L, arg, name);
    if (type != LUA_TNIL && type != LUA_TBOOLEAN)
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "option '%s' must be a boolean, not %s", name,
                                      luaL_typename(L, -1)));
    if (type == LUA_TBOOLEAN) *out = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return type != LUA_TNIL;
}

void lsmlua_read_common_options(lua_State *L, int arg, const char *const names[],
                                lsmlog_options *o) {
    luaL_checktype(L, arg, LUA_TTABLE);
    lsmlua_check_keys(L, arg, names, "option");
    int type = lua_getfield(L, arg, "durability");
    if (type != LUA_TNIL) {
        if (type != LUA_TSTRING)
            luaL_argerror(L, arg,
                          lua_pushfstring(L, "option 'durability' must be a string, not %s",
                                          luaL_typename(L, -1)));
        if (lsmlog_durability_parse(lua_tostring(L, -1), &o->durability) != LSMLOG_OK)
            luaL_argerror(L, arg,
                          lua_pushfstring(
                              L, "durability must be \"buffered\", \"os\" or \"sync\", not \"%s\"",
                              lua_tostring(L, -1)));
    }
    lua_pop(L, 1);
    lsmlua_field_bool(L, arg, "create", &o->create);
    lsmlua_field_bool(L, arg, "readonly", &o->readonly);
    lsmlua_field_bool(L, arg, "repair", &o->repair);
}

static void read_log_options(lua_State *L, int arg, lsmlog_options *o) {
    lsmlua_read_common_options(L, arg, log_option_names, o);
    lua_Integer v;
    if (lsmlua_field_int(L, arg, "option", "segment_bytes", &v)) {
        luaL_argcheck(L, v > 0, arg, "option 'segment_bytes' must be > 0");
        o->segment_bytes = (uint64_t)v;
    }
    if (lsmlua_field_int(L, arg, "option", "segment_ms", &v)) {
        luaL_argcheck(L, v >= 0, arg, "option 'segment_ms' must be >= 0");
        o->segment_ms = (int64_t)v;
    }
}

/* lsmlog.open_log(path [, options]) -> log, or nil, message, code. */
static int l_open_log(lua_State *L) {
    size_t len;
    const char *path = lsmlua_check_bytes(L, 1, &len);
    luaL_argcheck(L, strlen(path) == len, 1, "path contains a zero byte");
    lsmlog_options o;
    lsmlog_options_init(&o);
    if (!lua_isnoneornil(L, 2)) read_log_options(L, 2, &o);

    /* the userdata and its tables first, closed: nothing can fail after the open */
    lua_log *lg = lua_newuserdatauv(L, sizeof *lg, 2);
    lg->h = NULL;
    lg->readonly = o.readonly;
    luaL_setmetatable(L, LOG_MT);
    lua_newtable(L); /* live iterators, weak keys: an unreferenced one is collected (and closed) */
    luaL_getmetatable(L, WEAK_KEYS);
    lua_setmetatable(L, -2);
    lua_setiuservalue(L, -2, 1);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 2);

    int rc = lsmlog_log_open(path, &o, &lg->h);
    if (rc != LSMLOG_OK) return lsmlua_fail(L, rc);
    return 1;
}

/* log:append(value [, ts]) -> offset */
static int l_append(lua_State *L) {
    lua_log *lg = tolog(L, 1);
    size_t len;
    const char *v = lsmlua_check_bytes(L, 2, &len);
    int64_t ts = opt_ts(L, 3);
    uint64_t off;
    int rc = lsmlog_log_append(lg->h, v, len, ts, &off);
    if (rc != LSMLOG_OK) return lsmlua_fail(L, rc);
    lua_pushinteger(L, (lua_Integer)off);
    return 1;
}

/* log:append_batch({v1, v2, ...} [, ts]) -> offset of v1 */
static int l_append_batch(lua_State *L) {
    lua_log *lg = tolog(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    int64_t ts = opt_ts(L, 3);
    size_t n = (size_t)lua_rawlen(L, 2);
    luaL_argcheck(L, n > 0, 2, "empty batch");
    luaL_argcheck(L, n <= SIZE_MAX / sizeof(lsmlog_entry), 2, "batch too large");
    /* scratch owned by Lua, so an error below frees it; the strings stay
     * alive in the table, which no Lua code can touch before the append */
    lsmlog_entry *e = lua_newuserdatauv(L, n * sizeof *e, 0);
    for (size_t i = 0; i < n; i++) {
        if (lua_rawgeti(L, 2, (lua_Integer)i + 1) != LUA_TSTRING)
            luaL_argerror(L, 2,
                          lua_pushfstring(L, "string expected at index %I, got %s",
                                          (lua_Integer)i + 1, luaL_typename(L, -1)));
        e[i].data = lua_tolstring(L, -1, &e[i].len);
        e[i].ts = ts;
        lua_pop(L, 1);
    }
    uint64_t first;
    int rc = lsmlog_log_append_batch(lg->h, e, n, &first);
    if (rc != LSMLOG_OK) return lsmlua_fail(L, rc);
    lua_pushinteger(L, (lua_Integer)first);
    return 1;
}

static int l_flush(lua_State *L) {
    return lsmlua_push_ok(L, lsmlog_log_flush(tolog(L, 1)->h));
}
static int l_sync(lua_State *L) {
    return lsmlua_push_ok(L, lsmlog_log_sync(tolog(L, 1)->h));
}

static int push_value(lua_State *L) { /* protected: copies the value into a string */
    lua_pushlstring(L, lua_touserdata(L, 1), (size_t)lua_tointeger(L, 2));
    return 1;
}

void lsmlua_push_owned(lua_State *L, void *v, size_t len) {
    /* the copy is the caller's to free: make the string under protection, so
     * a memory error does not leak it (neither push below allocates) */
    lua_pushcfunction(L, push_value);
    lua_pushlightuserdata(L, v);
    lua_pushinteger(L, (lua_Integer)len);
    int rc = lua_pcall(L, 2, 1, 0);
    lsmlog_free(v);
    if (rc != LUA_OK) lua_error(L);
}

/* log:get(offset) -> value, ts; nil if there is no record at offset */
static int l_get(lua_State *L) {
    lua_log *lg = tolog(L, 1);
    uint64_t off = check_offset(L, 2);
    int64_t ts;
    void *v;
    size_t len;
    int rc = lsmlog_log_get(lg->h, off, &ts, &v, &len);
    if (rc == LSMLOG_NOTFOUND) {
        lua_pushnil(L);
        return 1;
    }
    if (rc != LSMLOG_OK) return lsmlua_fail(L, rc);
    lsmlua_push_owned(L, v, len);
    lua_pushinteger(L, ts);
    return 2;
}

static int bounds(lua_State *L, uint64_t *start, uint64_t *end) {
    return lsmlog_log_bounds(tolog(L, 1)->h, start, end);
}

/* log:start_offset() -> first retained offset */
static int l_start_offset(lua_State *L) {
    uint64_t s;
    int rc = bounds(L, &s, NULL);
    if (rc != LSMLOG_OK) return lsmlua_fail(L, rc);
    lua_pushinteger(L, (lua_Integer)s);
    return 1;
}

/* log:end_offset() -> next offset to be assigned */
static int l_end_offset(lua_State *L) {
    uint64_t e;
    int rc = bounds(L, NULL, &e);
    if (rc != LSMLOG_OK) return lsmlua_fail(L, rc);
    lua_pushinteger(L, (lua_Integer)e);
    return 1;
}

/* #log -> end - start (offsets set aside by a repair included). A metamethod
 * cannot return nil, message, code: a failure raises. */
static int l_len(lua_State *L) {
    uint64_t s, e;
    if (bounds(L, &s, &e) != LSMLOG_OK) return lsmlua_fail_raise(L);
    lua_pushinteger(L, (lua_Integer)(e - s));
    return 1;
}

/* log:offset_for_time(ts) -> first offset with timestamp >= ts, or nil */
static int l_offset_for_time(lua_State *L) {
    lua_log *lg = tolog(L, 1);
    int64_t ts = (int64_t)check_int(L, 2);
    uint64_t off;
    int rc = lsmlog_log_offset_for_time(lg->h, ts, &off);
    if (rc == LSMLOG_NOTFOUND) {
        lua_pushnil(L);
        return 1;
    }
    if (rc != LSMLOG_OK) return lsmlua_fail(L, rc);
    lua_pushinteger(L, (lua_Integer)off);
    return 1;
}

/* log:truncate_before(offset) -> true */
static int l_truncate_before(lua_State *L) {
    lua_log *lg = tolog(L, 1);
    return lsmlua_push_ok(L, lsmlog_log_truncate_before(lg->h, check_offset(L, 2)));
}

static const char *const retain_names[] = {"max_bytes", "max_age_ms", NULL};

/* log:retain{max_bytes =, max_age_ms =} -> number of segments dropped */
static int l_retain(lua_State *L) {
    lua_log *lg = tolog(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lsmlua_check_keys(L, 2, retain_names, "field");
    lua_Integer max_bytes = 0, max_age_ms = 0;
    lsmlua_field_int(L, 2, "field", "max_bytes", &max_bytes);
    lsmlua_field_int(L, 2, "field", "max_age_ms", &max_age_ms);
    luaL_argcheck(L, max_bytes >= 0, 2, "field 'max_bytes' must be >= 0");
    luaL_argcheck(L, max_age_ms >= 0, 2, "field 'max_age_ms' must be >= 0");
    uint64_t dropped = 0;
    int rc = lsmlog_log_retain(lg->h, (uint64_t)max_bytes, (int64_t)max_age_ms, &dropped);
    if (rc != LSMLOG_OK) return lsmlua_fail(L, rc);
    lua_pushinteger(L, (lua_Integer)dropped);
    return 1;
}

/* log:verify() -> number of records checked, or nil, message, code */
static int l_verify(lua_State *L) {
    lua_log *lg = tolog(L, 1);
    uint64_t n = 0;
    int rc = lsmlog_log_verify(lg->h, &n);
    if (rc != LSMLOG_OK) return lsmlua_fail(L, rc);
    lua_pushinteger(L, (lua_Integer)n);
    return 1;
}

void lsmlua_set_int(lua_State *L, const char *k, lua_Integer v) {
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

void lsmlua_push_recovery(lua_State *L, const lsmlog_recovery *r) {
    lua_createtable(L, 0, 5);
    lsmlua_set_int(L, "truncated_bytes", (lua_Integer)r->truncated_bytes);
    lsmlua_set_int(L, "dropped_batches", (lua_Integer)r->dropped_batches);
    lsmlua_set_int(L, "dropped_bytes", (lua_Integer)r->dropped_bytes);
    lsmlua_set_int(L, "rebuilt_indexes", (lua_Integer)r->rebuilt_indexes);
    lua_pushstring(L, r->message ? r->message : "");
    lua_setfield(L, -2, "message");
}

/* log:recovery() -> table: what recovery did when the log was opened */
static int l_recovery(lua_State *L) {
    lsmlua_push_recovery(L, lsmlog_log_recovery(tolog(L, 1)->h));
    return 1;
}

/* log:stat() -> table of figures */
static int l_stat(lua_State *L) {
    lua_log *lg = tolog(L, 1);
    lsmlog_log_info info;
    int rc = lsmlog_log_stat(lg->h, &info);
    if (rc != LSMLOG_OK) return lsmlua_fail(L, rc);
    lua_createtable(L, 0, 6);
    lsmlua_set_int(L, "start_offset", (lua_Integer)info.start);
    lsmlua_set_int(L, "end_offset", (lua_Integer)info.end);
    lsmlua_set_int(L, "segments", (lua_Integer)info.segments);
    lsmlua_set_int(L, "bytes", (lua_Integer)info.bytes);
    lsmlua_set_int(L, "first_ts", info.first_ts);
    lsmlua_set_int(L, "max_ts", info.max_ts);
    return 1;
}

static int64_t mono_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int noop(lua_State *L) {
    (void)L;
    return 0;
}

/* Between slices of a long wait: if a hook is set (lua.c sets one on
 * Ctrl-C), call a function so that the hook runs; it may raise. */
static void let_hooks_run(lua_State *L) {
    if (lua_gethook(L)) {
        lua_pushcfunction(L, noop); /* a light C function: no allocation */
        lua_call(L, 0, 0);
    }
}

/* Waits until the log holds a record at `offset` or past it, in slices so
 * that hooks run. LSMLOG_OK, LSMLOG_TIMEOUT or an error. */
static int wait_for(lua_State *L, lua_log *lg, uint64_t offset, int64_t timeout_ms) {
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : mono_ms() + timeout_ms;
    for (;;) {
        int64_t slice = WAIT_SLICE_MS;
        if (deadline != INT64_MAX) {
            int64_t left = deadline - mono_ms();
            if (left < slice) slice = left < 0 ? 0 : left;
        }
        int rc = lsmlog_log_wait(lg->h, offset, slice);
        if (rc != LSMLOG_TIMEOUT || slice < WAIT_SLICE_MS) return rc;
        let_hooks_run(L);
        if (!lg->h) /* a hook closed the log */
            return luaL_error(L, "the log was closed while waiting");
    }
}

/* log:wait(offset [, timeout_s]) -> true once a record at offset or past it
 * exists, false after timeout_s seconds (nil: no limit) */
static int l_wait(lua_State *L) {
    lua_log *lg = tolog(L, 1);
    uint64_t off = check_offset(L, 2);
    int64_t ms = opt_timeout_ms(L, 3);
    int rc = wait_for(L, lg, off, ms);
    if (rc == LSMLOG_TIMEOUT) {
        lua_pushboolean(L, 0);
        return 1;
    }
    return lsmlua_push_ok(L, rc);
}

/* ---- iterators ---------------------------------------------------------- */

/* Closes the C iterator of the iterator userdata at `idx` and takes it out
 * of its log's table. Idempotent; allocates nothing (it runs in __gc). */
static void close_iter(lua_State *L, int idx) {
    lua_iter *it = lua_touserdata(L, idx);
    idx = lua_absindex(L, idx);
    if (it->h) lsmlog_log_iter_close(it->h);
    it->h = NULL;
    it->ended = 1;
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

static int l_iter_close(lua_State *L) {
    luaL_checkudata(L, 1, ITER_MT);
    close_iter(L, 1);
    return 0;
}

static int l_iter_tostring(lua_State *L) {
    lua_iter *it = luaL_checkudata(L, 1, ITER_MT);
    if (it->h)
        lua_pushfstring(L, "lsmlog.iterator (%s, next offset %I)", it->tail ? "tail" : "records",
                        (lua_Integer)it->next);
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

/* One step: off, value, ts, or nil at the end (records: the end of what
 * exists or a bound; tail: `idle_ms` with nothing new). Raises on failure.
 *
 * A tail that has caught up waits for a record past max(next, end), with end
 * read *before* one more look: waiting for `next` alone would spin when the
 * iterator has moved past it (retention, or a log whose start is past the
 * requested offset), and reading end after the look could skip a record that
 * landed in between. */
static int iter_step(lua_State *L) {
    int self = lua_upvalueindex(1);
    lua_iter *it = lua_touserdata(L, self);
    lua_getiuservalue(L, self, 1);
    lua_log *lg = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (!lg->h) return luaL_error(L, "attempt to use an iterator of a closed log");
    if (it->ended) {
        lua_pushnil(L);
        return 1;
    }
    int64_t deadline = INT64_MIN; /* tail: set when it first catches up */
    int probed = 0;               /* tail: `target` holds a fresh end */
    uint64_t target = 0;
    for (;;) {
        lsmlog_record rec;
        int rc = lsmlog_log_iter_next(it->h, &rec);
        if (rc == LSMLOG_OK) {
            it->next = rec.offset + 1;
            lua_pushinteger(L, (lua_Integer)rec.offset);
            lua_pushlstring(L, rec.value, rec.len); /* copies before any finalizer can run */
            lua_pushinteger(L, rec.timestamp);
            return 3;
        }
        if (rc != LSMLOG_NOTFOUND) return iter_fail(L, self);
        if (!it->tail) break;
        if (!probed) {
            uint64_t end;
            if (lsmlog_log_bounds(lg->h, NULL, &end) != LSMLOG_OK) return iter_fail(L, self);
            target = end > it->next ? end : it->next;
            probed = 1;
            continue; /* one more look, now that end is known */
        }
        int64_t slice = WAIT_SLICE_MS;
        if (it->idle_ms >= 0) {
            int64_t now = mono_ms();
            if (deadline == INT64_MIN)
                deadline = now + it->idle_ms;
            else if (now >= deadline)
                break; /* the last look was taken after the deadline */
            if (deadline - now < slice) slice = deadline - now;
        }
        rc = lsmlog_log_wait(lg->h, target, slice);
        if (rc == LSMLOG_OK)
            probed = 0; /* something new: look, and probe again if need be */
        else if (rc != LSMLOG_TIMEOUT)
            return iter_fail(L, self);
        else {
            let_hooks_run(L);
            if (!lg->h) return luaL_error(L, "attempt to use an iterator of a closed log");
            if (!it->h) break; /* a hook closed the iterator */
        }
    }
    close_iter(L, self); /* at the end: release it at once */
    lua_pushnil(L);
    return 1;
}

/* Makes an iterator over the log at index 1 and returns the four values of
 * a generic for: the step closure, nil, nil, and the iterator (to-be-closed). */
static int open_iter(lua_State *L, const lsmlog_iter_opts *o, int tail, int64_t idle_ms) {
    lua_log *lg = tolog(L, 1);
    lua_iter *it = lua_newuserdatauv(L, sizeof *it, 1);
    memset(it, 0, sizeof *it);
    it->tail = tail;
    it->idle_ms = idle_ms;
    it->next = o->start;
    luaL_setmetatable(L, ITER_MT);
    int self = lua_gettop(L);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, self, 1); /* the child keeps its parent alive */
    lua_pushvalue(L, self);
    lua_pushcclosure(L, iter_step, 1);
    /* registered before it is opened: the log can always close it */
    lua_getiuservalue(L, 1, 1);
    lua_pushvalue(L, self);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    int rc = lsmlog_log_iter_open(lg->h, o, &it->h);
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

static const char *const records_names[] = {"start", "stop", "since", "until", NULL};

/* log:records([start [, stop]]) or log:records{start =, stop =, since =, ["until"] =} */
static int l_records(lua_State *L) {
    tolog(L, 1);
    lsmlog_iter_opts o;
    lsmlog_iter_opts_init(&o);
    if (lua_type(L, 2) == LUA_TTABLE) {
        luaL_argcheck(L, lua_isnoneornil(L, 3), 3, "no argument expected after a table");
        lsmlua_check_keys(L, 2, records_names, "field");
        lua_Integer v;
        if (lsmlua_field_int(L, 2, "field", "start", &v)) {
            luaL_argcheck(L, v >= 0, 2, "field 'start' must be >= 0");
            o.start = (uint64_t)v;
        }
        if (lsmlua_field_int(L, 2, "field", "stop", &v)) {
            luaL_argcheck(L, v >= 0, 2, "field 'stop' must be >= 0");
            o.stop = (uint64_t)v;
        }
        if (lsmlua_field_int(L, 2, "field", "since", &v)) o.since = (int64_t)v;
        if (lsmlua_field_int(L, 2, "field", "until", &v)) o.until = (int64_t)v;
    } else {
        o.start = opt_offset(L, 2, 0);
        o.stop = opt_offset(L, 3, UINT64_MAX);
    }
    lua_settop(L, 1);
    return open_iter(L, &o, 0, -1);
}

/* log:tail([start [, timeout_s]]): records from start (nil: the current
 * end), waiting for new ones; ends after timeout_s seconds with nothing new
 * (nil: never). */
static int l_tail(lua_State *L) {
    tolog(L, 1);
    lsmlog_iter_opts o;
    lsmlog_iter_opts_init(&o);
    int64_t idle_ms = opt_timeout_ms(L, 3);
    if (lua_isnoneornil(L, 2)) {
        int rc = bounds(L, NULL, &o.start);
        if (rc != LSMLOG_OK) return lsmlua_fail_raise(L);
    } else
        o.start = check_offset(L, 2);
    lua_settop(L, 1);
    return open_iter(L, &o, 1, idle_ms);
}

/* ---- module ------------------------------------------------------------- */

/* lsmlog.type(x) -> "log", "closed log", "db", "closed db", "snapshot",
 * "closed snapshot", "iterator", "closed iterator" or nil */
static int l_type(lua_State *L) {
    luaL_checkany(L, 1);
    lua_log *lg = luaL_testudata(L, 1, LOG_MT);
    lua_iter *it = lg ? NULL : luaL_testudata(L, 1, ITER_MT);
    const char *db = lg || it ? NULL : lsmlua_db_type(L, 1);
    if (lg)
        lua_pushstring(L, lg->h ? "log" : "closed log");
    else if (it)
        lua_pushstring(L, it->h ? "iterator" : "closed iterator");
    else if (db)
        lua_pushstring(L, db);
    else
        lua_pushnil(L);
    return 1;
}

/* lsmlog.strerror(code) -> the fixed text of a status code */
static int l_strerror(lua_State *L) {
    lua_pushstring(L, lsmlog_strerror((int)check_int(L, 1)));
    return 1;
}

static const luaL_Reg log_methods[] = {
    {"append", l_append},
    {"append_batch", l_append_batch},
    {"get", l_get},
    {"records", l_records},
    {"tail", l_tail},
    {"wait", l_wait},
    {"flush", l_flush},
    {"sync", l_sync},
    {"start_offset", l_start_offset},
    {"end_offset", l_end_offset},
    {"offset_for_time", l_offset_for_time},
    {"truncate_before", l_truncate_before},
    {"retain", l_retain},
    {"verify", l_verify},
    {"recovery", l_recovery},
    {"stat", l_stat},
    {"close", l_log_close},
    {NULL, NULL},
};

/* __index is set to the table of methods by new_metatable */
static const luaL_Reg log_meta[] = {
    {"__index", NULL}, {"__gc", l_log_gc}, {"__close", l_log_gc}, {"__tostring", l_log_tostring},
    {"__len", l_len},  {NULL, NULL},
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

static const luaL_Reg module_funcs[] = {
    {"open_log", l_open_log},
    {"open_db", lsmlua_open_db},
    {"type", l_type},
    {"strerror", l_strerror},
    {NULL, NULL},
};

static void new_metatable(lua_State *L, const char *name, const luaL_Reg *meta,
                          const luaL_Reg *methods) {
    luaL_newmetatable(L, name);
    luaL_setfuncs(L, meta, 0);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
}

#define SET_CODE(name)                                                                             \
    do {                                                                                           \
        lua_pushinteger(L, LSMLOG_##name);                                                         \
        lua_setfield(L, -2, #name);                                                                \
    } while (0)

__attribute__((visibility("default"))) int luaopen_lsmlog(lua_State *L) {
    luaL_checkversion(L);
    new_metatable(L, LOG_MT, log_meta, log_methods);
    lua_pop(L, 1);
    new_metatable(L, ITER_MT, iter_meta, iter_methods);
    lua_pop(L, 1);
    luaL_newmetatable(L, WEAK_KEYS); /* of every handle's table of children */
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_pop(L, 1);
    lsmlua_db_init(L);

    luaL_newlib(L, module_funcs);
    lua_pushliteral(L, LSMLOG_VERSION);
    lua_setfield(L, -2, "version");
    SET_CODE(E_IO);
    SET_CODE(E_CORRUPT);
    SET_CODE(E_NOMEM);
    SET_CODE(E_INVALID);
    SET_CODE(E_BUSY);
    SET_CODE(E_LOCKED);
    SET_CODE(E_CLOSED);
    SET_CODE(E_READONLY);
    SET_CODE(E_TOOBIG);
    SET_CODE(E_VERSION);
    SET_CODE(E_NOENT);
    SET_CODE(E_FAILED);
    SET_CODE(E_CANCELED);
    return 1;
}
