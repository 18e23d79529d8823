/*
 * err.c: the one helper behind every error message of the data, .npy and .safetensors readers
 * and writers (err.h).
 */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

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
