/*
 * hako-shim-loop: the shim once its container runs (shim.c re-execs into
 * it). The same shim_loop_main as `hako-shim shim-loop`, linked without the
 * set-up, seccomp and tar code (--gc-sections drops what this entry never
 * reaches): every idle container maps this smaller image, not the helper's.
 */
#define _GNU_SOURCE
#include "container.h"

int main(int argc, char **argv)
{
	return shim_loop_main(argc - 1, argv + 1);
}
