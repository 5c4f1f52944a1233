/**
 * A container's filesystem as archives: docker cp (stat, get, put), export,
 * changes and commit. Filled in by issue 4's archive slice.
 */
import type { ContainerService } from "./containers.ts";

export interface ArchiveServiceOptions {
  containers: ContainerService;
}

export class ArchiveService {
  readonly containers: ContainerService;

  constructor(options: ArchiveServiceOptions) {
    this.containers = options.containers;
  }
}
