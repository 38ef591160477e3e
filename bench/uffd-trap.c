/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench/uffd-trap: is an ESX-style "trap the sampled pages" access source,
 * built on userfaultfd minor faults, cheap enough for qdamon?
 *
 * A shared memfd mapping stands in for guest RAM and is registered with a
 * userfaultfd in MINOR mode.  "vCPU" threads loop over a working set.  A
 * sampler thread does what one DAMON sample does per region: check the
 * page armed last time, pick a new random page, arm it.  Arming is
 * madvise(MADV_DONTNEED): on shmem that drops the PTE only, the page stays
 * in the page cache, so the next access is a minor fault which a handler
 * thread records and resolves with UFFDIO_CONTINUE.
 *
 * It measures what a zap and a trap cost, the vCPUs' passes/s against runs
 * without sampling, the monitor threads' CPU, whether detection is right,
 * and that no data was lost.  Thread CPU times come from
 * pthread_getcpuclockid() (RUSAGE_THREAD's figure, in ns rather than
 * ticks).  This process stands for a TCG vCPU (a
 * user-mode load from QEMU's mapping); under KVM each trap adds an exit and
 * a GUP fault and each zap a kvm_flush_remote_tlbs, none measured here.
 *
 * Usage: uffd-trap [--mem MiB] [--wss MiB] [--write] [--duration S]
 *                  [--reps N] [--threads N] [--sample-us US] [--regions N]
 * Without --threads, --sample-us or --regions it runs the whole matrix
 * (5/20/100 ms x 100/1000 regions x 1/2 threads).  Prints tables, then
 * "RESULT key=value" lines.
 *
 * Copyright (c) 2026 The qdamon authors
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define PG		4096UL
#define WORDS		(PG / sizeof(uint64_t))
#define MiB		(1UL << 20)
#define MAX_VCPUS	8
#define MSG_BATCH	64
#define CAL_N		20000
#define RING		(1U << 20)	/* UFFDIO_CONTINUE timings kept */
#define IOV_CHUNK	1024		/* UIO_MAXIOV */

enum zap_mode { ZAP_NONE, ZAP_MADVISE, ZAP_PMADVISE };
static const char *const zap_name[] = { "none", "madvise", "pmadv" };

struct opts {
	size_t mem_mib, wss_mib;
	bool write;
	double duration;
	int reps;
	int threads, regions;	/* 0 with sample_us 0: run the matrix */
	long sample_us;
};

/* Durations in ns, kept for percentiles. */
struct samples {
	uint32_t *v;
	size_t n, cap;
};

struct bench {
	struct opts o;
	uint8_t *ram;
	size_t npages, wss_pages;
	int memfd, uffd, pidfd;
	bool have_pmadv;
	/* Per page: trapped since last armed (handler sets, sampler clears);
	 * PTE present as far as we know (only for splitting zap costs). */
	atomic_uchar *accessed, *mapped;
	pthread_t handler;
	atomic_bool handler_stop;
	atomic_bool handler_spin;	/* busy-poll instead of poll() */
	atomic_uint_fast64_t traps, eexist;
	uint32_t *cont_ns;		/* ring, written by the handler only */
	atomic_size_t ncont;
	/* Per WSS page: increments the vCPUs made to word 1 (--write). */
	uint64_t *writes;
};

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("uffd-trap: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time of another thread, in ns: finer than RUSAGE_THREAD's ticks. */
static uint64_t thread_cpu_ns(pthread_t th)
{
	clockid_t id;

	if (pthread_getcpuclockid(th, &id))
		die("pthread_getcpuclockid failed");
	return clock_ns(id);
}

static void sleep_until(uint64_t t)
{
	struct timespec ts = { .tv_sec = (time_t)(t / 1000000000u),
			       .tv_nsec = (long)(t % 1000000000u) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64*: cheap, so the sampler's own cost is the syscalls. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static void samples_init(struct samples *s, size_t cap)
{
	s->v = malloc(cap * sizeof(*s->v));
	if (!s->v)
		die("out of memory");
	s->n = 0;
	s->cap = cap;
}

static void samples_add(struct samples *s, uint64_t ns)
{
	if (s->n < s->cap)
		s->v[s->n++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Percentile @q (0..1) of @v[0..n); sorts @v. */
static double pct(uint32_t *v, size_t n, double q)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_u32);
	return v[(size_t)(q * (double)(n - 1) + 0.5)];
}

static uint64_t pattern(size_t page, size_t word)
{
	return ((uint64_t)page * 0x9E3779B97F4A7C15ULL) ^ (word << 1) ^ 1;
}

static volatile uint64_t *page_words(struct bench *b, size_t page)
{
	return (volatile uint64_t *)(b->ram + page * PG);
}

/* ---- guest RAM and the userfaultfd ---------------------------------- */

static void ram_init(struct bench *b)
{
	size_t len = b->npages * PG;

	b->memfd = memfd_create("qdamon-ram", MFD_CLOEXEC);
	if (b->memfd < 0 || ftruncate(b->memfd, (off_t)len))
		die("memfd: %s", strerror(errno));
	b->ram = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
		      b->memfd, 0);
	if (b->ram == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	/* Every word known, so the final check sees any lost page. */
	for (size_t p = 0; p < b->npages; p++)
		for (size_t w = 0; w < WORDS; w++)
			page_words(b, p)[w] = pattern(p, w);
	b->accessed = calloc(b->npages, 1);
	b->mapped = malloc(b->npages);
	if (!b->accessed || !b->mapped)
		die("out of memory");
	memset(b->mapped, 1, b->npages);
}

static void uffd_init(struct bench *b)
{
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_MINOR_SHMEM };
	struct uffdio_register reg = {
		.range = { (uintptr_t)b->ram, b->npages * PG },
		.mode = UFFDIO_REGISTER_MODE_MINOR,
	};

	/* A full uffd, not UFFD_USER_MODE_ONLY: KVM's GUP faults and
	 * QEMU's kernel-side I/O copies must trap too. */
	b->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (b->uffd < 0)
		die("userfaultfd: %s (needs CAP_SYS_PTRACE or "
		    "vm.unprivileged_userfaultfd=1)", strerror(errno));
	if (ioctl(b->uffd, UFFDIO_API, &api))
		die("UFFDIO_API (MINOR_SHMEM, kernel >= 5.14): %s",
		    strerror(errno));
	if (ioctl(b->uffd, UFFDIO_REGISTER, &reg))
		die("UFFDIO_REGISTER MINOR: %s", strerror(errno));
	if (!(reg.ioctls & (1ULL << _UFFDIO_CONTINUE)))
		die("UFFDIO_CONTINUE not offered on this range");
}

static void uffd_fini(struct bench *b)
{
	struct uffdio_range r = { (uintptr_t)b->ram, b->npages * PG };

	if (ioctl(b->uffd, UFFDIO_UNREGISTER, &r))
		die("UFFDIO_UNREGISTER: %s", strerror(errno));
}

/* Does process_madvise(MADV_DONTNEED) on ourselves work (6.13+)? */
static void probe_pmadv(struct bench *b)
{
	struct iovec iov = { b->ram + (b->npages - 1) * PG, PG };
	long r;

	b->pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	if (b->pidfd < 0) {
		printf("process_madvise: no pidfd_open (%s)\n", strerror(errno));
		return;
	}
	r = syscall(SYS_process_madvise, b->pidfd, &iov, 1, MADV_DONTNEED, 0);
	b->have_pmadv = r == (long)PG;
	b->mapped[b->npages - 1] = !b->have_pmadv;
	if (b->have_pmadv)
		printf("process_madvise(self, MADV_DONTNEED): available\n");
	else
		printf("process_madvise(self, MADV_DONTNEED): not available (%s)\n",
		       r < 0 ? strerror(errno) : "short");
}

/* ---- handler thread --------------------------------------------------- */

static void handler_continue(struct bench *b, uint64_t addr)
{
	struct uffdio_continue c = { .range = { addr, PG } };
	struct uffdio_range wake = { addr, PG };

	while (ioctl(b->uffd, UFFDIO_CONTINUE, &c)) {
		if (errno == EAGAIN)	/* mm changing under us: retry */
			continue;
		if (errno != EEXIST)
			die("UFFDIO_CONTINUE: %s", strerror(errno));
		/* Another thread's fault on the page was resolved first;
		 * CONTINUE wakes nobody on EEXIST, so wake by hand. */
		atomic_fetch_add(&b->eexist, 1);
		if (ioctl(b->uffd, UFFDIO_WAKE, &wake))
			die("UFFDIO_WAKE: %s", strerror(errno));
		return;
	}
}

static void handler_msg(struct bench *b, const struct uffd_msg *m)
{
	uint64_t addr, t0;
	size_t page, i;

	if (m->event != UFFD_EVENT_PAGEFAULT ||
	    !(m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_MINOR))
		die("unexpected uffd event %u", m->event);
	addr = m->arg.pagefault.address & ~(PG - 1);
	page = (addr - (uintptr_t)b->ram) / PG;
	/* Record before resolving: the sampler may check any time after. */
	atomic_store_explicit(&b->accessed[page], 1, memory_order_relaxed);
	t0 = now_ns();
	handler_continue(b, addr);
	i = atomic_load_explicit(&b->ncont, memory_order_relaxed);
	b->cont_ns[i % RING] = (uint32_t)(now_ns() - t0);
	atomic_store_explicit(&b->ncont, i + 1, memory_order_release);
	atomic_store_explicit(&b->mapped[page], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&b->traps, 1, memory_order_relaxed);
}

/* Never touches guest RAM nor takes a lock a faulting thread may hold. */
static void *handler_main(void *arg)
{
	struct bench *b = arg;
	struct uffd_msg msgs[MSG_BATCH];

	while (!atomic_load(&b->handler_stop)) {
		struct pollfd pfd = { .fd = b->uffd, .events = POLLIN };
		ssize_t n;

		if (!atomic_load_explicit(&b->handler_spin, memory_order_relaxed) &&
		    poll(&pfd, 1, 50) <= 0)
			continue;
		n = read(b->uffd, msgs, sizeof(msgs));
		if (n < 0 && errno == EAGAIN)
			continue;
		if (n < 0)
			die("read uffd: %s", strerror(errno));
		for (size_t i = 0; i < (size_t)n / sizeof(msgs[0]); i++)
			handler_msg(b, &msgs[i]);
	}
	return NULL;
}

/* ---- vCPU threads ----------------------------------------------------- */

struct vcpu {
	struct bench *b;
	size_t lo, hi;		/* own slice of the WSS: no lockstep sharing */
	pthread_barrier_t *start;
	atomic_bool *stop;
	pthread_t th;
	uint64_t passes, t0, t1, sink;
};

/* One word per 4 KiB page: each page a TLB miss, like a guest scan. */
static uint64_t vcpu_pass(const struct vcpu *v)
{
	uint64_t sum = 0;

	for (size_t p = v->lo; p < v->hi; p++) {
		volatile uint64_t *w = page_words(v->b, p);

		if (v->b->o.write)
			w[1]++;
		else
			sum += w[1];
	}
	return sum;
}

static void *vcpu_main(void *arg)
{
	struct vcpu *v = arg;

	/* Warm-up pass: maps what the last run left zapped. */
	v->sink = vcpu_pass(v);
	pthread_barrier_wait(v->start);
	v->t0 = v->t1 = now_ns();
	while (!atomic_load_explicit(v->stop, memory_order_relaxed)) {
		v->sink += vcpu_pass(v);
		v->passes++;
		v->t1 = now_ns();
	}
	return NULL;
}

/* ---- sampler thread --------------------------------------------------- */

struct run_cfg {
	long sample_us;
	int regions, threads;
	enum zap_mode zap;
};

struct sampler {
	struct bench *b;
	const struct run_cfg *cfg;
	atomic_bool *stop;
	pthread_t th;
	uint64_t rng;
	size_t *cur;		/* page armed per region; SIZE_MAX: none */
	struct iovec *iov;
	struct samples zap, zap_mapped;
	uint64_t zaps, zaps_mapped, ticks, overruns;
	uint64_t in_chk, in_hit, out_chk, out_hit;
	uint64_t cpu_ns, wall_ns;
};

static void sampler_check(struct sampler *s, int r)
{
	struct bench *b = s->b;
	size_t p = s->cur[r];
	bool hit;

	if (p == SIZE_MAX)
		return;
	hit = atomic_load_explicit(&b->accessed[p], memory_order_relaxed);
	if (p < b->wss_pages) {
		s->in_chk++;
		s->in_hit += hit;
	} else {
		s->out_chk++;
		s->out_hit += hit;
	}
}

static void zap_one(struct sampler *s, size_t p, bool was_mapped)
{
	uint64_t t0 = now_ns(), d;

	if (madvise(s->b->ram + p * PG, PG, MADV_DONTNEED))
		die("madvise: %s", strerror(errno));
	d = now_ns() - t0;
	samples_add(&s->zap, d);
	if (was_mapped)
		samples_add(&s->zap_mapped, d);
}

/* process_madvise over @n one-page iovecs, in UIO_MAXIOV chunks. */
static void pmadvise_all(struct bench *b, struct iovec *iov, size_t n)
{
	while (n) {
		size_t k = n < IOV_CHUNK ? n : IOV_CHUNK;
		long r = syscall(SYS_process_madvise, b->pidfd, iov, k,
				 MADV_DONTNEED, 0);

		if (r < 0)
			die("process_madvise: %s", strerror(errno));
		/* Partial: skip the pages done and go on. */
		k = (size_t)r / PG;
		if (!k)
			die("process_madvise advised nothing");
		iov += k;
		n -= k;
	}
}

static void zap_batch(struct sampler *s, size_t n)
{
	uint64_t t0 = now_ns();

	pmadvise_all(s->b, s->iov, n);
	samples_add(&s->zap, (now_ns() - t0) / n);
}

/* DAMON's prepare step for region @r: a random page in it, armed. */
static void sampler_arm(struct sampler *s, int r)
{
	struct bench *b = s->b;
	size_t lo = (size_t)r * b->npages / (size_t)s->cfg->regions;
	size_t hi = (size_t)(r + 1) * b->npages / (size_t)s->cfg->regions;
	size_t p = lo + rng_next(&s->rng) % (hi - lo);
	bool was_mapped = atomic_exchange(&b->mapped[p], 0);

	/* Clear before zapping: a trap after the zap must stay visible. */
	atomic_store(&b->accessed[p], 0);
	s->cur[r] = p;
	s->zaps++;
	s->zaps_mapped += was_mapped;
	if (s->cfg->zap == ZAP_MADVISE)
		zap_one(s, p, was_mapped);
	else
		s->iov[r] = (struct iovec){ b->ram + p * PG, PG };
}

static void sampler_tick(struct sampler *s)
{
	for (int r = 0; r < s->cfg->regions; r++) {
		sampler_check(s, r);
		sampler_arm(s, r);
	}
	if (s->cfg->zap == ZAP_PMADVISE)
		zap_batch(s, (size_t)s->cfg->regions);
	s->ticks++;
}

static void *sampler_main(void *arg)
{
	struct sampler *s = arg;
	uint64_t iv = (uint64_t)s->cfg->sample_us * 1000u;
	uint64_t c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID), w0 = now_ns();
	uint64_t next = w0 + iv;

	for (;;) {
		sleep_until(next);
		/* Stop before a tick whose window the vCPUs did not run. */
		if (atomic_load(s->stop))
			break;
		sampler_tick(s);
		next += iv;
		if (now_ns() > next) {
			s->overruns++;
			next = now_ns() + iv;
		}
	}
	s->cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
	s->wall_ns = now_ns() - w0;
	return NULL;
}

static void sampler_init(struct sampler *s, struct bench *b,
			 const struct run_cfg *cfg, atomic_bool *stop)
{
	size_t ticks = (size_t)(b->o.duration * 1e6 / (double)cfg->sample_us) + 4;

	memset(s, 0, sizeof(*s));
	s->b = b;
	s->cfg = cfg;
	s->stop = stop;
	s->rng = now_ns() | 1;
	s->cur = malloc((size_t)cfg->regions * sizeof(*s->cur));
	s->iov = malloc((size_t)cfg->regions * sizeof(*s->iov));
	if (!s->cur || !s->iov)
		die("out of memory");
	for (int r = 0; r < cfg->regions; r++)
		s->cur[r] = SIZE_MAX;
	samples_init(&s->zap, ticks * (size_t)cfg->regions);
	samples_init(&s->zap_mapped, ticks * (size_t)cfg->regions);
}

static void sampler_free(struct sampler *s)
{
	free(s->cur);
	free(s->iov);
	free(s->zap.v);
	free(s->zap_mapped.v);
}

/* ---- one run ---------------------------------------------------------- */

enum {
	R_RATE, R_ZAPS_S, R_TRAPS_S, R_ZAP_MED, R_ZAP_P99, R_ZAPM_MED,
	R_ZAPM_P99, R_CONT_MED, R_CONT_P99, R_SMP_CPU, R_HDL_CPU,
	R_HDL_NS_TRAP, R_IN_CHK, R_IN_HIT, R_OUT_CHK, R_OUT_HIT, R_OVERRUN,
	R_PASS_MS, R_N
};

struct run_res {
	double f[R_N];
};

struct handler_snap {
	uint64_t traps, cpu, wall;
	size_t ncont;
};

static void handler_snap(struct bench *b, struct handler_snap *h)
{
	h->traps = atomic_load(&b->traps);
	h->ncont = atomic_load_explicit(&b->ncont, memory_order_acquire);
	h->cpu = thread_cpu_ns(b->handler);
	h->wall = now_ns();
}

static void vcpus_start(struct bench *b, struct vcpu *v, int n,
			pthread_barrier_t *start, atomic_bool *stop)
{
	for (int i = 0; i < n; i++) {
		v[i] = (struct vcpu){ .b = b, .start = start, .stop = stop,
			.lo = (size_t)i * b->wss_pages / (size_t)n,
			.hi = (size_t)(i + 1) * b->wss_pages / (size_t)n };
		if (pthread_create(&v[i].th, NULL, vcpu_main, &v[i]))
			die("pthread_create vcpu");
	}
}

/* WSS passes/s of all threads: a slice's pass counts as its share. */
static double vcpus_join(struct bench *b, struct vcpu *v, int n,
			 double *pass_ms)
{
	double rate = 0, ms = 0;

	for (int i = 0; i < n; i++) {
		double s, share = (double)(v[i].hi - v[i].lo) / (double)b->wss_pages;

		pthread_join(v[i].th, NULL);
		s = (double)(v[i].t1 - v[i].t0) / 1e9;
		for (size_t p = v[i].lo; b->o.write && p < v[i].hi; p++)
			b->writes[p] += v[i].passes + 1;	/* + warm-up */
		rate += s > 0 ? share * (double)v[i].passes / s : 0;
		ms += v[i].passes ? s * 1e3 / (double)v[i].passes : 0;
	}
	*pass_ms = ms / n;
	return rate;
}

/* UFFDIO_CONTINUE times the handler logged between two snapshots. */
static void cont_pct(struct bench *b, const struct handler_snap *h0,
		     const struct handler_snap *h1, struct run_res *r)
{
	size_t n = h1->ncont - h0->ncont;
	uint32_t *v;

	if (!n || n > RING)
		return;
	v = malloc(n * sizeof(*v));
	if (!v)
		die("out of memory");
	for (size_t i = 0; i < n; i++)
		v[i] = b->cont_ns[(h0->ncont + i) % RING];
	r->f[R_CONT_MED] = pct(v, n, 0.5);
	r->f[R_CONT_P99] = pct(v, n, 0.99);
	free(v);
}

static void sampler_results(struct sampler *s, struct run_res *r)
{
	double wall = (double)s->wall_ns / 1e9;

	r->f[R_ZAPS_S] = (double)s->zaps / wall;
	r->f[R_ZAP_MED] = pct(s->zap.v, s->zap.n, 0.5);
	r->f[R_ZAP_P99] = pct(s->zap.v, s->zap.n, 0.99);
	r->f[R_ZAPM_MED] = pct(s->zap_mapped.v, s->zap_mapped.n, 0.5);
	r->f[R_ZAPM_P99] = pct(s->zap_mapped.v, s->zap_mapped.n, 0.99);
	r->f[R_SMP_CPU] = (double)s->cpu_ns / (double)s->wall_ns;
	r->f[R_IN_CHK] = (double)s->in_chk;
	r->f[R_IN_HIT] = (double)s->in_hit;
	r->f[R_OUT_CHK] = (double)s->out_chk;
	r->f[R_OUT_HIT] = (double)s->out_hit;
	r->f[R_OVERRUN] = (double)s->overruns;
}

static void run_one(struct bench *b, const struct run_cfg *cfg,
		    struct run_res *r)
{
	struct vcpu v[MAX_VCPUS];
	struct sampler s;
	struct handler_snap h0, h1;
	pthread_barrier_t start;
	atomic_bool stop = false;
	double traps;

	memset(r, 0, sizeof(*r));
	pthread_barrier_init(&start, NULL, (unsigned)cfg->threads + 1);
	vcpus_start(b, v, cfg->threads, &start, &stop);
	pthread_barrier_wait(&start);
	handler_snap(b, &h0);
	if (cfg->zap != ZAP_NONE) {
		sampler_init(&s, b, cfg, &stop);
		if (pthread_create(&s.th, NULL, sampler_main, &s))
			die("pthread_create sampler");
	}
	sleep_until(now_ns() + (uint64_t)(b->o.duration * 1e9));
	atomic_store(&stop, true);
	r->f[R_RATE] = vcpus_join(b, v, cfg->threads, &r->f[R_PASS_MS]);
	if (cfg->zap != ZAP_NONE)
		pthread_join(s.th, NULL);
	handler_snap(b, &h1);
	pthread_barrier_destroy(&start);

	traps = (double)(h1.traps - h0.traps);
	r->f[R_TRAPS_S] = traps * 1e9 / (double)(h1.wall - h0.wall);
	r->f[R_HDL_CPU] = (double)(h1.cpu - h0.cpu) / (double)(h1.wall - h0.wall);
	r->f[R_HDL_NS_TRAP] = traps ? (double)(h1.cpu - h0.cpu) / traps : 0;
	cont_pct(b, &h0, &h1, r);
	if (cfg->zap != ZAP_NONE) {
		sampler_results(&s, r);
		sampler_free(&s);
	}
}

/* ---- calibration: costs of one zap, one trap, one batch --------------- */

struct cal {
	double load_med, zap_idle[2], zap_busy[2], hdl_ns_trap;
	double rt[2], rt_spin[2];	/* handler in poll(), busy-polling */
	double batch_pm[2], batch_loop[2];	/* ns/page at 100, 1000 */
};

static atomic_bool spin_stop;

/* Keeps our mm live on another CPU, as a running vCPU does, so a zap
 * needs a TLB-shootdown IPI there. */
static void *spinner_main(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&spin_stop, memory_order_relaxed))
		;
	return NULL;
}

static void pin_self(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static bool spinner_start(pthread_t *th)
{
	cpu_set_t set;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		return false;
	atomic_store(&spin_stop, false);
	pin_self(0);
	if (pthread_create(th, NULL, spinner_main, NULL))
		die("pthread_create spinner");
	CPU_ZERO(&set);
	CPU_SET(1, &set);
	pthread_setaffinity_np(*th, sizeof(set), &set);
	return true;
}

static void spinner_stop(pthread_t th, const cpu_set_t *orig)
{
	atomic_store(&spin_stop, true);
	pthread_join(th, NULL);
	pthread_setaffinity_np(pthread_self(), sizeof(*orig), orig);
}

/* A random page outside the working set (the vCPUs never touch it). */
static size_t cal_pick(struct bench *b, uint64_t *rng)
{
	size_t cold = b->npages - b->wss_pages;

	return cold ? b->wss_pages + rng_next(rng) % cold
		    : rng_next(rng) % b->npages;
}

/* Such a page, touched so its PTE is present (trapping if it was not). */
static size_t cal_page(struct bench *b, uint64_t *rng)
{
	size_t p = cal_pick(b, rng);

	(void)*page_words(b, p);
	b->mapped[p] = 1;
	return p;
}

static void cal_zap_page(struct bench *b, size_t p)
{
	if (madvise(b->ram + p * PG, PG, MADV_DONTNEED))
		die("madvise: %s", strerror(errno));
	b->mapped[p] = 0;
}

static void cal_zap(struct bench *b, double out[2])
{
	struct samples s;
	uint64_t rng = 12345;

	samples_init(&s, CAL_N);
	for (int i = 0; i < CAL_N; i++) {
		size_t p = cal_page(b, &rng);
		uint64_t t0 = now_ns();

		cal_zap_page(b, p);
		samples_add(&s, now_ns() - t0);
	}
	out[0] = pct(s.v, s.n, 0.5);
	out[1] = pct(s.v, s.n, 0.99);
	free(s.v);
}

/* Zap, then time the load that traps: fault, handler wake-up, read,
 * UFFDIO_CONTINUE, wake, retry.  Also the cold load it replaces. */
static void cal_trap(struct bench *b, struct cal *c, double *out)
{
	struct samples rt, ld;
	uint64_t rng = 777 + (uint64_t)(out == c->rt_spin), cpu0, traps0;

	samples_init(&rt, CAL_N);
	samples_init(&ld, CAL_N);
	cpu0 = thread_cpu_ns(b->handler);
	traps0 = atomic_load(&b->traps);
	for (int i = 0; i < CAL_N; i++) {
		size_t p = cal_page(b, &rng);
		uint64_t t0;

		cal_zap_page(b, p);
		t0 = now_ns();
		(void)*page_words(b, p);
		samples_add(&rt, now_ns() - t0);
		do		/* a mapped page not touched lately */
			p = cal_pick(b, &rng);
		while (!b->mapped[p]);
		t0 = now_ns();
		(void)*page_words(b, p);
		samples_add(&ld, now_ns() - t0);
	}
	c->hdl_ns_trap = (double)(thread_cpu_ns(b->handler) - cpu0) /
			 (double)(atomic_load(&b->traps) - traps0);
	out[0] = pct(rt.v, rt.n, 0.5);
	out[1] = pct(rt.v, rt.n, 0.99);
	c->load_med = pct(ld.v, ld.n, 0.5);
	free(rt.v);
	free(ld.v);
}

/* ns/page zapping @n mapped pages: one process_madvise vs a madvise loop. */
static void cal_batch(struct bench *b, size_t n, double *pm, double *loop)
{
	struct iovec *iov = malloc(n * sizeof(*iov));
	struct samples sp, sl;
	uint64_t rng = 4242;

	if (!iov)
		die("out of memory");
	samples_init(&sp, 200);
	samples_init(&sl, 200);
	for (int rep = 0; rep < 200; rep++) {
		uint64_t t0;

		for (size_t i = 0; i < n; i++)
			iov[i] = (struct iovec){ b->ram + cal_page(b, &rng) * PG, PG };
		t0 = now_ns();
		if (rep & 1) {
			pmadvise_all(b, iov, n);
			samples_add(&sp, (now_ns() - t0) / n);
		} else {
			for (size_t i = 0; i < n; i++)
				madvise(iov[i].iov_base, PG, MADV_DONTNEED);
			samples_add(&sl, (now_ns() - t0) / n);
		}
		for (size_t i = 0; i < n; i++)
			b->mapped[((uint8_t *)iov[i].iov_base - b->ram) / PG] = 0;
	}
	*pm = pct(sp.v, sp.n, 0.5);
	*loop = pct(sl.v, sl.n, 0.5);
	free(sp.v);
	free(sl.v);
	free(iov);
}

static void calibrate(struct bench *b, struct cal *c)
{
	cpu_set_t orig;
	pthread_t spin;
	bool busy;

	memset(c, 0, sizeof(*c));
	pthread_getaffinity_np(pthread_self(), sizeof(orig), &orig);
	cal_zap(b, c->zap_idle);
	/* Busy-polling first, so the handler CPU per trap kept is poll()'s. */
	atomic_store(&b->handler_spin, true);
	cal_trap(b, c, c->rt_spin);
	atomic_store(&b->handler_spin, false);
	cal_trap(b, c, c->rt);
	busy = spinner_start(&spin);
	if (!busy)
		return;
	cal_zap(b, c->zap_busy);
	if (b->have_pmadv) {
		cal_batch(b, 100, &c->batch_pm[0], &c->batch_loop[0]);
		cal_batch(b, 1000, &c->batch_pm[1], &c->batch_loop[1]);
	}
	spinner_stop(spin, &orig);
}

static void print_cal(const struct bench *b, const struct cal *c)
{
	printf("\nCalibration (%d pages, ns; pages outside the WSS):\n", CAL_N);
	printf("  cold load of a mapped page          median %6.0f\n", c->load_med);
	printf("  zap, mapped page, nothing else runs median %6.0f  p99 %6.0f\n",
	       c->zap_idle[0], c->zap_idle[1]);
	printf("  zap, mapped page, mm busy on CPU 1  median %6.0f  p99 %6.0f\n",
	       c->zap_busy[0], c->zap_busy[1]);
	printf("  trap round trip (load to resume)    median %6.0f  p99 %6.0f\n",
	       c->rt[0], c->rt[1]);
	printf("  same, handler busy-polling the uffd median %6.0f  p99 %6.0f\n",
	       c->rt_spin[0], c->rt_spin[1]);
	printf("  handler CPU per trap                       %6.0f\n", c->hdl_ns_trap);
	if (!b->have_pmadv)
		return;
	printf("  batch of  100 mapped, mm busy: process_madvise %5.0f/page, "
	       "madvise loop %5.0f/page\n", c->batch_pm[0], c->batch_loop[0]);
	printf("  batch of 1000 mapped, mm busy: process_madvise %5.0f/page, "
	       "madvise loop %5.0f/page\n", c->batch_pm[1], c->batch_loop[1]);
}

/* ---- matrix ----------------------------------------------------------- */

struct row {
	struct run_cfg cfg;
	double base_rate, base_pass_ms;
	struct run_res res;
	bool ok;
};

static void res_add(struct run_res *acc, const struct run_res *r, int reps)
{
	for (int i = 0; i < R_N; i++)
		acc->f[i] += r->f[i] / reps;
}

/* Baseline and sampled runs alternate, so load drift hits both alike. */
static void run_config(struct bench *b, const struct run_cfg *cfg,
		       struct row *rows, int nzap)
{
	struct run_cfg base = *cfg;
	struct run_res r;
	double rate = 0, pass_ms = 0;

	base.zap = ZAP_NONE;
	for (int z = 0; z < nzap; z++) {
		memset(&rows[z], 0, sizeof(rows[z]));
		rows[z].cfg = *cfg;
		rows[z].cfg.zap = (enum zap_mode)(ZAP_MADVISE + z);
		rows[z].ok = true;
	}
	for (int rep = 0; rep < b->o.reps; rep++) {
		run_one(b, &base, &r);
		rate += r.f[R_RATE] / b->o.reps;
		pass_ms += r.f[R_PASS_MS] / b->o.reps;
		for (int z = 0; z < nzap; z++) {
			run_one(b, &rows[z].cfg, &r);
			res_add(&rows[z].res, &r, b->o.reps);
		}
	}
	for (int z = 0; z < nzap; z++) {
		rows[z].base_rate = rate;
		rows[z].base_pass_ms = pass_ms;
	}
}

static double ratio_pct(double a, double b)
{
	return b > 0 ? 100.0 * a / b : 0;
}

/* Columns: WSS passes/s without and with sampling; zap ns (median, p99,
 * median of zaps that found a PTE; per page of a batch for pmadv); median
 * UFFDIO_CONTINUE ns; sampler and handler CPU in % of a core; armed pages
 * found accessed inside and outside the WSS; ticks that overran. */
static void print_header(void)
{
	printf("\n%6s %4s %3s %7s %8s %8s %6s %7s %7s %6s %6s %6s"
	       " %5s %5s %5s %6s %6s %4s\n",
	       "iv_us", "reg", "thr", "zap", "base/s", "samp/s", "slow%",
	       "zaps/s", "traps/s", "zapMd", "zap99", "zapMap", "cont",
	       "smp%", "hdl%", "inWSS%", "out%", "ovr");
}

static void print_row(const struct row *w)
{
	const double *f = w->res.f;

	printf("%6ld %4d %3d %7s %8.1f %8.1f %6.2f %7.0f %7.0f %6.0f %6.0f"
	       " %6.0f %5.0f %5.2f %5.2f %6.1f %6.2f %4.0f\n",
	       w->cfg.sample_us, w->cfg.regions, w->cfg.threads,
	       zap_name[w->cfg.zap], w->base_rate, f[R_RATE],
	       100.0 * (1.0 - f[R_RATE] / w->base_rate), f[R_ZAPS_S],
	       f[R_TRAPS_S], f[R_ZAP_MED], f[R_ZAP_P99], f[R_ZAPM_MED],
	       f[R_CONT_MED], 100.0 * f[R_SMP_CPU], 100.0 * f[R_HDL_CPU],
	       ratio_pct(f[R_IN_HIT], f[R_IN_CHK]),
	       ratio_pct(f[R_OUT_HIT], f[R_OUT_CHK]), f[R_OVERRUN]);
	fflush(stdout);
}

static void print_result(const struct row *w)
{
	const double *f = w->res.f;
	char key[64];

	snprintf(key, sizeof(key), "%ldus_%dr_%dt_%s", w->cfg.sample_us,
		 w->cfg.regions, w->cfg.threads, zap_name[w->cfg.zap]);
	printf("RESULT slowdown_pct_%s=%.2f\n", key,
	       100.0 * (1.0 - f[R_RATE] / w->base_rate));
	printf("RESULT monitor_cpu_pct_%s=%.2f\n", key,
	       100.0 * (f[R_SMP_CPU] + f[R_HDL_CPU]));
	printf("RESULT in_wss_hit_pct_%s=%.1f\n", key,
	       ratio_pct(f[R_IN_HIT], f[R_IN_CHK]));
	printf("RESULT out_wss_hit_pct_%s=%.2f\n", key,
	       ratio_pct(f[R_OUT_HIT], f[R_OUT_CHK]));
}

static size_t build_cfgs(const struct bench *b, struct run_cfg *cfgs)
{
	static const long ivs[] = { 5000, 20000, 100000 };
	static const int regs[] = { 100, 1000 };
	static const int thr[] = { 1, 2 };
	size_t n = 0;

	if (b->o.threads || b->o.regions || b->o.sample_us) {
		cfgs[0] = (struct run_cfg){
			.sample_us = b->o.sample_us ? b->o.sample_us : 5000,
			.regions = b->o.regions ? b->o.regions : 100,
			.threads = b->o.threads ? b->o.threads : 1 };
		return 1;
	}
	for (size_t t = 0; t < 2; t++)
		for (size_t i = 0; i < 3; i++)
			for (size_t r = 0; r < 2; r++)
				cfgs[n++] = (struct run_cfg){ ivs[i], regs[r],
							      thr[t], ZAP_NONE };
	return n;
}

static void run_matrix(struct bench *b)
{
	struct run_cfg cfgs[12];
	struct row rows[24];
	size_t ncfg = build_cfgs(b, cfgs), nrow = 0;
	int nzap = b->have_pmadv ? 2 : 1;

	print_header();
	for (size_t i = 0; i < ncfg; i++) {
		run_config(b, &cfgs[i], &rows[nrow], nzap);
		for (int z = 0; z < nzap; z++)
			print_row(&rows[nrow + (size_t)z]);
		nrow += (size_t)nzap;
	}
	printf("\nunsampled pass over the WSS: %.2f ms (%d thread)\n",
	       rows[0].base_pass_ms, rows[0].cfg.threads);
	for (size_t i = 0; i < nrow; i++)
		print_result(&rows[i]);
}

/* ---- final check and main --------------------------------------------- */

static uint64_t expected(const struct bench *b, size_t p, size_t w)
{
	uint64_t v = pattern(p, w);

	if (p < b->wss_pages && w == 1)
		v += b->writes[p];
	return v;
}

/* After unregistering: every word of every page as written, zapped or not. */
static size_t verify(struct bench *b)
{
	size_t bad = 0;

	uffd_fini(b);
	for (size_t p = 0; p < b->npages; p++)
		for (size_t w = 0; w < WORDS; w++)
			bad += page_words(b, p)[w] != expected(b, p, w);
	return bad;
}

static void print_load(const char *when)
{
	char buf[128] = "?";
	FILE *f = fopen("/proc/loadavg", "r");

	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			strcpy(buf, "?\n");
		fclose(f);
	}
	printf("loadavg %s: %s", when, buf);
}

static void usage(void)
{
	fputs("usage: uffd-trap [--mem MiB] [--wss MiB] [--write] [--duration S]\n"
	      "                 [--reps N] [--threads N] [--sample-us US]"
	      " [--regions N]\n", stderr);
	exit(2);
}

static void parse(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){ .mem_mib = 1024, .wss_mib = 64, .duration = 1.5,
			    .reps = 2 };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--write")) {
			o->write = true;
			continue;
		}
		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--mem"))
			o->mem_mib = strtoul(v, NULL, 0);
		else if (!strcmp(a, "--wss"))
			o->wss_mib = strtoul(v, NULL, 0);
		else if (!strcmp(a, "--duration"))
			o->duration = strtod(v, NULL);
		else if (!strcmp(a, "--reps"))
			o->reps = atoi(v);
		else if (!strcmp(a, "--threads"))
			o->threads = atoi(v);
		else if (!strcmp(a, "--sample-us"))
			o->sample_us = strtol(v, NULL, 0);
		else if (!strcmp(a, "--regions"))
			o->regions = atoi(v);
		else
			usage();
	}
	if (!o->mem_mib || o->wss_mib > o->mem_mib || o->reps < 1 ||
	    o->threads < 0 || o->threads > MAX_VCPUS || o->regions < 0 ||
	    (size_t)o->regions > o->mem_mib * MiB / PG || o->sample_us < 0 ||
	    o->duration <= 0)
		usage();
}

int main(int argc, char **argv)
{
	static struct bench b;
	struct utsname u;
	struct cal c;
	size_t bad;

	parse(argc, argv, &b.o);
	b.npages = b.o.mem_mib * MiB / PG;
	b.wss_pages = b.o.wss_mib * MiB / PG;
	b.cont_ns = calloc(RING, sizeof(*b.cont_ns));
	b.writes = calloc(b.wss_pages + 1, sizeof(*b.writes));
	if (!b.cont_ns || !b.writes)
		die("out of memory");
	uname(&u);
	printf("uffd-trap: kernel %s, %ld CPUs, mem %zu MiB, wss %zu MiB, %s, "
	       "%.1f s x %d reps per run\n", u.release,
	       sysconf(_SC_NPROCESSORS_ONLN), b.o.mem_mib, b.o.wss_mib,
	       b.o.write ? "read+write" : "read", b.o.duration, b.o.reps);
	print_load("at start");
	ram_init(&b);
	uffd_init(&b);
	probe_pmadv(&b);
	if (pthread_create(&b.handler, NULL, handler_main, &b))
		die("pthread_create handler");
	calibrate(&b, &c);
	print_cal(&b, &c);
	run_matrix(&b);
	printf("RESULT zap_ns_median=%.0f\nRESULT zap_busy_ns_median=%.0f\n"
	       "RESULT trap_rt_ns_median=%.0f\nRESULT trap_rt_ns_p99=%.0f\n"
	       "RESULT trap_rt_spin_ns_median=%.0f\n",
	       c.zap_idle[0], c.zap_busy[0], c.rt[0], c.rt[1], c.rt_spin[0]);
	bad = verify(&b);
	atomic_store(&b.handler_stop, true);
	pthread_join(b.handler, NULL);
	printf("final check: %zu of %zu words differ (%s); EEXIST races %" PRIu64 "\n",
	       bad, b.npages * WORDS, bad ? "DATA LOST" : "nothing lost",
	       (uint64_t)atomic_load(&b.eexist));
	printf("RESULT words_lost=%zu\n", bad);
	print_load("at end");
	return bad ? 1 : 0;
}
