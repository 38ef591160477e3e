// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * table.c - plain-text tables.  Columns are as wide as their widest
 * cell, two blanks apart, so that the output lines up in a terminal and
 * stays easy to cut with awk.
 */
#include <stdarg.h>
#include <string.h>

#include "table.h"

struct QdamoTable {
	guint ncols;
	char *align;
	GPtrArray *rows;	/* of GStrv; row 0 is the header */
};

QdamoTable *qdamo_table_new(const char *const *headers, const char *align)
{
	QdamoTable *tb = g_new0(QdamoTable, 1);

	tb->ncols = g_strv_length((char **)headers);
	g_assert(strlen(align) == tb->ncols);
	tb->align = g_strdup(align);
	tb->rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
	g_ptr_array_add(tb->rows, g_strdupv((char **)headers));
	return tb;
}

void qdamo_table_add(QdamoTable *tb, ...)
{
	char **row = g_new0(char *, tb->ncols + 1);
	va_list ap;
	guint i;

	va_start(ap, tb);
	for (i = 0; i < tb->ncols; i++)
		row[i] = g_strdup(va_arg(ap, const char *));
	va_end(ap);
	g_ptr_array_add(tb->rows, row);
}

void qdamo_table_add_strv(QdamoTable *tb, char **row)
{
	g_assert(g_strv_length(row) == tb->ncols);
	g_ptr_array_add(tb->rows, row);
}

void qdamo_table_print(QdamoTable *tb, FILE *f)
{
	g_autofree guint *width = g_new0(guint, tb->ncols);
	guint r, c;

	for (r = 0; r < tb->rows->len; r++) {
		char **row = g_ptr_array_index(tb->rows, r);

		for (c = 0; c < tb->ncols; c++)
			width[c] = MAX(width[c], (guint)g_utf8_strlen(row[c], -1));
	}
	for (r = 0; r < tb->rows->len; r++) {
		char **row = g_ptr_array_index(tb->rows, r);
		g_autoptr(GString) line = g_string_new(NULL);

		for (c = 0; c < tb->ncols; c++) {
			guint pad = width[c] - (guint)g_utf8_strlen(row[c], -1);

			if (c)
				g_string_append(line, "  ");
			if (tb->align[c] == 'r')
				g_string_append_printf(line, "%*s%s", pad, "", row[c]);
			else
				g_string_append_printf(line, "%s%*s", row[c], pad, "");
		}
		/* no trailing blanks from a left-aligned last column */
		while (line->len && line->str[line->len - 1] == ' ')
			g_string_truncate(line, line->len - 1);
		fprintf(f, "%s\n", line->str);
	}
}

void qdamo_table_free(QdamoTable *tb)
{
	if (!tb)
		return;
	g_ptr_array_free(tb->rows, TRUE);
	g_free(tb->align);
	g_free(tb);
}
