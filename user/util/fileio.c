// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "util/fileio.h"

int pm_read_file(const char *path, int extra_flags, size_t max, char **out, size_t *len)
{
	size_t cap = 4096, used = 0;
	char *buf, *nb;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | extra_flags);
	if (fd < 0)
		return -errno;
	buf = malloc(cap);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		ssize_t got;

		if (used + 1 >= cap) {
			if (cap > max) {
				err = -E2BIG;
				break;
			}
			nb = realloc(buf, cap * 2);
			if (!nb) {
				err = -ENOMEM;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		got = read(fd, buf + used, cap - used - 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			err = -errno;
			break;
		}
		if (got == 0)
			break;
		used += (size_t)got;
	}
	close(fd);
	if (!err && used > max)
		err = -E2BIG;
	if (err) {
		free(buf);
		return err;
	}
	buf[used] = '\0';
	*out = buf;
	*len = used;
	return 0;
}
