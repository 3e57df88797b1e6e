/* SPDX-License-Identifier: MIT */
/*
 * loader/loader.h - the resume flow's pure helpers (options, memory-map
 * comparison, destination extents). No <efi.h>: host-tested.
 */
#ifndef KJ_LOADER_H
#define KJ_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "elfimg/elfimg.h"
#include "relocate/plan.h"

/* Settings: kjresume.conf beside the loader, then the load options. */
struct kj_options {
	char image[256];	/* image=PATH: a file on the loader's volume */
	char partuuid[40];	/* partuuid=GUID: a raw GPT partition */
	char partlabel[40];	/* partlabel=NAME: a raw GPT partition by name */
	uint64_t offset;	/* offset=BYTES: the image is a file on the
				 * partition's filesystem, starting there; the
				 * rest is read through the extents it records */
	unsigned pause;		/* pause=SECONDS after a refusal (default 3) */
	bool verbose;		/* verbose: list segments, maps, the plan */
	bool dry_run;		/* dry-run: read and verify, never resume */
	bool discard;		/* discard: mark a complete image consumed, return */
	bool check_all;		/* check-all: after ExitBootServices the stub
				 * re-checks every restored page, not only the
				 * pages it copies and zero-fills */
};

void kj_options_default(struct kj_options *o);
/*
 * Parse "key=value key flag" words (whitespace or newlines separate them,
 * '#' starts a comment to the end of the line). Words without '=' that are
 * not known flags are ignored (GRUB passes the loader's own path first).
 * Returns false with a message in @err for an unknown key or a bad value.
 */
bool kj_options_parse(struct kj_options *o, const char *text, char *err,
		      size_t errlen);

/* One range of a memory map, in Linux's E820 vocabulary. */
struct kj_e820 { uint64_t start, end; uint32_t type; };

/*
 * Merge adjacent ranges of equal type in place (input sorted by start,
 * non-overlapping); returns the new count.
 */
size_t kj_e820_merge(struct kj_e820 *r, size_t n);

/*
 * Compare the map A booted with (@a) with today's (@b), both merged.
 * RAM must be the same pages (a different RAM size or layout is refused),
 * and every ACPI, NVS, unusable and pmem range must be where A left it (A
 * keeps pointers into them). Reserved ranges are not compared. On a
 * difference, describes the first one in @msg and returns false.
 * @scratch: room for na + nb entries.
 */
bool kj_e820_same(const struct kj_e820 *a, size_t na,
		  const struct kj_e820 *b, size_t nb, char *msg, size_t msglen,
		  struct kj_e820 *scratch);

/*
 * Destination extents of an image, page granular and sorted: pages the
 * image fills with data, and pages of all-zero chunks (zero = 1) that the
 * stub zero-fills. A page shared by data and zeros is data. Returns the
 * number of extents, or (size_t)-1 if @cap is too small.
 */
size_t kj_dest_extents(const struct elfimg_info *info,
		       const struct elfimg_segment *segs, size_t nsegs,
		       struct reloc_dest *out, size_t cap);

#endif
