/**
 * Exec instances (docker exec): created against a running container, started
 * once, run by the native helper in MODE_EXEC inside the container's
 * namespaces and cgroup. Filled in by issue 4's exec slice.
 */
import type { EventBus } from "../daemon/events.ts";
import type { ContainerService } from "./containers.ts";

export interface ExecServiceOptions {
  containers: ContainerService;
  events: EventBus;
}

export class ExecService {
  readonly containers: ContainerService;
  readonly events: EventBus;

  constructor(options: ExecServiceOptions) {
    this.containers = options.containers;
    this.events = options.events;
  }
}
