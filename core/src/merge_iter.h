/* merge_iter.h — the merging iterator: one sorted view (ikey_cmp order) of
 * the entries of many internal iterators (iter.h) — the memtables, the
 * level-0 tables and the level iterators of a version — in both directions.
 *
 * Children are ordered newest source first (memtables newest first, then
 * level-0 tables newest first, then levels 1, 2, ...). The DB never gives
 * two entries the same internal key, so the order only breaks ties that
 * should not happen: an equal key is yielded from the earlier child first.
 *
 * The valid children sit in a binary heap on their current keys (cached, so
 * that a comparison calls no child), smallest first moving forward, largest
 * first moving backward: a step moves one child and sifts it down, about
 * 2 log2(n) key comparisons where LevelDB's linear scan makes n - 1 and asks
 * every child for its key through a function pointer. It matters for a
 * compaction out of level 0 (each level-0 table is a child) and for reads
 * while level 0 is full. A direction switch (or a seek) rebuilds the heap.
 *
 * Errors: an error of any child (a table block failing its CRC, an I/O
 * error, a table that will not open) fails the merging iterator at once, with
 * that child's status, sticky. It does not carry on without the child: that
 * would show older versions of keys the failed child shadows — wrong data.
 *
 * (LevelDB's table/merger.cc, written anew, with errors made fatal.) */
#ifndef LSMLOG_MERGE_ITER_H
#define LSMLOG_MERGE_ITER_H

#include <stddef.h>

#include "iter.h"

/* A merging iterator over children[0..n), which it takes over: they are
 * closed when it is, and also when this call fails. The array itself is
 * borrowed (copied). n may be 0 (never valid). *out owned (iiter_close): an
 * iiter following every rule of iter.h. LSMLOG_OK or LSMLOG_E_NOMEM. */
int merge_iter_new(iiter **children, size_t n, iiter **out);

#endif
