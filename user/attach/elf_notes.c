// SPDX-License-Identifier: MIT
/* ELF notes (USDT, build-id), DT_NEEDED and direct-call counts, from a file
 * treated as hostile (elf_impl.h). */
#include "attach/elf_impl.h"
#include "util/grow.h"

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
		uint32_t namesz = elfi_rd32(ef, p + off);
		uint32_t descsz = elfi_rd32(ef, p + off + 4);
		uint32_t type = elfi_rd32(ef, p + off + 8);
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
	size_t as = elfi_addr_size(ef);
	const unsigned char *p, *end = desc + desc_len;

	if (desc_len < 3 * as + 3)
		return -EINVAL;
	memset(n, 0, sizeof(*n));
	if (as == 8) {
		n->pc = elfi_rd64(ef, desc);
		n->base = elfi_rd64(ef, desc + 8);
		n->semaphore = elfi_rd64(ef, desc + 16);
	} else {
		n->pc = elfi_rd32(ef, desc);
		n->base = elfi_rd32(ef, desc + 4);
		n->semaphore = elfi_rd32(ef, desc + 8);
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
		if (strcmp(elfi_scn_name(ef, &sh), ".note.stapsdt") != 0)
			continue;
		p = elfi_scn_bytes(scn, &sh, &size);
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

	if (!elfi_find_scn_by_name(ef, ".stapsdt.base", &sh))
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
		p = elfi_scn_bytes(scn, &sh, &size);
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
		if (!is_plt_scn(elfi_scn_name(ef, &sh)))
			continue;
		p = elfi_scn_bytes(scn, &sh, &size);
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
			disp = (int32_t)elfi_rd32(ef, p + i + 2);
			if (nstubs == cap) {
				struct plt_stub *s = PM_GROW(stubs, &cap, nstubs + 1, 256);

				if (!s) {
					free(stubs);
					return -ENOMEM;
				}
				stubs = s;
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

int elf_file__plt_stubs(const struct elf_file *ef, uint64_t vaddr, uint64_t *out, size_t max)
{
	struct plt_stub *stubs = NULL;
	size_t nstubs = 0, bound;
	int err = collect_plt_stubs(ef, &stubs, &nstubs);

	if (err)
		return err;
	bound = bind_plt_stubs(ef, stubs, nstubs, vaddr);
	for (size_t i = 0; i < bound && i < max; i++)
		out[i] = stubs[i].addr;
	free(stubs);
	return (int)bound;
}

int elf_file__count_calls(const struct elf_file *ef, uint64_t vaddr, struct elf_call_count *out)
{
	return elf_file__count_calls_in(ef, vaddr, 0, UINT64_MAX, out);
}

/* Every `call rel32` / `jmp rel32` byte pattern in the executable sections
 * at an address in [from, to): cb(ctx, its address, its target), until cb
 * returns non-zero. A byte scan: a pattern need not be an instruction. */
static int scan_rel32(const struct elf_file *ef, uint64_t from, uint64_t to,
		      int (*cb)(void *ctx, uint64_t at, uint64_t target), void *ctx)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(ef->elf, scn)) != NULL) {
		const unsigned char *p;
		size_t size, i;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS ||
		    !(sh.sh_flags & SHF_EXECINSTR))
			continue;
		p = elfi_scn_bytes(scn, &sh, &size);
		if (!p || size < 5)
			continue;
		for (i = 0; i <= size - 5; i++) {
			int ret;

			if (p[i] != 0xe8 && p[i] != 0xe9)
				continue;
			if (sh.sh_addr + i < from || sh.sh_addr + i >= to)
				continue;
			ret = cb(ctx, sh.sh_addr + i,
				 sh.sh_addr + i + 5 +
				     (uint64_t)(int64_t)(int32_t)elfi_rd32(ef, p + i + 1));
			if (ret)
				return ret;
		}
	}
	return 0;
}

struct count_scan {
	uint64_t vaddr;
	const struct plt_stub *stubs;
	size_t bound;
	struct elf_call_count *out;
};

static int count_cb(void *ctx, uint64_t at, uint64_t target)
{
	struct count_scan *cs = ctx;

	(void)at;
	if (target == cs->vaddr) {
		cs->out->direct++;
		return 0;
	}
	for (size_t k = 0; k < cs->bound; k++)
		if (cs->stubs[k].addr == target) {
			cs->out->via_plt++;
			break;
		}
	return 0;
}

int elf_file__count_calls_in(const struct elf_file *ef, uint64_t vaddr, uint64_t from, uint64_t to,
			     struct elf_call_count *out)
{
	struct plt_stub *stubs = NULL;
	size_t nstubs = 0;
	int err;

	if (!elf_file__is_64bit_x86(ef))
		return -EOPNOTSUPP;
	memset(out, 0, sizeof(*out));
	err = collect_plt_stubs(ef, &stubs, &nstubs);
	if (err)
		return err;
	struct count_scan cs = {.vaddr = vaddr, .stubs = stubs, .out = out};

	cs.bound = bind_plt_stubs(ef, stubs, nstubs, vaddr);
	out->plt_stubs = (long)cs.bound;
	scan_rel32(ef, from, to, count_cb, &cs);
	free(stubs);
	return 0;
}

struct sources_scan {
	const uint64_t *targets;
	size_t n, max;
	uint64_t *out;
	long found;
};

static int sources_cb(void *ctx, uint64_t at, uint64_t target)
{
	struct sources_scan *ss = ctx;

	for (size_t k = 0; k < ss->n; k++)
		if (ss->targets[k] == target) {
			if ((size_t)ss->found < ss->max)
				ss->out[ss->found] = at;
			ss->found++;
			break;
		}
	return 0;
}

long elf_file__rel32_sources(const struct elf_file *ef, const uint64_t *targets, size_t n,
			     uint64_t *out, size_t max)
{
	struct sources_scan ss = {.targets = targets, .n = n, .max = max, .out = out};

	if (!elf_file__is_64bit_x86(ef))
		return -EOPNOTSUPP;
	scan_rel32(ef, 0, UINT64_MAX, sources_cb, &ss);
	return ss.found;
}

long elf_file__count_direct_calls(const struct elf_file *ef, uint64_t vaddr)
{
	struct elf_call_count c;
	int err = elf_file__count_calls(ef, vaddr, &c);

	return err ? err : c.direct + c.via_plt;
}

/* Does this subprogram's code start at entry? Clones split into hot and
 * cold parts describe themselves with DW_AT_ranges. */
