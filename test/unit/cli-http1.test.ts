/**
 * The client's hand-written HTTP/1.1 exchange (src/cli/http1.ts) beside
 * node:http: the same request bytes for the same options, and the same
 * answers and failures from servers that frame their bodies every way.
 */
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { describe, test } from "node:test";
import { rawRequest, rawRequestFits } from "../../src/cli/http1.ts";
import { tempDirs } from "../helpers/temp.ts";

const tempDir = tempDirs();

/** A unix-socket server answering each connection with `reply(requestBytes)`, in the pieces given ("hold": never). */
async function server(reply: (request: string) => (string | Buffer)[] | "close" | "hang" | "hold"): Promise<{ socket: string; requests: string[]; close(): void }> {
  const socket = path.join(tempDir("hako-http1-"), "s.sock");
  const requests: string[] = [];
  const srv = net.createServer((conn) => {
    let got = "";
    conn.on("data", (d) => {
      got += d.toString("latin1");
      const end = got.indexOf("\r\n\r\n");
      if (end < 0) return;
      const length = /content-length: (\d+)/i.exec(got.slice(0, end));
      if (got.length < end + 4 + Number(length?.[1] ?? 0)) return;
      requests.push(got);
      const r = reply(got);
      if (r === "hold") return;
      if (r === "close") conn.end();
      else if (r === "hang") conn.destroy();
      else {
        // One write per piece, a tick apart, so the client sees them apart.
        const send = (i: number): void => {
          if (i === r.length) return void conn.end();
          conn.write(r[i]!);
          setTimeout(() => send(i + 1), 2);
        };
        send(0);
      }
    });
  });
  await new Promise<void>((resolve) => srv.listen(socket, resolve));
  return { socket, requests, close: () => srv.close() };
}

function viaHttp(socket: string, method: string, p: string, headers: Record<string, string>, body?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request({ createConnection: () => net.connect(socket), host: "hako", method, path: p, headers }, (res) => {
      res.resume();
      res.on("end", resolve);
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("cli http1: requests", () => {
  const cases: [string, string, Record<string, string>, Buffer | undefined][] = [
    ["GET", "/v1.44/containers/json?all=1", { "User-Agent": "hako-cli/0.1.0 (linux)" }, undefined],
    ["HEAD", "/_ping", { "User-Agent": "hako-cli/0.1.0 (linux)" }, undefined],
    ["POST", "/v1.44/containers/x/start", { "User-Agent": "hako-cli/0.1.0 (linux)" }, undefined],
    ["DELETE", "/v1.44/containers/x?force=1", { "User-Agent": "hako-cli/0.1.0 (linux)" }, undefined],
    ["POST", "/v1.44/containers/create?name=a", { "User-Agent": "hako-cli/0.1.0 (linux)", "X-Registry-Auth": "e30=", "Content-Type": "application/json", "Content-Length": "2" }, Buffer.from("{}")],
  ];
  for (const [method, p, headers, body] of cases) {
    test(`${method} ${p}: the bytes node:http sends`, async () => {
      const s = await server(() => ["HTTP/1.1 204 No Content\r\n\r\n"]);
      try {
        await viaHttp(s.socket, method, p, headers, body);
        const res = await rawRequest(s.socket, method, p, headers, body);
        await res.body;
        assert.equal(s.requests[1], s.requests[0]);
      } finally {
        s.close();
      }
    });
  }

  test("what node:http refuses is not sent by hand", () => {
    assert.equal(rawRequestFits("GET", "/containers/a b/json", {}), false);
    assert.equal(rawRequestFits("GET", "/x", { "X-A": "bad\nvalue" }), false);
    assert.equal(rawRequestFits("GET", "/x", { Connection: "keep-alive" }), false);
    assert.equal(rawRequestFits("get", "/x", {}), false);
    assert.equal(rawRequestFits("GET", "/containers/json?filters=%7B%7D", { "User-Agent": "hako-cli/0.1.0 (linux)" }), true);
  });
});

describe("cli http1: answers", () => {
  const head = "HTTP/1.1 200 OK\r\nApi-Version: 1.44\r\nX-Twice: a\r\nX-Twice: b\r\nContent-Type: application/json\r\n";
  const answers: [string, (string | Buffer)[], string][] = [
    ["Content-Length, in pieces", [`${head}Content-Length: 11\r\n\r\n[1,`, "2,3", ",4]  "], "[1,2,3,4]  "],
    ["chunked, sizes and data split", [`${head}Transfer-Encoding: chunked\r\n\r\n4\r\n[1,2\r`, "\n3;ext=1\r\n,3]\r\n0", "\r\nX-Trailer: t\r\n\r\n"], "[1,2,3]"],
    ["up to the close", [`${head}\r\n[`, "1]"], "[1]"],
    ["empty", [`${head}Content-Length: 0\r\n\r\n`], ""],
  ];
  for (const [name, pieces, body] of answers) {
    test(name, async () => {
      const s = await server(() => pieces);
      try {
        const res = await rawRequest(s.socket, "GET", "/x", {});
        assert.equal(res.statusCode, 200);
        assert.equal(res.statusMessage, "OK");
        assert.equal(res.headers["api-version"], "1.44");
        assert.equal(res.headers["x-twice"], "a, b");
        assert.equal((await res.body).toString(), body);
      } finally {
        s.close();
      }
    });
  }

  test("HEAD and 204 have no body whatever their headers say", async () => {
    const s = await server((req) => [req.startsWith("HEAD") ? "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n" : "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"]);
    try {
      assert.equal((await (await rawRequest(s.socket, "HEAD", "/_ping", {})).body).length, 0);
      const res = await rawRequest(s.socket, "GET", "/x", {});
      assert.equal(res.statusCode, 204);
      assert.equal((await res.body).length, 0);
    } finally {
      s.close();
    }
  });

  test("100 Continue is skipped", async () => {
    const s = await server(() => ["HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}"]);
    try {
      const res = await rawRequest(s.socket, "GET", "/x", {});
      assert.equal(res.statusCode, 404);
      assert.equal((await res.body).toString(), "{}");
    } finally {
      s.close();
    }
  });
});

describe("cli http1: failures read as node:http's", () => {
  test("nobody listening: the connection's own error", async () => {
    const socket = path.join(tempDir("hako-http1-"), "none.sock");
    await assert.rejects(rawRequest(socket, "GET", "/x", {}), { code: "ENOENT" });
  });

  test("closed before the headers: socket hang up", async () => {
    for (const how of ["close", "hang"] as const) {
      const s = await server(() => how);
      try {
        await assert.rejects(rawRequest(s.socket, "GET", "/x", {}), { code: "ECONNRESET", message: "socket hang up" });
      } finally {
        s.close();
      }
    }
  });

  test("closed inside the body: aborted", async () => {
    const s = await server(() => ["HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n[1,"]);
    try {
      const res = await rawRequest(s.socket, "GET", "/x", {});
      await assert.rejects(res.body, { code: "ECONNRESET", message: "aborted" });
    } finally {
      s.close();
    }
  });

  test("not HTTP: node's parse error", async () => {
    const s = await server(() => ["SSH-2.0-OpenSSH\r\n\r\n"]);
    try {
      await assert.rejects(rawRequest(s.socket, "GET", "/x", {}), { message: "Parse Error: Expected HTTP/, RTSP/ or ICE/" });
    } finally {
      s.close();
    }
  });
});

describe("cli http1: hijack and abort", () => {
  test("upgrade: the request asks for it; on 101 the connection is handed over with the bytes past the headers", async () => {
    const s = await server(() => ["HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nearly ", "late"]);
    try {
      const res = await rawRequest(s.socket, "POST", "/containers/x/attach?stream=1", { "Content-Type": "text/plain" }, undefined, { upgrade: true });
      assert.equal(res.statusCode, 101);
      assert.equal(res.headers["content-type"], "application/vnd.docker.raw-stream");
      assert.ok(res.socket);
      assert.match(s.requests[0]!, /\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n/);
      assert.doesNotMatch(s.requests[0]!, /Connection: close/);
      // Handed over paused: nothing is lost before the caller reads.
      await new Promise((r) => setTimeout(r, 20));
      let text = "";
      for await (const chunk of res.socket) text += (chunk as Buffer).toString();
      assert.equal(text, "early late");
    } finally {
      s.close();
    }
  });

  test("upgrade refused with an error status: the answer is read as any other", async () => {
    const s = await server(() => ['HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{"message":"No such container: missing"}']);
    try {
      const res = await rawRequest(s.socket, "POST", "/containers/missing/attach", {}, undefined, { upgrade: true });
      assert.equal(res.statusCode, 404);
      assert.equal(res.socket, undefined);
      assert.equal((await res.body).toString(), '{"message":"No such container: missing"}');
    } finally {
      s.close();
    }
  });

  test("an old daemon's 200 is taken over too: the raw stream follows the headers", async () => {
    const s = await server(() => ["HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\nlegacy ", "bytes"]);
    try {
      const res = await rawRequest(s.socket, "POST", "/containers/old/attach", {}, undefined, { upgrade: true });
      assert.equal(res.statusCode, 200);
      let text = "";
      for await (const chunk of res.socket!) text += (chunk as Buffer).toString();
      assert.equal(text, "legacy bytes");
    } finally {
      s.close();
    }
  });

  test("abort: before the answer the request rejects, after the headers the body does", async () => {
    const s = await server((req) => (req.includes("/slow-head") ? "hold" : ["HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n[1,"]));
    try {
      const early = new AbortController();
      const pending = rawRequest(s.socket, "POST", "/slow-head", {}, undefined, { signal: early.signal });
      setTimeout(() => early.abort(), 10);
      await assert.rejects(pending, { name: "AbortError" });

      const late = new AbortController();
      const res = await rawRequest(s.socket, "POST", "/wait", {}, undefined, { signal: late.signal });
      assert.equal(res.statusCode, 200);
      late.abort();
      await assert.rejects(res.body, { name: "AbortError" });

      const already = new AbortController();
      already.abort();
      await assert.rejects(rawRequest(s.socket, "GET", "/x", {}, undefined, { signal: already.signal }), { name: "AbortError" });
    } finally {
      s.close();
    }
  });
});
