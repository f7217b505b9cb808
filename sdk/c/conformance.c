/*
 * conformance.c - the C SDK's conformance module: it registers the functions
 * of abi/SPEC.md section 11.1 with the SDK's public API, so that the host's
 * harness can run the ABI test vectors (abi/testdata/vectors) against it,
 * behaving like the Go SDK's sdk/go/conformance/main.go.
 *
 * Build: bash sdk/c/build.sh bin    (writes bin/sdk/conformance-c.wasm)
 * Check: bin/weir abi check bin/sdk/conformance-c.wasm
 */
#define WEIR_IMPLEMENTATION
#include "weir.h"

#include <wasm_simd128.h>

/* identity: the input unchanged (every type, nulls, offsets). */
static weir_status identity_open(weir_op *op) { return weir_op_output_input(op); }

static weir_status identity_map(weir_op *op, const weir_batch *in, weir_builder *out) {
    (void)op;
    return weir_append_batch(out, in);
}

/* scale_f64: y = x * factor; null stays null. */
struct scale {
    int x;
    double factor;
};

static weir_status scale_open(weir_op *op) {
    int x = weir_op_input(op, "x", WEIR_FLOAT64);
    if (x < 0) return WEIR_ERROR;
    double factor;
    if (!weir_parse_f64(weir_op_params(op), weir_op_params_len(op), &factor))
        return weir_errorf("params: factor \"%s\" is not a number", weir_op_params(op));
    struct scale *s = weir_op_data_new(op, sizeof *s);
    if (!s) return WEIR_ERROR;
    s->x = x;
    s->factor = factor;
    return weir_op_output(op, "y", WEIR_FLOAT64);
}

/* scale multiplies n values; clang vectorises the loop (f64x2.mul). */
static void scale(double *restrict y, const double *restrict x, int64_t n, double f) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * f;
}

static weir_status scale_map(weir_op *op, const weir_batch *in, weir_builder *out) {
    const struct scale *s = weir_op_data(op);
    const double *x = weir_f64(in, s->x);
    double *y = weir_out_f64_from(out, 0, &in->cols[s->x]); /* nulls pass through */
    if (!x || !y) return WEIR_ERROR;
    scale(y, x, in->rows, s->factor);
    return WEIR_OK;
}

/* upper_utf8: ASCII a-z upper-cased; null stays null. */
static weir_status upper_open(weir_op *op) {
    int s = weir_op_input(op, "s", WEIR_UTF8);
    if (s < 0) return WEIR_ERROR;
    int *col = weir_op_data_new(op, sizeof *col);
    if (!col) return WEIR_ERROR;
    *col = s;
    return weir_op_output(op, "s", WEIR_UTF8);
}

/* upper_ascii upper-cases the ASCII letters of b in place; bytes >= 0x80
 * (parts of multi-byte characters) are left alone. Branch-free, so clang
 * vectorises it (i8x16 compares and selects). */
static void upper_ascii(uint8_t *b, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        uint8_t c = b[i];
        b[i] = (uint8_t)(c - ((uint8_t)(c - 'a') < 26 ? 0x20 : 0));
    }
}

static weir_status upper_map(weir_op *op, const weir_batch *in, weir_builder *out) {
    const int *col = weir_op_data(op);
    int64_t size = 0;
    /* copy offsets, validity and bytes, then upper-case the bytes in place:
     * the transformation preserves lengths */
    uint8_t *bytes = weir_copy_str_column(out, 0, &in->cols[*col], &size);
    if (!bytes) return WEIR_ERROR;
    upper_ascii(bytes, size);
    return WEIR_OK;
}

/* gt_i64: keeps rows with non-null x > threshold. */
struct greater {
    int x;
    int64_t threshold;
};

static weir_status greater_open(weir_op *op) {
    int x = weir_op_input(op, "x", WEIR_INT64);
    if (x < 0) return WEIR_ERROR;
    int64_t t;
    if (!weir_parse_i64(weir_op_params(op), weir_op_params_len(op), &t))
        return weir_errorf("params: threshold \"%s\" is not an integer", weir_op_params(op));
    struct greater *g = weir_op_data_new(op, sizeof *g);
    if (!g) return WEIR_ERROR;
    g->x = x;
    g->threshold = t;
    return WEIR_OK;
}

/* greater_bits sets bit i of bits iff x[i] > t, eight rows per byte: four
 * i64x2 compares whose lane masks i64x2.bitmask packs into two bits each
 * (clang does not find this on its own: it extracts lanes one by one). */
static void greater_bits(uint8_t *restrict bits, const int64_t *restrict x, int64_t n, int64_t t) {
    v128_t tv = wasm_i64x2_splat(t);
    int64_t full = n & ~(int64_t)7;
    for (int64_t i = 0; i < full; i += 8) {
        const int64_t *v = x + i;
        uint32_t m = wasm_i64x2_bitmask(wasm_i64x2_gt(wasm_v128_load(v), tv)) |
                     wasm_i64x2_bitmask(wasm_i64x2_gt(wasm_v128_load(v + 2), tv)) << 2 |
                     wasm_i64x2_bitmask(wasm_i64x2_gt(wasm_v128_load(v + 4), tv)) << 4 |
                     wasm_i64x2_bitmask(wasm_i64x2_gt(wasm_v128_load(v + 6), tv)) << 6;
        bits[i >> 3] = (uint8_t)m;
    }
    for (int64_t i = full; i < n; i++) bits[i >> 3] |= (uint8_t)((x[i] > t) << (i & 7));
}

static weir_status greater_filter(weir_op *op, const weir_batch *in, weir_selection *sel) {
    const struct greater *g = weir_op_data(op);
    const int64_t *x = weir_i64(in, g->x);
    uint8_t *bits = weir_sel_bits(sel);
    if (!x || !bits) return WEIR_ERROR;
    greater_bits(bits, x, in->rows, g->threshold);
    return weir_sel_mask(sel, &in->cols[g->x]); /* null x is never kept */
}

/* tokenize: per row, maximal runs of ASCII letters, lower-cased, in order;
 * null lines emit nothing. */
static weir_status tokenize_open(weir_op *op) {
    int line = weir_op_input(op, "line", WEIR_UTF8);
    if (line < 0) return WEIR_ERROR;
    int *col = weir_op_data_new(op, sizeof *col);
    if (!col) return WEIR_ERROR;
    *col = line;
    return weir_op_output(op, "word", WEIR_UTF8);
}

static inline int is_letter(uint8_t c) { return (uint8_t)((c | 0x20) - 'a') < 26; }

/* tokenize makes two branch-free passes over the bytes: one counts the
 * words and their letters, the other writes them straight into the output
 * buffers. */
static weir_status tokenize_map(weir_op *op, const weir_batch *in, weir_builder *out) {
    const weir_col *lines = &in->cols[*(const int *)weir_op_data(op)];
    int64_t nw = 0, nb = 0;
    for (int64_t r = 0; r < lines->len; r++) {
        if (!weir_is_valid(lines, r)) continue;
        weir_str s = weir_get_str(lines, r);
        int prev = 0;
        for (int32_t i = 0; i < s.len; i++) {
            int l = is_letter((uint8_t)s.ptr[i]);
            nw += l & ~prev;
            nb += l;
            prev = l;
        }
    }
    if (nw == 0) return WEIR_OK;
    int32_t *wo;
    uint8_t *wd;
    if (weir_extend_raw(out, 0, nw, nb, &wo, &wd)) return WEIR_ERROR;
    int32_t base = wo[0];
    int64_t k = 1, pos = 0;
    for (int64_t r = 0; r < lines->len; r++) {
        if (!weir_is_valid(lines, r)) continue;
        weir_str s = weir_get_str(lines, r);
        /* trim trailing non-letters, so that a letter always follows inside
         * the loop: pos stays < nb and k <= nw */
        while (s.len > 0 && !is_letter((uint8_t)s.ptr[s.len - 1])) s.len--;
        if (s.len == 0) continue;
        int prev = 0;
        for (int32_t i = 0; i < s.len; i++) {
            uint8_t c = (uint8_t)s.ptr[i];
            int l = is_letter(c);
            wd[pos] = (uint8_t)(c | 0x20); /* overwritten by the next letter unless c is one */
            pos += l;
            wo[k] = base + (int32_t)pos; /* final once the word ends */
            k += prev & ~l;
            prev = l;
        }
        wo[k] = base + (int32_t)pos;
        k++;
    }
    return WEIR_OK;
}

/* count: per input row, the key and the key's count including that row. */
static weir_status count_open(weir_op *op) {
    int key = weir_op_input(op, "key", WEIR_INT64);
    if (key < 0) return WEIR_ERROR;
    int *col = weir_op_data_new(op, sizeof *col);
    if (!col) return WEIR_ERROR;
    *col = key;
    if (weir_op_output(op, "key", WEIR_INT64) || weir_op_output(op, "count", WEIR_INT64)) return WEIR_ERROR;
    return weir_op_state(op, "count", WEIR_INT64);
}

static weir_status count_process(weir_op *op, const weir_batch *in, const int32_t *keys, weir_table *state,
                                 weir_builder *out) {
    int64_t *counts = weir_table_i64(state, 0);
    if (!counts || weir_copy_column(out, 0, in, *(const int *)weir_op_data(op))) return WEIR_ERROR;
    int64_t *cs = weir_out_i64(out, 1, in->rows);
    if (!cs) return WEIR_ERROR;
    for (int64_t i = 0; i < in->rows; i++) cs[i] = ++counts[keys[i]];
    return WEIR_OK;
}

/* sum_i64: accumulator (sum, n) over non-null x; result sum, null when n = 0.
 * Sums wrap (two's complement): they are computed in uint64_t. */
static weir_status sum_open(weir_op *op) {
    int x = weir_op_input(op, "x", WEIR_INT64);
    if (x < 0) return WEIR_ERROR;
    int *col = weir_op_data_new(op, sizeof *col);
    if (!col) return WEIR_ERROR;
    *col = x;
    if (weir_op_state(op, "sum", WEIR_INT64) || weir_op_state(op, "n", WEIR_INT64)) return WEIR_ERROR;
    return weir_op_output(op, "sum", WEIR_INT64);
}

/* add_all adds x[i] into group groups[i]. */
static void add_all(uint64_t *sums, int64_t *ns, const int64_t *x, const int32_t *groups, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        sums[groups[i]] += (uint64_t)x[i];
        ns[groups[i]]++;
    }
}

static weir_status sum_add(weir_op *op, weir_table *acc, const weir_batch *in, const int32_t *groups) {
    const weir_col *c = &in->cols[*(const int *)weir_op_data(op)];
    const int64_t *x = weir_i64(in, *(const int *)weir_op_data(op));
    uint64_t *sums = (uint64_t *)weir_table_i64(acc, 0);
    int64_t *ns = weir_table_i64(acc, 1);
    if (!x || !sums || !ns) return WEIR_ERROR;
    int64_t n = in->rows, nulls = weir_null_count(c);
    if (nulls * 16 <= n) {
        /* few nulls: add every row, then take back the null ones, found a
         * byte of the validity bitmap at a time; cheaper than masking every
         * row */
        add_all(sums, ns, x, groups, n);
        if (nulls == 0) return WEIR_OK;
        for (int64_t b = 0; b * 8 < c->bit_off + n; b++) {
            if (c->validity[b] == 0xFF) continue;
            for (int k = 0; k < 8; k++) {
                int64_t i = b * 8 + k - c->bit_off;
                if (i >= 0 && i < n && !((c->validity[b] >> k) & 1)) {
                    sums[groups[i]] -= (uint64_t)x[i];
                    ns[groups[i]]--;
                }
            }
        }
        return WEIR_OK;
    }
    for (int64_t i = 0; i < n; i++) {
        uint64_t m = (uint64_t)weir_is_valid(c, i); /* 0 for nulls */
        sums[groups[i]] += (uint64_t)x[i] & (0 - m);
        ns[groups[i]] += (int64_t)m;
    }
    return WEIR_OK;
}

static weir_status sum_merge(weir_op *op, weir_table *acc, weir_table *other, const int32_t *groups) {
    (void)op;
    uint64_t *sums = (uint64_t *)weir_table_i64(acc, 0);
    int64_t *ns = weir_table_i64(acc, 1);
    const uint64_t *osums = (const uint64_t *)weir_table_i64(other, 0);
    const int64_t *ons = weir_table_i64(other, 1);
    if (!sums || !ns || !osums || !ons) return WEIR_ERROR;
    for (int64_t i = 0; i < weir_table_rows(other); i++) {
        sums[groups[i]] += osums[i];
        ns[groups[i]] += ons[i];
    }
    return WEIR_OK;
}

static weir_status sum_result(weir_op *op, weir_table *acc, weir_builder *out) {
    (void)op;
    const int64_t *sums = weir_table_i64(acc, 0), *ns = weir_table_i64(acc, 1);
    int64_t n = weir_table_rows(acc);
    int64_t *vs = weir_out_i64(out, 0, n);
    if (!sums || !ns || !vs) return WEIR_ERROR;
    for (int64_t k = 0; k < n; k++) {
        vs[k] = sums[k];
        if (ns[k] == 0 && weir_set_null(out, 0, k)) return WEIR_ERROR;
    }
    return WEIR_OK;
}

/* fail: fails every call (empty batches too) with exactly the params text. */
static weir_status fail_open(weir_op *op) { return weir_op_output_input(op); }

static weir_status fail_map(weir_op *op, const weir_batch *in, weir_builder *out) {
    (void)in;
    (void)out;
    return weir_error(weir_op_params(op), weir_op_params_len(op));
}

const weir_function weir_functions[] = {
    WEIR_MAP("identity", identity_open, identity_map),
    WEIR_MAP("scale_f64", scale_open, scale_map),
    WEIR_MAP("upper_utf8", upper_open, upper_map),
    WEIR_FILTER("gt_i64", greater_open, greater_filter),
    WEIR_FLATMAP("tokenize", tokenize_open, tokenize_map),
    WEIR_PROCESS("count", count_open, count_process),
    WEIR_AGGREGATE("sum_i64", sum_open, NULL, sum_add, sum_merge, sum_result),
    WEIR_MAP("fail", fail_open, fail_map),
    WEIR_END,
};

/* The plan: identity over a file, to give the module a valid plan.
 * Arguments: [--input FILE] [--output DIR]. */
weir_status weir_build_plan(weir_plan *p, int argc, const char *const *argv) {
    weir_flag flags[] = {
        {"input", "in.jsonl", "input file (jsonl)"},
        {"output", "out", "output directory"},
    };
    if (weir_parse_flags(flags, 2, argc, argv) < 0) return WEIR_ERROR;
    weir_plan_name(p, "conformance");
    weir_node *src = weir_source(p, "file", "path", flags[0].value, "format", "jsonl", "schema", "x:int64", NULL);
    weir_node *id = weir_map(src, "identity", NULL);
    weir_sink(id, "file", "path", flags[1].value, "format", "jsonl", NULL);
    return WEIR_OK;
}
