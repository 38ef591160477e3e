/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Minimal intrusive doubly linked list for the DAMON engine.
 *
 * The engine is plain C11 and must not depend on GLib or QEMU, so it
 * carries its own list.  Circular, with a sentinel head, in the style of
 * the kernel's list_head.
 */
#ifndef DAMON_LIST_H
#define DAMON_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct damon_list {
	struct damon_list *prev, *next;
};

#define DAMON_LIST_INIT(name) { &(name), &(name) }

#define damon_container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

static inline void damon_list_init(struct damon_list *h)
{
	h->prev = h;
	h->next = h;
}

static inline bool damon_list_empty(const struct damon_list *h)
{
	return h->next == h;
}

static inline void damon_list_insert_between(struct damon_list *n,
		struct damon_list *prev, struct damon_list *next)
{
	n->prev = prev;
	n->next = next;
	prev->next = n;
	next->prev = n;
}

/* Insert @n right after @pos. */
static inline void damon_list_add(struct damon_list *n, struct damon_list *pos)
{
	damon_list_insert_between(n, pos, pos->next);
}

/* Insert @n right before @pos (at the tail when @pos is the head). */
static inline void damon_list_add_tail(struct damon_list *n,
		struct damon_list *pos)
{
	damon_list_insert_between(n, pos->prev, pos);
}

static inline void damon_list_del(struct damon_list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n;
	n->next = n;
}

#define damon_list_entry(ptr, type, member) \
	damon_container_of(ptr, type, member)

#endif /* DAMON_LIST_H */
