/**
 * docker stats: a container's cgroup statistics in the Engine API's
 * StatsResponse shape. CPU % is computed by the client from two samples
 * (cpu_stats and precpu_stats) against the host's total CPU time.
 */
import { readFileSync } from "node:fs";
import os from "node:os";
import type { CgroupStats } from "../cgroups/cgroup.ts";

const NANOS_PER_TICK = 1e9 / 100; // USER_HZ is 100 on Linux

/** The host's total CPU time in nanoseconds (/proc/stat's first line), as dockerd reports it. */
export function systemCpuUsage(): number {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
  const ticks = line
    .trim()
    .split(/\s+/)
    .slice(1, 8)
    .reduce((sum, v) => sum + Number(v), 0);
  return ticks * NANOS_PER_TICK;
}

export interface StatsSample {
  read: string;
  cpu: CgroupStats["cpu"];
  system: number;
}

function cpuStats(s: StatsSample | undefined, onlineCpus: number) {
  if (!s) return { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } };
  return {
    cpu_usage: {
      total_usage: s.cpu.usageTotal,
      ...(s.cpu.usagePerCpu.length ? { percpu_usage: s.cpu.usagePerCpu } : {}),
      usage_in_kernelmode: s.cpu.usageSystem,
      usage_in_usermode: s.cpu.usageUser,
    },
    system_cpu_usage: s.system,
    online_cpus: onlineCpus,
    throttling_data: {
      periods: s.cpu.throttling.periods,
      throttled_periods: s.cpu.throttling.throttledPeriods,
      throttled_time: s.cpu.throttling.throttledTime,
    },
  };
}

/** One StatsResponse; `previous` is the sample before (precpu_stats), if any. */
export function statsResponse(input: { id: string; name: string; stats: CgroupStats; previous?: StatsSample; now?: Date }): {
  response: Record<string, unknown>;
  sample: StatsSample;
} {
  const now = input.now ?? new Date();
  const online = os.cpus().length;
  const sample: StatsSample = { read: now.toISOString(), cpu: input.stats.cpu, system: systemCpuUsage() };
  const m = input.stats.memory;
  const response = {
    read: sample.read,
    preread: input.previous?.read ?? "0001-01-01T00:00:00Z",
    pids_stats: { current: input.stats.pids.current, ...(input.stats.pids.limit ? { limit: input.stats.pids.limit } : {}) },
    blkio_stats: {
      io_service_bytes_recursive: input.stats.blkio.ioServiceBytesRecursive,
      io_serviced_recursive: input.stats.blkio.ioServicedRecursive,
      io_queue_recursive: null,
      io_service_time_recursive: null,
      io_wait_time_recursive: null,
      io_merged_recursive: null,
      io_time_recursive: null,
      sectors_recursive: null,
    },
    num_procs: 0,
    storage_stats: {},
    cpu_stats: cpuStats(sample, online),
    precpu_stats: cpuStats(input.previous, online),
    memory_stats: {
      usage: m.usage,
      max_usage: m.maxUsage,
      stats: m.stat,
      // No limit: dockerd reports the host's memory, so MEM % stays meaningful.
      limit: m.limit || os.totalmem(),
      failcnt: m.failcnt,
    },
    name: `/${input.name.replace(/^\//, "")}`,
    id: input.id,
  };
  return { response, sample };
}
