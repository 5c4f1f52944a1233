/**
 * specgen: the Docker create body → the OCI config Docker hands runc.
 * The result is checked against dockerLikeSpec (the config the runtime
 * tests use as "what Docker writes") and case by case against moby's rules.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { HakoError, NotFoundError } from "../../src/common/errors.ts";
import { CAPABILITIES, DOCKER_DEFAULT_CAPABILITIES } from "../../src/runtime/capabilities.ts";
import { DOCKER_DEFAULT_PROFILE, resolveDockerDefault } from "../../src/runtime/seccomp-default.ts";
import { DEFAULT_PATH_ENV, DOCKER_MASKED_PATHS, DOCKER_READONLY_PATHS, dockerDefaultMounts } from "../../src/runtime/spec-defaults.ts";
import type { ContainerConfig, HostConfig } from "../../src/spec/docker-api.ts";
import type { ImageRuntimeConfig } from "../../src/spec/oci-image.ts";
import type { Mount, Spec } from "../../src/spec/oci-runtime.ts";
import {
  DOCKER_DEVICE_RULES,
  INIT_PATH_IN_CONTAINER,
  adaptHostConfig,
  verifyContainerSettings,
  dockerSpec,
  generateSpec,
  mergeImageConfig,
  mergeTmpfsOptions,
  parseBind,
  resolveInRoot,
  resolveSeccompProfile,
  resolveUser,
  tweakCapabilities,
  type DockerSeccompProfileJson,
  type SpecInput,
  type SysInfo,
} from "../../src/engine/specgen.ts";
import type { VolumeRequest } from "../../src/engine/types.ts";
import { dockerLikeSpec } from "../helpers/bundle.ts";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(prefix = "hako-specgen-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** A rootfs with just /etc/passwd and /etc/group. */
function makeRootfs(): string {
  const root = tempDir("hako-rootfs-");
  mkdirSync(join(root, "etc"));
  writeFileSync(
    join(root, "etc/passwd"),
    [
      "root:x:0:0:root:/root:/bin/sh",
      "# a comment",
      "",
      "daemon:x:1:1:daemon:/usr/sbin:/bin/false",
      "app:x:1000:1000:app:/home/app:/bin/sh",
      "nobody:x:65534:65534:nobody:/nonexistent:/bin/false",
    ].join("\n"),
  );
  writeFileSync(
    join(root, "etc/group"),
    ["root:x:0:", "daemon:x:1:", "wheel:x:10:root", "app:x:1000:", "extra:x:2000:app,nobody", "nogroup:x:65534:"].join("\n"),
  );
  return root;
}

const ROOTFS = makeRootfs();
const SYSINFO_V1: SysInfo = { cgroupVersion: 1, swapLimit: true, cpus: "0-3", mems: "0", numCPU: 4 };
const SYSINFO_V2: SysInfo = { ...SYSINFO_V1, cgroupVersion: 2 };
const HOST_CAPS = CAPABILITIES.filter((c) => c !== "CAP_SYS_RESOURCE");
const ID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

interface Calls {
  volumes: { name: string; request?: VolumeRequest }[];
}

function input(over: Partial<SpecInput> & { config?: ContainerConfig; hostConfig?: HostConfig; imageConfig?: ImageRuntimeConfig } = {}, calls?: Calls): SpecInput {
  const { imageConfig, ...rest } = over;
  return {
    id: ID,
    name: "/test",
    config: { Cmd: ["sh"] },
    hostConfig: {},
    image: { config: imageConfig ?? { Env: [DEFAULT_PATH_ENV] } },
    rootfs: ROOTFS,
    paths: { hosts: "", hostname: "", resolvConf: "" },
    volumes: (name: string, request?: VolumeRequest) => {
      calls?.volumes.push({ name, request });
      return `/var/lib/hako/volumes/${name}/_data`;
    },
    cgroupsPath: `/hako/${ID}`,
    hostCapabilities: HOST_CAPS,
    sysInfo: SYSINFO_V1,
    arch: "amd64",
    kernel: "6.8.0-45-generic",
    defaultSysctls: false,
    ...rest,
  };
}

function spec(over: Parameters<typeof input>[0] = {}, calls?: Calls): Spec {
  return dockerSpec(input(over, calls));
}

function mountAt(s: Spec, dest: string): Mount | undefined {
  return s.mounts?.find((m) => m.destination === dest);
}

function throwsWith(fn: () => unknown, message: string | RegExp, code?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(HakoError.is(err), `not a HakoError: ${String(err)}`);
    if (typeof message === "string") assert.equal(err.message, message);
    else assert.match(err.message, message);
    if (code) assert.equal(err.code, code);
    return true;
  });
}

describe("the default container equals dockerLikeSpec", () => {
  it("matches in capabilities, env, mounts, devices, namespaces, seccomp, masked and read-only paths", () => {
    const s = dockerSpec(
      input({
        id: "test",
        config: { Cmd: ["sh", "-c", "true"] },
        cgroupsPath: "/hako-test/test",
        sysInfo: SYSINFO_V2, // Docker unshares the cgroup namespace on v2; dockerLikeSpec has one
      }),
    );
    const want = dockerLikeSpec(["sh", "-c", "true"], "test");
    assert.deepEqual(s.process!.capabilities, want.process!.capabilities);
    // HOME is runc's, set in the process when the environment has none: hakod puts it in the spec.
    assert.deepEqual(s.process!.env, [...want.process!.env!, "HOME=/root"]);
    assert.deepEqual(s.process!.args, want.process!.args);
    assert.equal(s.process!.cwd, want.process!.cwd);
    assert.equal(s.process!.terminal, want.process!.terminal);
    assert.equal(s.process!.oomScoreAdj, want.process!.oomScoreAdj);
    assert.equal(s.process!.user.uid, 0);
    assert.equal(s.process!.user.gid, 0);
    // Docker's getUser: the primary group first, then root's supplementary groups (wheel here).
    assert.deepEqual(s.process!.user.additionalGids, [0, 10]);
    assert.equal(s.process!.noNewPrivileges, undefined);
    assert.equal(s.hostname, want.hostname);
    assert.equal(s.root!.readonly, false);
    assert.deepEqual(s.mounts, want.mounts);
    assert.deepEqual(s.linux!.resources, want.linux!.resources);
    assert.equal(s.linux!.cgroupsPath, want.linux!.cgroupsPath);
    assert.deepEqual(s.linux!.namespaces, want.linux!.namespaces);
    assert.deepEqual(s.linux!.seccomp, want.linux!.seccomp);
    assert.deepEqual(s.linux!.maskedPaths, want.linux!.maskedPaths);
    assert.deepEqual(s.linux!.readonlyPaths, want.linux!.readonlyPaths);
    assert.equal(s.linux!.devices, undefined);
  });

  it("on cgroup v1 Docker stays in the host's cgroup namespace", () => {
    const s = spec();
    assert.deepEqual(
      s.linux!.namespaces!.map((n) => n.type),
      ["pid", "network", "ipc", "uts", "mount"],
    );
    assert.equal(adaptHostConfig({}, { cgroupVersion: 1 }).CgroupnsMode, "host");
    assert.equal(adaptHostConfig({}, { cgroupVersion: 2 }).CgroupnsMode, "private");
    assert.equal(adaptHostConfig({ Privileged: true }, { cgroupVersion: 2 }).CgroupnsMode, "private");
    assert.deepEqual(
      spec({ hostConfig: { CgroupnsMode: "private" } }).linux!.namespaces!.map((n) => n.type),
      ["pid", "network", "ipc", "uts", "mount", "cgroup"],
    );
  });

  it("the runtime is hako's own; another name is refused as dockerd refuses one it does not know", () => {
    assert.equal(adaptHostConfig({}, { cgroupVersion: 1 }).Runtime, "hako");
    assert.throws(() => verifyContainerSettings({}, { Runtime: "runc" }), /^InvalidArgumentError: Unknown runtime specified runc$|Unknown runtime specified runc/);
    assert.deepEqual(verifyContainerSettings({}, { Runtime: "hako" }), []);
  });

  it("a container without a log driver gets the daemon's (json-file), its options kept", () => {
    assert.deepEqual(adaptHostConfig({}, { cgroupVersion: 1 }).LogConfig, { Type: "json-file", Config: {} });
    assert.deepEqual(adaptHostConfig({ LogConfig: { Type: "", Config: { "max-size": "1m" } } }, { cgroupVersion: 1 }).LogConfig, { Type: "json-file", Config: { "max-size": "1m" } });
    assert.deepEqual(adaptHostConfig({ LogConfig: { Type: "json-file", Config: {} } }, { cgroupVersion: 1 }).LogConfig, { Type: "json-file", Config: {} });
  });

  it("hostname is the short ID; root.path is the rootfs", () => {
    const s = spec();
    assert.equal(s.hostname, ID.slice(0, 12));
    assert.ok(s.process!.env!.includes(`HOSTNAME=${ID.slice(0, 12)}`));
    assert.equal(s.root!.path, ROOTFS);
    assert.equal(s.linux!.cgroupsPath, `/hako/${ID}`);
    const named = spec({ config: { Cmd: ["sh"], Hostname: "web", Domainname: "example.org" } });
    assert.equal(named.hostname, "web");
    assert.equal(named.domainname, "example.org");
  });
});

describe("entrypoint and command", () => {
  const img: ImageRuntimeConfig = { Entrypoint: ["/entry", "-x"], Cmd: ["default"] };
  const args = (config: ContainerConfig, imageConfig: ImageRuntimeConfig = img) => spec({ config, imageConfig }).process!.args;

  it("merges as Docker does", () => {
    assert.deepEqual(args({}), ["/entry", "-x", "default"]);
    assert.deepEqual(args({ Cmd: ["mine"] }), ["/entry", "-x", "mine"]);
    assert.deepEqual(args({ Entrypoint: ["/other"] }), ["/other"], "a new entrypoint drops the image's command");
    assert.deepEqual(args({ Entrypoint: ["/other"], Cmd: ["a", "b"] }), ["/other", "a", "b"]);
    assert.deepEqual(args({ Entrypoint: [""], Cmd: ["sh", "-c", "x"] }), ["sh", "-c", "x"], '--entrypoint "" clears the image\'s');
    assert.deepEqual(args({ Cmd: ["ls"] }, { Cmd: ["sh"] }), ["ls"]);
    assert.deepEqual(args({}, { Cmd: ["sh"] }), ["sh"]);
  });

  it('"No command specified" when nothing is left to run', () => {
    throwsWith(() => args({}, {}), "No command specified", "ERR_INVALID_ARGUMENT");
    // --entrypoint "" keeps the image's CMD out too (Docker takes the image's CMD only when no entrypoint is given).
    throwsWith(() => args({ Entrypoint: [""] }, { Entrypoint: ["/e"], Cmd: ["c"] }), "No command specified");
  });

  it("Volumes: the docker CLI's empty map gives way to the image's, null when it has none (moby's merge)", () => {
    assert.equal(mergeImageConfig({ Cmd: ["sh"], Volumes: {} }, {}, { id: ID }).Volumes, null);
    assert.deepEqual(mergeImageConfig({ Cmd: ["sh"], Volumes: {} }, { Volumes: { "/data": {} } }, { id: ID }).Volumes, { "/data": {} });
    assert.deepEqual(mergeImageConfig({ Cmd: ["sh"], Volumes: { "/x": {} } }, { Volumes: { "/data": {} } }, { id: ID }).Volumes, { "/x": {}, "/data": {} });
  });

  it("a stored (merged) config is not merged again", () => {
    const merged = mergeImageConfig({ Entrypoint: [""], Cmd: ["sh"] }, img, { id: ID });
    assert.equal(merged.Entrypoint, null);
    assert.equal(merged.Hostname, ID.slice(0, 12));
    const s = dockerSpec({ ...input({ imageConfig: img }), config: merged, merged: true });
    assert.deepEqual(s.process!.args, ["sh"]);
  });

  it("--init runs the command under hako-init in a PID namespace of its own", () => {
    const s = spec({ hostConfig: { Init: true }, initBinary: "/usr/libexec/hako-init" });
    assert.deepEqual(s.process!.args, [INIT_PATH_IN_CONTAINER, "--", "sh"]);
    assert.deepEqual(mountAt(s, INIT_PATH_IN_CONTAINER), {
      destination: INIT_PATH_IN_CONTAINER,
      type: "bind",
      source: "/usr/libexec/hako-init",
      options: ["bind", "ro"],
    });
    const hostPid = spec({ hostConfig: { Init: true, PidMode: "host" }, initBinary: "/x" });
    assert.deepEqual(hostPid.process!.args, ["sh"]);
    throwsWith(() => spec({ hostConfig: { Init: true } }), /hako-init/, "ERR_FAILED_PRECONDITION");
  });
});

describe("environment, working directory, terminal", () => {
  it("image and create Env merge per key, create wins; PATH kept in place; HOSTNAME added", () => {
    const s = spec({
      config: { Cmd: ["sh"], Env: ["B=3", "C=4"] },
      imageConfig: { Env: ["PATH=/custom/bin", "A=1", "B=2"] },
    });
    assert.deepEqual(s.process!.env, ["PATH=/custom/bin", `HOSTNAME=${ID.slice(0, 12)}`, "B=3", "C=4", "A=1", "HOME=/root"]);
  });

  it("default PATH when neither sets one; TERM=xterm with a tty; HOSTNAME can be overridden", () => {
    const s = spec({ config: { Cmd: ["sh"], Tty: true, Env: ["HOSTNAME=mine"] }, imageConfig: {} });
    assert.deepEqual(s.process!.env, [DEFAULT_PATH_ENV, "HOSTNAME=mine", "TERM=xterm", "HOME=/root"]);
    assert.equal(s.process!.terminal, true);
  });

  it("console size only with a tty", () => {
    assert.deepEqual(spec({ config: { Cmd: ["sh"], Tty: true }, hostConfig: { ConsoleSize: [40, 120] } }).process!.consoleSize, { height: 40, width: 120 });
    assert.equal(spec({ hostConfig: { ConsoleSize: [40, 120] } }).process!.consoleSize, undefined);
  });

  it("cwd from create, else the image, else /; the engine is told which directory to create", () => {
    assert.equal(spec().process!.cwd, "/");
    assert.equal(spec({ imageConfig: { Cmd: ["sh"], WorkingDir: "/srv" } }).process!.cwd, "/srv");
    const r = generateSpec(input({ config: { Cmd: ["sh"], WorkingDir: "/app/" }, imageConfig: { WorkingDir: "/srv" } }));
    assert.equal(r.spec.process!.cwd, "/app");
    assert.equal(r.workingDir, "/app");
    assert.equal(generateSpec(input()).workingDir, undefined);
    throwsWith(() => spec({ config: { Cmd: ["sh"], WorkingDir: "rel" } }), "the working directory 'rel' is invalid, it needs to be an absolute path");
  });

  it("rejects an empty variable name", () => {
    throwsWith(() => spec({ config: { Cmd: ["sh"], Env: ["=x"] } }), "invalid environment variable: =x");
  });
});

describe("users", () => {
  it("numeric and named users, groups, supplementary groups", () => {
    assert.deepEqual(resolveUser("", ROOTFS), { uid: 0, gid: 0, additionalGids: [0, 10], home: "/root" });
    assert.deepEqual(resolveUser("nobody", ROOTFS), { uid: 65534, gid: 65534, additionalGids: [65534, 2000], home: "/nonexistent" });
    assert.deepEqual(resolveUser("app", ROOTFS), { uid: 1000, gid: 1000, additionalGids: [1000, 2000], home: "/home/app" });
    assert.deepEqual(resolveUser("1000", ROOTFS), { uid: 1000, gid: 1000, additionalGids: [1000, 2000], home: "/home/app" });
    assert.deepEqual(resolveUser("4321", ROOTFS), { uid: 4321, gid: 0, additionalGids: [0], home: "/" });
    assert.deepEqual(resolveUser("4321:4322", ROOTFS), { uid: 4321, gid: 4322, additionalGids: [4322], home: "/" });
    assert.deepEqual(resolveUser("app:nogroup", ROOTFS), { uid: 1000, gid: 65534, additionalGids: [65534], home: "/home/app" });
    assert.deepEqual(resolveUser("app:0", ROOTFS), { uid: 1000, gid: 0, additionalGids: [0], home: "/home/app" });
    assert.deepEqual(resolveUser("app", ROOTFS, ["wheel", "4242", "2000"]), { uid: 1000, gid: 1000, additionalGids: [1000, 2000, 10, 4242, 2000], home: "/home/app" });
  });

  it("Docker's errors for names that do not exist", () => {
    throwsWith(() => resolveUser("ghost", ROOTFS), "unable to find user ghost: no matching entries in passwd file");
    throwsWith(() => resolveUser("app:ghosts", ROOTFS), "unable to find group ghosts: no matching entries in group file");
    throwsWith(() => resolveUser("app", ROOTFS, ["ghosts"]), "Unable to find group ghosts: no matching entries in group file");
    const empty = tempDir();
    throwsWith(() => resolveUser("nobody", empty), "unable to find user nobody: no matching entries in passwd file");
    assert.deepEqual(resolveUser("7:8", empty), { uid: 7, gid: 8, additionalGids: [8], home: "/" });
    assert.deepEqual(resolveUser("", empty), { uid: 0, gid: 0, additionalGids: [0], home: "/" });
  });

  it("the spec's user comes from Config.User, else the image's", () => {
    assert.deepEqual(spec({ imageConfig: { Cmd: ["sh"], User: "app" } }).process!.user, { uid: 1000, gid: 1000, additionalGids: [1000, 2000] });
    assert.deepEqual(spec({ config: { Cmd: ["sh"], User: "nobody" }, imageConfig: { User: "app" } }).process!.user.uid, 65534);
    assert.deepEqual(spec({ hostConfig: { GroupAdd: ["daemon"] } }).process!.user.additionalGids, [0, 10, 1]);
    throwsWith(() => spec({ config: { Cmd: ["sh"], User: "ghost" } }), "unable to find user ghost: no matching entries in passwd file");
  });

  it("HOME is the user's home from passwd, / without an entry, unless the environment sets it (runc's setupUser)", () => {
    const env = (config: object) => spec({ config: { Cmd: ["sh"], ...config } }).process!.env!.filter((e) => e.startsWith("HOME="));
    assert.deepEqual(env({}), ["HOME=/root"]);
    assert.deepEqual(env({ User: "app" }), ["HOME=/home/app"]);
    assert.deepEqual(env({ User: "4321" }), ["HOME=/"]);
    assert.deepEqual(env({ User: "app", Env: ["HOME=/srv"] }), ["HOME=/srv"]);
  });

  it("/etc/passwd is read inside the rootfs even through absolute or escaping links", () => {
    const root = tempDir();
    mkdirSync(join(root, "etc"));
    mkdirSync(join(root, "real"));
    writeFileSync(join(root, "real/passwd"), "svc:x:321:654::/:/bin/sh\n");
    symlinkSync("/real/passwd", join(root, "etc/passwd"));
    writeFileSync(join(root, "real/group"), "svcgrp:x:654:\nteam:x:700:svc\n");
    symlinkSync("../../../../../../real/group", join(root, "etc/group"));
    assert.deepEqual(resolveUser("svc", root), { uid: 321, gid: 654, additionalGids: [654, 700], home: "/" });
    assert.equal(resolveInRoot(root, "/etc/group"), join(root, "real/group"));
    symlinkSync("/etc/loop", join(root, "etc/loop"));
    throwsWith(() => resolveInRoot(root, "/etc/loop"), /too many levels of symbolic links/);
    assert.equal(resolveInRoot(root, "/etc/passwd"), join(root, "real/passwd"));
    assert.equal(resolveInRoot(root, "/../../x"), join(root, "x"));
  });
});

describe("capabilities", () => {
  const defaults = [...DOCKER_DEFAULT_CAPABILITIES];

  it("add and drop, with or without CAP_, any case", () => {
    const caps = tweakCapabilities(["net_admin", "CAP_SYS_PTRACE"], ["chown", "CAP_KILL"], false, HOST_CAPS);
    assert.deepEqual(caps, [...defaults.filter((c) => c !== "CAP_CHOWN" && c !== "CAP_KILL"), "CAP_NET_ADMIN", "CAP_SYS_PTRACE"]);
    const s = spec({ hostConfig: { CapAdd: ["NET_ADMIN"], CapDrop: ["MKNOD"] } });
    const bounding = s.process!.capabilities!.bounding!;
    assert.ok(bounding.includes("CAP_NET_ADMIN"));
    assert.ok(!bounding.includes("CAP_MKNOD"));
    assert.deepEqual(s.process!.capabilities!.effective, bounding);
    assert.deepEqual(s.process!.capabilities!.permitted, bounding);
  });

  it("ALL", () => {
    assert.deepEqual(tweakCapabilities(["ALL"], [], false, HOST_CAPS), HOST_CAPS);
    assert.deepEqual(tweakCapabilities(["all"], ["NET_RAW"], false, HOST_CAPS), HOST_CAPS.filter((c) => c !== "CAP_NET_RAW"));
    assert.deepEqual(tweakCapabilities(["CHOWN"], ["ALL"], false, HOST_CAPS), ["CAP_CHOWN"]);
    assert.deepEqual(tweakCapabilities([], ["ALL"], false, HOST_CAPS), []);
  });

  it("privileged gets what the host has", () => {
    assert.deepEqual(spec({ hostConfig: { Privileged: true } }).process!.capabilities!.bounding, HOST_CAPS);
  });

  it("unknown and unavailable capabilities are refused with Docker's messages", () => {
    throwsWith(() => spec({ hostConfig: { CapAdd: ["FOO"] } }), 'invalid CapAdd: unknown capability: "CAP_FOO"');
    throwsWith(() => spec({ hostConfig: { CapDrop: ["cap_bar"] } }), 'invalid CapDrop: unknown capability: "CAP_BAR"');
    throwsWith(
      () => spec({ hostConfig: { CapAdd: ["SYS_RESOURCE"] } }),
      'capability not supported by your kernel or not available in the current environment: "CAP_SYS_RESOURCE"',
    );
  });
});

describe("seccomp", () => {
  it("Docker's default profile, resolved for the container's capabilities", () => {
    const s = spec({ hostConfig: { CapAdd: ["SYS_ADMIN"] } });
    const caps = s.process!.capabilities!.bounding!;
    assert.deepEqual(s.linux!.seccomp, resolveDockerDefault({ capabilities: caps, arch: "amd64", kernel: "6.8.0-45-generic" }));
    assert.ok(s.linux!.seccomp!.syscalls!.some((r) => r.names.includes("mount") && r.action === "SCMP_ACT_ALLOW"));
    assert.ok(!spec().linux!.seccomp!.syscalls!.some((r) => r.names.includes("mount") && r.action === "SCMP_ACT_ALLOW"));
    assert.deepEqual(spec({ hostConfig: { SecurityOpt: ["seccomp=builtin"] } }).linux!.seccomp, spec().linux!.seccomp);
  });

  it("none when unconfined or privileged", () => {
    assert.equal(spec({ hostConfig: { SecurityOpt: ["seccomp=unconfined"] } }).linux!.seccomp, undefined);
    assert.equal(spec({ hostConfig: { SecurityOpt: ["seccomp:unconfined"] } }).linux!.seccomp, undefined);
    assert.equal(spec({ hostConfig: { Privileged: true } }).linux!.seccomp, undefined);
  });

  const custom: DockerSeccompProfileJson = {
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: 1,
    archMap: [
      { architecture: "SCMP_ARCH_X86_64", subArchitectures: ["SCMP_ARCH_X86", "SCMP_ARCH_X32"] },
      { architecture: "SCMP_ARCH_AARCH64", subArchitectures: ["SCMP_ARCH_ARM"] },
    ],
    syscalls: [
      { names: ["read", "write", "exit_group"], action: "SCMP_ACT_ALLOW" },
      { name: "getpid", action: "SCMP_ACT_ALLOW" },
      { names: ["mount"], action: "SCMP_ACT_ALLOW", includes: { caps: ["CAP_SYS_ADMIN"] } },
      { names: ["arch_prctl"], action: "SCMP_ACT_ALLOW", includes: { arches: ["amd64"] } },
      { names: ["clone"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 2114060288, op: "SCMP_CMP_MASKED_EQ" }], excludes: { caps: ["CAP_SYS_ADMIN"] } },
      { names: ["newsys"], action: "SCMP_ACT_ALLOW", includes: { minKernel: "7.1" } },
    ],
  };

  it("a custom profile sent as JSON content, resolved like the default", () => {
    const s = spec({ hostConfig: { SecurityOpt: [`seccomp=${JSON.stringify(custom)}`] } });
    assert.deepEqual(s.linux!.seccomp, {
      defaultAction: "SCMP_ACT_ERRNO",
      defaultErrnoRet: 1,
      architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
      syscalls: [
        { names: ["read", "write", "exit_group"], action: "SCMP_ACT_ALLOW" },
        { names: ["getpid"], action: "SCMP_ACT_ALLOW" },
        { names: ["arch_prctl"], action: "SCMP_ACT_ALLOW" },
        { names: ["clone"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 2114060288, op: "SCMP_CMP_MASKED_EQ" }] },
      ],
    });
    const admin = resolveSeccompProfile(custom, { capabilities: ["CAP_SYS_ADMIN"], arch: "arm64", kernel: "7.2.0" })!;
    assert.deepEqual(admin.architectures, ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]);
    assert.deepEqual(
      admin.syscalls!.map((r) => r.names[0]),
      ["read", "getpid", "mount", "newsys"],
    );
  });

  it("a custom profile from a file path; bad profiles are refused", () => {
    const file = join(tempDir(), "profile.json");
    writeFileSync(file, JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["kill"], action: "SCMP_ACT_ERRNO" }] }));
    const s = spec({ hostConfig: { SecurityOpt: [`seccomp=${file}`] } });
    assert.deepEqual(s.linux!.seccomp, { defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["kill"], action: "SCMP_ACT_ERRNO" }] });
    throwsWith(() => spec({ hostConfig: { SecurityOpt: ["seccomp={not json"] } }), /^Decoding seccomp profile failed/);
    throwsWith(
      () => spec({ hostConfig: { SecurityOpt: [`seccomp=${JSON.stringify({ ...custom, architectures: ["SCMP_ARCH_X86_64"] })}`] } }),
      "both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'",
    );
    assert.equal(spec({ hostConfig: { SecurityOpt: ["seccomp={}"] } }).linux!.seccomp, undefined, "an empty profile means no filter");
  });

  it("the generic resolver gives what resolveDockerDefault gives for Docker's own profile", () => {
    const json: DockerSeccompProfileJson = {
      defaultAction: DOCKER_DEFAULT_PROFILE.defaultAction,
      defaultErrnoRet: DOCKER_DEFAULT_PROFILE.defaultErrnoRet,
      archMap: DOCKER_DEFAULT_PROFILE.archMap.map((a) => ({ architecture: a.architecture, subArchitectures: [...a.subArchitectures] })),
      syscalls: DOCKER_DEFAULT_PROFILE.rules.map((r) => JSON.parse(JSON.stringify(r))),
    };
    for (const [arch, kernel, caps] of [
      ["amd64", "6.8.0", [...DOCKER_DEFAULT_CAPABILITIES]],
      ["arm64", "4.4.0", [...DOCKER_DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN", "CAP_SYS_PTRACE"]],
      ["s390x", "5.15.0", [...CAPABILITIES]],
    ] as const) {
      assert.deepEqual(
        resolveSeccompProfile(json, { capabilities: caps, arch, kernel }),
        resolveDockerDefault({ capabilities: [...caps], arch, kernel }),
        `${arch} ${kernel}`,
      );
    }
  });

  it("no-new-privileges", () => {
    assert.equal(spec({ hostConfig: { SecurityOpt: ["no-new-privileges"] } }).process!.noNewPrivileges, true);
    assert.equal(spec({ hostConfig: { SecurityOpt: ["no-new-privileges:true"] } }).process!.noNewPrivileges, true);
    assert.equal(spec({ hostConfig: { SecurityOpt: ["no-new-privileges=false"] } }).process!.noNewPrivileges, undefined);
    throwsWith(() => spec({ hostConfig: { SecurityOpt: ["bogus"] } }), 'invalid --security-opt 1: "bogus"');
    throwsWith(() => spec({ hostConfig: { SecurityOpt: ["foo=bar"] } }), 'invalid --security-opt 2: "foo=bar"');
  });
});

describe("resources", () => {
  const res = (hostConfig: HostConfig, sysInfo = SYSINFO_V1) => spec({ hostConfig, sysInfo }).linux!.resources!;

  it("--cpus 0.5 → quota 50000 per 100000", () => {
    assert.deepEqual(res({ NanoCpus: 500_000_000 }).cpu, { period: 100000, quota: 50000 });
    assert.deepEqual(res({ NanoCpus: 1_500_000_000 }).cpu, { period: 100000, quota: 150000 });
  });

  it("shares, cfs period and quota, cpusets", () => {
    assert.deepEqual(res({ CpuShares: 512, CpuPeriod: 50000, CpuQuota: 25000, CpusetCpus: "0-1,3", CpusetMems: "0" }).cpu, {
      shares: 512,
      period: 50000,
      quota: 25000,
      cpus: "0-1,3",
      mems: "0",
    });
  });

  it("-m 64m: swap defaults to twice the memory; -1 is unlimited", () => {
    const m = 64 * 1024 * 1024;
    assert.deepEqual(res({ Memory: m }).memory, { limit: m, swap: 2 * m });
    assert.deepEqual(res({ Memory: m, MemorySwap: -1 }).memory, { limit: m, swap: -1 });
    assert.deepEqual(res({ Memory: m, MemorySwap: 3 * m, MemoryReservation: m / 2, MemorySwappiness: 10, OomKillDisable: true, KernelMemoryTCP: m }).memory, {
      limit: m,
      reservation: m / 2,
      swap: 3 * m,
      swappiness: 10,
      disableOOMKiller: true,
      kernelTCP: m,
    });
    assert.equal(res({}).memory, undefined);
    assert.equal(res({ MemorySwappiness: -1 }).memory, undefined, "-1 is the CLI's 'not set'");
  });

  it("without swap accounting the swap limit is dropped with Docker's warning", () => {
    const r = generateSpec(input({ hostConfig: { Memory: 64 << 20 }, sysInfo: { ...SYSINFO_V1, swapLimit: false } }));
    assert.deepEqual(r.spec.linux!.resources!.memory, { limit: 64 << 20, swap: -1 });
    assert.match(r.warnings[0]!, /does not support swap limit/);
  });

  it("pids: a positive limit, 0 or -1 unlimited, unset none", () => {
    assert.deepEqual(res({ PidsLimit: 100 }).pids, { limit: 100 });
    assert.deepEqual(res({ PidsLimit: 0 }).pids, { limit: -1 });
    assert.deepEqual(res({ PidsLimit: -1 }).pids, { limit: -1 });
    assert.equal(res({ PidsLimit: null }).pids, undefined);
  });

  it("blkio weight and throttles by device", () => {
    const r = res({ BlkioWeight: 300, BlkioDeviceReadBps: [{ Path: "/dev/null", Rate: 1048576 }], BlkioDeviceWriteIOps: [{ Path: "/dev/zero", Rate: 100 }] });
    assert.deepEqual(r.blockIO, {
      weight: 300,
      throttleReadBpsDevice: [{ major: 1, minor: 3, rate: 1048576 }],
      throttleWriteIOPSDevice: [{ major: 1, minor: 5, rate: 100 }],
    });
    throwsWith(() => res({ BlkioDeviceReadBps: [{ Path: "/dev/nope-nope", Rate: 1 }] }), "stat /dev/nope-nope: no such file or directory");
  });

  it("rlimits and the OOM score", () => {
    const s = spec({ hostConfig: { Ulimits: [{ Name: "nofile", Soft: 1024, Hard: 2048 }, { Name: "nproc", Soft: 10, Hard: 20 }], OomScoreAdj: 500 } });
    assert.deepEqual(s.process!.rlimits, [
      { type: "RLIMIT_NOFILE", soft: 1024, hard: 2048 },
      { type: "RLIMIT_NPROC", soft: 10, hard: 20 },
    ]);
    assert.equal(s.process!.oomScoreAdj, 500);
  });

  it("validates like Docker", () => {
    throwsWith(() => res({ Memory: 1024 * 1024 }), "Minimum memory limit allowed is 6MB");
    throwsWith(() => res({ MemoryReservation: 1024 }), "Minimum memory reservation allowed is 6MB");
    throwsWith(() => res({ Memory: 8 << 20, MemoryReservation: 16 << 20 }), "Minimum memory limit can not be less than memory reservation limit, see usage");
    throwsWith(() => res({ Memory: 16 << 20, MemorySwap: 8 << 20 }), "Minimum memoryswap limit should be larger than memory limit, see usage");
    throwsWith(() => res({ MemorySwap: 8 << 20 }), "You should always set the Memory limit when using Memoryswap limit, see usage");
    throwsWith(() => res({ MemorySwappiness: 101 }), "Invalid value: 101, valid memory swappiness range is 0-100");
    throwsWith(() => res({ NanoCpus: 1e9, CpuQuota: 50000 }), "Conflicting options: Nano CPUs and CPU Quota cannot both be set");
    throwsWith(() => res({ NanoCpus: 1e9, CpuPeriod: 50000 }), "Conflicting options: Nano CPUs and CPU Period cannot both be set");
    throwsWith(() => res({ NanoCpus: 5e9 }), "range of CPUs is from 0.01 to 4.00, as there are only 4 CPUs available");
    throwsWith(() => res({ CpuPeriod: 500 }), "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)");
    throwsWith(() => res({ CpuQuota: 500 }), "CPU cfs quota can not be less than 1ms (i.e. 1000)");
    throwsWith(() => res({ CpuShares: -2 }), "invalid CPU shares (-2): value must be a positive integer");
    throwsWith(() => res({ CpusetCpus: "0-9" }), "Requested CPUs are not available - requested 0-9, available: 0-3");
    throwsWith(() => res({ CpusetCpus: "1-0" }), "Invalid value 1-0 for cpuset cpus: invalid format: 1-0");
    throwsWith(() => res({ CpusetCpus: "a" }), "Invalid value a for cpuset cpus: invalid format: a");
    throwsWith(() => res({ CpusetMems: "1" }), "Requested memory nodes are not available - requested 1, available: 0");
    throwsWith(() => res({ BlkioWeight: 5 }), "Range of blkio weight is from 10 to 1000");
    throwsWith(() => res({ OomScoreAdj: 1001 }), "Invalid value 1001, range for oom score adj is [-1000, 1000]");
    throwsWith(() => res({ ShmSize: -1 }), "SHM size can not be less than 0");
    throwsWith(() => spec({ config: { Cmd: ["sh"], Hostname: "h".repeat(65) } }), /is too long \(maximum 64 bytes\)/);
    throwsWith(() => res({ RestartPolicy: { Name: "always" }, AutoRemove: true }), "can't create 'AutoRemove' container with restart policy");
    throwsWith(() => res({ RestartPolicy: { Name: "sometimes" as "no" } }), /^invalid restart policy: unknown policy 'sometimes'/);
  });
});

describe("mounts", () => {
  it("binds: ro/rw, propagation, a missing source is created", () => {
    const host = tempDir();
    const missing = join(host, "made/by/docker");
    const s = spec({ hostConfig: { Binds: [`${host}:/data:ro`, `${missing}:/out`, `${host}:/shared:rw,rshared`] } });
    assert.deepEqual(mountAt(s, "/data"), { destination: "/data", type: "bind", source: host, options: ["rbind", "ro", "rprivate"] });
    assert.deepEqual(mountAt(s, "/out"), { destination: "/out", type: "bind", source: missing, options: ["rbind", "rprivate"] });
    assert.deepEqual(mountAt(s, "/shared")!.options, ["rbind", "rshared"]);
    assert.ok(existsSync(missing));
  });

  it("named and anonymous volumes through the volume callback", () => {
    const calls: Calls = { volumes: [] };
    const r = generateSpec(input({ hostConfig: { Binds: ["cache:/cache", "/scratch", "ro-vol:/ro:ro,nocopy"] } }, calls));
    assert.deepEqual(mountAt(r.spec, "/cache"), { destination: "/cache", type: "bind", source: "/var/lib/hako/volumes/cache/_data", options: ["rbind"] });
    assert.deepEqual(mountAt(r.spec, "/ro")!.options, ["rbind", "ro"]);
    const anon = r.mountPoints.find((m) => m.Destination === "/scratch")!;
    assert.match(anon.Name!, /^[0-9a-f]{64}$/);
    assert.equal(anon.Anonymous, true);
    assert.deepEqual(calls.volumes.map((c) => c.name), ["cache", anon.Name, "ro-vol"]);
    assert.deepEqual(calls.volumes[1]!.request, { anonymous: true });
    const cache = r.mountPoints.find((m) => m.Destination === "/cache")!;
    assert.deepEqual(
      { Type: cache.Type, Name: cache.Name, Mode: cache.Mode, RW: cache.RW, CopyData: cache.CopyData, Propagation: cache.Propagation },
      { Type: "volume", Name: "cache", Mode: "z", RW: true, CopyData: true, Propagation: "" },
    );
    assert.equal(r.mountPoints.find((m) => m.Destination === "/ro")!.CopyData, false);
  });

  it("invalid binds fail with Docker's messages", () => {
    throwsWith(() => spec({ hostConfig: { Binds: ["x"] } }), `invalid volume specification: 'x': invalid mount config for type "volume": invalid mount path: 'x' mount path must be absolute`);
    throwsWith(() => spec({ hostConfig: { Binds: ["/a:/b:c:d"] } }), "invalid volume specification: '/a:/b:c:d'");
    throwsWith(() => spec({ hostConfig: { Binds: ["/a:/b:xx"] } }), "invalid mode: xx");
    throwsWith(() => spec({ hostConfig: { Binds: ["/a:rw"] } }), "invalid volume specification: '/a:rw'");
    throwsWith(() => spec({ hostConfig: { Binds: ["/a:/"] } }), /destination can't be '\/'/);
    const d = tempDir();
    throwsWith(() => spec({ hostConfig: { Binds: [`${d}:/x`, `${d}:/x/`] } }), "Duplicate mount point: /x");
    throwsWith(() => spec({ hostConfig: { Binds: [`${d}:/run`], Tmpfs: { "/run": "" } } }), "Duplicate mount point: /run");
    assert.deepEqual(parseBind("/h:/c:ro,Z"), { Type: "bind", Source: "/h", Destination: "/c", RW: false, Mode: "ro,Z", Propagation: "rprivate" });
  });

  it("HostConfig.Mounts: bind, volume, tmpfs", () => {
    const d = tempDir();
    const calls: Calls = { volumes: [] };
    const r = generateSpec(
      input(
        {
          hostConfig: {
            Mounts: [
              { Type: "bind", Source: d, Target: "/b", ReadOnly: true, BindOptions: { Propagation: "rslave" } },
              { Type: "bind", Source: d, Target: "/nr", BindOptions: { NonRecursive: true } },
              { Type: "volume", Source: "data", Target: "/v", VolumeOptions: { NoCopy: true, Labels: { a: "b" } } },
              { Type: "volume", Target: "/anon" },
              { Type: "tmpfs", Target: "/t", TmpfsOptions: { SizeBytes: 64 << 20, Mode: 0o1777 } },
            ],
          },
        },
        calls,
      ),
    );
    assert.deepEqual(mountAt(r.spec, "/b"), { destination: "/b", type: "bind", source: d, options: ["rbind", "ro", "rslave"] });
    assert.deepEqual(mountAt(r.spec, "/nr")!.options, ["bind", "rprivate"]);
    assert.deepEqual(mountAt(r.spec, "/v"), { destination: "/v", type: "bind", source: "/var/lib/hako/volumes/data/_data", options: ["rbind"] });
    assert.deepEqual(mountAt(r.spec, "/t"), { destination: "/t", type: "tmpfs", source: "tmpfs", options: ["noexec", "nosuid", "nodev", "rprivate", "mode=1777", "size=64m"] });
    assert.deepEqual(calls.volumes[0], { name: "data", request: { labels: { a: "b" } } });
    assert.equal(calls.volumes[1]!.request!.anonymous, true);
    assert.equal(r.mountPoints.find((m) => m.Destination === "/v")!.CopyData, false);
    assert.equal(r.mountPoints.find((m) => m.Destination === "/t")!.Type, "tmpfs");
  });

  it("HostConfig.Mounts are validated like Docker", () => {
    throwsWith(() => spec({ hostConfig: { Mounts: [{ Type: "bind", Source: "/x-does-not-exist", Target: "/x" }] } }), `invalid mount config for type "bind": bind source path does not exist: /x-does-not-exist`);
    throwsWith(() => spec({ hostConfig: { Mounts: [{ Type: "bind", Source: "rel", Target: "/x" }] } }), `invalid mount config for type "bind": invalid mount path: 'rel' mount path must be absolute`);
    throwsWith(() => spec({ hostConfig: { Mounts: [{ Type: "tmpfs", Source: "x", Target: "/x" }] } }), `invalid mount config for type "tmpfs": field Source must not be specified`);
    throwsWith(() => spec({ hostConfig: { Mounts: [{ Type: "volume", Target: "/x", BindOptions: {} }] } }), `invalid mount config for type "volume": field BindOptions must not be specified`);
    throwsWith(() => spec({ hostConfig: { Mounts: [{ Type: "volume", Source: "v" }] } }), `invalid mount config for type "volume": field Target must not be empty`);
    const made = join(tempDir(), "new");
    spec({ hostConfig: { Mounts: [{ Type: "bind", Source: made, Target: "/x", BindOptions: { CreateMountpoint: true } }] } });
    assert.ok(existsSync(made));
  });

  it("--tmpfs: Docker's defaults merged with the user's options, later ones winning", () => {
    const s = spec({ hostConfig: { Tmpfs: { "/run": "rw,exec,size=64m", "/tmp": "" } } });
    assert.deepEqual(mountAt(s, "/run"), { destination: "/run", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "rprivate", "rw", "exec", "size=64m"] });
    assert.deepEqual(mountAt(s, "/tmp")!.options, ["noexec", "nosuid", "nodev", "rprivate"]);
    assert.deepEqual(mergeTmpfsOptions(["noexec", "size=1m", "exec", "size=2m", "defaults"]), ["exec", "size=2m"]);
    throwsWith(() => spec({ hostConfig: { Tmpfs: { "/run": "bogus" } } }), 'invalid tmpfs option "bogus"');
    throwsWith(() => spec({ hostConfig: { Tmpfs: { run: "" } } }), "invalid mount path: 'run' mount path must be absolute");
  });

  it("image VOLUMEs get anonymous volumes unless something else is mounted there", () => {
    const calls: Calls = { volumes: [] };
    const d = tempDir();
    const r = generateSpec(
      input({ config: { Cmd: ["sh"], Volumes: { "/extra": {} } }, imageConfig: { Cmd: ["sh"], Volumes: { "/data": {}, "/logs": {}, "/cache": {} } }, hostConfig: { Binds: [`${d}:/logs`], Tmpfs: { "/cache": "" } } }, calls),
    );
    const vols = r.mountPoints.filter((m) => m.Type === "volume");
    assert.deepEqual(vols.map((m) => m.Destination).sort(), ["/data", "/extra"]);
    for (const v of vols) {
      assert.equal(v.Anonymous, true);
      assert.equal(v.CopyData, true);
      assert.equal(v.Mode, "");
    }
    assert.equal(mountAt(r.spec, "/logs")!.source, d);
    assert.equal(mountAt(r.spec, "/cache")!.type, "tmpfs");
    assert.equal(calls.volumes.length, 2);
  });

  it("a volume over a file of the image is refused", () => {
    const root = makeRootfs();
    writeFileSync(join(root, "etc/conf"), "x");
    throwsWith(() => spec({ rootfs: root, imageConfig: { Cmd: ["sh"], Volumes: { "/etc/conf": {} } } }), /^cannot mount volume over existing file, file exists /);
  });

  it("at start the mount points of the create are reused (same anonymous volumes)", () => {
    const first = generateSpec(input({ imageConfig: { Cmd: ["sh"], Volumes: { "/data": {} } } }));
    const calls: Calls = { volumes: [] };
    const again = generateSpec(input({ imageConfig: { Cmd: ["sh"], Volumes: { "/data": {} } }, mountPoints: first.mountPoints }, calls));
    assert.deepEqual(again.mountPoints, first.mountPoints);
    assert.deepEqual(mountAt(again.spec, "/data"), mountAt(first.spec, "/data"));
    assert.deepEqual(calls.volumes.map((c) => c.name), [first.mountPoints[0]!.Name]);
  });

  it("parents before children, defaults first, hosts files last among equals", () => {
    const d = tempDir();
    const paths = { hosts: join(d, "hosts"), hostname: join(d, "hostname"), resolvConf: join(d, "resolv.conf") };
    const s = spec({ paths, hostConfig: { Binds: [`${d}:/a/b/c`, `${d}:/a`, `${d}:/a/b`] } });
    const dests = s.mounts!.map((m) => m.destination);
    assert.deepEqual(dests.slice(0, 7), dockerDefaultMounts().map((m) => m.destination));
    assert.deepEqual(dests.slice(7), ["/a", "/a/b", "/etc/resolv.conf", "/etc/hostname", "/etc/hosts", "/a/b/c"]);
    assert.deepEqual(mountAt(s, "/etc/hosts"), { destination: "/etc/hosts", type: "bind", source: paths.hosts, options: ["rbind", "rprivate"] });
  });

  it("a user's bind at /etc/hosts replaces the container's file", () => {
    const d = tempDir();
    const mine = join(d, "myhosts");
    writeFileSync(mine, "");
    const s = spec({ paths: { hosts: join(d, "hosts"), hostname: "", resolvConf: "" }, hostConfig: { Binds: [`${mine}:/etc/hosts:ro`] } });
    assert.deepEqual(s.mounts!.filter((m) => m.destination === "/etc/hosts"), [{ destination: "/etc/hosts", type: "bind", source: mine, options: ["rbind", "ro", "rprivate"] }]);
  });

  it("/dev/shm: --shm-size; none with --ipc none; the host's with --ipc host", () => {
    assert.deepEqual(mountAt(spec({ hostConfig: { ShmSize: 128 << 20 } }), "/dev/shm")!.options, ["nosuid", "noexec", "nodev", "mode=1777", "size=134217728"]);
    assert.equal(mountAt(spec({ hostConfig: { IpcMode: "none" } }), "/dev/shm"), undefined);
    assert.deepEqual(mountAt(spec({ hostConfig: { IpcMode: "host" } }), "/dev/shm"), { destination: "/dev/shm", type: "bind", source: "/dev/shm", options: ["rbind", "rprivate"] });
  });

  it("a read-only rootfs: root and the default mounts read-only (not /proc, /dev…), hosts files too", () => {
    const d = tempDir();
    const s = spec({ hostConfig: { ReadonlyRootfs: true, Tmpfs: { "/run": "" } }, paths: { hosts: join(d, "h"), hostname: join(d, "n"), resolvConf: join(d, "r") } });
    assert.equal(s.root!.readonly, true);
    assert.ok(mountAt(s, "/sys")!.options!.includes("ro"));
    assert.ok(mountAt(s, "/sys/fs/cgroup")!.options!.includes("ro"));
    for (const dest of ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/run"]) assert.ok(!mountAt(s, dest)!.options!.includes("ro"), dest);
    assert.deepEqual(mountAt(s, "/etc/resolv.conf")!.options, ["rbind", "ro", "rprivate"]);
  });
});

describe("namespaces", () => {
  const types = (hostConfig: HostConfig, extra: Partial<SpecInput> = {}) => spec({ hostConfig, ...extra }).linux!.namespaces!;

  it("host modes leave the namespace out", () => {
    assert.ok(!types({ NetworkMode: "host" }).some((n) => n.type === "network"));
    assert.ok(types({ NetworkMode: "none" }).some((n) => n.type === "network"));
    assert.ok(types({ NetworkMode: "bridge" }).some((n) => n.type === "network"));
    assert.ok(!types({ PidMode: "host" }).some((n) => n.type === "pid"));
    assert.ok(!types({ IpcMode: "host" }).some((n) => n.type === "ipc"));
    const uts = spec({ hostConfig: { UTSMode: "host" } });
    assert.ok(!uts.linux!.namespaces!.some((n) => n.type === "uts"));
    assert.equal(uts.hostname, undefined);
  });

  it("--network host: the host's hostname, no net sysctls", () => {
    const r = generateSpec(input({ hostConfig: { NetworkMode: "host" }, defaultSysctls: true }));
    assert.equal(r.config.Hostname, hostname());
    assert.equal(r.spec.linux!.sysctl, undefined);
  });

  it("container:<x> joins the other container's namespaces by path", () => {
    const pids: Record<string, number | undefined> = { web: 4242, stopped: undefined };
    const containerPid = (ref: string) => {
      if (!(ref in pids)) throw new NotFoundError(`No such container: ${ref}`);
      return pids[ref];
    };
    const ns = types({ NetworkMode: "container:web", PidMode: "container:web", IpcMode: "container:web" }, { containerPid });
    assert.deepEqual(ns.filter((n) => n.path), [
      { type: "pid", path: "/proc/4242/ns/pid" },
      { type: "network", path: "/proc/4242/ns/net" },
      { type: "ipc", path: "/proc/4242/ns/ipc" },
    ]);
    // /dev/shm: the shareable donor's host directory (a donor that is not shareable is refused by the lookup).
    const s = spec({ hostConfig: { IpcMode: "container:web" }, containerPid, ipcShmDir: (ref: string) => `/dev/shm/hako-ipc-${ref}` });
    assert.deepEqual(mountAt(s, "/dev/shm"), { destination: "/dev/shm", type: "bind", source: "/dev/shm/hako-ipc-web", options: ["rbind", "rprivate", "nosuid", "nodev", "noexec"] });
    const own = spec({ hostConfig: { IpcMode: "shareable" }, ownShmDir: "/dev/shm/hako-ipc-me" });
    assert.equal(mountAt(own, "/dev/shm")!.source, "/dev/shm/hako-ipc-me");
    throwsWith(() => types({ PidMode: "container:stopped" }, { containerPid }), "container stopped is not running", "ERR_CONFLICT");
    throwsWith(() => types({ NetworkMode: "container:nope" }, { containerPid }), "No such container: nope", "ERR_INVALID_ARGUMENT");
    throwsWith(() => types({ NetworkMode: "container:test" }, { containerPid }), "cannot join own network namespace");
  });

  it("invalid modes", () => {
    throwsWith(() => types({ IpcMode: "bogus" }), "invalid IPC mode: bogus");
    throwsWith(() => types({ IpcMode: "container:" }), "invalid IPC mode: container:");
    throwsWith(() => types({ PidMode: "private" }), "invalid PID mode: private");
    throwsWith(() => types({ UTSMode: "private" }), "invalid UTS mode: private");
    throwsWith(() => types({ CgroupnsMode: "shared" as HostConfig["CgroupnsMode"] }), "invalid cgroup namespace mode: shared");
  });
});

describe("devices", () => {
  it("Docker's device rules, plus --device and --device-cgroup-rule", () => {
    const s = spec({
      hostConfig: {
        Devices: [{ PathOnHost: "/dev/null", PathInContainer: "/dev/mynull", CgroupPermissions: "rw" }],
        DeviceCgroupRules: ["c 42:* rmw", "b 8:0 r"],
      },
    });
    assert.deepEqual(s.linux!.devices!.map(({ path, type, major, minor }) => ({ path, type, major, minor })), [{ path: "/dev/mynull", type: "c", major: 1, minor: 3 }]);
    assert.deepEqual(s.linux!.resources!.devices, [
      ...DOCKER_DEVICE_RULES,
      { allow: true, type: "c", major: 1, minor: 3, access: "rw" },
      { allow: true, type: "c", major: 42, minor: null, access: "rmw" },
      { allow: true, type: "b", major: 8, minor: 0, access: "r" },
    ]);
    throwsWith(() => spec({ hostConfig: { DeviceCgroupRules: ["c 1:3"] } }), "invalid device cgroup rule format: 'c 1:3'");
    throwsWith(() => spec({ hostConfig: { Devices: [{ PathOnHost: "/dev/nope-nope", PathInContainer: "/dev/x", CgroupPermissions: "rwm" }] } }), /^error gathering device information while adding custom device "\/dev\/nope-nope"/);
  });
});

describe("privileged", () => {
  it("no masks, no seccomp, every capability and device, writable /sys and cgroups", () => {
    const s = spec({ hostConfig: { Privileged: true } });
    assert.deepEqual(s.linux!.maskedPaths, []);
    assert.deepEqual(s.linux!.readonlyPaths, []);
    assert.equal(s.linux!.seccomp, undefined);
    assert.deepEqual(s.linux!.resources!.devices, [{ allow: true, access: "rwm" }]);
    assert.ok(s.linux!.devices!.some((d) => d.path === "/dev/null" && d.type === "c" && d.major === 1 && d.minor === 3));
    assert.ok(!s.linux!.devices!.some((d) => d.path.startsWith("/dev/pts/") || d.path === "/dev/console"));
    assert.deepEqual(mountAt(s, "/sys")!.options, ["nosuid", "noexec", "nodev"]);
    assert.deepEqual(mountAt(s, "/sys/fs/cgroup")!.options, ["nosuid", "noexec", "nodev"]);
  });

  it("explicit masked paths still apply; unprivileged gets Docker's lists", () => {
    const s = spec({ hostConfig: { Privileged: true, MaskedPaths: ["/proc/kcore"] } });
    assert.deepEqual(s.linux!.maskedPaths, ["/proc/kcore"]);
    assert.deepEqual(spec().linux!.maskedPaths, [...DOCKER_MASKED_PATHS]);
    assert.deepEqual(spec().linux!.readonlyPaths, [...DOCKER_READONLY_PATHS]);
    assert.deepEqual(spec({ hostConfig: { MaskedPaths: [], ReadonlyPaths: [] } }).linux!.maskedPaths, [], "--security-opt systempaths=unconfined");
  });
});

describe("sysctls", () => {
  it("namespaced sysctls pass, others are refused", () => {
    assert.deepEqual(spec({ hostConfig: { Sysctls: { "net.core.somaxconn": "1024", "kernel.shmmax": "1000000", "fs.mqueue.msg_max": "20" } } }).linux!.sysctl, {
      "net.core.somaxconn": "1024",
      "kernel.shmmax": "1000000",
      "fs.mqueue.msg_max": "20",
    });
    throwsWith(() => spec({ hostConfig: { Sysctls: { "vm.swappiness": "1" } } }), 'sysctl "vm.swappiness" is not in a separate kernel namespace');
    throwsWith(() => spec({ hostConfig: { NetworkMode: "host", Sysctls: { "net.core.somaxconn": "1" } } }), 'sysctl "net.core.somaxconn" is not allowed in the hosts network namespace');
    throwsWith(() => spec({ hostConfig: { IpcMode: "host", Sysctls: { "kernel.msgmax": "1" } } }), 'sysctl "kernel.msgmax" is not allowed in the hosts ipc namespace');
  });

  it("Docker's default net sysctls in a network namespace of the container's own", () => {
    const s = spec({ defaultSysctls: true });
    if (existsSync("/proc/sys/net/ipv4/ip_unprivileged_port_start")) assert.equal(s.linux!.sysctl!["net.ipv4.ip_unprivileged_port_start"], "0");
    if (existsSync("/proc/sys/net/ipv4/ping_group_range")) assert.equal(s.linux!.sysctl!["net.ipv4.ping_group_range"], "0 2147483647");
    const overridden = spec({ defaultSysctls: true, hostConfig: { Sysctls: { "net.ipv4.ip_unprivileged_port_start": "1024" } } });
    assert.equal(overridden.linux!.sysctl!["net.ipv4.ip_unprivileged_port_start"], "1024");
  });
});
