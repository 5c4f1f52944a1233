/**
 * hako's API client against a real hakod and against small fake servers
 * (version negotiation, errors, JSON-message streams), and the progress
 * renderer against moby's own jsonmessage expectations.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { ApiClient, ApiError, DaemonUnreachableError, readJsonLines, resolveHost, type JsonMessage } from "../../src/cli/client.ts";
import { displayJsonMessages, JsonMessageError, renderMessage, renderProgress } from "../../src/cli/progress.ts";
import { VERSION_TABWRITER, bytesSize, humanSize, renderFormat, tabwrite } from "../../src/cli/output.ts";
import { startDaemon, type TestDaemon } from "../helpers/daemon.ts";

/** A throw-away HTTP server on a unix socket. */
async function fakeServer(handler: http.RequestListener): Promise<{ socket: string; paths: string[]; close(): Promise<void> }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "hako-fake-"));
  const socket = path.join(dir, "fake.sock");
  const paths: string[] = [];
  const server = http.createServer((req, res) => {
    paths.push(`${req.method} ${req.url}`);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return {
    socket,
    paths,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        });
      }),
  };
}

describe("api client: against hakod", () => {
  let d: TestDaemon;
  before(async () => {
    d = await startDaemon();
  });
  after(() => d?.stop());

  test("negotiates 1.44 and reads JSON", async () => {
    const client = new ApiClient({ host: d.host });
    assert.equal(client.explicitHost, true);
    assert.equal(await client.apiVersion(), "1.44");
    const v = await client.json<{ ApiVersion: string }>("GET", "/version");
    assert.equal(v.ApiVersion, "1.44");
    const ping = await client.ping();
    assert.equal(ping.osType, "linux");
    assert.equal(ping.swarm, "inactive");
    assert.equal(ping.experimental, false);
  });

  test("daemon errors keep their status and message", async () => {
    const client = new ApiClient({ host: d.host });
    await assert.rejects(client.json("GET", "/nothing"), (err: unknown) => {
      assert.ok(err instanceof ApiError);
      assert.equal(err.status, 404);
      assert.equal(err.code, "ERR_NOT_FOUND");
      assert.equal(err.message, "page not found");
      return true;
    });
    await assert.rejects(
      client.json("GET", "/images/a/b/json"),
      (err: unknown) => err instanceof ApiError && err.status === 404 && err.code === "ERR_NOT_FOUND" && err.message === "No such image: a/b:latest",
    );
    await assert.rejects(client.json("POST", "/auth", { body: "{x", headers: { "Content-Type": "application/json" } }), (err: unknown) => err instanceof ApiError && err.status === 400);
    const ok = await client.json<unknown[]>("GET", "/images/json");
    assert.deepEqual(ok, []);
  });

  test("an address with nobody behind it is 'Cannot connect', with no autostart", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "hako-none-"));
    try {
      const client = new ApiClient({ host: `unix://${dir}/none.sock` });
      await assert.rejects(client.apiVersion(), (err: unknown) => {
        assert.ok(err instanceof DaemonUnreachableError);
        assert.equal(err.message, `Cannot connect to the hako daemon at unix://${dir}/none.sock. Is the daemon running?`);
        return true;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("api client: negotiation and streams", () => {
  test("uses the server's version when it is lower, and 1.24 when the ping has none", async () => {
    const old = await fakeServer((req, res) => {
      if (req.url === "/_ping") res.setHeader("Api-Version", "1.41");
      res.setHeader("Content-Type", "application/json");
      res.end(req.url === "/_ping" ? "" : "{}");
    });
    const silent = await fakeServer((req, res) => res.end(req.url === "/_ping" ? "OK" : "{}"));
    const newer = await fakeServer((req, res) => {
      res.setHeader("Api-Version", "1.51");
      res.end(req.url === "/_ping" ? "" : "{}");
    });
    try {
      const a = new ApiClient({ host: `unix://${old.socket}` });
      assert.equal(await a.apiVersion(), "1.41");
      await a.json("GET", "/info");
      assert.deepEqual(old.paths, ["HEAD /_ping", "GET /v1.41/info"]);
      assert.equal(await new ApiClient({ host: `unix://${silent.socket}` }).apiVersion(), "1.24");
      assert.equal(await new ApiClient({ host: `unix://${newer.socket}` }).apiVersion(), "1.44");
    } finally {
      await Promise.all([old.close(), silent.close(), newer.close()]);
    }
  });

  test("query values are encoded as the docker client encodes them", async () => {
    const srv = await fakeServer((_req, res) => res.end("{}"));
    try {
      const c = new ApiClient({ host: `unix://${srv.socket}` });
      await c.json("POST", "/images/create", { query: { fromImage: "localhost:5000/a b", tag: "1", all: true, quiet: false, none: undefined, names: ["x", "y"] } });
      assert.equal(srv.paths.at(-1), "POST /v1.24/images/create?fromImage=localhost%3A5000%2Fa+b&tag=1&all=1&quiet=0&names=x&names=y");
    } finally {
      await srv.close();
    }
  });

  test("a JSON-message stream is parsed across chunk boundaries", async () => {
    const lines = [
      { status: "Pulling from library/alpine", id: "latest" },
      { status: "Downloading", id: "abc", progressDetail: { current: 5, total: 10 }, progress: "[==>  ]" },
      { status: "Digest: sha256:ü" },
      { aux: { ID: "sha256:1" } },
    ];
    const srv = await fakeServer((req, res) => {
      if (req.url === "/_ping") return res.end("OK");
      res.setHeader("Content-Type", "application/json");
      const text = Buffer.from(lines.map((l) => `${JSON.stringify(l)}\r\n`).join(""));
      let i = 0;
      const step = (): void => {
        if (i >= text.length) return void res.end();
        res.write(text.subarray(i, i + 7)); // splits lines and the two-byte ü
        i += 7;
        setImmediate(step);
      };
      step();
    });
    try {
      const got: JsonMessage[] = [];
      for await (const m of new ApiClient({ host: `unix://${srv.socket}` }).stream("POST", "/images/create")) got.push(m);
      assert.deepEqual(got, lines);
    } finally {
      await srv.close();
    }
  });

  test("readJsonLines reports a malformed line", async () => {
    async function* chunks(): AsyncGenerator<string> {
      yield '{"status":"a"}\n{oops\n';
    }
    const it = readJsonLines(chunks());
    assert.deepEqual((await it.next()).value, { status: "a" });
    await assert.rejects(it.next(), /malformed message in the daemon's stream/);
  });

  test("the address: -H, then HAKO_HOST, then DOCKER_HOST, then the default", () => {
    assert.deepEqual(resolveHost({ env: {} }), { address: { proto: "unix", path: "/run/hako/hako.sock", url: "unix:///run/hako/hako.sock" }, explicit: false });
    assert.equal(resolveHost({ env: { DOCKER_HOST: "unix:///d.sock" } }).address.url, "unix:///d.sock");
    assert.equal(resolveHost({ env: { DOCKER_HOST: "unix:///d.sock", HAKO_HOST: "unix:///h.sock" } }).address.url, "unix:///h.sock");
    const flag = resolveHost({ host: "tcp://127.0.0.1:2376", env: { HAKO_HOST: "unix:///h.sock" } });
    assert.deepEqual(flag, { address: { proto: "tcp", host: "127.0.0.1", port: 2376, url: "tcp://127.0.0.1:2376" }, explicit: true });
    assert.throws(() => resolveHost({ host: "ssh://x" }), /only unix:\/\/ and tcp:\/\//);
  });
});

describe("progress: docker's jsonmessage rendering", () => {
  const start = Date.UTC(2017, 11, 3, 15, 10, 1) / 1000;
  const cases: [string, NonNullable<JsonMessage["progressDetail"]>, string, string, number?][] = [
    ["no progress", {}, "", ""],
    ["progress 1", { current: 1 }, "      1B", "      1B"],
    ["with a start time", { current: 20, total: 100, start }, "     20B/100B 4s", "[==========>                                        ]      20B/100B 4s", start * 1000 + 1000],
    ["without a start time", { current: 50, total: 100 }, "     50B/100B", "[=========================>                         ]      50B/100B"],
    ["current above total", { current: 50, total: 40 }, "     50B", "[==================================================>]      50B"],
    ["units", { current: 50, total: 100, units: "units" }, "50/100 units", "[=========================>                         ] 50/100 units"],
    ["units, current above total", { current: 50, total: 40, units: "units" }, "50 units", "[==================================================>] 50 units"],
    ["hidden counts", { current: 50, total: 100, hidecounts: true }, "", "[=========================>                         ] "],
  ];
  for (const [name, p, short, long, now] of cases) {
    test(`renderProgress: ${name}`, () => {
      assert.equal(renderProgress(p, 100, now), short);
      assert.equal(renderProgress(p, 200, now), long);
    });
  }

  test("renderMessage: terminal and plain", () => {
    assert.equal(renderMessage({}, false, 200), "\n");
    assert.equal(renderMessage({ status: "status" }, true, 200), "status\n");
    assert.equal(renderMessage({ status: "status", stream: "stream" }, false, 200), "stream");
    assert.equal(renderMessage({ status: "status", progress: "progressMessage" }, false, 200), "status progressMessage");
    assert.equal(renderMessage({ status: "status", progressDetail: { current: 1 } }, false, 200), "");
    assert.equal(renderMessage({ status: "status", progressDetail: { current: 1 } }, true, 200), "\x1b[2K\rstatus       1B\r");
    assert.equal(renderMessage({ id: "ID", status: "status", progressDetail: {} }, false, 200), "ID: status\n");
  });

  async function shown(messages: JsonMessage[], isTerminal: boolean): Promise<string> {
    let text = "";
    await displayJsonMessages(messages, { out: { write: (t: string) => (text += t) }, isTerminal, width: 200 });
    return text;
  }

  test("displayJsonMessages: lines per id, cursor movement on a terminal", async () => {
    assert.equal(await shown([{ id: "ID", status: "status" }], false), "ID: status\n");
    assert.equal(await shown([{ id: "ID", status: "status", progress: "ProgressMessage" }], false), "ID: status ProgressMessage");
    assert.equal(await shown([{ id: "ID", status: "status", progress: "ProgressMessage" }], true), "\n\x1b[1AID: status ProgressMessage\x1b[1B");
    assert.equal(await shown([{ id: "ID", status: "status", progressDetail: { current: 1 } }], false), "");
    assert.equal(await shown([{ id: "ID", status: "status", progressDetail: { current: 1 } }], true), "\n\x1b[1A\x1b[2K\rID: status       1B\r\x1b[1B");
    // Two layers: the first is two lines up from the bottom once the second exists.
    const pull: JsonMessage[] = [
      { id: "a", status: "Pulling fs layer", progressDetail: {} },
      { id: "b", status: "Pulling fs layer", progressDetail: {} },
      { id: "a", status: "Downloading", progressDetail: { current: 500, total: 1000 } },
      { status: "Digest: sha256:x" },
    ];
    assert.equal(
      await shown(pull, true),
      "\n\x1b[1A\x1b[2K\ra: Pulling fs layer \r\x1b[1B" +
        "\n\x1b[1A\x1b[2K\rb: Pulling fs layer \r\x1b[1B" +
        "\x1b[2A\x1b[2K\ra: Downloading [=========================>                         ]     500B/1kB\r\x1b[2B" +
        "Digest: sha256:x\n",
    );
    assert.equal(await shown(pull, false), "a: Pulling fs layer\nb: Pulling fs layer\nDigest: sha256:x\n");
  });

  test("displayJsonMessages: aux goes to the callback, errorDetail ends the stream", async () => {
    const aux: unknown[] = [];
    let text = "";
    await assert.rejects(
      displayJsonMessages(
        [{ status: "before" }, { aux: { ID: "sha256:1" } }, { errorDetail: { code: 404, message: "manifest unknown" }, error: "manifest unknown" }, { status: "after" }],
        { out: { write: (t: string) => (text += t) }, isTerminal: false, onAux: (m) => aux.push(m.aux) },
      ),
      (err: unknown) => err instanceof JsonMessageError && err.message === "manifest unknown" && err.code === "ERR_NOT_FOUND",
    );
    assert.equal(text, "before\n");
    assert.deepEqual(aux, [{ ID: "sha256:1" }]);
  });
});

describe("output helpers", () => {
  test("sizes as go-units prints them", () => {
    assert.equal(humanSize(0), "0B");
    assert.equal(humanSize(999), "999B");
    assert.equal(humanSize(1000), "1kB");
    assert.equal(humanSize(12_345_678), "12.35MB");
    assert.equal(humanSize(45_600_000), "45.6MB");
    assert.equal(bytesSize(1024), "1KiB");
    assert.equal(bytesSize(25_270_000_000), "23.53GiB");
  });

  test("docker version's tabwriter layout", () => {
    assert.equal(tabwrite(" Version:\t1\n API version:\t1.44\nServer:\n  Built:\tx", VERSION_TABWRITER), " Version:           1\n API version:       1.44\nServer:\n  Built:            x");
  });

  test("--format: json, fields, functions", () => {
    assert.equal(renderFormat("json", { A: 1 }), '{"A":1}\n');
    assert.equal(renderFormat("{{.Server.Version}}", { Server: { Version: "1.0" } }), "1.0\n");
    assert.equal(renderFormat("{{json .Server}}", { Server: { V: [1] } }), '{"V":[1]}\n');
    assert.equal(renderFormat("{{range .L}}{{upper .}} {{end}}", { L: ["a", "b"] }), "A B \n");
    assert.throws(() => renderFormat("{{.X", {}), /template parsing error/);
  });
});
