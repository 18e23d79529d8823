/*
 * options.c: a program's options on the command line (options(epochs=2, lr=0.001, ...) in .tg),
 * as argparse would take them: --NAME VALUE or --NAME=VALUE, --help. Each value is checked
 * against its option's kind: an int must be a whole number in int64 range (not 2.5, not nan), a
 * float finite or not (nan, inf are floats), a bool true/false/1/0. An unknown option names the
 * closest known one.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tgrt.h"
#include "err.h"

static const char *kind_word(int kind) {
    return kind == TG_OPT_INT ? "an int" : kind == TG_OPT_FLOAT ? "a float" : kind == TG_OPT_BOOL ? "a bool" : "a string";
}

static int set_value(const char *prog, const TgOption *o, const char *text) {
    char *end;
    switch (o->kind) {
    case TG_OPT_INT: {
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (end == text || *end) {
            fprintf(stderr, "%s: error: --%s takes an int, got '%s'\n", prog, o->name, text);
            return -1;
        }
        if (errno == ERANGE) {
            fprintf(stderr, "%s: error: --%s: %s is out of the int range\n", prog, o->name, text);
            return -1;
        }
        *(int64_t *)o->value = v;
        return 0;
    }
    case TG_OPT_FLOAT: {
        double v = strtod(text, &end);
        if (end == text || *end) {
            fprintf(stderr, "%s: error: --%s takes a float, got '%s'\n", prog, o->name, text);
            return -1;
        }
        *(double *)o->value = v;
        return 0;
    }
    case TG_OPT_BOOL:
        if (!strcmp(text, "true") || !strcmp(text, "True") || !strcmp(text, "1"))
            *(uint8_t *)o->value = 1;
        else if (!strcmp(text, "false") || !strcmp(text, "False") || !strcmp(text, "0"))
            *(uint8_t *)o->value = 0;
        else {
            fprintf(stderr, "%s: error: --%s takes true or false, got '%s'\n", prog, o->name, text);
            return -1;
        }
        return 0;
    default:
        *(const char **)o->value = text;
        return 0;
    }
}

static void usage(FILE *f, const char *prog, const TgOption *opts, int n) {
    fprintf(f, "usage: %s", prog);
    for (int i = 0; i < n; i++)
        fprintf(f, " [--%s %s]", opts[i].name, opts[i].kind == TG_OPT_STR ? "TEXT" : opts[i].kind == TG_OPT_INT ? "N"
                                                                                   : opts[i].kind == TG_OPT_FLOAT ? "X"
                                                                                                                 : "BOOL");
    fprintf(f, "\n\noptions (the program's options(...)):\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "  --%-20s %s, default %s\n", opts[i].name, kind_word(opts[i].kind), opts[i].shown);
    fprintf(f, "  --%-20s show this help\n", "help");
}

int tg_parse_options(int argc, char **argv, const TgOption *opts, int n) {
    const char *prog = argc > 0 && argv[0] ? argv[0] : "program";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout, prog, opts, n);
            return 2;
        }
        if (strncmp(a, "--", 2)) {
            fprintf(stderr, "%s: error: unexpected argument '%s' (options are --NAME VALUE; --help lists them)\n", prog, a);
            return 1;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const TgOption *o = NULL;
        for (int k = 0; k < n && !o; k++)
            if (strlen(opts[k].name) == len && !strncmp(opts[k].name, name, len))
                o = &opts[k];
        if (!o) {
            char given[80];
            snprintf(given, sizeof given, "%.*s", (int)(len < 70 ? len : 70), name);
            int best = -1, bd = 3;
            for (int k = 0; k < n; k++) {
                int d = tg_edit_distance(given, opts[k].name);
                if (d < bd)
                    bd = d, best = k;
            }
            if (best >= 0)
                fprintf(stderr, "%s: error: unknown option --%s; did you mean --%s?\n", prog, given, opts[best].name);
            else
                fprintf(stderr, "%s: error: unknown option --%s (--help lists the options)\n", prog, given);
            return 1;
        }
        const char *value = eq ? eq + 1 : NULL;
        if (!value) {
            if (i + 1 >= argc) {
                fprintf(stderr, "%s: error: --%s needs a value (%s)\n", prog, o->name, kind_word(o->kind));
                return 1;
            }
            value = argv[++i];
        }
        if (set_value(prog, o, value))
            return 1;
    }
    return 0;
}

/* OMP_STACKSIZE as OpenMP reads it: a number with an optional unit B, K (the default), M or G. */
int tg_check_omp_stacksize(const char *prog) {
    const char *v = getenv("OMP_STACKSIZE");
    if (!v || !*v)
        return 0;
    char *end;
    double n = strtod(v, &end);
    while (*end == ' ')
        end++;
    double unit = *end == 'B' || *end == 'b' ? 1 : *end == 'M' || *end == 'm' ? 1048576.0
                  : *end == 'G' || *end == 'g' ? 1073741824.0 : 1024;
    if (end == v || !(n * unit >= TG_KERNEL_STACK)) {
        fprintf(stderr, "%s: error: OMP_STACKSIZE=%s is less than the %d KiB tgc's kernels count on for a thread's "
                        "stack (they keep their tiles there): raise it or unset it\n", prog, v, TG_KERNEL_STACK / 1024);
        return -1;
    }
    return 0;
}
