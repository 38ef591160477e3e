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
	int all;		/* takes "all" (WL_ALL) as well as a number */
};

/* Every key is the name of its field. */
#define KEY(field, all) { #field, offsetof(struct wl_config, field), all }

static const struct wl_key wl_keys[] = {
	KEY(hot_start, 0),
	KEY(hot_size, 0),
	KEY(hot2_start, 0),
	KEY(hot2_size, 0),
	KEY(phase_passes, 0),
	KEY(phase_secs, 0),
	KEY(phase_count, 0),
	KEY(phase_stride, 0),
	KEY(read_start, 0),
	KEY(read_size, 0),
	KEY(fill_start, 0),
	KEY(fill_size, 1),
	KEY(fill_seed, 0),
	KEY(verify_secs, 0),
	KEY(verify_passes, 0),
	KEY(commands, 0),
	KEY(eject_slots, 0),
};

#define NR_KEYS (sizeof(wl_keys) / sizeof(wl_keys[0]))

void wl_config_defaults(struct wl_config *cfg)
{
	*cfg = (struct wl_config){
		.hot_start = WL_DEFAULT_HOT_START,
		.hot_size = WL_DEFAULT_HOT_SIZE,
		.phase_count = WL_DEFAULT_PHASE_COUNT,
		.fill_start = WL_DEFAULT_FILL_START,
		.fill_seed = WL_DEFAULT_FILL_SEED,
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

/* Is the value "all"?  A size cannot say "up to the limit" otherwise. */
static int is_all(const char *s, uint32_t len)
{
	return len == 3 && s[0] == 'a' && s[1] == 'l' && s[2] == 'l';
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
	if (key->all && is_all(s + eq + 1, len - eq - 1)) {
		v = WL_ALL;
	} else if (parse_u64(s + eq + 1, len - eq - 1, &v) < 0) {
		con_printf("qdamon-workload: config: ignoring '");
		con_write(s, len);
		con_printf("': bad number (decimal or 0x hex, then K/M/G%s)\n",
			   key->all ? ", or all" : "");
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
