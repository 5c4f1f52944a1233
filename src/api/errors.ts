/**
 * The one place where engine errors become HTTP statuses (moby's
 * daemon/server/httpstatus/status.go), and back again for the client.
 * The body of every error is Docker's ErrorResponse: {"message": "..."}.
 */
import { HakoError, InvalidArgumentError, errorMessage, type ErrorCode } from "../common/errors.ts";

/** A request body over the size limit (413). */
export class PayloadTooLargeError extends InvalidArgumentError {}

const STATUS_BY_CODE: Record<ErrorCode, number> = {
  ERR_NOT_FOUND: 404,
  ERR_INVALID_ARGUMENT: 400,
  ERR_CONFLICT: 409,
  // moby: errdefs.FailedPrecondition → 400 (e.g. "container is not running")
  ERR_FAILED_PRECONDITION: 400,
  ERR_UNAUTHORIZED: 401,
  ERR_FORBIDDEN: 403,
  ERR_UNAVAILABLE: 503,
  ERR_NOT_IMPLEMENTED: 501,
  ERR_INTERNAL: 500,
};

/**
 * The HTTP status of a thrown value: its HakoError class, else 500.
 *
 * @example httpStatusOf(new NotFoundError("No such image: x")) // 404
 */
export function httpStatusOf(err: unknown): number {
  if (err instanceof PayloadTooLargeError) return 413;
  if (HakoError.is(err)) return STATUS_BY_CODE[err.code] ?? 500;
  return 500;
}

/** The error class a client should see for an HTTP status (the reverse map). */
export function errorCodeForStatus(status: number): ErrorCode {
  switch (status) {
    case 400:
    case 413:
      return "ERR_INVALID_ARGUMENT";
    case 401:
      return "ERR_UNAUTHORIZED";
    case 403:
      return "ERR_FORBIDDEN";
    case 404:
      return "ERR_NOT_FOUND";
    case 409:
      return "ERR_CONFLICT";
    case 501:
      return "ERR_NOT_IMPLEMENTED";
    case 503:
      return "ERR_UNAVAILABLE";
    default:
      return "ERR_INTERNAL";
  }
}

/** Docker's ErrorResponse body. */
export interface ErrorResponse {
  message: string;
}

export function errorResponse(err: unknown): ErrorResponse {
  return { message: errorMessage(err) };
}
