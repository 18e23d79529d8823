/* One violation: a kernel is not static. */
void k01_relu_fwd(const float *restrict x0, float *restrict out) { // expect-error
    for (int i = 0; i < 4; i++)
        out[i] = x0[i] < 0 ? 0.0f : x0[i];
}

float net_train_step(void *arena, const float *x) {
    float *v1 = arena;
    k01_relu_fwd(x, v1);
    return v1[0];
}
