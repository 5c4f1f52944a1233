/**
 * A daemon that answers at once: the requests `docker run --rm` and
 * `docker exec` make, with canned responses and no container behind them.
 * Timing the docker CLI against it gives the part of a row that is the
 * client's own (its start-up, its round trips): no daemon can go below it.
 *
 *   node --import tsx bench/canned-daemon.ts SOCKET
 */
import { createServer, type Socket } from "node:net";
import { rmSync } from "node:fs";

const HEADERS = "Api-Version: 1.44\r\nDocker-Experimental: false\r\nOstype: linux\r\nServer: Docker/28.0.0 (linux)\r\n";
const CONTAINER = JSON.stringify({
  Id: "c0ffee",
  Name: "/canned",
  State: { Status: "running", Running: true, Paused: false, Restarting: false, Pid: 1, ExitCode: 0 },
  Config: { Tty: false, OpenStdin: false, AttachStdout: true, AttachStderr: true, Cmd: ["true"], Image: "busybox" },
  HostConfig: { AutoRemove: true, NetworkMode: "none" },
});

function json(status: string, body: string): string {
  return `HTTP/1.1 ${status}\r\n${HEADERS}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/** The answer to one request line; an upgrade ends the connection after the 101, as a finished stream would. */
function answer(line: string): { reply: string; end?: boolean } {
  const [method, target = ""] = line.split(" ");
  const p = target.replace(/^\/v[\d.]+/, "").split("?")[0]!;
  if (p === "/_ping") return { reply: json("200 OK", method === "HEAD" ? "" : "OK") };
  const upgraded = (type: string): { reply: string; end: boolean } => ({
    reply: `HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.${type}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n${HEADERS}\r\n`,
    end: true,
  });
  if (method === "POST" && p === "/containers/create") return { reply: json("201 Created", '{"Id":"c0ffee","Warnings":[]}') };
  if (method === "POST" && /^\/containers\/[^/]+\/attach$/.test(p)) return upgraded("multiplexed-stream");
  if (method === "POST" && /^\/containers\/[^/]+\/wait$/.test(p)) return { reply: json("200 OK", '{"StatusCode":0,"Error":null}') };
  if (method === "POST" && /^\/containers\/[^/]+\/start$/.test(p)) return { reply: `HTTP/1.1 204 No Content\r\n${HEADERS}\r\n` };
  if (method === "GET" && /^\/containers\/[^/]+\/json$/.test(p)) return { reply: json("200 OK", CONTAINER) };
  if (method === "POST" && /^\/containers\/[^/]+\/exec$/.test(p)) return { reply: json("201 Created", '{"Id":"e0"}') };
  if (method === "POST" && /^\/exec\/[^/]+\/start$/.test(p)) return upgraded("raw-stream");
  if (method === "GET" && /^\/exec\/[^/]+\/json$/.test(p)) return { reply: json("200 OK", '{"ID":"e0","Running":false,"ExitCode":0,"Pid":0}') };
  return { reply: json("404 Not Found", '{"message":"not canned"}') };
}

function serve(socket: Socket): void {
  let buf = "";
  socket.on("error", () => {});
  socket.on("data", (chunk) => {
    buf += chunk.toString("latin1");
    for (;;) {
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = buf.slice(0, end);
      const length = Number(/^content-length:\s*(\d+)/im.exec(head)?.[1] ?? 0);
      if (buf.length < end + 4 + length) return;
      buf = buf.slice(end + 4 + length);
      const { reply, end: close } = answer(head.split("\r\n")[0]!);
      if (close) {
        socket.end(reply);
        return;
      }
      socket.write(reply);
    }
  });
}

const path = process.argv[2];
if (!path) {
  process.stderr.write("usage: canned-daemon SOCKET\n");
  process.exit(2);
}
rmSync(path, { force: true });
createServer(serve).listen(path, () => process.stdout.write("ready\n"));
