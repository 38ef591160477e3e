// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * parse.c - durations, sizes and address ranges on qdamo's command line,
 * and their human-readable forms.
 *
 * Units follow damo's, so that a damo command line's values can be
 * pasted: times take ns/us/ms/s/m/h and default to microseconds (the
 * unit of DAMON's sysfs files and of our QMP commands); sizes are binary.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "parse.h"

static const struct {
	const char *suffix;
	double us;
} time_units[] = {
	{ "ns", 1e-3 }, { "us", 1 }, { "ms", 1e3 }, { "s", 1e6 },
	{ "m", 60e6 }, { "min", 60e6 }, { "h", 3600e6 }, { "", 1 },
};

gboolean qdamo_parse_duration_us(const char *text, uint64_t *us,
				 GError **err)
{
	char *end;
	double v;
	size_t i;

	errno = 0;
	v = g_ascii_strtod(text, &end);
	if (end == text || errno || !isfinite(v) || v < 0)
		goto bad;
	while (*end == ' ')
		end++;
	for (i = 0; i < G_N_ELEMENTS(time_units); i++) {
		if (!g_ascii_strcasecmp(end, time_units[i].suffix)) {
			double r = v * time_units[i].us;

			/* QMP's limits are far below this; it only stops overflow */
			if (r > 1e15)
				goto bad;
			*us = (uint64_t)llround(r);
			return TRUE;
		}
	}
bad:
	g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE,
		    "'%s' is not a duration (examples: 5ms, 100ms, 1s, 2m; "
		    "a bare number is microseconds)", text);
	return FALSE;
}

gboolean qdamo_parse_duration_ms(const char *text, uint64_t *ms, GError **err)
{
	g_autofree char *with_unit = NULL;
	char *end;
	uint64_t us;

	/* a bare number gets the unit the option's name promises */
	g_ascii_strtod(text, &end);
	if (end != text && !*end)
		with_unit = g_strdup_printf("%sms", text);
	if (!qdamo_parse_duration_us(with_unit ? with_unit : text, &us, NULL) ||
	    us % 1000) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE,
			    "'%s' is not a whole number of milliseconds (examples: "
			    "10, 10ms, 1s; a bare number is milliseconds)", text);
		return FALSE;
	}
	*ms = us / 1000;
	return TRUE;
}

gboolean qdamo_parse_size(const char *text, uint64_t *bytes, GError **err)
{
	const char *p = text;
	guint64 v;
	char *end;
	int shift = 0;

	while (*p == ' ')
		p++;
	errno = 0;
	if (!g_ascii_isdigit(*p))
		goto bad;
	v = g_ascii_strtoull(p, &end, 0);
	if (errno || end == p)
		goto bad;
	switch (g_ascii_toupper(*end)) {
	case 'K': shift = 10; end++; break;
	case 'M': shift = 20; end++; break;
	case 'G': shift = 30; end++; break;
	case 'T': shift = 40; end++; break;
	default: break;
	}
	/* "16M", "16MiB" and "16MB" all mean 16 << 20 */
	if (shift && (!g_ascii_strcasecmp(end, "iB") || !g_ascii_strcasecmp(end, "B")))
		end += strlen(end);
	if (*end)
		goto bad;
	if (shift && v > (G_MAXUINT64 >> shift))
		goto bad;
	*bytes = v << shift;
	return TRUE;
bad:
	g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE,
		    "'%s' is not a size or address (examples: 4096, 0x1000000, 16M, 4G)",
		    text);
	return FALSE;
}

gboolean qdamo_parse_bp(const char *text, uint64_t max, uint64_t *bp,
			GError **err)
{
	char *end = NULL;
	double v;

	errno = 0;
	v = g_ascii_strtod(text, &end);
	if (end == text || errno || !(v >= 0))
		goto bad;
	if (!strcmp(end, "%"))
		v *= 100;
	else if (*end && strcmp(end, "bp"))
		goto bad;
	/* 0.01 % is the finest a basis point can say ("0.07%" is 7.000001) */
	if (fabs(v - round(v)) > 1e-6 || round(v) > (double)max)
		goto bad;
	*bp = (uint64_t)round(v);
	return TRUE;
bad:
	g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE,
		    "'%s' is not a share from 0 to %g%% in steps of 0.01%% "
		    "(examples: 4%%, 0.5%%, 400bp)", text, max / 100.0);
	return FALSE;
}

/*
 * Split @text at commas and read each item (blanks around it dropped)
 * with @one into an array of @size-byte elements.
 */
static GArray *parse_list(const char *text, guint size,
			  gboolean (*one)(const char *item, void *out, GError **err),
			  GError **err)
{
	g_autoptr(GArray) out = g_array_new(FALSE, TRUE, size);
	g_auto(GStrv) parts = g_strsplit(text, ",", -1);
	char **p;

	for (p = parts; *p; p++) {
		g_array_set_size(out, out->len + 1);
		if (!one(g_strstrip(*p), out->data + (gsize)(out->len - 1) * size, err))
			return NULL;
	}
	return g_steal_pointer(&out);
}

static gboolean parse_range(const char *item, void *out, GError **err)
{
	g_auto(GStrv) ends = g_strsplit(item, "-", 2);
	QdamoRange *r = out;

	if (!ends[0] || !ends[1]) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE,
			    "'%s' is not a range START-END (example: 16M-48M)", item);
		return FALSE;
	}
	if (!qdamo_parse_size(ends[0], &r->start, err) ||
	    !qdamo_parse_size(ends[1], &r->end, err))
		return FALSE;
	if (r->end <= r->start) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE,
			    "range '%s' ends before it starts", item);
		return FALSE;
	}
	return TRUE;
}

GArray *qdamo_parse_ranges(const char *text, GError **err)
{
	return parse_list(text, sizeof(QdamoRange), parse_range, err);
}

gboolean qdamo_parse_pair(const char *text, uint64_t *a, uint64_t *b,
			  GError **err)
{
	g_auto(GStrv) parts = g_strsplit(text, ",", -1);

	if (g_strv_length(parts) != 2 ||
	    !g_ascii_string_to_unsigned(g_strstrip(parts[0]), 10, 0, G_MAXUINT32,
					(guint64 *)a, NULL) ||
	    !g_ascii_string_to_unsigned(g_strstrip(parts[1]), 10, 0, G_MAXUINT32,
					(guint64 *)b, NULL)) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE,
			    "'%s' is not MIN,MAX (example: 10,1000)", text);
		return FALSE;
	}
	return TRUE;
}

static gboolean parse_percentile(const char *item, void *out, GError **err)
{
	guint64 v;

	if (!g_ascii_string_to_unsigned(item, 10, 0, 100, &v, NULL)) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE,
			    "percentile '%s' is not 0 to 100", item);
		return FALSE;
	}
	*(guint8 *)out = (guint8)v;
	return TRUE;
}

GArray *qdamo_parse_percentiles(const char *text, GError **err)
{
	g_autoptr(GArray) out = parse_list(text, sizeof(guint8), parse_percentile, err);

	if (out && (out->len == 0 || out->len > 101)) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE,
			    "give 1 to 101 percentiles (got %u)", out->len);
		return NULL;
	}
	return g_steal_pointer(&out);
}

char *qdamo_fmt_size(uint64_t bytes, gboolean raw)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)bytes;
	int u = -1;

	if (raw)
		return g_strdup_printf("%" G_GUINT64_FORMAT, bytes);
	if (bytes < 1024)
		return g_strdup_printf("%" G_GUINT64_FORMAT " B", bytes);
	/* not g_format_size(): it joins number and unit with a no-break space */
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	return g_strdup_printf("%.1f %s", v, units[u]);
}

char *qdamo_fmt_duration_us(uint64_t us, gboolean raw)
{
	if (raw)
		return g_strdup_printf("%" G_GUINT64_FORMAT, us);
	if (us == 0)
		return g_strdup("0");
	if (us < 1000)
		return g_strdup_printf("%" G_GUINT64_FORMAT " us", us);
	if (us < 1000000)
		return us % 1000 ? g_strdup_printf("%.1f ms", us / 1e3)
				 : g_strdup_printf("%" G_GUINT64_FORMAT " ms", us / 1000);
	if (us < 60000000)
		return us % 1000000 ? g_strdup_printf("%.2f s", us / 1e6)
				    : g_strdup_printf("%" G_GUINT64_FORMAT " s", us / 1000000);
	/* a whole number of minutes or hours reads "5 min", not "5 min 0 s" */
	if (us < 3600000000ULL)
		return us / 1000000 % 60
			? g_strdup_printf("%" G_GUINT64_FORMAT " min %" G_GUINT64_FORMAT " s",
					  us / 60000000, us / 1000000 % 60)
			: g_strdup_printf("%" G_GUINT64_FORMAT " min", us / 60000000);
	return us / 60000000 % 60
		? g_strdup_printf("%" G_GUINT64_FORMAT " h %" G_GUINT64_FORMAT " min",
				  us / UINT64_C(3600000000), us / 60000000 % 60)
		: g_strdup_printf("%" G_GUINT64_FORMAT " h", us / UINT64_C(3600000000));
}
