/**
 * hako images / hako image ls: docker/cli cli/command/image/list.go and
 * formatter/image.go — one row per repository:tag (per digest too with
 * --digests), <none> for untagged images, newest first (the daemon's order).
 */
import { parseReference, familiarName } from "../../../image/reference.ts";
import { GO_TYPE, renderFormat } from "../../template/index.ts";
import { FORMAT_FLAG, type CliCommand } from "../command.ts";
import { filterFlag, filtersJson } from "./common.ts";
import { createdSince, goTimeString, humanSize, humanSizeWithPrecision, truncateId } from "./units.ts";

export interface ImageSummaryWire {
  Id: string;
  ParentId?: string;
  RepoTags: string[] | null;
  RepoDigests: string[] | null;
  Created: number;
  Size: number;
  SharedSize?: number;
  VirtualSize?: number;
  Labels?: Record<string, string> | null;
  Containers?: number;
}

const DEFAULT_TABLE = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}";
const DEFAULT_TABLE_DIGEST = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}";
const RAW = "repository: {{ .Repository }}\ntag: {{.Tag}}\nimage_id: {{.ID}}\ncreated_at: {{.CreatedAt}}\nvirtual_size: {{.Size}}\n";
const RAW_DIGEST = "repository: {{ .Repository }}\ntag: {{.Tag}}\ndigest: {{.Digest}}\nimage_id: {{.ID}}\ncreated_at: {{.CreatedAt}}\nvirtual_size: {{.Size}}\n";

export const IMAGE_HEADERS: Record<string, string> = {
  ID: "IMAGE ID",
  Repository: "REPOSITORY",
  Tag: "TAG",
  Digest: "DIGEST",
  CreatedSince: "CREATED",
  CreatedAt: "CREATED AT",
  Size: "SIZE",
  Containers: "CONTAINERS",
  VirtualSize: "SIZE",
  SharedSize: "SHARED SIZE",
  UniqueSize: "UNIQUE SIZE",
};

/** formatter.NewImageFormat. */
export function imageFormat(source: string, quiet: boolean, digest: boolean): string {
  if (source === "table") return quiet ? "{{.ID}}" : digest ? DEFAULT_TABLE_DIGEST : DEFAULT_TABLE;
  if (source === "raw") return quiet ? "image_id: {{.ID}}" : digest ? RAW_DIGEST : RAW;
  if (source.startsWith("table") && digest && !source.includes("{{.Digest}}")) return `${source}\t{{.Digest}}`;
  return source;
}

/** One row of the table: docker's imageContext (its methods are getters here). */
export class ImageRow {
  /** docker's formatter type: a field it does not have is an error, not "<no value>". */
  get [GO_TYPE](): string {
    return "*formatter.imageContext";
  }

  constructor(
    private readonly img: ImageSummaryWire,
    private readonly repo: string,
    private readonly tag: string,
    private readonly digest: string,
    private readonly trunc: boolean,
  ) {}

  get ID(): string {
    return this.trunc ? truncateId(this.img.Id) : this.img.Id;
  }
  get Repository(): string {
    return this.repo;
  }
  get Tag(): string {
    return this.tag;
  }
  get Digest(): string {
    return this.digest;
  }
  get CreatedSince(): string {
    return createdSince(this.img.Created);
  }
  get CreatedAt(): string {
    return goTimeString(this.img.Created);
  }
  get Size(): string {
    return humanSizeWithPrecision(this.img.Size, 3);
  }
  get Containers(): string {
    const n = this.img.Containers ?? -1;
    return n === -1 ? "N/A" : String(n);
  }
  get VirtualSize(): string {
    return humanSize(this.img.Size);
  }
  get SharedSize(): string {
    const s = this.img.SharedSize ?? -1;
    return s === -1 ? "N/A" : humanSize(s);
  }
  get UniqueSize(): string {
    const s = this.img.SharedSize ?? -1;
    return this.img.Size === -1 || s === -1 ? "N/A" : humanSize(this.img.Size - s);
  }
}

function isDangling(img: ImageSummaryWire): boolean {
  const tags = img.RepoTags ?? [];
  const digests = img.RepoDigests ?? [];
  if (tags.length === 0 && digests.length === 0) return true;
  return tags.length === 1 && tags[0] === "<none>:<none>" && digests.length === 1 && digests[0] === "<none>@<none>";
}

/** formatter.imageFormat / imageFormatTaggedAndDigest: the rows of one image. */
export function imageRows(images: readonly ImageSummaryWire[], options: { trunc: boolean; digest: boolean; format: string }): ImageRow[] {
  const rows: ImageRow[] = [];
  const needDigest = options.digest || options.format.includes("{{.Digest}}");
  for (const img of images) {
    if (isDangling(img)) {
      rows.push(new ImageRow(img, "<none>", "<none>", "<none>", options.trunc));
      continue;
    }
    const repoTags = new Map<string, string[]>();
    const repoDigests = new Map<string, string[]>();
    for (const t of img.RepoTags ?? []) {
      try {
        const ref = parseReference(t);
        if (ref.tag === undefined) continue;
        const name = familiarName(ref);
        repoTags.set(name, [...(repoTags.get(name) ?? []), ref.tag]);
      } catch {
        // not a reference: docker skips it
      }
    }
    for (const d of img.RepoDigests ?? []) {
      try {
        const ref = parseReference(d);
        if (ref.digest === undefined) continue;
        const name = familiarName(ref);
        repoDigests.set(name, [...(repoDigests.get(name) ?? []), ref.digest]);
      } catch {
        // skipped
      }
    }
    for (const [repo, tags] of repoTags) {
      let digests = repoDigests.get(repo) ?? [];
      repoDigests.delete(repo);
      if (!needDigest) digests = [];
      for (const tag of tags) {
        if (digests.length === 0) rows.push(new ImageRow(img, repo, tag, "<none>", options.trunc));
        else for (const d of digests) rows.push(new ImageRow(img, repo, tag, d, options.trunc));
      }
    }
    for (const [repo, digests] of repoDigests) {
      if (options.digest) for (const d of digests) rows.push(new ImageRow(img, repo, "<none>", d, options.trunc));
      else rows.push(new ImageRow(img, repo, "<none>", "", options.trunc));
    }
  }
  return rows;
}

const IMAGE_SUBCOMMANDS = new Set(["build", "history", "import", "inspect", "list", "load", "ls", "prune", "pull", "push", "rm", "save", "tag"]);

function makeList(name: string, aliases?: string[]): CliCommand {
  return {
    name,
    ...(aliases ? { aliases } : {}),
    usage: "[OPTIONS] [REPOSITORY[:TAG]]",
    summary: "List images",
    args: [0, 1],
    flags: [
      { name: "all", short: "a", type: "bool", help: "Show all images (default hides intermediate images)" },
      { name: "digests", type: "bool", help: "Show digests" },
      filterFlag("f"),
      { ...FORMAT_FLAG, short: undefined, help: FORMAT_FLAG.help },
      { name: "no-trunc", type: "bool", help: "Don't truncate output" },
      { name: "quiet", short: "q", type: "bool", help: "Only show image IDs" },
    ],
    async run(ctx, flags, args) {
      const quiet = flags.quiet as boolean;
      const digests = flags.digests as boolean;
      const format = imageFormat((flags.format as string | undefined) || "table", quiet, digests);
      // A bad template fails before any request, as docker's does.
      renderFormat(format, [], IMAGE_HEADERS);
      const filters = filtersJson(flags.filter as string[], args[0] ? { reference: [args[0]] } : {});
      const images = await ctx.client().json<ImageSummaryWire[]>("GET", "/images/json", { query: { all: (flags.all as boolean) || undefined, filters } });
      const rows = imageRows(images ?? [], { trunc: !(flags["no-trunc"] as boolean), digest: digests, format });
      ctx.out(renderFormat(format, rows, IMAGE_HEADERS));
      if (args[0] && rows.length === 0 && ctx.path === "hako images" && IMAGE_SUBCOMMANDS.has(args[0])) {
        ctx.err(`\nNo images found matching "${args[0]}": did you mean "hako image ${args[0]}"?\n`);
      }
      return 0;
    },
  };
}

/** `hako image ls` (alias `list`) and `hako images`: one command, two places. */
export const imageLs: CliCommand = makeList("ls", ["list"]);
