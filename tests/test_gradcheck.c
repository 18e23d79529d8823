/*
 * test_gradcheck.c: every differentiable op's gradient against central finite differences.
 *
 * For each case the test writes a .tg program in float64: it loads the inputs from .npy files,
 * marks them requires_grad, computes y = <expression>, the scalar l = sum(y * y / 2 + y) (so
 * dl/dy = y + 1 differs from element to element), runs l.backward() and saves l and every
 * input's .grad. The program is built once with the real tgc and run once for the analytic
 * gradient, then twice per input element with that element moved by +-h, for
 * (l(x + h) - l(x - h)) / 2h. The ops covered are read from the op table (ir/ops.h): an op
 * marked differentiable must have a case here, and every other op must be on the explicit
 * list of ops without a gradient, so a new op cannot slip through unchecked.
 *
 * Environment (set by meson): TGC, TGRT_INCDIR, TGRT_LIBDIR.
 */
#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tgrt.h"

typedef struct {
    const char *op;     /* the op-table name this case differentiates */
    const char *shapes; /* input shapes, space-separated, dims by 'x': "2x3 3" */
    const char *expr;   /* y as a .tg expression of x0, x1, ... */
    bool positive;      /* inputs in [0.5, 1.5] instead of [-1, 1] (log, sqrt, pow) */
    double h;           /* the finite-difference step */
} Case;

static Case cases[256];
static int ncases;

/* Ops with no gradient, by design; everything else in the op table needs a case. */
static const char *no_gradient[] = {
    "input", "param", "const", "full", "arange", "rand", "randn", "bernoulli", "randint", "randperm", "load", "option", "not", "eq", "ne", "lt", "le",
    "gt", "ge", "and", "or", "argmax", "print", "seed", "save", "assign",
    "conv2d_bwd_input", "conv2d_bwd_weight", "max_pool2d_bwd", "avg_pool2d_bwd", "cross_entropy_bwd", /* no double backward */
    "max_pool2d_argmax", "max_pool2d_bwd_at",
    "orthogonal", /* nn.init.orthogonal_'s QR: an initialisation, not recorded by autograd */
    "floordiv", "mod", /* piecewise constant / Python-number arithmetic: documented as passing no gradient */
    "grad", /* a backward() call itself, expanded by pass_autodiff before any kernel exists */
};

static const char *op_names[] = {
#define OP(id, name, arity, kind, diff, epi, lit) name,
#include "ir/ops.h"
#undef OP
};
static const bool op_diff[] = {
#define OP(id, name, arity, kind, diff, epi, lit) diff,
#include "ir/ops.h"
#undef OP
};

static const char *tgc, *incdir, *libdir;
static char tmp[64];

static char *kept[4096];
static int nkept;

static char *fmt(const char *f, ...) {
    va_list ap, ap2;
    va_start(ap, f);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    char *s = malloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, f, ap2);
    va_end(ap2);
    if (nkept < 4096)
        kept[nkept++] = s; /* reachable until exit: LeakSanitizer stays quiet */
    return s;
}

static int run(const char *cwd, char *const argv[], const char *errfile) {
    pid_t pid = fork();
    if (pid == 0) {
        if (cwd && chdir(cwd))
            _exit(126);
        if (!freopen("/dev/null", "w", stdout) || !freopen(errfile ? errfile : "/dev/null", "w", stderr))
            _exit(126);
        execvp(argv[0], argv);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return fmt("(cannot read %s)", path);
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return fmt("%s", buf);
}

typedef struct {
    int rank;
    int64_t d[4];
    int64_t n;
} Dims;

static int parse_shapes(const char *s, Dims *out) {
    int k = 0;
    while (*s) {
        Dims d = {0};
        d.n = 1;
        for (;;) {
            d.d[d.rank] = strtoll(s, (char **)&s, 10);
            d.n *= d.d[d.rank++];
            if (*s != 'x')
                break;
            s++;
        }
        out[k++] = d;
        while (*s == ' ')
            s++;
    }
    return k;
}

static const char *type_of(const Dims *d) {
    const char *t = "f64[";
    for (int i = 0; i < d->rank; i++)
        t = fmt("%s%s%lld", t, i ? ", " : "", (long long)d->d[i]);
    return fmt("%s]", t);
}

static double loss_at(const char *dir, const char *bin) {
    char *argv[] = {(char *)bin, NULL};
    ck_assert_int_eq(run(dir, argv, NULL), 0);
    double l;
    char err[256];
    ck_assert_msg(!tg_npy_load(fmt("%s/l.npy", dir), TG_F64, 0, NULL, &l, err, sizeof err), "%s", err);
    return l;
}

START_TEST(test_gradient) {
    Case *c = &cases[_i];
    Dims dims[4];
    int nin = parse_shapes(c->shapes, dims);
    char *dir = fmt("%s/case%d", tmp, _i);
    mkdir(dir, 0755);
    /* the program */
    const char *src = "program gradcheck {\n";
    for (int k = 0; k < nin; k++)
        src = fmt("%s    x%d = load(\"x%d.npy\", %s)\n    x%d.requires_grad_()\n", src, k, k, type_of(&dims[k]), k);
    /* an expression, or statements that assign y (for ops that come from statements) */
    if (strchr(c->expr, ';'))
        src = fmt("%s    %s\n", src, c->expr);
    else
        src = fmt("%s    y = %s\n", src, c->expr);
    src = fmt("%s    l = (y * y / 2 + y).sum()\n    l.backward()\n    save(\"l.npy\", l)\n", src);
    for (int k = 0; k < nin; k++)
        src = fmt("%s    save(\"g%d.npy\", x%d.grad)\n", src, k, k);
    src = fmt("%s}\n", src);
    FILE *f = fopen(fmt("%s/gc.tg", dir), "w");
    fputs(src, f);
    fclose(f);
    /* inputs: a fixed pseudo-random sequence per case */
    double *x[4];
    uint64_t seed = 0x9e3779b97f4a7c15ULL * (uint64_t)(_i + 1);
    char err[256];
    for (int k = 0; k < nin; k++) {
        x[k] = malloc(sizeof(double) * (size_t)dims[k].n);
        for (int64_t j = 0; j < dims[k].n; j++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            double u = (double)(seed >> 11) / 9007199254740992.0;
            x[k][j] = c->positive ? 0.5 + u : 2 * u - 1;
        }
        ck_assert(!tg_npy_save(fmt("%s/x%d.npy", dir, k), TG_F64, dims[k].rank, dims[k].d, x[k], err, sizeof err));
    }
    char *bin = fmt("%s/gc", dir), *errf = fmt("%s/build.txt", dir);
    char *argv[] = {(char *)tgc, "build", fmt("%s/gc.tg", dir), "-o", bin, NULL};
    ck_assert_msg(run(NULL, argv, errf) == 0, "%s: y = %s does not build:\n%s", c->op, c->expr, slurp(errf));
    loss_at(dir, bin);
    const double h = c->h;
    for (int k = 0; k < nin; k++) {
        double *g = malloc(sizeof(double) * (size_t)dims[k].n);
        ck_assert_msg(!tg_npy_load(fmt("%s/g%d.npy", dir, k), TG_F64, dims[k].rank, dims[k].d, g, err, sizeof err),
                      "%s", err);
        for (int64_t j = 0; j < dims[k].n; j++) {
            double keep = x[k][j];
            x[k][j] = keep + h;
            tg_npy_save(fmt("%s/x%d.npy", dir, k), TG_F64, dims[k].rank, dims[k].d, x[k], err, sizeof err);
            double lp = loss_at(dir, bin);
            x[k][j] = keep - h;
            tg_npy_save(fmt("%s/x%d.npy", dir, k), TG_F64, dims[k].rank, dims[k].d, x[k], err, sizeof err);
            double lm = loss_at(dir, bin);
            x[k][j] = keep;
            double fd = (lp - lm) / (2 * h);
            ck_assert_msg(fabs(fd - g[j]) <= 1e-5 * fmax(1.0, fabs(fd)),
                          "%s: y = %s: dl/dx%d[%lld] is %.10g, finite differences give %.10g", c->op, c->expr, k,
                          (long long)j, g[j], fd);
        }
        tg_npy_save(fmt("%s/x%d.npy", dir, k), TG_F64, dims[k].rank, dims[k].d, x[k], err, sizeof err);
        free(g);
    }
    for (int k = 0; k < nin; k++)
        free(x[k]);
}
END_TEST

START_TEST(test_every_op_is_covered) {
    for (size_t i = 0; i < sizeof op_names / sizeof op_names[0]; i++) {
        bool listed = false, checked = false;
        for (size_t j = 0; j < sizeof no_gradient / sizeof no_gradient[0]; j++)
            listed |= !strcmp(no_gradient[j], op_names[i]);
        for (int j = 0; j < ncases; j++)
            checked |= !strcmp(cases[j].op, op_names[i]);
        ck_assert_msg(checked || listed, "op '%s' has neither a gradient check nor a place on the no-gradient list",
                      op_names[i]);
        ck_assert_msg(!(listed && op_diff[i]), "op '%s' is marked differentiable but listed as having no gradient",
                      op_names[i]);
        ck_assert_msg(!(checked && !op_diff[i]), "op '%s' has a gradient check but is not marked differentiable",
                      op_names[i]);
    }
}
END_TEST

static void add_case(const char *op, const char *shapes, const char *expr, bool positive) {
    cases[ncases++] = (Case){op, shapes, expr, positive, 1e-6};
}

static void add_cases(void) {
    add_case("add", "2x3 3", "x0 + x1", false);
    add_case("add", "3x1 1x4", "x0 + x1 * 2", false);
    add_case("sub", "2x3 2x1", "x0 - x1", false);
    add_case("mul", "2x3 2x3", "x0 * x1", false);
    add_case("mul", "4 1", "x0 * x1 * x0", false);      /* x0 used twice: adjoints add up */
    add_case("div", "2x3 3", "x0 / x1", true);
    add_case("pow", "5", "x0 ** 3", false);
    add_case("pow", "2x2 2x2", "x0 ** x1", true);
    add_case("maximum", "6 6", "maximum(x0, x1)", false);
    add_case("maximum", "2x3 3", "maximum(x0, x1)", false);
    add_case("minimum", "6 6", "minimum(x0, x1)", false);
    add_case("minimum", "3x1 1x2", "minimum(x0, x1) * x0", false);
    add_case("pow", "2x3 3", "x0 ** x1", true);
    add_case("pow", "4", "x0 ** 0 + x0", false);
    add_case("div", "3 2x3", "x0 / x1", true);
    add_case("sub", "1x3 2x1", "x1 - x0 * x1", false);
    add_case("neg", "5", "-x0", false);
    add_case("relu", "8", "relu(x0)", false);
    add_case("exp", "5", "exp(x0)", false);
    add_case("log", "5", "log(x0)", true);
    add_case("sqrt", "5", "sqrt(x0)", true);
    add_case("abs", "6", "abs(x0)", false);
    add_case("tanh", "5", "tanh(x0)", false);
    add_case("sigmoid", "5", "sigmoid(x0)", false);
    /* activations (frontend/activations.c), with their options; inputs in [-1, 1] scaled to reach
     * each piece (softplus's threshold, hardtanh's bounds) without sitting on a kink */
    add_case("leaky_relu", "7", "F.leaky_relu(x0)", false);
    add_case("leaky_relu", "2x3", "nn.LeakyReLU(0.3)(x0 * 2)", false);
    add_case("elu", "7", "F.elu(x0 * 3)", false);
    add_case("elu", "2x3", "nn.ELU(alpha=0.5)(x0 * 2)", false);
    add_case("gelu", "7", "F.gelu(x0 * 3)", false);
    add_case("gelu", "7", "F.gelu(x0 * 3, approximate=\"tanh\")", false);
    add_case("silu", "7", "F.silu(x0 * 3)", false);
    add_case("softplus", "7", "F.softplus(x0 * 3)", false);
    add_case("softplus", "7", "F.softplus(x0 * 3, beta=2, threshold=3)", false);
    add_case("hardtanh", "7", "F.hardtanh(x0 * 1.7)", false);
    add_case("hardtanh", "7", "F.relu6(x0 * 9)", false);
    add_case("erf", "7", "torch.erf(x0 * 2)", false);
    add_case("hardtanh", "2x4", "torch.clamp(x0 * 2, min=-0.7, max=0.9) + x0.clamp(min=0.3)", false);
    add_case("cos", "2x3", "torch.cos(x0 * 3)", false);
    add_case("sin", "2x3", "x0.sin() * 2", false);
    /* softmax and log_softmax are built of max, exp, sum and log: checked as a whole, with
     * broadcasting over the other axes */
    add_case("exp", "3x4", "F.softmax(x0 * 3, dim=1)", false);
    add_case("exp", "2x3x4", "F.log_softmax(x0 * 3, dim=1)", false);
    add_case("exp", "3x4", "nn.Softmax(dim=0)(x0) * x0", false);
    /* var, std, stack, chunk and split are built of mean, sum, sqrt, cat and slices */
    add_case("mean", "3x4", "x0.var(1) + x0.std(0).sum() + torch.var(x0, unbiased=False)", false);
    add_case("cat", "2x3 2x3", "torch.stack([x0, x1 * 2], dim=1)", false);
    add_case("expand", "2x3", "x0.repeat(2, 1, 2) * 3", false);
    add_case("sqrt", "3x4", "x0.norm() + x0.norm(dim=1).sum() + x0.norm(p=3, dim=0).sum()", false);
    add_case("slice", "3x4", "a, b = x0.chunk(2, dim=1); c, d = torch.split(x0, [1, 2]); y = a * b + c.sum() + d.sum()", false);
    add_case("cast", "4", "x0.float().double() * 3", false);
    /* through float32 a step of 1e-6 is a few float ulps: a larger one, on a function that is quadratic */
    cases[ncases - 1].h = 1e-2;
    add_case("sum", "2x3x2", "x0.sum(dim=1)", false);
    add_case("sum", "2x3", "x0.sum(dim=(0, 1), keepdim=true) * x0", false);
    add_case("mean", "3x4", "x0.mean(0)", false);
    add_case("mean", "2x3", "x0.mean() * x0", false);
    add_case("max", "3x4", "x0.max(1)[0]", false);
    add_case("max", "3x4", "x0.max() * x0", false);
    add_case("min", "2x5", "x0.min() + x0", false);
    add_case("reshape", "2x6", "x0.view(3, 4) @ x0.view(4, 3)", false);
    add_case("permute", "2x3x4", "x0.permute(2, 0, 1) * 2", false);
    add_case("slice", "4x5", "x0[1:3, ::2] + x0[..., -1].sum()", false);
    add_case("setslice", "3x4 2", "z = x0 * 1; z[1:, 1:3] = x1; y = z * x0", false);
    /* x[i] with i known only at run time (an int of a tensor): select and setselect */
    add_case("select", "3x4", "i = int(ones(1).sum().item()); y = x0[i] * 2 + x0[:, i + 1].sum()", false);
    add_case("setselect", "3x4 4", "i = int(ones(1).sum().item()); z = x0 * 1; z[-i] = x1; y = z * x0", false);
    add_case("expand", "3x1", "x0.expand(3, 4)", false);
    add_case("cat", "2x3 2x2", "cat([x0, x1, x0], dim=1)", false);
    add_case("where", "2x3 2x3", "torch.where(x0 > 0, x0 * 2, x1)", false);
    add_case("where", "2x3 3", "torch.where(x1 > 0, x0, x1) + x0.masked_fill(x1 < 0, 0.5)", false);
    add_case("where", "2x1 3", "torch.where(torch.tensor([[True, False, True], [False, False, True]]), x0, x1)", false);
    add_case("gather", "3x4", "x0.gather(1, torch.tensor([[0, 3], [2, 2], [1, 0]]))", false);
    add_case("gather", "3x2", "torch.gather(x0, 0, torch.tensor([[2, 0], [2, 2]]))", false);
    add_case("scatter_add", "2x3 2x2", "x0.scatter_add(1, torch.tensor([[0, 0], [2, 1]]), x1)", false);
    add_case("scatter_add", "3x2 3x3", "torch.scatter_add(x0 * 2, 0, torch.tensor([[2, 0], [2, 2]]), x1)", false);
    add_case("index_select", "3x2", "x0.index_select(0, torch.tensor([2, 0, 2, 1]))", false);
    add_case("index_select", "2x3", "x0[:, torch.tensor([[1, -1], [0, 0]])]", false);
    add_case("index_add", "2x3 2x2", "x0.index_add(1, torch.tensor([1, 1]), x1)", false);
    add_case("index_add", "3x2 2x2", "torch.index_add(x0, 0, torch.tensor([2, 0]), x1, alpha=3)", false);
    add_case("matmul", "2x3 3x4", "x0 @ x1", false);
    add_case("matmul", "2x1x2x3 3x3x2", "matmul(x0, x1)", false);
    add_case("matmul", "3 3x2", "x0 @ x1", false);
    add_case("linear", "2x4 3x4 3", "linear(x0, x1, x2)", false);
    add_case("linear", "2x2x4 3x4", "linear(x0, x1)", false);
    add_case("cross_entropy", "3x4", "cross_entropy(x0, tensor([1, 0, 3]))", false);
    add_case("cross_entropy", "2x3", "cross_entropy(x0, tensor([2, 2]), reduction=\"sum\")", false);
    add_case("cross_entropy", "2x3", "cross_entropy(x0, tensor([0, 1]), reduction=\"none\")", false);
    /* conv2d over a grid of stride, padding, dilation and groups */
    for (int st = 1; st <= 2; st++)
        for (int pd = 0; pd <= 1; pd++)
            for (int dl = 1; dl <= 2; dl++)
                for (int gr = 1; gr <= 2; gr++)
                    add_case("conv2d", gr == 1 ? "1x2x5x5 3x2x2x3 3" : "1x2x5x5 4x1x3x2 4",
                             fmt("conv2d(x0, x1, x2, stride=%d, padding=%d, dilation=%d, groups=%d)", st, pd, dl, gr),
                             false);
    /* shapes that take the other convolution kernels: output channels in the lanes (8 of them,
     * 5 columns), the GEMM kernels with a batch split into parts and a last channel tile, the
     * weight gradient's pass over a row's partial chunk of lanes (11 columns) */
    add_case("conv2d", "2x2x7x7 8x2x3x3 8", "conv2d(x0, x1, x2)", false);
    add_case("conv2d", "2x2x9x9 8x2x3x3", "conv2d(x0, x1, dilation=2)", false);
    add_case("conv2d", "3x2x7x7 5x2x3x3 5", "conv2d(x0, x1, x2, stride=2, padding=1)", false);
    add_case("conv2d", "2x1x12x12 2x1x2x2 2", "conv2d(x0, x1, x2)", false);
    /* max_pool2d over kernel, stride, padding, dilation and ceil_mode */
    add_case("max_pool2d", "1x2x5x5", "max_pool2d(x0, 2)", false);
    add_case("max_pool2d", "1x1x5x5", "max_pool2d(x0, 3, stride=1)", false);
    add_case("max_pool2d", "1x1x5x5", "max_pool2d(x0, 3, stride=2, padding=1)", false);
    add_case("max_pool2d", "1x1x6x6", "max_pool2d(x0, 2, stride=1, dilation=2)", false);
    add_case("max_pool2d", "1x1x5x5", "max_pool2d(x0, 2, ceil_mode=true)", false);
    add_case("max_pool2d", "2x5x4", "max_pool2d(x0, (2, 3), stride=(1, 1))", false);
    /* relu then pooling: the relu mask is taken on the pooled values (autodiff's rewrite) */
    add_case("relu", "1x2x4x4", "max_pool2d(relu(x0), 2)", false);
    add_case("relu", "1x1x5x5", "max_pool2d(relu(x0), 3, stride=1)", false);
    add_case("relu", "1x1x5x5", "max_pool2d(relu(x0), 3, stride=2, padding=1)", false);
    add_case("relu", "1x1x7x7", "max_pool2d(relu(x0), 2, stride=3)", false);
    add_case("avg_pool2d", "1x2x4x4", "avg_pool2d(x0, 2)", false);
    add_case("avg_pool2d", "1x1x5x5", "avg_pool2d(x0, 3, stride=2, padding=1)", false);
    add_case("avg_pool2d", "1x1x5x5", "avg_pool2d(x0, 3, stride=2, padding=1, count_include_pad=false)", false);
    add_case("avg_pool2d", "1x1x5x5", "avg_pool2d(x0, 2, ceil_mode=true)", false);
}

int main(void) {
    tgc = getenv("TGC");
    incdir = getenv("TGRT_INCDIR");
    libdir = getenv("TGRT_LIBDIR");
    if (!tgc) {
        fprintf(stderr, "test_gradcheck: run through meson test (TGC unset)\n");
        return 1;
    }
    (void)incdir;
    (void)libdir;
    strcpy(tmp, "/tmp/tgc-gradcheck-XXXXXX");
    if (!mkdtemp(tmp))
        return 1;
    add_cases();
    Suite *s = suite_create("gradcheck");
    TCase *tc = tcase_create("gradcheck");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_every_op_is_covered);
    tcase_add_loop_test(tc, test_gradient, 0, ncases);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (!failed) {
        char *rm[] = {"rm", "-rf", tmp, NULL};
        run(NULL, rm, NULL);
    }
    return failed ? 1 : 0;
}
