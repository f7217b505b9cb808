/*
 * wide - a job for wide and deep graphs: a sequence source, a chain of
 * Wasm maps and a blackhole sink, with operator chaining off so that every
 * node is a job vertex of its own and every edge is forward. At parallelism
 * 256 and 10 vertices it is the dashboard's performance job: 2 560 subtasks,
 * 2 048 of them Wasm instances, which a C guest keeps small (a few hundred
 * KiB of linear memory each).
 *
 * Plan: source sequence (one key per source subtask unless --keys) ->
 *       map step (seq + 1) -> ... -> map step (seq + V-2) -> sink blackhole
 *
 *   weir run -p 256 bin/examples/c/wide.wasm -- --vertices 10 --rate 2560
 */
#define WEIR_IMPLEMENTATION
#include "weir.h"

#include <stdio.h>

/* step: key, seq -> key, seq + n, where n (the params) is the step's number. */
struct step {
    int seq;
    int64_t n;
};

static weir_status step_open(weir_op *op) {
    int seq = weir_op_input(op, "seq", WEIR_INT64);
    if (seq < 0) return WEIR_ERROR;
    int64_t n;
    if (!weir_parse_i64(weir_op_params(op), weir_op_params_len(op), &n))
        return weir_errorf("step: params \"%s\" must be the step's number", weir_op_params(op));
    struct step *s = weir_op_data_new(op, sizeof *s);
    if (!s) return WEIR_ERROR;
    s->seq = seq;
    s->n = n;
    return weir_op_output_input(op);
}

static weir_status step_map(weir_op *op, const weir_batch *in, weir_builder *out) {
    const struct step *s = weir_op_data(op);
    for (int j = 0; j < in->ncols; j++)
        if (j != s->seq && weir_copy_column(out, j, in, j)) return WEIR_ERROR;
    const int64_t *seq = weir_i64(in, s->seq);
    int64_t *next = weir_out_i64_from(out, s->seq, &in->cols[s->seq]); /* nulls pass through */
    if (!seq || !next) return WEIR_ERROR;
    for (int64_t i = 0; i < in->rows; i++) next[i] = seq[i] + s->n;
    return WEIR_OK;
}

const weir_function weir_functions[] = {
    WEIR_MAP("step", step_open, step_map),
    WEIR_END,
};

/* The plan: [--vertices V] [--keys K] [--rate R] [--count N]. */
weir_status weir_build_plan(weir_plan *p, int argc, const char *const *argv) {
    weir_flag flags[] = {
        {"vertices", "10", "job vertices: a source, vertices-2 maps and a sink (2..64)"},
        {"keys", "0", "distinct keys of the sequence (0: one per source subtask)"},
        {"rate", "100", "rows per second of the whole source (0: as fast as possible)"},
        {"count", "0", "rows per key (0: unbounded)"},
    };
    if (weir_parse_flags(flags, 4, argc, argv) < 0) return WEIR_ERROR;
    int64_t vertices, keys, count;
    double rate;
    if (!weir_parse_i64(flags[0].value, strlen(flags[0].value), &vertices) || vertices < 2 || vertices > 64)
        return weir_errorf("wide: --vertices \"%s\" is not a number in 2..64", flags[0].value);
    if (!weir_parse_i64(flags[1].value, strlen(flags[1].value), &keys) || keys < 0)
        return weir_errorf("wide: --keys \"%s\" is not a number >= 0", flags[1].value);
    if (!weir_parse_f64(flags[2].value, strlen(flags[2].value), &rate) || !(rate >= 0))
        return weir_errorf("wide: --rate \"%s\" is not a number >= 0", flags[2].value);
    if (!weir_parse_i64(flags[3].value, strlen(flags[3].value), &count) || count < 0)
        return weir_errorf("wide: --count \"%s\" is not a number >= 0", flags[3].value);

    weir_plan_name(p, "wide");
    /* Key groups above the default 128, so that the job runs at 256. */
    weir_plan_max_parallelism(p, 1024);
    weir_plan_config(p, "pipeline.operator-chaining", "false");

    /* One key per source subtask by default: the plan does not know the
     * parallelism, so take the largest the key groups allow and let the
     * sequence spread its keys (key k belongs to subtask k % p). */
    char keys_s[24], count_s[24], rate_s[32], step_s[24], id[24];
    snprintf(keys_s, sizeof keys_s, "%lld", (long long)(keys ? keys : 1024));
    snprintf(count_s, sizeof count_s, "%lld", (long long)count);
    snprintf(rate_s, sizeof rate_s, "%g", rate);
    weir_node *n;
    if (count == 0)
        n = rate > 0 ? weir_source(p, "sequence", "keys", keys_s, "unbounded", "true", "rate", rate_s, NULL)
                     : weir_source(p, "sequence", "keys", keys_s, "unbounded", "true", NULL);
    else
        n = rate > 0 ? weir_source(p, "sequence", "keys", keys_s, "count", count_s, "rate", rate_s, NULL)
                     : weir_source(p, "sequence", "keys", keys_s, "count", count_s, NULL);
    weir_set_id(n, "source");
    for (int64_t i = 1; i <= vertices - 2; i++) {
        snprintf(step_s, sizeof step_s, "%lld", (long long)i);
        snprintf(id, sizeof id, "step-%lld", (long long)i);
        n = weir_set_id(weir_map(n, "step", step_s), id);
    }
    weir_set_id(weir_sink(n, "blackhole", NULL), "sink");
    return WEIR_OK;
}
