/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * table.h - plain-text tables with columns sized to their contents.
 */
#ifndef QDAMO_TABLE_H
#define QDAMO_TABLE_H

#include <stdio.h>

#include <glib.h>

typedef struct QdamoTable QdamoTable;

/*
 * @headers: NULL-terminated column titles; @align: one 'l' or 'r' per
 * column.
 */
QdamoTable *qdamo_table_new(const char *const *headers, const char *align);

/* Add a row of one string per column (copied). */
void qdamo_table_add(QdamoTable *tb, ...);

/* Add a row from a NULL-terminated vector (taken). */
void qdamo_table_add_strv(QdamoTable *tb, char **row);

void qdamo_table_print(QdamoTable *tb, FILE *f);
void qdamo_table_free(QdamoTable *tb);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QdamoTable, qdamo_table_free)

#endif
