/**
 * Daemon addresses in Docker's -H / DOCKER_HOST syntax: unix:///path and
 * tcp://host:port. Shared by hakod (where to listen) and hako (where to
 * connect).
 */
import { InvalidArgumentError } from "../common/errors.ts";

export const DEFAULT_SOCKET = "/run/hako/hako.sock";
export const DEFAULT_HOST = `unix://${DEFAULT_SOCKET}`;
/** Docker's default for tcp:// without a port. */
const DEFAULT_TCP_PORT = 2375;

export type HostAddress =
  | { proto: "unix"; path: string; url: string }
  | { proto: "tcp"; host: string; port: number; url: string };

/**
 * Parses one -H value.
 *
 * @example parseHost("unix:///run/hako/hako.sock") // { proto: "unix", path: "/run/hako/hako.sock", ... }
 * @example parseHost("tcp://127.0.0.1:2375")       // { proto: "tcp", host: "127.0.0.1", port: 2375, ... }
 */
export function parseHost(spec: string): HostAddress {
  const value = spec.trim();
  if (value === "") return parseHost(DEFAULT_HOST);
  if (value.startsWith("/")) return { proto: "unix", path: value, url: `unix://${value}` };
  const sep = value.indexOf("://");
  if (sep < 0) throw new InvalidArgumentError(`invalid daemon address ${JSON.stringify(spec)}: expected unix:///path or tcp://host:port`);
  const proto = value.slice(0, sep).toLowerCase();
  const rest = value.slice(sep + 3);
  if (proto === "unix") {
    const path = rest === "" ? DEFAULT_SOCKET : rest;
    if (!path.startsWith("/")) throw new InvalidArgumentError(`invalid daemon address ${JSON.stringify(spec)}: the socket path must be absolute`);
    return { proto: "unix", path, url: `unix://${path}` };
  }
  if (proto === "tcp" || proto === "http") {
    const hostPort = rest.replace(/\/+$/, "");
    let host: string;
    let portText: string | undefined;
    const bracket = /^\[([^\]]+)\](?::(\d*))?$/.exec(hostPort);
    if (bracket) {
      host = bracket[1]!;
      portText = bracket[2];
    } else {
      const colon = hostPort.lastIndexOf(":");
      host = colon < 0 ? hostPort : hostPort.slice(0, colon);
      portText = colon < 0 ? undefined : hostPort.slice(colon + 1);
    }
    if (host === "") host = "127.0.0.1";
    const port = portText === undefined || portText === "" ? DEFAULT_TCP_PORT : Number(portText);
    if (!Number.isInteger(port) || port < 0 || port > 65535 || (portText !== undefined && !/^\d*$/.test(portText))) {
      throw new InvalidArgumentError(`invalid daemon address ${JSON.stringify(spec)}: bad port`);
    }
    const shownHost = host.includes(":") ? `[${host}]` : host;
    return { proto: "tcp", host, port, url: `tcp://${shownHost}:${port}` };
  }
  throw new InvalidArgumentError(`unsupported daemon address ${JSON.stringify(spec)}: only unix:// and tcp:// are supported`);
}
