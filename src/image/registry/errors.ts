/**
 * Errors of the registry client that errors.ts has no class for. They extend
 * HakoError, so the API edge maps them by `code` like every other failure.
 */
import { HakoError } from "../../common/errors.ts";

/** The registry (or its token server) refused our credentials, or we had none. */
export class UnauthorizedError extends HakoError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_UNAUTHORIZED", message, options);
  }
}

/** Authenticated, but not allowed (HTTP 403, DENIED). */
export class ForbiddenError extends HakoError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_FORBIDDEN", message, options);
  }
}

/** Content whose digest (or size) is not the one it was asked for. */
export class DigestMismatchError extends HakoError {
  readonly expected: string;
  readonly actual: string;

  constructor(message: string, expected: string, actual: string) {
    super("ERR_INTERNAL", message);
    this.expected = expected;
    this.actual = actual;
  }
}
