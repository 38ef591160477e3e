/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * config.h - the workload guest's configuration and its text format.
 *
 * The configuration is the fw_cfg file "opt/qdamon/workload", e.g.
 *
 *   -fw_cfg name=opt/qdamon/workload,string=hot_start=0x1000000,hot_size=16M
 *
 * Format: "key=value" items separated by commas, semicolons, blanks or
 * newlines; '#' starts a comment that runs to the end of the line (for
 * "-fw_cfg name=...,file=PATH").  Note that QEMU's option parser splits
 * "string=" at commas unless they are doubled (",,"): on the command
 * line, separate the items with ",," or with blanks/semicolons, or
 * pass them in a file.
 *
 * Values are decimal, or hexadecimal with a "0x" prefix, optionally
 * followed by K, M or G (times 2^10, 2^20, 2^30); fill_size also takes
 * "all".  Unknown keys and bad values are reported on the console and
 * ignored.
 */
#ifndef QDAMON_GUEST_CONFIG_H
#define QDAMON_GUEST_CONFIG_H

#include <stdint.h>

#define WL_CONFIG_FILE		"opt/qdamon/workload"
#define WL_CONFIG_MAX		1024	/* bytes read from the file */

#define WL_DEFAULT_HOT_START	0x1000000ULL	/* 16 MiB */
#define WL_DEFAULT_HOT_SIZE	0x1000000ULL	/* 16 MiB */
#define WL_DEFAULT_PHASE_COUNT	2
#define WL_DEFAULT_FILL_START	0x100000ULL	/* 1 MiB: usable RAM's start */
#define WL_DEFAULT_FILL_SEED	0x5eedf111ULL

/* "all" as a value (fill_size only): everything up to the RAM limit. */
#define WL_ALL			(~0ULL)

/**
 * struct wl_config - the configuration as given (before any clamping).
 * @hot_start: first byte of the hot range, guest-physical (key
 *	hot_start, default 16 MiB).
 * @hot_size: bytes in the hot range (key hot_size, default 16 MiB;
 *	0 with no second range: an idle guest that only halts).
 * @hot2_start: first byte of an optional second hot range (hot2_start).
 * @hot2_size: its size in bytes; 0, the default, means none (hot2_size).
 * @phase_passes: move the first hot range every this many passes
 *	(phase_passes; 0, the default, means never).
 * @phase_secs: or every this many seconds of the CMOS clock
 *	(phase_secs; 0 means never; phase_passes wins when both are set).
 * @phase_count: number of positions the moving range cycles through
 *	(phase_count, default 2).
 * @phase_stride: bytes between consecutive positions (phase_stride;
 *	0, the default, means @hot_size: the positions are adjacent).
 * @read_start: first byte of an optional read-only range (read_start):
 *	written once at boot, then only read, one word per page per pass.
 * @read_size: its size in bytes; 0, the default, means none (read_size).
 * @fill_start: first byte of the range filled with the pattern before
 *	the first pass (fill_start, default 1 MiB).
 * @fill_size: its size in bytes (fill_size; 0, the default, means no
 *	fill; "all", stored as WL_ALL, means up to the usable RAM's limit).
 * @fill_seed: the seed of the pattern (fill_seed; only its low 32 bits).
 * @verify_secs: re-read the fill range and compare it with the pattern
 *	every this many seconds of the CMOS clock (verify_secs; 0, the
 *	default, means never).
 * @verify_passes: or every this many passes (verify_passes; it wins
 *	when both are set).
 * @commands: 1 to take commands from the PS/2 keyboard (commands; 0,
 *	the default, means the keyboard controller is never read): the
 *	host presses a key with QMP send-key and the guest acts on it
 *	between two passes: "r" resets the machine through the keyboard
 *	controller (a guest-initiated reboot), "s" powers it off through
 *	ACPI (S5, on the PIIX4 PM of -M pc).
 * @eject_slots: look for ACPI memory-hotplug remove requests on DIMM
 *	slots 0 .. eject_slots - 1 and eject those DIMMs, as an OS's _EJ0
 *	would (eject_slots; 0, the default, means never: device_del of a
 *	pc-dimm then waits for ever).
 *
 * Position k of the moving range starts at hot_start + k * phase_stride;
 * after the last position it goes back to position 0.
 */
struct wl_config {
	uint64_t hot_start;
	uint64_t hot_size;
	uint64_t hot2_start;
	uint64_t hot2_size;
	uint64_t phase_passes;
	uint64_t phase_secs;
	uint64_t phase_count;
	uint64_t phase_stride;
	uint64_t read_start;
	uint64_t read_size;
	uint64_t fill_start;
	uint64_t fill_size;
	uint64_t fill_seed;
	uint64_t verify_secs;
	uint64_t verify_passes;
	uint64_t commands;
	uint64_t eject_slots;
};

/* Fill @cfg with the defaults above. */
void wl_config_defaults(struct wl_config *cfg);

/*
 * wl_config_parse - apply the items of @text (@len bytes, need not be
 * NUL-terminated) to @cfg, reporting bad items on the console.
 *
 * Return: the number of items ignored because they were bad.
 */
unsigned int wl_config_parse(struct wl_config *cfg, const char *text,
			     uint32_t len);

#endif /* QDAMON_GUEST_CONFIG_H */
