/**
 * Shape checks of the create and update bodies before they reach the
 * engine: dockerd decodes them into Go structs, so a field of the wrong
 * type is a 400 naming the field ("json: cannot unmarshal ..."), never a
 * failure deep in the engine. Fields hakod does not know are left alone.
 */
import { InvalidArgumentError } from "../common/errors.ts";

type Kind = "string" | "number" | "boolean" | "object" | "strings" | "strslice" | "stringMap" | "array";

const CONFIG_FIELDS: Record<string, Kind> = {
  Hostname: "string",
  Domainname: "string",
  User: "string",
  AttachStdin: "boolean",
  AttachStdout: "boolean",
  AttachStderr: "boolean",
  Tty: "boolean",
  OpenStdin: "boolean",
  StdinOnce: "boolean",
  Env: "strings",
  Cmd: "strslice",
  Entrypoint: "strslice",
  Image: "string",
  WorkingDir: "string",
  Labels: "stringMap",
  StopSignal: "string",
  StopTimeout: "number",
  ExposedPorts: "object",
  Volumes: "object",
  Healthcheck: "object",
  Shell: "strings",
  NetworkDisabled: "boolean",
  HostConfig: "object",
  NetworkingConfig: "object",
};

const RESOURCE_FIELDS: Record<string, Kind> = {
  CpuShares: "number",
  Memory: "number",
  CgroupParent: "string",
  BlkioWeight: "number",
  CpuPeriod: "number",
  CpuQuota: "number",
  CpuRealtimePeriod: "number",
  CpuRealtimeRuntime: "number",
  CpusetCpus: "string",
  CpusetMems: "string",
  MemoryReservation: "number",
  MemorySwap: "number",
  MemorySwappiness: "number",
  NanoCpus: "number",
  OomKillDisable: "boolean",
  PidsLimit: "number",
  KernelMemory: "number",
  Ulimits: "array",
  Devices: "array",
  BlkioWeightDevice: "array",
  BlkioDeviceReadBps: "array",
  BlkioDeviceWriteBps: "array",
  BlkioDeviceReadIOps: "array",
  BlkioDeviceWriteIOps: "array",
  RestartPolicy: "object",
};

const HOST_CONFIG_FIELDS: Record<string, Kind> = {
  ...RESOURCE_FIELDS,
  Binds: "strings",
  NetworkMode: "string",
  AutoRemove: "boolean",
  Privileged: "boolean",
  ReadonlyRootfs: "boolean",
  CapAdd: "strings",
  CapDrop: "strings",
  Dns: "strings",
  DnsOptions: "strings",
  DnsSearch: "strings",
  ExtraHosts: "strings",
  SecurityOpt: "strings",
  VolumesFrom: "strings",
  Tmpfs: "stringMap",
  Sysctls: "stringMap",
  Mounts: "array",
  LogConfig: "object",
  PortBindings: "object",
  Init: "boolean",
  IpcMode: "string",
  PidMode: "string",
  UTSMode: "string",
  UsernsMode: "string",
  ShmSize: "number",
  OomScoreAdj: "number",
  GroupAdd: "strings",
};

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

function fits(kind: Kind, v: unknown): boolean {
  if (v === null || v === undefined) return true; // Go leaves the zero value
  switch (kind) {
    case "string":
    case "number":
    case "boolean":
      return typeof v === kind && (kind !== "number" || Number.isFinite(v));
    case "object":
      return typeof v === "object" && !Array.isArray(v);
    case "array":
      return Array.isArray(v);
    case "strings":
      return Array.isArray(v) && v.every((x) => typeof x === "string");
    case "strslice":
      return typeof v === "string" || (Array.isArray(v) && v.every((x) => typeof x === "string"));
    case "stringMap":
      return typeof v === "object" && !Array.isArray(v) && Object.values(v as object).every((x) => typeof x === "string");
  }
}

const GO_TYPE: Record<Kind, string> = {
  string: "string",
  number: "int64",
  boolean: "bool",
  object: "struct",
  array: "slice",
  strings: "[]string",
  strslice: "strslice.StrSlice",
  stringMap: "map[string]string",
};

function check(body: Record<string, unknown>, fields: Record<string, Kind>, where: string): void {
  for (const [field, kind] of Object.entries(fields)) {
    const value = body[field];
    if (!fits(kind, value)) {
      throw new InvalidArgumentError(`json: cannot unmarshal ${typeName(value)} into Go struct field ${where}.${field} of type ${GO_TYPE[kind]}`);
    }
  }
}

/** The create body, checked; Cmd and Entrypoint given as one string become a one-element list (strslice). */
export function checkCreateBody(body: Record<string, unknown>): Record<string, unknown> {
  check(body, CONFIG_FIELDS, "ContainerConfigWrapper");
  if (body.HostConfig) check(body.HostConfig as Record<string, unknown>, HOST_CONFIG_FIELDS, "HostConfig");
  const out = { ...body };
  for (const f of ["Cmd", "Entrypoint"]) if (typeof out[f] === "string") out[f] = [out[f]];
  return out;
}

/** The update body (Resources plus RestartPolicy), checked. */
export function checkUpdateBody(body: Record<string, unknown>): Record<string, unknown> {
  check(body, RESOURCE_FIELDS, "UpdateConfig");
  return body;
}
