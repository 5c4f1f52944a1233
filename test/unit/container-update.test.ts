/**
 * docker update's merge (moby UpdateContainer): the docker CLI sends every
 * resource field, zeros included; a zero keeps the container's value.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { mergeUpdate } from "../../src/engine/containers.ts";
import type { HostConfig, Resources } from "../../src/spec/docker-api.ts";

const ID = "c".repeat(64);
/** What `docker update --pids-limit 30` sends. */
const CLI_ZEROS: Resources & { RestartPolicy: NonNullable<HostConfig["RestartPolicy"]> } = { BlkioWeight: 0, CpuPeriod: 0, CpuQuota: 0, CpuRealtimePeriod: 0, CpuRealtimeRuntime: 0, CpusetCpus: "", CpusetMems: "", CpuShares: 0, Memory: 0, MemoryReservation: 0, MemorySwap: 0, NanoCpus: 0, RestartPolicy: { Name: "", MaximumRetryCount: 0 } };
const limited: HostConfig = { Memory: 64 << 20, MemorySwap: 128 << 20, NanoCpus: 1e9, RestartPolicy: { Name: "always", MaximumRetryCount: 0 } };

describe("docker update's merge", () => {
  it("keeps every limit and the restart policy the request leaves at zero", () => {
    const out = mergeUpdate(ID, limited, { ...CLI_ZEROS, PidsLimit: 30 });
    assert.equal(out.Memory, 64 << 20);
    assert.equal(out.MemorySwap, 128 << 20);
    assert.equal(out.NanoCpus, 1e9);
    assert.deepEqual(out.RestartPolicy, { Name: "always", MaximumRetryCount: 0 });
    assert.equal(out.PidsLimit, 30);
    assert.equal(limited.PidsLimit, undefined, "the container's HostConfig is not changed in place");
  });

  it("sets what is given; a pids limit of -1 is stored as 0", () => {
    const out = mergeUpdate(ID, limited, { ...CLI_ZEROS, Memory: 32 << 20, CpuShares: 100, CpusetCpus: "0", PidsLimit: -1, RestartPolicy: { Name: "on-failure", MaximumRetryCount: 2 } });
    assert.equal(out.Memory, 32 << 20);
    assert.equal(out.MemorySwap, 128 << 20, "the swap limit stays");
    assert.equal(out.CpuShares, 100);
    assert.equal(out.CpusetCpus, "0");
    assert.equal(out.PidsLimit, 0);
    assert.deepEqual(out.RestartPolicy, { Name: "on-failure", MaximumRetryCount: 2 });
  });

  it("refuses what moby refuses, naming the container", () => {
    assert.throws(() => mergeUpdate(ID, {}, { ...CLI_ZEROS, Memory: 100 << 20 }), {
      message: `Cannot update container ${ID}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time`,
    });
    assert.equal(mergeUpdate(ID, {}, { ...CLI_ZEROS, Memory: 100 << 20, MemorySwap: 200 << 20 }).Memory, 100 << 20);
    assert.throws(() => mergeUpdate(ID, { CpuQuota: 50000 }, { ...CLI_ZEROS, NanoCpus: 1e9 }), /Nano CPUs cannot be updated as CPU Quota has already been set/);
    assert.throws(() => mergeUpdate(ID, limited, { ...CLI_ZEROS, CpuPeriod: 100000 }), /CPU Period cannot be updated as NanoCPUs has already been set/);
    assert.throws(() => mergeUpdate(ID, { AutoRemove: true }, { ...CLI_ZEROS, RestartPolicy: { Name: "always" } }), /AutoRemove is enabled/);
    assert.throws(() => mergeUpdate(ID, {}, { ...CLI_ZEROS, RestartPolicy: { Name: "sometimes" as "no" } }), /invalid restart policy 'sometimes'/);
  });
});
