// SPDX-License-Identifier: MIT
/*
 * loader/options.c - the loader's settings (pure, host-tested).
 */
#include "loader/loader.h"

void kj_options_default(struct kj_options *o)
{
	*o = (struct kj_options){ .pause = 3 };
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool word_is(const char *w, size_t len, const char *s)
{
	size_t i = 0;
	for (; i < len && s[i] && w[i] == s[i]; i++)
		;
	return i == len && !s[i];
}

static void put_err(char *err, size_t errlen, const char *a, const char *w, size_t len)
{
	size_t o = 0;
	for (; *a && o + 1 < errlen; a++)
		err[o++] = *a;
	for (size_t i = 0; i < len && o + 1 < errlen; i++)
		err[o++] = w[i];
	if (errlen)
		err[o] = 0;
}

static bool set_str(char *dst, size_t cap, const char *v, size_t len)
{
	if (!len || len >= cap)
		return false;
	for (size_t i = 0; i < len; i++)
		dst[i] = v[i];
	dst[len] = 0;
	return true;
}

bool kj_options_parse(struct kj_options *o, const char *s, char *err, size_t errlen)
{
	while (*s) {
		if (is_space(*s)) {
			s++;
			continue;
		}
		if (*s == '#') {
			while (*s && *s != '\n')
				s++;
			continue;
		}
		const char *w = s;
		while (*s && !is_space(*s))
			s++;
		size_t len = (size_t)(s - w), k = 0;
		while (k < len && w[k] != '=')
			k++;
		if (k == len) {
			if (word_is(w, len, "verbose"))
				o->verbose = true;
			else if (word_is(w, len, "dry-run"))
				o->dry_run = true;
			else if (word_is(w, len, "discard"))
				o->discard = true;
			else if (word_is(w, len, "check-all"))
				o->check_all = true;
			continue; /* e.g. the loader's path, from GRUB */
		}
		const char *v = w + k + 1;
		size_t vlen = len - k - 1;
		bool ok;
		if (word_is(w, k, "image"))
			ok = set_str(o->image, sizeof(o->image), v, vlen);
		else if (word_is(w, k, "partuuid"))
			ok = vlen == 36 && set_str(o->partuuid, sizeof(o->partuuid), v, vlen);
		else if (word_is(w, k, "partlabel"))
			ok = vlen <= 36 && set_str(o->partlabel, sizeof(o->partlabel), v, vlen);
		else if (word_is(w, k, "offset")) {
			uint64_t n = 0;
			ok = vlen > 0 && vlen < 19;
			for (size_t i = 0; ok && i < vlen; i++) {
				ok = v[i] >= '0' && v[i] <= '9';
				n = n * 10 + (uint64_t)(v[i] - '0');
			}
			ok = ok && !(n & 511);
			if (ok)
				o->offset = n;
		} else if (word_is(w, k, "pause")) {
			unsigned n = 0;
			ok = vlen > 0 && vlen < 4;
			for (size_t i = 0; ok && i < vlen; i++) {
				ok = v[i] >= '0' && v[i] <= '9';
				n = n * 10 + (unsigned)(v[i] - '0');
			}
			if (ok)
				o->pause = n;
		} else {
			put_err(err, errlen, "unknown setting: ", w, len);
			return false;
		}
		if (!ok) {
			put_err(err, errlen, "bad value: ", w, len);
			return false;
		}
		/* the last source given wins */
		if (word_is(w, k, "image"))
			o->partuuid[0] = o->partlabel[0] = 0;
		else if (word_is(w, k, "partuuid"))
			o->image[0] = o->partlabel[0] = 0;
		else if (word_is(w, k, "partlabel"))
			o->image[0] = o->partuuid[0] = 0;
	}
	return true;
}
