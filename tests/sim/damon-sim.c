// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * damon-sim: run the engine on a simulated guest in real time and print
 * a live working-set and hot-region report, with the simulation's
 * ground truth beside it.
 *
 * It is the engine's demonstration and smoke test on real time, and the
 * smallest example of a driver: one thread that sleeps until the next
 * deadline and steps, as the QEMU monitor thread does on a real guest.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "damon/damon.h"
#include "sim/sim.h"

struct report_region {
	uint64_t start, end;
	unsigned int nr_accesses, age;
};

struct report {
	GArray *regions;	/* struct report_region */
	uint64_t nr_aggregations, now_us, start_us, sample_us;
	unsigned int max_nr_accesses;
	unsigned int phase;
};

static gchar *opt_pattern = NULL;
static gint64 opt_size_mib = 1024;
static gint opt_duration = 10;
static gint64 opt_seed = 1;
static gint opt_top = 5;

static const GOptionEntry entries[] = {
	{ "pattern", 'p', 0, G_OPTION_ARG_STRING, &opt_pattern,
	  "access pattern: static (10% hot), stairs or zigzag "
	  "(default: stairs)", "NAME" },
	{ "size", 's', 0, G_OPTION_ARG_INT64, &opt_size_mib,
	  "simulated memory size in MiB, 64 to 16777216 (default 1024)",
	  "MIB" },
	{ "duration", 'd', 0, G_OPTION_ARG_INT, &opt_duration,
	  "seconds to run, 1 to 3600 (default 10)", "S" },
	{ "seed", 0, 0, G_OPTION_ARG_INT64, &opt_seed,
	  "random seed (default 1)", "N" },
	{ "top", 't', 0, G_OPTION_ARG_INT, &opt_top,
	  "hot regions to list, 0 to 50 (default 5)", "N" },
	{ NULL }
};

/* Runs on the driver between two steps, so the regions are consistent. */
static void take_report(struct damon_ctx *ctx, struct report *rep)
{	struct damon_target *t;
	struct damon_region *r;

	g_array_set_size(rep->regions, 0);
	damon_for_each_target(t, ctx) {
		damon_for_each_region(r, t) {
			struct report_region rr = { r->ar.start, r->ar.end,
				r->last_nr_accesses, r->age };

			g_array_append_val(rep->regions, rr);
		}
	}
	rep->nr_aggregations = ctx->nr_aggregations;
	rep->now_us = damon_ctx_now_us(ctx);
	rep->sample_us = ctx->attrs.sample_interval;
	rep->max_nr_accesses = damon_max_nr_accesses(&ctx->attrs);
	rep->phase = damon_sim_phase_at(
		damon_target_of(ctx->targets_list.next)->priv, rep->now_us);
}

static gchar *human(uint64_t bytes)
{
	return g_format_size_full(bytes, G_FORMAT_SIZE_IEC_UNITS);
}

static gint by_nr_accesses_desc(gconstpointer a, gconstpointer b)
{
	const struct report_region *x = a, *y = b;

	if (x->nr_accesses != y->nr_accesses)
		return x->nr_accesses < y->nr_accesses ? 1 : -1;
	return x->start < y->start ? -1 : x->start > y->start;
}

static void print_report(struct report *rep, struct damon_sim *sim)
{
	uint64_t wss = 0, truth = damon_sim_wss_bytes(sim, rep->phase);
	g_autofree gchar *s_wss = NULL, *s_truth = NULL;
	guint i;

	for (i = 0; i < rep->regions->len; i++) {
		struct report_region *rr = &g_array_index(rep->regions,
				struct report_region, i);

		if (rr->nr_accesses)
			wss += rr->end - rr->start;
	}
	s_wss = human(wss);
	s_truth = human(truth);
	printf("t=%5.1fs aggr=%-5" PRIu64 " regions=%-4u wss=%-10s truth=%-10s err=%5.1f%%\n",
	       (rep->now_us - rep->start_us) / 1e6, rep->nr_aggregations, rep->regions->len,
	       s_wss, s_truth,
	       truth ? 100.0 * ((double)wss - (double)truth) / (double)truth : 0);
	g_array_sort(rep->regions, by_nr_accesses_desc);
	for (i = 0; i < rep->regions->len && i < (guint)opt_top; i++) {
		struct report_region *rr = &g_array_index(rep->regions,
				struct report_region, i);
		g_autofree gchar *sz = human(rr->end - rr->start);

		if (!rr->nr_accesses)
			break;
		printf("    hot  [0x%012" PRIx64 ", 0x%012" PRIx64 ") %10s  access %3u%%  age %u\n",
		       rr->start, rr->end, sz,
		       100 * rr->nr_accesses / rep->max_nr_accesses, rr->age);
	}
	fflush(stdout);
}

static struct damon_sim *make_sim(uint64_t sz)
{
	const char *p = opt_pattern ? opt_pattern : "stairs";

	if (!strcmp(p, "static"))
		return damon_sim_new_static(sz, 0.1, 0.95, (uint64_t)opt_seed);
	if (!strcmp(p, "stairs"))
		return damon_sim_new_stairs(sz, 7, 3000000, 0.95,
				(uint64_t)opt_seed);
	if (!strcmp(p, "zigzag"))
		return damon_sim_new_zigzag(sz, 7, 3000000, 0.95,
				(uint64_t)opt_seed);
	return NULL;
}

static int check_options(void)
{
	if (opt_pattern && strcmp(opt_pattern, "static") &&
	    strcmp(opt_pattern, "stairs") && strcmp(opt_pattern, "zigzag")) {
		fprintf(stderr, "damon-sim: --pattern must be static, stairs or zigzag (got '%s')\n",
			opt_pattern);
		return -1;
	}
	if (opt_size_mib < 64 || opt_size_mib > 16777216) {
		fprintf(stderr, "damon-sim: --size must be 64 to 16777216 MiB (got %" G_GINT64_FORMAT ")\n",
			opt_size_mib);
		return -1;
	}
	if (opt_duration < 1 || opt_duration > 3600) {
		fprintf(stderr, "damon-sim: --duration must be 1 to 3600 s (got %d)\n",
			opt_duration);
		return -1;
	}
	if (opt_top < 0 || opt_top > 50) {
		fprintf(stderr, "damon-sim: --top must be 0 to 50 (got %d)\n",
			opt_top);
		return -1;
	}
	return 0;
}

/* Step @ctx at its deadlines until @until_us; 1 when it has ended. */
static int drive_until(struct damon_ctx *ctx, uint64_t until_us)
{
	for (;;) {
		uint64_t now = (uint64_t)g_get_monotonic_time();
		uint64_t next = damon_ctx_next_deadline_us(ctx);

		if (now >= until_us)
			return 0;
		if (now < next) {
			g_usleep(MIN(next, until_us) - now);
			continue;
		}
		if (damon_ctx_step(ctx, now))
			return 1;
	}
}

static int run(void)
{
	struct damon_sim *sim = make_sim((uint64_t)opt_size_mib << 20);
	struct damon_ctx *ctx = damon_new_ctx();
	struct report rep = { .regions = g_array_new(FALSE, FALSE,
			sizeof(struct report_region)) };
	int i, rc;

	if (!sim || !ctx || !damon_sim_attach(ctx, sim)) {
		fprintf(stderr, "damon-sim: out of memory\n");
		return 1;
	}
	damon_set_seed(ctx, (uint64_t)opt_seed);
	/* the sim's phases and the engine both run on GLib's monotonic time */
	rep.start_us = (uint64_t)g_get_monotonic_time();
	rc = damon_ctx_begin(ctx, rep.start_us);
	if (rc) {
		fprintf(stderr, "damon-sim: cannot start monitoring: %s\n",
			g_strerror(-rc));
		return 1;
	}
	printf("damon-sim: %s pattern over %" G_GINT64_FORMAT " MiB, 5 ms sampling, 100 ms aggregation, 10-1000 regions\n",
	       opt_pattern ? opt_pattern : "stairs", opt_size_mib);
	for (i = 1; i <= opt_duration; i++) {
		if (drive_until(ctx, rep.start_us + (uint64_t)i * G_USEC_PER_SEC))
			break;
		take_report(ctx, &rep);
		print_report(&rep, sim);
	}
	damon_ctx_end(ctx);
	damon_destroy_ctx(ctx);
	damon_sim_destroy(sim);
	g_array_free(rep.regions, TRUE);
	return 0;
}

int main(int argc, char **argv)
{
	g_autoptr(GOptionContext) oc = g_option_context_new("- live DAMON report on a simulated guest");
	g_autoptr(GError) err = NULL;

	g_option_context_add_main_entries(oc, entries, NULL);
	if (!g_option_context_parse(oc, &argc, &argv, &err)) {
		fprintf(stderr, "damon-sim: %s\n", err->message);
		return 2;
	}
	if (check_options())
		return 2;
	return run();
}
