/*
 * err.c: the one helper behind every error message of the data, .npy and .safetensors readers
 * and writers, and the edit distance behind the runtime's "did you mean" (err.h).
 */
#include "err.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int tg_fail(char *err, size_t errcap, const char *path, const char *fmt, ...) {
    if (err && errcap > 0) {
        int n = snprintf(err, errcap, "%s: ", path);
        if (n >= 0 && (size_t)n < errcap) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err + n, errcap - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

int tg_edit_distance(const char *a, const char *b) {
    enum { LONGEST = 128 };
    size_t na = strlen(a), nb = strlen(b);
    int row[LONGEST + 1];
    if (na > LONGEST || nb > LONGEST)
        return INT_MAX;
    for (size_t j = 0; j <= nb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= na; i++) {
        int diag = row[0]; /* row[i-1][j-1] */
        row[0] = (int)i;
        for (size_t j = 1; j <= nb; j++) {
            int up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[nb];
}
