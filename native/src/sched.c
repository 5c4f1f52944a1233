/*
 * A short scheduler slice for a latency-bound thread (EEVDF custom slices,
 * Linux 6.12+: sched_attr.sched_runtime of a SCHED_OTHER task).
 *
 * hakod's event loop does a little work each time a helper or shim writes
 * to it, and sleeps between. On a small machine the container process that
 * was just started often holds the CPU hakod wakes on, and the scheduler
 * lets a running task finish its slice first (~1.4 ms with 2 CPUs): hakod's
 * answer waits that long. A waking task that asked for a shorter slice may
 * preempt at once. The CPU share is unchanged: only when, not how much.
 * Earlier kernels take the attribute and ignore it. Children do not inherit
 * it (reset-on-fork), so neither helpers nor containers run with it.
 */
#define _GNU_SOURCE
#include "util.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

struct sched_attr_v1 {
	uint32_t size;
	uint32_t sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime;
	uint64_t sched_deadline;
	uint64_t sched_period;
};

#define HAKO_SCHED_OTHER 0
#define HAKO_SCHED_FLAG_RESET_ON_FORK 0x01

int request_short_slice(pid_t tid, unsigned slice_us)
{
	struct sched_attr_v1 a;
	memset(&a, 0, sizeof a);
	a.size = sizeof a;
	a.sched_policy = HAKO_SCHED_OTHER;
	a.sched_flags = HAKO_SCHED_FLAG_RESET_ON_FORK;
	errno = 0;
	int nice = getpriority(PRIO_PROCESS, (id_t)tid);
	if (nice == -1 && errno) return -1;
	a.sched_nice = nice; /* unchanged */
	a.sched_runtime = (uint64_t)slice_us * 1000;
	return (int)syscall(SYS_sched_setattr, tid, &a, 0);
}
