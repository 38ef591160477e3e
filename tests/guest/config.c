// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * config.c - parsing the workload guest's "key=value" configuration.
 */
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "console.h"

struct wl_key {
	const char *name;
	uint32_t offset;	/* of a uint64_t in struct wl_config */
};

static const struct wl_key wl_keys[] = {
	{ "hot_start", offsetof(struct wl_config, hot_start) },
	{ "hot_size", offsetof(struct wl_config, hot_size) },
	{ "hot2_start", offsetof(struct wl_config, hot2_start) },
	{ "hot2_size", offsetof(struct wl_config, hot2_size) },
	{ "phase_passes", offsetof(struct wl_config, phase_passes) },
	{ "phase_secs", offsetof(struct wl_config, phase_secs) },
	{ "phase_count", offsetof(struct wl_config, phase_count) },
	{ "phase_stride", offsetof(struct wl_config, phase_stride) },
	{ "read_start", offsetof(struct wl_config, read_start) },
	{ "read_size", offsetof(struct wl_config, read_size) },
};

#define NR_KEYS (sizeof(wl_keys) / sizeof(wl_keys[0]))

void wl_config_defaults(struct wl_config *cfg)
{
	*cfg = (struct wl_config){
		.hot_start = WL_DEFAULT_HOT_START,
		.hot_size = WL_DEFAULT_HOT_SIZE,
		.phase_count = WL_DEFAULT_PHASE_COUNT,
	};
}

static int is_sep(char c)
{
	return c == ',' || c == ';' || c == ' ' || c == '\t' ||
	       c == '\n' || c == '\r' || c == '\0';
}

static int digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return 99;
}

static int suffix_shift(char c)
{
	switch (c) {
	case 'k': case 'K': return 10;
	case 'm': case 'M': return 20;
	case 'g': case 'G': return 30;
	default: return -1;
	}
}

/*
 * parse_u64 - decimal, or hex after "0x", then an optional K/M/G.
 * Uses no 64-bit division (there is no libgcc in this build).
 * Return: 0 on success, -1 on a malformed or overflowing number.
 */
static int parse_u64(const char *s, uint32_t len, uint64_t *out)
{
	unsigned int base = 10, i = 0, ndigits = 0;
	uint64_t v = 0;
	int d, shift;

	if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		i = 2;
	}
	for (; i < len && (d = digit_value(s[i])) < (int)base; i++, ndigits++) {
		if (base == 16 ? v >> 60 : v > 0x1999999999999999ULL)
			return -1;
		v = base == 16 ? v << 4 : v * 10;
		if (v + (unsigned int)d < v)
			return -1;
		v += (unsigned int)d;
	}
	if (!ndigits)
		return -1;
	if (i < len) {
		shift = suffix_shift(s[i]);
		if (shift < 0 || i + 1 != len || (v >> (64 - shift)))
			return -1;
		v <<= shift;
	}
	*out = v;
	return 0;
}

static const struct wl_key *find_key(const char *s, uint32_t len)
{
	unsigned int k, i;

	for (k = 0; k < NR_KEYS; k++) {
		const char *name = wl_keys[k].name;

		for (i = 0; i < len && name[i] == s[i]; i++)
			;
		if (i == len && !name[i])
			return &wl_keys[k];
	}
	return NULL;
}

/* Apply one "key=value" item.  Return: 0, or 1 when it was ignored. */
static unsigned int apply_item(struct wl_config *cfg, const char *s,
			       uint32_t len)
{
	const struct wl_key *key;
	uint32_t eq = 0;
	uint64_t v;

	while (eq < len && s[eq] != '=')
		eq++;
	key = eq < len ? find_key(s, eq) : NULL;
	if (!key) {
		con_printf("qdamon-workload: config: ignoring '");
		con_write(s, len);
		con_printf("': not key=value with a known key\n");
		return 1;
	}
	if (parse_u64(s + eq + 1, len - eq - 1, &v) < 0) {
		con_printf("qdamon-workload: config: ignoring '");
		con_write(s, len);
		con_printf("': bad number (decimal or 0x hex, then K/M/G)\n");
		return 1;
	}
	*(uint64_t *)((char *)cfg + key->offset) = v;
	return 0;
}

unsigned int wl_config_parse(struct wl_config *cfg, const char *text,
			     uint32_t len)
{
	unsigned int bad = 0;
	uint32_t i = 0, start;

	while (i < len) {
		if (text[i] == '#') {
			while (i < len && text[i] != '\n')
				i++;
			continue;
		}
		if (is_sep(text[i])) {
			i++;
			continue;
		}
		start = i;
		while (i < len && !is_sep(text[i]) && text[i] != '#')
			i++;
		bad += apply_item(cfg, text + start, i - start);
	}
	return bad;
}
