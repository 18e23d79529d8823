/* One violation: a kernel's pointer parameter is not restrict. */
static void k01_relu_fwd(const float *x0, // expect-error
                         float *restrict out) {
    for (int i = 0; i < 4; i++)
        out[i] = x0[i] < 0 ? 0.0f : x0[i];
}

float net_train_step(void *arena, const float *x) {
    float *v1 = arena;
    k01_relu_fwd(x, v1);
    return v1[0];
}
