/*
 * scale - the smallest useful Weir job in C: y = x * factor over a file of
 * JSON lines. sdk/c/README.md shows this file.
 *
 * Build: bash sdk/c/build.sh bin    (writes bin/examples/c/scale.wasm)
 * Try:   bin/weir try bin/examples/c/scale.wasm -- --input examples/c/scale/in.jsonl
 */
#define WEIR_IMPLEMENTATION
#include "weir.h"

/* What the batch function needs, kept with the operator. */
struct scale {
    int x;
    double factor;
};

/* scale_open checks the input schema and the params, declares the output
 * schema and keeps what scale_map needs. */
static weir_status scale_open(weir_op *op) {
    int x = weir_op_input(op, "x", WEIR_FLOAT64); /* `input has no column "x" ...` */
    if (x < 0) return WEIR_ERROR;
    struct scale *s = weir_op_data_new(op, sizeof *s); /* freed at close */
    if (!s) return WEIR_ERROR;
    s->x = x;
    if (!weir_parse_f64(weir_op_params(op), weir_op_params_len(op), &s->factor))
        return weir_errorf("factor \"%s\" is not a number", weir_op_params(op));
    weir_logf(WEIR_LOG_INFO, "scale: factor %g", s->factor);
    return weir_op_output(op, "y", WEIR_FLOAT64);
}

/* scale_map runs once per batch. */
static weir_status scale_map(weir_op *op, const weir_batch *in, weir_builder *out) {
    const struct scale *s = weir_op_data(op);
    const double *x = weir_f64(in, s->x);                   /* zero-copy view of the input */
    double *y = weir_out_f64_from(out, 0, &in->cols[s->x]); /* nulls pass through */
    if (!x || !y) return WEIR_ERROR;
    for (int64_t i = 0; i < in->rows; i++) y[i] = x[i] * s->factor;
    return WEIR_OK;
}

const weir_function weir_functions[] = {
    WEIR_MAP("scale", scale_open, scale_map),
    WEIR_END,
};

/* The plan: [--input FILE] [--output DIR] [--factor F]. */
weir_status weir_build_plan(weir_plan *p, int argc, const char *const *argv) {
    weir_flag flags[] = {
        {"input", "in.jsonl", "input file, JSON lines with x:float64"},
        {"output", "scale-out", "output directory (jsonl)"},
        {"factor", "0.908", "the factor"},
    };
    if (weir_parse_flags(flags, 3, argc, argv) < 0) return WEIR_ERROR;
    double f;
    if (!weir_parse_f64(flags[2].value, strlen(flags[2].value), &f))
        return weir_errorf("factor \"%s\" is not a number", flags[2].value); /* fail at plan time */
    weir_plan_name(p, "scale");
    weir_node *in = weir_source(p, "file", "path", flags[0].value, "format", "jsonl", "schema", "x:float64", NULL);
    weir_node *y = weir_map(in, "scale", flags[2].value);
    weir_sink(y, "file", "path", flags[1].value, "format", "jsonl", NULL);
    return WEIR_OK;
}
