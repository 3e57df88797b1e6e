// SPDX-License-Identifier: MIT
/* Sets of physical byte ranges (spans.h). */
#include <stdlib.h>

#include "tools/spans.h"

int spans_add(struct spans *s, uint64_t start, uint64_t end)
{
	if (start >= end)
		return 0;
	if (s->n && s->v[s->n - 1].end == start) {
		s->v[s->n - 1].end = end;
		return 0;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct span *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -1;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = (struct span){ start, end };
	return 0;
}

static int cmp_span(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->end < y->end ? -1 : x->end > y->end;
}

void spans_norm(struct spans *s)
{
	size_t out = 0;

	if (!s->n)
		return;
	qsort(s->v, s->n, sizeof(*s->v), cmp_span);
	for (size_t i = 0; i < s->n; i++) {
		if (out && s->v[i].start <= s->v[out - 1].end) {
			if (s->v[i].end > s->v[out - 1].end)
				s->v[out - 1].end = s->v[i].end;
			continue;
		}
		s->v[out++] = s->v[i];
	}
	s->n = out;
}

size_t spans_at(const struct span *v, size_t n, uint64_t addr)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (addr >= v[mid].end)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int spans_sub(struct spans *a, const struct spans *b)
{
	struct spans r = { 0 };

	for (size_t i = 0; i < a->n; i++) {
		uint64_t cur = a->v[i].start, end = a->v[i].end;

		for (size_t k = spans_at(b->v, b->n, cur);
		     k < b->n && b->v[k].start < end; k++) {
			if (b->v[k].start > cur &&
			    spans_add(&r, cur, b->v[k].start))
				goto oom;
			cur = b->v[k].end;
		}
		if (cur < end && spans_add(&r, cur, end))
			goto oom;
	}
	free(a->v);
	*a = r;
	return 0;
oom:
	free(r.v);
	return -1;
}

uint64_t spans_overlap(const struct spans *s, uint64_t start, uint64_t end)
{
	uint64_t n = 0;

	for (size_t k = spans_at(s->v, s->n, start);
	     k < s->n && s->v[k].start < end; k++) {
		uint64_t a = s->v[k].start > start ? s->v[k].start : start;
		uint64_t b = s->v[k].end < end ? s->v[k].end : end;

		n += b - a;
	}
	return n;
}

void spans_free(struct spans *s)
{
	free(s->v);
	*s = (struct spans){ 0 };
}
