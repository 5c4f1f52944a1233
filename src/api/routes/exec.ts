/**
 * Exec endpoints (swagger tag "Exec"): create, start (hijacked: 101 UPGRADED
 * and the raw or multiplexed stream; detached: 200 at once), resize,
 * inspect, over the engine's ExecService.
 */
import type { Duplex, Readable, Writable } from "node:stream";
import { InvalidArgumentError, errorMessage } from "../../common/errors.ts";
import { ExecStartError, checkConsoleSize, type ExecConfig, type ExecService, type ExecSession } from "../../engine/exec.ts";
import { readJsonObject, JSON_BODY_LIMIT } from "../body.ts";
import { requireService } from "../context.ts";
import { json, noContent } from "../response.ts";
import type { ApiCall, Router, UpgradeCall } from "../router.ts";
import { DetachKeyMatcher, parseDetachKeys } from "../attach.ts";
import { StdStream, rawStreamType, writeOutput } from "../stream.ts";
import { PayloadTooLargeError } from "../errors.ts";

/** Registers the exec routes on `router`. */
export function registerExecRoutes(router: Router): void {
  router
    .add("POST", "/containers/{id}/exec", createExec)
    .add("POST", "/exec/{id}/start", startExecPlain)
    .addUpgrade("POST", "/exec/{id}/start", startExecUpgraded)
    .add("POST", "/exec/{id}/resize", resizeExec)
    .add("GET", "/exec/{id}/json", inspectExec);
}

function execService(call: { ctx: ApiCall["ctx"] }): ExecService {
  return requireService(call.ctx, "exec");
}

/** POST /containers/{id}/exec: 201 {Id}. */
async function createExec(call: ApiCall): Promise<void> {
  const exec = execService(call);
  const body = await readJsonObject(call.req);
  // dockerd refuses bad detach keys at create, not when they would be used.
  if (typeof body.DetachKeys === "string") parseDetachKeys(body.DetachKeys);
  const id = exec.create(call.params.id!, body as ExecConfig);
  json(call.res, 201, { Id: id });
}

/** GET /exec/{id}/json: ExecInspectResponse. */
function inspectExec(call: ApiCall): void {
  json(call.res, 200, execService(call).inspect(call.params.id!));
}

/** POST /exec/{id}/resize?h=&w=: both required, as dockerd's strconv.Atoi demands. */
function resizeExec(call: ApiCall): void {
  const exec = execService(call);
  const rows = dimension(call.query, "h");
  const cols = dimension(call.query, "w");
  exec.resize(call.params.id!, rows, cols);
  noContent(call.res, 200);
}

function dimension(query: URLSearchParams, name: string): number {
  const raw = query.get(name) ?? "";
  if (!/^\d+$/.test(raw.trim())) throw new InvalidArgumentError(`invalid ${name === "h" ? "height" : "width"} ${JSON.stringify(raw)}: a non-negative integer is required`);
  const n = Number(raw.trim());
  if (n > 0xffff) throw new InvalidArgumentError(`${name === "h" ? "height" : "width"} ${n} is out of range`);
  return n;
}

/** ExecStartCheck: {Detach, Tty, ConsoleSize}. */
interface StartCheck {
  detach: boolean;
  tty?: boolean;
  consoleSize?: [number, number] | null;
}

function parseStartCheck(body: Record<string, unknown> | undefined): StartCheck {
  const b = body ?? {};
  for (const key of ["Detach", "Tty"] as const) {
    if (b[key] !== undefined && b[key] !== null && typeof b[key] !== "boolean") throw new InvalidArgumentError(`${key} must be a boolean`);
  }
  const size = b.ConsoleSize === undefined || b.ConsoleSize === null ? null : checkConsoleSize(b.ConsoleSize);
  return { detach: b.Detach === true, ...(typeof b.Tty === "boolean" ? { tty: b.Tty } : {}), consoleSize: size };
}

/**
 * POST /exec/{id}/start without an upgrade: detached → 200 at once; else
 * the output in the response body (no stdin), for clients that do not hijack.
 */
async function startExecPlain(call: ApiCall): Promise<void> {
  const exec = execService(call);
  const id = call.params.id!;
  const check = parseStartCheck(await readJsonObject(call.req, { optional: true }));
  exec.checkStartable(id);
  if (check.detach) {
    await exec.start(id, { detach: true, consoleSize: check.consoleSize });
    noContent(call.res, 200);
    return;
  }
  const tty = check.tty ?? exec.isTty(id);
  const res = call.res;
  let session: ExecSession;
  try {
    session = await exec.start(id, { consoleSize: check.consoleSize });
  } catch (err) {
    if (!(err instanceof ExecStartError)) throw err;
    res.statusCode = 200;
    res.setHeader("Content-Type", rawStreamType(tty));
    writeOutput(res, !tty, StdStream.Stdout, Buffer.from(`${err.message}\r\n`));
    res.end();
    return;
  }
  res.statusCode = 200;
  res.setHeader("Content-Type", rawStreamType(tty));
  res.flushHeaders();
  session.stdin?.end();
  call.signal.addEventListener("abort", () => session.kill(), { once: true });
  await pumpOutput(session, res, !tty);
  await session.exited;
  if (!res.writableEnded) res.end();
}

/** POST /exec/{id}/start with Connection: Upgrade: the hijacked stream. */
async function startExecUpgraded(call: UpgradeCall): Promise<void> {
  const exec = execService(call);
  const id = call.params.id!;
  const { body, rest } = await readUpgradeBody(call);
  const check = parseStartCheck(body);
  // Refusals are HTTP answers: before the upgrade.
  exec.checkStartable(id);
  const socket = call.socket;
  if (check.detach) {
    await exec.start(id, { detach: true, consoleSize: check.consoleSize });
    socket.end(`HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    return;
  }
  const tty = check.tty ?? exec.isTty(id);
  const multiplexed = !tty;
  // Stdin that arrives before the process runs waits in the socket.
  socket.pause();
  // The 101 goes once the helper has its plan: its set-up need not wait for this write.
  let upgraded = false;
  const upgrade = (): void => {
    if (upgraded) return;
    upgraded = true;
    call.upgrade(rawStreamType(tty));
  };
  let session: ExecSession;
  try {
    session = await exec.start(id, { consoleSize: check.consoleSize, launched: upgrade });
  } catch (err) {
    upgrade();
    // dockerd writes a start failure into the stream as text (docker exec prints it).
    writeOutput(socket, multiplexed, StdStream.Stdout, Buffer.from(`${errorMessage(err)}\r\n`));
    socket.end();
    return;
  }
  upgrade();
  // The detach keys end the session and leave the process running (TTY with stdin, as dockerd's escape proxy).
  const matcher = tty && session.stdin ? new DetachKeyMatcher(parseDetachKeys(exec.inspect(id).DetachKeys)) : undefined;
  let done = false;
  const detach = (): void => {
    done = true;
    socket.end();
  };
  socket.on("close", () => {
    if (!done) session.kill();
  });
  // The client may have left while the process was being set up.
  if (socket.destroyed) session.kill();
  pumpInput(socket, rest, session.stdin, matcher, detach);
  await pumpOutput(session, socket, multiplexed);
  await session.exited;
  done = true;
  if (!socket.destroyed) socket.end();
}

/** Client → process stdin; the client's half-close closes it. Without AttachStdin the bytes are dropped. */
function pumpInput(socket: Duplex, first: Buffer, stdin: Writable | null, matcher: DetachKeyMatcher | undefined, detach: () => void): void {
  let detached = false;
  const feed = (chunk: Buffer): void => {
    if (detached || !stdin || stdin.destroyed) return;
    let data = chunk;
    if (matcher) {
      const r = matcher.feed(chunk);
      data = r.data;
      if (r.detached) {
        detached = true;
        if (data.length) stdin.write(data);
        detach();
        return;
      }
    }
    if (data.length && !stdin.write(data)) {
      socket.pause();
      stdin.once("drain", () => socket.resume());
    }
  };
  if (first.length) feed(first);
  socket.on("data", feed);
  socket.on("end", () => {
    if (!detached) stdin?.end();
  });
  socket.resume();
}

/** Process stdout/stderr → client (framed when multiplexed), with backpressure; resolves when both ended. */
function pumpOutput(session: ExecSession, out: Writable, multiplexed: boolean): Promise<void> {
  const sources: [Readable, StdStream][] = [];
  if (session.stdout) sources.push([session.stdout, StdStream.Stdout]);
  if (session.stderr) sources.push([session.stderr, StdStream.Stderr]);
  const ended = sources.map(
    ([src, stream]) =>
      new Promise<void>((resolve) => {
        src.on("data", (chunk: Buffer) => {
          if (out.destroyed || out.writableEnded) return;
          if (!writeOutput(out, multiplexed, stream, chunk)) {
            for (const [s] of sources) s.pause();
            out.once("drain", () => {
              for (const [s] of sources) s.resume();
            });
          }
        });
        // Once the client is gone the output is still read (and dropped): a full pipe would stall the process.
        out.once("close", () => src.resume());
        src.on("end", resolve);
        src.on("close", resolve);
        src.on("error", () => resolve());
      }),
  );
  return Promise.all(ended).then(() => undefined);
}

/**
 * The JSON body of a hijack request: Content-Length bytes from `head` and
 * the socket (Node hands an upgrade request over before its body). Bytes
 * beyond it are the client's first stdin.
 */
async function readUpgradeBody(call: UpgradeCall): Promise<{ body: Record<string, unknown> | undefined; rest: Buffer }> {
  const declared = call.req.headers["content-length"];
  const length = declared === undefined ? 0 : Number(declared);
  if (!Number.isInteger(length) || length < 0) throw new InvalidArgumentError(`invalid Content-Length ${JSON.stringify(declared)}`);
  if (length > JSON_BODY_LIMIT) throw new PayloadTooLargeError(`request body of ${length} bytes is too large: the limit is ${JSON_BODY_LIMIT} bytes`);
  let buf = call.head;
  if (buf.length < length) {
    buf = await new Promise<Buffer>((resolve, reject) => {
      const chunks = [call.head];
      let size = call.head.length;
      const cleanup = (): void => {
        call.socket.off("data", onData);
        call.socket.off("end", onEnd);
        call.socket.off("close", onEnd);
      };
      const onData = (chunk: Buffer): void => {
        chunks.push(chunk);
        size += chunk.length;
        if (size >= length) {
          cleanup();
          call.socket.pause();
          resolve(Buffer.concat(chunks));
        }
      };
      const onEnd = (): void => {
        cleanup();
        reject(new InvalidArgumentError("the client closed the connection before sending the whole request body"));
      };
      call.socket.on("data", onData);
      call.socket.on("end", onEnd);
      call.socket.on("close", onEnd);
      call.socket.resume();
    });
  }
  const text = buf.subarray(0, length).toString("utf8");
  const rest = buf.subarray(length);
  if (text.trim() === "") return { body: undefined, rest };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`invalid JSON in the request body: ${(err as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new InvalidArgumentError("the request body must be a JSON object");
  return { body: parsed as Record<string, unknown>, rest };
}
