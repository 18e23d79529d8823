/*
 * memplan.c: static memory planning.
 *
 * Requires: a verified graph in its final order, fusion groups contiguous
 * (pass_fuse, or none). Produces: a MemPlan, the byte offset of every value
 * in one arena that the caller allocates once; the graph is not changed.
 *
 * Time is the position in the kernel schedule: a group runs at its last
 * member, so every member and every reader of a member in the group shares
 * that time. A value lives from the kernel that writes it to the last kernel
 * that reads it (the end of the function for the loss). Which values need
 * memory at all: not the step's inputs (the caller's), not a group's
 * internal values (locals of the kernel), not rank-0 constants written as
 * literals.
 *
 * Sharing, before offsets are chosen:
 *   - a reshape is a view: it reads its input's buffer, no copy;
 *   - an optimizer's new value is written straight into the parameter or
 *     state it replaces (ASSIGN), when nothing reads the old value later and
 *     the writing kernel reads it only element by element;
 *   - an elementwise kernel (or epilogue) whose input dies at that kernel
 *     writes its output over that input (in place). The code generator then
 *     passes the buffer once, so restrict stays true.
 * Layout: parameters and optimizer state first, in graph order, then the
 * gradients (both persist across steps: a checkpoint reads the first, the
 * caller may read the second), then the transient region. That is packed four
 * ways (largest or earliest buffer first; each at the lowest free offset or in
 * the smallest gap that holds it, free meaning that no placed buffer of
 * overlapping lifetime is there) and the smallest packing is kept. Offsets
 * are 64-byte aligned, ready for SIMD loads.
 */
#include "passes.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN 64

static int64_t aligned(int64_t b) { return (b + ALIGN - 1) / ALIGN * ALIGN; }

/* The graph being planned and what every phase below reads and writes (one plan at a time). */
static const Graph *G;
static int N;               /* G->nnode */
static MemPlan *P;          /* the plan being made */
static int *gfirst, *glast; /* first and last member of each node's group (itself when alone) */
static int *stor;           /* storage (union-find over nodes sharing a buffer) */
static int **users, *nusers;
static bool *buf;           /* per node: needs memory of its own or a storage's */
static int *sfirst, *slast; /* per storage: its lifetime, the union of what it holds */
static int *scount;         /* per storage: how many values it holds */
static bool *persist;       /* per storage: in the persistent region (parameters, state, gradients) */
static int64_t *soff;       /* per storage: its offset */

static int find(int i) {
    while (stor[i] != i)
        i = stor[i] = stor[stor[i]];
    return i;
}

static int64_t bytes(const Node *n) { return shape_numel(n->shape) * dtype_size(n->dtype); }

static bool same_group(int a, int b) { return gfirst[a] == gfirst[b]; }

/*
 * May the kernel of node v's group overwrite x's buffer with its own output (element i of the
 * output replacing element i of x)? Only if every read of x in the kernel is element i itself,
 * done before the store of element i: elementwise members reading x at the loop's shape, or the
 * gather form of max_pool2d_bwd reading its input window by window.
 */
static bool inplace_ok(int v, int x) {
    const Node *xn = &G->nodes[x];
    int head = -1;
    for (int m = gfirst[v]; m <= glast[v]; m++) {
        Epilogue h = kernel_epilogue(&G->nodes[m]);
        if (h == EPI_SCATTER)
            return false;
        if (h == EPI_STORE)
            head = m;
        if (G->nodes[m].op == OP_CROSS_ENTROPY || G->nodes[m].op == OP_CROSS_ENTROPY_BWD)
            return false;
    }
    if (head < 0 && !kernel_elementwise(&G->nodes[v]))
        return false;
    for (int m = gfirst[v]; m <= glast[v]; m++) {
        const Node *n = &G->nodes[m];
        for (int k = 0; k < n->nin; k++) {
            if (n->in[k] != x)
                continue;
            if (m == head) {
                if (!(n->op == OP_MAXPOOL2D_BWD && k == 0 && shape_eq(n->shape, xn->shape)))
                    return false;
            } else if (!kernel_elementwise(n) || !shape_eq(n->shape, xn->shape))
                return false;
        }
    }
    return true;
}

/* Orders storages: by_time = 0, largest first (ties: earlier first); 1, earliest first (ties:
 * largest first); the last tie broken by node id, so the order is total and the plan the same on
 * every machine. */
static const Graph *sort_g;
static const int *sort_first;
static int sort_by_time;

static int storage_order(const void *pa, const void *pb) {
    int x = *(const int *)pa, y = *(const int *)pb;
    int64_t bx = bytes(&sort_g->nodes[x]), by = bytes(&sort_g->nodes[y]);
    int fx = sort_first[x], fy = sort_first[y];
    if (sort_by_time && fx != fy)
        return fx < fy ? -1 : 1;
    if (bx != by)
        return bx > by ? -1 : 1;
    if (fx != fy)
        return fx < fy ? -1 : 1;
    return (x > y) - (x < y);
}

static void sort_storages(int *tl, int nt, const Graph *g, const int *sfirst, int by_time) {
    sort_g = g;
    sort_first = sfirst;
    sort_by_time = by_time;
    qsort(tl, (size_t)nt, sizeof *tl, storage_order);
}

/* Where a storage of size bytes goes among busy[0..nb) (those alive at the same time, by offset):
 * the lowest offset from base where it fits (first fit), or the smallest gap that holds it
 * (best fit; past the last one when no gap does). */
static int64_t fit(const int *busy, int nb, const Graph *g, int64_t size, int64_t base, bool bestfit,
                   const int64_t *off) {
    int64_t at = -1, gap_best = -1, cur = base;
    for (int k = 0; k <= nb; k++) {
        int64_t next = k < nb ? off[busy[k]] : INT64_MAX;
        if (next - cur >= size) {
            if (!bestfit)
                return cur;
            if (k < nb && (gap_best < 0 || next - cur < gap_best)) {
                gap_best = next - cur;
                at = cur;
            }
            if (k == nb && at < 0)
                at = cur;
        }
        if (k < nb && off[busy[k]] + aligned(bytes(&g->nodes[busy[k]])) > cur)
            cur = off[busy[k]] + aligned(bytes(&g->nodes[busy[k]]));
    }
    return at;
}

/*
 * Places storages in the given order, each where no placed storage of overlapping lifetime lies
 * (fit). Returns the end of the region.
 */
static int64_t place(const int *tl, int nt, const Graph *g, const int *sfirst, const int *slast, int64_t base,
                     bool bestfit, int64_t *off) {
    int64_t end = base;
    int *busy = ir_alloc(sizeof(int) * (size_t)(nt + 1));
    for (int a = 0; a < nt; a++) {
        int x = tl[a], nb = 0;
        int64_t size = aligned(bytes(&g->nodes[x]));
        for (int q = 0; q < a; q++) { /* placed and alive at the same time, by offset */
            int y = tl[q];
            if (!(sfirst[x] <= slast[y] && sfirst[y] <= slast[x]))
                continue;
            int k = nb++;
            while (k > 0 && off[busy[k - 1]] > off[y]) {
                busy[k] = busy[k - 1];
                k--;
            }
            busy[k] = y;
        }
        off[x] = fit(busy, nb, g, size, base, bestfit, off);
        if (off[x] + size > end)
            end = off[x] + size;
    }
    return end;
}

/*
 * place() for storages in order of their first use: then the placed storages a new one overlaps
 * in time are exactly those still alive, kept in a list by offset, so a long program is planned
 * in time linear in its values (times how many are alive at once). The same offsets as place().
 */
static int64_t place_by_time(const int *tl, int nt, const Graph *g, const int *sfirst, const int *slast, int64_t base,
                             bool bestfit, int64_t *off) {
    int64_t end = base;
    int *alive = ir_alloc(sizeof(int) * (size_t)(nt + 1)), nalive = 0;
    for (int a = 0; a < nt; a++) {
        int x = tl[a], kept = 0;
        int64_t size = aligned(bytes(&g->nodes[x]));
        for (int k = 0; k < nalive; k++) /* those that died before x begins make room */
            if (slast[alive[k]] >= sfirst[x])
                alive[kept++] = alive[k];
        nalive = kept;
        int64_t at = fit(alive, nalive, g, size, base, bestfit, off);
        off[x] = at;
        if (at + size > end)
            end = at + size;
        int k = nalive++; /* by offset; after those at the same offset, as place() keeps them */
        while (k > 0 && off[alive[k - 1]] > at) {
            alive[k] = alive[k - 1];
            k--;
        }
        alive[k] = x;
    }
    return end;
}

/* Groups' spans and every node's readers. */
static void index_graph(void) {
    gfirst = ir_alloc(sizeof(int) * (size_t)(N + 1));
    glast = ir_alloc(sizeof(int) * (size_t)(N + 1));
    stor = ir_alloc(sizeof(int) * (size_t)(N + 1));
    nusers = ir_alloc(sizeof(int) * (size_t)(N + 1));
    users = ir_alloc(sizeof(int *) * (size_t)(N + 1));
    for (int i = 0; i < N; i++) {
        const Node *n = &G->nodes[i];
        gfirst[i] = n->group && i > 0 && G->nodes[i - 1].group == n->group ? gfirst[i - 1] : i;
        for (int k = 0; k < n->nin; k++)
            nusers[n->in[k]]++;
    }
    for (int i = N - 1; i >= 0; i--)
        glast[i] = G->nodes[i].group && i + 1 < N && G->nodes[i + 1].group == G->nodes[i].group ? glast[i + 1] : i;
    for (int i = 0; i < N; i++) {
        users[i] = ir_alloc(sizeof(int) * (size_t)(nusers[i] + 1));
        nusers[i] = 0;
    }
    for (int i = 0; i < N; i++)
        for (int k = 0; k < G->nodes[i].nin; k++)
            users[G->nodes[i].in[k]][nusers[G->nodes[i].in[k]]++] = i;
}

/* Which values need a buffer: not inputs or effects, not a group's internal values, not scalars
 * every reader writes as a literal. */
static void find_buffers(void) {
    buf = ir_alloc((size_t)N + 1);
    for (int i = 0; i < N; i++) {
        const Node *n = &G->nodes[i];
        if (n->op == OP_INPUT || op_info[n->op].kind == K_EFFECT)
            continue;
        if (n->op == OP_PARAM || (n->flags & (NF_OUTPUT | NF_GRAD))) {
            buf[i] = true;
            continue;
        }
        bool any = false, outside = false;
        for (int u = 0; u < nusers[i]; u++) {
            const Node *r = &G->nodes[users[i][u]];
            if (kernel_inline_scalar(r, n))
                continue;
            any = true;
            outside |= !same_group(i, r->id);
        }
        if (n->group && glast[i] != gfirst[i]) {
            /* a scatter kernel adds into its output before its epilogue reads it back */
            buf[i] = outside || (kernel_epilogue(n) == EPI_SCATTER);
        } else
            buf[i] = any || nusers[i] == 0;
    }
}

/* Every node's lifetime: from its kernel to its last reader's (the end, for an output). Each node
 * starts as a storage of its own. */
static void lifetimes(void) {
    for (int i = 0; i < N; i++) {
        stor[i] = i;
        P->first[i] = glast[i];
        P->last[i] = glast[i];
        for (int u = 0; u < nusers[i]; u++)
            if (glast[users[i][u]] > P->last[i])
                P->last[i] = glast[users[i][u]];
        if (G->nodes[i].flags & NF_OUTPUT)
            P->last[i] = N; /* read when the function returns */
    }
}

/* Views: a reshape reads its input's buffer (not a parameter's: a parameter may be written). */
static void share_views(void) {
    for (int i = 0; i < N; i++) {
        const Node *n = &G->nodes[i];
        if (n->op == OP_RESHAPE && buf[i] && buf[n->in[0]] && !n->group && G->nodes[n->in[0]].op != OP_PARAM &&
            !(n->flags & (NF_OUTPUT | NF_GRAD))) {
            stor[i] = find(n->in[0]);
            P->view[i] = true;
        }
    }
}

/* A storage's lifetime spans everything it holds; parameters and gradients persist. */
static void storage_spans(void) {
    sfirst = ir_alloc(sizeof(int) * (size_t)(N + 1));
    slast = ir_alloc(sizeof(int) * (size_t)(N + 1));
    scount = ir_alloc(sizeof(int) * (size_t)(N + 1));
    for (int i = 0; i < N; i++) {
        sfirst[i] = N + 1;
        slast[i] = -1;
    }
    for (int i = 0; i < N; i++) {
        if (!buf[i])
            continue;
        int s = find(i);
        scount[s]++;
        if (P->first[i] < sfirst[s])
            sfirst[s] = P->first[i];
        if (P->last[i] > slast[s])
            slast[s] = P->last[i];
    }
    persist = ir_alloc((size_t)N + 1);
    for (int i = 0; i < N; i++)
        if (buf[i] && (G->nodes[i].op == OP_PARAM || (G->nodes[i].flags & NF_GRAD)))
            persist[find(i)] = true;
}

/* The optimizer's new values straight into the parameters and state they replace (ASSIGN). */
static void assign_in_place(void) {
    for (int a = 0; a < N; a++) {
        const Node *as = &G->nodes[a];
        if (as->op != OP_ASSIGN)
            continue;
        int dst = as->in[0], v = as->in[1];
        const Node *vn = &G->nodes[v];
        if (!buf[v] || find(v) != v || scount[v] != 1 || persist[v] || op_info[vn->op].kind == K_SRC ||
            op_info[vn->op].kind == K_MOVE || (vn->flags & (NF_OUTPUT | NF_GRAD)) ||
            G->nodes[dst].op != OP_PARAM || find(dst) != dst || scount[dst] != 1 || bytes(vn) != bytes(&G->nodes[dst]))
            continue;
        bool ok = true;
        for (int u = 0; u < nusers[dst] && ok; u++) {
            int r = users[dst][u];
            if (r == a || G->nodes[r].op == OP_ASSIGN)
                continue;
            ok = same_group(r, v) ? inplace_ok(v, dst) : glast[r] < glast[v];
        }
        if (!ok)
            continue;
        stor[v] = dst;
        scount[dst]++;
    }
}

/* Could v's kernel write its output over the buffer of input x, which dies there? Returns x's
 * storage, or -1. */
static int dying_input(int v, int x) {
    if (same_group(x, v) || !buf[x])
        return -1;
    int s = find(x);
    if (persist[s] || slast[s] != glast[v] || s == v || G->nodes[s].op == OP_INPUT ||
        aligned(bytes(&G->nodes[s])) != aligned(bytes(&G->nodes[v])) || bytes(&G->nodes[x]) != bytes(&G->nodes[v]) ||
        !inplace_ok(v, x))
        return -1;
    for (int o = gfirst[v]; o < v; o++) /* one output per dying buffer */
        if (buf[o] && find(o) == s)
            return -1;
    return s;
}

/* In place: an output over an input that dies at its kernel. */
static void outputs_in_place(void) {
    for (int v = 0; v < N; v++) {
        if (!buf[v] || find(v) != v || persist[v] || P->view[v] || scount[v] != 1 || G->nodes[v].op == OP_PARAM ||
            op_info[G->nodes[v].op].kind == K_SRC)
            continue;
        int s = -1;
        for (int m = gfirst[v]; m <= glast[v] && s < 0; m++)
            for (int k = 0; k < G->nodes[m].nin && s < 0; k++)
                s = dying_input(v, G->nodes[m].in[k]);
        if (s < 0)
            continue;
        stor[v] = s;
        P->inplace[v] = true;
        if (slast[v] > slast[s])
            slast[s] = slast[v];
    }
}

/* Offsets of the persistent region: parameters and state in graph order, then gradients. With a
 * shared plan (predict beside the step), parameters sit where the step keeps them. */
static void place_persistent(const Graph *shared_g, const MemPlan *shared) {
    soff = ir_alloc(sizeof(int64_t) * (size_t)(N + 1));
    for (int i = 0; i < N; i++)
        soff[i] = -1;
    int64_t top = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < N; i++) {
            const Node *n = &G->nodes[i];
            if (!buf[i] || find(i) != i || !persist[i] || (pass == 0) != (n->op == OP_PARAM))
                continue;
            if (shared && n->op == OP_PARAM) {
                for (int j = 0; j < shared_g->nnode && soff[i] < 0; j++)
                    if (shared_g->nodes[j].op == OP_PARAM && shared_g->nodes[j].name && n->name &&
                        !strcmp(shared_g->nodes[j].name, n->name))
                        soff[i] = shared->off[j];
                if (soff[i] < 0)
                    die("memplan: parameter %s is not in the shared plan", n->name);
                continue;
            }
            soff[i] = top;
            top += aligned(bytes(n));
        }
        if (pass == 0)
            P->params = shared ? shared->params : top;
    }
    P->persistent = shared ? shared->persistent : top;
}

/* Offsets of the transient region, after the persistent one: one after another without reuse,
 * else the smallest of four packings. */
static void place_transient(bool reuse) {
    int64_t base = P->persistent;
    int *tl = ir_alloc(sizeof(int) * (size_t)(N + 1)), nt = 0;
    for (int i = 0; i < N; i++) {
        if (!buf[i] || persist[find(i)])
            continue;
        if (!P->view[i])
            P->plain += aligned(bytes(&G->nodes[i]));
        if (find(i) == i)
            tl[nt++] = i;
    }
    int64_t end = base;
    if (!reuse) {
        for (int t = 0; t < nt; t++) {
            soff[tl[t]] = end;
            end += aligned(bytes(&G->nodes[tl[t]]));
        }
    } else {
        /* four orders and fits, the best kept: no one heuristic wins everywhere, and all four are
         * cheap and deterministic */
        int64_t *best = ir_alloc(sizeof(int64_t) * (size_t)(N + 1)), *try = ir_alloc(sizeof(int64_t) * (size_t)(N + 1));
        int64_t best_end = -1;
        for (int variant = 0; variant < 4; variant++) {
            /* largest first costs time quadratic in the values: past 4,096 of them (a long
             * program), only the orders by time are tried */
            if (variant < 2 && nt > 4096)
                continue;
            sort_storages(tl, nt, G, sfirst, variant / 2);
            int64_t e = variant / 2 ? place_by_time(tl, nt, G, sfirst, slast, base, variant % 2, try)
                                    : place(tl, nt, G, sfirst, slast, base, variant % 2, try);
            if (best_end < 0 || e < best_end) {
                best_end = e;
                memcpy(best, try, sizeof(int64_t) * (size_t)N);
            }
        }
        for (int t = 0; t < nt; t++)
            soff[tl[t]] = best[tl[t]];
        end = best_end > base ? best_end : base;
    }
    P->transient = end - base;
    P->total = end;
}

MemPlan *pass_memplan(Graph *g, bool reuse, const Graph *shared_g, const MemPlan *shared) {
    G = g;
    N = g->nnode;
    P = ir_alloc(sizeof *P);
    P->off = ir_alloc(sizeof(int64_t) * (size_t)(N + 1));
    P->first = ir_alloc(sizeof(int) * (size_t)(N + 1));
    P->last = ir_alloc(sizeof(int) * (size_t)(N + 1));
    P->view = ir_alloc((size_t)N + 1);
    P->inplace = ir_alloc((size_t)N + 1);
    index_graph();
    find_buffers();
    lifetimes();
    if (reuse)
        share_views();
    storage_spans();
    if (reuse) {
        assign_in_place();
        outputs_in_place();
    }
    place_persistent(shared_g, shared);
    place_transient(reuse);
    for (int i = 0; i < N; i++)
        P->off[i] = buf[i] ? soff[find(i)] : -1;
    return P;
}

Graph *memplan_layout(Graph **segs, int nsegs, const char *name) {
    Graph *l = ir_new_graph(name);
    for (int k = 0; k < nsegs; k++)
        for (int i = 0; i < segs[k]->nnode; i++) {
            const Node *n = &segs[k]->nodes[i];
            if (n->op != OP_PARAM)
                continue;
            int j = 0;
            while (j < l->nnode && strcmp(l->nodes[j].name, n->name))
                j++;
            if (j < l->nnode) {
                if (l->nodes[j].dtype != n->dtype || !shape_eq(l->nodes[j].shape, n->shape))
                    die("memplan: slot %s is %s in an earlier segment and %s in %s (node %d)", n->name,
                        type_str(l->nodes[j].dtype, l->nodes[j].shape), type_str(n->dtype, n->shape),
                        segs[k]->name, i);
                continue;
            }
            Attr a = attr_str("init", "slot");
            int id = ir_add_typed(l, OP_PARAM, NULL, 0, n->dtype, n->shape, &a, 1, n->loc);
            l->nodes[id].name = n->name;
            l->nodes[id].flags = NF_PARAM;
        }
    return l;
}
