/* fsutil.c — directory creation and atomic file writes for report artifacts. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wanmeter.h"

wm_status wm_mkdirs(const char *dir, wm_error *err)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s", dir);
    if (n <= 0 || (size_t)n >= sizeof path)
        return wm_error_set(err, WM_E_IO, dir, "use a shorter path", "path too long");
    for (char *p = path + 1;; p++) {
        char c = *p;
        if (c != '/' && c != '\0')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return wm_error_set(err, WM_E_IO, path, "check the directory and its permissions",
                                "cannot create directory: %s", strerror(errno));
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
            return wm_error_set(err, WM_E_IO, path, "remove it or choose another --out-dir",
                                "exists and is not a directory");
        *p = c;
        if (c == '\0')
            break;
    }
    return WM_OK;
}

wm_status wm_write_file_atomic(const char *path, const char *data, size_t len, wm_error *err)
{
    char tmp[4200];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path);
    if (n <= 0 || (size_t)n >= sizeof tmp)
        return wm_error_set(err, WM_E_IO, path, "use a shorter path", "path too long");
    int fd = mkstemp(tmp);
    if (fd < 0)
        return wm_error_set(err, WM_E_IO, path, "check the directory and its permissions",
                            "cannot create a temporary file: %s", strerror(errno));
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return wm_error_set(err, WM_E_IO, path, "check free disk space",
                                "write failed: %s", strerror(e));
        }
        off += (size_t)w;
    }
    if (fchmod(fd, 0644) != 0 || fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return wm_error_set(err, WM_E_IO, path, "check free disk space", "write failed: %s",
                            strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return wm_error_set(err, WM_E_IO, path, "check the directory and its permissions",
                            "cannot rename into place: %s", strerror(e));
    }
    return WM_OK;
}

wm_status wm_read_file(const char *path, char **out, size_t *len, wm_error *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return wm_error_set(err, WM_E_IO, path, "check the path", "cannot open: %s",
                            strerror(errno));
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1)
            break;
        char *bigger = realloc(buf, cap * 2);
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    int failed = ferror(f);
    fclose(f);
    if (!buf)
        return wm_error_set(err, WM_E_INTERNAL, path, NULL, "out of memory");
    if (failed) {
        free(buf);
        return wm_error_set(err, WM_E_IO, path, "check the file", "read failed");
    }
    buf[n] = '\0';
    *out = buf;
    if (len)
        *len = n;
    return WM_OK;
}
