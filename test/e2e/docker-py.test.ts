/**
 * The Docker SDK for Python (Debian's python3-docker, which docker-compose
 * 1.29 brings) against hakod: run with output, detached containers, exec
 * with and without demux, put/get archive, stats, top, wait, logs,
 * networks, volumes, events, info, df. The SDK reads fields back that the
 * docker CLI never looks at (HostConfig.LogConfig.Type in run()), which is
 * what this test is for. Skips when the SDK is not installed.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { HAKO_BIN, startDaemon, type TestDaemon } from "../helpers/daemon.ts";

const PYTHON = "/usr/bin/python3";

function sdkSkipReason(): string | false {
  if (process.getuid?.() !== 0) return "needs root (containers)";
  if (!existsSync(PYTHON) || spawnSync(PYTHON, ["-c", "import docker"]).status !== 0) return "no Docker SDK for Python (apt-get install python3-docker)";
  return false;
}

/** Prints one JSON object of what the SDK saw; everything it makes it removes. */
const SCRIPT = String.raw`
import docker, io, json, sys, tarfile, time
c = docker.DockerClient(base_url=sys.argv[1])
out = {"ping": c.ping(), "api": c.version()["ApiVersion"]}
out["run"] = c.containers.run("busybox", ["sh", "-c", "echo out; echo err >&2"], remove=True, stdout=True, stderr=True).decode()
ct = c.containers.run("busybox", ["sleep", "300"], detach=True, name="sdk-holder", labels={"a": "b"})
r = ct.exec_run(["sh", "-c", "echo hi; exit 3"])
out["exec"] = [r.exit_code, r.output.decode()]
r = ct.exec_run(["sh", "-c", "echo o; echo e >&2"], demux=True)
out["demux"] = [r.output[0].decode(), r.output[1].decode()]
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as t:
    data = b"hello sdk"
    info = tarfile.TarInfo("f.txt"); info.size = len(data); t.addfile(info, io.BytesIO(data))
out["put"] = ct.put_archive("/tmp", buf.getvalue())
bits, stat = ct.get_archive("/tmp/f.txt")
with tarfile.open(fileobj=io.BytesIO(b"".join(bits))) as t:
    out["get"] = [stat["name"], stat["size"], t.extractfile("f.txt").read().decode()]
s = ct.stats(stream=False)
out["stats"] = [s["memory_stats"].get("usage", 0) > 0, s["pids_stats"].get("current")]
out["top"] = ct.top()["Titles"]
ct.reload()
out["state"] = [ct.status, ct.labels, ct.attrs["HostConfig"]["LogConfig"]["Type"]]
out["list"] = [x.name for x in c.containers.list(filters={"label": "a=b"})]
ct.kill()
out["wait"] = ct.wait()["StatusCode"]
ct.remove()
n = c.networks.create("sdk-net")
out["net"] = [n.name, n.attrs["Driver"]]
n.remove()
v = c.volumes.create("sdk-vol")
out["vol"] = v.name
v.remove()
now = int(time.time())
out["events"] = sorted({e.get("Action") for e in c.events(since=now - 60, until=now + 1, decode=True, filters={"container": "sdk-holder"})})
out["info"] = c.info()["Driver"]
out["df"] = sorted(c.df().keys())
print(json.dumps(out))
`;

describe("e2e: the Docker SDK for Python", { skip: sdkSkipReason() }, () => {
  let d: TestDaemon;
  before(async () => {
    d = await startDaemon();
    const boot = spawnSync(HAKO_BIN, ["image", "bootstrap"], { encoding: "utf8", env: { ...process.env, DOCKER_HOST: d.host } });
    assert.equal(boot.status, 0, boot.stderr);
  });
  after(async () => {
    await d?.stop();
  });

  test("containers, exec, archives, stats, networks, volumes, events through docker-py", () => {
    const r = spawnSync(PYTHON, ["-c", SCRIPT, d.host], { encoding: "utf8", timeout: 120_000 });
    assert.equal(r.status, 0, `exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    const out = JSON.parse(r.stdout);
    assert.equal(out.ping, true);
    assert.equal(out.api, "1.44");
    assert.equal(out.run, "out\nerr\n");
    assert.deepEqual(out.exec, [3, "hi\n"]);
    assert.deepEqual(out.demux, ["o\n", "e\n"]);
    assert.equal(out.put, true);
    assert.deepEqual(out.get, ["f.txt", 9, "hello sdk"]);
    assert.equal(out.stats[0], true);
    assert.equal(out.stats[1], 1);
    assert.deepEqual(out.top, ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]);
    assert.deepEqual(out.state, ["running", { a: "b" }, "json-file"]);
    assert.deepEqual(out.list, ["sdk-holder"]);
    assert.equal(out.wait, 137);
    assert.deepEqual(out.net, ["sdk-net", "bridge"]);
    assert.equal(out.vol, "sdk-vol");
    for (const action of ["create", "start", "kill", "die", "destroy"]) assert.ok(out.events.includes(action), `event ${action} in ${out.events}`);
    assert.equal(out.info, "overlay2");
    assert.deepEqual(out.df, ["BuildCache", "Containers", "Images", "LayersSize", "Volumes"]);
  });
});
