// SPDX-License-Identifier: MIT
/*
 * elfimg writer (host only). Layout, in file order (docs/FORMAT.md):
 *
 *   0x00  ELF header
 *   0x40  PT_NOTE data: KJRESUME state note (desc at 0x58),
 *         KJRESUME metadata note (FDT at 0x80), LINUXKJUMP, VMCOREINFO
 *   ....  program headers (PT_NOTE, then PT_KJ_CHUNKED sorted by paddr)
 *   ....  section header 0, only with PN_XNUM
 *   ....  chunk index (32 bytes per chunk)           = end of headers
 *   data_start = align(headers, data-align): chunk payloads, each at a
 *   data-align multiple, in index order.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libfdt.h>
#include <zlib.h>

#include "elfimg/lz4.h"
#include "elfimg/write.h"

struct elfimg_writer {
	struct elfimg_wparams p;
	struct elfimg_wseg *segs;
	size_t nsegs;
	uint64_t nchunks;
	struct elfimg_chunk *index;

	uint8_t *hdr;		/* the whole headers region */
	uint64_t hdr_len, data_start, fdt_size, index_off;
	void *fdt;		/* into hdr */

	size_t outcap;
	bool data_done, hdr_done;
	uint32_t incompat;	/* ELFIMG_INCOMPAT_* of what is written */
	struct elfimg_wstats st;
};

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static size_t note_size(size_t namesz, size_t descsz)
{
	return sizeof(struct elfimg_nhdr) + align_up(namesz, 4) +
	       align_up(descsz, 4);
}

static uint8_t *put_note(uint8_t *p, const char *name, uint32_t type,
			 const void *desc, size_t descsz)
{
	struct elfimg_nhdr nh = {
		.n_namesz = (uint32_t)strlen(name) + 1,
		.n_descsz = (uint32_t)descsz,
		.n_type = type,
	};

	memcpy(p, &nh, sizeof(nh));
	p += sizeof(nh);
	memset(p, 0, align_up(nh.n_namesz, 4));
	memcpy(p, name, nh.n_namesz);
	p += align_up(nh.n_namesz, 4);
	memset(p, 0, align_up(descsz, 4));
	if (desc && descsz)
		memcpy(p, desc, descsz);
	return p + align_up(descsz, 4);
}

static int fdt_u64(void *fdt, int node, const char *name, uint64_t v)
{
	return fdt_setprop_u64(fdt, node, name, v);
}

static int fdt_ranges(void *fdt, const char *node_name, const char *prop,
		      const struct elfimg_range *r, size_t n, bool with_type)
{
	size_t rec = with_type ? 3 : 2;
	uint64_t *v;
	int node, err;

	if (!n)
		return 0;
	node = fdt_add_subnode(fdt, 0, node_name);
	if (node < 0)
		return node;
	v = calloc(n * rec, sizeof(*v));
	if (!v)
		return -FDT_ERR_NOSPACE;
	for (size_t i = 0; i < n; i++) {
		v[i * rec] = cpu_to_fdt64(r[i].start);
		v[i * rec + 1] = cpu_to_fdt64(r[i].size);
		if (with_type)
			v[i * rec + 2] = cpu_to_fdt64(r[i].type);
	}
	err = fdt_setprop(fdt, node, prop, v, (int)(n * rec * sizeof(*v)));
	free(v);
	return err;
}

/* Build the metadata FDT into @fdt (@size bytes). */
static int build_fdt(struct elfimg_writer *w, void *fdt, size_t size)
{
	const struct elfimg_wparams *p = &w->p;
	int err;

	if ((err = fdt_create_empty_tree(fdt, (int)size)))
		return err;
	if ((err = fdt_setprop_string(fdt, 0, "compatible", ELFIMG_COMPATIBLE)) ||
	    (err = fdt_setprop_u32(fdt, 0, "version", ELFIMG_FORMAT_VERSION)) ||
	    (err = fdt_setprop_u32(fdt, 0, "incompat", w->incompat)) ||
	    (err = fdt_u64(fdt, 0, "entry", p->entry)) ||
	    (err = fdt_setprop_u32(fdt, 0, "resume-flags", p->resume_flags)) ||
	    (err = fdt_setprop_u32(fdt, 0, "chunk-size", p->chunk_size)) ||
	    (err = fdt_setprop_u32(fdt, 0, "data-align", p->data_align)) ||
	    (err = fdt_u64(fdt, 0, "index-offset", w->index_off)) ||
	    (err = fdt_u64(fdt, 0, "index-count", w->nchunks)) ||
	    (err = fdt_setprop_u32(fdt, 0, "index-crc", 0)) ||
	    (err = fdt_u64(fdt, 0, "data-end", 0)))
		return err;
	if (p->release &&
	    (err = fdt_setprop_string(fdt, 0, "release", p->release)))
		return err;
	if ((err = fdt_ranges(fdt, "memmap", "entries", p->memmap, p->nmemmap,
			      true)) ||
	    (err = fdt_ranges(fdt, "scratch", "ranges", p->scratch,
			      p->nscratch, false)))
		return err;
	if (p->tool) {
		int node = fdt_add_subnode(fdt, 0, "saver");

		if (node < 0)
			return node;
		if ((err = fdt_setprop_string(fdt, node, "tool", p->tool)))
			return err;
	}
	return 0;
}

static enum elfimg_err check_params(const struct elfimg_wparams *p,
				    const struct elfimg_wseg *segs, size_t n)
{
	uint64_t prev = 0;

	if (!p->read_mem || !p->write_at || p->level < 0 || p->level > 9 ||
	    p->chunk_size % ELFIMG_UNIT || p->chunk_size > ELFIMG_MAX_CHUNK ||
	    p->chunk_size == 0 || p->data_align < 512 ||
	    (p->data_align & (p->data_align - 1)) || n == 0)
		return ELFIMG_E_ARG;
	if (p->release && strlen(p->release) >= ELFIMG_RELEASE_LEN)
		return ELFIMG_E_ARG;
	for (size_t i = 0; i < n; i++) {
		if (segs[i].memsz == 0 || segs[i].paddr < prev ||
		    segs[i].paddr > (1ull << 52) - segs[i].memsz)
			return ELFIMG_E_ARG;
		prev = segs[i].paddr + segs[i].memsz;
	}
	return ELFIMG_OK;
}

enum elfimg_err elfimg_writer_new(const struct elfimg_wparams *params,
				  const struct elfimg_wseg *segs, size_t nsegs,
				  struct elfimg_writer **out)
{
	struct elfimg_writer *w;
	struct elfimg_ehdr eh = { 0 };
	struct elfimg_phdr ph = { 0 };
	struct elfimg_state_desc sd = { 0 };
	uint64_t phnum, notes_end, phoff, fdt_need;
	uint8_t *p;
	enum elfimg_err err;

	if (!params || !segs || !out)
		return ELFIMG_E_ARG;
	w = calloc(1, sizeof(*w));
	if (!w)
		return ELFIMG_E_NOMEM;
	w->p = *params;
	if (!w->p.chunk_size)
		w->p.chunk_size = ELFIMG_DEFAULT_CHUNK;
	if (!w->p.data_align)
		w->p.data_align = 4096;
	w->incompat = (w->p.lz4 ? ELFIMG_INCOMPAT_LZ4 :
		       w->p.level > 0 ? ELFIMG_INCOMPAT_DEFLATE : 0) |
		      (w->p.crc32 ? 0 : ELFIMG_INCOMPAT_XXH64);
	if ((err = check_params(&w->p, segs, nsegs))) {
		free(w);
		return err;
	}
	w->segs = malloc(nsegs * sizeof(*segs));
	if (!w->segs)
		goto nomem;
	memcpy(w->segs, segs, nsegs * sizeof(*segs));
	w->nsegs = nsegs;
	for (size_t i = 0; i < nsegs; i++) {
		w->nchunks += segs[i].memsz / w->p.chunk_size +
			      !!(segs[i].memsz % w->p.chunk_size);
		w->st.mem_bytes += segs[i].memsz;
	}

	/* The FDT: its size is fixed now; values are patched in place. */
	fdt_need = 1024 + 256 + 24 * (w->p.nmemmap + w->p.extents_reserve) +
		   16 * w->p.nscratch + (w->p.tool ? strlen(w->p.tool) : 0) +
		   (w->p.release ? strlen(w->p.release) : 0);
	w->fdt_size = align_up(fdt_need, 8);
	notes_end = ELFIMG_FDT_OFF + w->fdt_size;
	if (w->p.resume_note)
		notes_end += note_size(sizeof(ELFIMG_RESUME_NOTE_NAME),
				       sizeof(*w->p.resume_note));
	if (w->p.vmcoreinfo)
		notes_end += note_size(sizeof(ELFIMG_VMCOREINFO_NAME),
				       w->p.vmcoreinfo_len);
	phnum = 1 + nsegs;
	phoff = align_up(notes_end, 8);
	w->index_off = phoff + phnum * sizeof(struct elfimg_phdr);
	if (phnum >= ELFIMG_PN_XNUM)
		w->index_off += sizeof(struct elfimg_shdr);
	w->hdr_len = w->index_off + w->nchunks * sizeof(struct elfimg_chunk);
	if (w->hdr_len > UINT32_MAX) {
		err = ELFIMG_E_ARG;
		goto fail;
	}
	w->data_start = align_up(w->hdr_len, w->p.data_align);
	w->hdr = calloc(1, w->data_start);
	w->index = calloc(w->nchunks ? w->nchunks : 1, sizeof(*w->index));
	w->outcap = compressBound(w->p.chunk_size) + 64;
	if (!w->hdr || !w->index)
		goto nomem;

	/* ELF header */
	memcpy(eh.e_ident, "\177ELF", 4);
	eh.e_ident[4] = ELFIMG_ELFCLASS64;
	eh.e_ident[5] = ELFIMG_ELFDATA2LSB;
	eh.e_ident[6] = ELFIMG_EV_CURRENT;
	eh.e_type = ELFIMG_ET_CORE;
	eh.e_machine = ELFIMG_EM_X86_64;
	eh.e_version = ELFIMG_EV_CURRENT;
	eh.e_entry = w->p.entry;
	eh.e_phoff = phoff;
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(ph);
	if (phnum >= ELFIMG_PN_XNUM) {
		struct elfimg_shdr sh = { 0 };

		eh.e_phnum = ELFIMG_PN_XNUM;
		eh.e_shoff = phoff + phnum * sizeof(ph);
		eh.e_shentsize = sizeof(sh);
		eh.e_shnum = 1;
		sh.sh_info = (uint32_t)phnum;
		memcpy(w->hdr + eh.e_shoff, &sh, sizeof(sh));
	} else {
		eh.e_phnum = (uint16_t)phnum;
	}
	memcpy(w->hdr, &eh, sizeof(eh));

	/* notes */
	sd.magic = ELFIMG_STATE_MAGIC;
	sd.state = ELFIMG_STATE_WRITING;
	sd.hdr_len = (uint32_t)w->hdr_len;
	p = put_note(w->hdr + ELFIMG_NOTES_OFFSET, ELFIMG_KJ_NOTE_NAME,
		     ELFIMG_KJ_NT_STATE, &sd, sizeof(sd));
	p = put_note(p, ELFIMG_KJ_NOTE_NAME, ELFIMG_KJ_NT_META, NULL,
		     w->fdt_size);
	w->fdt = w->hdr + ELFIMG_FDT_OFF;
	if (build_fdt(w, w->fdt, w->fdt_size)) {
		err = ELFIMG_E_NOMEM;
		goto fail;
	}
	if (w->p.resume_note)
		p = put_note(p, ELFIMG_RESUME_NOTE_NAME, ELFIMG_RESUME_NOTE_TYPE,
			     w->p.resume_note, sizeof(*w->p.resume_note));
	if (w->p.vmcoreinfo)
		p = put_note(p, ELFIMG_VMCOREINFO_NAME, 0, w->p.vmcoreinfo,
			     w->p.vmcoreinfo_len);

	/* program headers */
	ph.p_type = ELFIMG_PT_NOTE;
	ph.p_offset = ELFIMG_NOTES_OFFSET;
	ph.p_filesz = (uint64_t)(p - w->hdr) - ELFIMG_NOTES_OFFSET;
	ph.p_align = 4;
	memcpy(w->hdr + phoff, &ph, sizeof(ph));
	for (size_t i = 0; i < nsegs; i++) {
		memset(&ph, 0, sizeof(ph));
		ph.p_type = ELFIMG_PT_KJ_CHUNKED;
		ph.p_flags = 7;	/* RWX: it is memory */
		ph.p_paddr = segs[i].paddr;
		ph.p_memsz = segs[i].memsz;
		memcpy(w->hdr + phoff + (i + 1) * sizeof(ph), &ph, sizeof(ph));
	}

	w->st.hdr_len = w->hdr_len;
	*out = w;
	return ELFIMG_OK;
nomem:
	err = ELFIMG_E_NOMEM;
fail:
	elfimg_writer_free(w);
	return err;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	const uint64_t *q = (const uint64_t *)p;
	uint64_t acc = 0;
	size_t i;

	/* n is a multiple of 8 except at a segment's sub-page tail */
	for (i = 0; i + 64 <= n; i += 64, q += 8) {
		acc |= q[0] | q[1] | q[2] | q[3] | q[4] | q[5] | q[6] | q[7];
		if (acc)
			return false;
	}
	for (; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* One compressing thread's own state. */
struct wcomp {
	z_stream zs;
	bool zs_ready;
	uint32_t lz4_table[ELFIMG_LZ4_TABLE];
};

/*
 * A chunk between its read and its write. The caller's thread reads
 * chunk i into slot i % nslots and publishes it (wpool.filled); a
 * compressor takes the published chunks in order (wpool.taken) and marks
 * each done; the caller's thread writes done slots in chunk order. So a
 * slot is free again exactly when the chunk nslots before it is written.
 */
struct wslot {
	uint8_t *inbuf, *outbuf;
	size_t len;
	bool done;			/* packed: the result below is valid */
	/* the result: the chunk's index entry but for offset and stored */
	struct elfimg_chunk c;
	const uint8_t *payload;
	size_t stored;			/* 0: every unit is zero */
	uint64_t zero_units;
	enum elfimg_err err;
};

/* A compressing thread (or, with no threads, the caller's own state). */
struct wthread {
	struct wpool *pl;
	struct wcomp z;
	pthread_t tid;
};

/* The compressing threads of one write_data() call. */
struct wpool {
	struct elfimg_writer *w;
	struct wslot *slots;
	unsigned nslots, nthreads;
	struct wthread *thr;		/* nthreads of them, at least one */
	unsigned started;
	pthread_mutex_t mu;
	pthread_cond_t work_cv, done_cv;
	uint64_t filled, taken;		/* chunks made FILLED / taken, in order */
	bool quit;
};

/*
 * Check, drop zero units from, and compress (or store) the chunk in
 * @s->inbuf. Depends only on the chunk's bytes and the parameters, so
 * the image is the same whatever thread does it.
 */
static enum elfimg_err pack_chunk(const struct elfimg_wparams *p, size_t outcap,
				  struct wcomp *z, struct wslot *s)
{
	struct elfimg_chunk *c = &s->c;
	size_t len = s->len, units = (len + ELFIMG_UNIT - 1) / ELFIMG_UNIT, nz = 0;

	memset(c, 0, sizeof(*c));
	s->zero_units = 0;
	if (p->crc32) {
		c->crc = (uint32_t)crc32(0, s->inbuf, (uInt)len);
	} else {
		uint64_t h = elfimg_xxh64(s->inbuf, len, 0);

		c->crc = (uint32_t)h;
		c->check_hi = (uint32_t)(h >> 32);
	}
	for (size_t u = 0; u < units; u++) {
		size_t at = u * ELFIMG_UNIT;
		size_t ulen = u + 1 < units ? ELFIMG_UNIT : len - at;

		if (all_zero(s->inbuf + at, ulen)) {
			c->zero_map |= 1ull << u;
			s->zero_units++;
			continue;
		}
		if (nz != at)	/* pack the non-zero units at the front */
			memmove(s->inbuf + nz, s->inbuf + at, ulen);
		nz += ulen;
	}
	s->payload = s->inbuf;
	s->stored = nz;
	c->method = ELFIMG_METHOD_STORED;
	if (nz == 0)
		return ELFIMG_OK;
	if (p->lz4) {
		size_t n = elfimg_lz4_encode(s->inbuf, nz, s->outbuf, nz - 1,
					     z->lz4_table);

		if (n > 0) {
			s->payload = s->outbuf;
			s->stored = n;
			c->method = ELFIMG_METHOD_LZ4;
		}
	} else if (z->zs_ready) {
		if (deflateReset(&z->zs) != Z_OK)
			return ELFIMG_E_NOMEM;
		z->zs.next_in = s->inbuf;
		z->zs.avail_in = (uInt)nz;
		z->zs.next_out = s->outbuf;
		z->zs.avail_out = (uInt)outcap;
		if (deflate(&z->zs, Z_FINISH) != Z_STREAM_END)
			return ELFIMG_E_NOMEM;
		if (z->zs.total_out < nz) {
			s->payload = s->outbuf;
			s->stored = z->zs.total_out;
			c->method = ELFIMG_METHOD_DEFLATE;
		}
	}
	return ELFIMG_OK;
}

/* Write chunk @ci, packed in @s, at *@pos; record it in the index. */
static enum elfimg_err put_chunk(struct elfimg_writer *w, uint64_t ci,
				 const struct wslot *s, uint64_t *pos)
{
	struct elfimg_chunk *c = &w->index[ci];

	*c = s->c;
	w->st.zero_units += s->zero_units;
	if (s->stored == 0) {
		w->st.empty_chunks++;
		return ELFIMG_OK;
	}
	if (c->method != ELFIMG_METHOD_STORED)
		w->st.compressed_chunks++;
	else
		w->st.stored_chunks++;
	c->offset = *pos;
	c->stored = (uint32_t)s->stored;
	if (w->p.write_at(w->p.ctx, *pos, s->payload, s->stored))
		return ELFIMG_E_IO;
	w->st.stored_bytes += s->stored;
	*pos = align_up(*pos + s->stored, w->p.data_align);
	return ELFIMG_OK;
}

static void *compressor(void *arg)
{
	struct wthread *t = arg;
	struct wpool *pl = t->pl;

	pthread_mutex_lock(&pl->mu);
	for (;;) {
		while (!pl->quit && pl->taken == pl->filled)
			pthread_cond_wait(&pl->work_cv, &pl->mu);
		if (pl->quit)
			break;
		struct wslot *s = &pl->slots[pl->taken++ % pl->nslots];

		pthread_mutex_unlock(&pl->mu);
		enum elfimg_err err = pack_chunk(&pl->w->p, pl->w->outcap, &t->z, s);
		pthread_mutex_lock(&pl->mu);
		s->err = err;
		s->done = true;
		pthread_cond_signal(&pl->done_cv);
	}
	pthread_mutex_unlock(&pl->mu);
	return NULL;
}

static void pool_stop(struct wpool *pl)
{
	if (pl->started) {
		pthread_mutex_lock(&pl->mu);
		pl->quit = true;
		pthread_cond_broadcast(&pl->work_cv);
		pthread_mutex_unlock(&pl->mu);
		for (unsigned i = 0; i < pl->started; i++)
			pthread_join(pl->thr[i].tid, NULL);
		pl->started = 0;
	}
	for (unsigned i = 0; i < pl->nslots && pl->slots; i++) {
		free(pl->slots[i].inbuf);
		free(pl->slots[i].outbuf);
	}
	for (unsigned i = 0; pl->thr && i < (pl->nthreads ? pl->nthreads : 1); i++)
		if (pl->thr[i].z.zs_ready)
			deflateEnd(&pl->thr[i].z.zs);
	free(pl->slots);
	free(pl->thr);
	pthread_cond_destroy(&pl->work_cv);
	pthread_cond_destroy(&pl->done_cv);
	pthread_mutex_destroy(&pl->mu);
}

/*
 * @nthreads 0: the caller's thread compresses each chunk itself, in one
 * slot. Else that many threads compress while the caller's thread reads
 * and writes, with two slots per thread so that every thread has a chunk
 * to take while the caller writes another.
 */
static enum elfimg_err pool_start(struct wpool *pl, struct elfimg_writer *w,
				  unsigned nthreads)
{
	unsigned ncomp = nthreads ? nthreads : 1;

	memset(pl, 0, sizeof(*pl));
	pl->w = w;
	pl->nthreads = nthreads;
	pl->nslots = nthreads ? 2 * nthreads : 1;
	pthread_mutex_init(&pl->mu, NULL);
	pthread_cond_init(&pl->work_cv, NULL);
	pthread_cond_init(&pl->done_cv, NULL);
	pl->slots = calloc(pl->nslots, sizeof(*pl->slots));
	pl->thr = calloc(ncomp, sizeof(*pl->thr));
	if (!pl->slots || !pl->thr)
		return ELFIMG_E_NOMEM;
	for (unsigned i = 0; i < pl->nslots; i++) {
		pl->slots[i].inbuf = malloc(w->p.chunk_size);
		pl->slots[i].outbuf = malloc(w->outcap);
		if (!pl->slots[i].inbuf || !pl->slots[i].outbuf)
			return ELFIMG_E_NOMEM;
	}
	for (unsigned i = 0; i < ncomp; i++) {
		pl->thr[i].pl = pl;
		if (w->p.level > 0 && !w->p.lz4) {
			if (deflateInit2(&pl->thr[i].z.zs, w->p.level, Z_DEFLATED,
					 -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
				return ELFIMG_E_NOMEM;
			pl->thr[i].z.zs_ready = true;
		}
	}
	for (unsigned i = 0; i < nthreads; i++) {
		if (pthread_create(&pl->thr[i].tid, NULL, compressor, &pl->thr[i]))
			break;	/* fewer threads do the same work */
		pl->started++;
	}
	return nthreads && !pl->started ? ELFIMG_E_NOMEM : ELFIMG_OK;
}

/* Write the oldest chunk not yet written (@*next), waiting for it. */
static enum elfimg_err write_next(struct elfimg_writer *w, struct wpool *pl,
				  uint64_t *next, uint64_t *pos, uint64_t *done)
{
	struct wslot *s = &pl->slots[*next % pl->nslots];
	enum elfimg_err err;

	if (pl->nthreads) {
		pthread_mutex_lock(&pl->mu);
		while (!s->done)
			pthread_cond_wait(&pl->done_cv, &pl->mu);
		pthread_mutex_unlock(&pl->mu);
	}
	if (s->err)
		return s->err;
	if ((err = put_chunk(w, *next, s, pos)))
		return err;
	*done += s->len;
	(*next)++;
	if (w->p.progress)
		w->p.progress(w->p.ctx, *done, w->st.mem_bytes);
	return ELFIMG_OK;
}

#define MAX_THREADS 64

enum elfimg_err elfimg_writer_write_data(struct elfimg_writer *w)
{
	uint64_t pos, ci = 0, written = 0, done = 0, end;
	struct wpool pl;
	enum elfimg_err err;
	unsigned nthreads;

	if (!w || w->data_done)
		return ELFIMG_E_ARG;
	nthreads = w->p.threads > 1 ? w->p.threads : 0;
	if (nthreads > MAX_THREADS)
		nthreads = MAX_THREADS;
	if ((err = pool_start(&pl, w, nthreads)))
		goto out;
	/* provisional headers first: the image says WRITING from the start */
	if (w->p.write_at(w->p.ctx, 0, w->hdr, w->data_start)) {
		err = ELFIMG_E_IO;
		goto out;
	}
	pos = w->data_start;
	for (size_t s = 0; s < w->nsegs; s++) {
		for (uint64_t off = 0; off < w->segs[s].memsz;
		     off += w->p.chunk_size, ci++) {
			size_t len = w->segs[s].memsz - off < w->p.chunk_size ?
				     w->segs[s].memsz - off : w->p.chunk_size;
			struct wslot *sl = &pl.slots[ci % pl.nslots];

			/* the slot is free once chunk ci - nslots is written */
			while (written + pl.nslots <= ci)
				if ((err = write_next(w, &pl, &written, &pos, &done)))
					goto out;
			if (w->p.read_mem(w->p.ctx, w->segs[s].paddr + off,
					  sl->inbuf, len)) {
				err = ELFIMG_E_IO;
				goto out;
			}
			sl->len = len;
			if (!nthreads) {
				sl->err = pack_chunk(&w->p, w->outcap, &pl.thr[0].z, sl);
				sl->done = true;
				continue;
			}
			pthread_mutex_lock(&pl.mu);
			sl->done = false;
			pl.filled = ci + 1;
			pthread_cond_signal(&pl.work_cv);
			pthread_mutex_unlock(&pl.mu);
		}
	}
	while (written < ci)
		if ((err = write_next(w, &pl, &written, &pos, &done)))
			goto out;
	/* pad the file to a data-align multiple */
	end = pos;
	if (ci && w->st.stored_bytes) {
		uint64_t last = 0;

		for (uint64_t i = 0; i < w->nchunks; i++)
			if (w->index[i].stored)
				last = w->index[i].offset + w->index[i].stored;
		if (last < end) {
			static const uint8_t zeros[4096];
			uint64_t at = last;

			while (at < end) {
				size_t k = end - at > sizeof(zeros) ?
					   sizeof(zeros) : end - at;

				if (w->p.write_at(w->p.ctx, at, zeros, k)) {
					err = ELFIMG_E_IO;
					goto out;
				}
				at += k;
			}
		}
	}
	w->st.data_end = end;
	w->data_done = true;
out:
	pool_stop(&pl);
	return err;
}

enum elfimg_err elfimg_writer_set_extents(struct elfimg_writer *w,
					  const struct elfimg_extent *e,
					  size_t n,
					  const struct elfimg_extents_dev *dev)
{
	uint64_t *v;
	int node, rc;

	if (!w || (!e && n) || n > w->p.extents_reserve)
		return ELFIMG_E_ARG;
	node = fdt_subnode_offset(w->fdt, 0, "extents");
	if (node < 0)
		node = fdt_add_subnode(w->fdt, 0, "extents");
	if (node < 0)
		return ELFIMG_E_NOMEM;
	v = calloc(n ? n * 3 : 1, sizeof(*v));
	if (!v)
		return ELFIMG_E_NOMEM;
	for (size_t i = 0; i < n; i++) {
		v[i * 3] = cpu_to_fdt64(e[i].file_offset);
		v[i * 3 + 1] = cpu_to_fdt64(e[i].dev_offset);
		v[i * 3 + 2] = cpu_to_fdt64(e[i].length);
	}
	rc = fdt_setprop(w->fdt, node, "map", v, (int)(n * 3 * sizeof(*v)));
	free(v);
	if (!rc && dev && dev->device)
		rc = fdt_setprop_string(w->fdt, node, "device", dev->device);
	if (!rc && dev && dev->device)
		rc = fdt_setprop_u64(w->fdt, node, "partition-start",
				     dev->part_start);
	if (!rc && dev && dev->partuuid)
		rc = fdt_setprop_string(w->fdt, node, "partuuid",
					dev->partuuid);
	return rc ? ELFIMG_E_NOMEM : ELFIMG_OK;
}

/* Extra FDT properties for the saver (device identity etc.). */
static void finish_hdr(struct elfimg_writer *w)
{
	static const uint8_t zeros[sizeof(struct elfimg_state_desc)];
	uint32_t crc;

	fdt_setprop_inplace_u32(w->fdt, 0, "index-crc",
				(uint32_t)crc32(0, (const Bytef *)w->index,
						(uInt)(w->nchunks * sizeof(*w->index))));
	fdt_setprop_inplace_u64(w->fdt, 0, "data-end", w->st.data_end);
	memcpy(w->hdr + w->index_off, w->index,
	       w->nchunks * sizeof(*w->index));
	crc = (uint32_t)crc32(0, w->hdr, ELFIMG_STATE_DESC_OFF);
	crc = (uint32_t)crc32(crc, zeros, sizeof(zeros));
	crc = (uint32_t)crc32(crc, w->hdr + ELFIMG_STATE_DESC_OFF + sizeof(zeros),
			      (uInt)(w->hdr_len - ELFIMG_STATE_DESC_OFF -
				     sizeof(zeros)));
	memcpy(w->hdr + ELFIMG_STATE_DESC_OFF +
	       offsetof(struct elfimg_state_desc, hdr_crc), &crc, 4);
}

enum elfimg_err elfimg_writer_write_headers(struct elfimg_writer *w)
{
	if (!w || !w->data_done)
		return ELFIMG_E_ARG;
	finish_hdr(w);
	if (w->p.write_at(w->p.ctx, 0, w->hdr, w->hdr_len))
		return ELFIMG_E_IO;
	w->hdr_done = true;
	return ELFIMG_OK;
}

static enum elfimg_err self_check(struct elfimg_writer *w)
{
	struct elfimg_segment *segs = calloc(w->nsegs, sizeof(*segs));
	struct elfimg_info info;
	enum elfimg_err err;

	if (!segs)
		return ELFIMG_E_NOMEM;
	err = elfimg_parse(w->hdr, w->hdr_len, NULL, &info, segs, w->nsegs);
	if (!err)
		err = elfimg_check_file_size(&info, segs, w->st.data_end);
	if (!err)
		err = elfimg_check_resumable(&info, false);
	free(segs);
	return err;
}

enum elfimg_err elfimg_writer_mark_complete(struct elfimg_writer *w)
{
	enum elfimg_err err;

	if (!w || !w->hdr_done)
		return ELFIMG_E_ARG;
	err = elfimg_mark(w->hdr, w->hdr_len, ELFIMG_STATE_COMPLETE);
	if (err)
		return err;
	/* never mark complete what the reader would reject */
	err = self_check(w);
	if (err) {
		elfimg_state_encode(ELFIMG_STATE_WRITING,
				    w->hdr + ELFIMG_STATE_OFF);
		return err;
	}
	/* one 512-byte sector: the state word is at 0x5c */
	if (w->p.write_at(w->p.ctx, 0, w->hdr, 512 < w->hdr_len ? 512 : w->hdr_len))
		return ELFIMG_E_IO;
	return ELFIMG_OK;
}

const struct elfimg_wstats *elfimg_writer_stats(const struct elfimg_writer *w)
{
	return &w->st;
}

void elfimg_writer_free(struct elfimg_writer *w)
{
	if (!w)
		return;
	free(w->segs);
	free(w->index);
	free(w->hdr);
	free(w);
}
