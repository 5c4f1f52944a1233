/**
 * The ContainerConfig Docker shows for an image built without one: every
 * field present, zero or null, as Go marshals an empty container.Config.
 * Both `docker inspect` and the v1 layer JSON of `docker save` carry it.
 */
import type { ImageRuntimeConfig } from "../spec/oci-image.ts";

export function emptyContainerConfig(): ImageRuntimeConfig {
  return {
    Hostname: "",
    Domainname: "",
    User: "",
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    Tty: false,
    OpenStdin: false,
    StdinOnce: false,
    Env: null as unknown as string[],
    Cmd: null,
    Image: "",
    Volumes: null as unknown as Record<string, Record<string, never>>,
    WorkingDir: "",
    Entrypoint: null,
    OnBuild: null,
    Labels: null,
  };
}
