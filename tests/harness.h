/*
 * harness.h: what the end-to-end suites share: formatted strings that live until exit, reading a
 * whole file, and running a program with its output in files. Static functions, one copy per
 * suite that includes it.
 */
#ifndef TGC_TEST_HARNESS_H
#define TGC_TEST_HARNESS_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* Test strings live until the test process exits; keeping them reachable keeps LeakSanitizer quiet
 * (however many a suite makes: the list grows). */
static void **kept;
static int nkept, capkept;
static void *keep(void *p) {
    if (nkept == capkept) {
        void **grown = realloc(kept, sizeof(void *) * (size_t)(capkept ? 2 * capkept : 1024));
        if (!grown)
            return p;
        kept = grown;
        capkept = capkept ? 2 * capkept : 1024;
    }
    kept[nkept++] = p;
    return p;
}

static char *fmt(const char *f, ...) {
    va_list ap, ap2;
    va_start(ap, f);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    char *s = malloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, f, ap2);
    va_end(ap2);
    return keep(s);
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = keep(malloc((size_t)n + 1));
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = 0;
    fclose(f);
    if (len)
        *len = got;
    return s;
}

/* Runs argv in cwd with stdout and stderr to files; returns the exit status. */
static int run(const char *cwd, const char *out, const char *err, char *const argv[]) {
    pid_t pid = fork();
    if (pid == 0) {
        if (cwd && chdir(cwd))
            _exit(126);
        if (!freopen(out ? out : "/dev/null", "w", stdout) || !freopen(err ? err : "/dev/null", "w", stderr))
            _exit(126);
        execvp(argv[0], argv);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

#endif
