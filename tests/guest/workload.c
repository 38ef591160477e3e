// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * workload.c - the qdamon test guest: write a configurable hot set forever.
 *
 * Every pass writes one 32-bit word at the start of every 4 KiB page of
 * the hot range(s), and reads one from every page of the optional read
 * range, which is written only once, before the first pass.  The value
 * is a sequence number that grows with every write, so a page's contents
 * change on each pass (sources that hash page contents see the write as
 * well as dirty-logging ones).
 *
 * Optionally (fill_size), every word of a fill range is first written
 * with a pattern, a hash of its address, and then re-read and compared
 * every verify_secs seconds or verify_passes passes: whatever the host
 * does to guest RAM (swap, MADV_COLD, huge pages, NUMA moves) must not
 * change what the guest reads back.  tests/harness/pattern.py computes
 * the same pattern to check RAM dumps on the host.
 *
 * Nothing at or above 1 MiB is touched outside the hot set (and the fill
 * and read ranges): the firmware's .bss and stack live in low RAM (see
 * workload.ld).
 *
 * Console lines (all start with "qdamon-workload: "):
 *   config=<source>                 where the configuration came from
 *   ram=0x..  limit=0x..             RAM size and the top of usable RAM
 *   hot=0x<start>+0x<size>           the (first) hot range, printed once
 *   hot2=0x<start>+0x<size>          the second hot range, if any
 *   read=0x<start>+0x<size>          the read-only range, if any
 *   phase every N passes|secs count=N stride=0x..   the moving mode
 *   verify every N passes|secs       the checks of the fill range
 *   fill=0x..+0x.. seed=0x.. done t=S   the fill took S seconds
 *   pass=P t=S                       after pass 1, then every second
 *   phase=K hot=0x..+0x.. pass=P t=S each move of the first range
 *   verify=K bad=N [first_bad=0x..] t=S   check K (begun at S) found N
 *                                    words that differ from the pattern
 *   commands from the keyboard       commands=1 (any key but r and s is
 *                                    reported and ignored)
 *   eject DIMM slots 0..N-1          eject_slots=N
 *   command=reboot pass=P t=S        key "r": reset through the keyboard
 *                                    controller (then 0xcf9)
 *   command=poweroff pass=P t=S      key "s": ACPI S5 through PIIX4 PM
 *   eject slot=N pass=P t=S          a DIMM's remove request, ejected
 *   error: ...; halting              a configuration nothing can run
 */
#include <stdint.h>

#include "config.h"
#include "console.h"
#include "trap.h"
#include "fw_cfg.h"
#include "io.h"

#define PAGE_SIZE	4096ULL
#define PAGE_MASK	(PAGE_SIZE - 1)
#define LOW_LIMIT	0x100000ULL	/* firmware data lives below 1 MiB */
#define HIGH_LIMIT	0xc0000000ULL	/* never above, whatever the RAM */
#define MAX_PHASES	4096
#define PAGE_WORDS	(PAGE_SIZE / 4)

/* Pages the fill and the verify do between looks at the clock (1 MiB). */
#define CLOCK_POLL_PAGES	256

/* TSC cycles between looks at the CMOS clock (a few ms at GHz rates). */
#define RTC_POLL_CYCLES	(1ULL << 24)

#define CMOS_INDEX	0x70
#define CMOS_DATA	0x71
#define CMOS_NMI_OFF	0x80
#define CMOS_SECONDS	0x00
#define CMOS_STATUS_A	0x0a
#define CMOS_STATUS_B	0x0b
#define CMOS_UIP	0x80
#define CMOS_BINARY	0x04	/* status B: binary, not BCD, values */

#define E820_RAM	1

/* The keyboard controller (i8042) and its PS/2 keyboard's set-2 codes. */
#define KBC_DATA	0x60
#define KBC_STATUS	0x64
#define KBC_CMD		0x64
#define KBC_STAT_OBF	0x01	/* a byte waits at KBC_DATA */
#define KBC_STAT_AUX	0x20	/* ... from the mouse */
#define KBC_CMD_RESET	0xfe	/* pulse the CPU reset line */
#define KBD_BREAK	0xf0	/* set 2: the next code is a key release */
#define KBD_CODE_R	0x2d
#define KBD_CODE_S	0x1b

/* The PIIX3/PIIX4 reset control register, should the controller not reset. */
#define RESET_CONTROL	0xcf9
#define RESET_HARD	0x06

/*
 * PIIX4 PM (00:01.3 on -M pc).  Nothing else programs its I/O base: this
 * guest is the firmware.  0x600 is where SeaBIOS puts it.
 */
#define PCI_CONFIG_ADDR	0xcf8
#define PCI_CONFIG_DATA	0xcfc
#define PIIX4_PM_DEVFN	((1 << 3) | 3)
#define PIIX4_PMBA	0x40
#define PIIX4_PMREGMISC	0x80	/* bit 0: PM I/O space enabled */
#define PM_BASE		0x600
#define PM1A_CNT	(PM_BASE + 4)
#define PM1_SLP_EN	(1 << 13)	/* with SLP_TYP (bits 10-12) 0: S5 */

/* ACPI memory hotplug registers (QEMU's docs/specs/acpi_mem_hotplug). */
#define MEMHP_BASE	0x0a00
#define MEMHP_SLOT	(MEMHP_BASE + 0x0)
#define MEMHP_STATUS	(MEMHP_BASE + 0x14)
#define MEMHP_REMOVING	0x04
#define MEMHP_EJECT	0x08
#define MAX_EJECT_SLOTS	256

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
 * @fill: the range filled with the pattern (start == end: none).
 * @fill_seed: the pattern's seed.
 * @verify_passes: passes between verifies of @fill (0: not by passes).
 * @verify_secs: seconds between verifies (0: not by time).
 * @commands: read commands from the keyboard.
 * @eject_slots: DIMM slots whose remove requests are honoured.
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
	struct wl_range fill;
	uint32_t fill_seed;
	uint32_t verify_passes;
	uint32_t verify_secs;
	int commands;
	uint32_t eject_slots;
};

/* word_key() of every word index: the fill and the verify only XOR. */
static uint32_t word_keys[PAGE_WORDS];	/* .bss, in low RAM */

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

static uint32_t clamp_u32(uint64_t v)
{
	return v > 0xffffffffULL ? 0xffffffffU : (uint32_t)v;
}

/* Fewest positions of the moving range that all fit below @limit. */
static void fit_phases(struct wl_plan *plan, const struct wl_config *cfg,
		       uint64_t limit)
{
	uint64_t stride = cfg->phase_stride ? cfg->phase_stride : cfg->hot_size;
	uint64_t count = cfg->phase_count, size;

	plan->phase_passes = clamp_u32(cfg->phase_passes);
	plan->phase_secs = clamp_u32(cfg->phase_secs);
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

/*
 * The fill range and its verify schedule.  fill_size=all runs from
 * fill_start to the limit, so it needs no clamping and gives no warning.
 */
static void make_fill_plan(struct wl_plan *plan, const struct wl_config *cfg,
			   uint64_t limit)
{
	uint64_t size = cfg->fill_size;
	struct wl_range r;

	if (size == WL_ALL) {
		size = cfg->fill_start < limit ? limit - cfg->fill_start : 0;
		if (!size)
			con_printf("qdamon-workload: warning: nothing left of fill; dropped\n");
	}
	if (size && !fit_range("fill", cfg->fill_start, size, limit, &r))
		plan->fill = r;
	plan->fill_seed = (uint32_t)cfg->fill_seed;
	if (plan->fill.end > plan->fill.start) {
		plan->verify_passes = clamp_u32(cfg->verify_passes);
		plan->verify_secs = clamp_u32(cfg->verify_secs);
	} else if (cfg->verify_passes || cfg->verify_secs) {
		con_printf("qdamon-workload: warning: verify needs a fill range; off\n");
	}
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
	make_fill_plan(plan, cfg, limit);
	plan->commands = cfg->commands != 0;
	plan->eject_slots = cfg->eject_slots > MAX_EJECT_SLOTS ? MAX_EJECT_SLOTS :
			    (uint32_t)cfg->eject_slots;
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
	if (plan->verify_passes || plan->verify_secs)
		con_printf("qdamon-workload: verify every %u %s\n",
			   plan->verify_passes ? plan->verify_passes : plan->verify_secs,
			   plan->verify_passes ? "passes" : "secs");
	if (plan->commands)
		con_printf("qdamon-workload: commands from the keyboard\n");
	if (plan->eject_slots)
		con_printf("qdamon-workload: eject DIMM slots 0..%u\n",
			   plan->eject_slots - 1);
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

/* The CMOS seconds register, 0 .. 59, whether the RTC counts in BCD or not. */
static uint8_t cmos_seconds(void)
{
	uint8_t sec = cmos_read(CMOS_SECONDS);

	if (!(cmos_read(CMOS_STATUS_B) & CMOS_BINARY))
		sec = (uint8_t)((sec >> 4) * 10 + (sec & 0xf));
	return sec;
}

/**
 * struct wl_state - the loop's counters.
 * @pass: passes completed.
 * @secs: CMOS clock seconds since the loop began.
 * @phase: current position of hot[0].
 * @mark_pass: @pass at the last move.
 * @mark_secs: @secs at the last move.
 * @nr_verify: verifies done.
 * @verify_pass: @pass at the last verify.
 * @verify_secs: @secs at the last verify.
 * @line_secs: @secs at the last pass= line.
 * @last_sec: the CMOS seconds register at the last look.
 * @next_poll: TSC value before which the clock is not looked at.
 * @next_dev_poll: TSC value before which the keyboard and the hotplug
 *	registers are not looked at.
 * @kbd_break: the last keyboard byte was a release prefix.
 */
struct wl_state {
	uint32_t pass;
	uint32_t secs;
	uint32_t phase;
	uint32_t mark_pass;
	uint32_t mark_secs;
	uint32_t nr_verify;
	uint32_t verify_pass;
	uint32_t verify_secs;
	uint32_t line_secs;
	uint8_t last_sec;
	uint8_t kbd_break;
	uint64_t next_poll;
	uint64_t next_dev_poll;
};

/*
 * clock_poll - add the CMOS clock's seconds since the last look to
 * @st->secs.  Looks at most every RTC_POLL_CYCLES, to keep I/O exits
 * down.  Counting the seconds, not the ticks seen, keeps @st->secs
 * right across a slow pass or a fill or verify (which poll once a MiB),
 * as long as less than a minute goes by between two looks.
 */
static void clock_poll(struct wl_state *st)
{
	uint64_t now = rdtsc();
	uint8_t sec;

	if ((int64_t)(now - st->next_poll) < 0)
		return;
	st->next_poll = now + RTC_POLL_CYCLES;
	if (cmos_read(CMOS_STATUS_A) & CMOS_UIP)
		return;
	sec = cmos_seconds();
	if (sec == st->last_sec)
		return;
	st->secs += sec > st->last_sec ? (uint32_t)(sec - st->last_sec) :
					 (uint32_t)(sec + 60 - st->last_sec);
	st->last_sec = sec;
}

/* MurmurHash3's 32-bit finaliser: cheap, and a bijection. */
static uint32_t fmix32(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x85ebca6bU;
	x ^= x >> 13;
	x *= 0xc2b2ae35U;
	x ^= x >> 16;
	return x;
}

/*
 * The pattern: the word at address A is page_key(A >> 12) ^
 * word_keys[(A >> 2) & 1023].  Keying each page on its own number
 * catches a page that comes back at the wrong address; the per-word
 * part catches shifts inside a page and keeps pages from compressing;
 * the split lets tests/harness/pattern.py build a whole page from one
 * multiplication.  Both parts are bijections, so no two pages and no
 * two words of a page are alike.
 */
static uint32_t page_key(uint32_t page, uint32_t seed)
{
	return fmix32(page ^ seed);
}

static void init_word_keys(void)
{
	uint32_t i;

	for (i = 0; i < PAGE_WORDS; i++)
		word_keys[i] = fmix32(i + 0x9e3779b9U);
}

/* Write the pattern to every word of @r, minding the clock as it goes. */
static void fill_pattern(const struct wl_range *r, uint32_t seed,
			 struct wl_state *st)
{
	uint32_t a, i, k;

	for (a = r->start; a < r->end; a += PAGE_SIZE) {
		volatile uint32_t *p = (volatile uint32_t *)a;

		k = page_key(a >> 12, seed);
		for (i = 0; i < PAGE_WORDS; i++)
			p[i] = k ^ word_keys[i];
		if (!((a >> 12) % CLOCK_POLL_PAGES))
			clock_poll(st);
	}
}

/* Is @a in a page whose word 0 the hot loop writes (any phase position)? */
static int page_is_hot(const struct wl_plan *plan, uint32_t a)
{
	uint32_t size = plan->hot[0].end - plan->hot[0].start, off;

	if (plan->nr_hot > 1 && a >= plan->hot[1].start && a < plan->hot[1].end)
		return 1;
	if (a < plan->hot[0].start)
		return 0;
	off = a - plan->hot[0].start;
	if (plan->phase_count < 2)
		return off < size;
	/* fit_phases() kept the span below the limit: no overflow */
	if (off >= (plan->phase_count - 1) * plan->phase_stride + size)
		return 0;
	return off % plan->phase_stride < size;
}

/*
 * verify - re-read every word of the fill range and count those that
 * differ from the pattern, but for word 0 of hot pages.  A page is first
 * scanned with the differences ORed together, the cheapest loop; only a
 * page with a difference is scanned again to count and locate them.
 */
static void verify(const struct wl_plan *plan, struct wl_state *st)
{
	uint32_t a, i, i0, k, diff, bad = 0, first_bad = 0;
	uint32_t t = st->secs;

	st->nr_verify++;
	st->verify_pass = st->pass;
	st->verify_secs = st->secs;
	for (a = plan->fill.start; a < plan->fill.end; a += PAGE_SIZE) {
		volatile const uint32_t *p = (volatile const uint32_t *)a;

		k = page_key(a >> 12, plan->fill_seed);
		i0 = page_is_hot(plan, a) ? 1 : 0;
		diff = 0;
		for (i = i0; i < PAGE_WORDS; i++)
			diff |= p[i] ^ k ^ word_keys[i];
		if (diff) {
			for (i = i0; i < PAGE_WORDS; i++) {
				if (p[i] == (k ^ word_keys[i]))
					continue;
				if (!bad++)
					first_bad = a + i * 4;
			}
		}
		if (!((a >> 12) % CLOCK_POLL_PAGES))
			clock_poll(st);
	}
	if (bad)
		con_printf("qdamon-workload: verify=%u bad=%u first_bad=0x%x t=%u\n",
			   st->nr_verify, bad, first_bad, t);
	else
		con_printf("qdamon-workload: verify=%u bad=0 t=%u\n",
			   st->nr_verify, t);
}

static int verify_due(const struct wl_plan *plan, const struct wl_state *st)
{
	if (plan->verify_passes)
		return st->pass - st->verify_pass >= plan->verify_passes;
	return plan->verify_secs && st->secs - st->verify_secs >= plan->verify_secs;
}

static int range_within(const struct wl_range *in, const struct wl_range *r)
{
	return in->start >= r->start && in->end <= r->end;
}

/*
 * Before the first pass: the fill, if any, and the read range's only
 * writes, which give its pages known data.  With a fill, the read range
 * holds the pattern too (it needs no writes of its own when inside the
 * fill range), so a dump of it can be checked as well.
 */
static void prepare(const struct wl_plan *plan, struct wl_state *st)
{
	if (plan->fill.end <= plan->fill.start) {
		write_pages(&plan->read, 0);
		return;
	}
	init_word_keys();
	fill_pattern(&plan->fill, plan->fill_seed, st);
	if (plan->read.end > plan->read.start &&
	    !range_within(&plan->read, &plan->fill))
		fill_pattern(&plan->read, plan->fill_seed, st);
	clock_poll(st);
	con_printf("qdamon-workload: fill=0x%x+0x%x seed=0x%x done t=%u\n",
		   plan->fill.start, plan->fill.end - plan->fill.start,
		   plan->fill_seed, st->secs);
}

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

static void pci_config_write32(uint32_t devfn, uint32_t reg, uint32_t val)
{
	outl(PCI_CONFIG_ADDR, 0x80000000U | (devfn << 8) | (reg & 0xfc));
	outl(PCI_CONFIG_DATA, val);
}

static void __attribute__((noreturn)) reboot(const struct wl_state *st)
{
	con_printf("qdamon-workload: command=reboot pass=%u t=%u\n", st->pass,
		   st->secs);
	outb(KBC_CMD, KBC_CMD_RESET);
	outb(RESET_CONTROL, RESET_HARD);
	halt_with("reboot: neither the keyboard controller nor 0xcf9 reset the machine");
}

static void __attribute__((noreturn)) poweroff(const struct wl_state *st)
{
	con_printf("qdamon-workload: command=poweroff pass=%u t=%u\n", st->pass,
		   st->secs);
	/* the PM base and its enable bit are lost at every reset: set them now */
	pci_config_write32(PIIX4_PM_DEVFN, PIIX4_PMBA, PM_BASE | 1);
	pci_config_write32(PIIX4_PM_DEVFN, PIIX4_PMREGMISC, 1);
	outw(PM1A_CNT, PM1_SLP_EN);
	halt_with("poweroff: ACPI S5 did not stop the machine (needs PIIX4 PM, -M pc)");
}

/* Act on a key press; other bytes (releases, acks) are dropped. */
static void keyboard_byte(struct wl_state *st, uint8_t code)
{
	if (code == KBD_BREAK) {
		st->kbd_break = 1;
		return;
	}
	if (st->kbd_break) {
		st->kbd_break = 0;
		return;
	}
	if (code == KBD_CODE_R)
		reboot(st);
	if (code == KBD_CODE_S)
		poweroff(st);
	if (code < 0x80)
		con_printf("qdamon-workload: key code 0x%x ignored\n", code);
}

/*
 * A DIMM with a remove request (device_del) goes only when the guest
 * ejects it: select its slot, see the request, eject.
 */
static void eject_dimms(const struct wl_plan *plan, const struct wl_state *st)
{
	uint32_t slot;

	for (slot = 0; slot < plan->eject_slots; slot++) {
		outl(MEMHP_SLOT, slot);
		if (!(inb(MEMHP_STATUS) & MEMHP_REMOVING))
			continue;
		con_printf("qdamon-workload: eject slot=%u pass=%u t=%u\n", slot,
			   st->pass, st->secs);
		/* acknowledge the request first: the slot keeps it otherwise */
		outb(MEMHP_STATUS, MEMHP_REMOVING);
		outb(MEMHP_STATUS, MEMHP_EJECT);
	}
}

/* Between passes, at most every RTC_POLL_CYCLES: keys and ejects. */
static void device_poll(const struct wl_plan *plan, struct wl_state *st)
{
	uint64_t now;
	uint8_t status;

	if (!plan->commands && !plan->eject_slots)
		return;
	now = rdtsc();
	if ((int64_t)(now - st->next_dev_poll) < 0)
		return;
	st->next_dev_poll = now + RTC_POLL_CYCLES;
	if (plan->commands) {
		while ((status = inb(KBC_STATUS)) & KBC_STAT_OBF) {
			uint8_t code = inb(KBC_DATA);

			if (!(status & KBC_STAT_AUX))
				keyboard_byte(st, code);
		}
	}
	if (plan->eject_slots)
		eject_dimms(plan, st);
}

static void __attribute__((noreturn)) run(const struct wl_plan *plan)
{
	struct wl_state st = { .last_sec = cmos_seconds() };
	struct wl_range r0 = plan->hot[0];
	uint32_t seq = 0;
	volatile uint32_t read_sum = 0;

	prepare(plan, &st);
	/* the loop's clock starts at 0, after the fill */
	st.secs = 0;
	for (;;) {
		seq = write_pages(&r0, seq);
		if (plan->nr_hot > 1)
			seq = write_pages(&plan->hot[1], seq);
		read_sum += read_pages(&plan->read);
		st.pass++;
		outb(PORT_POST, (uint8_t)st.pass);
		if (st.pass == 1)
			con_printf("qdamon-workload: pass=1 t=0\n");
		/*
		 * A verify looks at the clock too: compare with the last line's
		 * time, so that the lines go on while verifies run.
		 */
		clock_poll(&st);
		if (st.secs != st.line_secs) {
			st.line_secs = st.secs;
			con_printf("qdamon-workload: pass=%u t=%u\n", st.pass, st.secs);
		}
		maybe_move(plan, &st, &r0);
		device_poll(plan, &st);
		/* per pass, not per page: the hot loop itself stays as it was */
		if (verify_due(plan, &st))
			verify(plan, &st);
	}
}

void workload_main(void);

void workload_main(void)
{
	struct wl_config cfg;
	struct wl_plan plan;
	uint64_t limit;

	con_printf("\nqdamon-workload: start\n");
	trap_init();
	if (!fw_cfg_present())
		halt_with("no QEMU fw_cfg at I/O ports 0x510/0x511");
	load_config(&cfg);
	limit = usable_ram_limit();
	make_plan(&plan, &cfg, limit);
	print_plan(&plan);
	run(&plan);
}
