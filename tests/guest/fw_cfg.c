// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fw_cfg.c - reading QEMU's fw_cfg through I/O ports 0x510/0x511.
 */
#include <stdint.h>

#include "fw_cfg.h"
#include "io.h"

/* One file directory entry as the device sends it (big-endian). */
struct fw_cfg_file {
	uint32_t size;
	uint16_t select;
	uint16_t reserved;
	char name[FW_CFG_NAME_MAX];
};

void fw_cfg_select(uint16_t key)
{
	outw(FW_CFG_PORT_SEL, key);
}

void fw_cfg_read(void *buf, uint32_t len)
{
	uint8_t *p = buf;

	while (len--)
		*p++ = inb(FW_CFG_PORT_DATA);
}

void fw_cfg_skip(uint32_t len)
{
	while (len--)
		(void)inb(FW_CFG_PORT_DATA);
}

int fw_cfg_present(void)
{
	char sig[4];

	fw_cfg_select(FW_CFG_SIGNATURE);
	fw_cfg_read(sig, sizeof(sig));
	return sig[0] == 'Q' && sig[1] == 'E' && sig[2] == 'M' && sig[3] == 'U';
}

uint64_t fw_cfg_read_u64(uint16_t key)
{
	uint8_t b[8];
	uint64_t v = 0;
	int i;

	fw_cfg_select(key);
	fw_cfg_read(b, sizeof(b));
	for (i = 7; i >= 0; i--)
		v = (v << 8) | b[i];
	return v;
}

static uint32_t be32(const void *p)
{
	const uint8_t *b = p;

	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	       (uint32_t)b[2] << 8 | b[3];
}

static uint16_t be16(const void *p)
{
	const uint8_t *b = p;

	return (uint16_t)(b[0] << 8 | b[1]);
}

static int name_is(const char *have, const char *want)
{
	int i;

	for (i = 0; i < FW_CFG_NAME_MAX; i++) {
		if (have[i] != want[i])
			return 0;
		if (!want[i])
			return 1;
	}
	return 0;
}

int fw_cfg_find_file(const char *name, uint16_t *key, uint32_t *size)
{
	struct fw_cfg_file f;
	uint32_t count, i;
	uint8_t raw[4];

	fw_cfg_select(FW_CFG_FILE_DIR);
	fw_cfg_read(raw, sizeof(raw));
	count = be32(raw);
	for (i = 0; i < count; i++) {
		fw_cfg_read(&f, sizeof(f));
		if (name_is(f.name, name)) {
			*key = be16(&f.select);
			*size = be32(&f.size);
			return 1;
		}
	}
	return 0;
}
