// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libc.c - the three memory functions gcc may call even in a
 * freestanding build (structure copies and clears).
 */
#include "io.h"

void *memset(void *dst, int c, unsigned int n)
{
	unsigned char *d = dst;

	while (n--)
		*d++ = (unsigned char)c;
	return dst;
}

void *memcpy(void *dst, const void *src, unsigned int n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	while (n--)
		*d++ = *s++;
	return dst;
}

int memcmp(const void *a, const void *b, unsigned int n)
{
	const unsigned char *p = a, *q = b;

	for (; n; n--, p++, q++) {
		if (*p != *q)
			return *p < *q ? -1 : 1;
	}
	return 0;
}
