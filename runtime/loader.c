/*
 * loader.c: torchvision's datasets and torch.utils.data.DataLoader, as a program's host code
 * uses them.
 *
 * tg_open_dataset finds a dataset's files where torchvision keeps them (ROOT/FashionMNIST/raw)
 * or in ROOT itself (Debian's /usr/share/datasets/fashion-mnist), and checks that they hold what
 * the program was compiled for: the count and size of the images are part of the program's
 * shapes.
 *
 * A TgIter is one iterator of a DataLoader, drawing from the program's generator as PyTorch
 * 1.13 does, so the same torch.manual_seed gives the same batches and leaves the generator in
 * the same state:
 *   - iter(loader) draws the iterator's base seed (one random64);
 *   - a shuffling loader's RandomSampler draws its own seed (another random64, modulo 2^63, as
 *     random_() on an int64 tensor) when its first batch is asked for, or at iter() when the
 *     loader has workers (they prefetch), and permutes the indices with torch.randperm on a
 *     generator seeded with it: for i < n - 1, swap i with i + random() % (n - i).
 * Batches are ToTensor, then Normalize, of each image, with Pad's zero bytes around it. A
 * TensorDataset's loader samples the same way and copies the chosen rows of each tensor.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tgrt.h"
#include "err.h"

static int exists(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    fclose(f);
    return 1;
}

/* The folder that holds the files: ROOT/sub when torchvision's layout is there, else ROOT. */
static const char *data_dir(const char *root, const char *sub, const char *probe, char *buf, size_t cap) {
    char path[4200];
    snprintf(buf, cap, "%s/%s", root, sub);
    snprintf(path, sizeof path, "%s/%s", buf, probe);
    if (exists(path))
        return buf;
    snprintf(path, sizeof path, "%s/%s.gz", buf, probe);
    return exists(path) ? buf : root;
}

int tg_open_dataset(const char *kind, const char *root, int train, int64_t n, int c, int h, int w,
                    TgDataset *d, char *err, size_t errcap) {
    char buf[4100];
    const char *dir = root;
    if (strlen(root) > 4000)
        return tg_fail(err, errcap, root, "directory name too long");
    if (!strcmp(kind, "fashion_mnist"))
        dir = data_dir(root, "FashionMNIST/raw", "t10k-labels-idx1-ubyte", buf, sizeof buf);
    else if (!strcmp(kind, "mnist"))
        dir = data_dir(root, "MNIST/raw", "t10k-labels-idx1-ubyte", buf, sizeof buf);
    else if (!strcmp(kind, "cifar10"))
        dir = data_dir(root, "cifar-10-batches-bin", "test_batch.bin", buf, sizeof buf);
    if (tg_load_dataset(kind, dir, train, d, err, errcap))
        return -1;
    if (d->n != n || d->c != c || d->h != h || d->w != w) {
        char what[64];
        snprintf(what, sizeof what, "%lld images of %dx%dx%d", (long long)d->n, d->c, d->h, d->w);
        tg_dataset_free(d);
        return tg_fail(err, errcap, dir, "holds %s; the program was compiled for %lld images of %dx%dx%d "
                                         "(the %s split)", what, (long long)n, c, h, w, train ? "train" : "test");
    }
    return 0;
}

void tg_randperm(TgRng *r, int64_t *out, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        out[i] = i;
    for (int64_t i = 0; i + 1 < n; i++) {
        int64_t z = (int64_t)(tg_rng_u32(r) % (uint64_t)(n - i));
        int64_t t = out[i];
        out[i] = out[z + i];
        out[z + i] = t;
    }
}

/* The samples a pass runs over: the dataset's images, or the TensorDataset's rows. */
static int64_t samples(const TgIter *it) { return it->data ? it->data->n : it->n; }

/* RandomSampler.__iter__: a seed from the program's generator, a permutation from a generator of its own. */
static void sampler_start(TgIter *it, TgRng *global) {
    TgRng own;
    uint64_t seed = tg_rng_u64(global) % (UINT64_C(1) << 63);
    tg_rng_seed(&own, seed);
    tg_randperm(&own, it->order, samples(it));
    it->sampled = 1;
}

int tg_iter_start(TgIter *it, TgRng *global, char *err, size_t errcap) {
    (void)tg_rng_u64(global); /* _BaseDataLoaderIter's base seed: drawn, used by workers only */
    it->next = 0;
    it->sampled = 0;
    it->ended = 0;
    int64_t n = samples(it);
    if (it->shuffle && !it->order) {
        it->order = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
        if (!it->order)
            return tg_fail(err, errcap, "DataLoader", "out of memory for a permutation of %lld indices", (long long)n);
    }
    if (it->shuffle && it->workers > 0)
        sampler_start(it, global);
    return 0;
}

/* The next batch's first position in the pass (the sampler drawing its permutation on the first),
 * or -1 when the pass is over. */
static int64_t advance(TgIter *it, TgRng *global) {
    if (it->next >= it->nbatch) {
        it->ended = it->ended ? it->ended : 1;
        return -1;
    }
    if (it->shuffle && !it->sampled)
        sampler_start(it, global);
    return it->next++ * it->batch;
}

int tg_iter_next(TgIter *it, TgRng *global, float *x, int64_t *y) {
    int64_t first = advance(it, global);
    if (first < 0)
        return -1;
    tg_dataset_batch(it->data, it->shuffle ? it->order : NULL, first, (int)it->batch, it->pad, it->mean, it->std, x,
                     y);
    return 0;
}

/* Rows order[first .. first + count) of each of the k tensors into rows 0 .. count of out. */
static void gather_rows(const TgIter *it, int64_t first, int64_t count, int k, const void *const *src,
                        const size_t *row, void *const *out) {
    for (int64_t j = 0; j < count; j++) {
        int64_t i = it->shuffle ? it->order[first + j] : first + j;
        for (int t = 0; t < k; t++)
            memcpy((char *)out[t] + (size_t)j * row[t], (const char *)src[t] + (size_t)i * row[t], row[t]);
    }
}

int tg_iter_next_rows(TgIter *it, TgRng *global, int k, const void *const *src, const size_t *row,
                      void *const *out) {
    int64_t first = advance(it, global);
    if (first < 0)
        return -1;
    gather_rows(it, first, it->batch, k, src, row, out);
    return 0;
}

/* The rest after the full batches: its first position and its count r, or -1. */
static int64_t rest(TgIter *it, TgRng *global, int64_t *r) {
    *r = samples(it) - it->nbatch * it->batch;
    if (it->ended != 1 || *r <= 0)
        return -1;
    if (it->shuffle && !it->sampled) /* no full batch came first: the sampler draws now */
        sampler_start(it, global);
    it->ended = 2;
    return it->nbatch * it->batch;
}

int tg_iter_rest(TgIter *it, TgRng *global, float *x, int64_t *y) {
    int64_t r, first = rest(it, global, &r);
    if (first < 0)
        return -1;
    tg_dataset_batch(it->data, it->shuffle ? it->order : NULL, first, (int)r, it->pad, it->mean, it->std, x, y);
    return 0;
}

int tg_iter_rest_rows(TgIter *it, TgRng *global, int k, const void *const *src, const size_t *row,
                      void *const *out) {
    int64_t r, first = rest(it, global, &r);
    if (first < 0)
        return -1;
    gather_rows(it, first, r, k, src, row, out);
    return 0;
}

void tg_iter_free(TgIter *it) {
    free(it->order);
    it->order = NULL;
}
