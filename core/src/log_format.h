/* log_format.h — constants of the Log's on-disk format. The prose, with a
 * worked example and the reasons, is docs/format-log.md. All integers are
 * little-endian. Every stored CRC is a masked CRC32C (crc32c_mask). */
#ifndef LSMLOG_LOG_FORMAT_H
#define LSMLOG_LOG_FORMAT_H

/* Segment files are named by their base offset: 20 decimal digits + ".log",
 * with "<base>.index" and "<base>.timeindex" beside them (Kafka's naming). */
#define SEG_NAME_DIGITS 20
#define SEG_SUFFIX ".log"
#define IDX_SUFFIX ".index"
#define TIDX_SUFFIX ".timeindex"
#define LOCK_NAME "LOCK"
#define LOST_DIR "lost" /* repair moves damaged originals here */

#define LOG_FORMAT_VERSION 1u

/* Segment file header, 40 bytes:
 *   0  magic[8]      "lsmlogSG"
 *   8  u32 version   LOG_FORMAT_VERSION
 *  12  u32 max_len   capacity of this file in bytes, header included: the
 *                    writer never grows the file past it
 *  16  u64 base      offset of the first record this file may hold (= name)
 *  24  i64 created   wall-clock ms when the file was made (for segment_ms)
 *  32  u32 reserved  0
 *  36  u32 crc       masked crc32c of bytes 0..35 */
#define SEG_MAGIC "lsmlogSG"
#define SEG_HEADER_SIZE 40u

/* Batch, one after another from byte 40 to the end of the segment:
 *   0  u32 header_crc   masked crc32c of header bytes 4..31
 *   4  u32 body_len     bytes of body that follow the header
 *   8  u64 base_offset  offset of the first record
 *  16  i64 first_ts     timestamp of the first record (ms)
 *  24  u32 count        records in the batch, >= 1; offsets base..base+count-1
 *  28  u32 body_crc     masked crc32c of the body
 *  32  body: count records, each
 *        varint64 zigzag(timestamp - first_ts)
 *        varint32 value length
 *        value bytes */
#define BATCH_HEADER_SIZE 32u
#define BATCH_MAX_RECORD_OVERHEAD 15u /* varint64 (10) + varint32 (5) */

/* Index files: a 64-byte header, then entries.
 *   0  magic[8]  "lsmlogIX" (.index) or "lsmlogTI" (.timeindex)
 *   8  u32 version
 *  12  u32 count        entries
 *  16  u64 base         segment base offset
 *  24  u64 seg_size     segment file size these entries describe: a file of
 *                       another size makes the index stale
 *  32  u64 end          offset after the segment's last record
 *  40  i64 first_ts     timestamp of the segment's first record
 *  48  i64 max_ts       largest timestamp in the segment
 *  56  u32 entries_crc  masked crc32c of the entries
 *  60  u32 header_crc   masked crc32c of bytes 0..59
 * .index entries, 8 bytes:      u32 offset - base, u32 file position of the batch
 * .timeindex entries, 16 bytes: i64 largest timestamp before the batch in this
 *                               segment (INT64_MIN for the first), u32 offset - base,
 *                               u32 file position */
#define IDX_MAGIC "lsmlogIX"
#define TIDX_MAGIC "lsmlogTI"
#define IDX_HEADER_SIZE 64u
#define IDX_ENTRY_SIZE 8u
#define TIDX_ENTRY_SIZE 16u

/* An index entry is made for a batch that starts at least this many bytes
 * after the previous entry (Kafka's index.interval.bytes). */
#define INDEX_INTERVAL_BYTES 4096u

/* Durability "buffered" hands the buffer to the OS once it holds this much. */
#define BUFFERED_FLUSH_BYTES (1u << 20)

#endif
