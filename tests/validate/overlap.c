/* One violation: two arena slots handed to one kernel overlap (v2 starts inside v1's 384 bytes). */
static void k01_relu_fwd(const float x0[restrict static 96], float out[restrict static 96]) {
    for (int i = 0; i < 96; i++)
        out[i] = x0[i] < 0 ? 0.0f : x0[i];
}

float net_train_step(void *arena) {
    unsigned char *mem = arena;
    float *v1 = (float *)(mem + 0);   /* f32[96] */
    float *v2 = (float *)(mem + 256); /* f32[96] */
    k01_relu_fwd(v1, v2); // expect-error
    return v2[0];
}
