/** hako version: the client's and the daemon's versions, laid out as `docker version`. */
import { API_VERSION, buildInfo } from "../../api/version.ts";
import { VERSION_TABWRITER, checkFormat, renderFormat, tabwrite } from "../output.ts";
import { goStruct } from "../template/index.ts";
import { FORMAT_FLAG, type CliCommand } from "./command.ts";
import { daemonAnswer } from "./daemon-answer.ts";

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** An RFC 3339 time in Go's time.ANSIC layout, local time ("Fri May 30 12:07:14 2025"); unparsable input as it is. */
export function ansicDate(value: string): string {
  const d = new Date(value);
  if (value === "" || Number.isNaN(d.getTime())) return value;
  const p2 = (n: number): string => String(n).padStart(2, "0");
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, " ")} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${d.getFullYear()}`;
}

interface ServerComponent {
  Name: string;
  Version: string;
  Details?: Record<string, string> | null;
}

interface ServerVersion {
  Platform?: { Name?: string };
  Components?: ServerComponent[];
  Version?: string;
  ApiVersion?: string;
  MinAPIVersion?: string;
  GitCommit?: string;
  GoVersion?: string;
  Os?: string;
  Arch?: string;
  KernelVersion?: string;
  Experimental?: boolean;
  BuildTime?: string;
}

/** The client's part of version (docker's clientVersion); `info` shows it without the API version. */
export function clientSection(apiVersion: string): Record<string, unknown> {
  const b = buildInfo();
  return goStruct({
    Platform: { Name: "hako" },
    Version: b.version,
    APIVersion: apiVersion,
    DefaultAPIVersion: API_VERSION,
    GitCommit: b.gitCommit,
    GoVersion: b.runtimeVersion,
    Os: b.os,
    Arch: b.arch,
    BuildTime: ansicDate(b.buildTime),
    Context: "default",
  }, "system.clientVersion", jsonView);
}

function serverSection(v: ServerVersion): Record<string, unknown> {
  const components = (v.Components ?? []).map((c) => {
    if (c.Name !== "Engine" || !c.Details?.BuildTime) return c;
    return { ...c, Details: { ...c.Details, BuildTime: ansicDate(c.Details.BuildTime) } };
  });
  // types.Version's field order; its json omits an empty MinAPIVersion, KernelVersion, BuildTime and a false Experimental.
  return goStruct(
    {
      Platform: { Name: v.Platform?.Name ?? "" },
      Components: components,
      Version: v.Version ?? "",
      APIVersion: v.ApiVersion ?? "",
      MinAPIVersion: v.MinAPIVersion ?? "",
      GitCommit: v.GitCommit ?? "",
      GoVersion: v.GoVersion ?? "",
      Os: v.Os ?? "",
      Arch: v.Arch ?? "",
      KernelVersion: v.KernelVersion ?? "",
      Experimental: v.Experimental ?? false,
      BuildTime: v.BuildTime ?? "",
    },
    "*types.Version",
    (section) => {
      const out = jsonView(section);
      for (const k of ["MinAPIVersion", "KernelVersion", "Experimental", "BuildTime"]) if (!out[k]) delete out[k];
      return out;
    },
  );
}

/** The JSON spelling of the sections (docker's json tags: ApiVersion, not APIVersion), in docker's field order. */
function jsonView(section: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(section)) out[k === "APIVersion" ? "ApiVersion" : k] = v;
  return out;
}

function defaultLayout(client: Record<string, unknown>, server: Record<string, unknown> | null): string {
  const c = client as Record<string, string>;
  let text = `Client: ${(client.Platform as { Name: string }).Name}\n`;
  text += ` Version:\t${c.Version}\n`;
  text += ` API version:\t${c.APIVersion}${c.APIVersion !== c.DefaultAPIVersion ? ` (downgraded from ${c.DefaultAPIVersion})` : ""}\n`;
  text += ` Go version:\t${c.GoVersion}\n`;
  text += ` Git commit:\t${c.GitCommit}\n`;
  text += ` Built:\t${c.BuildTime}\n`;
  text += ` OS/Arch:\t${c.Os}/${c.Arch}\n`;
  text += ` Context:\t${c.Context}\n`;
  if (server) {
    const platform = (server.Platform as { Name: string }).Name;
    text += `\nServer:${platform ? ` ${platform}` : ""}\n`;
    for (const comp of server.Components as ServerComponent[]) {
      const d = comp.Details ?? {};
      text += ` ${comp.Name}:\n`;
      if (comp.Name === "Engine") {
        text += `  Version:\t${comp.Version}\n`;
        text += `  API version:\t${d.ApiVersion ?? ""} (minimum version ${d.MinAPIVersion ?? ""})\n`;
        text += `  Go version:\t${d.GoVersion ?? ""}\n`;
        text += `  Git commit:\t${d.GitCommit ?? ""}\n`;
        text += `  Built:\t${d.BuildTime ?? ""}\n`;
        text += `  OS/Arch:\t${d.Os ?? ""}/${d.Arch ?? ""}\n`;
        text += `  Experimental:\t${d.Experimental ?? ""}\n`;
      } else {
        text += `  Version:\t${comp.Version}\n`;
        for (const key of Object.keys(d).sort()) text += `  ${key}:\t${d[key]}\n`;
      }
    }
  }
  return tabwrite(text, VERSION_TABWRITER);
}

export const version: CliCommand = {
  name: "version",
  usage: "[OPTIONS]",
  summary: "Show the hako version information",
  flags: [FORMAT_FLAG],
  args: [0, 0],
  async run(ctx, flags) {
    const format = flags.format as string | undefined;
    // docker's version template is named "version" and its failures are Go's own words.
    const formatOptions = { name: "version", plainExecuteErrors: true };
    if (format) checkFormat(format, formatOptions);
    const client = ctx.client();
    let apiVersion = API_VERSION;
    const { answer, failure } = await daemonAnswer(async () => {
      apiVersion = await client.apiVersion();
      return serverSection(await client.json<ServerVersion>("GET", "/version"));
    });
    const server = answer ?? null;
    const clientInfo = clientSection(apiVersion);
    if (format) ctx.out(renderFormat(format, goStruct({ Client: clientInfo, Server: server }, "system.versionInfo"), formatOptions));
    else ctx.out(defaultLayout(clientInfo, server));
    if (failure !== undefined) throw failure;
    return 0;
  },
};
