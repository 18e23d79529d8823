/* One violation: a kernel calls through a function pointer defined outside the file. */
extern void (*tg_hook)(const float *x);

static void k01_report(const float *restrict x0) {
    tg_hook(x0); // expect-error
}

float net_train_step(void *arena, const float *x) {
    (void)arena;
    k01_report(x);
    return x[0];
}
