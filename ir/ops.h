/*
 * ops.h: the one table of IR operations.
 *
 * Every op is one row. The enum, the name table, the printer and reader, the
 * shape-rule dispatch and the kernel dispatch all expand from it, so adding an
 * op is one row here plus its shape rule (ir/shape.c) and its kernel
 * (codegen_c/). Include this file after defining OP(...).
 *
 * Columns:
 *   id     enum constant suffix (OP_<id>)
 *   name   spelling in the IR text form
 *   arity  number of inputs; -1 = variadic (checked by the shape rule)
 *   kind   K_SRC    creates a value from attributes (no inputs)
 *          K_UNARY  elementwise, one input
 *          K_BINARY elementwise, two inputs (where: three), broadcasting
 *          K_REDUCE reduction over attribute `axes`
 *          K_MOVE   data movement (reshape, slices, cat, ...)
 *          K_NN     high-level op with its own kernel (matmul, conv2d, ...)
 *          K_EFFECT no value; ordered side effect (print, seed)
 *   diff   1 if a gradient can flow through the op's float inputs
 *
 * and what the op's kernel can do, which fusion, memory planning and both backends read
 * (ir/kernel.c):
 *   epi    how the kernel takes a fused epilogue of elementwise ops on its output
 *          EPI_NONE    it cannot
 *          EPI_STORE   it writes each output element once (float outputs): the epilogue runs at
 *                      that store, and the output may overwrite an input read element by element
 *          EPI_SCATTER it adds into its output: the epilogue is a second loop in the same kernel
 *          EPI_GATHER  a store where kernel_gathers() holds for the node (each output element
 *                      written once: disjoint pooling windows, a stride-1 convolution), else a scatter
 *   lit    1 if the kernel reads a rank-0 constant input as a C literal instead of memory
 */
/*  id          name            arity kind      diff  epi          lit */
OP(INPUT,       "input",        0,    K_SRC,    0, EPI_NONE,    0) /* value supplied by the caller at run time; attr name */
OP(PARAM,       "param",        0,    K_SRC,    0, EPI_NONE,    0) /* persistent parameter; attrs name, init, from, to */
OP(CONST,       "const",        0,    K_SRC,    0, EPI_NONE,    0) /* literal data; attr data (row-major) */
OP(FULL,        "full",         0,    K_SRC,    0, EPI_NONE,    0) /* every element = attr value */
OP(ARANGE,      "arange",       0,    K_SRC,    0, EPI_NONE,    0) /* start + i*step; attrs start, step */
OP(RAND,        "rand",         0,    K_SRC,    0, EPI_NONE,    0) /* uniform_(from, to) from the program RNG */
OP(RANDN,       "randn",        0,    K_SRC,    0, EPI_NONE,    0) /* normal_(mean, std) from the program RNG */
OP(BERNOULLI,   "bernoulli",    0,    K_SRC,    0, EPI_NONE,    0) /* 1 with probability attr p, else 0: bernoulli_(p) from the program RNG */
OP(RANDINT,     "randint",      0,    K_SRC,    0, EPI_NONE,    0) /* integers in [attr low, attr high) from the program RNG, as torch.randint */
OP(RANDPERM,    "randperm",     0,    K_SRC,    0, EPI_NONE,    0) /* a permutation of 0..n-1 (n: the 1-d shape) from the program RNG */
OP(LOAD,        "load",         0,    K_SRC,    0, EPI_NONE,    0) /* .npy file read at run time; attr path */
OP(OPTION,      "option",       0,    K_SRC,    0, EPI_NONE,    0) /* a program option's value (attr name), from the command line */
OP(NEG,         "neg",          1,    K_UNARY,  1, EPI_NONE,    1)
OP(RELU,        "relu",         1,    K_UNARY,  1, EPI_NONE,    1)
OP(EXP,         "exp",          1,    K_UNARY,  1, EPI_NONE,    1)
OP(LOG,         "log",          1,    K_UNARY,  1, EPI_NONE,    1)
OP(SQRT,        "sqrt",         1,    K_UNARY,  1, EPI_NONE,    1)
OP(ABS,         "abs",          1,    K_UNARY,  1, EPI_NONE,    1)
OP(TANH,        "tanh",         1,    K_UNARY,  1, EPI_NONE,    1)
OP(SIGMOID,     "sigmoid",      1,    K_UNARY,  1, EPI_NONE,    1)
OP(LEAKY_RELU,  "leaky_relu",   1,    K_UNARY,  1, EPI_NONE,    1) /* x > 0 ? x : x * attr slope */
OP(ELU,         "elu",          1,    K_UNARY,  1, EPI_NONE,    1) /* x > 0 ? x : attr alpha * (exp(x) - 1) */
OP(GELU,        "gelu",         1,    K_UNARY,  1, EPI_NONE,    1) /* x * Phi(x); attr tanh = 1: PyTorch's tanh approximation */
OP(SILU,        "silu",         1,    K_UNARY,  1, EPI_NONE,    1) /* x * sigmoid(x) */
OP(SOFTPLUS,    "softplus",     1,    K_UNARY,  1, EPI_NONE,    1) /* log(1 + exp(beta x)) / beta, x where beta x > threshold; attrs beta, threshold */
OP(HARDTANH,    "hardtanh",     1,    K_UNARY,  1, EPI_NONE,    1) /* x clamped to [attr min, attr max] (relu6: 0, 6; clamp: attr inclusive, its gradient passes at the bounds) */
OP(ERF,         "erf",          1,    K_UNARY,  1, EPI_NONE,    1)
OP(COS,         "cos",          1,    K_UNARY,  1, EPI_NONE,    1)
OP(SIN,         "sin",          1,    K_UNARY,  1, EPI_NONE,    1)
OP(NOT,         "not",          1,    K_UNARY,  0, EPI_NONE,    1) /* logical not, bool -> bool */
OP(CAST,        "cast",         1,    K_UNARY,  1, EPI_NONE,    1) /* convert to the node's dtype */
OP(ADD,         "add",          2,    K_BINARY, 1, EPI_NONE,    1)
OP(SUB,         "sub",          2,    K_BINARY, 1, EPI_NONE,    1)
OP(MUL,         "mul",          2,    K_BINARY, 1, EPI_NONE,    1)
OP(DIV,         "div",          2,    K_BINARY, 1, EPI_NONE,    1)
OP(POW,         "pow",          2,    K_BINARY, 1, EPI_NONE,    1)
OP(MAXIMUM,     "maximum",      2,    K_BINARY, 1, EPI_NONE,    1)
OP(MINIMUM,     "minimum",      2,    K_BINARY, 1, EPI_NONE,    1)
OP(FLOORDIV,    "floordiv",     2,    K_BINARY, 0, EPI_NONE,    1) /* a // b: the quotient rounded down (Python, torch.floor_divide) */
OP(MOD,         "mod",          2,    K_BINARY, 0, EPI_NONE,    1) /* a % b: the sign of b (Python, torch.remainder) */
OP(EQ,          "eq",           2,    K_BINARY, 0, EPI_NONE,    1) /* comparisons give bool */
OP(NE,          "ne",           2,    K_BINARY, 0, EPI_NONE,    1)
OP(LT,          "lt",           2,    K_BINARY, 0, EPI_NONE,    1)
OP(LE,          "le",           2,    K_BINARY, 0, EPI_NONE,    1)
OP(GT,          "gt",           2,    K_BINARY, 0, EPI_NONE,    1)
OP(GE,          "ge",           2,    K_BINARY, 0, EPI_NONE,    1)
OP(AND,         "and",          2,    K_BINARY, 0, EPI_NONE,    1) /* logical and/or on bool */
OP(OR,          "or",           2,    K_BINARY, 0, EPI_NONE,    1)
OP(WHERE,       "where",        3,    K_BINARY, 1, EPI_NONE,    1) /* bool input 0 ? input 1 : input 2, the three broadcast */
OP(SUM,         "sum",          1,    K_REDUCE, 1, EPI_NONE,    0) /* attrs axes, keepdim */
OP(MEAN,        "mean",         1,    K_REDUCE, 1, EPI_NONE,    0)
OP(MAX,         "max",          1,    K_REDUCE, 1, EPI_NONE,    0)
OP(MIN,         "min",          1,    K_REDUCE, 1, EPI_NONE,    0)
OP(ARGMAX,      "argmax",       1,    K_REDUCE, 0, EPI_NONE,    0) /* i64 index of the first maximum; one axis */
OP(RESHAPE,     "reshape",      1,    K_MOVE,   1, EPI_NONE,    0) /* same elements, row-major, new shape */
OP(PERMUTE,     "permute",      1,    K_MOVE,   1, EPI_NONE,    0) /* attr perm: out dim i = in dim perm[i] */
OP(SLICE,       "slice",        1,    K_MOVE,   1, EPI_NONE,    0) /* attrs start, step, size per axis */
OP(SETSLICE,    "setslice",     2,    K_MOVE,   1, EPI_NONE,    1) /* copy of input 0 with the slice = input 1 (broadcast) */
OP(SELECT,      "select",       2,    K_MOVE,   1, EPI_NONE,    0) /* x[..., i, ...] at attr axis, i a run-time i64[] (input 1), checked by the caller */
OP(SETSELECT,   "setselect",    3,    K_MOVE,   1, EPI_NONE,    0) /* copy of input 0 with x[..., i, ...] = input 1; i is input 2 */
OP(EXPAND,      "expand",       1,    K_MOVE,   1, EPI_NONE,    1) /* broadcast to attr shape */
OP(CAT,         "cat",          -1,   K_MOVE,   1, EPI_NONE,    0) /* concatenate along attr axis */
OP(GATHER,      "gather",       2,    K_MOVE,   1, EPI_NONE,    0) /* out[..i..] = x[..i with axis replaced by index[..i..]..]; index i64 (input 1) */
OP(SCATTER_ADD, "scatter_add",  3,    K_MOVE,   1, EPI_NONE,    0) /* copy of input 0, src (input 2) added at gather's places of index (input 1) */
OP(INDEX_SELECT, "index_select", 2,   K_MOVE,   1, EPI_NONE,    0) /* the rows index (1-d i64, input 1) of x along attr axis, in that order */
OP(INDEX_ADD,   "index_add",    3,    K_MOVE,   1, EPI_NONE,    0) /* copy of input 0, row j of src (input 2) added to row index[j] along attr axis */
OP(MATMUL,      "matmul",       2,    K_NN,     1, EPI_STORE,   0) /* (..., M, K) @ (..., K, N), batch dims broadcast */
OP(LINEAR,      "linear",       -1,   K_NN,     1, EPI_STORE,   0) /* x (..., in), w (out, in), optional b (out) */
OP(CONV2D,      "conv2d",       -1,   K_NN,     1, EPI_STORE,   0) /* x (N, C, H, W), w (O, C/groups, KH, KW), optional b (O) */
OP(MAXPOOL2D,   "max_pool2d",   1,    K_NN,     1, EPI_STORE,   0) /* attrs kernel, stride, padding, dilation, ceil_mode */
OP(AVGPOOL2D,   "avg_pool2d",   1,    K_NN,     1, EPI_STORE,   0) /* attrs kernel, stride, padding, ceil_mode, count_include_pad */
OP(CROSS_ENTROPY, "cross_entropy", 2,  K_NN,     1, EPI_NONE,    0) /* logits (N, C), class indices i64 (N); attr reduction */
OP(ORTHOGONAL,  "orthogonal",   1,    K_NN,     0, EPI_NONE,    0) /* f64 (R, C), R >= C: its columns made orthonormal in order, the Q of a QR with R's diagonal positive */
OP(CONV2D_BWD_INPUT,  "conv2d_bwd_input",  2, K_NN, 0, EPI_GATHER,  0) /* dL/dx from dL/dy (N, O, OH, OW) and w; conv2d attrs + shape */
OP(CONV2D_BWD_WEIGHT, "conv2d_bwd_weight", 2, K_NN, 0, EPI_NONE,    0) /* dL/dw from x and dL/dy; conv2d attrs + shape */
OP(MAXPOOL2D_BWD, "max_pool2d_bwd", 2,  K_NN,     0, EPI_GATHER,  0) /* dL/dx from x and dL/dy: each window's first maximum gets it */
OP(MAXPOOL2D_ARGMAX, "max_pool2d_argmax", 1, K_NN, 0, EPI_NONE,    0) /* u8: where in each window its first maximum is (r * KW + s) */
OP(MAXPOOL2D_BWD_AT, "max_pool2d_bwd_at", 2, K_NN, 0, EPI_GATHER,  0) /* dL/dx from the argmax codes and dL/dy; attr shape = x's */
OP(AVGPOOL2D_BWD, "avg_pool2d_bwd", 2,  K_NN,     0, EPI_SCATTER, 0) /* dL/dx from x and dL/dy: each window's share, spread evenly */
OP(CROSS_ENTROPY_BWD, "cross_entropy_bwd", 3, K_NN, 0, EPI_NONE,    0) /* dL/dlogits from logits, targets, dL/dloss */
OP(GRAD,        "grad",         3,    K_NN,     0, EPI_NONE,    0) /* dL/d input 2 where dL/d input 0 = input 1: a backward() not yet expanded (pass_autodiff) */
OP(PRINT,       "print",        -1,   K_EFFECT, 0, EPI_NONE,    0) /* attr fmt: text with {i:kind} holes */
OP(SEED,        "seed",         -1,   K_EFFECT, 0, EPI_NONE,    0) /* reseed the program RNG: attr seed, or input 0 (an int known at run time) */
OP(SAVE,        "save",         -1,   K_EFFECT, 0, EPI_NONE,    0) /* write input 0 to the .npy file attr path; with attr keys, every input under those names (one per line) to the .safetensors file path */
OP(ASSIGN,      "assign",       2,    K_EFFECT, 0, EPI_NONE,    0) /* store input 1 into persistent input 0 (a param or state) */
