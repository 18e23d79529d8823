/*
 * test_data.c: the runtime's datasets (runtime/data.c).
 *
 * Small files in the real formats are written into a temporary directory:
 * IDX pairs plain and gzipped (through zlib, as MNIST ships them), CIFAR-10
 * batches of a few records. Loading must give back exactly the bytes written,
 * in the layout tgrt.h documents. Broken files (missing, truncated, wrong
 * magic, counts that disagree, labels out of range, CIFAR files that are not
 * whole records, corrupt gzip) each get their error message compared whole.
 * Batches are checked value by value against ToTensor + Normalize's float
 * arithmetic, padding and wraparound included; tg_shuffle must give a
 * permutation, the same one for the same seed, a known one for mt19937's
 * reference seed, and every permutation equally often.
 *
 * When /usr/share/datasets/fashion-mnist exists (Debian's dataset-fashion-mnist;
 * $TG_FASHION_MNIST_DIR overrides), the real Fashion-MNIST is loaded and its
 * published facts checked; without it that test only says it skipped.
 *
 * Usage: test_data   (no arguments)
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "tgrt.h"

static char tmp_dir[512];
static char err[2048];

/* A path in the temporary directory; four live at once, enough for any call here. */
static const char *tpath(const char *name) {
    static char buf[4][1024];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", tmp_dir, name);
    return p;
}

/* A subdirectory of the temporary directory; one that exists already is fine. */
static int mkdir_p(const char *name) {
    return mkdir(tpath(name), 0700) == 0 || errno == EEXIST ? 0 : -1;
}

static void write_file(const char *name, const void *data, size_t len, int gz) {
    const char *path = tpath(name);
    if (gz) {
        gzFile f = gzopen(path, "wb");
        ck_assert_msg(f != NULL, "cannot create %s", path);
        ck_assert_int_eq(gzwrite(f, data, (unsigned)len), (int)len);
        ck_assert_int_eq(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        ck_assert_msg(f != NULL, "cannot create %s", path);
        ck_assert_uint_eq(fwrite(data, 1, len, f), len);
        ck_assert_int_eq(fclose(f), 0);
    }
}

static uint8_t *read_whole(const char *name, size_t *len) {
    FILE *f = fopen(tpath(name), "rb");
    ck_assert_ptr_nonnull(f);
    static uint8_t buf[1 << 16];
    *len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return buf;
}

/*
 * An IDX file: big-endian magic, then rank sizes, then ndata bytes (which
 * need not agree with the sizes: broken files are made this way too).
 */
static void write_idx(const char *name, uint32_t magic, int rank, const uint32_t *dims,
                      const uint8_t *data, size_t ndata, int gz) {
    uint8_t buf[4096];
    uint32_t words[4] = {magic, dims[0], rank > 1 ? dims[1] : 0, rank > 2 ? dims[2] : 0};
    size_t n = 0;
    for (int i = 0; i <= rank; i++) {
        buf[n++] = (uint8_t)(words[i] >> 24);
        buf[n++] = (uint8_t)(words[i] >> 16);
        buf[n++] = (uint8_t)(words[i] >> 8);
        buf[n++] = (uint8_t)words[i];
    }
    ck_assert_uint_le(n + ndata, sizeof buf);
    if (ndata) memcpy(buf + n, data, ndata);
    write_file(name, buf, n + ndata, gz);
}

/* The IDX fixture: 3 images of 2 rows by 3 columns (not square, so a swap shows). */
enum { NI = 3, ROWS = 2, COLS = 3 };
static const uint8_t idx_pixels[NI * ROWS * COLS] = {
    0,   1,   2,   3,  4,  5, /* image 0 */
    255, 128, 127, 51, 17, 0, /* image 1 */
    200, 100, 50,  25, 12, 6, /* image 2 */
};
static const uint8_t idx_labels[NI] = {3, 0, 9};
static const uint32_t idx_image_dims[3] = {NI, ROWS, COLS};
static const uint32_t idx_label_dims[1] = {NI};

static void write_idx_pair(const char *images, const char *labels, int gz_images, int gz_labels) {
    write_idx(images, 0x803, 3, idx_image_dims, idx_pixels, sizeof idx_pixels, gz_images);
    write_idx(labels, 0x801, 1, idx_label_dims, idx_labels, sizeof idx_labels, gz_labels);
}

static void check_idx_fixture(const TgDataset *d) {
    ck_assert_int_eq(d->n, NI);
    ck_assert_int_eq(d->c, 1);
    ck_assert_int_eq(d->h, ROWS);
    ck_assert_int_eq(d->w, COLS);
    ck_assert_int_eq(d->nclasses, 10);
    ck_assert_mem_eq(d->images, idx_pixels, sizeof idx_pixels);
    ck_assert_mem_eq(d->labels, idx_labels, sizeof idx_labels);
}

/* Expected message for a file in the temporary directory. */
static const char *msg(const char *name, const char *text) {
    static char buf[2048];
    snprintf(buf, sizeof buf, "%s: %s", tpath(name), text);
    return buf;
}

static int load_idx(const char *images, const char *labels, TgDataset *d) {
    return tg_load_idx(tpath(images), tpath(labels), 10, d, err, sizeof err);
}

/* The lowest free file descriptor: it moves up when a loader leaks an open file. */
static int lowest_free_fd(void) {
    int fd = dup(0);
    ck_assert_int_ge(fd, 0);
    close(fd);
    return fd;
}

static void load_idx_ok(const char *images, const char *labels, TgDataset *d) {
    ck_assert_msg(tg_load_idx(tpath(images), tpath(labels), 10, d, err, sizeof err) == 0, "%s",
                  err);
}

/* The CIFAR fixture: record r has label labels[r] and pixel i of it is (7*r + i) mod 256. */
static void cifar_record(uint8_t *rec, int r, int label) {
    rec[0] = (uint8_t)label;
    for (int i = 0; i < 3072; i++) rec[1 + i] = (uint8_t)((7 * r + i) % 256);
}

/* Writes count records numbered first.. with the given labels. */
static void write_cifar(const char *name, int first, int count, const int *labels) {
    static uint8_t buf[8 * 3073];
    ck_assert_int_le(count, 8);
    for (int r = 0; r < count; r++) cifar_record(buf + r * 3073, first + r, labels[r]);
    write_file(name, buf, (size_t)count * 3073, 0);
}

static void check_cifar_record(const TgDataset *d, int64_t at, int r, int label) {
    uint8_t rec[3073];
    cifar_record(rec, r, label);
    ck_assert_int_eq(d->labels[at], label);
    ck_assert_msg(memcmp(d->images + at * 3072, rec + 1, 3072) == 0,
                  "record %d (dataset index %lld) differs", r, (long long)at);
}

/* Expects a failed load with exactly this message, and an empty dataset left behind. */
#define ck_fails_with(call, d, want)                                                               \
    do {                                                                                           \
        memset(err, 0, sizeof err);                                                                \
        ck_assert_int_eq((call), -1);                                                              \
        ck_assert_str_eq(err, (want));                                                             \
        ck_assert_ptr_null((d)->images);                                                           \
        ck_assert_ptr_null((d)->labels);                                                           \
        ck_assert_int_eq((d)->n, 0);                                                               \
    } while (0)

/* ---- loading good files ------------------------------------------------------------- */

START_TEST(test_idx_plain_and_gzip) {
    TgDataset d;
    write_idx_pair("p-img", "p-lbl", 0, 0);
    load_idx_ok("p-img", "p-lbl", &d);
    check_idx_fixture(&d);
    tg_dataset_free(&d);
    ck_assert_ptr_null(d.images); /* freed and zeroed: a second free is harmless */
    tg_dataset_free(&d);

    write_idx_pair("g-img.gz", "g-lbl.gz", 1, 1);
    size_t len;
    const uint8_t *raw = read_whole("g-img.gz", &len);
    ck_assert(raw[0] == 0x1f && raw[1] == 0x8b); /* really gzipped */
    load_idx_ok("g-img.gz", "g-lbl.gz", &d);
    check_idx_fixture(&d);
    tg_dataset_free(&d);

    /* mixed, and a .gz name whose content is plain */
    write_idx_pair("m-img", "m-lbl.gz", 1, 0);
    load_idx_ok("m-img", "m-lbl.gz", &d);
    check_idx_fixture(&d);
    tg_dataset_free(&d);
}
END_TEST

/* Larger than the loader's first 1 MiB buffer, so it must grow it, through gzip too. */
START_TEST(test_idx_large) {
    enum { N = 1500, SIDE = 28 };
    uint8_t *pix = malloc((size_t)N * SIDE * SIDE), lab[N];
    ck_assert_ptr_nonnull(pix);
    for (int i = 0; i < N * SIDE * SIDE; i++) pix[i] = (uint8_t)(i * 2654435761u >> 13);
    for (int i = 0; i < N; i++) lab[i] = (uint8_t)(i % 10);
    for (int gz = 0; gz <= 1; gz++) {
        gzFile g = gz ? gzopen(tpath("big-img"), "wb") : NULL;
        FILE *f = gz ? NULL : fopen(tpath("big-img"), "wb");
        uint8_t h[16] = {0, 0, 8, 3, 0, 0, N >> 8, N & 0xff, 0, 0, 0, SIDE, 0, 0, 0, SIDE};
        if (gz) {
            ck_assert_int_eq(gzwrite(g, h, 16), 16);
            ck_assert_int_eq(gzwrite(g, pix, N * SIDE * SIDE), N * SIDE * SIDE);
            gzclose(g);
        } else {
            ck_assert_uint_eq(fwrite(h, 1, 16, f), 16);
            ck_assert_uint_eq(fwrite(pix, 1, N * SIDE * SIDE, f), N * SIDE * SIDE);
            fclose(f);
        }
        uint32_t ld[1] = {N};
        write_idx("big-lbl", 0x801, 1, ld, lab, 0, 0);
        FILE *l = fopen(tpath("big-lbl"), "ab");
        ck_assert_uint_eq(fwrite(lab, 1, N, l), N);
        fclose(l);
        TgDataset d;
        load_idx_ok("big-img", "big-lbl", &d);
        ck_assert_int_eq(d.n, N);
        ck_assert_int_eq(d.h, SIDE);
        ck_assert_int_eq(d.w, SIDE);
        ck_assert_mem_eq(d.images, pix, (size_t)N * SIDE * SIDE);
        ck_assert_mem_eq(d.labels, lab, N);
        tg_dataset_free(&d);
    }
    /* a byte flipped in the middle of the deflate stream: corrupt data well after the header */
    FILE *f = fopen(tpath("big-img"), "r+b");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size / 2, SEEK_SET);
    int c = getc(f);
    fseek(f, size / 2, SEEK_SET);
    putc(c ^ 0x55, f);
    fclose(f);
    TgDataset d;
    memset(err, 0, sizeof err);
    ck_assert_int_eq(load_idx("big-img", "big-lbl", &d), -1);
    const char *want = msg("big-img", "corrupt gzip data: ");
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
    ck_assert_ptr_null(d.images);
    free(pix);
}
END_TEST

START_TEST(test_load_dataset_idx) {
    TgDataset d;
    ck_assert_int_eq(mkdir_p("mn"), 0);
    /* train: gzipped images, plain labels, as a user may have unpacked one */
    write_idx_pair("mn/train-images-idx3-ubyte.gz", "mn/train-labels-idx1-ubyte", 1, 0);
    ck_assert_msg(tg_load_dataset("mnist", tpath("mn"), 1, &d, err, sizeof err) == 0, "%s", err);
    check_idx_fixture(&d);
    tg_dataset_free(&d);
    /* test: both forms present, and the plain one wins; the gzipped one holds other pixels */
    write_idx_pair("mn/t10k-images-idx3-ubyte", "mn/t10k-labels-idx1-ubyte.gz", 0, 1);
    uint8_t other[sizeof idx_pixels];
    memset(other, 77, sizeof other);
    write_idx("mn/t10k-images-idx3-ubyte.gz", 0x803, 3, idx_image_dims, other, sizeof other, 1);
    ck_assert_msg(tg_load_dataset("fashion_mnist", tpath("mn"), 0, &d, err, sizeof err) == 0, "%s",
                  err);
    check_idx_fixture(&d);
    tg_dataset_free(&d);
}
END_TEST

START_TEST(test_cifar) {
    TgDataset d;
    ck_assert_int_eq(mkdir_p("cf"), 0);
    int test_labels[3] = {6, 9, 0};
    write_cifar("cf/test_batch.bin", 100, 3, test_labels);
    ck_assert_msg(tg_load_cifar10(tpath("cf"), 0, &d, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(d.n, 3);
    ck_assert_int_eq(d.c, 3);
    ck_assert_int_eq(d.h, 32);
    ck_assert_int_eq(d.w, 32);
    ck_assert_int_eq(d.nclasses, 10);
    for (int r = 0; r < 3; r++) check_cifar_record(&d, r, 100 + r, test_labels[r]);
    tg_dataset_free(&d);

    /* train: five batches concatenated in order, any whole number of records each */
    int l1[2] = {1, 2}, l2[1] = {3};
    write_cifar("cf/data_batch_1.bin", 0, 2, l1);
    write_cifar("cf/data_batch_2.bin", 2, 1, l2);
    char want[2048];
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory",
             tpath("cf/data_batch_3.bin"));
    ck_fails_with(tg_load_cifar10(tpath("cf"), 1, &d, err, sizeof err), &d, want);
    int l3[1] = {4}, l4[3] = {5, 7, 8}, l5[1] = {9};
    write_cifar("cf/data_batch_3.bin", 3, 1, l3);
    write_cifar("cf/data_batch_4.bin", 4, 3, l4);
    write_cifar("cf/data_batch_5.bin", 7, 1, l5);
    ck_assert_msg(tg_load_dataset("cifar10", tpath("cf"), 1, &d, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(d.n, 8);
    static const int all[8] = {1, 2, 3, 4, 5, 7, 8, 9};
    for (int r = 0; r < 8; r++) check_cifar_record(&d, r, r, all[r]);
    tg_dataset_free(&d);
}
END_TEST

/* ---- batches ------------------------------------------------------------------------- */

/* What ToTensor + Normalize compute, each step rounded to float (volatile: no contraction). */
static float normalized(int p, float mean, float std) {
    volatile float v = (float)p / 255.0f;
    volatile float s = v - mean;
    return s / std;
}

/* The batch of an IDX fixture: every value of every image, padding and wraparound checked. */
START_TEST(test_batch_mnist) {
    TgDataset d;
    write_idx_pair("b-img", "b-lbl", 0, 0);
    load_idx_ok("b-img", "b-lbl", &d);
    const float mean[1] = {0.1307f}, std[1] = {0.3081f};
    const int64_t order[NI] = {2, 0, 1};
    enum { B = 5, PAD = 2, HP = ROWS + 2 * PAD, WP = COLS + 2 * PAD };
    float x[B * HP * WP + 1];
    int64_t y[B + 1];
    x[B * HP * WP] = 1234.5f; /* sentinels: nothing written past the batch */
    y[B] = -7;
    /* positions 7.. wrap modulo 3: 1, 2, 0, 1, 2 -> images 0, 1, 2, 0, 1 */
    tg_dataset_batch(&d, order, 7, B, PAD, mean, std, x, y);
    static const int img_at[B] = {0, 1, 2, 0, 1};
    float pad_value = (0.0f - mean[0]) / std[0];
    for (int b = 0; b < B; b++) {
        ck_assert_int_eq(y[b], idx_labels[img_at[b]]);
        for (int h = 0; h < HP; h++)
            for (int w = 0; w < WP; w++) {
                int ih = h - PAD, iw = w - PAD;
                float want = ih < 0 || ih >= ROWS || iw < 0 || iw >= COLS
                                 ? pad_value
                                 : normalized(idx_pixels[(img_at[b] * ROWS + ih) * COLS + iw],
                                              mean[0], std[0]);
                float got = x[(b * HP + h) * WP + w];
                ck_assert_msg(got == want, "x[%d, 0, %d, %d] = %a, want %a", b, h, w, got, want);
            }
    }
    ck_assert(x[B * HP * WP] == 1234.5f);
    ck_assert_int_eq(y[B], -7);
    ck_assert(pad_value < -0.42f && pad_value > -0.43f); /* -0.1307/0.3081 */

    /* NULL order is the dataset's order; a negative first counts from the end */
    float x1[ROWS * COLS];
    int64_t y1[1];
    tg_dataset_batch(&d, NULL, -1, 1, 0, mean, std, x1, y1);
    ck_assert_int_eq(y1[0], idx_labels[2]);
    ck_assert(x1[0] == normalized(200, mean[0], std[0]));
    tg_dataset_batch(&d, NULL, 3, 1, 0, mean, std, x1, y1);
    ck_assert_int_eq(y1[0], idx_labels[0]);
    tg_dataset_free(&d);
}
END_TEST

/* ToTensor alone (NULL mean, std) divides by 255 in float, bit for bit, for every byte. */
START_TEST(test_batch_to_tensor_exact) {
    uint8_t pix[256], lab[1] = {0};
    for (int p = 0; p < 256; p++) pix[p] = (uint8_t)p;
    uint32_t dims[3] = {1, 16, 16}, ld[1] = {1};
    write_idx("all-img", 0x803, 3, dims, pix, sizeof pix, 0);
    write_idx("all-lbl", 0x801, 1, ld, lab, 1, 0);
    TgDataset d;
    load_idx_ok("all-img", "all-lbl", &d);
    float x[256];
    int64_t y[1];
    tg_dataset_batch(&d, NULL, 0, 1, 0, NULL, NULL, x, y);
    int differs_from_reciprocal = 0;
    for (int p = 0; p < 256; p++) {
        volatile float want = (float)p / 255.0f, recip = (float)p * (1.0f / 255.0f);
        ck_assert_msg(x[p] == want, "byte %d -> %a, want %a", p, x[p], want);
        differs_from_reciprocal += recip != want;
    }
    /* the check above would catch a multiply by 1/255: some bytes round differently */
    ck_assert_int_gt(differs_from_reciprocal, 0);
    ck_assert(x[0] == 0.0f && x[255] == 1.0f);
    /* mean 0.5, std 0.5 maps 0 and 255 exactly to -1 and 1 */
    const float half[1] = {0.5f};
    tg_dataset_batch(&d, NULL, 0, 1, 0, half, half, x, y);
    ck_assert(x[0] == -1.0f && x[255] == 1.0f);
    tg_dataset_free(&d);
}
END_TEST

/* Three channels, each with its own mean and std, padding included. */
START_TEST(test_batch_cifar) {
    TgDataset d;
    ck_assert_int_eq(mkdir_p("cb"), 0);
    int labels[2] = {4, 8};
    write_cifar("cb/test_batch.bin", 0, 2, labels);
    ck_assert_msg(tg_load_cifar10(tpath("cb"), 0, &d, err, sizeof err) == 0, "%s", err);
    const float mean[3] = {0.4914f, 0.4822f, 0.4465f}, std[3] = {0.2470f, 0.2435f, 0.2616f};
    enum { PAD = 4, S = 32 + 2 * PAD };
    static float x[3 * 3 * S * S];
    int64_t y[3];
    const int64_t order[2] = {1, 0};
    tg_dataset_batch(&d, order, 0, 3, PAD, mean, std, x, y);
    static const int img_at[3] = {1, 0, 1};
    for (int b = 0; b < 3; b++) {
        ck_assert_int_eq(y[b], labels[img_at[b]]);
        for (int c = 0; c < 3; c++)
            for (int h = 0; h < S; h++)
                for (int w = 0; w < S; w++) {
                    int ih = h - PAD, iw = w - PAD,
                        inside = ih >= 0 && ih < 32 && iw >= 0 && iw < 32;
                    int p = inside ? d.images[img_at[b] * 3072 + (c * 32 + ih) * 32 + iw] : 0;
                    float want = normalized(p, mean[c], std[c]);
                    float got = x[((b * 3 + c) * S + h) * S + w];
                    ck_assert_msg(got == want, "x[%d, %d, %d, %d] = %a, want %a", b, c, h, w, got,
                                  want);
                }
    }
    /* the channels' paddings differ: each uses its own mean and std */
    ck_assert(x[0] != x[S * S] && x[S * S] != x[2 * S * S]);
    tg_dataset_free(&d);
}
END_TEST

/* ---- shuffling ------------------------------------------------------------------------ */

static void iota(int64_t *a, int64_t n) {
    for (int64_t i = 0; i < n; i++) a[i] = i;
}

START_TEST(test_shuffle_permutation) {
    enum { N = 1000 };
    static int64_t a[N], b[N];
    static char seen[N];
    TgRng r;
    tg_rng_seed(&r, 42);
    iota(a, N);
    tg_shuffle(&r, a, N);
    memset(seen, 0, sizeof seen);
    int moved = 0;
    for (int i = 0; i < N; i++) {
        ck_assert_msg(a[i] >= 0 && a[i] < N && !seen[a[i]], "order[%d] = %lld: not a permutation",
                      i, (long long)a[i]);
        seen[a[i]] = 1;
        moved += a[i] != i;
    }
    ck_assert_int_gt(moved, N / 2);
    /* the same seed, the same order */
    tg_rng_seed(&r, 42);
    iota(b, N);
    tg_shuffle(&r, b, N);
    ck_assert_mem_eq(a, b, sizeof a);
    /* another seed, another order */
    tg_rng_seed(&r, 43);
    iota(b, N);
    tg_shuffle(&r, b, N);
    ck_assert(memcmp(a, b, sizeof a) != 0);
    /* n = 0 and n = 1 draw nothing */
    tg_rng_seed(&r, 5489);
    tg_shuffle(&r, b, 0);
    tg_shuffle(&r, b, 1);
    ck_assert_uint_eq(tg_rng_u32(&r), 3499211612u);
}
END_TEST

/*
 * mt19937 seeded 5489 draws 3499211612, 581869302, 3890346734, 3586334585
 * (C++11's reference sequence). i = 4: bound 5 rejects words below
 * 2^32 mod 5 = 1, j = 3499211612 mod 5 = 2; i = 3: j = 581869302 mod 4 = 2;
 * i = 2: j = 3890346734 mod 3 = 2; i = 1: j = 3586334585 mod 2 = 1:
 * [0 1 2 3 4] -> [0 1 4 3 2] -> [0 1 3 4 2] -> same -> same.
 */
START_TEST(test_shuffle_known_answer) {
    TgRng r;
    int64_t a[5];
    tg_rng_seed(&r, 5489);
    iota(a, 5);
    tg_shuffle(&r, a, 5);
    static const int64_t want[5] = {0, 1, 3, 4, 2};
    ck_assert_mem_eq(a, want, sizeof want);
    ck_assert_uint_eq(tg_rng_u32(&r), 545404204u); /* exactly four words used */
}
END_TEST

/* All 6 orders of 3 items equally likely: a biased draw (or swapping with any j) fails this. */
START_TEST(test_shuffle_uniform) {
    enum { TRIALS = 60000 };
    int count[3][3][3];
    memset(count, 0, sizeof count);
    TgRng r;
    tg_rng_seed(&r, 7);
    for (int t = 0; t < TRIALS; t++) {
        int64_t a[3] = {0, 1, 2};
        tg_shuffle(&r, a, 3);
        count[a[0]][a[1]][a[2]]++;
    }
    /* each order expects 10000 with standard deviation 91; allow 6 of them */
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 3; k++) {
                int perm = i != j && j != k && i != k;
                int c = count[i][j][k];
                if (perm)
                    ck_assert_msg(c > 10000 - 550 && c < 10000 + 550, "order %d%d%d drawn %d times",
                                  i, j, k, c);
                else
                    ck_assert_int_eq(c, 0);
            }
}
END_TEST

/* ---- DataLoader iterators (loader.c): PyTorch 1.13's draws ------------------------------ */

/* torch.Generator().manual_seed(12345); torch.randperm(n, generator=g), printed by PyTorch 1.13 */
START_TEST(test_randperm_matches_torch) {
    TgRng r;
    static int64_t p[60000];
    tg_rng_seed(&r, 12345);
    tg_randperm(&r, p, 10);
    static const int64_t want10[10] = {0, 7, 1, 6, 4, 2, 8, 9, 5, 3};
    ck_assert_mem_eq(p, want10, sizeof want10);
    tg_rng_seed(&r, 12345);
    tg_randperm(&r, p, 60000);
    static const int64_t want60000[8] = {30690, 49102, 47981, 51624, 17952, 19972, 27580, 30320};
    ck_assert_mem_eq(p, want60000, sizeof want60000);
}
END_TEST

/* torch.manual_seed(0); it = iter(DataLoader(TensorDataset(arange(10)), batch_size=4, shuffle=True,
 * num_workers=W)); r = torch.rand(1); next(it): PyTorch 1.13 gives [1, 2, 3, 5] and 0.0884774 for
 * W = 0 (the sampler draws at the first next()), [6, 7, 1, 4] and 0.3074228 for W = 2 (at iter()),
 * and the generator continues with 0.6340787 either way. */
/* A TensorDataset's loader: each tensor's rows in the sampler's order (the draws of the image
 * loader: the base seed, the sampler's seed, randperm), the end of the full batches, then the
 * partial last one, once, and not after a pass that broke off. */
START_TEST(test_iter_rows) {
    float x[10][3];
    int64_t y[10];
    for (int i = 0; i < 10; i++) {
        y[i] = 100 + i;
        for (int k = 0; k < 3; k++)
            x[i][k] = (float)(10 * i + k);
    }
    TgRng g, h, own;
    tg_rng_seed(&g, 7);
    tg_rng_seed(&h, 7);
    (void)tg_rng_u64(&h);
    tg_rng_seed(&own, tg_rng_u64(&h) % (UINT64_C(1) << 63));
    int64_t order[10];
    tg_randperm(&own, order, 10);
    char err[256];
    TgIter it = {NULL, 4, 2, 1, 0, 0, NULL, NULL, NULL, 0, 0, 10, 0};
    ck_assert_int_eq(tg_iter_start(&it, &g, err, sizeof err), 0);
    float bx[4][3];
    int64_t by[4];
    const void *const src[] = {x, y};
    const size_t row[] = {sizeof x[0], sizeof y[0]};
    void *const out[] = {bx, by};
    for (int b = 0; b < 2; b++) {
        ck_assert_int_eq(tg_iter_next_rows(&it, &g, 2, src, row, out), 0);
        for (int j = 0; j < 4; j++) {
            int64_t i = order[4 * b + j];
            ck_assert_int_eq(by[j], 100 + i);
            for (int k = 0; k < 3; k++)
                ck_assert(bx[j][k] == x[i][k]);
        }
    }
    ck_assert_int_eq(tg_iter_next_rows(&it, &g, 2, src, row, out), -1); /* the full batches are over */
    ck_assert_int_eq(tg_iter_rest_rows(&it, &g, 2, src, row, out), 0);  /* the 2 rows left: the last batch */
    for (int j = 0; j < 2; j++)
        ck_assert_int_eq(by[j], 100 + order[8 + j]);
    ck_assert_int_eq(tg_iter_rest_rows(&it, &g, 2, src, row, out), -1); /* once */
    ck_assert_int_eq(tg_iter_start(&it, &g, err, sizeof err), 0);     /* a pass that breaks: no rest */
    ck_assert_int_eq(tg_iter_next_rows(&it, &g, 2, src, row, out), 0);
    ck_assert_int_eq(tg_iter_rest_rows(&it, &g, 2, src, row, out), -1);
    tg_iter_free(&it);
}
END_TEST

START_TEST(test_iter_draws_as_torch) {
    uint8_t images[10], labels[10];
    for (int i = 0; i < 10; i++)
        images[i] = (uint8_t)(i * 20), labels[i] = (uint8_t)i;
    TgDataset d = {.n = 10, .c = 1, .h = 1, .w = 1, .images = images, .labels = labels, .nclasses = 10};
    for (int workers = 0; workers <= 2; workers += 2) {
        TgRng g;
        tg_rng_seed(&g, 0);
        TgIter it = {&d, 4, 2, 1, workers, 0, NULL, NULL, NULL, 0, 0, 0, 0};
        ck_assert_int_eq(tg_iter_start(&it, &g, err, sizeof err), 0);
        float r, x[4], after;
        int64_t y[4];
        tg_uniform(&g, TG_F32, &r, 1, 0, 1);
        ck_assert_int_eq(tg_iter_next(&it, &g, x, y), 0);
        tg_uniform(&g, TG_F32, &after, 1, 0, 1);
        static const int64_t want0[4] = {1, 2, 3, 5}, want2[4] = {6, 7, 1, 4};
        ck_assert_mem_eq(y, workers ? want2 : want0, sizeof want0);
        ck_assert_float_eq_tol(r, workers ? 0.30742281675338745f : 0.08847743272781372f, 1e-7f);
        ck_assert_float_eq_tol(after, 0.6340786814689636f, 1e-7f);
        ck_assert_float_eq(x[0], (float)images[y[0]] / 255.0f); /* ToTensor */
        ck_assert_int_eq(tg_iter_next(&it, &g, x, y), 0);
        ck_assert_int_eq(tg_iter_next(&it, &g, x, y), -1); /* two whole batches of 4, the rest dropped */
        tg_iter_free(&it);
    }
}
END_TEST

START_TEST(test_open_dataset_checks_size) {
    TgDataset d;
    ck_assert_int_eq(mkdir_p("fm"), 0);
    ck_assert_int_eq(mkdir_p("fm/FashionMNIST"), 0);
    ck_assert_int_eq(mkdir_p("fm/FashionMNIST/raw"), 0);
    write_idx_pair("fm/FashionMNIST/raw/t10k-images-idx3-ubyte", "fm/FashionMNIST/raw/t10k-labels-idx1-ubyte", 0, 0);
    /* torchvision's layout under root is found; the count is the fixture's, not 10000 */
    ck_assert_int_eq(tg_open_dataset("fashion_mnist", tpath("fm"), 0, 10000, 1, 28, 28, &d, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "FashionMNIST/raw: holds ") && strstr(err, "compiled for 10000 images of 1x28x28"),
                  "%s", err);
    ck_assert_ptr_null(d.images);
    TgDataset want;
    ck_assert_int_eq(tg_load_dataset("fashion_mnist", tpath("fm/FashionMNIST/raw"), 0, &want, err, sizeof err), 0);
    ck_assert_msg(tg_open_dataset("fashion_mnist", tpath("fm"), 0, want.n, want.c, want.h, want.w, &d, err,
                                  sizeof err) == 0, "%s", err);
    check_idx_fixture(&d);
    tg_dataset_free(&d);
    tg_dataset_free(&want);
}
END_TEST

/* ---- broken files ---------------------------------------------------------------------- */

START_TEST(test_idx_errors) {
    TgDataset d;
    int fd = lowest_free_fd();
    write_idx_pair("ok-img", "ok-lbl", 0, 0);
    write_idx_pair("okz-img", "okz-lbl", 1, 1);

    ck_fails_with(load_idx("nope-img", "ok-lbl", &d), &d,
                  msg("nope-img", "cannot open: No such file or directory"));
    ck_fails_with(load_idx("ok-img", "nope-lbl", &d), &d,
                  msg("nope-lbl", "cannot open: No such file or directory"));

    /* swapped arguments, and a text file */
    ck_fails_with(
        load_idx("ok-lbl", "ok-img", &d), &d,
        msg("ok-lbl", "not an IDX images file: magic is 0x00000801, expected 0x00000803"));
    ck_fails_with(
        load_idx("ok-img", "okz-img", &d), &d,
        msg("okz-img", "not an IDX labels file: magic is 0x00000803, expected 0x00000801"));
    write_file("text", "hello, world\n", 13, 0);
    ck_fails_with(load_idx("text", "ok-lbl", &d), &d,
                  msg("text", "not an IDX images file: magic is 0x68656c6c, expected 0x00000803"));
    write_file("empty", "", 0, 0);
    ck_fails_with(load_idx("empty", "ok-lbl", &d), &d,
                  msg("empty", "not an IDX images file: only 0 bytes long"));

    /* truncated: in the header, in the data, plain and gzipped */
    write_file("short-hdr", "\0\0\x08\x03\0\0\0\x03\0\0", 10, 0);
    ck_fails_with(load_idx("short-hdr", "ok-lbl", &d), &d,
                  msg("short-hdr", "file ends after 10 of 16 header bytes"));
    write_idx("trunc-img", 0x803, 3, idx_image_dims, idx_pixels, sizeof idx_pixels - 4, 0);
    ck_fails_with(load_idx("trunc-img", "ok-lbl", &d), &d,
                  msg("trunc-img", "file ends after 30 of 34 bytes"));
    write_idx("trunc-img.gz", 0x803, 3, idx_image_dims, idx_pixels, sizeof idx_pixels - 4, 1);
    ck_fails_with(load_idx("trunc-img.gz", "ok-lbl", &d), &d,
                  msg("trunc-img.gz", "file ends after 30 of 34 bytes (decompressed)"));
    write_idx("trunc-lbl", 0x801, 1, idx_label_dims, idx_labels, 2, 0);
    ck_fails_with(load_idx("ok-img", "trunc-lbl", &d), &d,
                  msg("trunc-lbl", "file ends after 10 of 11 bytes"));
    /* a gzip stream cut short: zlib yields what it can, the rest is missing */
    size_t len;
    uint8_t cut[256];
    const uint8_t *gz = read_whole("okz-img", &len);
    memcpy(cut, gz, len);
    write_file("cut-img.gz", cut, len - 10, 0);
    memset(err, 0, sizeof err);
    ck_assert_int_eq(load_idx("cut-img.gz", "ok-lbl", &d), -1);
    const char *want_start = msg("cut-img.gz", "file ends after ");
    ck_assert_msg(strncmp(err, want_start, strlen(want_start)) == 0, "%s", err);
    ck_assert_msg(strstr(err, " of 34 bytes (decompressed)"), "%s", err);
    ck_assert_ptr_null(d.images);
    /* a wrong CRC in the gzip trailer: the data is there but corrupt */
    cut[len - 8] ^= 0xff;
    write_file("crc-img.gz", cut, len, 0);
    ck_fails_with(load_idx("crc-img.gz", "ok-lbl", &d), &d,
                  msg("crc-img.gz", "corrupt gzip data: incorrect data check"));
    /* more bytes than the header describes */
    uint8_t longer[sizeof idx_pixels + 5] = {0};
    memcpy(longer, idx_pixels, sizeof idx_pixels);
    write_idx("long-img", 0x803, 3, idx_image_dims, longer, sizeof longer, 0);
    ck_fails_with(
        load_idx("long-img", "ok-lbl", &d), &d,
        msg("long-img", "5 bytes of trailing data after the 34 bytes the header describes"));

    /* counts that disagree */
    uint32_t two[1] = {2};
    write_idx("two-lbl", 0x801, 1, two, idx_labels, 2, 0);
    char want[2048];
    snprintf(want, sizeof want, "%s: holds 3 images but %s holds 2 labels", tpath("ok-img"),
             tpath("two-lbl"));
    ck_fails_with(load_idx("ok-img", "two-lbl", &d), &d, want);

    /* a label out of range, at the last index */
    uint8_t labs[8] = {0, 1, 2, 3, 4, 5, 6, 12}, pix8[8 * 4] = {0};
    uint32_t d8[3] = {8, 2, 2}, l8[1] = {8};
    write_idx("eight-img", 0x803, 3, d8, pix8, sizeof pix8, 0);
    write_idx("bad-lbl.gz", 0x801, 1, l8, labs, 8, 1);
    ck_fails_with(load_idx("eight-img", "bad-lbl.gz", &d), &d,
                  msg("bad-lbl.gz", "label 12 at index 7 is out of range for 10 classes"));
    ck_fails_with(tg_load_idx(tpath("ok-img"), tpath("ok-lbl"), 9, &d, err, sizeof err), &d,
                  msg("ok-lbl", "label 9 at index 2 is out of range for 9 classes"));
    ck_fails_with(tg_load_idx(tpath("ok-img"), tpath("ok-lbl"), 0, &d, err, sizeof err), &d,
                  msg("ok-lbl", "nclasses 0 is out of range (1 to 256)"));
    ck_assert_int_eq(lowest_free_fd(), fd); /* every failure closed its files */
}
END_TEST

/* Absurd headers fail before anything big is allocated. */
START_TEST(test_idx_absurd_sizes) {
    TgDataset d;
    write_idx_pair("ok-img", "ok-lbl", 0, 0);
    uint32_t zero_n[3] = {0, 28, 28}, zero_side[3] = {3, 0, 28}, wide[3] = {3, 28, 100000},
             huge[3] = {4000000000u, 1000, 1000};
    write_idx("zero-n", 0x803, 3, zero_n, NULL, 0, 0);
    ck_fails_with(load_idx("zero-n", "ok-lbl", &d), &d, msg("zero-n", "holds no images"));
    write_idx("zero-side", 0x803, 3, zero_side, NULL, 0, 0);
    ck_fails_with(load_idx("zero-side", "ok-lbl", &d), &d,
                  msg("zero-side", "image size 0x28 is out of range (1 to 32768 pixels a side)"));
    write_idx("wide", 0x803, 3, wide, NULL, 0, 0);
    ck_fails_with(load_idx("wide", "ok-lbl", &d), &d,
                  msg("wide", "image size 28x100000 is out of range (1 to 32768 pixels a side)"));
    write_idx("huge", 0x803, 3, huge, NULL, 0, 0);
    ck_fails_with(
        load_idx("huge", "ok-lbl", &d), &d,
        msg("huge", "4000000000 images of 1000x1000 pixels are more than this loader accepts"));
    /* 4 billion 1x1 images is a plausible size: the data is not there, and no 4 GB buffer made */
    uint32_t many[3] = {4000000000u, 1, 1}, many_l[1] = {4000000000u};
    write_idx("many-img", 0x803, 3, many, idx_pixels, 3, 0);
    write_idx("many-lbl", 0x801, 1, many_l, idx_labels, 3, 0);
    ck_fails_with(load_idx("many-img", "many-lbl", &d), &d,
                  msg("many-img", "file ends after 19 of 4000000016 bytes"));
}
END_TEST

START_TEST(test_cifar_errors) {
    TgDataset d;
    int fd = lowest_free_fd();
    ck_assert_int_eq(mkdir_p("ce"), 0);
    char want[2048];
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory",
             tpath("ce/test_batch.bin"));
    ck_fails_with(tg_load_cifar10(tpath("ce"), 0, &d, err, sizeof err), &d, want);
    /* one byte more than a record */
    uint8_t rec[3074] = {0};
    write_file("ce/test_batch.bin", rec, sizeof rec, 0);
    ck_fails_with(
        tg_load_cifar10(tpath("ce"), 0, &d, err, sizeof err), &d,
        msg("ce/test_batch.bin", "size 3074 bytes is not a whole number of 3073-byte records"));
    write_file("ce/test_batch.bin", rec, 3000, 0);
    ck_fails_with(
        tg_load_cifar10(tpath("ce"), 0, &d, err, sizeof err), &d,
        msg("ce/test_batch.bin", "size 3000 bytes is not a whole number of 3073-byte records"));
    write_file("ce/test_batch.bin", rec, 0, 0);
    ck_fails_with(tg_load_cifar10(tpath("ce"), 0, &d, err, sizeof err), &d,
                  msg("ce/test_batch.bin", "file is empty"));
    /* a label out of range in the third record */
    int labels[3] = {0, 9, 10};
    write_cifar("ce/test_batch.bin", 0, 3, labels);
    ck_fails_with(tg_load_dataset("cifar10", tpath("ce"), 0, &d, err, sizeof err), &d,
                  msg("ce/test_batch.bin", "label 10 at index 2 is out of range for 10 classes"));
    /* a bad fifth train batch fails after the first four were sized, with nothing leaked */
    int one[1] = {1};
    char name[64];
    for (int k = 1; k <= 4; k++) {
        snprintf(name, sizeof name, "ce/data_batch_%d.bin", k);
        write_cifar(name, k, 1, one);
    }
    write_file("ce/data_batch_5.bin", rec, 3074, 0);
    ck_fails_with(
        tg_load_cifar10(tpath("ce"), 1, &d, err, sizeof err), &d,
        msg("ce/data_batch_5.bin", "size 3074 bytes is not a whole number of 3073-byte records"));
    /* and a label error in the last batch, after the others were read */
    int ten[1] = {200};
    write_cifar("ce/data_batch_5.bin", 5, 1, ten);
    ck_fails_with(
        tg_load_cifar10(tpath("ce"), 1, &d, err, sizeof err), &d,
        msg("ce/data_batch_5.bin", "label 200 at index 0 is out of range for 10 classes"));
    ck_assert_int_eq(lowest_free_fd(), fd); /* every failure closed its files */
}
END_TEST

START_TEST(test_dataset_errors) {
    TgDataset d;
    ck_fails_with(tg_load_dataset("imagenet", tpath("."), 1, &d, err, sizeof err), &d,
                  "imagenet: unknown dataset kind (known: mnist, fashion_mnist, cifar10)");
    ck_assert_int_eq(mkdir_p("empty-dir"), 0);
    ck_fails_with(
        tg_load_dataset("mnist", tpath("empty-dir"), 1, &d, err, sizeof err), &d,
        msg("empty-dir/train-images-idx3-ubyte[.gz]", "cannot open: No such file or directory"));
    /* images present, labels missing */
    write_idx("empty-dir/t10k-images-idx3-ubyte.gz", 0x803, 3, idx_image_dims, idx_pixels,
              sizeof idx_pixels, 1);
    ck_fails_with(
        tg_load_dataset("fashion_mnist", tpath("empty-dir"), 0, &d, err, sizeof err), &d,
        msg("empty-dir/t10k-labels-idx1-ubyte[.gz]", "cannot open: No such file or directory"));
    /* small error buffers truncate, never overflow; a NULL one is allowed */
    char tiny[8];
    ck_assert_int_eq(tg_load_idx(tpath("nope"), tpath("nope"), 10, &d, tiny, sizeof tiny), -1);
    ck_assert_uint_eq(strlen(tiny), sizeof tiny - 1);
    ck_assert_int_eq(tg_load_idx(tpath("nope"), tpath("nope"), 10, &d, NULL, 0), -1);
}
END_TEST

/* ---- the real Fashion-MNIST --------------------------------------------------------------- */

START_TEST(test_fashion_mnist_real) {
    const char *dir = getenv("TG_FASHION_MNIST_DIR");
    if (!dir || !*dir) dir = "/usr/share/datasets/fashion-mnist";
    if (access(dir, F_OK) != 0) {
        fprintf(stderr, "test_data: %s absent, real Fashion-MNIST check skipped\n", dir);
        return;
    }
    /* published facts: 60000/10000 images of 28x28, 6000/1000 per class, first labels 9 (Ankle
     * boot) */
    static const struct {
        int train;
        int64_t n, per_class;
        uint64_t first_sum, total_sum;
        uint8_t first_labels[10];
    } sets[2] = {
        {1, 60000, 6000, 76247, 3431114169u, {9, 0, 0, 3, 0, 2, 7, 2, 5, 5}},
        {0, 10000, 1000, 33456, 573469082u, {9, 2, 1, 1, 6, 1, 4, 6, 5, 7}},
    };
    for (int s = 0; s < 2; s++) {
        TgDataset d;
        ck_assert_msg(tg_load_dataset("fashion_mnist", dir, sets[s].train, &d, err, sizeof err) ==
                          0,
                      "%s", err);
        ck_assert_int_eq(d.n, sets[s].n);
        ck_assert_int_eq(d.c, 1);
        ck_assert_int_eq(d.h, 28);
        ck_assert_int_eq(d.w, 28);
        ck_assert_int_eq(d.nclasses, 10);
        ck_assert_mem_eq(d.labels, sets[s].first_labels, 10);
        int64_t per[10] = {0};
        for (int64_t i = 0; i < d.n; i++) per[d.labels[i]]++;
        for (int k = 0; k < 10; k++) ck_assert_int_eq(per[k], sets[s].per_class);
        /* pixel sums, as Python's gzip module reads the same files */
        uint64_t first = 0, total = 0;
        for (int i = 0; i < 784; i++) first += d.images[i];
        for (int64_t i = 0; i < d.n * 784; i++) total += d.images[i];
        ck_assert_uint_eq(first, sets[s].first_sum);
        ck_assert_uint_eq(total, sets[s].total_sum);
        tg_dataset_free(&d);
    }
}
END_TEST

/* ---- main ---------------------------------------------------------------------------------- */

static void remove_tree(const char *path) {
    DIR *d = opendir(path);
    if (!d) {
        remove(path);
        return;
    }
    struct dirent *e;
    char sub[1024];
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        remove_tree(sub);
    }
    closedir(d);
    rmdir(path);
}

int main(void) {
    const char *t = getenv("TMPDIR");
    snprintf(tmp_dir, sizeof tmp_dir, "%s/tgrt_data_XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(tmp_dir)) {
        perror(tmp_dir);
        return 1;
    }
    Suite *s = suite_create("data");
    TCase *tc = tcase_create("load");
    tcase_add_test(tc, test_idx_plain_and_gzip);
    tcase_add_test(tc, test_idx_large);
    tcase_add_test(tc, test_load_dataset_idx);
    tcase_add_test(tc, test_cifar);
    suite_add_tcase(s, tc);
    tc = tcase_create("batch");
    tcase_add_test(tc, test_batch_mnist);
    tcase_add_test(tc, test_batch_to_tensor_exact);
    tcase_add_test(tc, test_batch_cifar);
    suite_add_tcase(s, tc);
    tc = tcase_create("shuffle");
    tcase_add_test(tc, test_shuffle_permutation);
    tcase_add_test(tc, test_shuffle_known_answer);
    tcase_add_test(tc, test_shuffle_uniform);
    tcase_add_test(tc, test_randperm_matches_torch);
    tcase_add_test(tc, test_iter_draws_as_torch);
    tcase_add_test(tc, test_iter_rows);
    tcase_add_test(tc, test_open_dataset_checks_size);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_test(tc, test_idx_errors);
    tcase_add_test(tc, test_idx_absurd_sizes);
    tcase_add_test(tc, test_cifar_errors);
    tcase_add_test(tc, test_dataset_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("fashion_mnist");
    tcase_add_test(tc, test_fashion_mnist_real);
    tcase_set_timeout(tc, 120); /* 47 MB through zlib, slower under sanitizers */
    suite_add_tcase(s, tc);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    remove_tree(tmp_dir);
    return failed ? 1 : 0;
}
