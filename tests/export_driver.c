/*
 * export_driver.c: a C caller of the export defs of tests/programs/exports.tg, compiled with
 * --no-main and the prefix "exports". It does what the file's program does, through the C
 * functions, and prints with the runtime's PyTorch printing: its output must be the program's.
 */
#include <stdio.h>
#include <string.h>

#include "exports.h"

/* The arenas, 64-byte aligned as every generated arena wants (C99 has no _Alignas). */
static unsigned char net_raw[EXPORTS_CLASSIFY_ARENA_BYTES + 64], affine_raw[EXPORTS_AFFINE_ARENA_BYTES + 64];

static unsigned char *aligned(unsigned char *raw) { return raw + (64 - (uintptr_t)raw % 64) % 64; }

static void print_scores(const float *s, const int64_t *c) {
    const int64_t ss[2] = {2, 3}, cs[1] = {2};
    tg_print_tensor(stdout, s, TG_F32, 2, ss, NULL, 0);
    printf("\n");
    tg_print_tensor(stdout, c, TG_I64, 1, cs, NULL, 0);
    printf("\n");
}

int main(void) {
    float x[288], x2[288], s[6];
    int64_t c[2];
    unsigned char *net_arena = aligned(net_raw), *affine_arena = aligned(affine_raw);
    for (int i = 0; i < 288; i++) {
        x[i] = (float)i / 100 - 1;
        x2[i] = x[i] * 2;
    }
    exports_classify_init(net_arena, 0); /* torch.manual_seed(0); net = Net() */
    exports_classify(net_arena, x, s, c);
    print_scores(s, c);
    exports_classify(net_arena, x2, s, c); /* the statistics the first call moved are kept */
    print_scores(s, c);
    for (int i = 0; i < EXPORTS_CLASSIFY_NTENSORS; i++)
        if (!strcmp(exports_classify_tensors[i].name, "bn.running_mean")) {
            const TgStateTensor *t = &exports_classify_tensors[i];
            tg_print_tensor(stdout, net_arena + t->offset, t->dtype, t->rank, t->shape, NULL, 0);
            printf("\n");
        }
    const float v[3] = {1, 2, 3}, w[3] = {0.5f, -1, 2}, b[1] = {0.25f};
    float out[1];
    exports_affine_init(affine_arena, 0);
    exports_affine(affine_arena, v, w, b, out);
    const int64_t os[1] = {1};
    tg_print_tensor(stdout, out, TG_F32, 1, os, NULL, 0);
    printf("\n");
    return 0;
}
