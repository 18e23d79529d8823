/*
 * fuse.c: kernel fusion.
 *
 * Requires: a verified graph (after simplify). Produces: a new graph whose
 * fusion groups (Node.group, printed `!group=N`) are runs of consecutive
 * nodes, each of which the code generator emits as one kernel; ids are
 * renumbered. Values used only inside a group never reach memory.
 *
 * Groups, grown greedily in graph order:
 *   - elementwise chains: unary and binary ops of one shape in one loop;
 *     inputs of other shapes are read broadcast;
 *   - an epilogue: elementwise ops of the output's shape after a conv2d,
 *     linear, matmul or pooling op (conv2d + relu, the relu mask after
 *     max_pool2d_bwd); the producer's kernel applies them as it stores each
 *     element (kernel_epilogue() in ir/kernel.c says which ops can, and how);
 *   - a prologue: the elementwise ops that make max_pool2d_bwd_at's dL/dy
 *     (the relu mask on the pooled values), computed window by window;
 *   - cross_entropy with its backward: both need the same softmax rows.
 * A node joins a group only if nothing outside the group reads a member
 * before the node itself: the group runs where its last member stood, so
 * moving it there must not make anyone read a value not yet computed. No
 * node is computed twice and the float operations of each value stay the
 * same, so results are bit-identical with and without fusion.
 *
 * The new order puts each group's members together, and runs a kernel whose
 * results are gradients (kept in the persistent region by memplan) as soon as
 * its inputs are ready: the activations it reads can then die earlier, which
 * lowers the step's peak memory without changing any value. So does computing
 * max-pooling's argmax codes right after the pooled input: the input can then
 * die with the forward pass instead of living until the backward one.
 */
#include "passes.h"

#include <string.h>

/* Forward, backward or update: a group stays within one, so an optimizer update is its own kernel
 * over the gradient memplan keeps, and the kernels that produce gradients can run early. */
static unsigned section(const Node *n) { return n->flags & NF_UPDATE ? NF_UPDATE : n->flags & NF_BACKWARD; }

/* ---- groups as union-find sets ---- */

typedef struct {
    int parent;
    int head;    /* the group's conv2d/matmul/... node, or -1 */
    bool ce;     /* cross_entropy with its backward: takes nothing more */
    int *member; /* members in graph order (valid at the root) */
    int nmember;
} Set;

static Set *S;
static const Graph *G;

static int find(int i) {
    while (S[i].parent != i)
        i = S[i].parent = S[S[i].parent].parent;
    return i;
}

static int **users; /* users[i]: the nodes that read node i */
static int *nusers;

/* Could sets a and b run as one kernel at node `at` (their last member)? Every reader outside
 * them must come after `at`. */
static bool legal(int a, int b, int at) {
    int sets[2] = {a, b};
    for (int s = 0; s < 2; s++)
        for (int m = 0; m < S[sets[s]].nmember; m++) {
            int x = S[sets[s]].member[m];
            for (int u = 0; u < nusers[x]; u++) {
                int r = find(users[x][u]);
                if (r != a && r != b && users[x][u] < at)
                    return false;
            }
        }
    return true;
}

/* Would the head of sets a and b together read a member? Its inputs must come from outside the
 * kernel (a head computes each output element from whole input windows or rows, not from values
 * of one element's loop), except max_pool2d_bwd_at's prologue, which its own rule builds. */
static bool head_reads(int a, int b) {
    int h = S[a].head >= 0 ? S[a].head : S[b].head;
    if (h < 0)
        return false;
    for (int k = 0; k < G->nodes[h].nin; k++) {
        int r = find(G->nodes[h].in[k]);
        if (r == a || r == b)
            return true;
    }
    return false;
}

static void merge(int a, int b) {
    int *m = ir_alloc(sizeof(int) * (size_t)(S[a].nmember + S[b].nmember));
    int n = 0, i = 0, j = 0;
    while (i < S[a].nmember || j < S[b].nmember) /* keep graph order */
        if (j == S[b].nmember || (i < S[a].nmember && S[a].member[i] < S[b].member[j]))
            m[n++] = S[a].member[i++];
        else
            m[n++] = S[b].member[j++];
    S[b].parent = a;
    S[a].member = m;
    S[a].nmember = n;
    if (S[a].head < 0)
        S[a].head = S[b].head;
    S[a].ce |= S[b].ce;
}

/* Pure blocks whose results are all gradients are hoisted; sources and effects never move. */
static bool hoistable(const Graph *g, int root) {
    bool early = false;
    for (int m = 0; m < S[root].nmember; m++) {
        const Node *n = &g->nodes[S[root].member[m]];
        if (op_info[n->op].kind == K_SRC || op_info[n->op].kind == K_EFFECT || !n->nin)
            return false;
        /* gradients (persistent anyway), and the argmax codes that let a pooled input die early */
        early |= (n->flags & NF_GRAD) || n->op == OP_MAXPOOL2D_ARGMAX;
    }
    return early;
}

/* Sets of one node each, and every node's readers (each once: add(x, x) reads x once). */
static void init_sets(const Graph *g) {
    int N = g->nnode;
    S = ir_alloc(sizeof(Set) * (size_t)(N + 1));
    nusers = ir_alloc(sizeof(int) * (size_t)(N + 1));
    users = ir_alloc(sizeof(int *) * (size_t)(N + 1));
    for (int i = 0; i < N; i++)
        for (int k = 0; k < g->nodes[i].nin; k++)
            nusers[g->nodes[i].in[k]]++;
    for (int i = 0; i < N; i++) {
        users[i] = ir_alloc(sizeof(int) * (size_t)(nusers[i] + 1));
        nusers[i] = 0;
        S[i] = (Set){.parent = i, .head = -1, .member = ir_alloc(sizeof(int)), .nmember = 1};
        S[i].member[0] = i;
    }
    for (int i = 0; i < N; i++)
        for (int k = 0; k < g->nodes[i].nin; k++) {
            int x = g->nodes[i].in[k];
            bool dup = false;
            for (int u = 0; u < nusers[x]; u++)
                dup |= users[x][u] == i;
            if (!dup)
                users[x][nusers[x]++] = i;
        }
}

/* cross_entropy_bwd n joins the forward loss of the same logits and targets, if it is still on
 * its own: both need the same softmax rows. */
static void join_cross_entropy(const Node *n) {
    for (int u = 0; u < nusers[n->in[0]]; u++) {
        const Node *c = &G->nodes[users[n->in[0]][u]];
        if (c->op == OP_CROSS_ENTROPY && c->id < n->id && c->in[1] == n->in[1] && find(c->id) == c->id &&
            S[c->id].nmember == 1 && !strcmp(node_str(c, "reduction", "mean"), node_str(n, "reduction", "mean")) &&
            legal(c->id, n->id, n->id)) {
            merge(c->id, n->id);
            S[c->id].ce = true;
            return;
        }
    }
}

/* max_pool2d_bwd_at n takes a prologue: the elementwise ops that make its dL/dy (the relu mask on
 * the pooled values), computed per window as the kernel reads it, if nothing else reads them.
 * Marks them in pro. */
static void join_prologue(const Node *n, bool *pro) {
    int rp = find(n->in[1]);
    bool ok = S[rp].head < 0 && !S[rp].ce && section(&G->nodes[S[rp].member[0]]) == section(n);
    for (int m = 0; m < S[rp].nmember && ok; m++) {
        int x = S[rp].member[m];
        ok = kernel_elementwise(&G->nodes[x]) && shape_eq(G->nodes[x].shape, G->nodes[n->in[1]].shape);
        for (int u = 0; u < nusers[x] && ok; u++)
            ok = users[x][u] == n->id || find(users[x][u]) == rp;
    }
    if (!ok)
        return;
    for (int m = 0; m < S[rp].nmember; m++)
        pro[S[rp].member[m]] = true;
    merge(rp, n->id);
}

/* An elementwise node joins the sets of its inputs: an elementwise chain of one shape, or the
 * epilogue of a head whose output has its shape. */
static void join_elementwise(const Node *n, const bool *pro) {
    for (int k = 0; k < n->nin; k++)
        if (pro[n->in[k]]) /* a prologue value is per window, not per output element */
            return;
    for (int k = 0; k < n->nin; k++) {
        int p = n->in[k], rp = find(p), rn = find(n->id);
        if (rp == rn || S[rp].ce || section(&G->nodes[S[rp].member[0]]) != section(n))
            continue;
        const Node *pn = &G->nodes[p];
        bool ok;
        if (S[rp].head >= 0)
            /* an epilogue: the head's output shape, and one head per group */
            ok = shape_eq(G->nodes[S[rp].head].shape, n->shape) && (S[rn].head < 0);
        else
            ok = kernel_elementwise(pn) && shape_eq(pn->shape, n->shape) &&
                 (S[rn].head < 0 || shape_eq(G->nodes[S[rn].head].shape, pn->shape));
        if (ok && legal(rp, rn, n->id) && !head_reads(rp, rn))
            merge(rp, rn);
    }
}

/* The new order: each set at its last member, gradient sets as early as their inputs allow. */
static int *schedule(const Graph *g) {
    int N = g->nnode;
    int *order = ir_alloc(sizeof(int) * (size_t)(N + 1)), norder = 0;
    bool *done = ir_alloc((size_t)N + 1);
    int *hoist = ir_alloc(sizeof(int) * (size_t)(N + 1)), nhoist = 0;
    for (int i = 0; i < N; i++) {
        int r = find(i);
        if (S[r].member[S[r].nmember - 1] == i && hoistable(g, r))
            hoist[nhoist++] = r;
    }
    for (int i = 0; i < N; i++) {
        int r = find(i);
        if (S[r].member[S[r].nmember - 1] != i || done[r])
            continue;
        int pending = r;
        for (;;) {
            for (int m = 0; m < S[pending].nmember; m++)
                order[norder++] = S[pending].member[m];
            done[pending] = true;
            /* any gradient set whose inputs are all computed now runs next */
            pending = -1;
            for (int h = 0; h < nhoist && pending < 0; h++) {
                int hr = hoist[h];
                if (done[hr])
                    continue;
                bool ready = true;
                for (int m = 0; m < S[hr].nmember && ready; m++) {
                    const Node *x = &g->nodes[S[hr].member[m]];
                    for (int k = 0; k < x->nin && ready; k++)
                        ready = find(x->in[k]) == hr || done[find(x->in[k])];
                }
                if (ready)
                    pending = hr;
            }
            if (pending < 0)
                break;
        }
    }
    if (norder != N)
        die("fuse: scheduled %d of %d nodes", norder, N);
    return order;
}

Graph *pass_fuse(Graph *g) {
    int N = g->nnode;
    G = g;
    init_sets(g);
    bool *pro = ir_alloc((size_t)N + 1); /* members of a max_pool2d_bwd_at's prologue */
    for (int i = 0; i < N; i++) {
        Node *n = &g->nodes[i];
        if (kernel_epilogue(n) != EPI_NONE)
            S[i].head = i;
        if (n->op == OP_CROSS_ENTROPY_BWD)
            join_cross_entropy(n);
        else if (n->op == OP_MAXPOOL2D_BWD_AT && kernel_epilogue(n) == EPI_STORE)
            join_prologue(n, pro);
        else if (kernel_elementwise(n))
            join_elementwise(n, pro);
    }

    /* number the groups of two or more, in order of their first member */
    int *gid = ir_alloc(sizeof(int) * (size_t)(N + 1)), ngroup = 0;
    for (int i = 0; i < N; i++) {
        int r = find(i);
        if (S[r].nmember > 1 && S[r].member[0] == i)
            gid[r] = ++ngroup;
    }

    int *order = schedule(g);
    int *remap = ir_alloc(sizeof(int) * (size_t)(N + 1));
    Graph *out = ir_new_graph(g->name);
    out->train = g->train;
    for (int j = 0; j < N; j++) {
        Node *n = &g->nodes[order[j]];
        int *in = ir_alloc(sizeof(int) * (size_t)(n->nin + 1));
        for (int k = 0; k < n->nin; k++)
            in[k] = remap[n->in[k]];
        int id = ir_add_typed(out, n->op, in, n->nin, n->dtype, n->shape, n->attr, n->nattr, n->loc);
        out->nodes[id].flags = n->flags;
        out->nodes[id].name = n->name;
        out->nodes[id].group = gid[find(order[j])];
        remap[order[j]] = id;
    }
    return out;
}
