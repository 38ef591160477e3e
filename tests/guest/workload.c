// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * workload.c - the qdamon test guest: write a configurable hot set forever.
 *
 * Every pass writes one 32-bit word at the start of every 4 KiB page of
 * the hot range(s), and reads one from every page of the optional read
 * range, which is written only once, before the first pass.  The value is a sequence number that grows with
 * every write, so a page's contents change on each pass (sources that
 * hash page contents see the write as well as dirty-logging ones).
 *
 * Nothing at or above 1 MiB is touched outside the hot set: the
 * firmware's .bss and stack live in low RAM (see workload.ld).
 *
 * Console lines (all start with "qdamon-workload: "):
 *   config=<source>                 where the configuration came from
 *   ram=0x..  limit=0x..             RAM size and the top of usable RAM
 *   hot=0x<start>+0x<size>           the (first) hot range, printed once
 *   hot2=0x<start>+0x<size>          the second hot range, if any
 *   read=0x<start>+0x<size>          the read-only range, if any
 *   phase every N passes|secs count=N stride=0x..   the moving mode
 *   pass=P t=S                       after pass 1, then every second
 *   phase=K hot=0x..+0x.. pass=P t=S each move of the first range
 *   error: ...; halting              a configuration nothing can run
 */
#include <stdint.h>

#include "config.h"
#include "console.h"
#include "fw_cfg.h"
#include "io.h"

#define PAGE_SIZE	4096ULL
#define PAGE_MASK	(PAGE_SIZE - 1)
#define LOW_LIMIT	0x100000ULL	/* firmware data lives below 1 MiB */
#define HIGH_LIMIT	0xc0000000ULL	/* never above, whatever the RAM */
#define MAX_PHASES	4096

/* TSC cycles between looks at the CMOS clock (a few ms at GHz rates). */
#define RTC_POLL_CYCLES	(1ULL << 24)

#define CMOS_INDEX	0x70
#define CMOS_DATA	0x71
#define CMOS_NMI_OFF	0x80
#define CMOS_SECONDS	0x00
#define CMOS_STATUS_A	0x0a
#define CMOS_UIP	0x80

#define E820_RAM	1

struct wl_range {
	uint32_t start;
	uint32_t end;
};

/**
 * struct wl_plan - what the loop runs: the configuration, clamped.
 * @hot: the hot ranges; hot[0] is the one that moves in phase mode.
 * @name: their configuration names ("hot", "hot2").
 * @nr_hot: 1 or 2.
 * @read: the read-only range (start == end: none).
 * @phase_passes: passes between moves (0: not by passes).
 * @phase_secs: seconds between moves (0: not by time).
 * @phase_count: positions of hot[0] (1: it never moves).
 * @phase_stride: bytes between positions.
 */
struct wl_plan {
	struct wl_range hot[2];
	const char *name[2];
	unsigned int nr_hot;
	struct wl_range read;
	uint32_t phase_passes;
	uint32_t phase_secs;
	uint32_t phase_count;
	uint32_t phase_stride;
};

static void __attribute__((noreturn)) halt_with(const char *why)
{
	con_printf("qdamon-workload: error: %s; halting\n", why);
	wl_halt();
}

static void load_config(struct wl_config *cfg)
{
	static char text[WL_CONFIG_MAX];	/* .bss, in low RAM */
	uint32_t size;
	uint16_t key;

	wl_config_defaults(cfg);
	if (!fw_cfg_find_file(WL_CONFIG_FILE, &key, &size)) {
		con_printf("qdamon-workload: config=defaults (no fw_cfg file %s)\n",
			   WL_CONFIG_FILE);
		return;
	}
	if (size > WL_CONFIG_MAX) {
		con_printf("qdamon-workload: config: %s is %u bytes, reading the first %u\n",
			   WL_CONFIG_FILE, size, WL_CONFIG_MAX);
		size = WL_CONFIG_MAX;
	}
	fw_cfg_select(key);
	fw_cfg_read(text, size);
	con_printf("qdamon-workload: config=%s (%u bytes): ", WL_CONFIG_FILE, size);
	con_write(text, size);
	con_printf("\n");
	wl_config_parse(cfg, text, size);
}

/* End of the RAM that starts at address 0, from "etc/e820" (0: unknown). */
static uint64_t e820_low_ram_end(void)
{
	struct { uint64_t addr, len; uint32_t type; } __attribute__((packed)) e;
	uint32_t size, i;
	uint16_t key;

	if (!fw_cfg_find_file("etc/e820", &key, &size))
		return 0;
	fw_cfg_select(key);
	for (i = 0; i + sizeof(e) <= size; i += sizeof(e)) {
		fw_cfg_read(&e, sizeof(e));
		if (e.type == E820_RAM && e.addr == 0)
			return e.len;
	}
	return 0;
}

/*
 * The top of the RAM the hot set may use: guest RAM below 4 GiB as the
 * e820 map gives it (else the RAM size), and never above HIGH_LIMIT.
 */
static uint64_t usable_ram_limit(void)
{
	uint64_t ram = fw_cfg_read_u64(FW_CFG_RAM_SIZE);
	uint64_t low = e820_low_ram_end();
	uint64_t limit = ram;

	if (low && low < limit)
		limit = low;
	if (limit > HIGH_LIMIT)
		limit = HIGH_LIMIT;
	limit &= ~PAGE_MASK;
	con_printf("qdamon-workload: ram=0x%llx low=0x%llx limit=0x%llx\n",
		   ram, low, limit);
	return limit;
}

/*
 * fit_range - page-align [start, start + size) outwards and clamp it to
 * [LOW_LIMIT, limit).  Return: 0, or -1 when nothing is left of it.
 */
static int fit_range(const char *name, uint64_t start, uint64_t size,
		     uint64_t limit, struct wl_range *out)
{
	uint64_t s = start & ~PAGE_MASK;
	uint64_t e = start + size < start ? ~PAGE_MASK :
		     (start + size + PAGE_MASK) & ~PAGE_MASK;

	if (s != start || e != start + size)
		con_printf("qdamon-workload: %s rounded out to 4 KiB pages\n", name);
	if (s < LOW_LIMIT || e > limit) {
		con_printf("qdamon-workload: warning: %s=0x%llx+0x%llx does not fit in usable RAM [0x%llx, 0x%llx); clamped\n",
			   name, start, size, LOW_LIMIT, limit);
		s = s < LOW_LIMIT ? LOW_LIMIT : s;
		e = e > limit ? limit : e;
	}
	if (s >= e) {
		con_printf("qdamon-workload: warning: nothing left of %s; dropped\n",
			   name);
		return -1;
	}
	out->start = (uint32_t)s;
	out->end = (uint32_t)e;
	return 0;
}

/* Fewest positions of the moving range that all fit below @limit. */
static void fit_phases(struct wl_plan *plan, const struct wl_config *cfg,
		       uint64_t limit)
{
	uint64_t stride = cfg->phase_stride ? cfg->phase_stride : cfg->hot_size;
	uint64_t count = cfg->phase_count, size;

	plan->phase_passes = cfg->phase_passes > 0xffffffffULL ?
			     0xffffffffU : (uint32_t)cfg->phase_passes;
	plan->phase_secs = cfg->phase_secs > 0xffffffffULL ?
			   0xffffffffU : (uint32_t)cfg->phase_secs;
	if (!plan->phase_passes && !plan->phase_secs)
		count = 1;
	if (count > MAX_PHASES)
		count = MAX_PHASES;
	stride = (stride + PAGE_MASK) & ~PAGE_MASK;
	size = plan->hot[0].end - plan->hot[0].start;
	while (count > 1 && (stride >= limit ||
	       plan->hot[0].start + (count - 1) * stride + size > limit))
		count--;
	if (count < cfg->phase_count && count != 1)
		con_printf("qdamon-workload: warning: only %u phase positions fit\n",
			   (unsigned int)count);
	if (count < 2 && (plan->phase_passes || plan->phase_secs))
		con_printf("qdamon-workload: warning: phase mode needs 2 positions that fit; off\n");
	plan->phase_count = count < 2 ? 1 : (uint32_t)count;
	plan->phase_stride = (uint32_t)stride;
}

static void make_plan(struct wl_plan *plan, const struct wl_config *cfg,
		      uint64_t limit)
{
	struct wl_range r;

	*plan = (struct wl_plan){ .phase_count = 1 };
	if (cfg->hot_size && !fit_range("hot", cfg->hot_start, cfg->hot_size,
					limit, &r)) {
		plan->name[plan->nr_hot] = "hot";
		plan->hot[plan->nr_hot++] = r;
		fit_phases(plan, cfg, limit);
	}
	if (cfg->hot2_size && !fit_range("hot2", cfg->hot2_start,
					 cfg->hot2_size, limit, &r)) {
		plan->name[plan->nr_hot] = "hot2";
		plan->hot[plan->nr_hot++] = r;
	}
	if (cfg->read_size && !fit_range("read", cfg->read_start,
					 cfg->read_size, limit, &r))
		plan->read = r;
	if (!plan->nr_hot && !cfg->hot_size && !cfg->hot2_size) {
		con_printf("qdamon-workload: hot_size=0: idle, halting\n");
		wl_halt();
	}
	if (!plan->nr_hot)
		halt_with("no hot range fits in usable RAM");
}

static void print_plan(const struct wl_plan *plan)
{
	unsigned int i;

	for (i = 0; i < plan->nr_hot; i++)
		con_printf("qdamon-workload: %s=0x%x+0x%x\n", plan->name[i],
			   plan->hot[i].start,
			   plan->hot[i].end - plan->hot[i].start);
	if (plan->read.end > plan->read.start)
		con_printf("qdamon-workload: read=0x%x+0x%x\n", plan->read.start,
			   plan->read.end - plan->read.start);
	if (plan->phase_count > 1)
		con_printf("qdamon-workload: phase every %u %s count=%u stride=0x%x\n",
			   plan->phase_passes ? plan->phase_passes : plan->phase_secs,
			   plan->phase_passes ? "passes" : "secs",
			   plan->phase_count, plan->phase_stride);
}

/* One pass over a range: the hot loop.  Return: the next sequence. */
static uint32_t write_pages(const struct wl_range *r, uint32_t seq)
{
	uint32_t a;

	for (a = r->start; a < r->end; a += PAGE_SIZE)
		*(volatile uint32_t *)a = ++seq;
	return seq;
}

/*
 * One pass over the read-only range: a load from every page, summed so
 * that the loads are not dead.  Return: the sum.
 */
static uint32_t read_pages(const struct wl_range *r)
{
	uint32_t a, sum = 0;

	for (a = r->start; a < r->end; a += PAGE_SIZE)
		sum += *(volatile const uint32_t *)a;
	return sum;
}

static uint8_t cmos_read(uint8_t reg)
{
	outb(CMOS_INDEX, CMOS_NMI_OFF | reg);
	return inb(CMOS_DATA);
}

/*
 * rtc_ticked - has the CMOS seconds register changed since @last?
 * Looks at most every RTC_POLL_CYCLES, to keep I/O exits down.
 */
static int rtc_ticked(uint8_t *last, uint64_t *next_poll)
{
	uint64_t now = rdtsc();
	uint8_t sec;

	if ((int64_t)(now - *next_poll) < 0)
		return 0;
	*next_poll = now + RTC_POLL_CYCLES;
	if (cmos_read(CMOS_STATUS_A) & CMOS_UIP)
		return 0;
	sec = cmos_read(CMOS_SECONDS);
	if (sec == *last)
		return 0;
	*last = sec;
	return 1;
}

/**
 * struct wl_state - the loop's counters.
 * @pass: passes completed.
 * @secs: CMOS clock seconds seen to tick since the loop began.
 * @phase: current position of hot[0].
 * @mark_pass: @pass at the last move.
 * @mark_secs: @secs at the last move.
 */
struct wl_state {
	uint32_t pass;
	uint32_t secs;
	uint32_t phase;
	uint32_t mark_pass;
	uint32_t mark_secs;
};

static void maybe_move(const struct wl_plan *plan, struct wl_state *st,
		       struct wl_range *r0)
{
	uint32_t size = r0->end - r0->start;

	if (plan->phase_count < 2)
		return;
	if (plan->phase_passes ? st->pass - st->mark_pass < plan->phase_passes :
	    st->secs - st->mark_secs < plan->phase_secs)
		return;
	st->mark_pass = st->pass;
	st->mark_secs = st->secs;
	st->phase = st->phase + 1 == plan->phase_count ? 0 : st->phase + 1;
	r0->start = plan->hot[0].start + st->phase * plan->phase_stride;
	r0->end = r0->start + size;
	con_printf("qdamon-workload: phase=%u hot=0x%x+0x%x pass=%u t=%u\n",
		   st->phase, r0->start, size, st->pass, st->secs);
}

static void __attribute__((noreturn)) run(const struct wl_plan *plan)
{
	struct wl_state st = { 0 };
	struct wl_range r0 = plan->hot[0];
	uint64_t next_poll = 0;
	uint32_t seq = 0;
	uint8_t last_sec = cmos_read(CMOS_SECONDS);
	volatile uint32_t read_sum = 0;

	/* the read range's only writes: its pages then hold known data */
	write_pages(&plan->read, 0);
	for (;;) {
		seq = write_pages(&r0, seq);
		if (plan->nr_hot > 1)
			seq = write_pages(&plan->hot[1], seq);
		read_sum += read_pages(&plan->read);
		st.pass++;
		outb(PORT_POST, (uint8_t)st.pass);
		if (st.pass == 1)
			con_printf("qdamon-workload: pass=1 t=0\n");
		if (rtc_ticked(&last_sec, &next_poll)) {
			st.secs++;
			con_printf("qdamon-workload: pass=%u t=%u\n", st.pass, st.secs);
		}
		maybe_move(plan, &st, &r0);
	}
}

void workload_main(void);

void workload_main(void)
{
	struct wl_config cfg;
	struct wl_plan plan;
	uint64_t limit;

	con_printf("\nqdamon-workload: start\n");
	if (!fw_cfg_present())
		halt_with("no QEMU fw_cfg at I/O ports 0x510/0x511");
	load_config(&cfg);
	limit = usable_ram_limit();
	make_plan(&plan, &cfg, limit);
	print_plan(&plan);
	run(&plan);
}
