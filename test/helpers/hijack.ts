/**
 * A raw client for hakod's hijacked endpoints (attach, exec start): the
 * upgrade request the docker CLI sends, the response head parsed, then the
 * bare stream. node:http would hand the socket over only on a 101, and the
 * tests need the refusals (404, 400) on the same path too.
 */
import net from "node:net";
import { StdFrameReader } from "../../src/api/stream.ts";

/** A hijacked connection: the response head, then the raw stream. */
export interface Hijacked {
  status: number;
  headers: Record<string, string>;
  socket: net.Socket;
  /** Everything read after the head so far. */
  data(): Buffer;
  /** Resolves when the connection is closed. */
  closed: Promise<void>;
  /** Waits until the stream so far matches `re` (as text, frames included). */
  waitFor(re: RegExp, timeoutMs?: number): Promise<void>;
}

function upgradeRequest(urlPath: string, body: object | undefined): Buffer {
  const head = `POST ${urlPath} HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n`;
  if (body === undefined) return Buffer.from(`${head}Content-Length: 0\r\n\r\n`);
  const payload = Buffer.from(JSON.stringify(body));
  return Buffer.concat([Buffer.from(`${head}Content-Type: application/json\r\nContent-Length: ${payload.length}\r\n\r\n`), payload]);
}

/**
 * POST with Connection: Upgrade on the daemon's unix socket, as docker's
 * hijack does; `body` (exec start's options) is sent as JSON, no body as
 * Content-Length: 0 (attach). Resolves once the response head is in.
 */
export function hijack(socketPath: string, urlPath: string, body?: object): Promise<Hijacked> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let head: Buffer = Buffer.alloc(0);
    let rest: Buffer = Buffer.alloc(0);
    let parsed = false;
    const waiters: (() => void)[] = [];
    let closedResolve!: () => void;
    const closed = new Promise<void>((r) => (closedResolve = r));
    socket.on("error", reject);
    socket.on("close", () => {
      closedResolve();
      for (const w of waiters.splice(0)) w();
    });
    socket.on("connect", () => socket.write(upgradeRequest(urlPath, body)));
    socket.on("data", (chunk: Buffer) => {
      if (parsed) {
        rest = Buffer.concat([rest, chunk]);
        for (const w of waiters.splice(0)) w();
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      parsed = true;
      const lines = head.subarray(0, end).toString("latin1").split("\r\n");
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(":");
        headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      rest = head.subarray(end + 4);
      resolve({
        status: Number(lines[0]!.split(" ")[1]),
        headers,
        socket,
        data: () => rest,
        closed,
        waitFor: (re, timeoutMs = 10_000) =>
          new Promise<void>((res, rej) => {
            const check = (): void => {
              if (re.test(rest.toString("utf8"))) {
                clearTimeout(timer);
                res();
              } else if (socket.destroyed) {
                clearTimeout(timer);
                rej(new Error(`${urlPath}: stream closed without ${re}: ${JSON.stringify(rest.toString("utf8"))}`));
              } else waiters.push(check);
            };
            const timer = setTimeout(() => rej(new Error(`${urlPath}: timed out waiting for ${re}: ${JSON.stringify(rest.toString("utf8"))}`)), timeoutMs);
            check();
          }),
      });
    });
  });
}

/** stdout and stderr of a multiplexed (non-TTY) stream. */
export function demux(buf: Buffer): { stdout: string; stderr: string } {
  let stdout = "";
  let stderr = "";
  for (const f of new StdFrameReader().push(buf)) {
    if (f.stream === 2) stderr += f.data.toString();
    else stdout += f.data.toString();
  }
  return { stdout, stderr };
}
