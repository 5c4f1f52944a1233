/**
 * The classic Dockerfile builder (moby builder/dockerfile): stages run
 * instruction by instruction, each step making an image whose parent is
 * the previous step's, so the step cache is a look-up among an image's
 * children. Metadata steps only write a new config (an `empty_layer`
 * history entry); RUN runs in an intermediate container made through the
 * container service and commits its layer; COPY, ADD and WORKDIR put files
 * into a container that never starts and commit that layer. The history
 * strings are dockerd's (`/bin/sh -c #(nop)  CMD ["x"]`, `|1 A=b /bin/sh -c
 * ...`), so `docker history` reads the same.
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, rmSync } from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import type { Logger } from "../api/context.ts";
import { FailedPreconditionError, HakoError, InvalidArgumentError, NotFoundError, errorMessage } from "../common/errors.ts";
import type { ArchiveService } from "../engine/archive.ts";
import type { ContainerService } from "../engine/containers.ts";
import { chainIds, shortId } from "../image/ids.ts";
import { familiarString, normalize } from "../image/reference.ts";
import type { ImageService } from "../image/service.ts";
import type { ImageRecord } from "../image/image-store.ts";
import type { AuthConfig, ContainerCreateRequest, HostConfig, JSONMessage } from "../spec/docker-api.ts";
import type { RegistryOptions } from "../image/distribution.ts";
import { baseImage } from "./base-image.ts";
import type { History, ImageConfig, ImageRuntimeConfig } from "../spec/oci-image.ts";
import { BuildArgs } from "./build-args.ts";
import { openContext, type BuildContext } from "./context.ts";
import { contextSourceTar, directoryTar, isArchive, resolveContextSources, retargetTar, sourceHash, type ContextSource } from "./copy.ts";
import { parseDockerfile, parseInstruction, type Instruction } from "./dockerfile.ts";
import { applyConfigStep, commandLine, CONFIG_INSTRUCTIONS, DEFAULT_SHELL } from "./config-step.ts";
import { joinRel, labelInstruction, mapEnv, normalizeDest, splitArg, splitStages, stableJson, type Stage } from "./instructions.ts";
import { emptyLayerStream } from "./layer.ts";
import { withImageView } from "./image-view.ts";
import { rootfsGetTar, rootfsStat } from "../native/tools.ts";
import { decompressed } from "../image/compression.ts";
import { envFromList, processWord, type Env } from "./shell-lex.ts";
import { nowRfc3339Nano } from "../common/time.ts";

export interface BuildOptions {
  tags: string[];
  dockerfile: string;
  buildArgs: Record<string, string | null>;
  labels: Record<string, string>;
  noCache: boolean;
  remove: boolean;
  forceRemove: boolean;
  target?: string;
  /** Pull FROM images again (only ever from registries on this machine). */
  pull: boolean;
  /** X-Registry-Config: credentials by registry host. */
  auths?: Record<string, AuthConfig>;
  /** What intermediate containers run with (networkmode, extrahosts, shmsize, memory, cpu...). */
  hostConfig: HostConfig;
  platform?: string;
}

/** Where the build's messages go: text lines (the `stream` of the JSON messages) and the image ID (aux). */
export interface BuildOutput {
  write(text: string): void;
  aux(id: string): void;
  /** A pull's progress messages (FROM an image of a local registry). */
  progress(message: JSONMessage): void;
}

/** A RUN that exited non-zero: dockerd's JSONError, with its code. */
export class BuildStepError extends HakoError {
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super("ERR_FAILED_PRECONDITION", message);
    this.exitCode = exitCode;
  }
}

export interface BuilderOptions {
  images: ImageService;
  containers: ContainerService;
  archive: ArchiveService;
  /** Where build contexts are extracted (under the data root). */
  tmpRoot: string;
  log: Logger;
  /** How FROM reaches a registry on this machine for an image that is not here. */
  registry?: RegistryOptions;
}


/** Go's os.FileMode type bits, as statPath reports them. */
const GO_MODE_DIR = 2 ** 31;
const GO_MODE_SYMLINK = 2 ** 27;

const FLAGLESS = new Set(["ENV", "LABEL", "MAINTAINER", "ARG", "CMD", "ENTRYPOINT", "EXPOSE", "USER", "VOLUME", "STOPSIGNAL", "SHELL", "ONBUILD", "WORKDIR"]);

/** One stage's dispatch state (moby's dispatchState). */
interface State {
  /** The current image ("" for FROM scratch before any step). */
  imageId: string;
  /** The current image's config (a bare one for scratch). */
  image: ImageConfig;
  runConfig: ImageRuntimeConfig;
  buildArgs: BuildArgs;
  cmdSet: boolean;
  maintainer?: string;
}

interface BuildRun {
  ctx: BuildContext;
  options: BuildOptions;
  out: BuildOutput;
  escape: string;
  stages: { name?: string; imageId: string }[];
  /** Containers this build made and has not removed yet. */
  containers: Set<string>;
  /** Intermediate containers of the current step that rm/forcerm remove (and report). */
  stepContainers: string[];
  /** The empty image containers of a scratch stage stand on, made on first use. */
  scratchBase?: string;
  signal: AbortSignal;
}

export class Builder {
  private readonly images: ImageService;
  private readonly containers: ContainerService;
  private readonly archive: ArchiveService;
  private readonly tmpRoot: string;
  private readonly log: Logger;
  private readonly registry: RegistryOptions | undefined;

  constructor(options: BuilderOptions) {
    this.registry = options.registry;
    this.images = options.images;
    this.containers = options.containers;
    this.archive = options.archive;
    this.tmpRoot = options.tmpRoot;
    this.log = options.log;
  }

  /** Builds the Dockerfile of the context tar; resolves with the image ID (tagged as asked). */
  async build(context: Readable, options: BuildOptions, out: BuildOutput, signal: AbortSignal): Promise<string> {
    const tags = options.tags.map((t) => {
      const repo = t.replace(/(:[\w][\w.-]*|@.*)$/, "");
      if (repo !== repo.toLowerCase()) throw new InvalidArgumentError(`invalid reference format: repository name (${repo}) must be lowercase`);
      const ref = normalize(t);
      if (ref.digest) throw new InvalidArgumentError(`invalid reference format: ${t}: a tag cannot carry a digest`);
      return ref;
    });
    if (options.platform && !/^linux(\/amd64)?$/.test(options.platform) && options.platform !== "linux/x86_64") {
      throw new InvalidArgumentError(`hako builds linux/amd64 images only, not "${options.platform}"`);
    }
    const dir = path.join(this.tmpRoot, `ctx-${randomBytes(8).toString("hex")}`);
    const containers = new Set<string>();
    let run: BuildRun | undefined;
    try {
      const ctx = await openContext(context, dir, options.dockerfile);
      if (ctx.dockerfile.length === 0) throw new InvalidArgumentError(`the Dockerfile (${options.dockerfile || "Dockerfile"}) cannot be empty`);
      const df = parseDockerfile(ctx.dockerfile);
      if (df.instructions.length === 0) throw new InvalidArgumentError("file with no instructions");
      run = { ctx, options, out, escape: df.escape, stages: [], containers, stepContainers: [], signal };
      const { metaArgs, stages } = splitStages(df.instructions);
      let chosen = stages;
      if (options.target) {
        const i = stages.findIndex((s) => s.name === options.target!.toLowerCase());
        if (i < 0) throw new InvalidArgumentError(`target stage "${options.target}" could not be found`);
        chosen = stages.slice(0, i + 1);
      }
      if (chosen.length === 0) throw new InvalidArgumentError("No image was generated. Is your Dockerfile empty?");
      for (const key of Object.keys(options.labels).sort()) {
        chosen.at(-1)!.commands.push(labelInstruction(key, options.labels[key]!));
      }
      const imageId = await this.dispatchAll(run, metaArgs, chosen);
      out.write(`Successfully built ${shortId(imageId)}\n`);
      for (const ref of tags) {
        this.images.images.tag(imageId, ref);
        out.write(`Successfully tagged ${familiarString(ref)}\n`);
      }
      return imageId;
    } finally {
      for (const id of containers) await this.containers.remove(id, { force: true, volumes: true }).catch((err) => this.log.warn("build: remove a container", { id, error: errorMessage(err) }));
      const scratch = run?.scratchBase;
      if (scratch && this.images.containerUsage(scratch).length === 0) this.images.images.delete(scratch);
      rmSync(dir, { recursive: true, force: true });
    }
  }

  private async dispatchAll(run: BuildRun, metaArgs: Instruction[], stages: Stage[]): Promise<string> {
    const { out } = run;
    const total = metaArgs.length + stages.length + stages.reduce((n, s) => n + s.commands.length, 0);
    let step = 1;
    const buildArgs = new BuildArgs(run.options.buildArgs);
    for (const arg of metaArgs) {
      out.write(`Step ${step++}/${total} : ${arg.original}\n`);
      const env = mapEnv(buildArgs.allMeta());
      for (const word of arg.args) {
        const [k, v] = splitArg(processWord(word, env, run.escape));
        buildArgs.addArg(k, v);
        buildArgs.addMetaArg(k, v);
      }
    }
    let state: State | undefined;
    for (const stage of stages) {
      if (stage.name && run.stages.some((s) => s.name === stage.name)) throw new InvalidArgumentError(`${stage.name} stage name already used`);
      out.write(`Step ${step++}/${total} : ${stage.from.original}\n`);
      state = await this.from(run, stage, buildArgs.forStage());
      // dockerd prints an empty ID for FROM scratch.
      out.write(` ---> ${state.imageId ? shortId(state.imageId) : ""}\n`);
      for (const cmd of stage.commands) {
        if (run.signal.aborted) {
          out.write("Build cancelled\n");
          throw new FailedPreconditionError("Build cancelled");
        }
        out.write(`Step ${step++}/${total} : ${cmd.original}\n`);
        await this.dispatchStep(run, state, cmd);
        out.write(` ---> ${shortId(state.imageId)}\n`);
      }
      if (state.imageId) out.aux(state.imageId);
      run.stages.push({ name: stage.name, imageId: state.imageId });
    }
    const warning = buildArgs.unusedWarning();
    if (warning) out.write(warning);
    if (!state?.imageId) throw new InvalidArgumentError("No image was generated. Is your Dockerfile empty?");
    return state.imageId;
  }

  /** One instruction, with rm/forcerm applied to its intermediate containers as dockerd does. */
  private async dispatchStep(run: BuildRun, state: State, cmd: Instruction): Promise<void> {
    // dockerd's updateRunConfig: a step's config names the image it was made on.
    if (state.imageId) state.runConfig.Image = state.imageId;
    else delete state.runConfig.Image;
    let ok = false;
    try {
      await this.dispatch(run, state, cmd);
      ok = true;
    } finally {
      if (run.options.forceRemove || (run.options.remove && ok)) {
        for (const id of run.stepContainers) {
          try {
            await this.containers.remove(id, { force: true, volumes: true });
            run.containers.delete(id);
            run.out.write(` ---> Removed intermediate container ${shortId(id)}\n`);
          } catch (err) {
            run.out.write(`Removing intermediate container ${shortId(id)}: ${errorMessage(err)}\n`);
          }
        }
      } else {
        // Kept, as dockerd keeps them (rm=false, or a failed step without forcerm).
        for (const id of run.stepContainers) run.containers.delete(id);
      }
      run.stepContainers = [];
    }
  }

  // ---------------------------------------------------------------- FROM

  private async from(run: BuildRun, stage: Stage, buildArgs: BuildArgs): Promise<State> {
    const words = stage.from.args;
    const baseWord = words[0]!;
    const name = processWord(baseWord, mapEnv(buildArgs.allMeta()), run.escape);
    if (name === "") throw new InvalidArgumentError(`base name (${baseWord}) should not be blank`);
    const unknown = Object.keys(stage.from.flags).find((f) => f !== "platform");
    if (unknown) throw new InvalidArgumentError(`Unknown flag: ${unknown}`);
    const platform = stage.from.flags.platform;
    // An empty expansion (the classic builder has no $BUILDPLATFORM) means the default platform.
    if (platform && !/^(linux(\/(amd64|x86_64))?)?$/.test(processWord(platform, mapEnv(buildArgs.allMeta()), run.escape).toLowerCase())) {
      throw new InvalidArgumentError(`FROM --platform=${platform}: hako builds linux/amd64 images only`);
    }
    let imageId = "";
    let image: ImageConfig;
    const byStage = run.stages.find((s) => s.name !== undefined && s.name === name.toLowerCase());
    if (byStage) imageId = byStage.imageId;
    else if (name !== "scratch") {
      imageId = (await this.baseImage(run, name)).id;
    }
    if (imageId) image = this.images.config(this.images.images.get(imageId)!);
    else image = { architecture: "amd64", os: "linux", config: {}, rootfs: { type: "layers", diff_ids: [] }, history: [] };
    const state: State = { imageId, image, runConfig: structuredClone(image.config ?? {}), buildArgs, cmdSet: false };
    const triggers = state.runConfig.OnBuild ?? [];
    if (triggers.length) {
      state.runConfig.OnBuild = null;
      run.out.write(`# Executing ${triggers.length} build trigger${triggers.length > 1 ? "s" : ""}\n`);
      for (const t of triggers) {
        const cmd = parseInstruction(t, stage.from.line, run.escape);
        await this.dispatchStep(run, state, cmd);
      }
    }
    return state;
  }

  /**
   * The image a container of a scratch stage stands on before the stage has
   * one: empty, this build's own (removed with the build), never a parent.
   */
  private async scratchBase(run: BuildRun): Promise<string> {
    if (run.scratchBase) return run.scratchBase;
    const config: ImageConfig = {
      architecture: "amd64",
      os: "linux",
      config: {},
      rootfs: { type: "layers", diff_ids: [] },
      comment: `hako build scratch ${randomBytes(8).toString("hex")}`,
    };
    run.scratchBase = (await this.images.commitImage(config, [], { source: "build" })).id;
    return run.scratchBase;
  }

  // ---------------------------------------------------------------- dispatch

  private env(state: State): Env {
    const list = state.runConfig.Env ?? [];
    return envFromList([...list, ...state.buildArgs.filterAllowed(list)]);
  }

  private expand(run: BuildRun, state: State, word: string): string {
    return processWord(word, this.env(state), run.escape);
  }

  private async dispatch(run: BuildRun, state: State, cmd: Instruction): Promise<void> {
    // Instructions without flags of their own refuse any (RUN, COPY, ADD, HEALTHCHECK check theirs).
    const unknown = FLAGLESS.has(cmd.name) ? Object.keys(cmd.flags)[0] : undefined;
    if (unknown) throw new InvalidArgumentError(`Unknown flag: ${unknown}`);
    if (cmd.name === "WORKDIR") return this.workdir(run, state, cmd);
    if (CONFIG_INSTRUCTIONS.has(cmd.name)) {
      const comment = applyConfigStep(state, cmd, { env: this.env(state), escape: run.escape, note: (line: string) => run.out.write(`${line}\n`) });
      return this.commitNop(run, state, comment);
    }
    switch (cmd.name) {
      case "MAINTAINER":
        state.maintainer = cmd.args[0]!;
        return this.commitNop(run, state, `MAINTAINER ${state.maintainer}`);
      case "ARG": {
        const env = this.env(state);
        const parts: string[] = [];
        for (const word of cmd.args) {
          const [k, v] = splitArg(processWord(word, env, run.escape));
          state.buildArgs.addArg(k, v);
          parts.push(v === undefined ? k : `${k}=${v}`);
        }
        return this.commitNop(run, state, `ARG ${parts.join(" ")}`);
      }
      case "RUN":
        return this.runStep(run, state, cmd);
      case "COPY":
      case "ADD":
        return this.copyStep(run, state, cmd);
      case "FROM":
        throw new InvalidArgumentError(`FROM is not allowed here (line ${cmd.line})`);
      default:
        throw new InvalidArgumentError(`unknown instruction: ${cmd.name}`);
    }
  }

  private shell(state: State): string[] {
    return state.runConfig.Shell?.length ? [...state.runConfig.Shell] : [...DEFAULT_SHELL];
  }

  /** withCmdComment: the two-word `#(nop) ` comment of metadata steps. */
  private nopCreatedBy(state: State, comment: string): string {
    return [...this.shell(state), "#(nop) ", comment].join(" ");
  }

  /** withCmdCommentString: the one-word comment of WORKDIR, COPY and ADD. */
  private nopCreatedByString(state: State, comment: string): string {
    return [...this.shell(state), `#(nop) ${comment}`].join(" ");
  }

  // ---------------------------------------------------------------- cache and commit

  /** A child of the current image made by the same step: its ID (" ---> Using cache"), else undefined. */
  private probeCache(run: BuildRun, state: State, createdBy: string): string | undefined {
    if (run.options.noCache) return undefined;
    const want = stableJson(state.runConfig);
    const depth = (state.image.history ?? []).length + 1;
    // A scratch stage's first step has no parent: its candidates are the builds' parentless images.
    const candidates = state.imageId ? this.images.images.children(state.imageId) : this.images.images.list().filter((r) => !r.parent && r.source === "build");
    for (const child of candidates) {
      let config: ImageConfig;
      try {
        config = this.images.config(child);
      } catch {
        continue;
      }
      const history = config.history ?? [];
      if (history.length !== depth || history.at(-1)?.created_by !== createdBy) continue;
      if (stableJson(config.config ?? {}) !== want) continue;
      if ((state.maintainer ?? undefined) !== (config.author ?? undefined)) continue;
      run.out.write(" ---> Using cache\n");
      state.imageId = child.id;
      state.image = config;
      state.runConfig = structuredClone(config.config ?? {});
      return child.id;
    }
    return undefined;
  }

  private async commitNop(run: BuildRun, state: State, comment: string): Promise<void> {
    const createdBy = this.nopCreatedBy(state, comment);
    if (this.probeCache(run, state, createdBy)) return;
    await this.commit(state, createdBy, undefined);
  }

  /** A new image: the current one plus `layer` (or an empty-layer history entry), with the stage's config. */
  private async commit(state: State, createdBy: string, layer: { diffId: string; blob: NonNullable<ImageRecord["layers"][number]["blob"]>; size: number } | undefined): Promise<void> {
    const parent = state.imageId ? this.images.images.get(state.imageId) : undefined;
    const base = state.image;
    const created = nowRfc3339Nano();
    const entry: History = { created, created_by: createdBy };
    if (state.maintainer) entry.author = state.maintainer;
    if (!layer) entry.empty_layer = true;
    const config: ImageConfig = {
      architecture: base.architecture,
      os: base.os,
      ...(base.variant ? { variant: base.variant } : {}),
      ...(state.maintainer ? { author: state.maintainer } : {}),
      config: structuredClone(state.runConfig),
      container_config: { ...structuredClone(state.runConfig), Cmd: createdBy.split(" ") },
      created,
      docker_version: "hako",
      rootfs: { type: "layers", diff_ids: [...base.rootfs.diff_ids, ...(layer ? [layer.diffId] : [])] },
      history: [...(base.history ?? []), entry],
    };
    const parentLayers = parent?.layers ?? [];
    const chains = chainIds(parentLayers.map((l) => l.diffId));
    const layers = parentLayers.map((l, i) => ({ diffId: l.diffId, blob: l.blob, size: this.images.layers.has(chains[i]!) ? this.images.layers.contentSize(chains[i]!) : 0 }));
    if (layer) layers.push(layer);
    const record = await this.images.commitImage(config, layers, { ...(parent ? { parent: parent.id } : {}), source: "build" });
    state.imageId = record.id;
    state.image = config;
  }

  /** The container's changes as a layer on the current image, or undefined when it changed nothing. */
  private async commitContainer(state: State, containerId: string, createdBy: string): Promise<void> {
    const record = state.imageId ? this.images.images.get(state.imageId) : undefined;
    const diff = await emptyLayerStream(this.images.layers.snapshotter.diff(containerId));
    if (!diff) return this.commit(state, createdBy, undefined);
    const layer = await this.images.addLayer(diff, record ? this.images.topChainId(record) : undefined);
    await this.commit(state, createdBy, { diffId: layer.diffId, blob: layer.blob, size: layer.contentSize });
  }

  /** An intermediate container on an image ("" for a scratch stage's), never started unless the step runs it. */
  private async createContainer(run: BuildRun, state: Pick<State, "imageId" | "runConfig">, config: Partial<ContainerCreateRequest>, report: boolean): Promise<string> {
    const body: ContainerCreateRequest = {
      ...structuredClone(state.runConfig),
      OnBuild: null,
      ...config,
      Image: state.imageId || (await this.scratchBase(run)),
      HostConfig: { ...run.options.hostConfig },
    } as ContainerCreateRequest;
    const { Id, Warnings } = await this.containers.create(body);
    run.containers.add(Id);
    if (report) {
      run.stepContainers.push(Id);
      for (const w of Warnings ?? []) run.out.write(` ---> [Warning] ${w}\n`);
      run.out.write(` ---> Running in ${shortId(Id)}\n`);
    }
    return Id;
  }

  /** Removes a container only this step used (COPY's, a --from source's). */
  private async dropContainer(run: BuildRun, id: string): Promise<void> {
    await this.containers.remove(id, { force: true, volumes: true });
    run.containers.delete(id);
  }

  // ---------------------------------------------------------------- WORKDIR

  private async workdir(run: BuildRun, state: State, cmd: Instruction): Promise<void> {
    const createdBy = this.nopCreatedByString(state, applyConfigStep(state, cmd, { env: this.env(state), escape: run.escape }));
    const workdir = state.runConfig.WorkingDir!;
    if (this.probeCache(run, state, createdBy)) return;
    // Made here rather than by the container service: a file in the way is an error, not shadowed by a directory.
    const id = await this.createContainer(run, state, { Cmd: createdBy.split(" "), Entrypoint: null, WorkingDir: "" }, true);
    let isDir: boolean | undefined;
    try {
      const st = await this.archive.statPath(id, workdir);
      isDir = (st.mode & GO_MODE_DIR) !== 0 || ((st.mode & GO_MODE_SYMLINK) !== 0 && (await this.isDirectory(id, `${workdir}/`)));
    } catch (err) {
      if (!(HakoError.is(err) && err.code === "ERR_NOT_FOUND")) throw err;
    }
    if (isDir === false) throw new InvalidArgumentError(`mkdir ${workdir}: not a directory`);
    if (isDir === undefined) await this.archive.putArchive(id, "/", directoryTar(workdir.replace(/^\/+/, "")));
    await this.commitContainer(state, id, createdBy);
  }

  // ---------------------------------------------------------------- RUN

  private async runStep(run: BuildRun, state: State, cmd: Instruction): Promise<void> {
    const flag = Object.keys(cmd.flags)[0];
    if (flag) throw new InvalidArgumentError(`the --${flag} option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled`);
    const rc = state.runConfig;
    const argv = commandLine(state.runConfig, cmd);
    const buildEnv = state.buildArgs.filterAllowed(rc.Env ?? []);
    let saveCmd = argv;
    if (buildEnv.length) {
      const shown = buildEnv.filter((e) => state.buildArgs.isReferencedOrNotBuiltin(e.split("=", 1)[0]!)).sort();
      saveCmd = [`|${shown.length}`, ...shown, ...argv];
    }
    const createdBy = saveCmd.join(" ");
    if (this.probeCache(run, state, createdBy)) return;

    const id = await this.createContainer(
      run,
      state,
      { Cmd: argv, Entrypoint: [""], Env: [...(rc.Env ?? []), ...buildEnv], Healthcheck: { Test: ["NONE"] }, AttachStdout: true, AttachStderr: true },
      true,
    );
    const status = await this.runContainer(run, id);
    if (status !== 0) throw new BuildStepError(`The command '${argv.join(" ")}' returned a non-zero code: ${status}`, status);
    await this.commitContainer(state, id, createdBy);
  }

  /** Starts the container with its output going to the build's stream; resolves with its exit status. */
  private async runContainer(run: BuildRun, id: string): Promise<number> {
    const attached = this.containers.attach(id, { stdout: true, stderr: true });
    const onAbort = (): void => void this.containers.remove(id, { force: true }).catch(() => {});
    run.signal.addEventListener("abort", onAbort, { once: true });
    try {
      await this.containers.start(id);
      const conn = await attached;
      const decoder = new TextDecoder();
      conn.onOutput((_stream, data) => {
        const text = decoder.decode(data, { stream: true });
        if (!text) return;
        // Not paused for a slow client: the shim drops an attach client that stops reading, and the output would be lost.
        run.out.write(text);
      });
      await conn.exited;
      conn.close();
      const result = await this.containers.wait(id, "not-running");
      if (run.signal.aborted) throw new FailedPreconditionError("Build cancelled");
      return result.StatusCode;
    } catch (err) {
      attached.then((c) => c.close()).catch(() => {});
      this.containers.cancelAttach(id);
      // A cancelled build removed the container under the step: say so, not "No such container".
      if (run.signal.aborted) throw new FailedPreconditionError("Build cancelled", { cause: err });
      throw err;
    } finally {
      run.signal.removeEventListener("abort", onAbort);
    }
  }

  // ---------------------------------------------------------------- COPY / ADD

  private async copyStep(run: BuildRun, state: State, cmd: Instruction): Promise<void> {
    const isAdd = cmd.name === "ADD";
    for (const f of Object.keys(cmd.flags)) {
      if (!["chown", "chmod", ...(isAdd ? [] : ["from"])].includes(f)) throw new InvalidArgumentError(`Unknown flag: ${f}`);
    }
    const words = cmd.args.map((w) => this.expand(run, state, w));
    const rawDest = words.at(-1)!;
    const sources = words.slice(0, -1);
    const chown = cmd.flags.chown ? this.expand(run, state, cmd.flags.chown) : "";
    let chmod: number | undefined;
    if (cmd.flags.chmod) {
      if (!/^[0-7]{3,4}$/.test(cmd.flags.chmod)) throw new InvalidArgumentError(`invalid chmod parameter: ${cmd.flags.chmod}`);
      chmod = parseInt(cmd.flags.chmod, 8);
    }
    const from = cmd.flags.from ? this.expand(run, state, cmd.flags.from) : "";
    for (const s of sources) {
      if (/^https?:\/\//.test(s)) {
        if (isAdd) throw new InvalidArgumentError(`ADD ${s}: hako builds offline; fetching URLs is not supported`);
        throw new InvalidArgumentError("source can't be a URL for COPY");
      }
    }
    const dest = normalizeDest(state.runConfig.WorkingDir, rawDest);

    let hash: string;
    let found: ContextSource[] = [];
    let sourceImage: string | undefined;
    if (from) {
      sourceImage = await this.fromImage(run, from);
      if (sources.length > 1 && !rawDest.endsWith("/")) {
        throw new InvalidArgumentError(`When using ${cmd.name} with more than one source file, the destination must be a directory and end with a /`);
      }
      const parts: string[] = [];
      for (const s of sources) {
        if (/[*?[]/.test(s)) throw new InvalidArgumentError(`COPY --from=${from} ${s}: wildcards in COPY --from sources are not supported by hako`);
        parts.push(`${sourceImage}\0${path.posix.normalize(`/${s}`)}`);
      }
      hash = `${sources.length === 1 ? "file" : "multi"}:${createHash("sha256").update(parts.join(",")).digest("hex")}`;
    } else {
      try {
        found = resolveContextSources(run.ctx.dir, sources);
      } catch (err) {
        if (!HakoError.is(err)) throw err;
        throw new (err.code === "ERR_NOT_FOUND" ? NotFoundError : InvalidArgumentError)(`${cmd.name} failed: ${err.message}`, { cause: err });
      }
      if (found.length > 1 && !rawDest.endsWith("/")) {
        throw new InvalidArgumentError(`When using ${cmd.name} with more than one source file, the destination must be a directory and end with a /`);
      }
      hash = sourceHash(run.ctx.dir, found);
    }
    const comment = `${cmd.name} ${chown ? `--chown=${chown} ` : ""}${hash} in ${rawDest} `;
    const createdBy = this.nopCreatedByString(state, comment);
    if (this.probeCache(run, state, createdBy)) return;

    const user = chown ? (chown.includes(":") || !/^\d+$/.test(chown) ? chown : `${chown}:${chown}`) : "";
    const id = await this.createContainer(run, state, { Cmd: createdBy.split(" "), Entrypoint: null, User: user }, false);
    try {
      const destIsDir = rawDest.endsWith("/") || (await this.isDirectory(id, dest));
      const destRel = dest.replace(/^\/+/, "").replace(/\/+$/, "");
      if (sourceImage) {
        await this.copyFromImage(id, sourceImage, sources, destRel, destIsDir || sources.length > 1, Boolean(chown), chmod);
      } else {
        for (const src of found) {
          const abs = path.join(run.ctx.dir, src.rel);
          if (isAdd && src.stat.isFile() && (await isArchive(abs))) {
            const tar = await decompressed(createReadStream(abs));
            await this.archive.putArchive(id, "/", retargetTar(tar, (n) => joinRel(destRel, n)), { copyUIDGID: Boolean(chown) });
            continue;
          }
          const target = src.stat.isDirectory() ? { dest: destRel, contentsOf: true } : { dest: destIsDir ? joinRel(destRel, src.name) : destRel, contentsOf: false };
          const tar = contextSourceTar(run.ctx.dir, src, target, { uid: 0, gid: 0, ...(chmod !== undefined ? { mode: chmod } : {}) });
          await this.archive.putArchive(id, "/", tar, { copyUIDGID: Boolean(chown) });
        }
      }
      await this.commitContainer(state, id, createdBy);
    } catch (err) {
      throw new InvalidArgumentError(`${cmd.name} failed: ${errorMessage(err)}`, { cause: err });
    } finally {
      await this.dropContainer(run, id).catch(() => {});
    }
  }

  /** COPY --from's image: a stage by name or index, else an image by reference. */
  private async fromImage(run: BuildRun, from: string): Promise<string> {
    const lower = from.toLowerCase();
    const named = run.stages.find((s) => s.name === lower);
    if (named) return named.imageId;
    if (/^\d+$/.test(from)) {
      const stage = run.stages[Number(from)];
      if (!stage) throw new InvalidArgumentError(`invalid from flag value ${from}: index out of bounds`);
      return stage.imageId;
    }
    try {
      return (await this.baseImage(run, from)).id;
    } catch (err) {
      throw new InvalidArgumentError(`invalid from flag value ${from}: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** An image by reference: local, or pulled from a registry on this machine (base-image.ts). */
  private baseImage(run: BuildRun, name: string): Promise<ImageRecord> {
    return baseImage(this.images, name, {
      ...(this.registry ? { registry: this.registry } : {}),
      ...(run.options.auths ? { auths: run.options.auths } : {}),
      pull: run.options.pull,
      progress: (m) => run.out.progress(m),
      signal: run.signal,
    });
  }

  private async isDirectory(containerId: string, p: string): Promise<boolean> {
    try {
      const st = await this.archive.statPath(containerId, p);
      return (st.mode & GO_MODE_DIR) !== 0;
    } catch {
      return false;
    }
  }

  private async copyFromImage(targetId: string, imageId: string, sources: string[], destRel: string, destIsDir: boolean, chown: boolean, chmod: number | undefined): Promise<void> {
    await withImageView(this.images, imageId, async (loc) => {
      for (const s of sources) {
        let stat;
        try {
          stat = await rootfsStat(loc, s);
        } catch (err) {
          if (HakoError.is(err) && err.code === "ERR_NOT_FOUND") throw new NotFoundError(`failed to compute cache key: "${s}" not found in the source image`, { cause: err });
          throw err;
        }
        const isDir = (stat.mode & 0o170000) === 0o040000;
        // The tar's top entry is the source's base name ("." and "./..." entries for the root).
        const top = stat.name === "/" ? "." : stat.name;
        const target = isDir ? destRel : destIsDir ? joinRel(destRel, top) : destRel;
        const rename = (name: string): string | undefined => {
          if (top === ".") {
            const inner = name.replace(/^\.\/?/, "");
            return inner === "" ? undefined : joinRel(target, inner);
          }
          // A directory's own entry is not copied: its contents go into the destination.
          if (name === top) return isDir ? undefined : target;
          return name.startsWith(`${top}/`) ? joinRel(target, name.slice(top.length + 1)) : undefined;
        };
        const tar = rootfsGetTar(loc, s, top === "." ? { as: "." } : {});
        await this.archive.putArchive(targetId, "/", retargetTar(tar, rename, true, chmod), { copyUIDGID: chown });
      }
    });
  }

}
