// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#include "util/outstream.h"

static void keep_error(struct pm_stream *s, int e)
{
	if (!s->err)
		s->err = -(e ? e : EIO);
}

static ssize_t fd_write(void *cookie, const char *buf, size_t size)
{
	struct pm_stream *s = cookie;
	size_t done = 0;

	while (done < size) {
		ssize_t n = write(s->fd, buf + done, size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			keep_error(s, n < 0 ? errno : EIO);
			break;
		}
		done += (size_t)n;
		s->bytes += (unsigned long long)n;
	}
	return done ? (ssize_t)done : -1;
}

static ssize_t gz_write(void *cookie, const char *buf, size_t size)
{
	struct pm_stream *s = cookie;
	int n, zerr;

	if (size == 0)
		return 0;
	errno = 0;
	n = gzwrite(s->gz, buf, (unsigned)size);
	if (n <= 0) {
		/* Z_ERRNO: the descriptor's write failed, errno says why */
		int e = errno;

		gzerror(s->gz, &zerr);
		keep_error(s, zerr == Z_ERRNO ? e : EIO);
		errno = -s->err;
		return -1;
	}
	s->bytes += (unsigned long long)n;
	return n;
}

static int stream_close(void *cookie)
{
	struct pm_stream *s = cookie;
	int ret = 0;

	if (s->gz) {
		int e;

		errno = 0;
		e = gzclose_w(s->gz); /* closes its descriptor */
		s->gz = NULL;
		if (e != Z_OK) {
			keep_error(s, e == Z_ERRNO ? errno : EIO);
			ret = -1;
		}
	} else if (s->own_fd && close(s->fd) && errno != EINTR) {
		keep_error(s, errno);
		ret = -1;
	}
	if (ret)
		errno = -s->err;
	return ret;
}

int pm_stream__open(struct pm_stream *s, int fd, bool gz, bool own_fd)
{
	static const cookie_io_functions_t fd_io = {.write = fd_write, .close = stream_close};
	static const cookie_io_functions_t gz_io = {.write = gz_write, .close = stream_close};
	int e;

	*s = (struct pm_stream){.fd = fd, .own_fd = own_fd};
	if (gz && !own_fd) {
		/* gzclose closes its descriptor: give it one of its own */
		fd = dup(fd);
		if (fd < 0)
			return -errno;
	}
	if (gz && !(s->gz = gzdopen(fd, "wb6"))) {
		e = errno ? errno : ENOMEM;
		close(fd);
		return -e;
	}
	s->f = fopencookie(s, "w", gz ? gz_io : fd_io);
	if (s->f)
		return 0;
	e = errno;
	if (s->gz)
		gzclose_w(s->gz);
	else if (own_fd)
		close(fd);
	s->gz = NULL;
	return -e;
}

int pm_stream__error(const struct pm_stream *s)
{
	if (s->err)
		return s->err;
	return s->f && ferror(s->f) ? -EIO : 0;
}

int pm_stream__close(struct pm_stream *s)
{
	int e = 0;

	if (s->f && fclose(s->f))
		e = errno ? -errno : -EIO;
	s->f = NULL;
	return s->err ? s->err : e;
}
