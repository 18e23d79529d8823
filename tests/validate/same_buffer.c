/* One violation: an in-place add gets its buffer twice, as input and as output. */
static void k01_add_fwd(const float *restrict x0, const float *restrict x1, float *restrict out) {
    for (int i = 0; i < 4; i++)
        out[i] = x0[i] + x1[i];
}

float net_train_step(void *arena, const float *x) {
    unsigned char *mem = arena;
    float *v1 = (float *)(mem + 0); /* f32[4] */
    k01_add_fwd(v1, x, v1); // expect-error
    return v1[0];
}
