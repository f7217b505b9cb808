/*
 * weir_test.c - unit tests of weir.h. A WASI command module: it plays the
 * host, building ArrowSchema/ArrowArray structures in its own memory and
 * calling the ABI exports directly, then reads back what they return.
 * build.sh compiles it with -fsanitize=undefined -fsanitize-trap=undefined;
 * cmd/weir's TestSDKCUnit runs it under wazero, providing the weir imports,
 * and fails on a non-zero exit. Output: one line per failed check, then
 * "weir_test: N checks, M failed".
 */
#define WEIR_IMPLEMENTATION
#include "weir.h"

#include <stdio.h>
#include <stdlib.h>

static int checks, failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        checks++;                                                                                  \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                            \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
        }                                                                                          \
    } while (0)

/* reported returns the last message the SDK passed to weir.error. */
static const char *reported(void) {
    static char buf[WEIR__MSG_MAX + 1];
    memcpy(buf, weir__reported ? weir__reported : "", weir__reported ? weir__reported_len : 0);
    buf[weir__reported ? weir__reported_len : 0] = 0;
    return buf;
}

static bool contains(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

/* ---- a fake host: schemas and batches in the wasm32 C Data layout ---- */

typedef struct {
    const char *name, *format;
} tfield;

static weir_c_schema *mk_schema(int n, const tfield *f) {
    weir_c_schema *p = calloc((size_t)n + 1, sizeof *p);
    weir_c_schema **kids = calloc((size_t)n + 1, sizeof *kids);
    p->format = "+s";
    p->n_children = n;
    p->children = kids;
    p->release = 1;
    for (int j = 0; j < n; j++) {
        kids[j] = &p[j + 1];
        kids[j]->format = f[j].format;
        kids[j]->name = f[j].name;
        kids[j]->flags = 2;
        kids[j]->release = 1;
    }
    return p;
}

static weir_c_array *mk_array(int64_t len, int64_t off, int64_t nulls, int nbufs, const void *b0, const void *b1,
                              const void *b2) {
    weir_c_array *a = calloc(1, sizeof *a);
    const void **bufs = calloc(3, sizeof *bufs);
    bufs[0] = b0;
    bufs[1] = b1;
    bufs[2] = b2;
    a->length = len;
    a->offset = off;
    a->null_count = nulls;
    a->n_buffers = nbufs;
    a->buffers = bufs;
    a->release = 1;
    return a;
}

static weir_c_array *mk_batch(int64_t rows, int n, weir_c_array **kids) {
    weir_c_array *a = mk_array(rows, 0, 0, 1, NULL, NULL, NULL);
    a->n_children = n;
    a->children = kids;
    return a;
}

static void free_array(weir_c_array *a) {
    free((void *)a->buffers);
    free(a);
}

static void free_schema(weir_c_schema *s) {
    free(s->children);
    free(s);
}

/* Reading outputs back. */
static const weir_c_array *kid(const weir_c_array *a, int j) { return a->children[j]; }
static bool out_valid(const weir_c_array *a, int64_t i) {
    const uint8_t *v = a->buffers[0];
    return !v || weir_bit(v, a->offset + i);
}
static weir_str out_str(const weir_c_array *a, int64_t i) {
    const int32_t *o = a->buffers[1];
    const char *d = a->buffers[2];
    return (weir_str){d ? d + o[a->offset + i] : "", o[a->offset + i + 1] - o[a->offset + i]};
}
static bool str_eq(weir_str s, const char *want) {
    return s.len == (int32_t)strlen(want) && memcmp(s.ptr, want, (size_t)s.len) == 0;
}

/* ---- the operators under test ---- */

/* build_all: for each row of x (int64), appends one value to columns of
 * every kind through the per-value functions; rows where x % 3 == 1 are
 * null in every column (appended null, or set null afterwards). */
static weir_status build_open(weir_op *op) {
    if (weir_op_input(op, "x", WEIR_INT64) < 0) return WEIR_ERROR;
    static const struct {
        const char *name, *type;
    } cols[] = {{"b", WEIR_BOOL},           {"i8", WEIR_INT8},     {"u16", WEIR_UINT16},
                {"f32", WEIR_FLOAT32},      {"s", WEIR_UTF8},      {"z", WEIR_BINARY},
                {"ts", WEIR_TIMESTAMP("m", "UTC")}, {"d", WEIR_DATE32}, {"u64", WEIR_UINT64}};
    for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++)
        if (weir_op_output(op, cols[k].name, cols[k].type)) return WEIR_ERROR;
    return WEIR_OK;
}

static weir_status build_map(weir_op *op, const weir_batch *in, weir_builder *out) {
    (void)op;
    const int64_t *x = weir_i64(in, 0);
    if (!x) return WEIR_ERROR;
    for (int64_t i = 0; i < in->rows; i++) {
        int64_t v = x[i];
        bool null = v % 3 == 1;
        char s[32];
        int n = snprintf(s, sizeof s, "v%lld", (long long)v);
        if (null && (v & 1)) {
            for (int j = 0; j < 9; j++)
                if (weir_append_null(out, j)) return WEIR_ERROR;
            continue;
        }
        if (weir_append_bool(out, 0, v & 1) || weir_append_i8(out, 1, (int8_t)v) ||
            weir_append_u16(out, 2, (uint16_t)v) || weir_append_f32(out, 3, (float)v / 2) ||
            weir_append_str(out, 4, s, (size_t)n) || weir_append_str(out, 5, "\x00\xff", 2) ||
            weir_append_ts(out, 6, v * 1000) || weir_append_date32(out, 7, (int32_t)v) ||
            weir_append_u64(out, 8, UINT64_MAX - (uint64_t)v))
            return WEIR_ERROR;
        if (null)
            for (int j = 0; j < 9; j++)
                if (weir_set_null(out, j, weir_out_len(out, j) - 1)) return WEIR_ERROR;
    }
    return WEIR_OK;
}

/* raw: a flatmap writing each input string twice, first through
 * weir_extend_raw, then through weir_append_slot. */
static weir_status raw_open(weir_op *op) {
    if (weir_op_input(op, "s", WEIR_UTF8) < 0) return WEIR_ERROR;
    return weir_op_output(op, "s", WEIR_UTF8);
}

static weir_status raw_map(weir_op *op, const weir_batch *in, weir_builder *out) {
    (void)op;
    const weir_col *c = weir_column(in, 0, WEIR_T_UTF8);
    if (!c) return WEIR_ERROR;
    int64_t size = c->len ? c->offsets[c->len] - c->offsets[0] : 0;
    int32_t *offs;
    uint8_t *data;
    if (weir_extend_raw(out, 0, c->len, size, &offs, &data)) return WEIR_ERROR;
    int32_t base = offs[0];
    for (int64_t i = 0; i < c->len; i++) {
        weir_str s = weir_get_str(c, i);
        memcpy(data + (offs[i] - base), s.ptr, (size_t)s.len);
        offs[i + 1] = offs[i] + s.len;
    }
    for (int64_t i = 0; i < c->len; i++) {
        weir_str s = weir_get_str(c, i);
        char *slot = weir_append_slot(out, 0, (size_t)s.len);
        if (!slot) return WEIR_ERROR;
        memcpy(slot, s.ptr, (size_t)s.len);
    }
    return WEIR_OK;
}

/* bools: b = x > 2 through weir_append_bools after one weir_append_bool;
 * the first row is then made null. */
static weir_status bools_open(weir_op *op) {
    if (weir_op_input(op, "x", WEIR_INT64) < 0) return WEIR_ERROR;
    return weir_op_output(op, "b", WEIR_BOOL);
}

static weir_status bools_map(weir_op *op, const weir_batch *in, weir_builder *out) {
    (void)op;
    const int64_t *x = weir_i64(in, 0);
    if (!x || in->rows < 1) return WEIR_ERROR;
    static bool v[64];
    for (int64_t i = 1; i < in->rows && i < 64; i++) v[i - 1] = x[i] > 2;
    return weir_append_bool(out, 0, x[0] > 2) || weir_append_bools(out, 0, v, in->rows - 1) ||
           weir_set_null(out, 0, 0);
}

/* Misuses and mistakes, each failing the call. */
static weir_status any_open(weir_op *op) { return weir_op_output_input(op); }

static weir_status misuse_type_map(weir_op *op, const weir_batch *in, weir_builder *out) {
    (void)op;
    (void)out;
    (void)weir_f64(in, 0); /* column 0 is int64 */
    return weir_append_batch(out, in);
}

static weir_status misuse_index_map(weir_op *op, const weir_batch *in, weir_builder *out) {
    (void)op;
    (void)in;
    (void)weir_out_i64(out, 7, 1);
    return WEIR_OK;
}

static weir_status short_map(weir_op *op, const weir_batch *in, weir_builder *out) {
    (void)op;
    (void)in;
    return weir_append_i64(out, 0, 1) ? WEIR_ERROR : WEIR_OK;
}

static weir_status ragged_open(weir_op *op) {
    return weir_op_output(op, "a", WEIR_INT64) || weir_op_output(op, "b", WEIR_INT64);
}

static weir_status ragged_map(weir_op *op, const weir_batch *in, weir_builder *out) {
    (void)op;
    (void)in;
    return weir_append_i64(out, 0, 1) || weir_append_i64(out, 0, 2) || weir_append_i64(out, 1, 3);
}

static weir_status late_map(weir_op *op, const weir_batch *in, weir_builder *out) {
    (void)out;
    (void)in;
    return weir_op_output(op, "late", WEIR_INT64);
}

static weir_status silent_map(weir_op *op, const weir_batch *in, weir_builder *out) {
    (void)op;
    (void)in;
    (void)out;
    return WEIR_ERROR; /* no message */
}

static weir_status long_error_map(weir_op *op, const weir_batch *in, weir_builder *out) {
    (void)op;
    (void)in;
    (void)out;
    static char big[6001];
    for (int i = 0; i < 3000; i++) memcpy(big + 2 * i, "\xc3\xa9", 2); /* é */
    big[6000] = 0;
    return weir_errorf("x%s", big); /* 6001 bytes: cut inside an é unless on a boundary */
}

static weir_status log_map(weir_op *op, const weir_batch *in, weir_builder *out) {
    (void)in;
    (void)out;
    weir_logf(WEIR_LOG_INFO, "weir_test log check: %d", 42);
    static char big[3001];
    memset(big, 'L', 3000);
    weir_logf(WEIR_LOG_WARN, "%s", big); /* longer than weir_logf's stack buffer */
    return weir_append_batch(out, in) || weir_op_params_len(op) != 0;
}

static weir_status bad_open(weir_op *op) {
    if (weir_op_input(op, "missing", WEIR_INT64) < 0) return WEIR_ERROR;
    return WEIR_OK;
}

/* sel: a filter whose params choose how it selects. */
static weir_status sel_open(weir_op *op) { return weir_op_input(op, "x", WEIR_INT64) < 0; }

static weir_status sel_filter(weir_op *op, const weir_batch *in, weir_selection *sel) {
    const char *mode = weir_op_params(op);
    if (strcmp(mode, "idx") == 0) return weir_sel_append(sel, 0) || weir_sel_append(sel, 2);
    if (strcmp(mode, "idx_bad") == 0) return weir_sel_append(sel, 2) || weir_sel_append(sel, 1);
    if (strcmp(mode, "out_of_range") == 0) return weir_sel_keep(sel, in->rows);
    if (strcmp(mode, "keep") == 0) return weir_sel_keep(sel, 1);
    if (strcmp(mode, "all") == 0) {
        weir_sel_all(sel);
        return WEIR_OK;
    }
    if (strcmp(mode, "mask_idx") == 0) {
        for (int64_t i = 0; i < in->rows; i++)
            if (weir_sel_append(sel, i)) return WEIR_ERROR;
        return weir_sel_mask(sel, &in->cols[0]);
    }
    if (strcmp(mode, "all_then_mask") == 0) {
        weir_sel_all(sel);
        return weir_sel_mask(sel, &in->cols[0]);
    }
    weir_sel_none(sel);
    return WEIR_OK;
}

/* state_str: per row the key's state (s utf8, b bool, n int64) becomes
 * (s + "x", !b, n + 1); a key whose n reaches 3 is cleared. Output: n. */
static weir_status state_open(weir_op *op) {
    if (weir_op_input(op, "k", WEIR_INT64) < 0) return WEIR_ERROR;
    return weir_op_output(op, "n", WEIR_INT64) || weir_op_state(op, "s", WEIR_UTF8) ||
           weir_op_state(op, "b", WEIR_BOOL) || weir_op_state(op, "n", WEIR_INT64);
}

static weir_status state_process(weir_op *op, const weir_batch *in, const int32_t *keys, weir_table *t,
                                 weir_builder *out) {
    (void)op;
    bool *b = weir_table_bool(t, 1);
    int64_t *n = weir_table_i64(t, 2);
    if (!b || !n) return WEIR_ERROR;
    for (int64_t i = 0; i < in->rows; i++) {
        int k = keys[i];
        weir_str s = weir_table_get_str(t, 0, k);
        char buf[256];
        if (s.len > 250) return weir_errorf("state string too long");
        memcpy(buf, s.ptr, (size_t)s.len);
        buf[s.len] = 'x';
        if (weir_table_set_str(t, 0, k, buf, (size_t)s.len + 1)) return WEIR_ERROR;
        b[k] = !b[k];
        n[k]++;
        if (n[k] >= 3) weir_table_clear(t, k);
        if (weir_append_i64(out, 0, n[k])) return WEIR_ERROR;
    }
    return WEIR_OK;
}

/* exists: outputs whether each row's key has state, clearing the first
 * row's key and keeping it again at the second row; counts its closes. */
static int closes;
static void count_close(void *data) { closes += data != NULL; }

static weir_status exists_open(weir_op *op) {
    if (weir_op_input(op, "k", WEIR_INT64) < 0 || !weir_op_data_new(op, 8)) return WEIR_ERROR;
    weir_op_on_close(op, count_close);
    return weir_op_output(op, "e", WEIR_BOOL) || weir_op_state(op, "n", WEIR_INT64);
}

static weir_status exists_process(weir_op *op, const weir_batch *in, const int32_t *keys, weir_table *t,
                                  weir_builder *out) {
    (void)op;
    for (int64_t i = 0; i < in->rows; i++) {
        if (weir_append_bool(out, 0, weir_table_exists(t, keys[i]))) return WEIR_ERROR;
        if (i == 0) weir_table_clear(t, keys[0]);
        if (i == 1) weir_table_keep(t, keys[0]);
    }
    return WEIR_OK;
}

/* agg_init: accumulators start at 100 (init); add adds x; result v. */
static weir_status agg_open(weir_op *op) {
    if (weir_op_input(op, "x", WEIR_INT64) < 0) return WEIR_ERROR;
    return weir_op_state(op, "v", WEIR_INT64) || weir_op_output(op, "v", WEIR_INT64);
}
static weir_status agg_init(weir_op *op, weir_table *acc) {
    (void)op;
    int64_t *v = weir_table_i64(acc, 0);
    if (!v) return WEIR_ERROR;
    for (int64_t k = 0; k < weir_table_rows(acc); k++) v[k] = 100;
    return WEIR_OK;
}
static weir_status agg_add(weir_op *op, weir_table *acc, const weir_batch *in, const int32_t *groups) {
    (void)op;
    int64_t *v = weir_table_i64(acc, 0);
    const int64_t *x = weir_i64(in, 0);
    if (!v || !x) return WEIR_ERROR;
    for (int64_t i = 0; i < in->rows; i++) v[groups[i]] += x[i];
    return WEIR_OK;
}
static weir_status agg_merge(weir_op *op, weir_table *acc, weir_table *other, const int32_t *groups) {
    (void)op;
    int64_t *v = weir_table_i64(acc, 0), *o = weir_table_i64(other, 0);
    if (!v || !o) return WEIR_ERROR;
    for (int64_t i = 0; i < weir_table_rows(other); i++) v[groups[i]] += o[i];
    return WEIR_OK;
}
static weir_status agg_result(weir_op *op, weir_table *acc, weir_builder *out) {
    (void)op;
    const int64_t *v = weir_table_i64(acc, 0);
    int64_t *r = weir_out_i64(out, 0, weir_table_rows(acc));
    if (!v || !r) return WEIR_ERROR;
    memcpy(r, v, (size_t)weir_table_rows(acc) * 8);
    return WEIR_OK;
}

const weir_function weir_functions[] = {
    WEIR_MAP("build_all", build_open, build_map),
    WEIR_FLATMAP("raw", raw_open, raw_map),
    WEIR_MAP("bools", bools_open, bools_map),
    WEIR_MAP("misuse_type", any_open, misuse_type_map),
    WEIR_MAP("misuse_index", any_open, misuse_index_map),
    WEIR_MAP("short", any_open, short_map),
    WEIR_MAP("ragged", ragged_open, ragged_map),
    WEIR_MAP("late", any_open, late_map),
    WEIR_MAP("silent", any_open, silent_map),
    WEIR_MAP("long_error", any_open, long_error_map),
    WEIR_MAP("log", any_open, log_map),
    WEIR_MAP("bad_open", bad_open, silent_map),
    WEIR_FILTER("sel", sel_open, sel_filter),
    WEIR_PROCESS("state_str", state_open, state_process),
    WEIR_PROCESS("exists", exists_open, exists_process),
    WEIR_AGGREGATE("agg_init", agg_open, agg_init, agg_add, agg_merge, agg_result),
    WEIR_MAP("dup", any_open, short_map),
    WEIR_MAP("dup", any_open, short_map),
    WEIR_MAP("nocb", any_open, NULL),
    WEIR_END,
};

/* The plan function under test is swapped per case. */
static weir_status (*plan_fn)(weir_plan *p, int argc, const char *const *argv);

weir_status weir_build_plan(weir_plan *p, int argc, const char *const *argv) { return plan_fn(p, argc, argv); }

/* ---- helpers calling the exports ---- */

static uint32_t ret[16];

static int32_t open_op(int32_t kind, const char *name, const char *params, weir_c_schema *s) {
    memset(ret, 0, sizeof ret);
    return weir__export_open(kind, name, (uint32_t)strlen(name), params, (uint32_t)strlen(params), s, ret);
}

/* int64 input column x with the given values; nulls where valid bit clear. */
static weir_c_schema *x_schema;

static weir_c_array *x_batch(const int64_t *vals, const uint8_t *valid, int64_t n, int64_t off) {
    weir_c_array **kids = calloc(1, sizeof *kids);
    kids[0] = mk_array(n + off, off, valid ? -1 : 0, 2, valid, vals, NULL);
    weir_c_array *b = mk_batch(n, 1, kids);
    return b;
}

static void free_batch(weir_c_array *b) {
    for (int64_t j = 0; j < b->n_children; j++) free_array(b->children[j]);
    free(b->children);
    free_array(b);
}

/* ---- tests ---- */

static void test_parse(void) {
    static const struct {
        const char *s;
        bool ok;
        double want;
    } f64[] = {
        {"0.908", true, 0.908}, {" -12 ", true, -12}, {"1e-3", true, 1e-3}, {"+3", true, 3},
        {"1.", true, 1},        {".5", true, 0.5},    {"1e-400", true, 0},  {"1.0000000000000002", true, 1.0000000000000002},
        {"abc", false, 0},      {"", false, 0},       {" ", false, 0},      {"1e", false, 0},
        {"inf", false, 0},      {"nan", false, 0},    {"0x10", false, 0},   {"1e400", false, 0},
        {"1 2", false, 0},      {".", false, 0},      {"-", false, 0},      {"1e+", false, 0},
    };
    for (size_t i = 0; i < sizeof f64 / sizeof f64[0]; i++) {
        double v = -1;
        bool ok = weir_parse_f64(f64[i].s, strlen(f64[i].s), &v);
        CHECK(ok == f64[i].ok && (!ok || v == f64[i].want), "weir_parse_f64(\"%s\") = %d, %.17g", f64[i].s, ok, v);
    }
    double v;
    CHECK(!weir_parse_f64("1\0" "5", 3, &v), "a NUL byte inside the text is refused");

    static const struct {
        const char *s;
        bool ok;
        int64_t want;
    } i64[] = {
        {"-9223372036854775808", true, INT64_MIN}, {"9223372036854775807", true, INT64_MAX},
        {" 7 ", true, 7},                          {"+0", true, 0},
        {"9223372036854775808", false, 0},         {"-9223372036854775809", false, 0},
        {"12a", false, 0},                         {"", false, 0},
        {"-", false, 0},                           {"1.5", false, 0},
        {"99999999999999999999", false, 0},
    };
    for (size_t i = 0; i < sizeof i64 / sizeof i64[0]; i++) {
        int64_t w = -1;
        bool ok = weir_parse_i64(i64[i].s, strlen(i64[i].s), &w);
        CHECK(ok == i64[i].ok && (!ok || w == i64[i].want), "weir_parse_i64(\"%s\") = %d, %lld", i64[i].s, ok,
              (long long)w);
    }
}

static void test_types(void) {
    static const struct {
        const char *format;
        weir_type_id id;
        const char *name;
    } cases[] = {
        {"b", WEIR_T_BOOL, "bool"},          {"c", WEIR_T_INT8, "int8"},
        {"L", WEIR_T_UINT64, "uint64"},      {"g", WEIR_T_FLOAT64, "float64"},
        {"u", WEIR_T_UTF8, "utf8"},          {"z", WEIR_T_BINARY, "binary"},
        {"tdD", WEIR_T_DATE32, "date32"},    {"tss:", WEIR_T_TIMESTAMP, "timestamp[s]"},
        {"tsn:", WEIR_T_TIMESTAMP, "timestamp[ns]"},
        {"tsm:UTC", WEIR_T_TIMESTAMP, "timestamp[ms, UTC]"},
        {"tsu:Europe/Paris", WEIR_T_TIMESTAMP, "timestamp[us, Europe/Paris]"},
        {"tsx:", WEIR_T_INVALID, "invalid(\"tsx:\")"},
        {"+s", WEIR_T_INVALID, "invalid(\"+s\")"},
        {"tdm", WEIR_T_INVALID, "invalid(\"tdm\")"},
        {"", WEIR_T_INVALID, "invalid(\"\")"},
        {"ts", WEIR_T_INVALID, "invalid(\"ts\")"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[64];
        CHECK(weir_type_of(cases[i].format) == cases[i].id, "weir_type_of(\"%s\")", cases[i].format);
        weir_type_name(cases[i].format, buf, sizeof buf);
        CHECK(strcmp(buf, cases[i].name) == 0, "weir_type_name(\"%s\") = %s, want %s", cases[i].format, buf,
              cases[i].name);
    }
    CHECK(strcmp(WEIR_TIMESTAMP("m", "UTC"), "tsm:UTC") == 0, "WEIR_TIMESTAMP");
    CHECK(weir_type_width(WEIR_T_DATE32) == 4 && weir_type_width(WEIR_T_TIMESTAMP) == 8 &&
              weir_type_width(WEIR_T_BOOL) == 0 && weir_type_width(WEIR_T_UINT16) == 2,
          "weir_type_width");
}

/* Naive bitmap operations to check the word-wise ones against. */
static bool nbit(const uint8_t *b, int64_t i) { return (b[i >> 3] >> (i & 7)) & 1; }
static void nset(uint8_t *b, int64_t i, bool v) {
    if (v) b[i >> 3] |= (uint8_t)(1u << (i & 7));
    else b[i >> 3] &= (uint8_t)~(1u << (i & 7));
}

static void test_bits(void) {
    uint8_t src[40], a[40], b[40];
    uint32_t seed = 12345;
    for (int i = 0; i < 40; i++) {
        seed = seed * 1103515245u + 12345u;
        src[i] = (uint8_t)(seed >> 16);
    }
    int bad = 0;
    for (int soff = 0; soff < 17; soff++)
        for (int doff = 0; doff < 17; doff++)
            for (int n = 0; n < 200; n += (n < 20 ? 1 : 13)) {
                memset(a, 0xA5, sizeof a);
                memset(b, 0xA5, sizeof b);
                weir_bits_copy(a, doff, src, soff, n);
                for (int k = 0; k < n; k++) nset(b, doff + k, nbit(src, soff + k));
                if (memcmp(a, b, sizeof a) != 0) bad++;
                int64_t want = 0;
                for (int k = 0; k < n; k++) want += nbit(src, soff + k);
                if (weir_bits_count(src, soff, n) != want) bad++;
                memcpy(a, src, sizeof a);
                memcpy(b, src, sizeof b);
                weir_bits_fill(a, doff, doff + n, soff & 1);
                for (int k = 0; k < n; k++) nset(b, doff + k, soff & 1);
                if (memcmp(a, b, sizeof a) != 0) bad++;
                memset(a, 0xFF, sizeof a);
                memset(b, 0xFF, sizeof b);
                weir_bits_and(a, src, soff, n);
                for (int k = 0; k < n; k++) nset(b, k, nbit(src, soff + k));
                if (memcmp(a, b, sizeof a) != 0) bad++;
            }
    CHECK(bad == 0, "%d bitmap results differ from the naive ones", bad);
}

static void test_flags(void) {
    static const struct {
        const char *args[6];
        int argc;
        int want; /* index returned, -1 for an error */
        const char *input, *output, *err;
    } cases[] = {
        {{0}, 0, 0, "in.jsonl", "out", NULL},
        {{"--input", "a.txt"}, 2, 2, "a.txt", "out", NULL},
        {{"-input=b", "--output=c"}, 2, 2, "b", "c", NULL},
        {{"--output", "d", "rest", "--input", "x"}, 5, 2, "in.jsonl", "d", NULL},
        {{"--", "--input", "x"}, 3, 1, "in.jsonl", "out", NULL},
        {{"--input=", "-"}, 2, 1, "", "out", NULL},
        {{"--nope", "1"}, 2, -1, NULL, NULL, "flag provided but not defined: -nope"},
        {{"--input"}, 1, -1, NULL, NULL, "flag needs an argument: -input"},
        {{"---input", "x"}, 2, -1, NULL, NULL, "bad flag syntax: ---input"},
        {{"-h"}, 1, -1, NULL, NULL, "help requested; flags: -input (default \"in.jsonl\"): input file"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        weir_flag flags[] = {{"input", "in.jsonl", "input file"}, {"output", "out", "output directory"}};
        weir__begin_call();
        int got = weir_parse_flags(flags, 2, cases[i].argc, cases[i].args);
        CHECK(got == cases[i].want, "case %zu: weir_parse_flags = %d, want %d (%s)", i, got, cases[i].want,
              weir__msg_set ? weir__msg : "");
        if (cases[i].want >= 0 && got >= 0) {
            CHECK(strcmp(flags[0].value, cases[i].input) == 0 && strcmp(flags[1].value, cases[i].output) == 0,
                  "case %zu: input %s output %s", i, flags[0].value, flags[1].value);
        }
        if (cases[i].err) CHECK(weir__msg_set && contains(weir__msg, cases[i].err), "case %zu: error %s", i, weir__msg);
    }
}

/* Plans. */
static weir_status plan_wordcount(weir_plan *p, int argc, const char *const *argv) {
    weir_flag flags[] = {{"input", "in.txt", ""}, {"output", "out", ""}};
    if (weir_parse_flags(flags, 2, argc, argv) < 0) return WEIR_ERROR;
    weir_plan_name(p, "wordcount");
    weir_plan_parallelism(p, 2);
    weir_plan_config(p, "pipeline.buffer-timeout", "100ms");
    weir_plan_config(p, "a.first", "1");
    weir_node *lines = weir_set_parallelism(weir_source(p, "file", "path", flags[0].value, "format", "lines", NULL), 1);
    weir_node *words = weir_flatmap(lines, "tokenize", NULL);
    weir_node *counts = weir_key_by(weir_process(words, "count", NULL), "word", NULL);
    weir_set_id(weir_sink(counts, "file", "path", flags[1].value, "format", "jsonl", NULL), "out");
    weir_set_id(lines, "lines");
    weir_set_id(words, "words");
    weir_set_id(counts, "counts");
    return WEIR_OK;
}

static weir_status plan_generated_ids(weir_plan *p, int argc, const char *const *argv) {
    (void)argc;
    (void)argv;
    weir_plan_name(p, "ids");
    weir_plan_max_parallelism(p, 16);
    weir_node *a = weir_source(p, "file", NULL);
    weir_node *b = weir_source(p, "file", NULL);
    weir_node *m1 = weir_map(a, "f", "1, 2");
    weir_node *m2 = weir_rebalance(weir_map(b, "f", ""));
    weir_node *u = weir_add_input(weir_filter(m1, "weird name!", NULL), m2);
    weir_set_name(u, "union \"filter\"\n\tdone\x01");
    weir_sink(weir_aggregate(u, "g", NULL), "stdout", NULL);
    return WEIR_OK;
}

static weir_status plan_no_key(weir_plan *p, int argc, const char *const *argv) {
    (void)argc;
    (void)argv;
    weir_plan_name(p, "nokey");
    weir_sink(weir_process(weir_source(p, "s", NULL), "count", NULL), "k", NULL);
    return WEIR_OK;
}

static weir_status plan_dup_id(weir_plan *p, int argc, const char *const *argv) {
    (void)argc;
    (void)argv;
    weir_plan_name(p, "dup");
    weir_set_id(weir_map(weir_set_id(weir_source(p, "s", NULL), "x"), "f", NULL), "x");
    return WEIR_OK;
}

static weir_status plan_bad_id(weir_plan *p, int argc, const char *const *argv) {
    (void)argc;
    (void)argv;
    weir_plan_name(p, "bad");
    weir_set_id(weir_source(p, "s", NULL), "a b");
    return WEIR_OK;
}

static weir_status plan_no_name(weir_plan *p, int argc, const char *const *argv) {
    (void)argc;
    (void)argv;
    weir_source(p, "s", NULL);
    return WEIR_OK;
}

static weir_status plan_no_nodes(weir_plan *p, int argc, const char *const *argv) {
    (void)argc;
    (void)argv;
    weir_plan_name(p, "empty");
    return WEIR_OK;
}

static weir_status plan_zero_par(weir_plan *p, int argc, const char *const *argv) {
    (void)argc;
    (void)argv;
    weir_plan_name(p, "par");
    weir_plan_parallelism(p, 0);
    weir_source(p, "s", NULL);
    return WEIR_OK;
}

static weir_status plan_node_par(weir_plan *p, int argc, const char *const *argv) {
    (void)argc;
    (void)argv;
    weir_plan_name(p, "par");
    weir_plan_max_parallelism(p, 4);
    weir_set_parallelism(weir_source(p, "s", NULL), 8);
    return WEIR_OK;
}

static weir_status plan_from_sink(weir_plan *p, int argc, const char *const *argv) {
    (void)argc;
    (void)argv;
    weir_plan_name(p, "sinks");
    weir_map(weir_sink(weir_source(p, "s", NULL), "k", NULL), "f", NULL);
    return WEIR_OK;
}

static weir_status plan_odd_params(weir_plan *p, int argc, const char *const *argv) {
    (void)argc;
    (void)argv;
    weir_plan_name(p, "odd");
    weir_source(p, "file", "path", (const char *)NULL, NULL);
    return WEIR_OK;
}

static weir_status plan_fails(weir_plan *p, int argc, const char *const *argv) {
    (void)p;
    return weir_errorf("bad arguments: %d, first %s", argc, argc ? argv[0] : "none");
}

static weir_status plan_args(weir_plan *p, int argc, const char *const *argv) {
    char name[256] = "";
    for (int i = 0; i < argc; i++) {
        strcat(name, i ? "|" : "");
        strcat(name, argv[i]);
    }
    weir_plan_name(p, name);
    weir_source(p, "s", NULL);
    return WEIR_OK;
}

static void test_plans(void) {
    static const struct {
        const char *name;
        weir_status (*fn)(weir_plan *, int, const char *const *);
        const char *args;
        uint32_t args_len;
        const char *want; /* the JSON, or an error substring */
        bool fails;
    } cases[] = {
        {"wordcount", plan_wordcount, "--input\0in.txt\0", 15,
         "{\"weir_plan\":1,\"name\":\"wordcount\",\"parallelism\":2,\"config\":{\"a.first\":\"1\",\"pipeline.buffer-timeout\":"
         "\"100ms\"},\"nodes\":[{\"id\":\"lines\",\"kind\":\"source\",\"connector\":\"file\",\"params\":{\"format\":"
         "\"lines\",\"path\":\"in.txt\"},\"parallelism\":1},{\"id\":\"words\",\"kind\":\"flatmap\",\"function\":"
         "\"tokenize\",\"inputs\":[\"lines\"]},{\"id\":\"counts\",\"kind\":\"process\",\"function\":\"count\","
         "\"inputs\":[\"words\"],\"keyBy\":[\"word\"]},{\"id\":\"out\",\"kind\":\"sink\",\"connector\":\"file\","
         "\"params\":{\"format\":\"jsonl\",\"path\":\"out\"},\"inputs\":[\"counts\"]}]}",
         false},
        {"generated ids", plan_generated_ids, "", 0,
         "{\"weir_plan\":1,\"name\":\"ids\",\"maxParallelism\":16,\"nodes\":[{\"id\":\"source-file\",\"kind\":\"source\","
         "\"connector\":\"file\"},{\"id\":\"source-file-2\",\"kind\":\"source\",\"connector\":\"file\"},{\"id\":\"f\","
         "\"kind\":\"map\",\"function\":\"f\",\"params\":\"1, 2\",\"inputs\":[\"source-file\"]},{\"id\":\"f-2\",\"kind\":"
         "\"map\",\"function\":\"f\",\"inputs\":[\"source-file-2\"],\"partition\":\"rebalance\"},{\"id\":\"weird_name_\","
         "\"kind\":\"filter\",\"function\":\"weird name!\",\"inputs\":[\"f\",\"f-2\"],\"name\":\"union \\\"filter\\\"\\n\\tdone"
         "\\u0001\"},{\"id\":\"g\",\"kind\":\"aggregate\",\"function\":\"g\",\"inputs\":[\"weird_name_\"]},{\"id\":"
         "\"sink-stdout\",\"kind\":\"sink\",\"connector\":\"stdout\",\"inputs\":[\"g\"]}]}",
         false},
        {"args split", plan_args, "a\0\0b c\0last", 11, "\"name\":\"a||b c|last\"", false},
        {"no key", plan_no_key, "", 0, "plan \"nokey\": process node \"count\" needs weir_key_by", true},
        {"duplicate id", plan_dup_id, "", 0, "plan \"dup\": duplicate node id \"x\"", true},
        {"bad id", plan_bad_id, "", 0, "plan \"bad\": node id \"a b\": must match [A-Za-z0-9_.-]{1,64}", true},
        {"no name", plan_no_name, "", 0, "plan: the job has no name", true},
        {"no nodes", plan_no_nodes, "", 0, "plan \"empty\": no nodes", true},
        {"zero parallelism", plan_zero_par, "", 0, "plan \"par\": job parallelism 0: must be at least 1", true},
        {"node parallelism", plan_node_par, "", 0, "node \"source-s\": parallelism 8 exceeds max parallelism 4", true},
        {"from sink", plan_from_sink, "", 0, "node \"f\" reads from sink \"sink-k\"", true},
        {"odd params", plan_odd_params, "", 0, "connector param \"path\" has no value", true},
        {"user error", plan_fails, "x\0", 2, "bad arguments: 1, first x", true},
        {"bad flag", plan_wordcount, "--bogus\0", 8, "flag provided but not defined: -bogus", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        plan_fn = cases[i].fn;
        memset(ret, 0, sizeof ret);
        int32_t st = weir__export_plan(cases[i].args, cases[i].args_len, ret);
        if (cases[i].fails) {
            CHECK(st == 1 && contains(reported(), cases[i].want), "plan %s: status %d, message %s", cases[i].name, st,
                  reported());
            continue;
        }
        const char *text = (const char *)(uintptr_t)ret[0];
        bool match = st == 0 && text && (cases[i].want[0] == '{'
                                              ? strlen(cases[i].want) == ret[1] && memcmp(text, cases[i].want, ret[1]) == 0
                                              : contains(text, cases[i].want));
        CHECK(match, "plan %s: status %d\n got %.*s\nwant %s", cases[i].name, st, (int)ret[1], text ? text : "",
              cases[i].want);
    }
}

/* open errors */
static void test_open_errors(void) {
    static const struct {
        int32_t kind;
        const char *name, *want;
    } cases[] = {
        {1, "nope", "nope: no function \"nope\" is registered in this module (registered: build_all, raw,"},
        {3, "build_all", "build_all: registered as a map function, opened as filter"},
        {2, "build_all", "build_all: registered as a map function, opened as flatmap"},
        {9, "build_all", "opened as unknown kind"},
        {1, "dup", "dup: is registered twice"},
        {1, "nocb", "nocb: registered as a map function without its callbacks"},
        {1, "bad_open", "bad_open: input has no column \"missing\" (columns: x)"},
        {2, "raw", "raw: input has no column \"s\" (columns: x)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int32_t st = open_op(cases[i].kind, cases[i].name, "", x_schema);
        CHECK(st == 1 && contains(reported(), cases[i].want), "open %s as %d: status %d, %s", cases[i].name,
              cases[i].kind, st, reported());
    }
    /* a wrong type */
    tfield f[] = {{"x", "u"}};
    weir_c_schema *s = mk_schema(1, f);
    CHECK(open_op(1, "build_all", "", s) == 1 && contains(reported(), "build_all: column \"x\" is utf8, want int64"),
          "wrong type: %s", reported());
    free_schema(s);
    /* an unsupported input format */
    tfield g[] = {{"m", "+m"}};
    s = mk_schema(1, g);
    CHECK(open_op(1, "build_all", "", s) == 1 &&
              contains(reported(), "input column \"m\" has unsupported Arrow format \"+m\""),
          "unsupported: %s", reported());
    free_schema(s);
    /* unknown handles */
    CHECK(weir__export_close(0) == 1 && contains(reported(), "unknown operator handle 0"), "close 0: %s", reported());
    CHECK(weir__export_close(999) == 1, "close 999");
    weir_c_array *b = x_batch(NULL, NULL, 0, 0);
    CHECK(weir__export_map(77, b, ret) == 1 && contains(reported(), "unknown operator handle 77"), "map 77");
    free_batch(b);
}

static void test_builders(void) {
    int64_t xs[] = {-5, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19};
    int n = 20;
    CHECK(open_op(1, "build_all", "", x_schema) == 0, "open build_all: %s", reported());
    uint32_t h = ret[0];
    const weir_c_schema *os = (const weir_c_schema *)(uintptr_t)ret[1];
    CHECK(os && os->n_children == 9 && strcmp(os->children[6]->format, "tsm:UTC") == 0 &&
              strcmp(os->children[4]->name, "s") == 0 && os->children[0]->flags == 2,
          "output schema");
    /* input sliced at offset 1: rows are xs[1..20] */
    weir_c_array *b = x_batch(xs, NULL, n, 1);
    CHECK(weir__export_map(h, b, ret) == 0, "map build_all: %s", reported());
    const weir_c_array *o = (const weir_c_array *)(uintptr_t)ret[0];
    CHECK(o->length == n && o->n_children == 9 && o->buffers[0] == NULL, "output batch %lld rows", (long long)o->length);
    int bad = 0;
    int64_t nulls = 0;
    for (int i = 0; i < n; i++) {
        int64_t v = xs[i + 1];
        bool null = v % 3 == 1;
        nulls += null;
        for (int j = 0; j < 9; j++) {
            if (out_valid(kid(o, j), i) == null) bad++;
            if (kid(o, j)->length != n || kid(o, j)->offset != 0) bad++;
        }
        if (null) continue;
        char s[32];
        snprintf(s, sizeof s, "v%lld", (long long)v);
        bad += weir_bit(kid(o, 0)->buffers[1], i) != (v & 1);
        bad += ((const int8_t *)kid(o, 1)->buffers[1])[i] != (int8_t)v;
        bad += ((const uint16_t *)kid(o, 2)->buffers[1])[i] != (uint16_t)v;
        bad += ((const float *)kid(o, 3)->buffers[1])[i] != (float)v / 2;
        bad += !str_eq(out_str(kid(o, 4), i), s);
        bad += out_str(kid(o, 5), i).len != 2 || memcmp(out_str(kid(o, 5), i).ptr, "\x00\xff", 2) != 0;
        bad += ((const int64_t *)kid(o, 6)->buffers[1])[i] != v * 1000;
        bad += ((const int32_t *)kid(o, 7)->buffers[1])[i] != (int32_t)v;
        bad += ((const uint64_t *)kid(o, 8)->buffers[1])[i] != UINT64_MAX - (uint64_t)v;
    }
    for (int j = 0; j < 9; j++) bad += kid(o, j)->null_count != nulls;
    CHECK(bad == 0, "%d wrong values in the build_all output", bad);
    /* a second call starts from an empty builder */
    weir_c_array *b2 = x_batch(xs, NULL, 2, 0);
    CHECK(weir__export_map(h, b2, ret) == 0, "second map");
    o = (const weir_c_array *)(uintptr_t)ret[0];
    CHECK(o->length == 2 && kid(o, 4)->null_count == 0 && str_eq(out_str(kid(o, 4), 1), "v0"), "second call output");
    CHECK(weir__export_close(h) == 0, "close");
    CHECK(weir__export_map(h, b2, ret) == 1 && contains(reported(), "unknown operator handle"), "map after close");
    free_batch(b);
    free_batch(b2);

    /* bulk bools across byte boundaries */
    int64_t bx[21];
    for (int i = 0; i < 21; i++) bx[i] = (i * 7) % 5;
    CHECK(open_op(1, "bools", "", x_schema) == 0, "open bools: %s", reported());
    h = ret[0];
    b = x_batch(bx, NULL, 21, 0);
    CHECK(weir__export_map(h, b, ret) == 0, "map bools: %s", reported());
    o = (const weir_c_array *)(uintptr_t)ret[0];
    bad = o->length != 21 || kid(o, 0)->null_count != 1 || out_valid(kid(o, 0), 0);
    for (int i = 1; i < 21; i++) bad += !out_valid(kid(o, 0), i) || weir_bit(kid(o, 0)->buffers[1], i) != (bx[i] > 2);
    CHECK(bad == 0, "bools output");
    weir__export_close(h);
    free_batch(b);

    /* strings: extend_raw and append_slot over a sliced input with nulls */
    tfield f[] = {{"s", "u"}};
    weir_c_schema *ss = mk_schema(1, f);
    CHECK(open_op(2, "raw", "", ss) == 0, "open raw: %s", reported());
    h = ret[0];
    int32_t offs[] = {3, 5, 5, 9, 10};
    const char *data = "xxxabcdefgh";
    weir_c_array **kids = calloc(1, sizeof *kids);
    kids[0] = mk_array(4, 1, 0, 3, NULL, offs, data);
    weir_c_array *sb = mk_batch(3, 1, kids); /* rows: "", "cdef", "g" */
    CHECK(weir__export_map(h, sb, ret) == 0, "map raw: %s", reported());
    o = (const weir_c_array *)(uintptr_t)ret[0];
    const char *want[] = {"", "cdef", "g", "", "cdef", "g"};
    bad = o->length != 6;
    for (int i = 0; i < 6 && !bad; i++) bad += !str_eq(out_str(kid(o, 0), i), want[i]);
    CHECK(bad == 0, "raw output");
    weir__export_close(h);
    free_batch(sb);
    free_schema(ss);
}

static void test_call_failures(void) {
    static const struct {
        const char *name, *want;
        bool exact;
    } cases[] = {
        {"misuse_type", "misuse_type: input column 0 (\"x\") is int64, not float64", true},
        {"misuse_index", "misuse_index: append: output column 7 does not exist (the output has 1 columns)", true},
        {"short", "short: map produced 1 rows for 3 input rows", true},
        {"ragged", "ragged: output column \"b\" has 1 rows but column \"a\" has 2", true},
        {"late", "late: output columns can only be declared in open", true},
        {"silent", "silent: failed without an error message", true},
    };
    int64_t xs[] = {1, 2, 3};
    weir_c_array *b = x_batch(xs, NULL, 3, 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (open_op(1, cases[i].name, "", x_schema) != 0) {
            CHECK(false, "open %s: %s", cases[i].name, reported());
            continue;
        }
        uint32_t h = ret[0];
        int32_t st = weir__export_map(h, b, ret);
        CHECK(st == 1 && (cases[i].exact ? strcmp(reported(), cases[i].want) == 0 : contains(reported(), cases[i].want)),
              "%s: status %d, message \"%s\"", cases[i].name, st, reported());
        /* the operator stays usable after a failed call */
        CHECK(weir__export_close(h) == 0, "close %s", cases[i].name);
    }
    /* a long message is cut at 4095 bytes, on a character boundary */
    CHECK(open_op(1, "long_error", "", x_schema) == 0, "open long_error");
    uint32_t h = ret[0];
    CHECK(weir__export_map(h, b, ret) == 1, "long_error fails");
    size_t len = weir__reported_len;
    CHECK(len <= 4095 && len >= 4093 && weir__reported[0] == 'x' && weir__utf8_cut(weir__reported, len) == len &&
              ((unsigned char)weir__reported[len - 1] == 0xA9),
          "long message of %zu bytes", len);
    weir__export_close(h);
    /* logging */
    CHECK(open_op(1, "log", "", x_schema) == 0, "open log");
    h = ret[0];
    CHECK(weir__export_map(h, b, ret) == 0, "log map: %s", reported());
    weir__export_close(h);
    free_batch(b);
}

static void test_filters(void) {
    static const struct {
        const char *mode;
        uint32_t kind;
        const char *kept; /* rows kept, as digits */
        const char *err;
    } cases[] = {
        {"idx", 1, "02", NULL},
        {"keep", 0, "1", NULL},
        {"all", 2, "012345", NULL},
        {"none", 3, "", NULL},
        {"mask_idx", 1, "0245", NULL},
        {"all_then_mask", 0, "0245", NULL},
        {"idx_bad", 0, NULL, "sel: weir_sel_append(1) after row 2: rows must increase"},
        {"out_of_range", 0, NULL, "sel: weir_sel_keep(6): row out of range (6 rows)"},
    };
    int64_t xs[] = {0, 1, 2, 3, 4, 5};
    uint8_t valid[] = {0x35}; /* rows 1 and 3 null */
    weir_c_array *b = x_batch(xs, valid, 6, 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK(open_op(3, "sel", cases[i].mode, x_schema) == 0, "open sel");
        uint32_t h = ret[0];
        memset(ret, 0, sizeof ret);
        int32_t st = weir__export_filter(h, b, ret);
        weir__export_close(h);
        if (cases[i].err) {
            CHECK(st == 1 && strcmp(reported(), cases[i].err) == 0, "sel %s: %s", cases[i].mode, reported());
            continue;
        }
        char kept[8] = "";
        int k = 0;
        for (int r = 0; r < 6; r++) {
            bool keep = false;
            if (ret[0] == 0) keep = weir_bit((const uint8_t *)(uintptr_t)ret[1], r);
            if (ret[0] == 1)
                for (uint32_t m = 0; m < ret[2]; m++) keep |= ((const int32_t *)(uintptr_t)ret[1])[m] == r;
            if (ret[0] == 2) keep = true;
            if (keep) kept[k++] = (char)('0' + r);
        }
        kept[k] = 0;
        CHECK(st == 0 && ret[0] == cases[i].kind && strcmp(kept, cases[i].kept) == 0,
              "sel %s: status %d kind %u kept %s (want kind %u, %s)", cases[i].mode, st, ret[0], kept, cases[i].kind,
              cases[i].kept);
    }
    free_batch(b);
}

static void test_process(void) {
    tfield f[] = {{"k", "l"}};
    weir_c_schema *ks = mk_schema(1, f);
    CHECK(open_op(4, "state_str", "", ks) == 0, "open state_str: %s", reported());
    uint32_t h = ret[0];
    const weir_c_schema *st_schema = (const weir_c_schema *)(uintptr_t)ret[2];
    CHECK(st_schema && st_schema->n_children == 3 && strcmp(st_schema->children[1]->format, "b") == 0, "state schema");
    /* 5 rows over 3 keys; key 0 has state ("ab", true, 1), key 1 a null
     * state row with junk under it, key 2 state ("", false, 0) */
    int64_t kv[] = {10, 11, 10, 12, 10};
    int32_t keys[] = {0, 1, 0, 2, 0};
    int32_t soffs[] = {0, 2, 7, 7};
    const char *sdata = "abJUNKZ";
    uint8_t bbits[] = {0x03};
    int64_t nvals[] = {1, 99, 0};
    uint8_t rowvalid[] = {0x05};
    weir_c_array **skids = calloc(3, sizeof *skids);
    skids[0] = mk_array(3, 0, 0, 3, NULL, soffs, sdata);
    skids[1] = mk_array(3, 0, 0, 2, NULL, bbits, NULL);
    skids[2] = mk_array(3, 0, 0, 2, NULL, nvals, NULL);
    weir_c_array *state = mk_batch(3, 3, skids);
    ((const void **)state->buffers)[0] = rowvalid;
    state->null_count = 1;
    weir_c_array *in = x_batch(kv, NULL, 5, 0);
    int32_t stt = weir__export_process(h, in, keys, state, ret);
    CHECK(stt == 0, "process: %s", reported());
    if (stt == 0) {
        const weir_c_array *o = (const weir_c_array *)(uintptr_t)ret[0];
        const weir_c_array *s = (const weir_c_array *)(uintptr_t)ret[1];
        const int64_t *on = kid(o, 0)->buffers[1];
        CHECK(o->length == 5 && on[0] == 2 && on[1] == 1 && on[2] == 3 && on[3] == 1 && on[4] == 4, "outputs");
        /* key 0 reached 3 at its second row: cleared (null row); key 1 and
         * key 2 have state */
        CHECK(s->length == 3 && s->null_count == 1 && !weir_bit(s->buffers[0], 0) && weir_bit(s->buffers[0], 1) &&
                  weir_bit(s->buffers[0], 2),
              "state validity");
        CHECK(str_eq(out_str(kid(s, 0), 1), "x") && str_eq(out_str(kid(s, 0), 2), "x") &&
                  str_eq(out_str(kid(s, 0), 0), "abxxx"),
              "state strings %.*s", out_str(kid(s, 0), 0).len, out_str(kid(s, 0), 0).ptr);
        CHECK(weir_bit(kid(s, 1)->buffers[1], 1) && weir_bit(kid(s, 1)->buffers[1], 2) &&
                  !weir_bit(kid(s, 1)->buffers[1], 0),
              "state bools");
        const int64_t *sn = kid(s, 2)->buffers[1];
        CHECK(sn[0] == 4 && sn[1] == 1 && sn[2] == 1, "state counts %lld %lld %lld", (long long)sn[0],
              (long long)sn[1], (long long)sn[2]);
    }
    /* a key index out of range */
    int32_t badkeys[] = {0, 1, 0, 3, 0};
    CHECK(weir__export_process(h, in, badkeys, state, ret) == 1 &&
              strcmp(reported(), "state_str: key index 3 of row 3 is out of range (3 rows)") == 0,
          "bad key: %s", reported());
    weir__export_close(h);
    free_batch(in);
    free_batch(state);

    /* exists, clear, keep; the close hook */
    CHECK(open_op(4, "exists", "", ks) == 0, "open exists: %s", reported());
    h = ret[0];
    int64_t ek[] = {5, 6, 5};
    int32_t ekeys[] = {0, 1, 0};
    int64_t en[] = {1, 0};
    uint8_t evalid[] = {0x01};
    weir_c_array **ekids = calloc(1, sizeof *ekids);
    ekids[0] = mk_array(2, 0, 0, 2, NULL, en, NULL);
    weir_c_array *est = mk_batch(2, 1, ekids);
    ((const void **)est->buffers)[0] = evalid;
    weir_c_array *ein = x_batch(ek, NULL, 3, 0);
    CHECK(weir__export_process(h, ein, ekeys, est, ret) == 0, "process exists: %s", reported());
    const weir_c_array *eo = (const weir_c_array *)(uintptr_t)ret[0];
    const weir_c_array *es = (const weir_c_array *)(uintptr_t)ret[1];
    const uint8_t *eb = kid(eo, 0)->buffers[1];
    CHECK(eo->length == 3 && weir_bit(eb, 0) && !weir_bit(eb, 1) && weir_bit(eb, 2), "exists output");
    CHECK(es->length == 2 && es->buffers[0] == NULL && es->null_count == 0, "kept state: every row valid");
    int before = closes;
    weir__export_close(h);
    CHECK(closes == before + 1, "the close hook ran %d times", closes - before);
    free_batch(ein);
    free_batch(est);
    free_schema(ks);
}

static void test_aggregate(void) {
    CHECK(open_op(5, "agg_init", "", x_schema) == 0, "open agg_init: %s", reported());
    uint32_t h = ret[0];
    CHECK(weir__export_agg_create(h, 2, ret) == 0, "create");
    const weir_c_array *acc = (const weir_c_array *)(uintptr_t)ret[0];
    const int64_t *v = kid(acc, 0)->buffers[1];
    CHECK(acc->length == 2 && v[0] == 100 && v[1] == 100, "init");
    /* the host passes a copy: build one */
    int64_t av[] = {100, 100};
    weir_c_array **akids = calloc(1, sizeof *akids);
    akids[0] = mk_array(2, 0, 0, 2, NULL, av, NULL);
    weir_c_array *accb = mk_batch(2, 1, akids);
    int64_t xs[] = {1, 2, 3};
    int32_t groups[] = {1, 0, 1};
    weir_c_array *in = x_batch(xs, NULL, 3, 0);
    CHECK(weir__export_agg_add(h, accb, in, groups, ret) == 0, "add: %s", reported());
    acc = (const weir_c_array *)(uintptr_t)ret[0];
    v = kid(acc, 0)->buffers[1];
    CHECK(v[0] == 102 && v[1] == 104, "add result %lld %lld", (long long)v[0], (long long)v[1]);
    int32_t mg[] = {0, 0};
    CHECK(weir__export_agg_merge(h, accb, accb, mg, ret) == 0, "merge");
    v = kid((const weir_c_array *)(uintptr_t)ret[0], 0)->buffers[1];
    CHECK(v[0] == 300 && v[1] == 100, "merge result %lld %lld", (long long)v[0], (long long)v[1]);
    CHECK(weir__export_agg_result(h, accb, ret) == 0, "result");
    const weir_c_array *r = (const weir_c_array *)(uintptr_t)ret[0];
    CHECK(r->length == 2 && ((const int64_t *)kid(r, 0)->buffers[1])[1] == 100, "result rows");
    int32_t badg[] = {0, 2, 0};
    CHECK(weir__export_agg_add(h, accb, in, badg, ret) == 1 &&
              strcmp(reported(), "agg_init: group 2 of row 1 is out of range (2 rows)") == 0,
          "bad group: %s", reported());
    CHECK(weir__export_agg_create(h, (1u << 28) + 1, ret) == 1 && contains(reported(), "cannot create"), "huge create");
    CHECK(weir__export_map(h, in, ret) == 1 && contains(reported(), "agg_init: operator handle"), "map on an aggregate");
    weir__export_close(h);
    free_batch(in);
    free_batch(accb);
}

/* test_no_leaks runs open, calls and close many times: once warm, memory
 * must not grow. */
static void test_no_leaks(void) {
    int64_t xs[1000];
    uint8_t valid[125];
    for (int i = 0; i < 1000; i++) xs[i] = i;
    memset(valid, 0xEF, sizeof valid);
    weir_c_array *b = x_batch(xs, valid, 999, 1);
    tfield f[] = {{"k", "l"}};
    weir_c_schema *ks = mk_schema(1, f);
    int32_t keys[999];
    for (int i = 0; i < 999; i++) keys[i] = i % 7;
    int64_t nv[7] = {0};
    int32_t so[8] = {0};
    uint8_t bb[1] = {0};
    weir_c_array **skids = calloc(3, sizeof *skids);
    skids[0] = mk_array(7, 0, 0, 3, NULL, so, NULL);
    skids[1] = mk_array(7, 0, 0, 2, NULL, bb, NULL);
    skids[2] = mk_array(7, 0, 0, 2, NULL, nv, NULL);
    weir_c_array *state = mk_batch(7, 3, skids);
    size_t pages = 0;
    for (int round = 0; round < 1200; round++) {
        if (round == 200) pages = __builtin_wasm_memory_size(0);
        if (open_op(1, "build_all", "", x_schema) == 0) {
            uint32_t h = ret[0];
            weir__export_map(h, b, ret);
            weir__export_map(h, b, ret);
            weir__export_close(h);
        }
        if (open_op(4, "state_str", "", ks) == 0) {
            uint32_t h = ret[0];
            weir__export_process(h, b, keys, state, ret);
            weir__export_close(h);
        }
        if (open_op(1, "misuse_type", "", x_schema) == 0) {
            uint32_t h = ret[0];
            weir__export_map(h, b, ret);
            weir__export_close(h);
        }
        plan_fn = plan_wordcount;
        weir__export_plan("", 0, ret);
    }
    CHECK(__builtin_wasm_memory_size(0) == pages, "memory grew from %zu to %zu pages", pages,
          (size_t)__builtin_wasm_memory_size(0));
    free_batch(b);
    free_batch(state);
    free_schema(ks);
}

int main(void) {
    tfield x[] = {{"x", "l"}};
    x_schema = mk_schema(1, x);
    test_parse();
    test_types();
    test_bits();
    test_flags();
    test_plans();
    test_open_errors();
    test_builders();
    test_call_failures();
    test_filters();
    test_process();
    test_aggregate();
    test_no_leaks();
    free_schema(x_schema);
    printf("weir_test: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
