/**
 * ContainerStore in a temp dir: records written atomically and read back by
 * a new instance, Docker's lookup order (full ID, name, unique prefix),
 * removal, and a corrupt record skipped at load instead of failing it.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HakoError } from "../../src/common/errors.ts";
import { Trash } from "../../src/common/trash.ts";
import {
  ContainerStore,
  ZERO_TIME,
  generateContainerId,
  initialState,
  statusOf,
  type ContainerRecord,
} from "../../src/engine/container-store.ts";
import { mountPointView, mountPointsByDestination, type MountPointRecord } from "../../src/engine/types.ts";
import { tempDirs } from "../helpers/temp.ts";

const tempDir = tempDirs();

function tempRoot(): string {
  const d = tempDir("hako-containers-");
  return join(d, "containers");
}

let clock = 0;
function record(id: string, name: string, extra: Partial<ContainerRecord> = {}): ContainerRecord {
  const created = new Date(Date.UTC(2026, 0, 1, 0, 0, clock++)).toISOString();
  return {
    ID: id,
    Name: name,
    Created: created,
    Path: "sh",
    Args: ["-c", "true"],
    Config: { Image: "busybox", Cmd: ["sh", "-c", "true"], Hostname: id.slice(0, 12) },
    HostConfig: { NetworkMode: "default", Binds: ["/a:/b"] },
    Image: `sha256:${"e".repeat(64)}`,
    ImageName: "busybox",
    State: initialState(),
    RestartCount: 0,
    Driver: "overlayfs",
    MountPoints: {},
    LogPath: "",
    HostnamePath: "",
    HostsPath: "",
    ResolvConfPath: "",
    ExecIDs: [],
    HasBeenStartedBefore: false,
    HasBeenManuallyStopped: false,
    ...extra,
  };
}

function code(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    assert.ok(HakoError.is(err), String(err));
    return { code: err.code, message: err.message };
  }
  assert.fail("did not throw");
}

const A = "aaaa1111" + "0".repeat(56);
const B = "aaaa2222" + "0".repeat(56);
const C = "cccc3333" + "0".repeat(56);

describe("ContainerStore", () => {
  it("IDs are 64 hex digits whose short form is not a number", () => {
    const ids = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const id = generateContainerId();
      assert.match(id, /^[0-9a-f]{64}$/);
      assert.ok(!/^\d+$/.test(id.slice(0, 12)));
      ids.add(id);
    }
    assert.equal(ids.size, 200);
  });

  it("create writes config.v2.json and hostconfig.json; a new instance reads them back", () => {
    const root = tempRoot();
    const store = new ContainerStore(root);
    const r = record(A, "/web");
    store.create(r);
    const p = store.paths(A);
    assert.equal(p.dir, join(root, A));
    assert.equal(p.log, join(root, A, `${A}-json.log`));
    const onDisk = JSON.parse(readFileSync(p.config, "utf8"));
    assert.equal(onDisk.ID, A);
    assert.equal(onDisk.HostConfig, undefined, "HostConfig lives in hostconfig.json, as in moby");
    assert.deepEqual(JSON.parse(readFileSync(p.hostConfig, "utf8")), r.HostConfig);
    assert.deepEqual(readdirSync(p.dir).sort(), ["config.v2.json", "hostconfig.json"], "no temp files left behind");

    const again = new ContainerStore(root);
    assert.deepEqual(again.load(), { loaded: 1, skipped: [] });
    assert.deepEqual(again.get(A), r);
  });

  it("save replaces the record atomically and updates the cache and the name index", () => {
    const root = tempRoot();
    const store = new ContainerStore(root);
    const r = store.create(record(A, "/web"));
    r.State = { ...r.State, Running: true, Pid: 123, StartedAt: "2026-01-01T00:00:00.123456789Z", Status: "running" };
    r.Name = "/renamed";
    store.save(r);
    assert.equal(store.resolve("renamed").ID, A);
    assert.equal(store.find("web"), undefined, "the old name is free");
    const fresh = new ContainerStore(root);
    fresh.load();
    assert.equal(fresh.get(A)!.State.Pid, 123);
    assert.equal(fresh.resolve("/renamed").ID, A);
  });

  it("lookup order: full ID, exact name, unique ID prefix", () => {
    const store = new ContainerStore(tempRoot());
    store.create(record(A, "/first"));
    store.create(record(B, "/second"));
    // A container named like the prefix of another's ID: the name wins.
    store.create(record(C, "/aaaa2"));
    assert.equal(store.resolve(A).ID, A);
    assert.equal(store.resolve("first").ID, A);
    assert.equal(store.resolve("/first").ID, A);
    assert.equal(store.resolve("aaaa1").ID, A);
    assert.equal(store.resolve("aaaa2").ID, C, "exact name before ID prefix");
    assert.equal(store.resolve("aaaa22").ID, B);
    assert.equal(store.resolve("cccc").ID, C);
    assert.deepEqual(code(() => store.resolve("aaaa")), { code: "ERR_INVALID_ARGUMENT", message: "multiple IDs found with provided prefix: aaaa" });
    assert.deepEqual(code(() => store.resolve("nope")), { code: "ERR_NOT_FOUND", message: "No such container: nope" });
    assert.deepEqual(code(() => store.resolve("")), { code: "ERR_INVALID_ARGUMENT", message: 'invalid name or ID supplied: ""' });
  });

  it("create refuses a taken ID or name", () => {
    const store = new ContainerStore(tempRoot());
    store.create(record(A, "/web"));
    assert.equal(code(() => store.create(record(A, "/other"))).code, "ERR_CONFLICT");
    const conflict = code(() => store.create(record(B, "/web")));
    assert.equal(conflict.code, "ERR_CONFLICT");
    assert.equal(
      conflict.message,
      `Conflict. The container name "/web" is already in use by container "${A}". You have to remove (or rename) that container to be able to reuse that name.`,
    );
    assert.equal(store.get(B), undefined);
    assert.ok(!existsSync(store.paths(B).dir));
    assert.equal(code(() => store.create(record("not-an-id", "/x"))).code, "ERR_INVALID_ARGUMENT");
  });

  it("ExecIDs stay in memory (execs do not outlive the daemon); the files hold the rest", () => {
    const root = tempRoot();
    const store = new ContainerStore(root);
    const r = store.create(record(A, "/web"));
    r.ExecIDs = ["e".repeat(64)];
    store.save(r);
    assert.deepEqual(store.get(A)!.ExecIDs, ["e".repeat(64)]);
    assert.ok(!readFileSync(store.paths(A).config, "utf8").includes("ExecIDs"));
    const fresh = new ContainerStore(root);
    fresh.load();
    assert.deepEqual(fresh.get(A)!.ExecIDs, []);
  });

  it("list is newest first; remove deletes the directory and everything in it", async () => {
    const root = tempRoot();
    const store = new ContainerStore(root);
    store.create(record(A, "/one"));
    store.create(record(B, "/two"));
    assert.deepEqual(store.list().map((r) => r.ID), [B, A]);
    const p = store.paths(A);
    writeFileSync(p.log, '{"log":"x"}\n');
    writeFileSync(p.hosts, "127.0.0.1 localhost\n");
    store.remove(A);
    assert.ok(!existsSync(p.dir));
    assert.equal(store.get(A), undefined);
    assert.equal(store.find("one"), undefined);
    assert.deepEqual(store.list().map((r) => r.ID), [B]);
    store.remove(A); // twice: no error
    // The directory went to the trash beside the store at once, and is deleted there in the background.
    await Trash.beside(root).drained();
    assert.deepEqual(readdirSync(join(root, "..", "trash")), []);
  });

  it("load skips and reports corrupt records, keeps the good ones", () => {
    const root = tempRoot();
    const store = new ContainerStore(root);
    store.create(record(A, "/good"));
    store.create(record(B, "/truncated"));
    store.create(record(C, "/wrong-id"));
    writeFileSync(store.paths(B).config, '{"ID": "aaaa2222');
    writeFileSync(store.paths(C).config, JSON.stringify({ ...record(A, "/x"), HostConfig: undefined }));
    mkdirSync(join(root, "not-a-container"));
    mkdirSync(join(root, "d".repeat(64))); // no config at all
    const fresh = new ContainerStore(root);
    const report = fresh.load();
    assert.equal(report.loaded, 1);
    assert.deepEqual(report.skipped.map((s) => s.id).sort(), [B, C, "d".repeat(64)].sort());
    for (const s of report.skipped) assert.ok(s.error.length > 0);
    assert.equal(fresh.resolve("good").ID, A);
    assert.ok(existsSync(fresh.paths(B).dir), "a corrupt record is left on disk for inspection");
  });

  it("a missing hostconfig.json reads as an empty HostConfig", () => {
    const root = tempRoot();
    const store = new ContainerStore(root);
    store.create(record(A, "/web"));
    rmSync(store.paths(A).hostConfig);
    const fresh = new ContainerStore(root);
    fresh.load();
    assert.deepEqual(fresh.get(A)!.HostConfig, {});
  });
});

describe("container state", () => {
  it("status as Docker computes it", () => {
    const s = initialState();
    assert.equal(s.StartedAt, ZERO_TIME);
    assert.equal(statusOf(s), "created");
    assert.equal(statusOf({ ...s, Running: true, StartedAt: "2026-01-01T00:00:00Z" }), "running");
    assert.equal(statusOf({ ...s, Running: true, Paused: true }), "paused");
    assert.equal(statusOf({ ...s, Running: true, Restarting: true }), "restarting");
    assert.equal(statusOf({ ...s, StartedAt: "2026-01-01T00:00:00Z" }), "exited");
    assert.equal(statusOf({ ...s, Dead: true, StartedAt: "2026-01-01T00:00:00Z" }), "dead");
    assert.equal(statusOf({ ...s, StartedAt: "2026-01-01T00:00:00Z" }, true), "removing");
  });
});

describe("mount points", () => {
  it("inspect's view and the record's map", () => {
    const vol: MountPointRecord = {
      Type: "volume",
      Source: "/var/lib/hako/volumes/data/_data",
      Destination: "/data",
      RW: true,
      Name: "data",
      Driver: "local",
      Mode: "z",
      Propagation: "",
      CopyData: true,
    };
    const bind: MountPointRecord = { Type: "bind", Source: "/srv", Destination: "/srv", RW: false, Mode: "ro", Propagation: "rprivate" };
    assert.deepEqual(mountPointView(vol), {
      Type: "volume",
      Name: "data",
      Source: "/var/lib/hako/volumes/data/_data",
      Destination: "/data",
      Driver: "local",
      Mode: "z",
      RW: true,
      Propagation: "",
    });
    assert.deepEqual(mountPointView(bind), { Type: "bind", Source: "/srv", Destination: "/srv", Mode: "ro", RW: false, Propagation: "rprivate" });
    assert.deepEqual(Object.keys(mountPointsByDestination([vol, bind])), ["/data", "/srv"]);
  });
});
