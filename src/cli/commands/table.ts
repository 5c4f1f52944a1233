/**
 * hako's command tree with docker's names: management commands (image,
 * container, ...) and the top-level shortcuts that are the same commands
 * (`hako images` is `hako image ls`, `hako ps` is `hako container ls`).
 * Commands without run() are listed, documented, and answer "not
 * implemented yet" until their issue lands.
 */
import type { CliCommand, TopLevelEntry } from "./command.ts";
import { bootstrap } from "./image/bootstrap.ts";
import { build } from "./image/build.ts";
import { builderPrune } from "./image/builder-prune.ts";
import { history } from "./image/history.ts";
import { importCmd } from "./image/import.ts";
import { imageInspect } from "./image/inspect.ts";
import { inspect } from "./inspect.ts";
import { imageLs } from "./image/list.ts";
import { load } from "./image/load.ts";
import { imagePrune } from "./image/prune.ts";
import { pull } from "./image/pull.ts";
import { push } from "./image/push.ts";
import { imageRm } from "./image/remove.ts";
import { save } from "./image/save.ts";
import { tag } from "./image/tag.ts";
import { info } from "./info.ts";
import { login, logout } from "./registry/login.ts";
import { search } from "./registry/search.ts";
import { version } from "./version.ts";
import {
  attach,
  commit,
  containerInspect,
  containerLs,
  containerPrune,
  containerRm,
  cp,
  create,
  diff,
  exec,
  exportCmd,
  kill,
  logs,
  pause,
  port,
  rename,
  restart,
  run,
  start,
  stats,
  stop,
  top,
  unpause,
  update,
  wait,
} from "./container/index.ts";
import { df, events, systemPrune } from "./system/index.ts";
import { volume } from "./volume/index.ts";
import { network } from "./network/index.ts";

// image

const builder: CliCommand = {
  name: "builder",
  usage: "COMMAND",
  summary: "Manage builds",
  subcommands: [build, builderPrune],
};

const container: CliCommand = {
  name: "container",
  usage: "COMMAND",
  summary: "Manage containers",
  subcommands: [attach, commit, cp, create, diff, exec, exportCmd, containerInspect, kill, logs, containerLs, pause, port, containerPrune, rename, restart, containerRm, run, start, stats, stop, top, unpause, update, wait],
};

const image: CliCommand = {
  name: "image",
  usage: "COMMAND",
  summary: "Manage images",
  subcommands: [bootstrap, build, history, importCmd, imageInspect, load, imageLs, imagePrune, pull, push, imageRm, save, tag],
};

const system: CliCommand = {
  name: "system",
  usage: "COMMAND",
  summary: "Manage hako",
  subcommands: [df, events, info, systemPrune],
};

/** The top of the command line, in docker's groups and order. */
export const TOP_LEVEL: TopLevelEntry[] = [
  { name: "run", group: "common", command: run },
  { name: "exec", group: "common", command: exec },
  { name: "ps", group: "common", command: containerLs },
  { name: "build", group: "common", command: build },
  { name: "pull", group: "common", command: pull },
  { name: "push", group: "common", command: push },
  { name: "images", group: "common", command: imageLs },
  { name: "login", group: "common", command: login },
  { name: "logout", group: "common", command: logout },
  { name: "search", group: "common", command: search },
  { name: "version", group: "common", command: version },
  { name: "info", group: "common", command: info },
  { name: "builder", group: "management", command: builder },
  { name: "container", group: "management", command: container },
  { name: "image", group: "management", command: image },
  { name: "network", group: "management", command: network },
  { name: "system", group: "management", command: system },
  { name: "volume", group: "management", command: volume },
  { name: "attach", group: "commands", command: attach },
  { name: "commit", group: "commands", command: commit },
  { name: "cp", group: "commands", command: cp },
  { name: "create", group: "commands", command: create },
  { name: "diff", group: "commands", command: diff },
  { name: "events", group: "commands", command: events },
  { name: "export", group: "commands", command: exportCmd },
  { name: "history", group: "commands", command: history },
  { name: "import", group: "commands", command: importCmd },
  { name: "inspect", group: "commands", command: inspect },
  { name: "kill", group: "commands", command: kill },
  { name: "load", group: "commands", command: load },
  { name: "logs", group: "commands", command: logs },
  { name: "pause", group: "commands", command: pause },
  { name: "port", group: "commands", command: port },
  { name: "rename", group: "commands", command: rename },
  { name: "restart", group: "commands", command: restart },
  { name: "rm", group: "commands", command: containerRm },
  { name: "rmi", group: "commands", command: imageRm },
  { name: "save", group: "commands", command: save },
  { name: "start", group: "commands", command: start },
  { name: "stats", group: "commands", command: stats },
  { name: "stop", group: "commands", command: stop },
  { name: "tag", group: "commands", command: tag },
  { name: "top", group: "commands", command: top },
  { name: "unpause", group: "commands", command: unpause },
  { name: "update", group: "commands", command: update },
  { name: "wait", group: "commands", command: wait },
];

/** Every path that reaches `command` ("hako image ls", "hako image list", "hako images"). */
export function pathsOf(command: CliCommand): string[] {
  const paths: string[] = [];
  for (const entry of TOP_LEVEL) {
    for (const sub of entry.command.subcommands ?? []) {
      if (sub === command) for (const n of [sub.name, ...(sub.aliases ?? [])]) paths.push(`hako ${entry.name} ${n}`);
    }
  }
  for (const entry of TOP_LEVEL) if (entry.command === command) paths.push(`hako ${entry.name}`);
  return paths;
}
