/*
 * tgrt.h: the tgc runtime, the only library a generated program links.
 *
 * It ships alone with generated code and includes none of the compiler's
 * headers. Everything here is plain C99. Functions that can fail return 0 on
 * success and -1 on failure, with a message naming the file and what is wrong
 * written to the caller's err buffer; they never exit and never print on their
 * own. Symbols are prefixed tg_/Tg/TG_ because they share a namespace with the
 * user's code.
 */
#ifndef TGRT_H
#define TGRT_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TG_MAX_RANK 8

/* ---- Python's // and % (torch.floor_divide, torch.remainder), for the kernels ---- */

/* The quotient rounded down and the remainder with the divisor's sign. An integer divisor of 0
 * gives 0 (Python raises ZeroDivisionError; a kernel cannot stop); a float one gives inf or nan,
 * as PyTorch does. */
static inline int64_t tg_floordiv_i64(int64_t a, int64_t b) {
    if (b == 0)
        return 0;
    if (b == -1)
        return (int64_t)(0 - (uint64_t)a); /* INT64_MIN // -1 wraps, as PyTorch's integers */
    int64_t q = a / b;
    return a % b != 0 && (a < 0) != (b < 0) ? q - 1 : q;
}
static inline int64_t tg_mod_i64(int64_t a, int64_t b) {
    if (b == 0 || b == -1)
        return 0;
    int64_t m = a % b;
    return m != 0 && (m < 0) != (b < 0) ? m + b : m;
}
static inline double tg_floordiv_f64(double a, double b) {
    if (b == 0)
        return a / b;
    double mod = fmod(a, b), div = (a - mod) / b;
    if (mod != 0 && (b < 0) != (mod < 0))
        div -= 1.0;
    if (div == 0)
        return copysign(0.0, a / b);
    double fl = floor(div);
    return div - fl > 0.5 ? fl + 1.0 : fl;
}
static inline double tg_mod_f64(double a, double b) {
    double m = fmod(a, b);
    if (m != 0 && (m < 0) != (b < 0))
        m += b;
    else if (m == 0)
        m = copysign(0.0, b);
    return m;
}
static inline float tg_floordiv_f32(float a, float b) {
    if (b == 0)
        return a / b;
    float mod = fmodf(a, b), div = (a - mod) / b;
    if (mod != 0 && (b < 0) != (mod < 0))
        div -= 1.0f;
    if (div == 0)
        return copysignf(0.0f, a / b);
    float fl = floorf(div);
    return div - fl > 0.5f ? fl + 1.0f : fl;
}
static inline float tg_mod_f32(float a, float b) {
    float m = fmodf(a, b);
    if (m != 0 && (m < 0) != (b < 0))
        m += b;
    else if (m == 0)
        m = copysignf(0.0f, b);
    return m;
}

/* Element types. The order matches the compiler's DType enum. */
typedef enum {
    TG_F32,  /* float */
    TG_F64,  /* double */
    TG_I32,  /* int32_t */
    TG_I64,  /* int64_t */
    TG_BOOL, /* uint8_t holding 0 or 1 */
    TG_U8,   /* uint8_t */
} TgDType;

size_t tg_dtype_size(TgDType dt);
const char *tg_dtype_torch_name(TgDType dt); /* "torch.float32" */

/* ---- printing (print.c) ------------------------------------------------ */

/*
 * Writes str(t) exactly as PyTorch 1.13's repr does: "tensor([[1., 0.], ...])",
 * "tensor(12.)", int vs float vs scientific formatting, 80-column wrapping,
 * "..." summarization above 1000 elements, a dtype= suffix for non-default
 * dtypes. `suffixes` are extra suffix strings ("requires_grad=True",
 * "grad_fn=<AddmmBackward0>"), laid out as PyTorch's _add_suffixes does;
 * nsuffix may be 0 and suffixes NULL.
 */
void tg_print_tensor(FILE *f, const void *data, TgDType dt, int rank, const int64_t *shape,
                     const char *const *suffixes, int nsuffix);

/* Writes str(a) of a numpy array, as numpy 1.24 prints it: "[2. 2. 2.]". */
void tg_print_numpy(FILE *f, const void *data, TgDType dt, int rank, const int64_t *shape);

/* Python's repr(float): shortest text that round-trips ("12.0", "0.1", "1e-05"). */
void tg_print_pyfloat(FILE *f, double v);

/* "torch.Size([3, 4])" */
void tg_print_size(FILE *f, int rank, const int64_t *shape);

/* ---- random numbers (rng.c): bit-compatible with PyTorch's CPU generator */

typedef struct {
    uint32_t state[624]; /* mt19937 state */
    int next;            /* index of the next word to temper */
    int has_normal;      /* a cached second Box-Muller value exists (double path) */
    double normal;       /* that value */
} TgRng;

#define TG_DEFAULT_SEED 67280421310721ULL /* torch's default CPU seed */

void tg_rng_seed(TgRng *r, uint64_t seed);   /* torch.manual_seed(seed) */
uint32_t tg_rng_u32(TgRng *r);               /* one mt19937 draw */
uint64_t tg_rng_u64(TgRng *r);               /* two draws, as torch's random64() */
/* Tensor.uniform_(from, to) on a contiguous tensor of n elements (torch.rand: 0, 1). */
void tg_uniform(TgRng *r, TgDType dt, void *out, int64_t n, double from, double to);
/* bernoulli_(p): 1 where a 53-bit uniform draw is below p, else 0 (dropout's mask) */
void tg_bernoulli(TgRng *r, TgDType dt, void *out, int64_t n, double p);
/* torch.randint(low, high): random() % (high - low) + low per element (random64() from 2^32 up) */
void tg_randint(TgRng *r, TgDType dt, void *out, int64_t n, int64_t low, int64_t high);
/* Tensor.normal_(mean, std) (torch.randn: 0, 1). */
void tg_normal(TgRng *r, TgDType dt, void *out, int64_t n, double mean, double std);

/* ---- .npy files (npy.c): the numpy bridge ------------------------------ */

/*
 * Reads a .npy file whose dtype and shape must equal the given ones
 * (little-endian, C order; version 1, 2 or 3 headers). On any mismatch or
 * malformed file, returns -1 with a message such as
 * "w.npy: shape (6, 1, 5) does not match the declared f32[6, 1, 5, 5]".
 */
int tg_npy_load(const char *path, TgDType dt, int rank, const int64_t *shape, void *out,
                char *err, size_t errcap);
/* Writes a .npy file (version 1.0 header). Returns -1 with a message on failure. */
int tg_npy_save(const char *path, TgDType dt, int rank, const int64_t *shape, const void *data,
                char *err, size_t errcap);

/* ---- datasets (data.c): the trainer's input ------------------------------ */

/* Images as the files store them (uint8, kept so), and their class labels. */
typedef struct {
    int64_t n;        /* images */
    int c, h, w;      /* channels, height, width */
    uint8_t *images;  /* n * c * h * w bytes, each image channel-major (C, H, W) */
    uint8_t *labels;  /* n class indices, each < nclasses */
    int nclasses;     /* 10 for MNIST, Fashion-MNIST and CIFAR-10 */
} TgDataset;

/*
 * Reads an IDX pair (MNIST, Fashion-MNIST), gzipped or plain: images idx3 (n, h, w) uint8 and
 * labels idx1 (n) uint8. Errors name the file and the problem (missing, bad magic, sizes that
 * disagree, truncated, a label >= nclasses). The dataset owns malloc'ed memory.
 */
int tg_load_idx(const char *images, const char *labels, int nclasses, TgDataset *d, char *err, size_t errcap);
/* Reads CIFAR-10's binary version from dir: data_batch_1..5.bin (train) or test_batch.bin. */
int tg_load_cifar10(const char *dir, int train, TgDataset *d, char *err, size_t errcap);
/*
 * kind "mnist" or "fashion_mnist" (dir holds train-images-idx3-ubyte[.gz] ... t10k-labels-idx1-ubyte[.gz])
 * or "cifar10" (dir holds the .bin files).
 */
int tg_load_dataset(const char *kind, const char *dir, int train, TgDataset *d, char *err, size_t errcap);
void tg_dataset_free(TgDataset *d);

/*
 * Writes images order[first .. first+batch) as a float batch x of shape (batch, c, h+2*pad, w+2*pad):
 * each pixel p (with zero bytes as padding around the raw image) becomes (p / 255 - mean[ch]) / std[ch],
 * as ToTensor + Normalize do; y gets the labels as int64. A batch past the end wraps around.
 */
void tg_dataset_batch(const TgDataset *d, const int64_t *order, int64_t first, int batch, int pad,
                      const float *mean, const float *std, float *x, int64_t *y);
/* Fisher-Yates shuffle of order[0..n) driven by the generator (seeded: the same order every run). */
void tg_shuffle(TgRng *r, int64_t *order, int64_t n);

/* ---- torchvision datasets and DataLoader iterators (loader.c): a program's data ---------- */

/*
 * tg_load_dataset from ROOT or torchvision's folder under it (ROOT/FashionMNIST/raw,
 * ROOT/MNIST/raw, ROOT/cifar-10-batches-bin), checked to hold n images of c x h x w: an
 * error names the folder and both counts.
 */
int tg_open_dataset(const char *kind, const char *root, int train, int64_t n, int c, int h, int w,
                    TgDataset *d, char *err, size_t errcap);
/* torch.randperm(n, generator=r): PyTorch 1.13's CPU algorithm, the same permutation. */
void tg_randperm(TgRng *r, int64_t *out, int64_t n);

/* One iterator of a DataLoader over a dataset (data), or over a TensorDataset's tensors (data
 * NULL, n samples): the fields above `order`, and n, are its settings. */
typedef struct {
    const TgDataset *data;
    int64_t batch, nbatch;   /* batch size, batches per pass (the last partial one dropped) */
    int shuffle, workers, pad;
    const float *mean, *std; /* Normalize per channel, or NULL: ToTensor alone */
    int64_t *order;          /* the sampler's permutation (shuffle), malloc'ed by tg_iter_start */
    int64_t next;            /* batches served in this pass */
    int sampled;             /* the sampler drew its permutation */
    int64_t n;               /* a TensorDataset's samples (the tensors' first dimension) */
    int ended;               /* 1: next() found the full batches over; 2: the rest was served too */
} TgIter;

/* iter(loader): a new pass, with PyTorch's draws from the program's generator. -1 on no memory. */
int tg_iter_start(TgIter *it, TgRng *global, char *err, size_t errcap);
/* next(it): the next batch, x (batch, c, h + 2 pad, w + 2 pad) and y (batch); -1 when the pass is over. */
int tg_iter_next(TgIter *it, TgRng *global, float *x, int64_t *y);
/* next(it) of a TensorDataset's loader: row order[i] of each of the k tensors src[t] (rows of
 * row[t] bytes) into row i of out[t], for the batch's rows; -1 when the pass is over. */
int tg_iter_next_rows(TgIter *it, TgRng *global, int k, const void *const *src, const size_t *row,
                      void *const *out);
/* The last partial batch of a pass (drop_last=False with a batch size that does not divide the
 * samples): once tg_iter_next has found the full batches over, the r samples left, into the first
 * r rows of x and y (of out[t]); -1 when there are none, the pass ended early (a break) or they
 * were served. */
int tg_iter_rest(TgIter *it, TgRng *global, float *x, int64_t *y);
int tg_iter_rest_rows(TgIter *it, TgRng *global, int k, const void *const *src, const size_t *row,
                      void *const *out);
void tg_iter_free(TgIter *it);

/* ---- a program's options on the command line (options.c) --------------------- */

enum { TG_OPT_INT, TG_OPT_FLOAT, TG_OPT_BOOL, TG_OPT_STR };

/* One option: --name, what it holds (int64_t, double, uint8_t or const char *), its default as
 * --help shows it. */
typedef struct {
    const char *name;
    int kind;
    void *value;
    const char *shown;
} TgOption;

/* Sets the options argv gives (--NAME VALUE, --NAME=VALUE), checking each value's kind. Returns 0,
 * 1 after printing an error, or 2 after printing --help's usage. */
int tg_parse_options(int argc, char **argv, const TgOption *opts, int n);

/* The stack a generated kernel may take on an OpenMP thread: its register tiles and packed
 * panels (codegen_c/conv.c), with room to spare. */
#define TG_KERNEL_STACK (2 * 1024 * 1024)
/* -1 after a message when OMP_STACKSIZE is set below TG_KERNEL_STACK (libgomp would run the
 * kernels on too small a stack and crash without a word); 0 otherwise. */
int tg_check_omp_stacksize(const char *prog);

/* ---- writing files safely (file.c) ---------------------------------------------- */

/* An output file being written: f, then tg_out_close or tg_out_abandon. */
typedef struct {
    FILE *f;
    const char *shown;  /* the path as given, for messages */
    char *path;         /* what is written: the path, its symlinks followed */
    char *tmp;          /* the unique temporary beside it, or NULL: written in place (a device, a pipe) */
} TgOut;

/*
 * Opens path for writing. A regular file or a missing one is written to a unique temporary
 * beside it, which tg_out_close flushes, fsyncs, renames over it (with the old file's mode, or
 * 0666 less the umask) and makes durable by syncing the folder: path is always the old complete
 * file or the new one. A symlink is followed to its target; a character device or a pipe is
 * written in place; a folder or another special file is refused. -1 with a message on failure.
 */
int tg_out_open(TgOut *o, const char *path, char *err, size_t errcap);
/* Finishes the write; any lost byte (a full disk, a file-size limit) is -1 with a message, and
 * the old file is left as it was. */
int tg_out_close(TgOut *o, char *err, size_t errcap);
/* Gives up: the temporary is removed, the old file is left as it was. */
void tg_out_abandon(TgOut *o);
/* 1 when both paths exist and are one file (device and inode), whatever their spelling. */
int tg_same_file(const char *a, const char *b);

/* ---- checkpoints (safetensors.c) --------------------------------------------- */

/* One tensor of a .safetensors file: name, element type, shape, data. */
typedef struct {
    const char *name;     /* "conv1.weight", "conv1.weight.momentum_buffer", ... */
    TgDType dtype;        /* stored as F32, F64, I32, I64, BOOL, U8 */
    int rank;
    const int64_t *shape;
    void *data;           /* save: read from here; load: written here (the caller's memory) */
} TgNamedTensor;

/*
 * Writes tensors and string metadata (keys[i] -> values[i], in the "__metadata__" object) as a
 * .safetensors file that PyTorch's safetensors reads, through tg_out_open: PATH is always either
 * the old complete file or the new complete one.
 */
int tg_save_safetensors(const char *path, const TgNamedTensor *t, int n, const char *const *keys,
                        const char *const *values, int nmeta, char *err, size_t errcap);
/*
 * Reads the named tensors of a .safetensors file into t[i].data, checking each one's dtype and
 * shape ("ck.safetensors: conv1.weight is F32 [6, 1, 5] but F32 [6, 1, 5, 5] is expected", missing
 * names, malformed headers, truncated data), and that the file is a regular file whose tensors'
 * data tile its data section exactly (no gap, no overlap, no trailing bytes). Metadata values are
 * copied into values[i] (at most valcap bytes each, "" when absent) for the given keys.
 */
int tg_load_safetensors(const char *path, TgNamedTensor *t, int n, const char *const *keys, char **values,
                        int nmeta, size_t valcap, char *err, size_t errcap);
/*
 * Reads a whole state_dict strictly: the file must hold exactly the n named tensors (metadata
 * aside), each with its dtype and shape, as torch's load_state_dict(strict=True) wants. Errors
 * name the file: "w.safetensors: no tensor layer1.0.bn1.running_mean (the model has 122 tensors;
 * the file has 121)", "w.safetensors: fc.weight2 is not a tensor of the model (did you mean
 * fc.weight?)", and the dtype and shape messages of tg_load_safetensors. Rank 0 (PyTorch's
 * num_batches_tracked, I64 []) is shape NULL.
 */
int tg_load_state_safetensors(const char *path, TgNamedTensor *t, int n, char *err, size_t errcap);
/* tg_load_safetensors with tg_load_state_safetensors's strictness: the file holds exactly the n
 * tensors (a trainer's checkpoint on --resume), and metadata is read as tg_load_safetensors does. */
int tg_load_exact_safetensors(const char *path, TgNamedTensor *t, int n, const char *const *keys, char **values,
                              int nmeta, size_t valcap, char *err, size_t errcap);
/*
 * Reads one named tensor (dtype, shape, into out), as a generated program's load_state does per
 * tensor. With model (nmodel names, all the model's tensors), the file must also hold exactly
 * those, with the messages above; NULL checks only this tensor. With under (a prefix such as
 * "model_state_dict.", where torch.save put a model in a checkpoint dict), only the file's
 * tensors whose names start with it must be the model's; NULL: all of them.
 */
int tg_load_one_safetensors(const char *path, const char *under, const char *name, TgDType dt, int rank,
                            const int64_t *shape, void *out, const char *const *model, int nmodel, char *err,
                            size_t errcap);

/* ---- pictures (png.c) ---------------------------------------------------- */

/* Writes width x height 8-bit RGB pixels (row-major, 3 bytes each) as a PNG file, atomically. */
int tg_write_png(const char *path, const uint8_t *rgb, int width, int height, char *err, size_t errcap);

/* Marks a generated function a C caller calls (an export def's): `tgc check` proves from it. */
#if defined(__clang__)
#define TG_ENTRY __attribute__((annotate("tg_entry")))
#else
#define TG_ENTRY
#endif

/* ---- the trainer of a train block (trainer.c) ------------------------------- */

/* One tensor that lives across steps (a parameter, optimizer state, the step count), where it
 * is in the arena and its PyTorch state_dict name: a generated file's PREFIX_tensors. */
typedef struct {
    const char *name;  /* PyTorch's state_dict key, or <key>.momentum_buffer, ... */
    size_t offset;     /* bytes into the arena */
    TgDType dtype;
    int rank;
    int64_t shape[TG_MAX_RANK];
    int trainable;     /* a parameter that receives a gradient */
    int model;         /* the model's (its state_dict: parameters, batch-norm statistics), not the optimizer's */
} TgStateTensor;

/* What a generated trainer is: its model's shapes and functions and its train block's settings. */
typedef struct {
    const char *name;             /* the train block's, for --help */
    const char *prog;             /* what its messages start with */
    const char *data_kind;        /* "mnist", "fashion_mnist", "cifar10" (tg_load_dataset) */
    const char *data_dir;         /* --data's default */
    const char *save;             /* --save's default, or NULL */
    long long epochs, seed;       /* --epochs' and --seed's defaults */
    long long log_every;          /* a loss line every log_every batches; --save-every's default */
    int shuffle;                  /* draw each epoch's order */
    int pad;                      /* transforms.Pad around each image */
    int batch, c, h, w;           /* a batch of the step: (batch, c, h, w), padding included */
    int classes;                  /* predict's scores per image */
    const char *const *class_names;
    const float *mean, *stdev;    /* Normalize, per channel (0 and 1: ToTensor alone) */
    size_t arena_bytes;
    const TgStateTensor *tensors; /* what a checkpoint holds */
    int ntensors;
    void (*init)(void *arena, uint64_t seed);
    float (*train_step)(void *arena, const float *x, const int64_t *y);
    void (*predict)(void *arena, const float *x, float *out);
    void (*threads)(int n);       /* --threads: OpenMP's thread count, or NULL */
    /* a device, or NULL: start it (before the data are read), push the arena's persistent tensors
     * to it (after init or resume), pull them back (before a checkpoint) */
    int (*start)(char *err, size_t errlen);
    void (*push)(const void *arena);
    void (*pull)(void *arena);
} TgTrainer;

/* The trainer's main: options, data, the epochs with the blitz's log lines and checkpoints, the
 * evaluation. Returns main's exit status (0, 1 on an error it printed, 2 on bad options). */
int tg_trainer_main(const TgTrainer *t, int argc, char **argv);

#endif
