/*
 * png.c: writing an 8-bit RGB image as PNG, for pictures people would rather look at than read
 * (the trainer's --grid, the blitz's imshow(make_grid(images))).
 *
 * A PNG is a signature and chunks (length, type, data, CRC-32 of type and data): IHDR with the
 * size, one IDAT with the zlib-compressed scanlines (each row prefixed by filter type 0), IEND.
 * zlib provides both the compression and the CRC. The file is written through tg_out_open, renamed
 * so a reader never sees half a picture.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "tgrt.h"

static void put32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static int chunk(FILE *f, const char *type, const unsigned char *data, uint32_t len) {
    unsigned char head[8], tail[4];
    put32(head, len);
    memcpy(head + 4, type, 4);
    uLong crc = crc32(0L, (const Bytef *)type, 4);
    if (len)
        crc = crc32(crc, data, len);
    put32(tail, (uint32_t)crc);
    return fwrite(head, 1, 8, f) == 8 && (!len || fwrite(data, 1, len, f) == len) && fwrite(tail, 1, 4, f) == 4;
}

int tg_write_png(const char *path, const uint8_t *rgb, int width, int height, char *err, size_t errcap) {
    if (width < 1 || height < 1 || width > 1 << 15 || height > 1 << 15) {
        snprintf(err, errcap, "%s: image size %dx%d is out of range", path, width, height);
        return -1;
    }
    size_t row = (size_t)width * 3 + 1, raw_len = row * (size_t)height;
    unsigned char *raw = malloc(raw_len);
    uLongf zlen = compressBound((uLong)raw_len);
    unsigned char *z = malloc(zlen);
    if (!raw || !z) {
        free(raw);
        free(z);
        snprintf(err, errcap, "%s: out of memory", path);
        return -1;
    }
    for (int y = 0; y < height; y++) {
        raw[row * (size_t)y] = 0; /* filter type None */
        memcpy(raw + row * (size_t)y + 1, rgb + (size_t)y * (size_t)width * 3, (size_t)width * 3);
    }
    int zrc = compress2(z, &zlen, raw, (uLong)raw_len, 9);
    free(raw);
    if (zrc != Z_OK) {
        free(z);
        snprintf(err, errcap, "%s: compression failed", path);
        return -1;
    }
    TgOut out;
    if (tg_out_open(&out, path, err, errcap) != 0) {
        free(z);
        return -1;
    }
    FILE *f = out.f;
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    unsigned char ihdr[13];
    put32(ihdr, (uint32_t)width);
    put32(ihdr + 4, (uint32_t)height);
    ihdr[8] = 8;  /* bits per channel */
    ihdr[9] = 2;  /* RGB */
    ihdr[10] = 0; /* deflate */
    ihdr[11] = 0; /* adaptive filtering */
    ihdr[12] = 0; /* no interlace */
    int ok = fwrite(sig, 1, 8, f) == 8 && chunk(f, "IHDR", ihdr, 13) && chunk(f, "IDAT", z, (uint32_t)zlen) &&
             chunk(f, "IEND", NULL, 0);
    free(z);
    if (!ok && !ferror(f)) {
        snprintf(err, errcap, "%s: cannot write: %s", path, strerror(errno));
        tg_out_abandon(&out);
        return -1;
    }
    return tg_out_close(&out, err, errcap);
}
