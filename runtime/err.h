/*
 * err.h: the runtime's error messages, inside libtgrt only (not installed).
 *
 * A runtime function that can fail returns -1 and writes "PATH: message" into the caller's
 * buffer err (errcap bytes), as the generated programs print it.
 */
#ifndef TGRT_ERR_H
#define TGRT_ERR_H

#include <stddef.h>

/* Writes "PATH: message" into err (truncated to errcap, never overflowing; err may be NULL) and
 * returns -1. */
int tg_fail(char *err, size_t errcap, const char *path, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* The edit distance of a and b, or INT_MAX when either is too long to bother with (the runtime's
 * did-you-mean: an unknown option, a checkpoint's tensor the model lacks). */
int tg_edit_distance(const char *a, const char *b);

#endif
