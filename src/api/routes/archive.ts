/**
 * Archive endpoints (swagger tag "Archive") and the container filesystem
 * ones beside them: docker cp (HEAD/GET/PUT /containers/{id}/archive),
 * export, changes (docker diff) and POST /commit.
 *
 * Tars stream both ways: a GET's tar goes out as the helper writes it (a
 * failure after the headers can only cut the connection, as dockerd's does);
 * a PUT's body goes to the helper as it arrives.
 */
import type { Readable } from "node:stream";
import { InvalidArgumentError, errorMessage } from "../../common/errors.ts";
import type { ArchiveService, PathStat } from "../../engine/archive.ts";
import type { ContainerConfig } from "../../spec/docker-api.ts";
import { readJson } from "../body.ts";
import { requireService } from "../context.ts";
import { boolParam, boolParamOr } from "../query.ts";
import { json, noContent } from "../response.ts";
import type { ApiCall, Router } from "../router.ts";

/** Registers the archive routes on `router`. */
export function registerArchiveRoutes(router: Router): void {
  router
    .add("HEAD", "/containers/{id}/archive", statPath)
    .add("GET", "/containers/{id}/archive", getArchive)
    .add("PUT", "/containers/{id}/archive", putArchive)
    .add("GET", "/containers/{id}/export", exportContainer)
    .add("GET", "/containers/{id}/changes", changes)
    .add("POST", "/commit", commit);
}

function archive(call: ApiCall): ArchiveService {
  return requireService(call.ctx, "archive");
}

const STAT_HEADER = "X-Docker-Container-Path-Stat";

function statHeader(stat: PathStat): string {
  return Buffer.from(JSON.stringify(stat)).toString("base64");
}

/** Sends a tar as the body; a failure once it flows cuts the connection (the client sees a short archive). */
function sendTar(call: ApiCall, tar: Readable, headers: Record<string, string> = {}): Promise<void> {
  const { res } = call;
  res.statusCode = 200;
  res.setHeader("Content-Type", "application/x-tar");
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  return new Promise((resolve) => {
    tar.on("error", (err) => {
      call.ctx.log.warn("archive stream failed", { method: call.req.method, path: call.path, error: errorMessage(err) });
      res.destroy(err);
      resolve();
    });
    tar.on("end", resolve);
    // A client that went away: stop the helper.
    res.on("close", () => {
      if (!tar.readableEnded) tar.destroy();
      resolve();
    });
    tar.pipe(res);
  });
}

/** HEAD /containers/{id}/archive?path=: the stat header only. */
async function statPath(call: ApiCall): Promise<void> {
  const stat = await archive(call).statPath(call.params.id!, call.query.get("path") ?? "");
  call.res.setHeader(STAT_HEADER, statHeader(stat));
  noContent(call.res, 200);
}

/** GET /containers/{id}/archive?path=: a tar of the path, its stat in the header. */
async function getArchive(call: ApiCall): Promise<void> {
  const { stat, tar } = await archive(call).getArchive(call.params.id!, call.query.get("path") ?? "");
  if (call.req.method === "HEAD") {
    tar.destroy();
    call.res.setHeader(STAT_HEADER, statHeader(stat));
    noContent(call.res, 200);
    return;
  }
  await sendTar(call, tar, { [STAT_HEADER]: statHeader(stat) });
}

/** PUT /containers/{id}/archive?path=&noOverwriteDirNonDir=&copyUIDGID=: the body (a tar) extracted under path. */
async function putArchive(call: ApiCall): Promise<void> {
  const { req } = call;
  try {
    await archive(call).putArchive(call.params.id!, call.query.get("path") ?? "", req, {
      noOverwriteDirNonDir: boolParam(call.query, "noOverwriteDirNonDir"),
      copyUIDGID: boolParam(call.query, "copyUIDGID"),
    });
  } catch (err) {
    // What the extraction did not read is read and dropped, so the error can be answered.
    if (!req.readableEnded) req.resume();
    throw err;
  }
  noContent(call.res, 200);
}

/** GET /containers/{id}/export. */
async function exportContainer(call: ApiCall): Promise<void> {
  const tar = archive(call).exportContainer(call.params.id!);
  await sendTar(call, tar);
  const c = call.ctx.services.containers?.store.find(call.params.id!);
  if (c) call.ctx.services.containers!.publish("export", c);
}

/** GET /containers/{id}/changes. */
async function changes(call: ApiCall): Promise<void> {
  json(call.res, 200, await archive(call).changes(call.params.id!));
}

/** POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=: body an optional Config. */
async function commit(call: ApiCall): Promise<void> {
  const body = await readJson<unknown>(call.req, { optional: true });
  if (body !== undefined && body !== null && (typeof body !== "object" || Array.isArray(body))) {
    throw new InvalidArgumentError("the request body must be a container Config object");
  }
  const q = call.query;
  const opt = (name: string): string | undefined => q.get(name) || undefined;
  const id = await archive(call).commit(q.get("container") ?? "", {
    repo: opt("repo"),
    tag: opt("tag"),
    comment: opt("comment"),
    author: opt("author"),
    pause: boolParamOr(q, "pause", true),
    changes: q.getAll("changes"),
    ...(body ? { config: body as ContainerConfig } : {}),
  });
  json(call.res, 201, { Id: id });
}
