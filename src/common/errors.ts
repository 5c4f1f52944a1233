/**
 * One error vocabulary for the whole engine (containerd's errdefs, moby's
 * httpstatus): every failure is one of these classes, with a stable `code`,
 * the context that explains it, and the underlying `cause` when there is one.
 * The API edge maps classes to HTTP status codes in one place.
 */

export type ErrorCode =
  | "ERR_NOT_FOUND"
  | "ERR_INVALID_ARGUMENT"
  | "ERR_CONFLICT"
  | "ERR_FAILED_PRECONDITION"
  | "ERR_UNAUTHORIZED"
  | "ERR_FORBIDDEN"
  | "ERR_UNAVAILABLE"
  | "ERR_NOT_IMPLEMENTED"
  | "ERR_INTERNAL";

const kHakoError = Symbol.for("hako.error");

export class HakoError extends Error {
  readonly code: ErrorCode;
  readonly [kHakoError] = true;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }

  /** Works across duplicated copies of this module (undici's trick). */
  static is(err: unknown): err is HakoError {
    return typeof err === "object" && err !== null && (err as Record<symbol, unknown>)[kHakoError] === true;
  }
}

export class NotFoundError extends HakoError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_NOT_FOUND", message, options);
  }
}

export class InvalidArgumentError extends HakoError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_INVALID_ARGUMENT", message, options);
  }
}

export class ConflictError extends HakoError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_CONFLICT", message, options);
  }
}

export class FailedPreconditionError extends HakoError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_FAILED_PRECONDITION", message, options);
  }
}

/** The remote server (a registry, its token server) refused our credentials, or we had none. */
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

export class UnavailableError extends HakoError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_UNAVAILABLE", message, options);
  }
}

export class NotImplementedError extends HakoError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_NOT_IMPLEMENTED", message, options);
  }
}

export class InternalError extends HakoError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_INTERNAL", message, options);
  }
}

/**
 * A failure reported by the native helper: which stage of container set-up
 * failed, with the errno the kernel returned.
 */
export class SyscallError extends HakoError {
  readonly stage: string;
  readonly errno: number;

  constructor(stage: string, errno: number, message: string) {
    super(errno === 2 ? "ERR_NOT_FOUND" : "ERR_INTERNAL", message);
    this.stage = stage;
    this.errno = errno;
  }
}

/**
 * The error for an HTTP error status a remote server answered (a registry,
 * its token server, a URL to import from): the class says what the status
 * says about the request, so the API edge answers with the matching status.
 * A 5xx, a timeout or a rate limit is the remote's trouble, not the
 * request's: Unavailable.
 */
export function errorForHttpStatus(status: number, message: string): HakoError {
  switch (status) {
    case 400:
    case 411:
    case 413:
    case 416:
      return new InvalidArgumentError(message);
    case 401:
      return new UnauthorizedError(message);
    case 403:
      return new ForbiddenError(message);
    case 404:
      return new NotFoundError(message);
    case 405:
      return new NotImplementedError(message);
    case 409:
      return new ConflictError(message);
    case 408:
    case 429:
      return new UnavailableError(message);
    default:
      return status >= 500 ? new UnavailableError(message) : new InternalError(message);
  }
}

/**
 * `err` with context in front of its message ("Cannot kill container: c1: "),
 * keeping its class's code (so its HTTP status); anything else is an
 * InternalError.
 */
export function withMessagePrefix(err: unknown, prefix: string): HakoError {
  return new HakoError(HakoError.is(err) ? err.code : "ERR_INTERNAL", `${prefix}${errorMessage(err)}`, { cause: err });
}

/** The message of any thrown value, for printing. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** True when `err` is a Node system error with the given errno code (ENOENT, ...). */
export function isErrno(err: unknown, code: string): boolean {
  return typeof err === "object" && err !== null && (err as NodeJS.ErrnoException).code === code;
}
