/*
 * data.c: datasets, the trainer's input: MNIST-style IDX files, CIFAR-10's
 * binary batches, float batches as torchvision builds them, and shuffling.
 *
 * An IDX file is a big-endian header (magic 0x000008RR: unsigned bytes, RR
 * dimensions; then one 32-bit size per dimension) followed by the bytes. We
 * read it through zlib's gzread, which recognizes the gzip magic 1f 8b and
 * passes any other file through unchanged, so MNIST's .gz downloads and
 * their unpacked copies load alike. Both headers are read and compared before
 * any pixel is, and the buffers grow as bytes actually arrive instead of
 * trusting the header's size, so a corrupt header claiming four billion
 * images fails with "file ends after ..." rather than a giant allocation.
 * CIFAR-10's .bin files are plain records of one label byte and 3072 pixel
 * bytes, already channel-major (R, G, B planes of 32x32), so records copy
 * straight into the dataset; every file is opened and sized before anything
 * is allocated. Every failure is a message naming the file, written to the
 * caller's buffer; the half-built dataset is freed and left zeroed.
 *
 * tg_dataset_batch reproduces ToTensor (the byte divided by 255 in float)
 * and Normalize ((v - mean) / std in float) value for value; padding is a
 * zero byte before normalization, as RandomCrop(padding=...) pads the image.
 * tg_shuffle is Fisher-Yates with unbiased bounded draws from tg_rng_u32.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "tgrt.h"
#include "err.h"

enum {
    IDX_IMAGES = 0x00000803, /* unsigned bytes, 3 dimensions (n, rows, cols) */
    IDX_LABELS = 0x00000801, /* unsigned bytes, 1 dimension (n) */
    MAX_SIDE = 32768,        /* rows and cols: far above any image dataset, keeps c*h*w an int */
    FIRST_CHUNK = 1 << 20,   /* buffers start here and double while data keeps coming */
    GZ_BUFFER = 1 << 17,     /* zlib's 8 KiB default makes large reads slower */
    CIFAR_SIDE = 32,
    CIFAR_PIXELS = 3 * 32 * 32,      /* one image: R, G, B planes */
    CIFAR_RECORD = 1 + CIFAR_PIXELS, /* label byte, then the pixels */
    CIFAR_TRAIN_FILES = 5,
    CIFAR_CLASSES = 10,
    PATH_CAP = 4096,
};

/* The whole dataset must fit comfortably in memory; more is a corrupt header. */
#define MAX_BYTES ((int64_t)1 << 36) /* 64 GiB */

/* ---- IDX files -------------------------------------------------------------- */

typedef struct {
    const char *path; /* as the caller named it, for messages */
    gzFile f;         /* zlib's reader: gzipped or plain alike */
    uint32_t dim[3];  /* sizes from the header, rank of them */
    int rank;         /* 3 for images, 1 for labels */
    int64_t header;   /* header bytes: 4 + 4 * rank */
} IdxFile;

static void idx_close(IdxFile *x) {
    if (x->f) gzclose(x->f);
    x->f = NULL;
}

/* Reads up to want bytes, fewer only at the end of the data: the count, or -1 on a zlib error. */
static int64_t gz_read_full(gzFile f, uint8_t *buf, int64_t want) {
    int64_t got = 0;
    while (got < want) {
        /* gzread takes an unsigned and returns an int: feed it at most 1 GiB at a time */
        unsigned ask = (unsigned)(want - got < (1 << 30) ? want - got : (1 << 30));
        int r = gzread(f, buf + got, ask);
        if (r < 0) return -1;
        if (r == 0) break;
        got += r;
    }
    return got;
}

static int gz_failure(IdxFile *x, char *err, size_t errcap) {
    int code;
    const char *msg = gzerror(x->f, &code);
    if (code == Z_ERRNO) return tg_fail(err, errcap, x->path, "read error: %s", strerror(errno));
    /* zlib prefixes the path itself; ours is already there */
    size_t plen = strlen(x->path);
    if (strncmp(msg, x->path, plen) == 0 && strncmp(msg + plen, ": ", 2) == 0) msg += plen + 2;
    return tg_fail(err, errcap, x->path, "corrupt gzip data: %s", msg);
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Decompressed sizes confuse a user comparing with ls -l, so say which we mean. */
static const char *size_kind(IdxFile *x) { return gzdirect(x->f) ? "" : " (decompressed)"; }

/* Opens an IDX file and reads its header, which must carry the given magic. */
static int idx_open(IdxFile *x, const char *path, uint32_t magic, const char *what, char *err,
                    size_t errcap) {
    memset(x, 0, sizeof *x);
    x->path = path;
    x->rank = (int)(magic & 0xff);
    x->header = 4 + 4 * (int64_t)x->rank;
    errno = 0;
    x->f = gzopen(path, "rb");
    if (!x->f) {
        /* errno 0 means zlib could not allocate its state */
        return tg_fail(err, errcap, path, "cannot open: %s",
                    errno ? strerror(errno) : "out of memory");
    }
    gzbuffer(x->f, GZ_BUFFER);
    uint8_t h[16];
    int64_t got = gz_read_full(x->f, h, x->header);
    if (got < 0) return gz_failure(x, err, errcap);
    /* A short file that does not even hold a magic number is more likely the wrong file. */
    if (got < 4)
        return tg_fail(err, errcap, path, "not an IDX %s file: only %lld bytes long%s", what,
                    (long long)got, size_kind(x));
    uint32_t m = be32(h);
    if (m != magic)
        return tg_fail(err, errcap, path, "not an IDX %s file: magic is 0x%08lx, expected 0x%08lx",
                    what, (unsigned long)m, (unsigned long)magic);
    if (got < x->header)
        return tg_fail(err, errcap, path, "file ends after %lld of %lld header bytes%s",
                    (long long)got, (long long)x->header, size_kind(x));
    for (int i = 0; i < x->rank; i++) x->dim[i] = be32(h + 4 + 4 * i);
    return 0;
}

/*
 * Reads the nbytes of data after the header into a new buffer, which grows
 * only as the data arrives, then insists on the end of the file: reading past
 * the end is also what makes zlib check the gzip trailer's CRC.
 */
static int idx_read_data(IdxFile *x, int64_t nbytes, uint8_t **out, char *err, size_t errcap) {
    int64_t cap = nbytes < FIRST_CHUNK ? nbytes : FIRST_CHUNK, got = 0;
    uint8_t *buf = malloc((size_t)cap);
    if (!buf) return tg_fail(err, errcap, x->path, "out of memory");
    for (;;) {
        int64_t r = gz_read_full(x->f, buf + got, cap - got);
        if (r < 0) {
            free(buf);
            return gz_failure(x, err, errcap);
        }
        got += r;
        if (got < cap || cap == nbytes) break;
        cap = cap > nbytes / 2 ? nbytes : 2 * cap;
        uint8_t *bigger = realloc(buf, (size_t)cap);
        if (!bigger) {
            free(buf);
            return tg_fail(err, errcap, x->path, "out of memory");
        }
        buf = bigger;
    }
    if (got < nbytes) {
        free(buf);
        return tg_fail(err, errcap, x->path, "file ends after %lld of %lld bytes%s",
                    (long long)(x->header + got), (long long)(x->header + nbytes), size_kind(x));
    }
    int64_t extra = 0, r;
    uint8_t scratch[4096];
    while ((r = gz_read_full(x->f, scratch, sizeof scratch)) > 0) extra += r;
    if (r < 0) {
        free(buf);
        return gz_failure(x, err, errcap);
    }
    /* Extra bytes mean the header undercounts: the data would be misread, not just longer. */
    if (extra > 0) {
        free(buf);
        return tg_fail(err, errcap, x->path,
                    "%lld bytes of trailing data after the %lld bytes the header describes%s",
                    (long long)extra, (long long)(x->header + nbytes), size_kind(x));
    }
    *out = buf;
    return 0;
}

int tg_load_idx(const char *images, const char *labels, int nclasses, TgDataset *d, char *err,
                size_t errcap) {
    memset(d, 0, sizeof *d);
    /* labels are bytes: 256 classes is the most a file can name */
    if (nclasses < 1 || nclasses > 256)
        return tg_fail(err, errcap, labels, "nclasses %d is out of range (1 to 256)", nclasses);
    IdxFile im, lb;
    memset(&lb, 0, sizeof lb);
    if (idx_open(&im, images, IDX_IMAGES, "images", err, errcap)) goto error;
    int64_t n = im.dim[0], rows = im.dim[1], cols = im.dim[2];
    /* Check sizes before anything is allocated: a corrupt header must not ask for terabytes. */
    if (n == 0) {
        tg_fail(err, errcap, images, "holds no images");
        goto error;
    }
    if (rows < 1 || rows > MAX_SIDE || cols < 1 || cols > MAX_SIDE) {
        tg_fail(err, errcap, images, "image size %lldx%lld is out of range (1 to %d pixels a side)",
             (long long)rows, (long long)cols, MAX_SIDE);
        goto error;
    }
    /* (the second test matters on 32-bit machines, where size_t is smaller than the limit) */
    if (n * rows * cols > MAX_BYTES || n * rows * cols > (int64_t)(SIZE_MAX / 2)) {
        tg_fail(err, errcap, images,
             "%lld images of %lldx%lld pixels are more than this loader accepts", (long long)n,
             (long long)rows, (long long)cols);
        goto error;
    }
    if (idx_open(&lb, labels, IDX_LABELS, "labels", err, errcap)) goto error;
    if (lb.dim[0] != n) {
        tg_fail(err, errcap, images, "holds %lld images but %s holds %lld labels", (long long)n,
             labels, (long long)lb.dim[0]);
        goto error;
    }
    if (idx_read_data(&im, n * rows * cols, &d->images, err, errcap)) goto error;
    if (idx_read_data(&lb, n, &d->labels, err, errcap)) goto error;
    for (int64_t i = 0; i < n; i++) {
        if (d->labels[i] >= nclasses) {
            tg_fail(err, errcap, labels, "label %d at index %lld is out of range for %d classes",
                 d->labels[i], (long long)i, nclasses);
            goto error;
        }
    }
    idx_close(&im);
    idx_close(&lb);
    d->n = n;
    d->c = 1;
    d->h = (int)rows;
    d->w = (int)cols;
    d->nclasses = nclasses;
    return 0;
error:
    idx_close(&im);
    idx_close(&lb);
    tg_dataset_free(d);
    return -1;
}

/* ---- CIFAR-10 ------------------------------------------------------------------ */

/* dir + "/" + name into out; -1 with a message when it does not fit. */
static int join(char *out, const char *dir, const char *name, char *err, size_t errcap) {
    int n = snprintf(out, PATH_CAP, "%s/%s", dir && *dir ? dir : ".", name);
    if (n < 0 || n >= PATH_CAP)
        return tg_fail(err, errcap, dir ? dir : ".", "directory name too long");
    return 0;
}

int tg_load_cifar10(const char *dir, int train, TgDataset *d, char *err, size_t errcap) {
    char path[CIFAR_TRAIN_FILES][PATH_CAP];
    FILE *f[CIFAR_TRAIN_FILES] = {NULL};
    int64_t records[CIFAR_TRAIN_FILES], n = 0;
    int nfiles = train ? CIFAR_TRAIN_FILES : 1;
    memset(d, 0, sizeof *d);
    /* Open and size every file first, so a missing fifth batch costs no reading. */
    for (int k = 0; k < nfiles; k++) {
        char name[32];
        if (train)
            snprintf(name, sizeof name, "data_batch_%d.bin", k + 1);
        else
            snprintf(name, sizeof name, "test_batch.bin");
        if (join(path[k], dir, name, err, errcap)) goto error;
        f[k] = fopen(path[k], "rb");
        if (!f[k]) {
            tg_fail(err, errcap, path[k], "cannot open: %s", strerror(errno));
            goto error;
        }
        long size;
        if (fseek(f[k], 0, SEEK_END) != 0 || (size = ftell(f[k])) < 0 ||
            fseek(f[k], 0, SEEK_SET) != 0) {
            tg_fail(err, errcap, path[k], "cannot find its size: %s", strerror(errno));
            goto error;
        }
        if (size == 0) {
            tg_fail(err, errcap, path[k], "file is empty");
            goto error;
        }
        if (size % CIFAR_RECORD != 0) {
            tg_fail(err, errcap, path[k], "size %ld bytes is not a whole number of %d-byte records",
                 size, CIFAR_RECORD);
            goto error;
        }
        records[k] = size / CIFAR_RECORD;
        n += records[k];
    }
    if (n * CIFAR_PIXELS > MAX_BYTES || n > (int64_t)(SIZE_MAX / CIFAR_PIXELS)) {
        tg_fail(err, errcap, path[0], "%lld records are more than this loader accepts", (long long)n);
        goto error;
    }
    d->images = malloc((size_t)n * CIFAR_PIXELS);
    d->labels = malloc((size_t)n);
    if (!d->images || !d->labels) {
        tg_fail(err, errcap, path[0], "out of memory");
        goto error;
    }
    int64_t at = 0; /* records loaded so far, from all files */
    for (int k = 0; k < nfiles; k++) {
        for (int64_t i = 0; i < records[k]; i++, at++) {
            int label = getc(f[k]);
            size_t got =
                label == EOF ? 0 : 1 + fread(d->images + at * CIFAR_PIXELS, 1, CIFAR_PIXELS, f[k]);
            if (got < CIFAR_RECORD) {
                /* the size was fine a moment ago: the file shrank or the disk failed */
                if (ferror(f[k]))
                    tg_fail(err, errcap, path[k], "read error: %s", strerror(errno));
                else
                    tg_fail(err, errcap, path[k], "file ends after %lld of %lld bytes",
                         (long long)(i * CIFAR_RECORD + (int64_t)got),
                         (long long)(records[k] * CIFAR_RECORD));
                goto error;
            }
            if (label >= CIFAR_CLASSES) {
                tg_fail(err, errcap, path[k], "label %d at index %lld is out of range for %d classes",
                     label, (long long)i, CIFAR_CLASSES);
                goto error;
            }
            d->labels[at] = (uint8_t)label;
        }
        fclose(f[k]);
        f[k] = NULL;
    }
    d->n = n;
    d->c = 3;
    d->h = d->w = CIFAR_SIDE;
    d->nclasses = CIFAR_CLASSES;
    return 0;
error:
    for (int k = 0; k < nfiles; k++)
        if (f[k]) fclose(f[k]);
    tg_dataset_free(d);
    return -1;
}

/* ---- by name ------------------------------------------------------------------ */

/*
 * Picks DIR/STEM or DIR/STEM.gz, whichever exists (the unpacked one when both
 * do: it reads faster). Any error other than "no such file" is left for the
 * loader to report against the file that has it.
 */
static int find_idx(char *out, const char *dir, const char *stem, char *err, size_t errcap) {
    char gz[PATH_CAP + 8];
    if (join(out, dir, stem, err, errcap)) return -1;
    FILE *f = fopen(out, "rb");
    if (f || errno != ENOENT) {
        if (f) fclose(f);
        return 0;
    }
    snprintf(gz, sizeof gz, "%s.gz", out);
    f = fopen(gz, "rb");
    if (f || errno != ENOENT) {
        if (f) fclose(f);
        if (strlen(gz) >= PATH_CAP) return tg_fail(err, errcap, dir, "directory name too long");
        memcpy(out, gz, strlen(gz) + 1);
        return 0;
    }
    char both[PATH_CAP + 8];
    snprintf(both, sizeof both, "%s[.gz]", out);
    return tg_fail(err, errcap, both, "cannot open: %s", strerror(ENOENT));
}

int tg_load_dataset(const char *kind, const char *dir, int train, TgDataset *d, char *err,
                    size_t errcap) {
    memset(d, 0, sizeof *d);
    if (strcmp(kind, "cifar10") == 0) return tg_load_cifar10(dir, train, d, err, errcap);
    if (strcmp(kind, "mnist") != 0 && strcmp(kind, "fashion_mnist") != 0)
        return tg_fail(err, errcap, kind,
                    "unknown dataset kind (known: mnist, fashion_mnist, cifar10)");
    /* Fashion-MNIST reuses MNIST's file names and format on purpose: a drop-in replacement. */
    const char *prefix = train ? "train" : "t10k";
    char stem[32], images[PATH_CAP], labels[PATH_CAP];
    snprintf(stem, sizeof stem, "%s-images-idx3-ubyte", prefix);
    if (find_idx(images, dir, stem, err, errcap)) return -1;
    snprintf(stem, sizeof stem, "%s-labels-idx1-ubyte", prefix);
    if (find_idx(labels, dir, stem, err, errcap)) return -1;
    return tg_load_idx(images, labels, 10, d, err, errcap);
}

void tg_dataset_free(TgDataset *d) {
    if (!d) return;
    free(d->images);
    free(d->labels);
    memset(d, 0, sizeof *d);
}

/* ---- batches and shuffling ------------------------------------------------------ */

/*
 * Every pixel value goes through the same two float operations, so a table of
 * the 256 possible results gives identical bits at a fraction of the cost; one
 * table per channel, so channels form the outer loop. order may be NULL for
 * the dataset's own order, mean and std NULL for ToTensor alone; order's
 * entries must be image indices below d->n.
 */
void tg_dataset_batch(const TgDataset *d, const int64_t *order, int64_t first, int batch, int pad,
                      const float *mean, const float *std, float *x, int64_t *y) {
    if (d->n <= 0 || batch <= 0) return;
    int64_t C = d->c, H = d->h, W = d->w, HP = d->h + 2 * pad, WP = d->w + 2 * pad;
    int64_t start = first % d->n; /* a batch past the end wraps around */
    if (start < 0) start += d->n;
    for (int64_t c = 0; c < C; c++) {
        float table[256];
        for (int p = 0; p < 256; p++) {
            /* ToTensor: the byte as float divided by 255 (times 1/255 rounds differently) */
            float v = (float)p / 255.0f;
            /* Normalize: subtract, then divide, each rounded to float */
            if (mean) v = v - mean[c];
            if (std) v = v / std[c];
            table[p] = v;
        }
        float zero = table[0]; /* padding is a zero byte before normalization */
        int64_t pos = start;
        for (int64_t b = 0; b < batch; b++, pos = pos + 1 == d->n ? 0 : pos + 1) {
            int64_t img = order ? order[pos] : pos;
            const uint8_t *src = d->images + (img * C + c) * H * W; /* (H, W) */
            float *dst = x + (b * C + c) * HP * WP;                 /* (HP, WP) */
            for (int64_t h = 0; h < HP; h++) {
                float *row = dst + h * WP;
                int64_t ih = h - pad;
                if (ih < 0 || ih >= H) {
                    for (int64_t w = 0; w < WP; w++) row[w] = zero;
                    continue;
                }
                const uint8_t *s = src + ih * W;
                for (int64_t w = 0; w < pad; w++) row[w] = zero;
                for (int64_t w = 0; w < W; w++) row[pad + w] = table[s[w]];
                for (int64_t w = pad + W; w < WP; w++) row[w] = zero;
            }
            if (c == 0) y[b] = d->labels[img];
        }
    }
}

/*
 * A uniform draw from [0, bound): the words below 2^32 mod bound would make the
 * low results more likely, so they are redrawn (at most half the words, and
 * for any realistic bound almost none).
 */
static uint64_t draw_below(TgRng *r, uint64_t bound) {
    if (bound <= (uint64_t)UINT32_MAX + 1) {
        uint32_t b = (uint32_t)bound; /* 2^32 wraps to 0, and then every word is fine */
        if (b == 0) return tg_rng_u32(r);
        uint32_t reject_below = (uint32_t)(0u - b) % b; /* 2^32 mod b */
        uint32_t u;
        do u = tg_rng_u32(r);
        while (u < reject_below);
        return u % b;
    }
    uint64_t reject_below = (0u - bound) % bound; /* 2^64 mod bound, for datasets beyond 4G items */
    uint64_t u;
    do u = tg_rng_u64(r);
    while (u < reject_below);
    return u % bound;
}

void tg_shuffle(TgRng *r, int64_t *order, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)draw_below(r, (uint64_t)i + 1);
        int64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}
