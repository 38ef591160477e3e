/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fw_cfg.h - QEMU's firmware configuration device, x86 I/O port flavour.
 *
 * A 16-bit write of a key to the selector port selects an item; its
 * bytes then come out of the data port one read at a time.  Numbers in
 * the fixed items are little-endian; the file directory is big-endian.
 */
#ifndef QDAMON_GUEST_FW_CFG_H
#define QDAMON_GUEST_FW_CFG_H

#include <stdint.h>

#define FW_CFG_PORT_SEL		0x510
#define FW_CFG_PORT_DATA	0x511

#define FW_CFG_SIGNATURE	0x0000	/* "QEMU" */
#define FW_CFG_RAM_SIZE		0x0003	/* uint64, bytes */
#define FW_CFG_FILE_DIR		0x0019	/* be32 count, then entries */

#define FW_CFG_NAME_MAX		56

/* Return: 1 when the fw_cfg signature reads "QEMU", else 0. */
int fw_cfg_present(void);

/* Select @key; reads then start at the item's first byte. */
void fw_cfg_select(uint16_t key);

/* Read @len bytes of the selected item into @buf. */
void fw_cfg_read(void *buf, uint32_t len);

/* Skip @len bytes of the selected item. */
void fw_cfg_skip(uint32_t len);

/* Return: the little-endian 64-bit item @key (0 when absent). */
uint64_t fw_cfg_read_u64(uint16_t key);

/*
 * fw_cfg_find_file - look a named file up in the file directory.
 * @name: the file's name, e.g. "opt/qdamon/workload"
 * @key: its selector, when found
 * @size: its size in bytes, when found
 *
 * Return: 1 when found, 0 when not.
 */
int fw_cfg_find_file(const char *name, uint16_t *key, uint32_t *size);

#endif /* QDAMON_GUEST_FW_CFG_H */
