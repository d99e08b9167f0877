// SPDX-License-Identifier: MIT
/* The trace codec's shared pieces (codec.h): varints, whole reads and writes. */
#include <errno.h>
#include <unistd.h>
#include "trace/codec.h"

/* An event tag holds its kind in its low nibble (trace_format.h). */
_Static_assert(PM_KIND_MAX <= PM_TAG_CODE_MASK + 1, "event kinds must fit a tag's low nibble");

uint32_t trace__writer_max_strings = PM_MAX_STRINGS;
uint32_t trace__writer_max_types = PM_MAX_TYPES;

size_t pm_varint_put(uint8_t *buf, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		buf[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	buf[n++] = (uint8_t)v;
	return n;
}

/* Only the shortest encoding is accepted, so that every value has exactly
 * one encoding (a trailing 0x00 group would be a second one). */
size_t pm_varint_get(const uint8_t *buf, size_t len, uint64_t *v)
{
	uint64_t x = 0;

	for (size_t i = 0; i < len && i < 10; i++) {
		uint8_t b = buf[i];

		if (i == 9 && b > 1)
			return 0;
		x |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			if (b == 0 && i > 0)
				return 0;
			*v = x;
			return i + 1;
		}
	}
	return 0;
}

int trace_write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads up to len bytes; fewer only at end of file. */
ssize_t trace_read_full(int fd, uint8_t *p, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

