/* One violation: predict calls a function pointer its caller passes, which could do anything. */
void net_predict(void *arena, const float *x, float *out, void (*hook)(float *)) {
    (void)arena;
    out[0] = x[0];
    hook(out); // expect-error
}
