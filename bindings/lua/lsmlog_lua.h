/*
 * lsmlog_lua.h — what the two halves of the Lua module share: the Log half
 * (lsmlog_lua.c, which also holds luaopen_lsmlog) and the DB half
 * (lsmlog_lua_db.c). Type and error conversion only; the conventions are at
 * the top of lsmlog_lua.c. Hidden: only luaopen_lsmlog leaves the module.
 */
#ifndef LSMLOG_LUA_H
#define LSMLOG_LUA_H

#include "lsmlog.h"

#include <lauxlib.h>
#include <lua.h>

#include <stddef.h>

#if defined(__GNUC__)
#define LSMLUA_HIDDEN __attribute__((visibility("hidden")))
#else
#define LSMLUA_HIDDEN
#endif

/* A metatable {__mode = "k"}: of every handle's table of live children. */
#define LSMLUA_WEAK_KEYS "lsmlog.weak_keys"

/* ---- errors (lsmlog_lua.c) ---------------------------------------------- */

/* Raises the message on top of the stack, with the caller's position. */
LSMLUA_HIDDEN int lsmlua_raise_top(lua_State *L);

/* After a failing call: raises for misuse (LSMLOG_E_INVALID, _READONLY,
 * _CLOSED), else returns nil, message, code. */
LSMLUA_HIDDEN int lsmlua_fail(lua_State *L, int rc);

/* After a failing call in an iterator or metamethod: raises the message. */
LSMLUA_HIDDEN int lsmlua_fail_raise(lua_State *L);

/* true for LSMLOG_OK, else as lsmlua_fail. */
LSMLUA_HIDDEN int lsmlua_push_ok(lua_State *L, int rc);

/* ---- arguments ---------------------------------------------------------- */

/* A string, and only a string (a number is not converted). */
LSMLUA_HIDDEN const char *lsmlua_check_bytes(lua_State *L, int arg, size_t *len);

/* The field `name` of the table argument `arg`: an integer (1 and *out) or
 * nil (0); anything else raises, naming it as `what` ("option", "field"). */
LSMLUA_HIDDEN int lsmlua_field_int(lua_State *L, int arg, const char *what, const char *name,
                                   lua_Integer *out);

/* The same for a boolean option. */
LSMLUA_HIDDEN int lsmlua_field_bool(lua_State *L, int arg, const char *name, int *out);

/* Raises if the table argument `arg` has a key not in `names` (NULL-
 * terminated). */
LSMLUA_HIDDEN void lsmlua_check_keys(lua_State *L, int arg, const char *const names[],
                                     const char *what);

/* Reads the options both stores take (durability, create, readonly, repair)
 * from the table argument `arg` into *o, after checking that its keys are
 * in `names`. */
LSMLUA_HIDDEN void lsmlua_read_common_options(lua_State *L, int arg, const char *const names[],
                                              lsmlog_options *o);

/* ---- results ------------------------------------------------------------ */

/* t[k] = v on the table on top of the stack. */
LSMLUA_HIDDEN void lsmlua_set_int(lua_State *L, const char *k, lua_Integer v);

/* Pushes the `len` bytes at v (owned, from the core) as a string and frees
 * them, even when making the string raises a memory error. */
LSMLUA_HIDDEN void lsmlua_push_owned(lua_State *L, void *v, size_t len);

/* Pushes a table of what recovery did. */
LSMLUA_HIDDEN void lsmlua_push_recovery(lua_State *L, const lsmlog_recovery *r);

/* ---- the DB half (lsmlog_lua_db.c) -------------------------------------- */

/* Makes the DB's metatables (called once by luaopen_lsmlog). */
LSMLUA_HIDDEN void lsmlua_db_init(lua_State *L);

/* lsmlog.open_db(path [, options]) */
LSMLUA_HIDDEN int lsmlua_open_db(lua_State *L);

/* For lsmlog.type: "db", "closed db", "snapshot", "closed snapshot",
 * "iterator", "closed iterator" for a DB object at idx, or NULL. */
LSMLUA_HIDDEN const char *lsmlua_db_type(lua_State *L, int idx);

#endif /* LSMLOG_LUA_H */
