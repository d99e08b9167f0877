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
#include "attach/elf_impl.h"
#include "util/grow.h"

uint32_t elfi_rd32(const struct elf_file *ef, const unsigned char *p)
{
	if (ef->ehdr.e_ident[EI_DATA] == ELFDATA2MSB)
		return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

uint64_t elfi_rd64(const struct elf_file *ef, const unsigned char *p)
{
	if (ef->ehdr.e_ident[EI_DATA] == ELFDATA2MSB)
		return (uint64_t)elfi_rd32(ef, p) << 32 | elfi_rd32(ef, p + 4);
	return (uint64_t)elfi_rd32(ef, p + 4) << 32 | elfi_rd32(ef, p);
}

size_t elfi_addr_size(const struct elf_file *ef)
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
	if (ef->cfi)
		dwarf_cfi_end(ef->cfi);
	if (ef->elf)
		elf_end(ef->elf);
	free(ef->phdrs);
	free(ef->fdes);
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
const char *elfi_scn_name(const struct elf_file *ef, const GElf_Shdr *sh)
{
	const char *name;

	if (ef->shstrndx == (size_t)-1)
		return "";
	name = elf_strptr(ef->elf, ef->shstrndx, sh->sh_name);
	return name ? name : "";
}

/* Raw (untranslated) bytes of a section, bounds-checked by libelf against
 * the image. NULL for NOBITS, compressed or broken sections. */
const unsigned char *elfi_scn_bytes(Elf_Scn *scn, const GElf_Shdr *sh, size_t *size)
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

Elf_Scn *elfi_find_scn_by_name(const struct elf_file *ef, const char *name, GElf_Shdr *out)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(ef->elf, scn)) != NULL) {
		if (!gelf_getshdr(scn, out))
			continue;
		if (strcmp(elfi_scn_name(ef, out), name) == 0)
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

struct at_ctx {
	uint64_t vaddr;
	struct elf_func func;
	bool found;
};

static int at_cb(const struct elf_file *ef, const struct func_sym *fs, void *ctx)
{
	struct at_ctx *ac = ctx;

	if (GELF_ST_TYPE(fs->sym.st_info) != STT_FUNC || fs->sym.st_value != ac->vaddr ||
	    fill_func(ef, fs, &ac->func))
		return 0;
	ac->found = true;
	return 1;
}

int elf_file__func_at(const struct elf_file *ef, uint64_t vaddr, struct elf_func *out)
{
	struct at_ctx ac = {.vaddr = vaddr};

	for_each_sym(ef, SHT_SYMTAB, false, at_cb, &ac);
	if (!ac.found)
		for_each_sym(ef, SHT_DYNSYM, false, at_cb, &ac);
	if (!ac.found)
		return -ENOENT;
	*out = ac.func;
	return 0;
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
		uint64_t *seen = PM_GROW(cc->seen, &cc->cap, cc->nseen + 1, 16);

		if (!seen) {
			cc->err = -ENOMEM;
			return 1;
		}
		cc->seen = seen;
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
