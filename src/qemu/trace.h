/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Trace points of the qdamon glue, generated from ./trace-events. */
#include "trace/trace-qdamon_src_qemu.h"
