/*
 * weir.h - the Weir guest SDK for C (guest ABI v1, abi/SPEC.md).
 *
 * A single-header library, stb style. Every translation unit that uses the
 * SDK includes this file; exactly one of them defines WEIR_IMPLEMENTATION
 * first, which compiles the ABI exports, the operator registry, the builders
 * and the plan builder into it:
 *
 *     #define WEIR_IMPLEMENTATION
 *     #include "weir.h"
 *
 * The module that includes the implementation must define the operator table
 * and the plan function:
 *
 *     const weir_function weir_functions[] = {
 *         WEIR_MAP("scale", scale_open, scale_map),
 *         WEIR_END
 *     };
 *     weir_status weir_build_plan(weir_plan *p, int argc, const char *const *argv);
 *
 * Build (wasi-libc from Debian's wasi-libc package):
 *
 *     clang --target=wasm32-wasi --sysroot=/usr -mexec-model=reactor -O3 -flto \
 *           -msimd128 -mbulk-memory -Wall -Wextra -Werror -o job.wasm job.c
 *
 * See README.md in this directory for a guided tour, RATIONALE.md for the
 * design decisions.
 *
 * Conventions of the API:
 *   - Functions returning weir_status return WEIR_OK (0) or WEIR_ERROR (1).
 *     Functions returning a pointer return NULL on failure. Either way the
 *     failure has already been recorded with its message: return WEIR_ERROR
 *     from the operator callback and the host reports it.
 *   - A misuse of the API during a call (a column index out of range, a typed
 *     accessor on a column of another type, memory exhausted) fails the call
 *     even if the callback then returns WEIR_OK: the message names the
 *     function and the misuse.
 *   - Input views (weir_batch, weir_col, weir_str) alias host memory and are
 *     valid only during the call. Outputs stay valid until the next call.
 */
#ifndef WEIR_H
#define WEIR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if !defined(__wasm32__)
#error "weir.h targets wasm32 (clang --target=wasm32-wasi): the ABI structures have the wasm32 layout"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Status, kinds, types
 * ---------------------------------------------------------------------- */

/* weir_status is the result of a fallible call: WEIR_OK or WEIR_ERROR. */
typedef int weir_status;
#define WEIR_OK 0
#define WEIR_ERROR 1

/* Operator kinds, numbered as in the ABI (SPEC section 8). */
typedef enum weir_kind {
    WEIR_KIND_MAP = 1,
    WEIR_KIND_FLATMAP = 2,
    WEIR_KIND_FILTER = 3,
    WEIR_KIND_PROCESS = 4,
    WEIR_KIND_AGGREGATE = 5
} weir_kind;

/* Column types are Arrow C Data Interface format strings (SPEC 4.3). */
#define WEIR_BOOL "b"
#define WEIR_INT8 "c"
#define WEIR_INT16 "s"
#define WEIR_INT32 "i"
#define WEIR_INT64 "l"
#define WEIR_UINT8 "C"
#define WEIR_UINT16 "S"
#define WEIR_UINT32 "I"
#define WEIR_UINT64 "L"
#define WEIR_FLOAT32 "f"
#define WEIR_FLOAT64 "g"
#define WEIR_UTF8 "u"
#define WEIR_BINARY "z"
#define WEIR_DATE32 "tdD"
#define WEIR_TIMESTAMP_S "tss:"
#define WEIR_TIMESTAMP_MS "tsm:"
#define WEIR_TIMESTAMP_US "tsu:"
#define WEIR_TIMESTAMP_NS "tsn:"
/* WEIR_TIMESTAMP("m", "UTC") is "tsm:UTC": unit "s", "m", "u" or "n" and a
 * time zone, both string literals. */
#define WEIR_TIMESTAMP(unit, tz) "ts" unit ":" tz

/* The physical classification of a type. */
typedef enum weir_type_id {
    WEIR_T_INVALID = 0,
    WEIR_T_BOOL,
    WEIR_T_INT8,
    WEIR_T_INT16,
    WEIR_T_INT32,
    WEIR_T_INT64,
    WEIR_T_UINT8,
    WEIR_T_UINT16,
    WEIR_T_UINT32,
    WEIR_T_UINT64,
    WEIR_T_FLOAT32,
    WEIR_T_FLOAT64,
    WEIR_T_UTF8,
    WEIR_T_BINARY,
    WEIR_T_TIMESTAMP,
    WEIR_T_DATE32
} weir_type_id;

/* weir_type_of returns the id of a format string, WEIR_T_INVALID if it is
 * not an ABI v1 type. */
weir_type_id weir_type_of(const char *format);

/* weir_type_name writes the Weir name of a type ("int64",
 * "timestamp[ms, UTC]") into buf like snprintf and returns buf. */
const char *weir_type_name(const char *format, char *buf, size_t size);

/* weir_type_width is the byte width of one value of a fixed-width type; 0
 * for bool, utf8, binary and invalid. */
int weir_type_width(weir_type_id id);

/* ------------------------------------------------------------------------
 * The wasm32 layout of the Arrow C Data Interface (SPEC 4.1)
 * ---------------------------------------------------------------------- */

typedef struct weir_c_schema {
    const char *format;
    const char *name;
    const char *metadata; /* 0 in v1 */
    int64_t flags;        /* 2 = nullable */
    int64_t n_children;
    struct weir_c_schema **children;
    struct weir_c_schema *dictionary; /* 0 in v1 */
    uint32_t release;                 /* never called across the boundary */
    uint32_t private_data;
} weir_c_schema;

typedef struct weir_c_array {
    int64_t length;
    int64_t null_count;
    int64_t offset;
    int64_t n_buffers;
    int64_t n_children;
    const void **buffers;
    struct weir_c_array **children;
    struct weir_c_array *dictionary; /* 0 in v1 */
    uint32_t release;
    uint32_t private_data;
} weir_c_array;

_Static_assert(sizeof(weir_c_schema) == 48, "ArrowSchema is 48 bytes on wasm32");
_Static_assert(offsetof(weir_c_schema, flags) == 16, "ArrowSchema.flags at 16");
_Static_assert(offsetof(weir_c_schema, children) == 32, "ArrowSchema.children at 32");
_Static_assert(offsetof(weir_c_schema, release) == 40, "ArrowSchema.release at 40");
_Static_assert(sizeof(weir_c_array) == 64, "ArrowArray is 64 bytes on wasm32");
_Static_assert(offsetof(weir_c_array, buffers) == 40, "ArrowArray.buffers at 40");
_Static_assert(offsetof(weir_c_array, release) == 52, "ArrowArray.release at 52");

/* ------------------------------------------------------------------------
 * Schemas and input batches (read-only views)
 * ---------------------------------------------------------------------- */

/* A column of a schema. */
typedef struct weir_field {
    const char *name;
    const char *type; /* format string */
    weir_type_id id;
    bool nullable;
} weir_field;

typedef struct weir_schema {
    int n;
    const weir_field *fields;
} weir_schema;

/* weir_schema_find returns the index of the column called name, or -1. */
int weir_schema_find(const weir_schema *s, const char *name);

/* A string or binary value: len bytes at ptr, not NUL-terminated. */
typedef struct weir_str {
    const char *ptr;
    int32_t len;
} weir_str;

/* One column of an input batch, already adjusted for the Arrow offset: row
 * i is element i of values/offsets and bit bit_off + i of the bitmaps. */
typedef struct weir_col {
    weir_type_id id;
    int64_t len;             /* rows */
    const uint8_t *validity; /* NULL when no row is null */
    const uint8_t *bits;     /* bool: the values bitmap */
    int bit_off;             /* 0..7: bit of row 0 in validity[0] and bits[0] */
    const void *values;      /* fixed width: the value of row 0 */
    const int32_t *offsets;  /* utf8/binary: len + 1 offsets into data */
    const uint8_t *data;     /* utf8/binary bytes */
    int64_t null_count;      /* -1 when unknown: use weir_null_count */
} weir_col;

/* An input batch: rows rows of ncols columns. */
typedef struct weir_batch {
    int64_t rows;
    int ncols;
    const weir_col *cols;
    const weir_schema *schema;
} weir_batch;

static inline bool weir_bit(const uint8_t *bits, int64_t i) {
    return (bits[i >> 3] >> (i & 7)) & 1;
}

/* weir_is_valid reports whether row i of c is not null. */
static inline bool weir_is_valid(const weir_col *c, int64_t i) {
    return c->validity == NULL || weir_bit(c->validity, c->bit_off + i);
}

static inline bool weir_is_null(const weir_col *c, int64_t i) { return !weir_is_valid(c, i); }

/* weir_get_bool returns the value of row i of a bool column. */
static inline bool weir_get_bool(const weir_col *c, int64_t i) {
    return weir_bit(c->bits, c->bit_off + i);
}

/* weir_get_str returns row i of a utf8 or binary column (empty for null). */
static inline weir_str weir_get_str(const weir_col *c, int64_t i) {
    weir_str s;
    s.ptr = (const char *)c->data + c->offsets[i];
    s.len = c->offsets[i + 1] - c->offsets[i];
    return s;
}

/* weir_null_count returns the number of null rows of c (counting the
 * validity bitmap if the host did not give the count). */
int64_t weir_null_count(const weir_col *c);

/* weir_column returns column j of in after checking that its type is id
 * (WEIR_T_INVALID: any type). On a mismatch or a bad index it records the
 * misuse and returns NULL. */
const weir_col *weir_column(const weir_batch *in, int j, weir_type_id id);

/* Typed views of fixed-width input columns: the values of rows 0..rows-1,
 * including the unspecified values under nulls. NULL if column j does not
 * have that type (the call then fails). */
#define WEIR__READER(suffix, ctype, tid)                                         \
    static inline const ctype *weir_##suffix(const weir_batch *in, int j) {     \
        const weir_col *c = weir_column(in, j, tid);                             \
        return c ? (const ctype *)c->values : (const ctype *)0;                  \
    }
WEIR__READER(i8, int8_t, WEIR_T_INT8)
WEIR__READER(i16, int16_t, WEIR_T_INT16)
WEIR__READER(i32, int32_t, WEIR_T_INT32)
WEIR__READER(i64, int64_t, WEIR_T_INT64)
WEIR__READER(u8, uint8_t, WEIR_T_UINT8)
WEIR__READER(u16, uint16_t, WEIR_T_UINT16)
WEIR__READER(u32, uint32_t, WEIR_T_UINT32)
WEIR__READER(u64, uint64_t, WEIR_T_UINT64)
WEIR__READER(f32, float, WEIR_T_FLOAT32)
WEIR__READER(f64, double, WEIR_T_FLOAT64)
WEIR__READER(ts, int64_t, WEIR_T_TIMESTAMP)
WEIR__READER(date32, int32_t, WEIR_T_DATE32)
#undef WEIR__READER

/* ------------------------------------------------------------------------
 * Bitmaps (least-significant bit first)
 * ---------------------------------------------------------------------- */

/* weir_bits_count returns the number of set bits among bits off..off+n-1. */
int64_t weir_bits_count(const uint8_t *bits, int64_t off, int64_t n);

/* weir_bits_copy copies n bits from src (from bit soff) to dst (from bit
 * doff); other bits of dst are left alone. */
void weir_bits_copy(uint8_t *dst, int64_t doff, const uint8_t *src, int64_t soff, int64_t n);

/* weir_bits_fill sets bits from..to-1 of dst to v. */
void weir_bits_fill(uint8_t *dst, int64_t from, int64_t to, bool v);

/* weir_bits_and clears bit i of dst (bits 0..n-1) where bit soff + i of src
 * is clear. */
void weir_bits_and(uint8_t *dst, const uint8_t *src, int64_t soff, int64_t n);

/* ------------------------------------------------------------------------
 * Output builders
 * ---------------------------------------------------------------------- */

/* The builder of one output column. Private: use the functions below. */
typedef struct weir__colbuf {
    weir_type_id id;
    int width;          /* bytes per value, 0 for bool and strings */
    int64_t len;        /* values appended */
    int64_t cap;        /* capacity in values */
    uint8_t *vals;      /* values, bool bitmap, or cap + 1 int32 offsets */
    uint8_t *data;      /* utf8/binary bytes */
    int64_t data_len, data_cap;
    uint8_t *valid;     /* validity bitmap, (cap + 7) / 8 bytes when active */
    bool valid_active;  /* a bitmap is kept (some value may be null) */
    int64_t nulls;      /* nulls appended */
    const char *name;
} weir__colbuf;

/* weir_builder builds the output batch of a call, column by column. The
 * SDK resets it before each call and reuses its memory. */
typedef struct weir_builder weir_builder;
struct weir_builder {
    int ncols;
    weir__colbuf *cols;
    const weir_schema *schema;
    int64_t rows; /* rows of a batch without columns */
    void *region; /* exported structures */
};

/* weir__grow makes room for n more values in column j (private). */
weir__colbuf *weir__grow(weir_builder *b, int j, weir_type_id id, int64_t n);
weir__colbuf *weir__col(weir_builder *b, int j, weir_type_id id, const char *what);

/* weir_out_len returns the number of values appended to column j. */
int64_t weir_out_len(const weir_builder *b, int j);

/* weir_out_rows sets the row count of an output batch that has no columns
 * (with columns the row count is their length). */
weir_status weir_out_rows(weir_builder *b, int64_t rows);

/* weir_append_null appends a null to column j (any type). */
weir_status weir_append_null(weir_builder *b, int j);

/* weir_set_null makes the already appended value i of column j null. */
weir_status weir_set_null(weir_builder *b, int j, int64_t i);

/* weir_copy_column appends every row of column src of in, nulls included,
 * to column dst, which must have the same type. */
weir_status weir_copy_column(weir_builder *b, int dst, const weir_batch *in, int src);

/* weir_append_batch appends every row of in, whose column types must match
 * the output's column by column (the identity map). */
weir_status weir_append_batch(weir_builder *b, const weir_batch *in);

/* Fixed-width columns, for each type suffix (i8 ... f64, ts, date32):
 *
 *   T *weir_out_<s>(b, j, n)          appends n non-null values and returns
 *                                     them for the caller to write: the
 *                                     vectorised way to fill a column.
 *   T *weir_out_<s>_from(b, j, src)   appends src->len values whose nulls
 *                                     are copied from input column src (nulls
 *                                     pass through a map) and returns them.
 *   weir_append_<s>(b, j, v)          appends one value.
 *
 * The pointers stay valid until the column is next appended to. They are
 * NULL if column j does not have that type or memory is exhausted. */
weir__colbuf *weir__extend_from(weir_builder *b, int j, weir_type_id id, const weir_col *src);

#define WEIR__WRITER(suffix, ctype, tid)                                                     \
    static inline ctype *weir_out_##suffix(weir_builder *b, int j, int64_t n) {              \
        weir__colbuf *c = weir__grow(b, j, tid, n);                                          \
        if (!c) return (ctype *)0;                                                           \
        if (c->valid_active) weir_bits_fill(c->valid, c->len, c->len + n, true);             \
        c->len += n;                                                                         \
        return (ctype *)c->vals + (c->len - n);                                              \
    }                                                                                        \
    static inline ctype *weir_out_##suffix##_from(weir_builder *b, int j, const weir_col *src) { \
        weir__colbuf *c = weir__extend_from(b, j, tid, src);                                 \
        return c ? (ctype *)c->vals + (c->len - src->len) : (ctype *)0;                      \
    }                                                                                        \
    static inline weir_status weir_append_##suffix(weir_builder *b, int j, ctype v) {        \
        weir__colbuf *c = b->cols && j >= 0 && j < b->ncols ? &b->cols[j] : (weir__colbuf *)0; \
        if (!c || c->id != (tid) || c->len >= c->cap || c->valid_active) {                   \
            c = weir__grow(b, j, tid, 1);                                                    \
            if (!c) return WEIR_ERROR;                                                       \
            if (c->valid_active) weir_bits_fill(c->valid, c->len, c->len + 1, true);         \
        }                                                                                    \
        ((ctype *)c->vals)[c->len++] = v;                                                    \
        return WEIR_OK;                                                                      \
    }
WEIR__WRITER(i8, int8_t, WEIR_T_INT8)
WEIR__WRITER(i16, int16_t, WEIR_T_INT16)
WEIR__WRITER(i32, int32_t, WEIR_T_INT32)
WEIR__WRITER(i64, int64_t, WEIR_T_INT64)
WEIR__WRITER(u8, uint8_t, WEIR_T_UINT8)
WEIR__WRITER(u16, uint16_t, WEIR_T_UINT16)
WEIR__WRITER(u32, uint32_t, WEIR_T_UINT32)
WEIR__WRITER(u64, uint64_t, WEIR_T_UINT64)
WEIR__WRITER(f32, float, WEIR_T_FLOAT32)
WEIR__WRITER(f64, double, WEIR_T_FLOAT64)
WEIR__WRITER(ts, int64_t, WEIR_T_TIMESTAMP)
WEIR__WRITER(date32, int32_t, WEIR_T_DATE32)
#undef WEIR__WRITER

/* weir_append_bool appends a bool value; weir_append_bools appends n
 * non-null values. */
weir_status weir_append_bool(weir_builder *b, int j, bool v);
weir_status weir_append_bools(weir_builder *b, int j, const bool *v, int64_t n);

/* Strings (utf8 and binary columns). utf8 values must be valid UTF-8: the
 * host checks every output. */

/* weir_append_str appends len bytes at p as one value. */
weir_status weir_append_str(weir_builder *b, int j, const void *p, size_t len);

/* weir_append_slot appends one value of len bytes and returns them for the
 * caller to write (NULL on failure; never NULL otherwise, even for len 0). */
char *weir_append_slot(weir_builder *b, int j, size_t len);

/* weir_extend_raw appends n non-null values totalling size bytes, for code
 * that writes offsets and bytes directly. It sets *offsets to the n + 1
 * offsets of the new values, of which (*offsets)[0], the start of the first
 * value, is already set, and *data to the size bytes, which start at
 * (*offsets)[0]. The caller fills data and sets (*offsets)[1..n] to
 * non-decreasing values ending at (*offsets)[0] + size. */
weir_status weir_extend_raw(weir_builder *b, int j, int64_t n, int64_t size, int32_t **offsets,
                            uint8_t **data);

/* weir_copy_str_column appends every row of the utf8/binary input column src
 * (nulls included) to column j and returns the appended bytes, the
 * concatenation of the values, so that a length-preserving transformation
 * (ASCII case mapping) can be applied in place. *size receives their count. */
uint8_t *weir_copy_str_column(weir_builder *b, int j, const weir_col *src, int64_t *size);

/* ------------------------------------------------------------------------
 * Filters: the selection of kept rows
 * ---------------------------------------------------------------------- */

/* weir_selection receives the rows a filter keeps; rows are dropped unless
 * kept. Forms, most vectorised first: weir_sel_all / weir_sel_none; a bitmap
 * (weir_sel_bits, then weir_sel_mask to drop null rows); weir_sel_keep per
 * row; weir_sel_append of increasing row indices (sent as a selection
 * vector). The forms may be mixed; the SDK converts as needed. */
typedef struct weir_selection {
    int64_t rows;
    int mode;         /* private */
    uint8_t *bits;    /* private */
    int64_t bits_cap; /* private */
    int32_t *idx;     /* private */
    int64_t n_idx, idx_cap; /* private */
} weir_selection;

/* weir_sel_bits switches to the bitmap form and returns the bitmap,
 * ceil(rows / 8) bytes: set bit i to keep row i. Rows already kept are set,
 * others clear. NULL if memory is exhausted. */
uint8_t *weir_sel_bits(weir_selection *s);
void weir_sel_all(weir_selection *s);
void weir_sel_none(weir_selection *s);
weir_status weir_sel_keep(weir_selection *s, int64_t i);
/* weir_sel_append keeps row i; rows must be appended in increasing order. */
weir_status weir_sel_append(weir_selection *s, int64_t i);
/* weir_sel_mask drops the rows where column c is null. */
weir_status weir_sel_mask(weir_selection *s, const weir_col *c);

/* ------------------------------------------------------------------------
 * Tables: keyed state (process) and accumulators (aggregate)
 * ---------------------------------------------------------------------- */

/* weir_table is a mutable, column-oriented table with random access by row:
 * the state of a process operator (one row per distinct key of the batch)
 * and the accumulators of an aggregate. Its values are never null: a null in
 * the host's copy reads as zero (false, empty). The SDK fills it before the
 * call and sends it back after; it is valid only during the call. */
typedef struct weir_table weir_table;

int64_t weir_table_rows(const weir_table *t);
const weir_schema *weir_table_schema(const weir_table *t);

/* weir_table_exists reports whether key row k has state: it had state when
 * the call began and weir_table_clear was not called for it. Accumulator
 * rows always exist. */
bool weir_table_exists(const weir_table *t, int64_t k);
/* weir_table_clear drops the state of key row k when the call returns. By
 * default every key of the batch keeps (or gets) the state in its row. */
void weir_table_clear(weir_table *t, int64_t k);
/* weir_table_keep undoes weir_table_clear. */
void weir_table_keep(weir_table *t, int64_t k);

void *weir__table_values(weir_table *t, int j, weir_type_id id);

/* weir_table_<s>(t, j) returns the rows' values of column j to read and
 * write in place (NULL if the column has another type). bool columns are
 * bool arrays. */
#define WEIR__TABLE(suffix, ctype, tid)                                       \
    static inline ctype *weir_table_##suffix(weir_table *t, int j) {          \
        return (ctype *)weir__table_values(t, j, tid);                        \
    }
WEIR__TABLE(bool, bool, WEIR_T_BOOL)
WEIR__TABLE(i8, int8_t, WEIR_T_INT8)
WEIR__TABLE(i16, int16_t, WEIR_T_INT16)
WEIR__TABLE(i32, int32_t, WEIR_T_INT32)
WEIR__TABLE(i64, int64_t, WEIR_T_INT64)
WEIR__TABLE(u8, uint8_t, WEIR_T_UINT8)
WEIR__TABLE(u16, uint16_t, WEIR_T_UINT16)
WEIR__TABLE(u32, uint32_t, WEIR_T_UINT32)
WEIR__TABLE(u64, uint64_t, WEIR_T_UINT64)
WEIR__TABLE(f32, float, WEIR_T_FLOAT32)
WEIR__TABLE(f64, double, WEIR_T_FLOAT64)
WEIR__TABLE(ts, int64_t, WEIR_T_TIMESTAMP)
WEIR__TABLE(date32, int32_t, WEIR_T_DATE32)
#undef WEIR__TABLE

/* weir_table_get_str returns row k of a utf8/binary column. */
weir_str weir_table_get_str(weir_table *t, int j, int64_t k);
/* weir_table_set_str sets row k of a utf8/binary column to a copy of len
 * bytes at p. */
weir_status weir_table_set_str(weir_table *t, int j, int64_t k, const void *p, size_t len);

/* ------------------------------------------------------------------------
 * Operators
 * ---------------------------------------------------------------------- */

/* weir_op is one opened operator: an instance of a registered function in
 * one subtask. The open callback reads its name, params and input schema,
 * declares its output (and state) columns and keeps what the batch
 * callbacks need with weir_op_data_new. */
typedef struct weir_op weir_op;

typedef weir_status (*weir_open_fn)(weir_op *op);
/* A map appends exactly one output row per input row, in order; a flatmap
 * any number. */
typedef weir_status (*weir_map_fn)(weir_op *op, const weir_batch *in, weir_builder *out);
typedef weir_status (*weir_filter_fn)(weir_op *op, const weir_batch *in, weir_selection *sel);
/* Row i of in belongs to key row keys[i] of state (SPEC 9.3). */
typedef weir_status (*weir_process_fn)(weir_op *op, const weir_batch *in, const int32_t *keys,
                                       weir_table *state, weir_builder *out);
/* Aggregates (SPEC 9.4): init fills fresh accumulators (optional: they start
 * zeroed), add adds input row i into accumulator groups[i], merge merges
 * accumulator other[i] into acc[groups[i]], result appends one row per
 * accumulator. */
typedef weir_status (*weir_agg_init_fn)(weir_op *op, weir_table *acc);
typedef weir_status (*weir_agg_add_fn)(weir_op *op, weir_table *acc, const weir_batch *in,
                                       const int32_t *groups);
typedef weir_status (*weir_agg_merge_fn)(weir_op *op, weir_table *acc, weir_table *other,
                                         const int32_t *groups);
typedef weir_status (*weir_agg_result_fn)(weir_op *op, weir_table *acc, weir_builder *out);

/* An entry of the module's function table. */
typedef struct weir_function {
    const char *name;
    weir_kind kind;
    weir_open_fn open;
    weir_map_fn map; /* map and flatmap */
    weir_filter_fn filter;
    weir_process_fn process;
    weir_agg_init_fn agg_init;
    weir_agg_add_fn agg_add;
    weir_agg_merge_fn agg_merge;
    weir_agg_result_fn agg_result;
} weir_function;

#define WEIR_MAP(name_, open_, fn_) \
    { .name = (name_), .kind = WEIR_KIND_MAP, .open = (open_), .map = (fn_) }
#define WEIR_FLATMAP(name_, open_, fn_) \
    { .name = (name_), .kind = WEIR_KIND_FLATMAP, .open = (open_), .map = (fn_) }
#define WEIR_FILTER(name_, open_, fn_) \
    { .name = (name_), .kind = WEIR_KIND_FILTER, .open = (open_), .filter = (fn_) }
#define WEIR_PROCESS(name_, open_, fn_) \
    { .name = (name_), .kind = WEIR_KIND_PROCESS, .open = (open_), .process = (fn_) }
#define WEIR_AGGREGATE(name_, open_, init_, add_, merge_, result_)                          \
    { .name = (name_), .kind = WEIR_KIND_AGGREGATE, .open = (open_), .agg_init = (init_), \
      .agg_add = (add_), .agg_merge = (merge_), .agg_result = (result_) }
#define WEIR_END { .name = 0 }

/* Defined by the module: its functions, ending with WEIR_END, and its plan. */
extern const weir_function weir_functions[];
typedef struct weir_plan weir_plan;
weir_status weir_build_plan(weir_plan *p, int argc, const char *const *argv);

const char *weir_op_name(const weir_op *op);
weir_kind weir_op_kind(const weir_op *op);
/* weir_op_params returns the node's params string from the plan (a
 * NUL-terminated copy; weir_op_params_len gives its length, which counts
 * any NUL byte the text itself holds). */
const char *weir_op_params(const weir_op *op);
size_t weir_op_params_len(const weir_op *op);
const weir_schema *weir_op_input_schema(const weir_op *op);

/* weir_op_input returns the index of input column name after checking that
 * its type is type (NULL: any). A timestamp type without a zone, such as
 * WEIR_TIMESTAMP_MS, accepts that unit in any zone. On failure it records
 * `input has no column "x" (columns: ...)` or `column "x" is utf8, want
 * float64` and returns -1: return WEIR_ERROR from open. */
int weir_op_input(weir_op *op, const char *name, const char *type);

/* weir_op_output adds a nullable column to the output schema (the result
 * schema of an aggregate); weir_op_output_field with explicit nullability;
 * weir_op_output_input makes the output schema the input's. Only in open. */
weir_status weir_op_output(weir_op *op, const char *name, const char *type);
weir_status weir_op_output_field(weir_op *op, const char *name, const char *type, bool nullable);
weir_status weir_op_output_input(weir_op *op);
/* weir_op_state adds a column to the state (process) or accumulator
 * (aggregate) schema. Only in open. */
weir_status weir_op_state(weir_op *op, const char *name, const char *type);

/* weir_op_data_new allocates size zeroed bytes for the operator's own data,
 * returned by weir_op_data until the operator is closed, when the SDK frees
 * them. NULL if memory is exhausted. */
void *weir_op_data_new(weir_op *op, size_t size);
void *weir_op_data(const weir_op *op);
/* weir_op_on_close registers fn, called with weir_op_data(op) when the
 * operator is closed (before the data is freed). */
void weir_op_on_close(weir_op *op, void (*fn)(void *data));

/* ------------------------------------------------------------------------
 * Errors and logging (SPEC 5 and 6)
 * ---------------------------------------------------------------------- */

/* weir_errorf sets the message of the current call's failure, formatted like
 * printf (at most 4095 bytes, cut at a UTF-8 character boundary), and returns
 * WEIR_ERROR. The message of a batch callback reaches the user verbatim; the
 * SDK prefixes messages from open with the function name. */
weir_status weir_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* weir_error sets the message to the len bytes at msg, verbatim. */
weir_status weir_error(const char *msg, size_t len);

#define WEIR_LOG_DEBUG 0
#define WEIR_LOG_INFO 1
#define WEIR_LOG_WARN 2
#define WEIR_LOG_ERROR 3
/* weir_log writes a line to the host's structured log (the weir.log import);
 * lines count against the call's output budget. */
void weir_log(int level, const char *msg, size_t len);
void weir_logf(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------------------
 * Parameters and arguments
 * ---------------------------------------------------------------------- */

/* weir_parse_f64 parses plain decimal text ("-12", "0.908", "1e-3"; spaces
 * around it allowed) to the nearest double. false for anything else or a
 * value beyond the range of double. */
bool weir_parse_f64(const char *s, size_t len, double *out);
/* weir_parse_i64 parses a decimal integer ("-12"; spaces around it allowed).
 * false for anything else or a value out of range. */
bool weir_parse_i64(const char *s, size_t len, int64_t *out);

/* A command-line flag for weir_parse_flags: value starts as the default. */
typedef struct weir_flag {
    const char *name;
    const char *value;
    const char *usage;
} weir_flag;

/* weir_parse_flags parses "-name value", "--name value", "-name=value" and
 * "--name=value" arguments into flags until the first non-flag argument or
 * "--". It returns the index of the first argument not consumed, or -1 with
 * the error recorded ("flag provided but not defined: -x", "flag needs an
 * argument: -input"). Values point into argv. */
int weir_parse_flags(weir_flag *flags, int nflags, int argc, const char *const *argv);

/* ------------------------------------------------------------------------
 * The plan (SPEC 7)
 * ---------------------------------------------------------------------- */

/* weir_build_plan receives an empty plan and adds nodes to it. Mistakes (a
 * process node without key_by, a duplicate id ...) are recorded and reported
 * when the plan is serialised, naming the plan. Nodes have generated ids
 * (the function, or source-<connector>, made unique) unless set with
 * weir_set_id. */
typedef struct weir_node weir_node;

void weir_plan_name(weir_plan *p, const char *name);
void weir_plan_parallelism(weir_plan *p, int n);
void weir_plan_max_parallelism(weir_plan *p, int n);
void weir_plan_config(weir_plan *p, const char *key, const char *value);

/* weir_source adds a source node reading from the native connector, with
 * connector params given as key, value pairs ending with NULL. */
weir_node *weir_source(weir_plan *p, const char *connector, ...) __attribute__((sentinel));
/* weir_sink adds a sink node writing in's output to the native connector. */
weir_node *weir_sink(weir_node *in, const char *connector, ...) __attribute__((sentinel));
/* Operator nodes over in's output running the registered function; params
 * (NULL: none) is passed verbatim to weir_open. */
weir_node *weir_map(weir_node *in, const char *function, const char *params);
weir_node *weir_flatmap(weir_node *in, const char *function, const char *params);
weir_node *weir_filter(weir_node *in, const char *function, const char *params);
weir_node *weir_process(weir_node *in, const char *function, const char *params);
weir_node *weir_aggregate(weir_node *in, const char *function, const char *params);

/* weir_key_by partitions n's input by the hash of the named columns (a list
 * ending with NULL); process nodes require it. Returns n. */
weir_node *weir_key_by(weir_node *n, ...) __attribute__((sentinel));
/* weir_rebalance distributes n's input round-robin. Returns n. */
weir_node *weir_rebalance(weir_node *n);
/* weir_add_input makes other's output one more input of n (a union). */
weir_node *weir_add_input(weir_node *n, weir_node *other);
weir_node *weir_set_id(weir_node *n, const char *id);
weir_node *weir_set_name(weir_node *n, const char *display);
weir_node *weir_set_parallelism(weir_node *n, int parallelism);

#ifdef __cplusplus
}
#endif
#endif /* WEIR_H */

/* ========================================================================
 * Implementation
 * ====================================================================== */
#ifdef WEIR_IMPLEMENTATION
#ifndef WEIR_IMPLEMENTATION_DONE
#define WEIR_IMPLEMENTATION_DONE

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define WEIR__EXPORT(name) __attribute__((export_name(name)))
#define WEIR__IMPORT(name) __attribute__((import_module("weir"), import_name(name)))

WEIR__IMPORT("error") void weir__host_error(const char *msg, size_t len);
WEIR__IMPORT("log") void weir__host_log(int32_t level, const char *msg, size_t len);

/* Largest byte count the SDK allocates at once: well below the 4 GiB of a
 * 32-bit memory, so that size arithmetic cannot wrap. */
#define WEIR__MAX_BYTES ((int64_t)1 << 31)

/* A non-NULL address for empty buffers. */
static _Alignas(8) const uint8_t weir__empty[8];

/* ---- errors ------------------------------------------------------------ */

#define WEIR__MSG_MAX 4096

static char weir__msg[WEIR__MSG_MAX];
static size_t weir__msg_len;
static bool weir__msg_set;     /* a message was recorded in this call */
static bool weir__misused;     /* the SDK recorded a misuse: the call fails */
static char weir__report[WEIR__MSG_MAX];
/* The last message passed to weir.error, for the SDK's own tests. */
static const char *weir__reported;
static size_t weir__reported_len;

/* weir__utf8_cut returns the largest length <= n that does not end inside a
 * UTF-8 sequence of s. */
static size_t weir__utf8_cut(const char *s, size_t n) {
    size_t i = n;
    int back = 0;
    while (i > 0 && back < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) {
        i--;
        back++;
    }
    if (i == 0) return n;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if ((i - 1) + need > n) return i - 1;
    return n;
}

static void weir__vset(bool misuse, const char *fmt, va_list ap) {
    if (weir__misused) return; /* the first misuse wins */
    int n = vsnprintf(weir__msg, sizeof weir__msg, fmt, ap);
    if (n < 0) {
        n = snprintf(weir__msg, sizeof weir__msg, "(unformattable message: %s)", fmt);
        if (n < 0) n = 0;
    }
    size_t len = (size_t)n;
    if (len >= sizeof weir__msg) len = weir__utf8_cut(weir__msg, sizeof weir__msg - 1);
    weir__msg_len = len;
    weir__msg_set = true;
    weir__misused = misuse;
}

weir_status weir_errorf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    weir__vset(false, fmt, ap);
    va_end(ap);
    return WEIR_ERROR;
}

weir_status weir_error(const char *msg, size_t len) {
    if (weir__misused) return WEIR_ERROR;
    if (len > sizeof weir__msg - 1) len = weir__utf8_cut(msg, sizeof weir__msg - 1);
    if (len > 0) memcpy(weir__msg, msg, len);
    weir__msg[len] = 0;
    weir__msg_len = len;
    weir__msg_set = true;
    return WEIR_ERROR;
}

/* weir__wrap puts "<prefix>: " before the message recorded last. */
static weir_status weir__wrap(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static weir_status weir__wrap(const char *fmt, ...) {
    if (weir__misused) return WEIR_ERROR;
    char old[WEIR__MSG_MAX];
    size_t n = weir__msg_len;
    memcpy(old, weir__msg, n);
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    return weir_errorf("%s: %.*s", prefix, (int)n, old);
}

/* weir__misuse records a misuse of the API: the call fails whatever the
 * callback returns. */
static void *weir__misuse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void *weir__misuse(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    weir__vset(true, fmt, ap);
    va_end(ap);
    return NULL;
}

static void weir__begin_call(void) {
    weir__msg_set = false;
    weir__misused = false;
    weir__msg_len = 0;
}

/* weir__finish reports the outcome of an export: status is what the body
 * returned; prefix (the function name, or NULL) is put before the message
 * when the failure is the SDK's or comes from open. */
static int32_t weir__finish(weir_status status, const char *prefix, bool prefix_user) {
    if (status == WEIR_OK && !weir__misused) return 0;
    const char *msg = weir__msg;
    size_t len = weir__msg_len;
    if (!weir__msg_set) {
        msg = "failed without an error message";
        len = strlen(msg);
        prefix_user = true;
    }
    if (prefix && (prefix_user || weir__misused)) {
        int n = snprintf(weir__report, sizeof weir__report, "%s: %.*s", prefix, (int)len, msg);
        size_t rl = n < 0 ? 0 : (size_t)n;
        if (rl >= sizeof weir__report) rl = weir__utf8_cut(weir__report, sizeof weir__report - 1);
        msg = weir__report;
        len = rl;
    }
    weir__reported = msg;
    weir__reported_len = len;
    weir__host_error(msg, len);
    return 1;
}

/* ---- logging ----------------------------------------------------------- */

void weir_log(int level, const char *msg, size_t len) { weir__host_log(level, msg, len); }

void weir_logf(int level, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof buf) {
        weir__host_log(level, buf, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        weir__host_log(level, buf, weir__utf8_cut(buf, sizeof buf - 1));
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    weir__host_log(level, big, (size_t)n);
    free(big);
}

/* ---- memory ------------------------------------------------------------ */

WEIR__EXPORT("weir_alloc") void *weir__export_alloc(uint32_t size, uint32_t align) {
    if (align == 0 || (align & (align - 1)) != 0 || align > 64 || size > (uint32_t)WEIR__MAX_BYTES)
        return NULL;
    if (align < sizeof(void *)) align = sizeof(void *);
    /* C11 aligned_alloc wants a size that is a multiple of the alignment */
    size_t n = ((size_t)(size ? size : 1) + align - 1) & ~((size_t)align - 1);
    return aligned_alloc(align, n);
}

WEIR__EXPORT("weir_free") void weir__export_free(void *ptr, uint32_t size, uint32_t align) {
    (void)size;
    (void)align;
    free(ptr);
}

/* weir__realloc grows *p to hold n bytes, keeping its content. */
static bool weir__realloc(void **p, int64_t n) {
    if (n < 0 || n > WEIR__MAX_BYTES) return false;
    void *q = realloc(*p, n ? (size_t)n : 1);
    if (!q) return false;
    *p = q;
    return true;
}

static int64_t weir__grown(int64_t cap, int64_t need) {
    int64_t c = cap * 2;
    if (c < need) c = need;
    if (c < 64) c = 64;
    return c;
}

static char *weir__strdup(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    if (n) memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* ---- types ------------------------------------------------------------- */

weir_type_id weir_type_of(const char *f) {
    if (!f || !f[0]) return WEIR_T_INVALID;
    if (f[1] == 0) {
        switch (f[0]) {
        case 'b': return WEIR_T_BOOL;
        case 'c': return WEIR_T_INT8;
        case 's': return WEIR_T_INT16;
        case 'i': return WEIR_T_INT32;
        case 'l': return WEIR_T_INT64;
        case 'C': return WEIR_T_UINT8;
        case 'S': return WEIR_T_UINT16;
        case 'I': return WEIR_T_UINT32;
        case 'L': return WEIR_T_UINT64;
        case 'f': return WEIR_T_FLOAT32;
        case 'g': return WEIR_T_FLOAT64;
        case 'u': return WEIR_T_UTF8;
        case 'z': return WEIR_T_BINARY;
        default: return WEIR_T_INVALID;
        }
    }
    if (strcmp(f, "tdD") == 0) return WEIR_T_DATE32;
    if (f[0] == 't' && f[1] == 's' && f[2] && f[3] == ':' &&
        (f[2] == 's' || f[2] == 'm' || f[2] == 'u' || f[2] == 'n'))
        return WEIR_T_TIMESTAMP;
    return WEIR_T_INVALID;
}

int weir_type_width(weir_type_id id) {
    switch (id) {
    case WEIR_T_INT8: case WEIR_T_UINT8: return 1;
    case WEIR_T_INT16: case WEIR_T_UINT16: return 2;
    case WEIR_T_INT32: case WEIR_T_UINT32: case WEIR_T_FLOAT32: case WEIR_T_DATE32: return 4;
    case WEIR_T_INT64: case WEIR_T_UINT64: case WEIR_T_FLOAT64: case WEIR_T_TIMESTAMP: return 8;
    default: return 0;
    }
}

static const char *const weir__type_names[] = {
    [WEIR_T_INVALID] = "invalid", [WEIR_T_BOOL] = "bool",       [WEIR_T_INT8] = "int8",
    [WEIR_T_INT16] = "int16",     [WEIR_T_INT32] = "int32",     [WEIR_T_INT64] = "int64",
    [WEIR_T_UINT8] = "uint8",     [WEIR_T_UINT16] = "uint16",   [WEIR_T_UINT32] = "uint32",
    [WEIR_T_UINT64] = "uint64",   [WEIR_T_FLOAT32] = "float32", [WEIR_T_FLOAT64] = "float64",
    [WEIR_T_UTF8] = "utf8",       [WEIR_T_BINARY] = "binary",   [WEIR_T_TIMESTAMP] = "timestamp",
    [WEIR_T_DATE32] = "date32",
};

const char *weir_type_name(const char *f, char *buf, size_t size) {
    weir_type_id id = weir_type_of(f);
    if (id == WEIR_T_TIMESTAMP) {
        const char *unit = f[2] == 's' ? "s" : f[2] == 'm' ? "ms" : f[2] == 'u' ? "us" : "ns";
        if (f[4]) snprintf(buf, size, "timestamp[%s, %s]", unit, f + 4);
        else snprintf(buf, size, "timestamp[%s]", unit);
    } else if (id == WEIR_T_INVALID) {
        snprintf(buf, size, "invalid(\"%s\")", f ? f : "");
    } else {
        snprintf(buf, size, "%s", weir__type_names[id]);
    }
    return buf;
}

int weir_schema_find(const weir_schema *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->fields[i].name, name) == 0) return i;
    return -1;
}

/* ---- bitmaps ----------------------------------------------------------- */

static inline uint64_t weir__load64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

int64_t weir_bits_count(const uint8_t *bits, int64_t off, int64_t n) {
    if (n <= 0) return 0;
    bits += off >> 3;
    off &= 7;
    int64_t count = 0;
    int64_t i = 0;
    /* head: up to the first byte boundary */
    if (off) {
        int64_t take = 8 - off < n ? 8 - off : n;
        count += __builtin_popcount((unsigned)(bits[0] >> off) & ((1u << take) - 1));
        bits++;
        i = take;
    }
    int64_t rest = n - i;
    int64_t words = rest >> 6;
    for (int64_t w = 0; w < words; w++) count += __builtin_popcountll(weir__load64(bits + 8 * w));
    bits += 8 * words;
    rest -= words << 6;
    int64_t bytes = rest >> 3;
    for (int64_t b = 0; b < bytes; b++) count += __builtin_popcount(bits[b]);
    if (rest & 7) count += __builtin_popcount(bits[bytes] & ((1u << (rest & 7)) - 1));
    return count;
}

void weir_bits_fill(uint8_t *dst, int64_t from, int64_t to, bool v) {
    if (to <= from) return;
    while (from < to && (from & 7)) {
        if (v) dst[from >> 3] |= (uint8_t)(1u << (from & 7));
        else dst[from >> 3] &= (uint8_t)~(1u << (from & 7));
        from++;
    }
    int64_t whole = (to - from) >> 3;
    if (whole > 0) {
        memset(dst + (from >> 3), v ? 0xFF : 0, (size_t)whole);
        from += whole << 3;
    }
    while (from < to) {
        if (v) dst[from >> 3] |= (uint8_t)(1u << (from & 7));
        else dst[from >> 3] &= (uint8_t)~(1u << (from & 7));
        from++;
    }
}

void weir_bits_copy(uint8_t *dst, int64_t doff, const uint8_t *src, int64_t soff, int64_t n) {
    if (n <= 0) return;
    dst += doff >> 3;
    doff &= 7;
    src += soff >> 3;
    soff &= 7;
    /* head: bit by bit until dst is byte-aligned */
    while (doff && n > 0) {
        bool v = (src[0] >> soff) & 1;
        if (v) dst[0] |= (uint8_t)(1u << doff);
        else dst[0] &= (uint8_t)~(1u << doff);
        if (++soff == 8) soff = 0, src++;
        if (++doff == 8) doff = 0, dst++;
        n--;
    }
    int64_t whole = n >> 3;
    if (soff == 0) {
        memcpy(dst, src, (size_t)whole);
    } else {
        /* every source byte read holds needed bits: bits soff..soff+7 of
         * src[k], src[k+1] are all among the n remaining */
        for (int64_t k = 0; k < whole; k++)
            dst[k] = (uint8_t)((src[k] >> soff) | (src[k + 1] << (8 - soff)));
    }
    dst += whole;
    src += whole;
    n -= whole << 3;
    for (int64_t k = 0; k < n; k++) {
        int64_t sb = soff + k;
        bool v = (src[sb >> 3] >> (sb & 7)) & 1;
        if (v) dst[0] |= (uint8_t)(1u << k);
        else dst[0] &= (uint8_t)~(1u << k);
    }
}

void weir_bits_and(uint8_t *dst, const uint8_t *src, int64_t soff, int64_t n) {
    if (n <= 0) return;
    src += soff >> 3;
    soff &= 7;
    int64_t whole = n >> 3;
    if (soff == 0) {
        for (int64_t k = 0; k < whole; k++) dst[k] &= src[k];
    } else {
        for (int64_t k = 0; k < whole; k++)
            dst[k] &= (uint8_t)((src[k] >> soff) | (src[k + 1] << (8 - soff)));
    }
    for (int64_t i = whole << 3; i < n; i++) {
        int64_t sb = soff + i;
        if (!((src[sb >> 3] >> (sb & 7)) & 1)) dst[i >> 3] &= (uint8_t)~(1u << (i & 7));
    }
}

int64_t weir_null_count(const weir_col *c) {
    if (c->null_count >= 0) return c->null_count;
    if (!c->validity) return 0;
    return c->len - weir_bits_count(c->validity, c->bit_off, c->len);
}

/* ---- schemas: import and export ---------------------------------------- */

/* weir__fields is a growable list of fields with owned strings. */
typedef struct weir__fields {
    weir_schema schema;
    weir_field *items;
    int cap;
} weir__fields;

static void weir__fields_free(weir__fields *f) {
    for (int i = 0; i < f->schema.n; i++) {
        free((void *)f->items[i].name);
        free((void *)f->items[i].type);
    }
    free(f->items);
    memset(f, 0, sizeof *f);
}

static weir_status weir__fields_add(weir__fields *f, const char *name, size_t name_len,
                                    const char *type, bool nullable) {
    if (f->schema.n == f->cap) {
        int cap = f->cap ? 2 * f->cap : 8;
        weir_field *items = realloc(f->items, (size_t)cap * sizeof *items);
        if (!items) return weir_errorf("out of memory");
        f->items = items;
        f->cap = cap;
    }
    char *n = weir__strdup(name, name_len);
    char *t = weir__strdup(type, strlen(type));
    if (!n || !t) {
        free(n);
        free(t);
        return weir_errorf("out of memory");
    }
    weir_field *fd = &f->items[f->schema.n++];
    fd->name = n;
    fd->type = t;
    fd->id = weir_type_of(t);
    fd->nullable = nullable;
    f->schema.fields = f->items;
    return WEIR_OK;
}

/* weir__import_schema reads a struct ("+s") schema from the host. */
static weir_status weir__import_schema(const weir_c_schema *s, weir__fields *out) {
    if (!s) return weir_errorf("no input schema");
    if (!s->format || strcmp(s->format, "+s") != 0)
        return weir_errorf("input schema has format \"%s\", want a struct (+s)", s->format ? s->format : "");
    if (s->n_children < 0 || s->n_children > 65536)
        return weir_errorf("input schema has %lld children", (long long)s->n_children);
    if (s->n_children > 0 && !s->children) return weir_errorf("input schema has no children array");
    for (int64_t j = 0; j < s->n_children; j++) {
        const weir_c_schema *c = s->children[j];
        if (!c || !c->format) return weir_errorf("input column %lld has no format", (long long)j);
        const char *name = c->name ? c->name : "";
        if (weir_type_of(c->format) == WEIR_T_INVALID)
            return weir_errorf("input column \"%s\" has unsupported Arrow format \"%s\"", name, c->format);
        if (weir__fields_add(out, name, strlen(name), c->format, (c->flags & 2) != 0)) return WEIR_ERROR;
    }
    return WEIR_OK;
}

/* weir__export_schema writes s as a "+s" ArrowSchema in one block of
 * memory, which the caller frees. */
static weir_c_schema *weir__export_schema(const weir_schema *s) {
    size_t n = (size_t)s->n;
    size_t size = sizeof(weir_c_schema) * (n + 1) + sizeof(weir_c_schema *) * n + 3;
    for (size_t j = 0; j < n; j++) size += strlen(s->fields[j].type) + 1 + strlen(s->fields[j].name) + 1;
    uint8_t *mem = calloc(1, size);
    if (!mem) return NULL;
    weir_c_schema *parent = (weir_c_schema *)mem;
    weir_c_schema *kids = parent + 1;
    weir_c_schema **ptrs = (weir_c_schema **)(kids + n);
    char *str = (char *)(ptrs + n);
    memcpy(str, "+s", 3);
    parent->format = str;
    str += 3;
    parent->n_children = (int64_t)n;
    parent->children = n ? ptrs : NULL;
    parent->release = 1;
    for (size_t j = 0; j < n; j++) {
        size_t tl = strlen(s->fields[j].type) + 1, nl = strlen(s->fields[j].name) + 1;
        memcpy(str, s->fields[j].type, tl);
        kids[j].format = str;
        str += tl;
        memcpy(str, s->fields[j].name, nl);
        kids[j].name = str;
        str += nl;
        kids[j].flags = s->fields[j].nullable ? 2 : 0;
        kids[j].release = 1;
        ptrs[j] = &kids[j];
    }
    return parent;
}

/* ---- exported struct arrays -------------------------------------------- */

/* weir__region is an exported struct array: the parent ArrowArray, one child
 * per column and their pointer arrays, allocated once and rewritten by every
 * call. */
typedef struct weir__region {
    weir_c_array parent;
    const void *parent_bufs[2];
    weir_c_array **kid_ptrs;
    weir_c_array *kids;
    const void **kid_bufs; /* 3 per child */
} weir__region;

static weir__region *weir__region_new(int n) {
    size_t size = sizeof(weir__region) + sizeof(weir_c_array) * (size_t)n +
                  sizeof(weir_c_array *) * (size_t)n + sizeof(void *) * 3 * (size_t)n + 8;
    uint8_t *mem = calloc(1, size); /* malloc alignment (16) suits the int64 fields */
    if (!mem) return NULL;
    weir__region *r = (weir__region *)mem;
    r->kids = (weir_c_array *)(mem + ((sizeof(weir__region) + 7) & ~(size_t)7));
    r->kid_ptrs = (weir_c_array **)(r->kids + n);
    r->kid_bufs = (const void **)(r->kid_ptrs + n);
    r->parent.n_buffers = 1;
    r->parent.n_children = n;
    r->parent.buffers = r->parent_bufs;
    r->parent.children = n ? r->kid_ptrs : NULL;
    r->parent.release = 1;
    for (int j = 0; j < n; j++) {
        r->kid_ptrs[j] = &r->kids[j];
        r->kids[j].buffers = &r->kid_bufs[3 * j];
        r->kids[j].release = 1;
    }
    return r;
}

/* ---- input batches ----------------------------------------------------- */

/* weir__load_col points c at the child array a, for rows [poff, poff + n). */
static weir_status weir__load_col(weir_col *c, weir_type_id id, const weir_c_array *a, int64_t poff, int64_t n) {
    if (!a) return weir_errorf("missing array");
    int64_t want = (id == WEIR_T_UTF8 || id == WEIR_T_BINARY) ? 3 : 2;
    if (a->n_buffers != want)
        return weir_errorf("has %lld buffers, want %lld", (long long)a->n_buffers, (long long)want);
    if (!a->buffers) return weir_errorf("has no buffers array");
    if (a->offset < 0 || a->length < 0 || a->length > WEIR__MAX_BYTES)
        return weir_errorf("has offset %lld and length %lld", (long long)a->offset, (long long)a->length);
    if (n > 0 && a->length < poff + n)
        return weir_errorf("has length %lld, batch needs %lld", (long long)a->length, (long long)(poff + n));
    int64_t off = a->offset + poff;
    const uint8_t *valid = a->buffers[0];
    const uint8_t *b1 = a->buffers[1];
    c->id = id;
    c->len = n;
    c->bit_off = (int)(off & 7);
    c->validity = valid ? valid + (off >> 3) : NULL;
    c->bits = NULL;
    c->values = weir__empty;
    c->offsets = (const int32_t *)weir__empty;
    c->data = weir__empty;
    if (!valid) c->null_count = 0;
    else if (a->null_count >= 0 && poff == 0 && a->length == n) c->null_count = a->null_count;
    else c->null_count = -1;
    if (n == 0) {
        c->bits = weir__empty;
        c->validity = NULL;
        c->bit_off = 0;
        c->null_count = 0;
        if (want == 3 && b1) c->offsets = (const int32_t *)b1 + off;
        return WEIR_OK;
    }
    if (!b1) return weir_errorf("has a NULL values buffer");
    switch (id) {
    case WEIR_T_BOOL:
        c->bits = b1 + (off >> 3);
        break;
    case WEIR_T_UTF8:
    case WEIR_T_BINARY:
        c->offsets = (const int32_t *)b1 + off;
        if (a->buffers[2]) c->data = a->buffers[2];
        break;
    default:
        c->values = b1 + off * weir_type_width(id);
    }
    return WEIR_OK;
}

static weir_status weir__load_batch(weir_batch *b, weir_col *cols, const weir_schema *s, const weir_c_array *a) {
    if (!a) return weir_errorf("no input batch");
    if (a->n_children != s->n)
        return weir_errorf("input batch has %lld columns, its schema %d", (long long)a->n_children, s->n);
    if (a->length < 0 || a->length > WEIR__MAX_BYTES)
        return weir_errorf("input batch has length %lld", (long long)a->length);
    if (s->n > 0 && !a->children) return weir_errorf("input batch has no children array");
    int64_t n = a->length;
    for (int j = 0; j < s->n; j++) {
        if (weir__load_col(&cols[j], s->fields[j].id, a->children[j], a->offset, n))
            return weir__wrap("input column \"%s\"", s->fields[j].name);
    }
    b->rows = n;
    b->ncols = s->n;
    b->cols = cols;
    b->schema = s;
    return WEIR_OK;
}

const weir_col *weir_column(const weir_batch *in, int j, weir_type_id id) {
    if (!in || j < 0 || j >= in->ncols)
        return weir__misuse("input column %d does not exist (the batch has %d columns)", j, in ? in->ncols : 0);
    const weir_col *c = &in->cols[j];
    if (id != WEIR_T_INVALID && c->id != id)
        return weir__misuse("input column %d (\"%s\") is %s, not %s", j, in->schema->fields[j].name,
                            weir__type_names[c->id], weir__type_names[id]);
    return c;
}

/* ---- builders ---------------------------------------------------------- */

static weir_builder *weir__builder_new(const weir_schema *s) {
    weir_builder *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->schema = s;
    b->ncols = s->n;
    b->cols = s->n ? calloc((size_t)s->n, sizeof *b->cols) : NULL;
    b->region = weir__region_new(s->n);
    if ((s->n && !b->cols) || !b->region) {
        free(b->cols);
        free(b->region);
        free(b);
        return NULL;
    }
    for (int j = 0; j < s->n; j++) {
        b->cols[j].id = s->fields[j].id;
        b->cols[j].width = weir_type_width(s->fields[j].id);
        b->cols[j].name = s->fields[j].name;
    }
    return b;
}

static void weir__builder_free(weir_builder *b) {
    if (!b) return;
    for (int j = 0; j < b->ncols; j++) {
        free(b->cols[j].vals);
        free(b->cols[j].data);
        free(b->cols[j].valid);
    }
    free(b->cols);
    free(b->region);
    free(b);
}

static void weir__builder_reset(weir_builder *b) {
    for (int j = 0; j < b->ncols; j++) {
        weir__colbuf *c = &b->cols[j];
        c->len = 0;
        c->data_len = 0;
        c->valid_active = false;
        c->nulls = 0;
    }
    b->rows = 0;
}

static bool weir__is_str(weir_type_id id) { return id == WEIR_T_UTF8 || id == WEIR_T_BINARY; }

weir__colbuf *weir__col(weir_builder *b, int j, weir_type_id id, const char *what) {
    if (!b || j < 0 || j >= b->ncols)
        return weir__misuse("%s: output column %d does not exist (the output has %d columns)", what, j,
                            b ? b->ncols : 0);
    weir__colbuf *c = &b->cols[j];
    bool ok = id == WEIR_T_INVALID || c->id == id ||
              (id == WEIR_T_UTF8 && weir__is_str(c->id)); /* WEIR_T_UTF8 stands for either string type */
    if (!ok)
        return weir__misuse("%s: output column %d (\"%s\") is %s, not %s", what, j, c->name,
                            weir__type_names[c->id], weir__type_names[id]);
    return c;
}

/* weir__reserve makes room for n more values (and bytes more string bytes). */
static bool weir__reserve(weir__colbuf *c, int64_t n, int64_t bytes) {
    if (n < 0 || bytes < 0 || n > WEIR__MAX_BYTES - c->len) {
        weir__misuse("output column \"%s\": cannot hold %lld more values", c->name, (long long)n);
        return false;
    }
    int64_t need = c->len + n;
    if (need > c->cap || !c->vals) {
        int64_t cap = weir__grown(c->cap, need);
        int64_t vbytes = c->id == WEIR_T_BOOL ? (cap + 7) / 8 + 8
                         : weir__is_str(c->id) ? 4 * (cap + 1)
                                                : cap * c->width;
        if (!weir__realloc((void **)&c->vals, vbytes)) goto oom;
        if (weir__is_str(c->id) && c->cap == 0) ((int32_t *)c->vals)[0] = 0;
        if (c->valid_active || c->valid) {
            if (!weir__realloc((void **)&c->valid, (cap + 7) / 8 + 8)) goto oom;
        }
        c->cap = cap;
    }
    if (bytes > 0) {
        if (bytes > INT32_MAX - c->data_len) {
            weir__misuse("output column \"%s\": more than 2 GiB of string data", c->name);
            return false;
        }
        if (c->data_len + bytes > c->data_cap) {
            int64_t cap = weir__grown(c->data_cap, c->data_len + bytes);
            if (!weir__realloc((void **)&c->data, cap)) goto oom;
            c->data_cap = cap;
        }
    }
    return true;
oom:
    weir__misuse("out of memory growing output column \"%s\" to %lld values", c->name, (long long)need);
    return false;
}

/* weir__activate starts keeping a validity bitmap: values so far are valid. */
static bool weir__activate(weir__colbuf *c) {
    if (c->valid_active) return true;
    if (!c->valid) {
        if (!weir__realloc((void **)&c->valid, (c->cap + 7) / 8 + 8)) {
            weir__misuse("out of memory for the validity of output column \"%s\"", c->name);
            return false;
        }
    }
    weir_bits_fill(c->valid, 0, c->len, true);
    c->valid_active = true;
    return true;
}

weir__colbuf *weir__grow(weir_builder *b, int j, weir_type_id id, int64_t n) {
    weir__colbuf *c = weir__col(b, j, id, "append");
    if (!c || !weir__reserve(c, n, 0)) return NULL;
    return c;
}

/* weir__append_validity appends the validity of the src->len rows of src at
 * c->len (capacity reserved by the caller); it does not change c->len. */
static bool weir__append_validity(weir__colbuf *c, const weir_col *src) {
    int64_t n = src->len;
    int64_t nulls = src->validity ? weir_null_count(src) : 0;
    if (nulls > 0) {
        if (!weir__activate(c)) return false;
        weir_bits_copy(c->valid, c->len, src->validity, src->bit_off, n);
        c->nulls += nulls;
    } else if (c->valid_active) {
        weir_bits_fill(c->valid, c->len, c->len + n, true);
    }
    return true;
}

weir__colbuf *weir__extend_from(weir_builder *b, int j, weir_type_id id, const weir_col *src) {
    weir__colbuf *c = weir__col(b, j, id, "append");
    if (!c) return NULL;
    if (!src) return weir__misuse("append: no source column");
    if (!weir__reserve(c, src->len, 0) || !weir__append_validity(c, src)) return NULL;
    c->len += src->len;
    return c;
}

int64_t weir_out_len(const weir_builder *b, int j) {
    if (!b || j < 0 || j >= b->ncols) return 0;
    return b->cols[j].len;
}

weir_status weir_out_rows(weir_builder *b, int64_t rows) {
    if (rows < 0 || rows > WEIR__MAX_BYTES) {
        weir__misuse("weir_out_rows: bad row count %lld", (long long)rows);
        return WEIR_ERROR;
    }
    b->rows = rows;
    return WEIR_OK;
}

weir_status weir_append_null(weir_builder *b, int j) {
    weir__colbuf *c = weir__col(b, j, WEIR_T_INVALID, "weir_append_null");
    if (!c || !weir__reserve(c, 1, 0) || !weir__activate(c)) return WEIR_ERROR;
    int64_t i = c->len;
    if (c->id == WEIR_T_BOOL) {
        c->vals[i >> 3] &= (uint8_t)~(1u << (i & 7));
    } else if (weir__is_str(c->id)) {
        ((int32_t *)c->vals)[i + 1] = (int32_t)c->data_len;
    } else {
        memset(c->vals + i * c->width, 0, (size_t)c->width);
    }
    c->valid[i >> 3] &= (uint8_t)~(1u << (i & 7));
    c->nulls++;
    c->len++;
    return WEIR_OK;
}

weir_status weir_set_null(weir_builder *b, int j, int64_t i) {
    weir__colbuf *c = weir__col(b, j, WEIR_T_INVALID, "weir_set_null");
    if (!c) return WEIR_ERROR;
    if (i < 0 || i >= c->len) {
        weir__misuse("weir_set_null(%lld) on output column \"%s\" of %lld values", (long long)i, c->name,
                     (long long)c->len);
        return WEIR_ERROR;
    }
    if (!weir__activate(c)) return WEIR_ERROR;
    if (weir_bit(c->valid, i)) {
        c->valid[i >> 3] &= (uint8_t)~(1u << (i & 7));
        c->nulls++;
    }
    return WEIR_OK;
}

weir_status weir_append_bool(weir_builder *b, int j, bool v) {
    weir__colbuf *c = weir__col(b, j, WEIR_T_BOOL, "weir_append_bool");
    if (!c || !weir__reserve(c, 1, 0)) return WEIR_ERROR;
    int64_t i = c->len;
    if (v) c->vals[i >> 3] |= (uint8_t)(1u << (i & 7));
    else c->vals[i >> 3] &= (uint8_t)~(1u << (i & 7));
    if (c->valid_active) c->valid[i >> 3] |= (uint8_t)(1u << (i & 7));
    c->len++;
    return WEIR_OK;
}

weir_status weir_append_bools(weir_builder *b, int j, const bool *v, int64_t n) {
    weir__colbuf *c = weir__col(b, j, WEIR_T_BOOL, "weir_append_bools");
    if (!c || !weir__reserve(c, n, 0)) return WEIR_ERROR;
    int64_t at = c->len, k = 0;
    for (; k < n && ((at + k) & 7); k++) { /* up to a byte boundary */
        int64_t i = at + k;
        if (v[k]) c->vals[i >> 3] |= (uint8_t)(1u << (i & 7));
        else c->vals[i >> 3] &= (uint8_t)~(1u << (i & 7));
    }
    for (; k + 8 <= n; k += 8) { /* whole bytes */
        const bool *w = v + k;
        c->vals[(at + k) >> 3] = (uint8_t)(w[0] | w[1] << 1 | w[2] << 2 | w[3] << 3 | w[4] << 4 | w[5] << 5 |
                                           w[6] << 6 | w[7] << 7);
    }
    for (; k < n; k++) {
        int64_t i = at + k;
        if (v[k]) c->vals[i >> 3] |= (uint8_t)(1u << (i & 7));
        else c->vals[i >> 3] &= (uint8_t)~(1u << (i & 7));
    }
    if (c->valid_active) weir_bits_fill(c->valid, at, at + n, true);
    c->len += n;
    return WEIR_OK;
}

/* weir__push_str ends a string value at data_len. */
static void weir__push_str(weir__colbuf *c) {
    int64_t i = c->len;
    ((int32_t *)c->vals)[i + 1] = (int32_t)c->data_len;
    if (c->valid_active) c->valid[i >> 3] |= (uint8_t)(1u << (i & 7));
    c->len++;
}

char *weir_append_slot(weir_builder *b, int j, size_t len) {
    weir__colbuf *c = weir__col(b, j, WEIR_T_UTF8, "weir_append_slot");
    if (!c) return NULL;
    if (len > (size_t)INT32_MAX) return weir__misuse("output column \"%s\": a value of %zu bytes", c->name, len);
    if (!weir__reserve(c, 1, (int64_t)len)) return NULL;
    char *p = len ? (char *)c->data + c->data_len : (char *)weir__empty;
    c->data_len += (int64_t)len;
    weir__push_str(c);
    return p;
}

weir_status weir_append_str(weir_builder *b, int j, const void *p, size_t len) {
    char *d = weir_append_slot(b, j, len);
    if (!d) return WEIR_ERROR;
    if (len) memcpy(d, p, len);
    return WEIR_OK;
}

weir_status weir_extend_raw(weir_builder *b, int j, int64_t n, int64_t size, int32_t **offsets,
                            uint8_t **data) {
    weir__colbuf *c = weir__col(b, j, WEIR_T_UTF8, "weir_extend_raw");
    if (!c || !weir__reserve(c, n, size)) return WEIR_ERROR;
    int32_t *offs = (int32_t *)c->vals + c->len;
    *offsets = offs;
    *data = size ? c->data + c->data_len : (uint8_t *)weir__empty;
    if (c->valid_active) weir_bits_fill(c->valid, c->len, c->len + n, true);
    /* Well-formed until the caller writes: every new value empty, then the
     * last one ends at the end of the data. */
    for (int64_t k = 1; k <= n; k++) offs[k] = offs[0];
    c->data_len += size;
    if (n > 0) offs[n] = (int32_t)c->data_len;
    c->len += n;
    return WEIR_OK;
}

uint8_t *weir_copy_str_column(weir_builder *b, int j, const weir_col *src, int64_t *size) {
    weir__colbuf *c = weir__col(b, j, WEIR_T_UTF8, "weir_copy_str_column");
    if (!c) return NULL;
    if (!src || !weir__is_str(src->id) || src->id != c->id)
        return weir__misuse("weir_copy_str_column: source column is %s, output column \"%s\" %s",
                            src ? weir__type_names[src->id] : "missing", c->name, weir__type_names[c->id]);
    int64_t n = src->len;
    int32_t first = n ? src->offsets[0] : 0, last = n ? src->offsets[n] : 0;
    int64_t bytes = (int64_t)last - first;
    if (bytes < 0) return weir__misuse("weir_copy_str_column: source offsets decrease");
    if (!weir__reserve(c, n, bytes) || !weir__append_validity(c, src)) return NULL;
    int64_t start = c->data_len, at = c->len;
    uint8_t *dst = bytes ? c->data + start : (uint8_t *)weir__empty;
    if (bytes) memcpy(dst, src->data + first, (size_t)bytes);
    int32_t delta = (int32_t)(start - first);
    int32_t *restrict o = (int32_t *)c->vals + at + 1;
    const int32_t *restrict so = src->offsets + 1;
    for (int64_t k = 0; k < n; k++) o[k] = so[k] + delta;
    c->data_len = start + bytes;
    c->len = at + n;
    if (size) *size = bytes;
    return dst;
}
weir_status weir_copy_column(weir_builder *b, int dst, const weir_batch *in, int src) {
    const weir_col *s = weir_column(in, src, WEIR_T_INVALID);
    weir__colbuf *c = weir__col(b, dst, WEIR_T_INVALID, "weir_copy_column");
    if (!s || !c) return WEIR_ERROR;
    if (strcmp(in->schema->fields[src].type, b->schema->fields[dst].type) != 0) {
        char t1[64], t2[64];
        weir__misuse("cannot copy column \"%s\" (%s) into column \"%s\" (%s)", in->schema->fields[src].name,
                     weir_type_name(in->schema->fields[src].type, t1, sizeof t1), c->name,
                     weir_type_name(b->schema->fields[dst].type, t2, sizeof t2));
        return WEIR_ERROR;
    }
    int64_t n = s->len;
    if (weir__is_str(c->id)) return weir_copy_str_column(b, dst, s, NULL) ? WEIR_OK : WEIR_ERROR;
    int64_t at = c->len;
    if (!weir__extend_from(b, dst, c->id, s)) return WEIR_ERROR;
    if (c->id == WEIR_T_BOOL) weir_bits_copy(c->vals, at, s->bits, s->bit_off, n);
    else if (n) memcpy(c->vals + at * c->width, s->values, (size_t)(n * c->width));
    return WEIR_OK;
}

weir_status weir_append_batch(weir_builder *b, const weir_batch *in) {
    if (in->ncols != b->ncols) {
        weir__misuse("cannot append a batch of %d columns to a batch of %d", in->ncols, b->ncols);
        return WEIR_ERROR;
    }
    for (int j = 0; j < b->ncols; j++)
        if (weir_copy_column(b, j, in, j)) return WEIR_ERROR;
    b->rows += in->rows;
    return WEIR_OK;
}

/* weir__builder_export writes the batch as Arrow C structures; *rows gets
 * its row count. */
static weir_c_array *weir__builder_export(weir_builder *b, int64_t *rows) {
    int64_t n = b->ncols ? b->cols[0].len : b->rows;
    for (int j = 0; j < b->ncols; j++) {
        if (b->cols[j].len != n)
            return weir__misuse("output column \"%s\" has %lld rows but column \"%s\" has %lld", b->cols[j].name,
                                (long long)b->cols[j].len, b->cols[0].name, (long long)n);
    }
    weir__region *r = b->region;
    r->parent.length = n;
    r->parent.null_count = 0;
    r->parent.offset = 0;
    r->parent_bufs[0] = NULL;
    for (int j = 0; j < b->ncols; j++) {
        weir__colbuf *c = &b->cols[j];
        weir_c_array *a = &r->kids[j];
        const void **bufs = a->buffers;
        a->length = n;
        a->offset = 0;
        if (c->valid_active) {
            bufs[0] = c->valid;
            a->null_count = c->nulls;
        } else {
            bufs[0] = NULL;
            a->null_count = 0;
        }
        bufs[1] = c->vals ? c->vals : weir__empty;
        bufs[2] = NULL;
        a->n_buffers = 2;
        if (weir__is_str(c->id)) {
            a->n_buffers = 3;
            if (!c->vals) bufs[1] = weir__empty; /* one zero offset */
            bufs[2] = c->data_len ? c->data : NULL;
        }
    }
    *rows = n;
    return &r->parent;
}

/* ---- selections -------------------------------------------------------- */

enum { WEIR__SEL_NONE, WEIR__SEL_ALL, WEIR__SEL_BITS, WEIR__SEL_IDX };

static void weir__sel_reset(weir_selection *s, int64_t rows) {
    s->rows = rows;
    s->mode = WEIR__SEL_NONE;
    s->n_idx = 0;
}

void weir_sel_all(weir_selection *s) {
    s->mode = WEIR__SEL_ALL;
    s->n_idx = 0;
}

void weir_sel_none(weir_selection *s) {
    s->mode = WEIR__SEL_NONE;
    s->n_idx = 0;
}

uint8_t *weir_sel_bits(weir_selection *s) {
    if (s->mode == WEIR__SEL_BITS) return s->bits;
    int64_t nb = (s->rows + 7) >> 3;
    if (nb + 8 > s->bits_cap || !s->bits) {
        int64_t cap = weir__grown(s->bits_cap, nb + 8);
        if (!weir__realloc((void **)&s->bits, cap))
            return weir__misuse("out of memory for the selection of %lld rows", (long long)s->rows);
        s->bits_cap = cap;
    }
    memset(s->bits, 0, (size_t)nb);
    if (s->mode == WEIR__SEL_ALL) {
        weir_bits_fill(s->bits, 0, s->rows, true);
    } else if (s->mode == WEIR__SEL_IDX) {
        for (int64_t k = 0; k < s->n_idx; k++) s->bits[s->idx[k] >> 3] |= (uint8_t)(1u << (s->idx[k] & 7));
    }
    s->n_idx = 0;
    s->mode = WEIR__SEL_BITS;
    return s->bits;
}

static bool weir__sel_check(weir_selection *s, int64_t i, const char *what) {
    if (i < 0 || i >= s->rows) {
        weir__misuse("%s(%lld): row out of range (%lld rows)", what, (long long)i, (long long)s->rows);
        return false;
    }
    return true;
}

weir_status weir_sel_keep(weir_selection *s, int64_t i) {
    if (!weir__sel_check(s, i, "weir_sel_keep")) return WEIR_ERROR;
    if (s->mode == WEIR__SEL_ALL) return WEIR_OK;
    uint8_t *bits = weir_sel_bits(s);
    if (!bits) return WEIR_ERROR;
    bits[i >> 3] |= (uint8_t)(1u << (i & 7));
    return WEIR_OK;
}

weir_status weir_sel_append(weir_selection *s, int64_t i) {
    if (!weir__sel_check(s, i, "weir_sel_append")) return WEIR_ERROR;
    switch (s->mode) {
    case WEIR__SEL_ALL: return WEIR_OK;
    case WEIR__SEL_BITS: s->bits[i >> 3] |= (uint8_t)(1u << (i & 7)); return WEIR_OK;
    case WEIR__SEL_NONE: s->mode = WEIR__SEL_IDX; s->n_idx = 0; break;
    default: break;
    }
    if (s->n_idx > 0 && i <= s->idx[s->n_idx - 1]) {
        weir__misuse("weir_sel_append(%lld) after row %d: rows must increase", (long long)i, s->idx[s->n_idx - 1]);
        return WEIR_ERROR;
    }
    if (s->n_idx == s->idx_cap) {
        int64_t cap = weir__grown(s->idx_cap, s->n_idx + 1);
        if (!weir__realloc((void **)&s->idx, cap * 4)) {
            weir__misuse("out of memory for the selection vector");
            return WEIR_ERROR;
        }
        s->idx_cap = cap;
    }
    s->idx[s->n_idx++] = (int32_t)i;
    return WEIR_OK;
}

weir_status weir_sel_mask(weir_selection *s, const weir_col *c) {
    if (!c) {
        weir__misuse("weir_sel_mask: no column");
        return WEIR_ERROR;
    }
    if (c->len != s->rows) {
        weir__misuse("weir_sel_mask: column of %lld rows for a batch of %lld", (long long)c->len, (long long)s->rows);
        return WEIR_ERROR;
    }
    if (!c->validity || s->mode == WEIR__SEL_NONE) return WEIR_OK;
    if (s->mode == WEIR__SEL_IDX) {
        int64_t k = 0;
        for (int64_t m = 0; m < s->n_idx; m++)
            if (weir_is_valid(c, s->idx[m])) s->idx[k++] = s->idx[m];
        s->n_idx = k;
        return WEIR_OK;
    }
    uint8_t *bits = weir_sel_bits(s);
    if (!bits) return WEIR_ERROR;
    weir_bits_and(bits, c->validity, c->bit_off, s->rows);
    return WEIR_OK;
}

/* ---- tables ------------------------------------------------------------ */

typedef struct weir__tcol {
    weir_type_id id;
    int width;      /* bytes per row of vals (bool: 1) */
    uint8_t *vals;  /* fixed width values or bools */
    weir_str *strs; /* utf8/binary values */
    /* export buffers */
    uint8_t *bits;
    int64_t bits_cap;
    int32_t *offs;
    int64_t offs_cap;
    uint8_t *data;
    int64_t data_cap;
} weir__tcol;

/* Strings set by weir_table_set_str live in chunks that never move during a
 * call; all but the first are freed when the call ends. */
typedef struct weir__chunk {
    struct weir__chunk *next;
    int64_t used, cap;
    char bytes[];
} weir__chunk;

struct weir_table {
    const weir_schema *schema;
    int ncols;
    weir__tcol *cols;
    int64_t n, cap;
    bool keyed;
    bool *exists;
    bool *cleared;
    uint8_t *vbits; /* exported struct validity */
    int64_t vbits_cap;
    weir__chunk *chunks;
    weir__region *region;
    const char *what; /* "state" or "accumulator" */
};

static weir_table *weir__table_new(const weir_schema *s, bool keyed, const char *what) {
    weir_table *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->schema = s;
    t->ncols = s->n;
    t->keyed = keyed;
    t->what = what;
    t->cols = s->n ? calloc((size_t)s->n, sizeof *t->cols) : NULL;
    t->region = weir__region_new(s->n);
    if ((s->n && !t->cols) || !t->region) {
        free(t->cols);
        free(t->region);
        free(t);
        return NULL;
    }
    for (int j = 0; j < s->n; j++) {
        t->cols[j].id = s->fields[j].id;
        t->cols[j].width = s->fields[j].id == WEIR_T_BOOL ? 1 : weir_type_width(s->fields[j].id);
    }
    return t;
}

static void weir__chunks_release(weir_table *t, bool all) {
    weir__chunk *c = t->chunks;
    if (!c) return;
    weir__chunk *rest = c->next;
    while (rest) {
        weir__chunk *next = rest->next;
        free(rest);
        rest = next;
    }
    c->next = NULL;
    c->used = 0;
    if (all) {
        free(c);
        t->chunks = NULL;
    }
}

static void weir__table_free(weir_table *t) {
    if (!t) return;
    for (int j = 0; j < t->ncols; j++) {
        weir__tcol *c = &t->cols[j];
        free(c->vals);
        free(c->strs);
        free(c->bits);
        free(c->offs);
        free(c->data);
    }
    free(t->cols);
    free(t->exists);
    free(t->cleared);
    free(t->vbits);
    weir__chunks_release(t, true);
    free(t->region);
    free(t);
}

/* weir__table_reset makes t n rows of zero values that all exist. */
static weir_status weir__table_reset(weir_table *t, int64_t n) {
    if (n < 0 || n > (int64_t)1 << 28) return weir_errorf("cannot hold %lld %s rows", (long long)n, t->what);
    if (n > t->cap || !t->exists) {
        int64_t cap = weir__grown(t->cap, n);
        if (!weir__realloc((void **)&t->exists, cap) || !weir__realloc((void **)&t->cleared, cap))
            return weir_errorf("out of memory for %lld %s rows", (long long)n, t->what);
        for (int j = 0; j < t->ncols; j++) {
            weir__tcol *c = &t->cols[j];
            bool ok = weir__is_str(c->id) ? weir__realloc((void **)&c->strs, cap * (int64_t)sizeof(weir_str))
                                          : weir__realloc((void **)&c->vals, cap * c->width);
            if (!ok) return weir_errorf("out of memory for %lld %s rows", (long long)n, t->what);
        }
        t->cap = cap;
    }
    t->n = n;
    memset(t->exists, 1, (size_t)n);
    memset(t->cleared, 0, (size_t)n);
    for (int j = 0; j < t->ncols; j++) {
        weir__tcol *c = &t->cols[j];
        if (weir__is_str(c->id)) {
            for (int64_t k = 0; k < n; k++) c->strs[k] = (weir_str){(const char *)weir__empty, 0};
        } else {
            memset(c->vals, 0, (size_t)(n * c->width));
        }
    }
    return WEIR_OK;
}

/* weir__table_load copies the host's struct array a into t. */
static weir_status weir__table_load(weir_table *t, const weir_c_array *a) {
    if (!a) return weir_errorf("no %s array", t->what);
    if (a->n_children != t->ncols)
        return weir_errorf("%s has %lld columns, its schema %d", t->what, (long long)a->n_children, t->ncols);
    if (a->length < 0 || a->length > (int64_t)1 << 28 || a->offset < 0)
        return weir_errorf("%s has length %lld", t->what, (long long)a->length);
    if (a->n_buffers < 1 || !a->buffers) return weir_errorf("%s has no buffers", t->what);
    if (t->ncols > 0 && !a->children) return weir_errorf("%s has no children array", t->what);
    int64_t n = a->length, poff = a->offset;
    if (weir__table_reset(t, n)) return WEIR_ERROR;
    const uint8_t *sv = a->buffers[0];
    if (sv)
        for (int64_t k = 0; k < n; k++) t->exists[k] = weir_bit(sv, poff + k);
    for (int j = 0; j < t->ncols; j++) {
        weir__tcol *c = &t->cols[j];
        weir_col v;
        if (weir__load_col(&v, c->id, a->children[j], poff, n))
            return weir__wrap("%s column \"%s\"", t->what, t->schema->fields[j].name);
        if (n == 0) continue;
        switch (c->id) {
        case WEIR_T_BOOL:
            for (int64_t k = 0; k < n; k++) c->vals[k] = weir_get_bool(&v, k);
            break;
        case WEIR_T_UTF8:
        case WEIR_T_BINARY:
            for (int64_t k = 0; k < n; k++) c->strs[k] = weir_get_str(&v, k);
            break;
        default:
            memcpy(c->vals, v.values, (size_t)(n * c->width));
        }
        /* nulls (of the cell or of the whole row) read as zero */
        for (int64_t k = 0; k < n; k++) {
            if (t->exists[k] && weir_is_valid(&v, k)) continue;
            if (weir__is_str(c->id)) c->strs[k] = (weir_str){(const char *)weir__empty, 0};
            else memset(c->vals + k * c->width, 0, (size_t)c->width);
        }
    }
    return WEIR_OK;
}

/* weir__table_export writes t as a struct array. */
static weir_c_array *weir__table_export(weir_table *t) {
    int64_t n = t->n;
    weir__region *r = t->region;
    const void *valid = NULL;
    int64_t nulls = 0;
    if (t->keyed) {
        for (int64_t k = 0; k < n; k++) nulls += t->cleared[k];
        if (nulls > 0) {
            int64_t nb = (n + 7) >> 3;
            if (nb > t->vbits_cap || !t->vbits) {
                int64_t cap = weir__grown(t->vbits_cap, nb);
                if (!weir__realloc((void **)&t->vbits, cap)) return weir__misuse("out of memory exporting the %s", t->what);
                t->vbits_cap = cap;
            }
            memset(t->vbits, 0, (size_t)nb);
            for (int64_t k = 0; k < n; k++)
                if (!t->cleared[k]) t->vbits[k >> 3] |= (uint8_t)(1u << (k & 7));
            valid = t->vbits;
        }
    }
    r->parent.length = n;
    r->parent.null_count = nulls;
    r->parent.offset = 0;
    r->parent_bufs[0] = valid;
    for (int j = 0; j < t->ncols; j++) {
        weir__tcol *c = &t->cols[j];
        weir_c_array *a = &r->kids[j];
        const void **bufs = a->buffers;
        a->length = n;
        a->offset = 0;
        a->null_count = 0;
        bufs[0] = NULL;
        bufs[2] = NULL;
        a->n_buffers = 2;
        if (c->id == WEIR_T_BOOL) {
            int64_t nb = ((n + 7) >> 3) + 8;
            if (nb > c->bits_cap || !c->bits) {
                int64_t cap = weir__grown(c->bits_cap, nb);
                if (!weir__realloc((void **)&c->bits, cap)) return weir__misuse("out of memory exporting the %s", t->what);
                c->bits_cap = cap;
            }
            memset(c->bits, 0, (size_t)nb);
            for (int64_t k = 0; k < n; k++)
                if (c->vals[k]) c->bits[k >> 3] |= (uint8_t)(1u << (k & 7));
            bufs[1] = c->bits;
        } else if (weir__is_str(c->id)) {
            a->n_buffers = 3;
            int64_t size = 0;
            for (int64_t k = 0; k < n; k++) size += c->strs[k].len;
            if (size > INT32_MAX) return weir__misuse("%s column \"%s\" holds more than 2 GiB", t->what, t->schema->fields[j].name);
            if (n + 1 > c->offs_cap || !c->offs) {
                int64_t cap = weir__grown(c->offs_cap, n + 1);
                if (!weir__realloc((void **)&c->offs, cap * 4)) return weir__misuse("out of memory exporting the %s", t->what);
                c->offs_cap = cap;
            }
            if (size > c->data_cap) {
                int64_t cap = weir__grown(c->data_cap, size);
                if (!weir__realloc((void **)&c->data, cap)) return weir__misuse("out of memory exporting the %s", t->what);
                c->data_cap = cap;
            }
            int64_t pos = 0;
            c->offs[0] = 0;
            for (int64_t k = 0; k < n; k++) {
                if (c->strs[k].len) memcpy(c->data + pos, c->strs[k].ptr, (size_t)c->strs[k].len);
                pos += c->strs[k].len;
                c->offs[k + 1] = (int32_t)pos;
            }
            bufs[1] = c->offs;
            bufs[2] = size ? c->data : NULL;
        } else {
            bufs[1] = n ? (const void *)c->vals : (const void *)weir__empty;
        }
    }
    return &r->parent;
}

int64_t weir_table_rows(const weir_table *t) { return t->n; }
const weir_schema *weir_table_schema(const weir_table *t) { return t->schema; }

static bool weir__row_ok(const weir_table *t, int64_t k, const char *what) {
    if (k < 0 || k >= t->n) {
        weir__misuse("%s(%lld): row out of range (%lld %s rows)", what, (long long)k, (long long)t->n, t->what);
        return false;
    }
    return true;
}

bool weir_table_exists(const weir_table *t, int64_t k) {
    if (!weir__row_ok(t, k, "weir_table_exists")) return false;
    if (!t->keyed) return true;
    return t->exists[k] && !t->cleared[k];
}

void weir_table_clear(weir_table *t, int64_t k) {
    if (weir__row_ok(t, k, "weir_table_clear") && t->keyed) t->cleared[k] = true;
}

void weir_table_keep(weir_table *t, int64_t k) {
    if (weir__row_ok(t, k, "weir_table_keep")) t->cleared[k] = false;
}

void *weir__table_values(weir_table *t, int j, weir_type_id id) {
    if (!t || j < 0 || j >= t->ncols)
        return weir__misuse("%s column %d does not exist (%d columns)", t ? t->what : "table", j, t ? t->ncols : 0);
    weir__tcol *c = &t->cols[j];
    if (c->id != id)
        return weir__misuse("%s column %d (\"%s\") is %s, not %s", t->what, j, t->schema->fields[j].name,
                            weir__type_names[c->id], weir__type_names[id]);
    return c->vals ? (void *)c->vals : (void *)weir__empty;
}

static weir__tcol *weir__table_str_col(weir_table *t, int j, int64_t k, const char *what) {
    if (!t || j < 0 || j >= t->ncols)
        return weir__misuse("%s: column %d does not exist (%d columns)", what, j, t ? t->ncols : 0);
    weir__tcol *c = &t->cols[j];
    if (!weir__is_str(c->id))
        return weir__misuse("%s: %s column %d (\"%s\") is %s, not a string", what, t->what, j,
                            t->schema->fields[j].name, weir__type_names[c->id]);
    if (!weir__row_ok(t, k, what)) return NULL;
    return c;
}

weir_str weir_table_get_str(weir_table *t, int j, int64_t k) {
    weir__tcol *c = weir__table_str_col(t, j, k, "weir_table_get_str");
    if (!c) return (weir_str){(const char *)weir__empty, 0};
    return c->strs[k];
}

weir_status weir_table_set_str(weir_table *t, int j, int64_t k, const void *p, size_t len) {
    weir__tcol *c = weir__table_str_col(t, j, k, "weir_table_set_str");
    if (!c) return WEIR_ERROR;
    if (len > (size_t)INT32_MAX) {
        weir__misuse("weir_table_set_str: a value of %zu bytes", len);
        return WEIR_ERROR;
    }
    weir__chunk *ch = t->chunks;
    if (!ch || ch->cap - ch->used < (int64_t)len) {
        /* a new chunk becomes the head; the head survives the call */
        int64_t cap = (int64_t)len > 65536 ? (int64_t)len : 65536;
        weir__chunk *nc = malloc(sizeof(weir__chunk) + (size_t)cap);
        if (!nc) {
            weir__misuse("out of memory for a %s string", t->what);
            return WEIR_ERROR;
        }
        nc->used = 0;
        nc->cap = cap;
        nc->next = ch;
        t->chunks = nc;
        ch = nc;
    }
    char *dst = ch->bytes + ch->used;
    if (len) memcpy(dst, p, len);
    ch->used += (int64_t)len;
    c->strs[k] = (weir_str){dst, (int32_t)len};
    return WEIR_OK;
}

/* ---- operators --------------------------------------------------------- */

struct weir_op {
    const weir_function *fn;
    weir_kind kind;
    char *name;
    char *params;
    size_t params_len;
    weir__fields input, output, state;
    bool in_open;
    void *data;
    void (*on_close)(void *);
    /* call state */
    weir_batch in;
    weir_col *in_cols;
    weir_builder *out;
    weir_selection sel;
    weir_table *table; /* process state or accumulators */
    weir_table *other; /* aggregate merge input */
    weir_c_schema *exported[2];
};

static weir_op **weir__ops;
static uint32_t weir__nops;

static const char *weir__kind_name(int32_t k) {
    switch (k) {
    case WEIR_KIND_MAP: return "map";
    case WEIR_KIND_FLATMAP: return "flatmap";
    case WEIR_KIND_FILTER: return "filter";
    case WEIR_KIND_PROCESS: return "process";
    case WEIR_KIND_AGGREGATE: return "aggregate";
    default: return "unknown kind";
    }
}

const char *weir_op_name(const weir_op *op) { return op->name; }
weir_kind weir_op_kind(const weir_op *op) { return op->kind; }
const char *weir_op_params(const weir_op *op) { return op->params; }
size_t weir_op_params_len(const weir_op *op) { return op->params_len; }
const weir_schema *weir_op_input_schema(const weir_op *op) { return &op->input.schema; }
void *weir_op_data(const weir_op *op) { return op->data; }
void weir_op_on_close(weir_op *op, void (*fn)(void *)) { op->on_close = fn; }

void *weir_op_data_new(weir_op *op, size_t size) {
    void *p = calloc(1, size ? size : 1);
    if (!p) {
        weir_errorf("out of memory for %zu bytes of operator data", size);
        return NULL;
    }
    free(op->data);
    op->data = p;
    return p;
}

static bool weir__type_accepts(const char *want, const char *got) {
    if (strcmp(want, got) == 0) return true;
    /* a timestamp type without a zone accepts its unit in any zone */
    return weir_type_of(want) == WEIR_T_TIMESTAMP && want[4] == 0 && weir_type_of(got) == WEIR_T_TIMESTAMP &&
           want[2] == got[2];
}

int weir_op_input(weir_op *op, const char *name, const char *type) {
    const weir_schema *s = &op->input.schema;
    int i = weir_schema_find(s, name);
    if (i < 0) {
        char names[512];
        size_t pos = 0;
        names[0] = 0;
        for (int k = 0; k < s->n && pos < sizeof names - 1; k++) {
            int w = snprintf(names + pos, sizeof names - pos, "%s%s", k ? ", " : "", s->fields[k].name);
            if (w < 0) break;
            pos += (size_t)w;
        }
        if (pos >= sizeof names) pos = sizeof names - 1;
        weir_errorf("input has no column \"%s\" (columns: %s)", name, s->n ? names : "none");
        return -1;
    }
    if (type && !weir__type_accepts(type, s->fields[i].type)) {
        char t1[64], t2[64];
        weir_errorf("column \"%s\" is %s, want %s", name, weir_type_name(s->fields[i].type, t1, sizeof t1),
                    weir_type_name(type, t2, sizeof t2));
        return -1;
    }
    return i;
}

static weir_status weir__declare(weir_op *op, weir__fields *f, const char *what, const char *name,
                                 const char *type, bool nullable) {
    if (!op->in_open) {
        weir__misuse("%s columns can only be declared in open", what);
        return WEIR_ERROR;
    }
    if (!name || !name[0]) return weir_errorf("%s column %d has no name", what, f->schema.n);
    if (weir_schema_find(&f->schema, name) >= 0) return weir_errorf("duplicate %s column \"%s\"", what, name);
    if (weir_type_of(type) == WEIR_T_INVALID)
        return weir_errorf("%s column \"%s\" has unsupported type \"%s\"", what, name, type ? type : "");
    return weir__fields_add(f, name, strlen(name), type, nullable);
}

weir_status weir_op_output_field(weir_op *op, const char *name, const char *type, bool nullable) {
    if (op->kind == WEIR_KIND_FILTER) {
        weir__misuse("a filter has no output schema (it outputs its input rows)");
        return WEIR_ERROR;
    }
    return weir__declare(op, &op->output, "output", name, type, nullable);
}

weir_status weir_op_output(weir_op *op, const char *name, const char *type) {
    return weir_op_output_field(op, name, type, true);
}

weir_status weir_op_output_input(weir_op *op) {
    for (int j = 0; j < op->input.schema.n; j++) {
        const weir_field *f = &op->input.schema.fields[j];
        if (weir_op_output_field(op, f->name, f->type, f->nullable)) return WEIR_ERROR;
    }
    return WEIR_OK;
}

weir_status weir_op_state(weir_op *op, const char *name, const char *type) {
    if (op->kind != WEIR_KIND_PROCESS && op->kind != WEIR_KIND_AGGREGATE) {
        weir__misuse("only process and aggregate operators have state");
        return WEIR_ERROR;
    }
    return weir__declare(op, &op->state, op->kind == WEIR_KIND_PROCESS ? "state" : "accumulator", name, type, true);
}

static void weir__op_free(weir_op *op) {
    if (!op) return;
    if (op->on_close) op->on_close(op->data);
    free(op->data);
    free(op->name);
    free(op->params);
    weir__fields_free(&op->input);
    weir__fields_free(&op->output);
    weir__fields_free(&op->state);
    free(op->in_cols);
    weir__builder_free(op->out);
    free(op->sel.bits);
    free(op->sel.idx);
    weir__table_free(op->table);
    weir__table_free(op->other);
    free(op->exported[0]);
    free(op->exported[1]);
    free(op);
}

static weir_op *weir__lookup(uint32_t h, int32_t kind1, int32_t kind2) {
    if (h == 0 || h > weir__nops || !weir__ops[h - 1]) {
        weir_errorf("unknown operator handle %u", h);
        return NULL;
    }
    weir_op *op = weir__ops[h - 1];
    if (kind1 && (int32_t)op->kind != kind1 && (int32_t)op->kind != kind2) {
        weir_errorf("%s: operator handle %u is a %s operator", op->name, h, weir__kind_name(op->kind));
        return NULL;
    }
    return op;
}

static void weir__set_ret(uint32_t *ret, int slot, const void *p) { ret[slot] = (uint32_t)(uintptr_t)p; }

/* weir__registered lists the registered names for an error message. */
static const char *weir__registered(char *buf, size_t size) {
    size_t pos = 0;
    buf[0] = 0;
    for (const weir_function *f = weir_functions; f->name && pos < size - 1; f++) {
        int w = snprintf(buf + pos, size - pos, "%s%s", f == weir_functions ? "" : ", ", f->name);
        if (w < 0) break;
        pos += (size_t)w;
    }
    return buf[0] ? buf : "none";
}

static weir_status weir__check_fn(const weir_function *f) {
    bool ok = f->open != NULL;
    switch (f->kind) {
    case WEIR_KIND_MAP:
    case WEIR_KIND_FLATMAP: ok = ok && f->map; break;
    case WEIR_KIND_FILTER: ok = ok && f->filter; break;
    case WEIR_KIND_PROCESS: ok = ok && f->process; break;
    case WEIR_KIND_AGGREGATE: ok = ok && f->agg_add && f->agg_merge && f->agg_result; break;
    default: return weir_errorf("registered with unknown kind %d", (int)f->kind);
    }
    if (!ok) return weir_errorf("registered as a %s function without its callbacks", weir__kind_name(f->kind));
    return WEIR_OK;
}

static int32_t weir__open(int32_t kind, const char *name, uint32_t name_len, const char *params,
                          uint32_t params_len, const weir_c_schema *in_schema, uint32_t *ret) {
    char fname[256];
    size_t fl = name_len < sizeof fname - 1 ? name_len : sizeof fname - 1;
    if (fl) memcpy(fname, name, fl);
    fname[fl] = 0;
    const weir_function *fn = NULL;
    for (const weir_function *f = weir_functions; f->name; f++) {
        if (strlen(f->name) == name_len && memcmp(f->name, name, name_len) == 0) {
            if (fn) return weir_errorf("is registered twice");
            fn = f;
        }
    }
    if (!fn) {
        char list[1024];
        return weir_errorf("no function \"%s\" is registered in this module (registered: %s)", fname,
                           weir__registered(list, sizeof list));
    }
    if (weir__check_fn(fn)) return WEIR_ERROR;
    if ((int32_t)fn->kind != kind)
        return weir_errorf("registered as a %s function, opened as %s", weir__kind_name(fn->kind), weir__kind_name(kind));
    weir_op *op = calloc(1, sizeof *op);
    if (!op) return weir_errorf("out of memory");
    op->fn = fn;
    op->kind = fn->kind;
    op->name = weir__strdup(name, name_len);
    op->params = weir__strdup(params ? params : "", params_len);
    op->params_len = params_len;
    weir_status st = WEIR_OK;
    if (!op->name || !op->params) st = weir_errorf("out of memory");
    if (!st) st = weir__import_schema(in_schema, &op->input);
    if (!st) {
        op->in_open = true;
        st = fn->open(op);
        op->in_open = false;
    }
    if (!st && !weir__misused) {
        int n = op->input.schema.n;
        op->in_cols = calloc((size_t)(n ? n : 1), sizeof *op->in_cols);
        if (!op->in_cols) st = weir_errorf("out of memory");
        if (!st && op->kind != WEIR_KIND_FILTER) {
            op->out = weir__builder_new(&op->output.schema);
            op->exported[0] = weir__export_schema(&op->output.schema);
            if (!op->out || !op->exported[0]) st = weir_errorf("out of memory");
        }
        if (!st && (op->kind == WEIR_KIND_PROCESS || op->kind == WEIR_KIND_AGGREGATE)) {
            bool keyed = op->kind == WEIR_KIND_PROCESS;
            const char *what = keyed ? "state" : "accumulator";
            op->table = weir__table_new(&op->state.schema, keyed, what);
            op->exported[1] = weir__export_schema(&op->state.schema);
            if (!keyed) op->other = weir__table_new(&op->state.schema, false, what);
            if (!op->table || !op->exported[1] || (!keyed && !op->other)) st = weir_errorf("out of memory");
        }
    }
    uint32_t h = 0;
    if (!st && !weir__misused) {
        for (uint32_t i = 0; i < weir__nops; i++)
            if (!weir__ops[i]) {
                h = i + 1;
                break;
            }
        if (!h) {
            weir_op **ops = realloc(weir__ops, (weir__nops + 1) * sizeof *ops);
            if (!ops) st = weir_errorf("out of memory");
            else {
                weir__ops = ops;
                weir__ops[weir__nops++] = NULL;
                h = weir__nops;
            }
        }
    }
    if (st || weir__misused) {
        weir__op_free(op);
        return WEIR_ERROR;
    }
    weir__ops[h - 1] = op;
    ret[0] = h;
    weir__set_ret(ret, 1, op->exported[0]);
    weir__set_ret(ret, 2, op->exported[1]);
    return WEIR_OK;
}

WEIR__EXPORT("weir_abi_v1") void weir__export_abi_v1(void) {}

WEIR__EXPORT("weir_open")
int32_t weir__export_open(int32_t kind, const char *name, uint32_t name_len, const char *params,
                          uint32_t params_len, const weir_c_schema *in_schema, uint32_t *ret) {
    weir__begin_call();
    char prefix[256];
    size_t n = name_len < sizeof prefix - 1 ? name_len : sizeof prefix - 1;
    if (n) memcpy(prefix, name, n);
    prefix[weir__utf8_cut(prefix, n)] = 0;
    weir_status st = weir__open(kind, name, name_len, params, params_len, in_schema, ret);
    return weir__finish(st, prefix, true);
}

WEIR__EXPORT("weir_close") int32_t weir__export_close(uint32_t h) {
    weir__begin_call();
    weir_op *op = weir__lookup(h, 0, 0);
    if (!op) return weir__finish(WEIR_ERROR, NULL, false);
    weir__ops[h - 1] = NULL;
    weir__op_free(op);
    return 0;
}

/* weir__load_input loads the call's input batch. */
static weir_status weir__load_input(weir_op *op, const weir_c_array *in) {
    return weir__load_batch(&op->in, op->in_cols, &op->input.schema, in);
}

static weir_status weir__check_indexes(const int32_t *idx, int64_t rows, int64_t n, const char *what) {
    if (rows > 0 && !idx) return weir_errorf("no %s array", what);
    uint32_t bad = 0;
    for (int64_t i = 0; i < rows; i++) bad |= (uint32_t)((uint32_t)idx[i] >= (uint64_t)n);
    if (!bad) return WEIR_OK;
    for (int64_t i = 0; i < rows; i++)
        if ((uint32_t)idx[i] >= (uint64_t)n)
            return weir_errorf("%s %d of row %lld is out of range (%lld rows)", what, idx[i], (long long)i, (long long)n);
    return WEIR_OK;
}

/* weir__user runs a user callback's result through the SDK's bookkeeping:
 * it returns the status to finish with. */
static int32_t weir__done(weir_op *op, weir_status st) {
    /* user errors reach the host verbatim; misuse is prefixed */
    return weir__finish(st, op ? op->name : NULL, false);
}

WEIR__EXPORT("weir_map") int32_t weir__export_map(uint32_t h, const weir_c_array *in, uint32_t *ret) {
    weir__begin_call();
    weir_op *op = weir__lookup(h, WEIR_KIND_MAP, WEIR_KIND_FLATMAP);
    if (!op) return weir__finish(WEIR_ERROR, NULL, false);
    if (weir__load_input(op, in)) return weir__finish(WEIR_ERROR, op->name, true);
    weir__builder_reset(op->out);
    weir_status st = op->fn->map(op, &op->in, op->out);
    if (st || weir__misused) return weir__done(op, st);
    int64_t rows = 0;
    weir_c_array *a = weir__builder_export(op->out, &rows);
    if (!a) return weir__done(op, WEIR_ERROR);
    if (op->kind == WEIR_KIND_MAP && rows != op->in.rows) {
        weir_errorf("map produced %lld rows for %lld input rows", (long long)rows, (long long)op->in.rows);
        return weir__finish(WEIR_ERROR, op->name, true);
    }
    weir__set_ret(ret, 0, a);
    return 0;
}

WEIR__EXPORT("weir_filter") int32_t weir__export_filter(uint32_t h, const weir_c_array *in, uint32_t *ret) {
    weir__begin_call();
    weir_op *op = weir__lookup(h, WEIR_KIND_FILTER, WEIR_KIND_FILTER);
    if (!op) return weir__finish(WEIR_ERROR, NULL, false);
    if (weir__load_input(op, in)) return weir__finish(WEIR_ERROR, op->name, true);
    weir__sel_reset(&op->sel, op->in.rows);
    weir_status st = op->fn->filter(op, &op->in, &op->sel);
    if (st || weir__misused) return weir__done(op, st);
    weir_selection *s = &op->sel;
    switch (s->mode) {
    case WEIR__SEL_ALL: ret[0] = 2; break;
    case WEIR__SEL_BITS:
        if (s->rows & 7) s->bits[s->rows >> 3] &= (uint8_t)((1u << (s->rows & 7)) - 1);
        ret[0] = 0;
        weir__set_ret(ret, 1, s->bits);
        break;
    case WEIR__SEL_IDX:
        if (s->n_idx == 0) {
            ret[0] = 3;
            break;
        }
        ret[0] = 1;
        weir__set_ret(ret, 1, s->idx);
        ret[2] = (uint32_t)s->n_idx;
        break;
    default: ret[0] = 3;
    }
    return 0;
}

WEIR__EXPORT("weir_process")
int32_t weir__export_process(uint32_t h, const weir_c_array *in, const int32_t *keys, const weir_c_array *state,
                             uint32_t *ret) {
    weir__begin_call();
    weir_op *op = weir__lookup(h, WEIR_KIND_PROCESS, WEIR_KIND_PROCESS);
    if (!op) return weir__finish(WEIR_ERROR, NULL, false);
    int32_t status = 0;
    if (weir__load_input(op, in) || weir__table_load(op->table, state) ||
        weir__check_indexes(keys, op->in.rows, op->table->n, "key index")) {
        status = weir__finish(WEIR_ERROR, op->name, true);
        goto out;
    }
    weir__builder_reset(op->out);
    weir_status st = op->fn->process(op, &op->in, op->in.rows ? keys : (const int32_t *)weir__empty, op->table, op->out);
    if (st || weir__misused) {
        status = weir__done(op, st);
        goto out;
    }
    int64_t rows = 0;
    weir_c_array *a = weir__builder_export(op->out, &rows);
    weir_c_array *s = a ? weir__table_export(op->table) : NULL;
    if (!a || !s) {
        status = weir__done(op, WEIR_ERROR);
        goto out;
    }
    weir__set_ret(ret, 0, a);
    weir__set_ret(ret, 1, s);
out:
    weir__chunks_release(op->table, false);
    return status;
}

WEIR__EXPORT("weir_agg_create") int32_t weir__export_agg_create(uint32_t h, uint32_t n, uint32_t *ret) {
    weir__begin_call();
    weir_op *op = weir__lookup(h, WEIR_KIND_AGGREGATE, WEIR_KIND_AGGREGATE);
    if (!op) return weir__finish(WEIR_ERROR, NULL, false);
    int32_t status = 0;
    if (n > (1u << 28)) {
        weir_errorf("cannot create %u accumulators", n);
        status = weir__finish(WEIR_ERROR, op->name, true);
        goto out;
    }
    if (weir__table_reset(op->table, n)) {
        status = weir__finish(WEIR_ERROR, op->name, true);
        goto out;
    }
    if (op->fn->agg_init) {
        weir_status st = op->fn->agg_init(op, op->table);
        if (st || weir__misused) {
            status = weir__done(op, st);
            goto out;
        }
    }
    weir_c_array *a = weir__table_export(op->table);
    if (!a) {
        status = weir__done(op, WEIR_ERROR);
        goto out;
    }
    weir__set_ret(ret, 0, a);
out:
    weir__chunks_release(op->table, false);
    return status;
}

WEIR__EXPORT("weir_agg_add")
int32_t weir__export_agg_add(uint32_t h, const weir_c_array *acc, const weir_c_array *in, const int32_t *groups,
                             uint32_t *ret) {
    weir__begin_call();
    weir_op *op = weir__lookup(h, WEIR_KIND_AGGREGATE, WEIR_KIND_AGGREGATE);
    if (!op) return weir__finish(WEIR_ERROR, NULL, false);
    int32_t status = 0;
    if (weir__table_load(op->table, acc) || weir__load_input(op, in) ||
        weir__check_indexes(groups, op->in.rows, op->table->n, "group")) {
        status = weir__finish(WEIR_ERROR, op->name, true);
        goto out;
    }
    weir_status st = op->fn->agg_add(op, op->table, &op->in, op->in.rows ? groups : (const int32_t *)weir__empty);
    if (st || weir__misused) {
        status = weir__done(op, st);
        goto out;
    }
    weir_c_array *a = weir__table_export(op->table);
    if (!a) {
        status = weir__done(op, WEIR_ERROR);
        goto out;
    }
    weir__set_ret(ret, 0, a);
out:
    weir__chunks_release(op->table, false);
    return status;
}

WEIR__EXPORT("weir_agg_merge")
int32_t weir__export_agg_merge(uint32_t h, const weir_c_array *acc, const weir_c_array *other, const int32_t *groups,
                               uint32_t *ret) {
    weir__begin_call();
    weir_op *op = weir__lookup(h, WEIR_KIND_AGGREGATE, WEIR_KIND_AGGREGATE);
    if (!op) return weir__finish(WEIR_ERROR, NULL, false);
    int32_t status = 0;
    if (weir__table_load(op->table, acc) || weir__table_load(op->other, other) ||
        weir__check_indexes(groups, op->other->n, op->table->n, "group")) {
        status = weir__finish(WEIR_ERROR, op->name, true);
        goto out;
    }
    weir_status st =
        op->fn->agg_merge(op, op->table, op->other, op->other->n ? groups : (const int32_t *)weir__empty);
    if (st || weir__misused) {
        status = weir__done(op, st);
        goto out;
    }
    weir_c_array *a = weir__table_export(op->table);
    if (!a) {
        status = weir__done(op, WEIR_ERROR);
        goto out;
    }
    weir__set_ret(ret, 0, a);
out:
    weir__chunks_release(op->table, false);
    weir__chunks_release(op->other, false);
    return status;
}

WEIR__EXPORT("weir_agg_result") int32_t weir__export_agg_result(uint32_t h, const weir_c_array *acc, uint32_t *ret) {
    weir__begin_call();
    weir_op *op = weir__lookup(h, WEIR_KIND_AGGREGATE, WEIR_KIND_AGGREGATE);
    if (!op) return weir__finish(WEIR_ERROR, NULL, false);
    int32_t status = 0;
    if (weir__table_load(op->table, acc)) {
        status = weir__finish(WEIR_ERROR, op->name, true);
        goto out;
    }
    weir__builder_reset(op->out);
    weir_status st = op->fn->agg_result(op, op->table, op->out);
    if (st || weir__misused) {
        status = weir__done(op, st);
        goto out;
    }
    int64_t rows = 0;
    weir_c_array *a = weir__builder_export(op->out, &rows);
    if (!a) {
        status = weir__done(op, WEIR_ERROR);
        goto out;
    }
    if (rows != op->table->n) {
        weir_errorf("result has %lld rows for %lld accumulators", (long long)rows, (long long)op->table->n);
        status = weir__finish(WEIR_ERROR, op->name, true);
        goto out;
    }
    weir__set_ret(ret, 0, a);
out:
    weir__chunks_release(op->table, false);
    return status;
}

/* ---- parsing ----------------------------------------------------------- */

static void weir__trim(const char **s, size_t *len) {
    while (*len && (**s == ' ' || **s == '\t' || **s == '\n' || **s == '\r')) (*s)++, (*len)--;
    while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t' || (*s)[*len - 1] == '\n' ||
                    (*s)[*len - 1] == '\r'))
        (*len)--;
}

static bool weir__digit(char c) { return c >= '0' && c <= '9'; }

bool weir_parse_f64(const char *s, size_t len, double *out) {
    weir__trim(&s, &len);
    /* [+-] digits [. digits] [e [+-] digits], with digits on at least one
     * side of the point */
    size_t i = 0, digits = 0;
    if (i < len && (s[i] == '+' || s[i] == '-')) i++;
    while (i < len && weir__digit(s[i])) i++, digits++;
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && weir__digit(s[i])) i++, digits++;
    }
    if (digits == 0) return false;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-')) i++;
        size_t ed = 0;
        while (i < len && weir__digit(s[i])) i++, ed++;
        if (ed == 0) return false;
    }
    if (i != len || len > 1024) return false;
    char buf[1025];
    memcpy(buf, s, len);
    buf[len] = 0;
    char *end = NULL;
    double v = strtod(buf, &end);
    if (end != buf + len) return false;
    if (isinf(v)) return false;
    *out = v;
    return true;
}

bool weir_parse_i64(const char *s, size_t len, int64_t *out) {
    weir__trim(&s, &len);
    size_t i = 0;
    bool neg = false;
    if (i < len && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    if (i == len) return false;
    uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < len; i++) {
        if (!weir__digit(s[i])) return false;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (limit - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

int weir_parse_flags(weir_flag *flags, int nflags, int argc, const char *const *argv) {
    int i = 0;
    while (i < argc) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == 0) break; /* not a flag */
        if (strcmp(a, "--") == 0) return i + 1;
        const char *name = a + 1;
        if (name[0] == '-') name++;
        if (name[0] == 0 || name[0] == '-' || name[0] == '=') {
            weir_errorf("bad flag syntax: %s", a);
            return -1;
        }
        const char *eq = strchr(name, '=');
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        weir_flag *f = NULL;
        for (int k = 0; k < nflags; k++)
            if (strlen(flags[k].name) == nl && memcmp(flags[k].name, name, nl) == 0) f = &flags[k];
        if (!f) {
            if ((nl == 1 && name[0] == 'h') || (nl == 4 && memcmp(name, "help", 4) == 0)) {
                char usage[1024];
                size_t pos = 0;
                usage[0] = 0;
                for (int k = 0; k < nflags && pos < sizeof usage - 1; k++) {
                    int w = snprintf(usage + pos, sizeof usage - pos, "%s-%s (default \"%s\"): %s", k ? "; " : "",
                                     flags[k].name, flags[k].value ? flags[k].value : "", flags[k].usage ? flags[k].usage : "");
                    if (w < 0) break;
                    pos += (size_t)w;
                }
                weir_errorf("flag: help requested; flags: %s", usage);
                return -1;
            }
            weir_errorf("flag provided but not defined: -%.*s", (int)nl, name);
            return -1;
        }
        if (eq) {
            f->value = eq + 1;
            i++;
            continue;
        }
        if (i + 1 >= argc) {
            weir_errorf("flag needs an argument: -%s", f->name);
            return -1;
        }
        f->value = argv[i + 1];
        i += 2;
    }
    return i;
}

/* ---- the plan ---------------------------------------------------------- */

/* Plan memory comes from one arena, freed once the plan text is written. */
typedef struct weir__arena_block {
    struct weir__arena_block *next;
    size_t used, cap;
    _Alignas(8) char bytes[];
} weir__arena_block;

typedef struct weir__kv {
    const char *key, *value;
} weir__kv;

struct weir_node {
    weir_plan *plan;
    const char *id;
    const char *kind;
    const char *connector;
    const char *function;
    const char *fparams;
    weir__kv *cparams;
    int n_cparams;
    weir_node **inputs;
    int n_inputs, cap_inputs;
    const char **key_by;
    int n_key_by;
    const char *partition;
    int parallelism;
    const char *display;
    const char *gen_id;
    weir_node *next;
};

struct weir_plan {
    weir__arena_block *arena;
    const char *name;
    int parallelism, max_parallelism;
    weir__kv *config;
    int n_config, cap_config;
    weir_node *first, *last;
    int n_nodes;
    char err[512];
    bool failed;
};

static void *weir__palloc(weir_plan *p, size_t n) {
    n = (n + 7) & ~(size_t)7;
    weir__arena_block *b = p->arena;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 4096 ? n : 4096;
        weir__arena_block *nb = malloc(sizeof *nb + cap);
        if (!nb) return NULL;
        nb->next = b;
        nb->used = 0;
        nb->cap = cap;
        p->arena = nb;
        b = nb;
    }
    void *r = b->bytes + b->used;
    b->used += n;
    memset(r, 0, n);
    return r;
}

static void weir__plan_errorf(weir_plan *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void weir__plan_errorf(weir_plan *p, const char *fmt, ...) {
    if (p->failed) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, sizeof p->err, fmt, ap);
    va_end(ap);
    p->failed = true;
}

static const char *weir__pstr(weir_plan *p, const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s);
    char *d = weir__palloc(p, n + 1);
    if (!d) {
        weir__plan_errorf(p, "out of memory");
        return NULL;
    }
    memcpy(d, s, n + 1);
    return d;
}

void weir_plan_name(weir_plan *p, const char *name) { p->name = weir__pstr(p, name); }

void weir_plan_parallelism(weir_plan *p, int n) {
    if (n < 1) weir__plan_errorf(p, "job parallelism %d: must be at least 1", n);
    p->parallelism = n;
}

void weir_plan_max_parallelism(weir_plan *p, int n) {
    if (n < 1) weir__plan_errorf(p, "max parallelism %d: must be at least 1", n);
    p->max_parallelism = n;
}

static bool weir__kv_set(weir_plan *p, weir__kv **list, int *n, int *cap, const char *k, const char *v) {
    for (int i = 0; i < *n; i++)
        if (strcmp((*list)[i].key, k) == 0) {
            (*list)[i].value = weir__pstr(p, v);
            return true;
        }
    if (*n == *cap) {
        int nc = *cap ? 2 * *cap : 8;
        weir__kv *nl = weir__palloc(p, (size_t)nc * sizeof *nl);
        if (!nl) return false;
        if (*n) memcpy(nl, *list, (size_t)*n * sizeof *nl);
        *list = nl;
        *cap = nc;
    }
    (*list)[*n].key = weir__pstr(p, k);
    (*list)[*n].value = weir__pstr(p, v);
    (*n)++;
    return true;
}

void weir_plan_config(weir_plan *p, const char *key, const char *value) {
    if (!key || !value) {
        weir__plan_errorf(p, "config entry with a NULL key or value");
        return;
    }
    if (!weir__kv_set(p, &p->config, &p->n_config, &p->cap_config, key, value)) weir__plan_errorf(p, "out of memory");
}

static weir_node *weir__node_new(weir_plan *p, const char *kind) {
    weir_node *n = weir__palloc(p, sizeof *n);
    if (!n) {
        weir__plan_errorf(p, "out of memory");
        return NULL;
    }
    n->plan = p;
    n->kind = kind;
    if (p->last) p->last->next = n;
    else p->first = n;
    p->last = n;
    p->n_nodes++;
    return n;
}

static void weir__node_input(weir_node *n, weir_node *in) {
    weir_plan *p = n->plan;
    if (n->n_inputs == n->cap_inputs) {
        int nc = n->cap_inputs ? 2 * n->cap_inputs : 4;
        weir_node **l = weir__palloc(p, (size_t)nc * sizeof *l);
        if (!l) {
            weir__plan_errorf(p, "out of memory");
            return;
        }
        if (n->n_inputs) memcpy(l, n->inputs, (size_t)n->n_inputs * sizeof *l);
        n->inputs = l;
        n->cap_inputs = nc;
    }
    n->inputs[n->n_inputs++] = in;
}

static void weir__connector_params(weir_node *n, va_list ap) {
    weir_plan *p = n->plan;
    int cap = 0;
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k) break;
        const char *v = va_arg(ap, const char *);
        if (!v) {
            weir__plan_errorf(p, "%s %s: connector param \"%s\" has no value", n->kind, n->connector ? n->connector : "", k);
            break;
        }
        if (!weir__kv_set(p, &n->cparams, &n->n_cparams, &cap, k, v)) {
            weir__plan_errorf(p, "out of memory");
            break;
        }
    }
}

weir_node *weir_source(weir_plan *p, const char *connector, ...) {
    weir_node *n = weir__node_new(p, "source");
    if (!n) return NULL;
    if (!connector || !connector[0]) weir__plan_errorf(p, "source with no connector name");
    n->connector = weir__pstr(p, connector ? connector : "");
    va_list ap;
    va_start(ap, connector);
    weir__connector_params(n, ap);
    va_end(ap);
    return n;
}

weir_node *weir_sink(weir_node *in, const char *connector, ...) {
    if (!in) return NULL; /* an earlier call failed and recorded why */
    weir_plan *p = in->plan;
    weir_node *n = weir__node_new(p, "sink");
    if (!n) return NULL;
    if (!connector || !connector[0]) weir__plan_errorf(p, "sink with no connector name");
    n->connector = weir__pstr(p, connector ? connector : "");
    weir__node_input(n, in);
    va_list ap;
    va_start(ap, connector);
    weir__connector_params(n, ap);
    va_end(ap);
    return n;
}

static weir_node *weir__op_node(weir_node *in, const char *kind, const char *function, const char *params) {
    if (!in) return NULL;
    weir_plan *p = in->plan;
    weir_node *n = weir__node_new(p, kind);
    if (!n) return NULL;
    if (!function || !function[0]) weir__plan_errorf(p, "%s node with no function name", kind);
    n->function = weir__pstr(p, function ? function : "");
    n->fparams = params && params[0] ? weir__pstr(p, params) : NULL;
    weir__node_input(n, in);
    return n;
}

weir_node *weir_map(weir_node *in, const char *function, const char *params) {
    return weir__op_node(in, "map", function, params);
}
weir_node *weir_flatmap(weir_node *in, const char *function, const char *params) {
    return weir__op_node(in, "flatmap", function, params);
}
weir_node *weir_filter(weir_node *in, const char *function, const char *params) {
    return weir__op_node(in, "filter", function, params);
}
weir_node *weir_process(weir_node *in, const char *function, const char *params) {
    return weir__op_node(in, "process", function, params);
}
weir_node *weir_aggregate(weir_node *in, const char *function, const char *params) {
    return weir__op_node(in, "aggregate", function, params);
}

weir_node *weir_key_by(weir_node *n, ...) {
    if (!n) return NULL;
    weir_plan *p = n->plan;
    va_list ap;
    int count = 0;
    va_start(ap, n);
    while (va_arg(ap, const char *)) count++;
    va_end(ap);
    if (count == 0) {
        weir__plan_errorf(p, "weir_key_by with no columns");
        return n;
    }
    n->key_by = weir__palloc(p, (size_t)count * sizeof *n->key_by);
    if (!n->key_by) {
        weir__plan_errorf(p, "out of memory");
        return n;
    }
    va_start(ap, n);
    for (int i = 0; i < count; i++) n->key_by[i] = weir__pstr(p, va_arg(ap, const char *));
    va_end(ap);
    n->n_key_by = count;
    n->partition = NULL;
    return n;
}

weir_node *weir_rebalance(weir_node *n) {
    if (!n) return NULL;
    n->partition = "rebalance";
    n->n_key_by = 0;
    return n;
}

weir_node *weir_add_input(weir_node *n, weir_node *other) {
    if (!n) return NULL;
    if (!other) {
        weir__plan_errorf(n->plan, "weir_add_input with no node");
        return n;
    }
    if (other->plan != n->plan) {
        weir__plan_errorf(n->plan, "weir_add_input of a node of another plan");
        return n;
    }
    if (strcmp(n->kind, "source") == 0) {
        weir__plan_errorf(n->plan, "a source has no inputs");
        return n;
    }
    weir__node_input(n, other);
    return n;
}

weir_node *weir_set_id(weir_node *n, const char *id) {
    if (n) n->id = weir__pstr(n->plan, id);
    return n;
}

weir_node *weir_set_name(weir_node *n, const char *display) {
    if (n) n->display = weir__pstr(n->plan, display);
    return n;
}

weir_node *weir_set_parallelism(weir_node *n, int parallelism) {
    if (!n) return NULL;
    if (parallelism < 1) weir__plan_errorf(n->plan, "node parallelism %d: must be at least 1", parallelism);
    n->parallelism = parallelism;
    return n;
}

/* A growable text buffer for the plan JSON. */
typedef struct weir__text {
    char *buf;
    size_t len, cap;
    bool oom;
} weir__text;

static void weir__put(weir__text *t, const char *s, size_t n) {
    if (t->oom) return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        while (cap < t->len + n + 1) cap *= 2;
        char *b = realloc(t->buf, cap);
        if (!b) {
            t->oom = true;
            return;
        }
        t->buf = b;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = 0;
}

static void weir__puts(weir__text *t, const char *s) { weir__put(t, s, strlen(s)); }

/* weir__json_str writes s as a JSON string. */
static void weir__json_str(weir__text *t, const char *s) {
    weir__put(t, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        weir__put(t, run, (size_t)(s - run));
        char esc[8];
        switch (c) {
        case '"': weir__puts(t, "\\\""); break;
        case '\\': weir__puts(t, "\\\\"); break;
        case '\n': weir__puts(t, "\\n"); break;
        case '\r': weir__puts(t, "\\r"); break;
        case '\t': weir__puts(t, "\\t"); break;
        default:
            snprintf(esc, sizeof esc, "\\u%04x", c);
            weir__puts(t, esc);
        }
        run = s + 1;
    }
    weir__put(t, run, (size_t)(s - run));
    weir__put(t, "\"", 1);
}

static void weir__json_int(weir__text *t, long long v) {
    char b[24];
    snprintf(b, sizeof b, "%lld", v);
    weir__puts(t, b);
}

static int weir__kv_cmp(const void *a, const void *b) {
    return strcmp(((const weir__kv *)a)->key, ((const weir__kv *)b)->key);
}

static void weir__json_map(weir__text *t, weir__kv *kv, int n) {
    qsort(kv, (size_t)n, sizeof *kv, weir__kv_cmp);
    weir__put(t, "{", 1);
    for (int i = 0; i < n; i++) {
        if (i) weir__put(t, ",", 1);
        weir__json_str(t, kv[i].key);
        weir__put(t, ":", 1);
        weir__json_str(t, kv[i].value);
    }
    weir__put(t, "}", 1);
}

static bool weir__valid_id(const char *id) {
    size_t n = strlen(id);
    if (n < 1 || n > 64) return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || weir__digit(c) || c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

static bool weir__id_used(weir_plan *p, const char *id) {
    for (weir_node *n = p->first; n; n = n->next)
        if (n->gen_id && strcmp(n->gen_id, id) == 0) return true;
    return false;
}

/* weir__assign_ids gives every node its id: the explicit one, or one made
 * from the function or connector name, unique with a -2, -3 ... suffix. */
static bool weir__assign_ids(weir_plan *p) {
    for (weir_node *n = p->first; n; n = n->next) {
        if (!n->id) continue;
        if (!weir__valid_id(n->id)) {
            weir__plan_errorf(p, "plan \"%s\": node id \"%s\": must match [A-Za-z0-9_.-]{1,64}", p->name, n->id);
            return false;
        }
        if (weir__id_used(p, n->id)) {
            weir__plan_errorf(p, "plan \"%s\": duplicate node id \"%s\"", p->name, n->id);
            return false;
        }
        n->gen_id = n->id;
    }
    for (weir_node *n = p->first; n; n = n->next) {
        if (n->id) continue;
        char base[80];
        if (n->function) snprintf(base, sizeof base, "%s", n->function);
        else snprintf(base, sizeof base, "%s-%s", n->kind, n->connector);
        size_t bl = strlen(base);
        if (bl > 56) base[bl = 56] = 0;
        for (size_t i = 0; i < bl; i++) {
            char c = base[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || weir__digit(c) || c == '_' || c == '.' || c == '-'))
                base[i] = '_';
        }
        if (bl == 0) snprintf(base, sizeof base, "node");
        char id[80];
        snprintf(id, sizeof id, "%s", base);
        for (int k = 2; weir__id_used(p, id); k++) snprintf(id, sizeof id, "%s-%d", base, k);
        n->gen_id = weir__pstr(p, id);
        if (!n->gen_id) return false;
    }
    return true;
}

/* weir__plan_json validates p and writes its JSON into t. */
static weir_status weir__plan_json(weir_plan *p, weir__text *t) {
    if (p->failed) return weir_errorf("plan \"%s\": %s", p->name ? p->name : "", p->err);
    if (!p->name || !p->name[0]) return weir_errorf("plan: the job has no name (call weir_plan_name)");
    if (!p->first) return weir_errorf("plan \"%s\": no nodes", p->name);
    if (!weir__assign_ids(p)) return weir_errorf("%s", p->err);
    int max_par = p->max_parallelism ? p->max_parallelism : 128;
    if (p->parallelism > max_par)
        return weir_errorf("plan \"%s\": parallelism %d exceeds max parallelism %d", p->name, p->parallelism, max_par);
    weir__puts(t, "{\"weir_plan\":1,\"name\":");
    weir__json_str(t, p->name);
    if (p->parallelism) {
        weir__puts(t, ",\"parallelism\":");
        weir__json_int(t, p->parallelism);
    }
    if (p->max_parallelism) {
        weir__puts(t, ",\"maxParallelism\":");
        weir__json_int(t, p->max_parallelism);
    }
    if (p->n_config) {
        weir__puts(t, ",\"config\":");
        weir__json_map(t, p->config, p->n_config);
    }
    weir__puts(t, ",\"nodes\":[");
    for (weir_node *n = p->first; n; n = n->next) {
        const char *id = n->gen_id;
        bool source = strcmp(n->kind, "source") == 0, sink = strcmp(n->kind, "sink") == 0;
        for (int i = 0; i < n->n_inputs; i++)
            if (strcmp(n->inputs[i]->kind, "sink") == 0)
                return weir_errorf("plan \"%s\": node \"%s\" reads from sink \"%s\"", p->name, id, n->inputs[i]->gen_id);
        if (!source && n->n_inputs == 0) return weir_errorf("plan \"%s\": node \"%s\" has no inputs", p->name, id);
        if (strcmp(n->kind, "process") == 0 && n->n_key_by == 0)
            return weir_errorf("plan \"%s\": process node \"%s\" needs weir_key_by", p->name, id);
        if (n->parallelism > max_par)
            return weir_errorf("plan \"%s\": node \"%s\": parallelism %d exceeds max parallelism %d", p->name, id,
                               n->parallelism, max_par);
        if (n != p->first) weir__put(t, ",", 1);
        weir__puts(t, "{\"id\":");
        weir__json_str(t, id);
        weir__puts(t, ",\"kind\":");
        weir__json_str(t, n->kind);
        if (n->connector && n->connector[0]) {
            weir__puts(t, ",\"connector\":");
            weir__json_str(t, n->connector);
        }
        if (n->function && n->function[0]) {
            weir__puts(t, ",\"function\":");
            weir__json_str(t, n->function);
        }
        if ((source || sink) && n->n_cparams) {
            weir__puts(t, ",\"params\":");
            weir__json_map(t, n->cparams, n->n_cparams);
        } else if (!source && !sink && n->fparams) {
            weir__puts(t, ",\"params\":");
            weir__json_str(t, n->fparams);
        }
        if (n->n_inputs) {
            weir__puts(t, ",\"inputs\":[");
            for (int i = 0; i < n->n_inputs; i++) {
                if (i) weir__put(t, ",", 1);
                weir__json_str(t, n->inputs[i]->gen_id);
            }
            weir__put(t, "]", 1);
        }
        if (n->n_key_by) {
            weir__puts(t, ",\"keyBy\":[");
            for (int i = 0; i < n->n_key_by; i++) {
                if (i) weir__put(t, ",", 1);
                weir__json_str(t, n->key_by[i]);
            }
            weir__put(t, "]", 1);
        }
        if (n->partition) {
            weir__puts(t, ",\"partition\":");
            weir__json_str(t, n->partition);
        }
        if (n->parallelism) {
            weir__puts(t, ",\"parallelism\":");
            weir__json_int(t, n->parallelism);
        }
        if (n->display && n->display[0]) {
            weir__puts(t, ",\"name\":");
            weir__json_str(t, n->display);
        }
        weir__put(t, "}", 1);
    }
    weir__puts(t, "]}");
    if (t->oom) return weir_errorf("plan \"%s\": out of memory writing the plan", p->name);
    return WEIR_OK;
}

static void weir__plan_free(weir_plan *p) {
    weir__arena_block *b = p->arena;
    while (b) {
        weir__arena_block *next = b->next;
        free(b);
        b = next;
    }
    p->arena = NULL;
}

/* weir__plan_text keeps the last plan returned by weir_plan alive. */
static char *weir__plan_text;

WEIR__EXPORT("weir_plan") int32_t weir__export_plan(const char *args, uint32_t args_len, uint32_t *ret) {
    weir__begin_call();
    free(weir__plan_text);
    weir__plan_text = NULL;
    /* split the NUL-terminated arguments into argv */
    char *copy = malloc((size_t)args_len + 1);
    int argc = 0;
    for (uint32_t i = 0; i < args_len; i++) argc += args[i] == 0;
    if (args_len > 0 && args[args_len - 1] != 0) argc++; /* a last argument without its NUL */
    const char **argv = malloc(sizeof *argv * (size_t)(argc + 1));
    if (!copy || !argv) {
        free(copy);
        free(argv);
        return weir__finish(weir_errorf("out of memory for %d arguments", argc), "weir_plan", true);
    }
    if (args_len) memcpy(copy, args, args_len);
    copy[args_len] = 0;
    int k = 0;
    for (uint32_t i = 0; i < args_len; k++) {
        argv[k] = copy + i;
        i += (uint32_t)strlen(copy + i) + 1;
    }
    argv[argc] = NULL;
    weir_plan p;
    memset(&p, 0, sizeof p);
    weir_status st = weir_build_plan(&p, argc, argv);
    weir__text t = {0};
    if (!st && !weir__misused) st = weir__plan_json(&p, &t);
    weir__plan_free(&p);
    free(argv);
    free(copy);
    if (st || weir__misused) {
        free(t.buf);
        return weir__finish(WEIR_ERROR, NULL, false);
    }
    weir__plan_text = t.buf;
    weir__set_ret(ret, 0, weir__plan_text);
    ret[1] = (uint32_t)t.len;
    return 0;
}

#endif /* WEIR_IMPLEMENTATION_DONE */
#endif /* WEIR_IMPLEMENTATION */
