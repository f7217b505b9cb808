/*
 * currency - a Weir job module in C running Nexmark queries 1 and 2 over a
 * file of bids: prices converted from dollars to euros (to_eur), then only
 * the bids on a few auctions kept (auction_filter). The same plan, arguments
 * and output as the Go example examples/currency.
 *
 * Build: bash sdk/c/build.sh bin    (writes bin/examples/c/currency.wasm)
 * Try:   bin/weir try bin/examples/c/currency.wasm -- --input examples/currency/bids.jsonl
 */
#define WEIR_IMPLEMENTATION
#include "weir.h"

#include <stdlib.h>

/* The USD->EUR rate of Nexmark query 1 and the auctions of query 2. */
#define DEFAULT_RATE 0.908
#define DEFAULT_AUCTIONS "1007,1020,2001,2019,2087"

/* The bids file: JSON lines, date_time in milliseconds since the epoch. */
#define BID_SCHEMA "auction:int64,bidder:int64,price:float64,date_time:timestamp[ms]"

/* parse_rate parses a conversion rate, DEFAULT_RATE if s is empty. */
static weir_status parse_rate(const char *s, double *rate) {
    size_t n = strlen(s);
    size_t i = 0;
    while (i < n && s[i] == ' ') i++;
    if (i == n) {
        *rate = DEFAULT_RATE;
        return WEIR_OK;
    }
    if (!weir_parse_f64(s, n, rate) || !(*rate > 0)) return weir_errorf("rate \"%s\" is not a positive number", s);
    return WEIR_OK;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* max_ids bounds the number of ids in s: each takes a digit and a comma. */
static size_t max_ids(const char *s) { return strlen(s) / 2 + 1; }

/* parse_ids parses comma-separated integers ("1007, 1020") into ids, which
 * has room for max_ids(s), sorted and without duplicates; *n gets their
 * count. */
static weir_status parse_ids(const char *s, int64_t *ids, int *n) {
    int k = 0;
    for (const char *f = s;;) {
        const char *end = strchr(f, ',');
        size_t fl = end ? (size_t)(end - f) : strlen(f);
        size_t i = 0;
        while (i < fl && f[i] == ' ') i++;
        if (i < fl) {
            if (!weir_parse_i64(f, fl, &ids[k]))
                return weir_errorf("auction id \"%.*s\" is not an integer", (int)(fl - i), f + i);
            k++;
        }
        if (!end) break;
        f = end + 1;
    }
    if (k == 0) return weir_errorf("no auction ids in \"%s\"", s);
    qsort(ids, (size_t)k, sizeof ids[0], cmp_i64);
    int u = 1;
    for (int i = 1; i < k; i++)
        if (ids[i] != ids[u - 1]) ids[u++] = ids[i];
    *n = u;
    return WEIR_OK;
}

static bool has(const int64_t *ids, int n, int64_t id) {
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (ids[mid] < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && ids[lo] == id;
}

/* to_eur: price * rate (params: the rate, default 0.908); every other column
 * is copied unchanged, nulls stay null. */
struct to_eur {
    int price;
    double rate;
};

static weir_status to_eur_open(weir_op *op) {
    int price = weir_op_input(op, "price", WEIR_FLOAT64);
    if (price < 0) return WEIR_ERROR;
    double rate;
    if (parse_rate(weir_op_params(op), &rate)) return WEIR_ERROR;
    struct to_eur *t = weir_op_data_new(op, sizeof *t);
    if (!t) return WEIR_ERROR;
    t->price = price;
    t->rate = rate;
    return weir_op_output_input(op);
}

static weir_status to_eur_map(weir_op *op, const weir_batch *in, weir_builder *out) {
    const struct to_eur *t = weir_op_data(op);
    for (int j = 0; j < in->ncols; j++)
        if (j != t->price && weir_copy_column(out, j, in, j)) return WEIR_ERROR;
    const double *usd = weir_f64(in, t->price);
    double *eur = weir_out_f64_from(out, t->price, &in->cols[t->price]);
    if (!usd || !eur) return WEIR_ERROR;
    for (int64_t i = 0; i < in->rows; i++) eur[i] = usd[i] * t->rate;
    return WEIR_OK;
}

/* auction_filter: keeps the rows whose auction id is one of the params
 * (comma-separated ids); rows with a null auction are dropped. */
struct auction_filter {
    int auction;
    int n;
    int64_t ids[];
};

static weir_status auction_filter_open(weir_op *op) {
    int auction = weir_op_input(op, "auction", WEIR_INT64);
    if (auction < 0) return WEIR_ERROR;
    const char *params = weir_op_params(op);
    struct auction_filter *f = weir_op_data_new(op, sizeof *f + max_ids(params) * sizeof(int64_t));
    if (!f) return WEIR_ERROR;
    f->auction = auction;
    return parse_ids(params, f->ids, &f->n);
}

static weir_status auction_filter(weir_op *op, const weir_batch *in, weir_selection *sel) {
    const struct auction_filter *f = weir_op_data(op);
    const int64_t *a = weir_i64(in, f->auction);
    uint8_t *bits = weir_sel_bits(sel);
    if (!a || !bits) return WEIR_ERROR;
    for (int64_t i = 0; i < in->rows; i++)
        if (has(f->ids, f->n, a[i])) bits[i >> 3] |= (uint8_t)(1u << (i & 7));
    return weir_sel_mask(sel, &in->cols[f->auction]);
}

const weir_function weir_functions[] = {
    WEIR_MAP("to_eur", to_eur_open, to_eur_map),
    WEIR_FILTER("auction_filter", auction_filter_open, auction_filter),
    WEIR_END,
};

/* The plan: [--input FILE] [--output DIR] [--rate R] [--auctions IDS]. */
weir_status weir_build_plan(weir_plan *p, int argc, const char *const *argv) {
    weir_flag flags[] = {
        {"input", "bids.jsonl", "bids file, JSON lines with " BID_SCHEMA},
        {"output", "currency-out", "directory to write the converted bids to (jsonl)"},
        {"rate", "", "USD->EUR rate (default 0.908)"},
        {"auctions", DEFAULT_AUCTIONS, "comma-separated auction ids to keep"},
    };
    if (weir_parse_flags(flags, 4, argc, argv) < 0) return WEIR_ERROR;
    const char *input = flags[0].value, *output = flags[1].value, *rate = flags[2].value,
               *auctions = flags[3].value;
    /* check the params here too, so a bad flag fails at plan time */
    double r;
    if (parse_rate(rate, &r)) return WEIR_ERROR;
    int64_t *ids = malloc(max_ids(auctions) * sizeof(int64_t));
    int n;
    if (!ids) return weir_errorf("out of memory");
    weir_status st = parse_ids(auctions, ids, &n);
    free(ids);
    if (st) return WEIR_ERROR;

    weir_plan_name(p, "currency");
    weir_node *bids = weir_source(p, "file", "path", input, "format", "jsonl", "schema", BID_SCHEMA, NULL);
    weir_node *eur = weir_map(bids, "to_eur", rate);
    weir_node *kept = weir_filter(eur, "auction_filter", auctions);
    weir_node *out = weir_sink(kept, "file", "path", output, "format", "jsonl", NULL);
    weir_set_id(bids, "bids");
    weir_set_name(weir_set_id(eur, "eur"), "Nexmark q1: dollars to euros");
    weir_set_name(weir_set_id(kept, "auctions"), "Nexmark q2: selected auctions");
    weir_set_id(out, "out");
    return WEIR_OK;
}
