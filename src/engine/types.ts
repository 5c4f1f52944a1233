/**
 * Engine-internal types shared by specgen, the container store and the
 * volume store: what is persisted with a container beyond the API shapes.
 */
import type { Mount as ApiMount, MountPoint, MountType } from "../spec/docker-api.ts";

/**
 * One mount of a container as the engine keeps it in config.v2.json
 * (moby's volume/mounts.MountPoint): enough to rebuild the OCI mount at
 * every start and to answer inspect's `Mounts`.
 */
export interface MountPointRecord {
  Type: MountType;
  /** Host path: the bind source, or the volume's _data directory. Empty for tmpfs. */
  Source: string;
  Destination: string;
  RW: boolean;
  /** Volume name (volume mounts only). */
  Name?: string;
  /** Volume driver ("local"; volume mounts only). */
  Driver?: string;
  /** The options as the user gave them in Binds ("ro", "z", "ro,rshared"); "z" for named local volumes, as Docker. */
  Mode: string;
  /** Bind propagation ("rprivate" by default for binds, "" for volumes). */
  Propagation: string;
  /** Copy the image's content at Destination into the volume before its first use (Docker's copy-up). */
  CopyData?: boolean;
  /** A volume made for this container (image VOLUME, `-v /path`, `--mount type=volume` without source). */
  Anonymous?: boolean;
  /** The HostConfig.Mounts entry this came from, when it came from one. */
  Spec?: ApiMount;
  /** tmpfs mount data ("size=65536k,mode=755"), tmpfs mounts only. */
  Data?: string;
}

/** inspect's / ps's view of a mount point (swagger MountPoint). */
export function mountPointView(m: MountPointRecord): MountPoint {
  const view: MountPoint = {
    Type: m.Type,
    Source: m.Source,
    Destination: m.Destination,
    Mode: m.Mode,
    RW: m.RW,
    Propagation: m.Propagation,
  };
  if (m.Type === "volume") {
    view.Name = m.Name ?? "";
    view.Driver = m.Driver ?? "local";
  }
  return view;
}

/** The record's MountPoints map (destination → mount point), as config.v2.json keeps it. */
export function mountPointsByDestination(points: readonly MountPointRecord[]): Record<string, MountPointRecord> {
  return Object.fromEntries(points.map((m) => [m.Destination, m]));
}

/** What a volume callback may be asked to create along with the name. */
export interface VolumeRequest {
  /** The volume is anonymous: gets Docker's com.docker.volume.anonymous label. */
  anonymous?: boolean;
  labels?: Record<string, string>;
  driverOpts?: Record<string, string>;
}
