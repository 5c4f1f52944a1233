/**
 * The local volume driver on a temp root (no root needed): the Volume shape
 * Docker answers, names and options checked with Docker's messages, list
 * filters, in-use refusal, prune's rule (anonymous only unless all=true),
 * persistence across instances and the copy-up bookkeeping.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HakoError } from "../../src/common/errors.ts";
import { ANONYMOUS_LABEL, VolumeStore } from "../../src/engine/volumes.ts";
import { tempDirs } from "../helpers/temp.ts";

const tempDir = tempDirs();

function tempRoot(): string {
  const d = tempDir("hako-volumes-");
  return join(d, "volumes");
}

function error(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    assert.ok(HakoError.is(err), String(err));
    return { code: err.code, message: err.message };
  }
  assert.fail("did not throw");
}

describe("local volumes", () => {
  it("create: Docker's Volume shape, the directory and its metadata", () => {
    const root = tempRoot();
    const store = new VolumeStore(root);
    const v = store.create("data", { labels: { app: "web" } });
    assert.deepEqual(Object.keys(v).sort(), ["CreatedAt", "Driver", "Labels", "Mountpoint", "Name", "Options", "Scope"]);
    assert.equal(v.Name, "data");
    assert.equal(v.Driver, "local");
    assert.equal(v.Scope, "local");
    assert.equal(v.Mountpoint, join(root, "data", "_data"));
    assert.deepEqual(v.Labels, { app: "web" });
    assert.equal(v.Options, null);
    assert.match(v.CreatedAt!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.ok(statSync(v.Mountpoint).isDirectory());
    assert.equal(statSync(v.Mountpoint).mode & 0o777, 0o755);
    const meta = JSON.parse(readFileSync(join(root, "data", "opts.json"), "utf8"));
    assert.deepEqual(meta.Labels, { app: "web" });
    assert.deepEqual(store.get("data"), v);
  });

  it("create without a name: a 64-hex anonymous volume", () => {
    const store = new VolumeStore(tempRoot());
    const v = store.create();
    assert.match(v.Name, /^[0-9a-f]{64}$/);
    assert.deepEqual(v.Labels, { [ANONYMOUS_LABEL]: "" });
    const marked = store.create("named-anon", { anonymous: true });
    assert.ok(ANONYMOUS_LABEL in marked.Labels);
  });

  it("creating an existing name returns it", () => {
    const store = new VolumeStore(tempRoot());
    const first = store.create("data");
    writeFileSync(join(first.Mountpoint, "keep"), "x");
    const second = store.create("data", { labels: { ignored: "1" } });
    assert.deepEqual(second, first);
    assert.ok(existsSync(join(first.Mountpoint, "keep")));
  });

  it("names and options are checked with Docker's messages", () => {
    const store = new VolumeStore(tempRoot());
    assert.deepEqual(error(() => store.create("a")), {
      code: "ERR_INVALID_ARGUMENT",
      message: "create a: volume name is too short, names should be at least two alphanumeric characters",
    });
    assert.deepEqual(error(() => store.create("/abs")), {
      code: "ERR_INVALID_ARGUMENT",
      message: `create /abs: "/abs" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
    });
    assert.equal(error(() => store.create("../escape")).code, "ERR_INVALID_ARGUMENT");
    assert.deepEqual(error(() => store.create("v1", { driverOpts: { foo: "bar" } })), { code: "ERR_INVALID_ARGUMENT", message: 'create v1: invalid option: "foo"' });
    assert.deepEqual(error(() => store.create("v1", { driverOpts: { o: "size=10m" } })), { code: "ERR_INVALID_ARGUMENT", message: 'create v1: missing required option: "device"' });
    assert.deepEqual(error(() => store.create("v1", { driverOpts: { size: "10m" } })), { code: "ERR_INVALID_ARGUMENT", message: "create v1: quota size requested but no quota support" });
    const tmpfs = error(() => store.create("v1", { driverOpts: { type: "tmpfs", device: "tmpfs", o: "size=10m" } }));
    assert.equal(tmpfs.code, "ERR_NOT_IMPLEMENTED");
    assert.match(tmpfs.message, /type=tmpfs device=tmpfs o=size=10m/);
    assert.deepEqual(error(() => store.create("v1", { driver: "nfs-plugin" })), { code: "ERR_NOT_FOUND", message: 'error looking up volume plugin nfs-plugin: plugin "nfs-plugin" not found' });
    assert.equal(store.has("v1"), false);
    assert.ok(!existsSync(join(store.root, "v1")), "nothing left behind by a refused create");
  });

  it("a bind volume (type=none o=bind device=/dir) stands for its directory; others are not supported yet", () => {
    const store = new VolumeStore(tempRoot());
    const device = join(tempRoot(), "device");
    mkdirSync(device, { recursive: true });
    writeFileSync(join(device, "kept.txt"), "host\n");
    const v = store.create("bound", { driverOpts: { type: "none", o: "bind", device } });
    assert.deepEqual(v.Options, { type: "none", o: "bind", device });
    assert.equal(readFileSync(join(store.path("bound"), "kept.txt"), "utf8"), "host\n", "the data path reaches the directory");
    assert.equal(store.needsCopyUp("bound"), false, "it has content: nothing is copied over it");
    store.remove("bound");
    assert.equal(readFileSync(join(device, "kept.txt"), "utf8"), "host\n", "removing the volume leaves the directory's files");
    assert.equal(error(() => store.create("rel", { driverOpts: { type: "none", o: "bind", device: "relative/dir" } })).code, "ERR_INVALID_ARGUMENT");
    assert.equal(error(() => store.create("ro", { driverOpts: { type: "none", o: "bind,ro", device } })).code, "ERR_NOT_IMPLEMENTED");
  });

  it("ensure creates once and answers the data path", () => {
    const store = new VolumeStore(tempRoot());
    const p = store.ensure("cache");
    assert.equal(p, join(store.root, "cache", "_data"));
    assert.ok(existsSync(p));
    const created = store.get("cache").CreatedAt;
    assert.equal(store.ensure("cache"), p);
    assert.equal(store.get("cache").CreatedAt, created);
    store.ensure("anon-like", { anonymous: true });
    assert.ok(ANONYMOUS_LABEL in store.get("anon-like").Labels);
  });

  it("get of a missing volume", () => {
    const store = new VolumeStore(tempRoot());
    assert.deepEqual(error(() => store.get("nope")), { code: "ERR_NOT_FOUND", message: "get nope: no such volume" });
  });

  it("list with filters: name (regexp), label, driver, dangling", () => {
    const used = new Set(["web-data"]);
    const store = new VolumeStore(tempRoot(), { usage: (n) => (used.has(n) ? ["c".repeat(64)] : []) });
    store.create("web-data", { labels: { app: "web", tier: "front" } });
    store.create("web-logs", { labels: { app: "web" } });
    store.create("db-data", { labels: { app: "db" } });
    const names = (f: Record<string, string[]> = {}) => store.list(f).map((v) => v.Name);
    assert.deepEqual(names(), ["db-data", "web-data", "web-logs"]);
    assert.deepEqual(names({ name: ["web"] }), ["web-data", "web-logs"]);
    assert.deepEqual(names({ name: ["^db"] }), ["db-data"]);
    assert.deepEqual(names({ name: ["data$", "logs$"] }), ["db-data", "web-data", "web-logs"]);
    assert.deepEqual(names({ label: ["app=web"] }), ["web-data", "web-logs"]);
    assert.deepEqual(names({ label: ["app=web", "tier"] }), ["web-data"]);
    assert.deepEqual(names({ label: ["tier=back"] }), []);
    assert.deepEqual(names({ driver: ["local"] }).length, 3);
    assert.deepEqual(names({ driver: ["other"] }), []);
    assert.deepEqual(names({ dangling: ["true"] }), ["db-data", "web-logs"]);
    assert.deepEqual(names({ dangling: ["false"] }), ["web-data"]);
    assert.deepEqual(error(() => store.list({ color: ["red"] })), { code: "ERR_INVALID_ARGUMENT", message: "invalid filter 'color'" });
    assert.equal(error(() => store.list({ dangling: ["maybe"] })).code, "ERR_INVALID_ARGUMENT");
  });

  it("remove: in use is refused (even with force), missing is an error unless forced", () => {
    const users: Record<string, string[]> = { busy: ["a".repeat(64), "b".repeat(64)] };
    const store = new VolumeStore(tempRoot(), { usage: (n) => users[n] ?? [] });
    store.create("busy");
    store.create("idle");
    writeFileSync(join(store.path("idle"), "f"), "x");
    assert.deepEqual(error(() => store.remove("busy")), {
      code: "ERR_CONFLICT",
      message: `remove busy: volume is in use - [${"a".repeat(64)}, ${"b".repeat(64)}]`,
    });
    assert.equal(error(() => store.remove("busy", { force: true })).code, "ERR_CONFLICT");
    store.remove("idle");
    assert.ok(!existsSync(join(store.root, "idle")));
    assert.equal(store.has("idle"), false);
    assert.deepEqual(error(() => store.remove("idle")), { code: "ERR_NOT_FOUND", message: "get idle: no such volume" });
    store.remove("idle", { force: true });
    users.busy = [];
    store.remove("busy");
    assert.deepEqual(store.list(), []);
  });

  it("prune: unused anonymous volumes by default, all=true for named ones too, label filters", () => {
    const used = new Set<string>();
    const store = new VolumeStore(tempRoot(), { usage: (n) => (used.has(n) ? ["x".repeat(64)] : []) });
    const anon1 = store.create().Name;
    const anon2 = store.create(undefined, { labels: { keep: "yes" } }).Name;
    const anonUsed = store.create().Name;
    used.add(anonUsed);
    store.create("named");
    writeFileSync(join(store.path(anon1), "blob"), Buffer.alloc(4096));
    mkdirSync(join(store.path(anon1), "sub"));
    writeFileSync(join(store.path(anon1), "sub", "more"), Buffer.alloc(100));

    const first = store.prune({ "label!": ["keep=yes"] });
    assert.deepEqual(first.VolumesDeleted, [anon1]);
    assert.equal(first.SpaceReclaimed, 4196);
    const second = store.prune({});
    assert.deepEqual(second.VolumesDeleted, [anon2]);
    assert.ok(store.has("named"));
    assert.ok(store.has(anonUsed));
    const all = store.prune({ all: ["true"] });
    assert.deepEqual(all.VolumesDeleted, ["named"]);
    assert.deepEqual(store.list().map((v) => v.Name), [anonUsed]);
    assert.equal(error(() => store.prune({ dangling: ["true"] })).code, "ERR_INVALID_ARGUMENT");
    assert.equal(error(() => store.prune({ all: ["maybe"] })).code, "ERR_INVALID_ARGUMENT");
  });

  it("a new instance finds the volumes with their labels; stray directories are ignored", () => {
    const root = tempRoot();
    const store = new VolumeStore(root);
    const v = store.create("kept", { labels: { a: "b" } });
    mkdirSync(join(root, "bare", "_data"), { recursive: true }); // a volume without metadata (crash between writes)
    mkdirSync(join(root, "junk")); // not a volume
    writeFileSync(join(root, "file"), "");
    const again = new VolumeStore(root);
    assert.deepEqual(again.get("kept"), v);
    assert.equal(again.get("bare").Name, "bare");
    assert.equal(again.has("junk"), false);
    assert.deepEqual(again.list().map((x) => x.Name), ["bare", "kept"]);
  });

  it("copy-up: wanted once, for an empty volume, and remembered", () => {
    const root = tempRoot();
    const store = new VolumeStore(root);
    store.create("fresh");
    store.create("filled");
    writeFileSync(join(store.path("filled"), "mine"), "x");
    assert.equal(store.needsCopyUp("fresh"), true);
    assert.equal(store.needsCopyUp("filled"), false, "Docker copies only into an empty volume");
    assert.equal(store.needsCopyUp("missing"), false);
    // The engine copies the image's files in, then marks it.
    writeFileSync(join(store.path("fresh"), "from-image"), "y");
    store.markInitialized("fresh");
    rmSync(join(store.path("fresh"), "from-image"));
    assert.equal(store.needsCopyUp("fresh"), false, "emptied later, still not copied again");
    assert.equal(new VolumeStore(root).needsCopyUp("fresh"), false, "persisted");
    assert.equal(error(() => store.markInitialized("missing")).code, "ERR_NOT_FOUND");
    assert.equal(store.size("filled"), 1);
  });
});
