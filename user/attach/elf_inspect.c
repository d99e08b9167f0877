// SPDX-License-Identifier: MIT
/*
 * ELF and DWARF inspection of target binaries.
 *
 * The files come from containers we do not control, so everything here
 * treats them as hostile: the whole file is read into memory first (a
 * mapping could be truncated under us and SIGBUS us), libelf is only asked
 * for data it bounds-checks, and every offset, size and count we take from
 * the file ourselves is checked against the buffer before use.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <elfutils/libdw.h>
#include <dwarf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attach/elf_inspect.h"
#include "regs.h"

#ifndef NT_STAPSDT
#define NT_STAPSDT 3
#endif

/* Nothing pymac inspects comes close; this only stops a hostile "file" from
 * exhausting memory. */
#define ELF_MAX_FILE_SIZE (4ULL << 30)
/* Deep enough for any real C/C++ DIE tree; bounds recursion on garbage. */
#define DIE_MAX_DEPTH 32

struct elf_file {
	Elf *elf;
	char *buf; /* whole file image, owned; elf points into it */
	size_t len;
	GElf_Ehdr ehdr;
	size_t shstrndx;  /* (size_t)-1 when unknown */
	GElf_Phdr *phdrs; /* only headers whose file range lies inside buf */
	size_t phnum;
};

static uint32_t rd32(const struct elf_file *ef, const unsigned char *p)
{
	if (ef->ehdr.e_ident[EI_DATA] == ELFDATA2MSB)
		return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static uint64_t rd64(const struct elf_file *ef, const unsigned char *p)
{
	if (ef->ehdr.e_ident[EI_DATA] == ELFDATA2MSB)
		return (uint64_t)rd32(ef, p) << 32 | rd32(ef, p + 4);
	return (uint64_t)rd32(ef, p + 4) << 32 | rd32(ef, p);
}

static size_t addr_size(const struct elf_file *ef)
{
	return ef->ehdr.e_ident[EI_CLASS] == ELFCLASS64 ? 8 : 4;
}

static struct elf_file *elf_file__from_buf(char *buf, size_t len)
{
	struct elf_file *ef;
	size_t phnum, i;
	int err = ENOEXEC;

	if (elf_version(EV_CURRENT) == EV_NONE) {
		free(buf);
		errno = ENOSYS;
		return NULL;
	}
	ef = calloc(1, sizeof(*ef));
	if (!ef) {
		free(buf);
		errno = ENOMEM;
		return NULL;
	}
	ef->buf = buf;
	ef->len = len;
	ef->shstrndx = (size_t)-1;

	if (len < EI_NIDENT || memcmp(buf, ELFMAG, SELFMAG) != 0)
		goto err;
	ef->elf = elf_memory(buf, len);
	if (!ef->elf || elf_kind(ef->elf) != ELF_K_ELF)
		goto err;
	if (!gelf_getehdr(ef->elf, &ef->ehdr))
		goto err;
	if (ef->ehdr.e_ident[EI_CLASS] != ELFCLASS32 && ef->ehdr.e_ident[EI_CLASS] != ELFCLASS64)
		goto err;
	if (elf_getshdrstrndx(ef->elf, &ef->shstrndx) != 0)
		ef->shstrndx = (size_t)-1;

	/* A file with a broken program header table is still useful for its
	 * symbols and notes, so only the valid PT_* entries are kept. */
	if (elf_getphdrnum(ef->elf, &phnum) == 0 && phnum > 0 && phnum <= 65535) {
		ef->phdrs = calloc(phnum, sizeof(*ef->phdrs));
		if (!ef->phdrs) {
			err = ENOMEM;
			goto err;
		}
		for (i = 0; i < phnum; i++) {
			GElf_Phdr ph;

			if (!gelf_getphdr(ef->elf, (int)i, &ph))
				continue;
			if (ph.p_offset > len || ph.p_filesz > len - ph.p_offset)
				continue;
			if (ph.p_vaddr + ph.p_filesz < ph.p_vaddr)
				continue;
			ef->phdrs[ef->phnum++] = ph;
		}
	}
	return ef;
err:
	elf_file__close(ef);
	errno = err;
	return NULL;
}

struct elf_file *elf_file__open_mem(const void *buf, size_t len)
{
	char *copy;

	if (!buf && len) {
		errno = EINVAL;
		return NULL;
	}
	/* libelf wants a writable image; +1 so that len 0 still allocates. */
	copy = malloc(len + 1);
	if (!copy) {
		errno = ENOMEM;
		return NULL;
	}
	if (len)
		memcpy(copy, buf, len);
	return elf_file__from_buf(copy, len);
}

struct elf_file *elf_file__open(const char *path)
{
	struct stat st;
	size_t len, got = 0;
	char *buf;
	int fd, err;

	/* O_NONBLOCK: a FIFO planted at a binary's path must not hang us. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0) {
		err = errno;
		goto err_close;
	}
	if (!S_ISREG(st.st_mode)) {
		err = S_ISDIR(st.st_mode) ? EISDIR : ENOEXEC;
		goto err_close;
	}
	if (st.st_size < 0 || (unsigned long long)st.st_size > ELF_MAX_FILE_SIZE) {
		err = EFBIG;
		goto err_close;
	}
	len = (size_t)st.st_size;
	buf = malloc(len + 1);
	if (!buf) {
		err = ENOMEM;
		goto err_close;
	}
	/* The file may shrink while we read; we use what we got. */
	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = errno;
			free(buf);
			goto err_close;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return elf_file__from_buf(buf, got);
err_close:
	close(fd);
	errno = err;
	return NULL;
}

void elf_file__close(struct elf_file *ef)
{
	if (!ef)
		return;
	if (ef->elf)
		elf_end(ef->elf);
	free(ef->phdrs);
	free(ef->buf);
	free(ef);
}

bool elf_file__is_64bit_x86(const struct elf_file *ef)
{
	return ef->ehdr.e_ident[EI_CLASS] == ELFCLASS64 && ef->ehdr.e_machine == EM_X86_64;
}

bool elf_file__has_interp(const struct elf_file *ef)
{
	size_t i;

	if (ef->ehdr.e_type != ET_DYN && ef->ehdr.e_type != ET_EXEC)
		return false;
	for (i = 0; i < ef->phnum; i++)
		if (ef->phdrs[i].p_type == PT_INTERP)
			return true;
	return false;
}

/* Name of a section, or "" (never NULL). */
static const char *scn_name(const struct elf_file *ef, const GElf_Shdr *sh)
{
	const char *name;

	if (ef->shstrndx == (size_t)-1)
		return "";
	name = elf_strptr(ef->elf, ef->shstrndx, sh->sh_name);
	return name ? name : "";
}

/* Raw (untranslated) bytes of a section, bounds-checked by libelf against
 * the image. NULL for NOBITS, compressed or broken sections. */
static const unsigned char *scn_bytes(Elf_Scn *scn, const GElf_Shdr *sh, size_t *size)
{
	Elf_Data *d;

	if (sh->sh_type == SHT_NOBITS || (sh->sh_flags & SHF_COMPRESSED))
		return NULL;
	d = elf_rawdata(scn, NULL);
	if (!d || !d->d_buf || d->d_size == 0)
		return NULL;
	*size = d->d_size;
	return d->d_buf;
}

static Elf_Scn *find_scn_by_name(const struct elf_file *ef, const char *name, GElf_Shdr *out)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(ef->elf, scn)) != NULL) {
		if (!gelf_getshdr(scn, out))
			continue;
		if (strcmp(scn_name(ef, out), name) == 0)
			return scn;
	}
	return NULL;
}

bool elf_file__has_symtab(const struct elf_file *ef)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(ef->elf, scn)) != NULL) {
		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_SYMTAB && sh.sh_size > 0)
			return true;
	}
	return false;
}

int elf_file__vaddr_to_offset(const struct elf_file *ef, uint64_t vaddr, uint64_t *offset)
{
	size_t i;

	for (i = 0; i < ef->phnum; i++) {
		const GElf_Phdr *ph = &ef->phdrs[i];

		if (ph->p_type != PT_LOAD)
			continue;
		/* Only the file-backed part: .bss has no offset to probe. */
		if (vaddr >= ph->p_vaddr && vaddr - ph->p_vaddr < ph->p_filesz) {
			*offset = ph->p_offset + (vaddr - ph->p_vaddr);
			return 0;
		}
	}
	return -ENOENT;
}

/* Fallback for files without usable program headers (e.g. separate debug
 * files or objects): the section that holds the symbol. */
static int sym_offset(const struct elf_file *ef, const GElf_Sym *sym, uint64_t *offset)
{
	GElf_Shdr sh;
	Elf_Scn *scn;

	if (elf_file__vaddr_to_offset(ef, sym->st_value, offset) == 0)
		return 0;
	if (sym->st_shndx == SHN_UNDEF || sym->st_shndx >= SHN_LORESERVE)
		return -ENOENT;
	scn = elf_getscn(ef->elf, sym->st_shndx);
	if (!scn || !gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS)
		return -ENOENT;
	if (sym->st_value < sh.sh_addr || sym->st_value - sh.sh_addr >= sh.sh_size)
		return -ENOENT;
	if (sh.sh_offset > ef->len || sh.sh_size > ef->len - sh.sh_offset)
		return -ENOENT;
	*offset = sh.sh_offset + (sym->st_value - sh.sh_addr);
	return 0;
}

/* A defined function symbol as the walkers see it. */
struct func_sym {
	const char *name; /* not NUL-terminated at name_len when versioned */
	size_t name_len;  /* without any "@VERSION" / "@@VERSION" suffix */
	GElf_Sym sym;
	bool symtab;
	/* A non-default symbol version ("memcpy@GLIBC_2.2.5"): kept for old
	 * binaries, not what a lookup by plain name means. */
	bool hidden;
};

/* Called for each defined function symbol; a nonzero return stops the walk
 * and is passed back. */
typedef int (*func_cb)(const struct elf_file *ef, const struct func_sym *fs, void *ctx);

/* The .gnu.version table that parallels symbol table `symscn`, if any. */
static Elf_Data *versym_for(const struct elf_file *ef, Elf_Scn *symscn)
{
	size_t ndx = elf_ndxscn(symscn);
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(ef->elf, scn)) != NULL) {
		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_GNU_versym && sh.sh_link == ndx)
			return elf_getdata(scn, NULL);
	}
	return NULL;
}

/* The defined functions (STT_FUNC, STT_GNU_IFUNC) of a symbol table, or
 * with objects set its data objects (STT_OBJECT) instead. */
static int for_each_sym(const struct elf_file *ef, GElf_Word sh_type, bool objects, func_cb cb,
			void *ctx)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(ef->elf, scn)) != NULL) {
		Elf_Data *data, *versym;
		size_t i, n;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != sh_type)
			continue;
		data = elf_getdata(scn, NULL);
		if (!data || !data->d_buf)
			continue;
		n = gelf_fsize(ef->elf, ELF_T_SYM, 1, EV_CURRENT);
		if (n == 0)
			return 0;
		n = data->d_size / n;
		if (n > INT32_MAX)
			n = INT32_MAX;
		versym = sh_type == SHT_DYNSYM ? versym_for(ef, scn) : NULL;
		for (i = 1; i < n; i++) {
			struct func_sym fs = {.symtab = sh_type == SHT_SYMTAB};
			const char *at;
			GElf_Versym vs;
			int type, ret;

			if (!gelf_getsym(data, (int)i, &fs.sym))
				break;
			type = GELF_ST_TYPE(fs.sym.st_info);
			if (objects ? type != STT_OBJECT
				    : type != STT_FUNC && type != STT_GNU_IFUNC)
				continue;
			if (fs.sym.st_shndx == SHN_UNDEF || fs.sym.st_name == 0)
				continue;
			fs.name = elf_strptr(ef->elf, sh.sh_link, fs.sym.st_name);
			if (!fs.name || !*fs.name)
				continue;
			fs.name_len = strlen(fs.name);
			/* .symtab spells versions into names: "x@V" is hidden,
			 * "x@@V" the default. */
			at = strchr(fs.name, '@');
			if (at && at != fs.name) {
				fs.name_len = (size_t)(at - fs.name);
				fs.hidden = at[1] != '@';
			}
			if (versym && gelf_getversym(versym, (int)i, &vs) && (vs & 0x8000))
				fs.hidden = true;
			ret = cb(ef, &fs, ctx);
			if (ret)
				return ret;
		}
	}
	return 0;
}

static bool name_is(const struct func_sym *fs, const char *name)
{
	return strlen(name) == fs->name_len && memcmp(fs->name, name, fs->name_len) == 0;
}

static int fill_func(const struct elf_file *ef, const struct func_sym *fs, struct elf_func *out)
{
	int bind = GELF_ST_BIND(fs->sym.st_info);
	uint64_t off;

	if (sym_offset(ef, &fs->sym, &off))
		return -ENOENT;
	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%.*s", (int)fs->name_len, fs->name);
	out->vaddr = fs->sym.st_value;
	out->size = fs->sym.st_size;
	out->offset = off;
	out->global = bind == STB_GLOBAL || bind == STB_WEAK || bind == STB_GNU_UNIQUE;
	out->from_symtab = fs->symtab;
	out->ifunc = GELF_ST_TYPE(fs->sym.st_info) == STT_GNU_IFUNC;
	return 0;
}

struct find_ctx {
	const char *name;
	bool accept_hidden;
	struct elf_func func;  /* best plain function so far */
	struct elf_func ifunc; /* first IFUNC of that name */
	bool have_func, have_ifunc;
};

static int find_cb(const struct elf_file *ef, const struct func_sym *fs, void *ctx)
{
	struct find_ctx *fc = ctx;
	struct elf_func f;

	if ((fs->hidden && !fc->accept_hidden) || !name_is(fs, fc->name))
		return 0;
	if (fill_func(ef, fs, &f))
		return 0;
	if (f.ifunc) {
		if (!fc->have_ifunc)
			fc->ifunc = f;
		fc->have_ifunc = true;
		return 0;
	}
	/* Two local (static) functions may share a name; a global one is the
	 * one other binaries can reach, so it wins. */
	if (!fc->have_func || (f.global && !fc->func.global))
		fc->func = f;
	fc->have_func = true;
	return f.global;
}

int elf_file__find_func(const struct elf_file *ef, const char *name, struct elf_func *out)
{
	struct find_ctx fc = {.name = name};

	if (!name || !*name || !out)
		return -EINVAL;
	/* Default versions first: an old compat version of a name (memcpy's
	 * plain 2.2.5 one next to the 2.14 IFUNC) is not what callers get. */
	for (int pass = 0; pass < 2 && !fc.have_func && !fc.have_ifunc; pass++) {
		fc.accept_hidden = pass == 1;
		for_each_sym(ef, SHT_SYMTAB, false, find_cb, &fc);
		if (!fc.have_func)
			for_each_sym(ef, SHT_DYNSYM, false, find_cb, &fc);
	}
	if (fc.have_func) {
		*out = fc.func;
		return 0;
	}
	if (fc.have_ifunc) {
		*out = fc.ifunc;
		return -EOPNOTSUPP;
	}
	return -ENOENT;
}

struct clones_ctx {
	const char *base;
	size_t base_len;
	struct elf_func *out;
	int max, count;
	uint64_t *seen; /* addresses already counted */
	size_t nseen, cap;
	int err;
};

/* "base" or "base.<suffix>", but not the ".cold" split-off tail of a hot
 * function: that is not an entry point. */
static bool is_clone_name(const struct func_sym *fs, const char *base, size_t base_len)
{
	const char *name = fs->name, *cold;
	size_t len = fs->name_len;

	if (len < base_len || memcmp(name, base, base_len) != 0)
		return false;
	if (len == base_len)
		return true;
	if (name[base_len] != '.' || len == base_len + 1)
		return false;
	if (len >= base_len + 5 && memcmp(name + len - 5, ".cold", 5) == 0)
		return false;
	cold = memmem(name + base_len, len - base_len, ".cold.", 6);
	return cold == NULL;
}

static int clones_cb(const struct elf_file *ef, const struct func_sym *fs, void *ctx)
{
	struct clones_ctx *cc = ctx;
	struct elf_func f;
	size_t i;

	if (fs->hidden || GELF_ST_TYPE(fs->sym.st_info) != STT_FUNC ||
	    !is_clone_name(fs, cc->base, cc->base_len))
		return 0;
	if (fill_func(ef, fs, &f))
		return 0;
	for (i = 0; i < cc->nseen; i++)
		if (cc->seen[i] == f.vaddr)
			return 0;
	if (cc->nseen == cc->cap) {
		size_t cap = cc->cap ? cc->cap * 2 : 16;
		uint64_t *seen = realloc(cc->seen, cap * sizeof(*seen));

		if (!seen) {
			cc->err = -ENOMEM;
			return 1;
		}
		cc->seen = seen;
		cc->cap = cap;
	}
	cc->seen[cc->nseen++] = f.vaddr;
	if (cc->count < cc->max)
		cc->out[cc->count] = f;
	cc->count++;
	return 0;
}

int elf_file__find_func_clones(const struct elf_file *ef, const char *base, struct elf_func *out,
			       int max)
{
	struct clones_ctx cc = {.base = base, .out = out, .max = max};

	if (!base || !*base || max < 0 || (max > 0 && !out))
		return -EINVAL;
	cc.base_len = strlen(base);
	for_each_sym(ef, SHT_SYMTAB, false, clones_cb, &cc);
	if (!cc.err)
		for_each_sym(ef, SHT_DYNSYM, false, clones_cb, &cc);
	free(cc.seen);
	return cc.err ? cc.err : cc.count;
}

struct object_ctx {
	const char *base;
	size_t base_len;
	uint64_t vaddr;
	int count; /* distinct addresses */
};

static int object_cb(const struct elf_file *ef, const struct func_sym *fs, void *ctx)
{
	struct object_ctx *oc = ctx;
	const char *rest = fs->name + oc->base_len;
	size_t n = fs->name_len;

	(void)ef;
	if (n < oc->base_len || memcmp(fs->name, oc->base, oc->base_len))
		return 0;
	/* "base", or the name LTO gives a file-local one: "base.lto_priv.N" */
	if (n != oc->base_len && !(n > oc->base_len + 10 && !memcmp(rest, ".lto_priv.", 10) &&
				   strspn(rest + 10, "0123456789") == n - oc->base_len - 10))
		return 0;
	if (oc->count && oc->vaddr == fs->sym.st_value)
		return 0;
	oc->vaddr = fs->sym.st_value;
	oc->count++;
	return 0;
}

int elf_file__find_object(const struct elf_file *ef, const char *name, uint64_t *vaddr)
{
	struct object_ctx oc = {.base = name};

	if (!name || !*name || !vaddr)
		return -EINVAL;
	oc.base_len = strlen(name);
	for_each_sym(ef, SHT_SYMTAB, true, object_cb, &oc);
	if (!oc.count)
		for_each_sym(ef, SHT_DYNSYM, true, object_cb, &oc);
	if (oc.count != 1)
		return oc.count ? -ENOTUNIQ : -ENOENT;
	*vaddr = oc.vaddr;
	return 0;
}

/* Called for each note; nonzero stops the walk. */
typedef int (*note_cb)(const struct elf_file *ef, uint32_t type, const char *owner,
		       size_t owner_len, const unsigned char *desc, size_t desc_len, void *ctx);

static size_t pad_to(size_t n, size_t align)
{
	return (n + align - 1) & ~(align - 1);
}

/* Walk the notes of one SHT_NOTE section / PT_NOTE segment. Every size is
 * taken from the file, so each one is checked against what is left. */
static int walk_notes(const struct elf_file *ef, const unsigned char *p, size_t size,
		      uint64_t align, note_cb cb, void *ctx)
{
	size_t off = 0, a = align == 8 ? 8 : 4;

	while (size - off >= 12) {
		uint32_t namesz = rd32(ef, p + off);
		uint32_t descsz = rd32(ef, p + off + 4);
		uint32_t type = rd32(ef, p + off + 8);
		const unsigned char *name, *desc;
		int ret;

		off += 12;
		if (namesz > size - off)
			return 0;
		name = p + off;
		off += namesz;
		if (pad_to(namesz, a) - namesz > size - off)
			return 0;
		off += pad_to(namesz, a) - namesz;
		if (descsz > size - off)
			return 0;
		desc = p + off;
		off += descsz;
		/* The last note's padding may be cut off by the section end. */
		if (pad_to(descsz, a) - descsz > size - off)
			off = size;
		else
			off += pad_to(descsz, a) - descsz;
		ret = cb(ef, type, (const char *)name, namesz, desc, descsz, ctx);
		if (ret)
			return ret;
	}
	return 0;
}

static bool owner_is(const char *owner, size_t len, const char *want)
{
	size_t wlen = strlen(want) + 1;

	return len == wlen && memcmp(owner, want, wlen) == 0;
}

/* Copy a NUL-terminated string starting at *p inside [*p, end) into dst;
 * false if it is unterminated or does not fit. */
static bool take_str(const unsigned char **p, const unsigned char *end, char *dst, size_t dst_len)
{
	const unsigned char *nul = memchr(*p, '\0', (size_t)(end - *p));
	size_t len;

	if (!nul)
		return false;
	len = (size_t)(nul - *p);
	if (len >= dst_len)
		return false;
	memcpy(dst, *p, len + 1);
	*p = nul + 1;
	return true;
}

struct usdt_ctx {
	struct usdt_note *out;
	int max, count;
	const char *provider, *name; /* find mode when set */
	bool found;
};

static int parse_stapsdt(const struct elf_file *ef, const unsigned char *desc, size_t desc_len,
			 struct usdt_note *n)
{
	size_t as = addr_size(ef);
	const unsigned char *p, *end = desc + desc_len;

	if (desc_len < 3 * as + 3)
		return -EINVAL;
	memset(n, 0, sizeof(*n));
	if (as == 8) {
		n->pc = rd64(ef, desc);
		n->base = rd64(ef, desc + 8);
		n->semaphore = rd64(ef, desc + 16);
	} else {
		n->pc = rd32(ef, desc);
		n->base = rd32(ef, desc + 4);
		n->semaphore = rd32(ef, desc + 8);
	}
	p = desc + 3 * as;
	if (!take_str(&p, end, n->provider, sizeof(n->provider)) ||
	    !take_str(&p, end, n->name, sizeof(n->name)) ||
	    !take_str(&p, end, n->args, sizeof(n->args)))
		return -EINVAL;
	return 0;
}

static int usdt_cb(const struct elf_file *ef, uint32_t type, const char *owner, size_t owner_len,
		   const unsigned char *desc, size_t desc_len, void *ctx)
{
	struct usdt_ctx *uc = ctx;
	struct usdt_note n;

	if (type != NT_STAPSDT || !owner_is(owner, owner_len, "stapsdt"))
		return 0;
	if (parse_stapsdt(ef, desc, desc_len, &n))
		return 0;
	if (uc->provider) {
		if (strcmp(n.provider, uc->provider) || strcmp(n.name, uc->name))
			return 0;
		*uc->out = n;
		uc->found = true;
		return 1;
	}
	if (uc->count < uc->max)
		uc->out[uc->count] = n;
	uc->count++;
	return 0;
}

static void walk_usdt(const struct elf_file *ef, struct usdt_ctx *uc)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(ef->elf, scn)) != NULL) {
		const unsigned char *p;
		size_t size;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		if (strcmp(scn_name(ef, &sh), ".note.stapsdt") != 0)
			continue;
		p = scn_bytes(scn, &sh, &size);
		if (p && walk_notes(ef, p, size, sh.sh_addralign, usdt_cb, uc))
			return;
	}
}

int elf_file__usdt_notes(const struct elf_file *ef, struct usdt_note *out, int max)
{
	struct usdt_ctx uc = {.out = out, .max = max};

	if (max < 0 || (max > 0 && !out))
		return -EINVAL;
	walk_usdt(ef, &uc);
	return uc.count;
}

int elf_file__find_usdt(const struct elf_file *ef, const char *provider, const char *name,
			struct usdt_note *out)
{
	struct usdt_ctx uc = {.out = out, .provider = provider, .name = name};

	if (!provider || !name)
		return -EINVAL;
	walk_usdt(ef, &uc);
	return uc.found ? 0 : -ENOENT;
}

int elf_file__stapsdt_base(const struct elf_file *ef, uint64_t *addr)
{
	GElf_Shdr sh;

	if (!find_scn_by_name(ef, ".stapsdt.base", &sh))
		return -ENOENT;
	*addr = sh.sh_addr;
	return 0;
}

/* Semaphores live in .probes (file-backed data); files without program
 * headers still have the section. */
static int data_vaddr_to_offset(const struct elf_file *ef, uint64_t vaddr, uint64_t *offset)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	if (elf_file__vaddr_to_offset(ef, vaddr, offset) == 0)
		return 0;
	while ((scn = elf_nextscn(ef->elf, scn)) != NULL) {
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS ||
		    !(sh.sh_flags & SHF_ALLOC))
			continue;
		if (vaddr < sh.sh_addr || vaddr - sh.sh_addr >= sh.sh_size)
			continue;
		if (sh.sh_offset > ef->len || sh.sh_size > ef->len - sh.sh_offset)
			return -ENOENT;
		*offset = sh.sh_offset + (vaddr - sh.sh_addr);
		return 0;
	}
	return -ENOENT;
}

int elf_file__usdt_offsets(const struct elf_file *ef, const struct usdt_note *note,
			   uint64_t *pc_offset, uint64_t *sem_offset)
{
	uint64_t pc = note->pc, base;
	int err;

	if (note->base && elf_file__stapsdt_base(ef, &base) == 0)
		pc += base - note->base;
	err = elf_file__vaddr_to_offset(ef, pc, pc_offset);
	if (err)
		return err;
	*sem_offset = 0;
	if (note->semaphore)
		return data_vaddr_to_offset(ef, note->semaphore, sem_offset);
	return 0;
}

struct build_id_ctx {
	char *hex;
	size_t len;
	int err;
};

static int build_id_cb(const struct elf_file *ef, uint32_t type, const char *owner,
		       size_t owner_len, const unsigned char *desc, size_t desc_len, void *ctx)
{
	static const char digits[] = "0123456789abcdef";
	struct build_id_ctx *bc = ctx;
	size_t i;

	(void)ef;
	if (type != NT_GNU_BUILD_ID || !owner_is(owner, owner_len, "GNU") || desc_len == 0)
		return 0;
	if (bc->len < 2 * desc_len + 1) {
		bc->err = -ENOSPC;
		return 1;
	}
	for (i = 0; i < desc_len; i++) {
		bc->hex[2 * i] = digits[desc[i] >> 4];
		bc->hex[2 * i + 1] = digits[desc[i] & 0xf];
	}
	bc->hex[2 * desc_len] = '\0';
	bc->err = 0;
	return 1;
}

int elf_file__build_id(const struct elf_file *ef, char *hex, size_t len)
{
	struct build_id_ctx bc = {.hex = hex, .len = len, .err = -ENOENT};
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	size_t i;

	if (!hex || !len)
		return -EINVAL;
	while ((scn = elf_nextscn(ef->elf, scn)) != NULL) {
		const unsigned char *p;
		size_t size;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		p = scn_bytes(scn, &sh, &size);
		if (p && walk_notes(ef, p, size, sh.sh_addralign, build_id_cb, &bc))
			return bc.err;
	}
	/* Section headers can be stripped; the loader's view remains. */
	for (i = 0; i < ef->phnum; i++) {
		const GElf_Phdr *ph = &ef->phdrs[i];

		if (ph->p_type != PT_NOTE || ph->p_filesz == 0)
			continue;
		if (walk_notes(ef, (const unsigned char *)ef->buf + ph->p_offset, ph->p_filesz,
			       ph->p_align, build_id_cb, &bc))
			return bc.err;
	}
	return -ENOENT;
}

int elf_file__needed(const struct elf_file *ef, const char **out, int max)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	int count = 0;

	if (max < 0 || (max > 0 && !out))
		return -EINVAL;
	while ((scn = elf_nextscn(ef->elf, scn)) != NULL) {
		Elf_Data *data;
		size_t i, n;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNAMIC)
			continue;
		data = elf_getdata(scn, NULL);
		if (!data || !data->d_buf)
			continue;
		n = gelf_fsize(ef->elf, ELF_T_DYN, 1, EV_CURRENT);
		if (n == 0)
			break;
		n = data->d_size / n;
		for (i = 0; i < n; i++) {
			const char *name;
			GElf_Dyn dyn;

			if (!gelf_getdyn(data, (int)i, &dyn) || dyn.d_tag == DT_NULL)
				break;
			if (dyn.d_tag != DT_NEEDED)
				continue;
			name = elf_strptr(ef->elf, sh.sh_link, dyn.d_un.d_val);
			if (!name)
				continue;
			if (count < max)
				out[count] = name;
			count++;
		}
		/* Only one dynamic section is meaningful. */
		break;
	}
	return count;
}

struct plt_stub {
	uint64_t addr; /* where callers jump to */
	uint64_t slot; /* GOT slot its indirect jmp reads */
};

static bool is_plt_scn(const char *name)
{
	return !strcmp(name, ".plt") || !strcmp(name, ".plt.sec") || !strcmp(name, ".plt.got") ||
	       !strcmp(name, ".iplt");
}

/*
 * Every PLT flavour (classic .plt, IBT .plt.sec, .plt.got) ends up in
 * `jmp *disp32(%rip)` (ff 25), optionally with a bnd prefix and preceded by
 * endbr64. Decoding that rather than assuming an entry layout keeps this
 * independent of linker options.
 */
static int collect_plt_stubs(const struct elf_file *ef, struct plt_stub **out, size_t *n)
{
	static const unsigned char endbr64[4] = {0xf3, 0x0f, 0x1e, 0xfa};
	struct plt_stub *stubs = NULL;
	size_t nstubs = 0, cap = 0;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(ef->elf, scn)) != NULL) {
		const unsigned char *p;
		size_t size, i;

		if (!gelf_getshdr(scn, &sh) || !(sh.sh_flags & SHF_EXECINSTR))
			continue;
		if (!is_plt_scn(scn_name(ef, &sh)))
			continue;
		p = scn_bytes(scn, &sh, &size);
		if (!p)
			continue;
		for (i = 0; size >= 6 && i <= size - 6; i++) {
			size_t start = i;
			int32_t disp;

			if (p[i] != 0xff || p[i + 1] != 0x25)
				continue;
			if (start > 0 && p[start - 1] == 0xf2)
				start--;
			if (start >= 4 && !memcmp(p + start - 4, endbr64, 4))
				start -= 4;
			disp = (int32_t)rd32(ef, p + i + 2);
			if (nstubs == cap) {
				size_t ncap = cap ? cap * 2 : 256;
				struct plt_stub *s = realloc(stubs, ncap * sizeof(*s));

				if (!s) {
					free(stubs);
					return -ENOMEM;
				}
				stubs = s;
				cap = ncap;
			}
			stubs[nstubs].addr = sh.sh_addr + start;
			stubs[nstubs].slot = sh.sh_addr + i + 6 + (uint64_t)(int64_t)disp;
			nstubs++;
			i += 5;
		}
	}
	*out = stubs;
	*n = nstubs;
	return 0;
}

/* Mark the stubs whose GOT slot is relocated (JUMP_SLOT / GLOB_DAT) to a
 * dynamic symbol defined at vaddr; they are moved to the front. */
static size_t bind_plt_stubs(const struct elf_file *ef, struct plt_stub *stubs, size_t nstubs,
			     uint64_t vaddr)
{
	Elf_Scn *scn = NULL;
	size_t bound = 0;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(ef->elf, scn)) != NULL) {
		Elf_Data *data, *symdata;
		Elf_Scn *symscn;
		GElf_Shdr symsh;
		size_t i, n;

		if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_RELA && sh.sh_type != SHT_REL))
			continue;
		symscn = elf_getscn(ef->elf, sh.sh_link);
		if (!symscn || !gelf_getshdr(symscn, &symsh) || symsh.sh_type != SHT_DYNSYM)
			continue;
		data = elf_getdata(scn, NULL);
		symdata = elf_getdata(symscn, NULL);
		if (!data || !data->d_buf || !symdata || !symdata->d_buf)
			continue;
		n = gelf_fsize(ef->elf, sh.sh_type == SHT_RELA ? ELF_T_RELA : ELF_T_REL, 1,
			       EV_CURRENT);
		if (n == 0)
			continue;
		n = data->d_size / n;
		for (i = 0; i < n; i++) {
			uint64_t off, info;
			GElf_Sym sym;
			size_t j;

			if (sh.sh_type == SHT_RELA) {
				GElf_Rela r;

				if (!gelf_getrela(data, (int)i, &r))
					break;
				off = r.r_offset;
				info = r.r_info;
			} else {
				GElf_Rel r;

				if (!gelf_getrel(data, (int)i, &r))
					break;
				off = r.r_offset;
				info = r.r_info;
			}
			if (GELF_R_TYPE(info) != R_X86_64_JUMP_SLOT &&
			    GELF_R_TYPE(info) != R_X86_64_GLOB_DAT)
				continue;
			if (GELF_R_SYM(info) == 0 || GELF_R_SYM(info) > INT32_MAX ||
			    !gelf_getsym(symdata, (int)GELF_R_SYM(info), &sym))
				continue;
			if (sym.st_shndx == SHN_UNDEF || sym.st_value != vaddr)
				continue;
			for (j = bound; j < nstubs; j++) {
				struct plt_stub tmp;

				if (stubs[j].slot != off)
					continue;
				tmp = stubs[bound];
				stubs[bound] = stubs[j];
				stubs[j] = tmp;
				bound++;
			}
		}
	}
	return bound;
}

int elf_file__count_calls(const struct elf_file *ef, uint64_t vaddr, struct elf_call_count *out)
{
	return elf_file__count_calls_in(ef, vaddr, 0, UINT64_MAX, out);
}

int elf_file__count_calls_in(const struct elf_file *ef, uint64_t vaddr, uint64_t from, uint64_t to,
			     struct elf_call_count *out)
{
	struct plt_stub *stubs = NULL;
	size_t nstubs = 0, bound, k;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	int err;

	if (!elf_file__is_64bit_x86(ef))
		return -EOPNOTSUPP;
	memset(out, 0, sizeof(*out));
	err = collect_plt_stubs(ef, &stubs, &nstubs);
	if (err)
		return err;
	bound = bind_plt_stubs(ef, stubs, nstubs, vaddr);
	out->plt_stubs = (long)bound;

	while ((scn = elf_nextscn(ef->elf, scn)) != NULL) {
		const unsigned char *p;
		size_t size, i;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS ||
		    !(sh.sh_flags & SHF_EXECINSTR))
			continue;
		p = scn_bytes(scn, &sh, &size);
		if (!p || size < 5)
			continue;
		for (i = 0; i <= size - 5; i++) {
			uint64_t target;

			if (p[i] != 0xe8 && p[i] != 0xe9)
				continue;
			if (sh.sh_addr + i < from || sh.sh_addr + i >= to)
				continue;
			target =
			    sh.sh_addr + i + 5 + (uint64_t)(int64_t)(int32_t)rd32(ef, p + i + 1);
			if (target == vaddr) {
				out->direct++;
				continue;
			}
			for (k = 0; k < bound; k++) {
				if (stubs[k].addr == target) {
					out->via_plt++;
					break;
				}
			}
		}
	}
	free(stubs);
	return 0;
}

long elf_file__count_direct_calls(const struct elf_file *ef, uint64_t vaddr)
{
	struct elf_call_count c;
	int err = elf_file__count_calls(ef, vaddr, &c);

	return err ? err : c.direct + c.via_plt;
}

/* Does this subprogram's code start at entry? Clones split into hot and
 * cold parts describe themselves with DW_AT_ranges. */
static bool die_starts_at(Dwarf_Die *die, uint64_t entry)
{
	Dwarf_Addr lo, base, start, end;
	ptrdiff_t off = 0;
	int guard = 0;

	if (dwarf_lowpc(die, &lo) == 0 && lo == entry)
		return true;
	if (dwarf_entrypc(die, &lo) == 0 && lo == entry)
		return true;
	while ((off = dwarf_ranges(die, off, &base, &start, &end)) > 0 && guard++ < 1024) {
		if (start == entry)
			return true;
	}
	return false;
}

static bool find_subprogram(Dwarf_Die *parent, uint64_t entry, Dwarf_Die *out, int depth)
{
	Dwarf_Die child;

	if (depth > DIE_MAX_DEPTH || dwarf_child(parent, &child) != 0)
		return false;
	do {
		int tag = dwarf_tag(&child);

		if (tag == DW_TAG_subprogram && die_starts_at(&child, entry)) {
			*out = child;
			return true;
		}
		/* Only tags that can hold out-of-line function definitions
		 * (nested functions, C++ scopes); inlined instances are not
		 * entry points and types are large. */
		switch (tag) {
		case DW_TAG_subprogram:
		case DW_TAG_lexical_block:
		case DW_TAG_namespace:
		case DW_TAG_module:
		case DW_TAG_class_type:
		case DW_TAG_structure_type:
		case DW_TAG_union_type:
			if (dwarf_haschildren(&child) > 0 &&
			    find_subprogram(&child, entry, out, depth + 1))
				return true;
			break;
		default:
			break;
		}
	} while (dwarf_siblingof(&child, &child) == 0);
	return false;
}

static bool find_cu(Dwarf *dw, uint64_t entry, Dwarf_Die *cu)
{
	Dwarf_Off off = 0, next;
	size_t hsize;

	if (dwarf_addrdie(dw, entry, cu))
		return true;
	/* No (or incomplete) .debug_aranges: ask each CU. */
	while (dwarf_nextcu(dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
		if (dwarf_offdie(dw, off + hsize, cu) && dwarf_haspc(cu, entry) > 0)
			return true;
		if (next <= off)
			break;
		off = next;
	}
	return false;
}

/* A location expression that is a constant rather than a place:
 * DW_OP_lit<n> / DW_OP_const* followed by DW_OP_stack_value. */
static bool ops_constant(const Dwarf_Op *ops, size_t nops, int64_t *value)
{
	if (nops != 2 || ops[1].atom != DW_OP_stack_value)
		return false;
	if (ops[0].atom >= DW_OP_lit0 && ops[0].atom <= DW_OP_lit31) {
		*value = ops[0].atom - DW_OP_lit0;
		return true;
	}
	switch (ops[0].atom) {
	case DW_OP_const1u:
	case DW_OP_const2u:
	case DW_OP_const4u:
	case DW_OP_const8u:
	case DW_OP_constu:
	case DW_OP_const1s:
	case DW_OP_const2s:
	case DW_OP_const4s:
	case DW_OP_const8s:
	case DW_OP_consts:
		*value = (int64_t)ops[0].number;
		return true;
	default:
		return false;
	}
}

static int param_loc(Dwarf_Die *fn, uint64_t entry, const char *param, struct elf_param_loc *out)
{
	Dwarf_Die child;

	if (dwarf_child(fn, &child) != 0)
		return -ENOENT;
	do {
		Dwarf_Attribute attr, *a;
		const char *name;
		Dwarf_Sword sval;
		Dwarf_Op *ops;
		size_t nops;
		int n;

		if (dwarf_tag(&child) != DW_TAG_formal_parameter)
			continue;
		/* Concrete instances of clones name their parameters only
		 * through DW_AT_abstract_origin; _integrate follows it. */
		a = dwarf_attr_integrate(&child, DW_AT_name, &attr);
		name = a ? dwarf_formstring(a) : NULL;
		if (!name || strcmp(name, param) != 0)
			continue;
		memset(out, 0, sizeof(*out));
		out->dwarf_reg = -1;
		/* A .constprop clone keeps the propagated parameter as a DIE
		 * with its value instead of a location. */
		if (dwarf_attr(&child, DW_AT_const_value, &attr)) {
			if (dwarf_formsdata(&attr, &sval) != 0)
				return -EOPNOTSUPP;
			out->is_const = true;
			out->value = sval;
			return 0;
		}
		/* The location belongs to the concrete DIE itself: an
		 * abstract one has none, and inheriting one would be wrong. */
		if (!dwarf_attr(&child, DW_AT_location, &attr))
			return -EOPNOTSUPP;
		n = dwarf_getlocation_addr(&attr, entry, &ops, &nops, 1);
		if (n != 1 || nops == 0)
			return -EOPNOTSUPP;
		if (ops_constant(ops, nops, &out->value)) {
			out->is_const = true;
			return 0;
		}
		if (nops != 1)
			return -EOPNOTSUPP;
		if (ops[0].atom >= DW_OP_reg0 && ops[0].atom <= DW_OP_reg31) {
			out->dwarf_reg = ops[0].atom - DW_OP_reg0;
			return 0;
		}
		if (ops[0].atom == DW_OP_regx && ops[0].number <= 127) {
			out->dwarf_reg = (int)ops[0].number;
			return 0;
		}
		return -EOPNOTSUPP;
	} while (dwarf_siblingof(&child, &child) == 0);
	return -ENOENT;
}

int elf_file__dwarf_param_loc(const struct elf_file *ef, uint64_t entry_vaddr, const char *param,
			      struct elf_param_loc *out)
{
	Dwarf_Die cu, fn;
	Dwarf *dw;
	int ret = -ENOENT;

	if (!param || !*param || !out)
		return -EINVAL;
	dw = dwarf_begin_elf(ef->elf, DWARF_C_READ, NULL);
	if (!dw)
		return -ENOENT;
	if (find_cu(dw, entry_vaddr, &cu) && find_subprogram(&cu, entry_vaddr, &fn, 0))
		ret = param_loc(&fn, entry_vaddr, param, out);
	dwarf_end(dw);
	return ret;
}

int elf_file__dwarf_param_reg(const struct elf_file *ef, uint64_t entry_vaddr, const char *param)
{
	struct elf_param_loc loc;
	int err = elf_file__dwarf_param_loc(ef, entry_vaddr, param, &loc);

	if (err)
		return err;
	return loc.is_const ? -EOPNOTSUPP : loc.dwarf_reg;
}

int elf_dwarf_param_reg_at_entry(const char *path, uint64_t entry_vaddr, const char *param)
{
	struct elf_file *ef = elf_file__open(path);
	int ret;

	if (!ef)
		return -errno;
	ret = elf_file__dwarf_param_reg(ef, entry_vaddr, param);
	elf_file__close(ef);
	return ret;
}

int elf_dwarf_reg_to_pm_reg(int dwarf_reg)
{
	/* DWARF x86-64 numbering (System V psABI, figure 3.36). */
	static const int map[16] = {
	    [0] = PM_REG_AX,   [1] = PM_REG_DX,	  [2] = PM_REG_CX,   [3] = PM_REG_BX,
	    [4] = PM_REG_SI,   [5] = PM_REG_DI,	  [6] = PM_REG_BP,   [7] = -1, /* rsp */
	    [8] = PM_REG_R8,   [9] = PM_REG_R9,	  [10] = PM_REG_R10, [11] = PM_REG_R11,
	    [12] = PM_REG_R12, [13] = PM_REG_R13, [14] = PM_REG_R14, [15] = PM_REG_R15,
	};

	if (dwarf_reg < 0 || dwarf_reg > 15)
		return -1;
	return map[dwarf_reg];
}

/* ---- separate debug files and inline-aware sites ---- */

int elf_file__debuglink(const struct elf_file *ef, char *name, size_t len, uint32_t *crc)
{
	const unsigned char *p;
	GElf_Shdr sh;
	Elf_Scn *scn;
	size_t size, n;

	scn = find_scn_by_name(ef, ".gnu_debuglink", &sh);
	if (!scn || !(p = scn_bytes(scn, &sh, &size)))
		return -ENOENT;
	/* name, NUL, padding to 4, CRC-32 in the file's byte order */
	n = strnlen((const char *)p, size);
	if (n == 0 || n == size || n >= len || (n + 4) / 4 * 4 + 4 > size)
		return -ENOENT;
	memcpy(name, p, n);
	name[n] = '\0';
	if (strchr(name, '/'))
		return -ENOENT; /* a name, never a path: it is joined to directories */
	*crc = rd32(ef, p + (n + 4) / 4 * 4);
	return 0;
}

bool elf_file__has_dwarf(const struct elf_file *ef)
{
	GElf_Shdr sh;
	Elf_Scn *scn = find_scn_by_name(ef, ".debug_info", &sh);

	return scn && sh.sh_type == SHT_PROGBITS && sh.sh_size > 0;
}

/* Inline nesting adds to lexical block nesting; real trees stay well below. */
#define SITE_MAX_DEPTH 96
#define SITE_MAX       200000

struct site_walk {
	const struct elf_site_query *q;
	size_t nq;
	Dwarf_CFI *cfi;
	struct elf_site *sites;
	size_t n, cap;
	int err;
};

static int site_reg_of(const Dwarf_Op *op, int *reg, int64_t *off)
{
	if (op->atom >= DW_OP_breg0 && op->atom <= DW_OP_breg31) {
		*reg = op->atom - DW_OP_breg0;
		*off = (int64_t)op->number;
		return 0;
	}
	if (op->atom == DW_OP_bregx && op->number <= 127) {
		*reg = (int)op->number;
		*off = (int64_t)op->number2;
		return 0;
	}
	return -1;
}

/* The CFA at pc as register + offset, from the binary's call frame info. */
static int site_cfa(struct site_walk *w, uint64_t pc, int *reg, int64_t *off)
{
	Dwarf_Frame *frame = NULL;
	Dwarf_Op *ops;
	size_t nops;
	int ret = -1;

	if (!w->cfi || dwarf_cfi_addrframe(w->cfi, pc, &frame) != 0)
		return -1;
	if (dwarf_frame_cfa(frame, &ops, &nops) == 0 && nops == 1)
		ret = site_reg_of(&ops[0], reg, off);
	free(frame);
	return ret;
}

/* Translate the location of one parameter at pc. fn is the concrete
 * out-of-line function that holds the site (its frame base). */
static void site_loc(struct site_walk *w, Dwarf_Die *param, Dwarf_Die *fn, uint64_t pc,
		     struct elf_loc *out, const char **why)
{
	Dwarf_Attribute attr;
	Dwarf_Sword sval;
	Dwarf_Op *ops;
	size_t nops;
	int64_t v;
	int n;

	memset(out, 0, sizeof(*out));
	if (dwarf_attr(param, DW_AT_const_value, &attr)) {
		if (dwarf_formsdata(&attr, &sval) == 0) {
			out->kind = ELF_LOC_CONST;
			out->off = sval;
		} else {
			*why = "constant of an unsupported form";
		}
		return;
	}
	if (!dwarf_attr(param, DW_AT_location, &attr)) {
		*why = "optimized out";
		return;
	}
	n = dwarf_getlocation_addr(&attr, pc, &ops, &nops, 1);
	if (n != 1 || nops == 0) {
		*why = "no location at the entry address";
		return;
	}
	if (ops_constant(ops, nops, &v)) {
		out->kind = ELF_LOC_CONST;
		out->off = v;
		return;
	}
	if (nops == 1 && ops[0].atom >= DW_OP_reg0 && ops[0].atom <= DW_OP_reg31) {
		out->kind = ELF_LOC_REG;
		out->dwarf_reg = ops[0].atom - DW_OP_reg0;
		return;
	}
	if (nops == 1 && ops[0].atom == DW_OP_regx && ops[0].number <= 127) {
		out->kind = ELF_LOC_REG;
		out->dwarf_reg = (int)ops[0].number;
		return;
	}
	if (nops == 1 && site_reg_of(&ops[0], &out->dwarf_reg, &out->off) == 0) {
		out->kind = ELF_LOC_MEM;
		return;
	}
	if (nops == 2 && ops[1].atom == DW_OP_stack_value &&
	    site_reg_of(&ops[0], &out->dwarf_reg, &out->off) == 0) {
		out->kind = ELF_LOC_REG_OFF;
		return;
	}
	if (nops == 3 && ops[1].atom == DW_OP_plus_uconst && ops[2].atom == DW_OP_stack_value &&
	    ops[1].number < (1u << 30) && site_reg_of(&ops[0], &out->dwarf_reg, &out->off) == 0) {
		out->kind = ELF_LOC_REG_OFF;
		out->off += (int64_t)ops[1].number;
		return;
	}
	/* a size computed as the sum of two registers (header + items) */
	if (nops == 4 && ops[2].atom == DW_OP_plus && ops[3].atom == DW_OP_stack_value) {
		int64_t o2;

		if (site_reg_of(&ops[0], &out->dwarf_reg, &out->off) == 0 &&
		    site_reg_of(&ops[1], &out->dwarf_reg2, &o2) == 0) {
			out->kind = ELF_LOC_SUM;
			out->off += o2;
			return;
		}
	}
	if (nops == 1 && ops[0].atom == DW_OP_fbreg) {
		Dwarf_Attribute fb;
		Dwarf_Op *fops;
		size_t nf;
		int reg;
		int64_t cfa;

		/* GCC's frame base is the CFA; any other base is not followed. */
		if (!fn || !dwarf_attr(fn, DW_AT_frame_base, &fb) ||
		    dwarf_getlocation(&fb, &fops, &nf) != 0 || nf != 1 ||
		    fops[0].atom != DW_OP_call_frame_cfa) {
			*why = "frame base other than the CFA";
			return;
		}
		if (site_cfa(w, pc, &reg, &cfa)) {
			*why = "no call frame information at the entry address";
			return;
		}
		out->kind = ELF_LOC_MEM;
		out->dwarf_reg = reg;
		out->off = cfa + (int64_t)ops[0].number;
		return;
	}
	switch (ops[0].atom) {
	case DW_OP_entry_value:
	case DW_OP_GNU_entry_value:
		*why = "value at the caller's entry (DW_OP_entry_value)";
		break;
	case DW_OP_implicit_pointer:
	case DW_OP_GNU_implicit_pointer:
		*why = "implicit pointer";
		break;
	case DW_OP_piece:
		*why = "split into pieces";
		break;
	default:
		*why = "DWARF expression BPF does not evaluate";
		break;
	}
}

/* Where an instance's code starts: DW_AT_entry_pc, else DW_AT_low_pc, else
 * the first address range. */
static bool site_entry(Dwarf_Die *die, uint64_t *pc)
{
	Dwarf_Addr a, base, start, end;

	if (dwarf_entrypc(die, &a) == 0 && a) {
		*pc = a;
		return true;
	}
	if (dwarf_lowpc(die, &a) == 0 && a) {
		*pc = a;
		return true;
	}
	if (dwarf_ranges(die, 0, &base, &start, &end) > 0 && start) {
		*pc = start;
		return true;
	}
	return false;
}

static int site_query_index(struct site_walk *w, Dwarf_Die *die)
{
	Dwarf_Attribute attr;
	const char *name;

	/* _integrate follows DW_AT_abstract_origin/DW_AT_specification, which
	 * is how concrete and inlined instances name themselves. */
	if (!dwarf_attr_integrate(die, DW_AT_name, &attr) || !(name = dwarf_formstring(&attr)))
		return -1;
	for (size_t i = 0; i < w->nq; i++)
		if (strcmp(name, w->q[i].name) == 0)
			return (int)i;
	return -1;
}

static void site_add(struct site_walk *w, Dwarf_Die *die, Dwarf_Die *fn, int qi, bool inlined)
{
	const struct elf_site_query *q = &w->q[qi];
	struct elf_site s = {.func = qi, .inlined = inlined};
	Dwarf_Die child;

	if (!site_entry(die, &s.pc))
		return;
	for (int a = 0; a < ELF_SITE_MAX_ARGS && q->args[a]; a++) {
		bool found = false;

		if (dwarf_child(die, &child) == 0) {
			do {
				Dwarf_Attribute attr;
				const char *name;

				if (dwarf_tag(&child) != DW_TAG_formal_parameter)
					continue;
				if (!dwarf_attr_integrate(&child, DW_AT_name, &attr) ||
				    !(name = dwarf_formstring(&attr)) || strcmp(name, q->args[a]))
					continue;
				found = true;
				site_loc(w, &child, fn, s.pc, &s.args[a], &s.why);
				break;
			} while (dwarf_siblingof(&child, &child) == 0);
		}
		if (!found)
			s.why = "parameter optimized out";
	}
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 256;
		void *p;

		if (cap > SITE_MAX) {
			w->err = -E2BIG;
			return;
		}
		p = realloc(w->sites, cap * sizeof(*w->sites));
		if (!p) {
			w->err = -ENOMEM;
			return;
		}
		w->sites = p;
		w->cap = cap;
	}
	w->sites[w->n++] = s;
}

static bool die_has_code(Dwarf_Die *die)
{
	Dwarf_Addr a, base, start, end;

	return dwarf_lowpc(die, &a) == 0 || dwarf_ranges(die, 0, &base, &start, &end) > 0;
}

static void site_walk_die(struct site_walk *w, Dwarf_Die *parent, Dwarf_Die *fn, int depth)
{
	Dwarf_Die child;

	if (depth > SITE_MAX_DEPTH || w->err || dwarf_child(parent, &child) != 0)
		return;
	do {
		Dwarf_Die *inner_fn = fn;
		int tag = dwarf_tag(&child), qi;

		switch (tag) {
		case DW_TAG_subprogram:
			/* abstract instances and declarations have no code */
			if (!die_has_code(&child))
				continue;
			inner_fn = &child;
			qi = site_query_index(w, &child);
			if (qi >= 0)
				site_add(w, &child, &child, qi, false);
			break;
		case DW_TAG_inlined_subroutine:
			qi = site_query_index(w, &child);
			if (qi >= 0)
				site_add(w, &child, fn, qi, true);
			break;
		case DW_TAG_lexical_block:
		case DW_TAG_namespace:
		case DW_TAG_module:
			break;
		default:
			continue; /* types, variables, parameters: no code inside */
		}
		if (dwarf_haschildren(&child) > 0) {
			/* fn points at child, which the next sibling overwrites:
			 * copy it for the subtree */
			Dwarf_Die fn_copy;

			if (inner_fn == &child) {
				fn_copy = child;
				inner_fn = &fn_copy;
			}
			site_walk_die(w, &child, inner_fn, depth + 1);
		}
	} while (dwarf_siblingof(&child, &child) == 0);
}

static int site_cmp(const void *a, const void *b)
{
	const struct elf_site *x = a, *y = b;

	if (x->func != y->func)
		return x->func < y->func ? -1 : 1;
	if (x->pc != y->pc)
		return x->pc < y->pc ? -1 : 1;
	return 0;
}

long elf_file__dwarf_sites(const struct elf_file *dbg, const struct elf_file *bin,
			   const struct elf_site_query *q, size_t nq, elf_site_cb cb, void *ctx)
{
	struct site_walk w = {.q = q, .nq = nq};
	Dwarf_Off off = 0, next;
	size_t hsize, n = 0;
	Dwarf *dw;
	long ret;

	if (!dbg || !q || !nq || !cb)
		return -EINVAL;
	dw = dwarf_begin_elf(dbg->elf, DWARF_C_READ, NULL);
	if (!dw)
		return -ENOENT;
	w.cfi = dwarf_getcfi_elf((bin ? bin : dbg)->elf);
	while (!w.err && dwarf_nextcu(dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
		Dwarf_Die cu;

		if (dwarf_offdie(dw, off + hsize, &cu))
			site_walk_die(&w, &cu, NULL, 0);
		if (next <= off)
			break;
		off = next;
	}
	if (w.cfi)
		dwarf_cfi_end(w.cfi);
	ret = w.err;
	if (!ret && w.n) {
		qsort(w.sites, w.n, sizeof(*w.sites), site_cmp);
		for (size_t i = 0; i < w.n && !ret; i++) {
			if (i && site_cmp(&w.sites[i - 1], &w.sites[i]) == 0)
				continue;
			n++;
			ret = cb(ctx, &w.sites[i]);
		}
	}
	free(w.sites);
	dwarf_end(dw);
	return ret ? ret : (long)n;
}
