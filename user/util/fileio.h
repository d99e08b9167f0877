/* SPDX-License-Identifier: MIT */
/* Reading small files whole (procfs files report size 0, so read to EOF). */
#ifndef PYMAC_FILEIO_H
#define PYMAC_FILEIO_H

#include <stddef.h>

/*
 * Read path (opened with O_RDONLY | O_CLOEXEC | extra_flags) to its end
 * into a malloc'ed, NUL-terminated buffer. 0, -E2BIG when it holds more
 * than max bytes, or another -errno. *out is untouched on error.
 */
int pm_read_file(const char *path, int extra_flags, size_t max, char **out, size_t *len);

#endif /* PYMAC_FILEIO_H */
