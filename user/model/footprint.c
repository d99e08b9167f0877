// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/footprint.h"
#include "util/grow.h"

#define PAGE 4096ull

uint64_t footprint__arena_size(const char *v)
{
	unsigned major, minor;

	if (!v || sscanf(v, "%u.%u", &major, &minor) != 2 || major != 3)
		return 0;
	return minor >= 10 ? 1ull << 20 : 256ull << 10;
}

static bool is_arena(const struct footprint *f, uint64_t len)
{
	if (f->arena_size)
		return len == f->arena_size;
	return len == 1ull << 20 || len == 256ull << 10;
}

/* Index of the first range that ends after addr. */
static size_t first_after(const struct footprint *f, uint64_t addr)
{
	size_t lo = 0, hi = f->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->r[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int reserve(struct footprint *f, size_t more)
{
	void *r = PM_GROW(f->r, &f->cap, f->n + more, 64);

	if (!r)
		return -ENOMEM;
	f->r = r;
	return 0;
}

/*
 * Take [a, b) out of the mappings (munmap, or a mapping placed over others).
 * Returns how many arenas were removed whole.
 */
static int cut(struct footprint *f, uint64_t a, uint64_t b)
{
	size_t i = first_after(f, a);
	int whole_arenas = 0;

	while (i < f->n && f->r[i].start < b) {
		struct fp_range *r = &f->r[i];
		uint64_t lo = r->start > a ? r->start : a, hi = r->end < b ? r->end : b;

		f->bytes[r->cls] -= hi - lo;
		if (lo == r->start && hi == r->end) {
			whole_arenas += r->cls == FP_ARENA;
			memmove(r, r + 1, (f->n - i - 1) * sizeof(*r));
			f->n--;
			continue;
		}
		if (lo > r->start && hi < r->end) {
			/* a hole in the middle: split (room was reserved by the caller) */
			memmove(r + 2, r + 1, (f->n - i - 1) * sizeof(*r));
			f->n++;
			r[1] = *r;
			r[1].start = hi;
			r->end = lo;
			return whole_arenas;
		}
		if (lo == r->start)
			r->start = hi;
		else
			r->end = lo;
		i++;
	}
	return whole_arenas;
}

static void insert(struct footprint *f, uint64_t a, uint64_t b, enum fp_class cls)
{
	size_t i = first_after(f, a);

	memmove(&f->r[i + 1], &f->r[i], (f->n - i) * sizeof(*f->r));
	f->r[i] = (struct fp_range){.start = a, .end = b, .cls = cls};
	f->n++;
	f->bytes[cls] += b - a;
}

static uint64_t page_up(uint64_t len)
{
	return (len + PAGE - 1) & ~(PAGE - 1);
}

int footprint__apply(struct footprint *f, const struct pm_event *ev, const char *python_version)
{
	uint64_t len;
	enum fp_class cls = FP_MMAP;

	if (ev->kind == PM_EXEC) {
		f->n = 0;
		f->existing = 0;
		f->bytes[FP_ARENA] = f->bytes[FP_MMAP] = 0;
		f->heap = 0;
		f->arena_size = 0; /* maybe another interpreter */
		return 0;
	}
	if (!f->arena_size)
		f->arena_size = footprint__arena_size(python_version);
	if (ev->kind == PM_RSS) {
		f->have_rss = true;
		f->rss = ev->rss.rss;
		f->rss_anon = ev->rss.anon;
		if (f->rss > f->rss_peak)
			f->rss_peak = f->rss;
		return 0;
	}
	if (ev->kind != PM_VM)
		return 0;
	/* room for a split and an insert, whatever the op */
	if (reserve(f, 2))
		return -ENOMEM;
	switch (ev->vm.op) {
	case PM_VM_MMAP:
		len = page_up(ev->vm.len);
		if (!len || ev->vm.addr + len < ev->vm.addr)
			break;
		/* MAP_FIXED over mappings replaces them */
		cut(f, ev->vm.addr, ev->vm.addr + len);
		cls = is_arena(f, ev->vm.len) ? FP_ARENA : FP_MMAP;
		if (ev->vm.flags & PM_VM_EXISTING)
			f->existing += len;
		else
			f->arena_maps += cls == FP_ARENA;
		insert(f, ev->vm.addr, ev->vm.addr + len, cls);
		break;
	case PM_VM_MUNMAP:
		len = page_up(ev->vm.len);
		if (ev->vm.addr + len < ev->vm.addr)
			break;
		f->arena_unmaps += cut(f, ev->vm.addr, ev->vm.addr + len);
		break;
	case PM_VM_MREMAP: {
		uint64_t old = page_up(ev->vm.old_len);

		len = page_up(ev->vm.len);
		if (ev->vm.old_addr + old < ev->vm.old_addr || ev->vm.addr + len < ev->vm.addr)
			break;
		/* a mapping pymac never saw made (a file, or from before
		 * tracing) stays unknown when it moves */
		size_t i = first_after(f, ev->vm.old_addr);
		bool known = i < f->n && f->r[i].start < ev->vm.old_addr + old;

		cut(f, ev->vm.old_addr, ev->vm.old_addr + old);
		if (known && len) {
			if (reserve(f, 2))
				return -ENOMEM;
			cut(f, ev->vm.addr, ev->vm.addr + len);
			/* a resized arena is no arena pymalloc can use any more */
			insert(f, ev->vm.addr, ev->vm.addr + len, FP_MMAP);
		}
		break;
	}
	case PM_VM_BRK:
		f->heap = ev->vm.addr > ev->vm.old_addr ? ev->vm.addr - ev->vm.old_addr : 0;
		if (ev->vm.flags & PM_VM_EXISTING)
			f->existing += f->heap;
		break;
	}
	if (footprint__total(f) > f->peak)
		f->peak = footprint__total(f);
	return 0;
}

void footprint__free(struct footprint *f)
{
	free(f->r);
	memset(f, 0, sizeof(*f));
}
