/* SPDX-License-Identifier: MIT */
/*
 * Sets of physical byte ranges for the host tools (kjsave, freepages):
 * growable arrays of [start, end) spans. "Normalised": sorted, disjoint,
 * adjacent spans merged. Functions that allocate return -1 when out of
 * memory (the set is then unchanged), 0 otherwise.
 */
#ifndef KJ_TOOLS_SPANS_H
#define KJ_TOOLS_SPANS_H

#include <stddef.h>
#include <stdint.h>

struct span {
	uint64_t start, end;		/* [start, end), bytes */
};

struct spans {
	struct span *v;
	size_t n, cap;
};

/* Append [start, end) (empty: nothing), merged into the last span if it
 * starts where that one ends. */
int spans_add(struct spans *s, uint64_t start, uint64_t end);
/* Sort; merge overlapping and adjacent spans. */
void spans_norm(struct spans *s);
/* @a -= @b; both normalised, and so is the result. */
int spans_sub(struct spans *a, const struct spans *b);
/* Index of the span of sorted, disjoint @v holding @addr, or of the first
 * span after it (@n: none). */
size_t spans_at(const struct span *v, size_t n, uint64_t addr);
/* Bytes of [start, end) inside the normalised @s. */
uint64_t spans_overlap(const struct spans *s, uint64_t start, uint64_t end);
void spans_free(struct spans *s);

#endif
