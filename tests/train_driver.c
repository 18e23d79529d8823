/*
 * train_driver.c: a C caller of a generated training step, as firmware would use it.
 *
 * Built by test_codegen.c together with the C that `tgc compile --prefix net` wrote for a .tg
 * file with a train block. It owns the arena, calls net_init, overwrites the parameters with
 * weights/<name>.npy (found through the generated net_tensors table), runs net_train_step
 * three times on x.npy and y.npy, and saves what the test compares with PyTorch: the losses of
 * steps 1 and 3, the momentum buffers after step 1 (for SGD without weight decay they equal the
 * first gradients), and the parameters after step 3.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

static void check(int failed, const char *err) {
    if (failed) {
        fprintf(stderr, "train_driver: %s\n", err);
        exit(1);
    }
}

int main(void) {
    char err[512], path[512];
    unsigned char *raw = malloc(NET_ARENA_BYTES + 64);
    check(!raw, "out of memory");
    unsigned char *arena = raw + (64 - (size_t)((uintptr_t)raw % 64));
    net_init(arena, 0);
    for (int i = 0; i < net_ntensors; i++) {
        const netTensor *t = &net_tensors[i];
        if (!t->trainable)
            continue;
        snprintf(path, sizeof path, "weights/%s.npy", t->name);
        check(tg_npy_load(path, t->dtype, t->rank, t->shape, arena + t->offset, err, sizeof err), err);
    }
    /* the batch: x is float, y float (MSE) or int64 (class indices) */
    static float x[NET_BATCH * 3 * 32 * 32];
    static unsigned char y[NET_BATCH * 10 * 8];
    int64_t c = 0;
    for (int i = 0; i < net_ntensors; i++)
        if (!strcmp(net_tensors[i].name, "conv1.weight"))
            c = net_tensors[i].shape[1];
    int64_t xs[4] = {NET_BATCH, c, 32, 32}, ys_ce[1] = {NET_BATCH}, ys_mse[2] = {NET_BATCH, 10};
    check(tg_npy_load("x.npy", TG_F32, 4, xs, x, err, sizeof err), err);
    int mse = tg_npy_load("y.npy", TG_I64, 1, ys_ce, y, err, sizeof err) != 0;
    if (mse)
        check(tg_npy_load("y.npy", TG_F32, 2, ys_mse, y, err, sizeof err), err);
    for (int step = 1; step <= 3; step++) {
        float loss = net_train_step(arena, x, (const void *)y);
        if (step == 1 || step == 3) {
            snprintf(path, sizeof path, "loss%d.npy", step);
            check(tg_npy_save(path, TG_F32, 0, NULL, &loss, err, sizeof err), err);
        }
        for (int i = 0; step == 1 && i < net_ntensors; i++) {
            const netTensor *t = &net_tensors[i];
            const char *suffix = strstr(t->name, ".momentum_buffer");
            if (!suffix)
                continue;
            snprintf(path, sizeof path, "grad_%.*s.npy", (int)(suffix - t->name), t->name);
            check(tg_npy_save(path, t->dtype, t->rank, t->shape, arena + t->offset, err, sizeof err), err);
        }
    }
    for (int i = 0; i < net_ntensors; i++) {
        const netTensor *t = &net_tensors[i];
        if (!t->trainable)
            continue;
        snprintf(path, sizeof path, "param_%s.npy", t->name);
        check(tg_npy_save(path, t->dtype, t->rank, t->shape, arena + t->offset, err, sizeof err), err);
    }
    free(raw);
    return 0;
}
