/*
 * file.c: writing an output file safely, for every writer of the runtime (checkpoints, .npy,
 * PNG) and of tgc itself (-o, --emit).
 *
 * A regular file (or a missing one) is written to a unique temporary beside it (mkstemp: two
 * runs writing one file never share a temporary), flushed, fsync'ed, given the mode the file
 * had (or 0666 less the umask), renamed over it, and its directory fsync'ed: the path is the
 * old complete file or the new one, whatever happens. A symlink is followed to its target,
 * which is written that way (the link stays a link). A character device or a pipe
 * (/dev/null, /dev/stdout) is written in place: renaming over it would replace the device by a
 * regular file. A directory or another special file is refused.
 */
#define _POSIX_C_SOURCE 200809L /* lstat, readlink, mkstemp, fchmod, fdopen, fsync */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tgrt.h"
#include "err.h"

/* path with every symlink in its last component followed (malloc'ed), or NULL on no memory. */
static char *final_target(const char *path) {
    char *p = malloc(strlen(path) + 1);
    if (!p)
        return NULL;
    strcpy(p, path);
    for (int hops = 0; hops < 40; hops++) { /* a longer chain is a loop: open then says ELOOP */
        struct stat st;
        char link[PATH_MAX];
        ssize_t n;
        if (lstat(p, &st) != 0 || !S_ISLNK(st.st_mode) || (n = readlink(p, link, sizeof link - 1)) < 0)
            break;
        link[n] = '\0';
        const char *slash = strrchr(p, '/');
        size_t dir = link[0] == '/' || !slash ? 0 : (size_t)(slash - p) + 1; /* relative to the link's folder */
        char *q = malloc(dir + (size_t)n + 1);
        if (!q) {
            free(p);
            return NULL;
        }
        memcpy(q, p, dir);
        memcpy(q + dir, link, (size_t)n + 1);
        free(p);
        p = q;
    }
    return p;
}

/* fsync the folder holding path, so a rename into it survives a crash. */
static int sync_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 1;
    char *dir = malloc(n + 2);
    if (!dir)
        return -1;
    if (!slash)
        strcpy(dir, ".");
    else if (n == 0)
        strcpy(dir, "/");
    else {
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    int fd = open(dir, O_RDONLY);
    free(dir);
    if (fd < 0)
        return -1;
    /* some file systems cannot fsync a folder (EINVAL): the rename is then as durable as it gets */
    int rc = fsync(fd) != 0 && errno != EINVAL ? -1 : 0;
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int tg_out_open(TgOut *o, const char *path, char *err, size_t errcap) {
    memset(o, 0, sizeof *o);
    o->shown = path;
    o->path = final_target(path);
    if (!o->path)
        return tg_fail(err, errcap, path, "out of memory");
    struct stat st;
    int exists = stat(o->path, &st) == 0;
    if (exists && S_ISDIR(st.st_mode)) {
        tg_fail(err, errcap, path, "is a directory");
        free(o->path);
        return -1;
    }
    if (exists && (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))) { /* a device or a pipe: in place */
        o->f = fopen(o->path, "wb");
        if (!o->f) {
            tg_fail(err, errcap, path, "cannot write: %s", strerror(errno));
            free(o->path);
            return -1;
        }
        return 0;
    }
    if (exists && !S_ISREG(st.st_mode)) {
        tg_fail(err, errcap, path, "is a special file (a socket or a block device), not written");
        free(o->path);
        return -1;
    }
    static const char suffix[] = ".tmp-XXXXXX";
    o->tmp = malloc(strlen(o->path) + sizeof suffix);
    if (!o->tmp) {
        free(o->path);
        return tg_fail(err, errcap, path, "out of memory");
    }
    strcpy(o->tmp, o->path);
    strcat(o->tmp, suffix);
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        tg_fail(err, errcap, path, "cannot create a file beside it: %s", strerror(errno));
        free(o->tmp);
        free(o->path);
        return -1;
    }
    mode_t mode;
    if (exists)
        mode = st.st_mode & 07777;
    else {
        mode_t mask = umask(022); /* read it: umask has no getter */
        umask(mask);
        mode = 0666 & ~mask;
    }
    o->f = fchmod(fd, mode) == 0 ? fdopen(fd, "wb") : NULL;
    if (!o->f) {
        tg_fail(err, errcap, path, "cannot write %s: %s", o->tmp, strerror(errno));
        close(fd);
        unlink(o->tmp);
        free(o->tmp);
        free(o->path);
        return -1;
    }
    return 0;
}

void tg_out_abandon(TgOut *o) {
    if (o->f)
        fclose(o->f);
    if (o->tmp) {
        unlink(o->tmp);
        free(o->tmp);
    }
    free(o->path);
    memset(o, 0, sizeof *o);
}

int tg_out_close(TgOut *o, char *err, size_t errcap) {
    int bad = ferror(o->f) || fflush(o->f) != 0;
    int saved = errno;
    if (!bad && o->tmp && fsync(fileno(o->f)) != 0) { /* a device or a pipe is not synced */
        bad = 1;
        saved = errno;
    }
    if (fclose(o->f) != 0 && !bad) {
        bad = 1;
        saved = errno;
    }
    o->f = NULL;
    if (bad) {
        tg_fail(err, errcap, o->shown, "cannot write: %s", saved ? strerror(saved) : "an earlier write failed");
        tg_out_abandon(o);
        return -1;
    }
    if (o->tmp && rename(o->tmp, o->path) != 0) {
        tg_fail(err, errcap, o->shown, "cannot rename %s to it: %s", o->tmp, strerror(errno));
        tg_out_abandon(o);
        return -1;
    }
    int rc = o->tmp && sync_dir(o->path) != 0 ? -1 : 0;
    if (rc)
        tg_fail(err, errcap, o->shown, "written, but syncing its folder failed: %s", strerror(errno));
    free(o->tmp);
    free(o->path);
    memset(o, 0, sizeof *o);
    return rc;
}

int tg_same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}
