/**
 * Named errors, each mapped to one HTTP status in exactly one place (api/errorHandler.ts).
 * Services throw these; routers never pick status codes for failures themselves.
 */
export type ErrorCode =
  | 'invalid_argument'
  | 'unauthenticated'
  | 'permission_denied'
  | 'not_found'
  | 'method_not_allowed'
  | 'conflict'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'unprocessable'
  | 'rate_limited'
  | 'upstream'
  | 'unavailable'
  | 'internal';

export class GriffinError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class InputError extends GriffinError {
  constructor(message: string, field?: string) {
    super(400, 'invalid_argument', message, field);
  }
}

export class Unauthorized extends GriffinError {
  constructor(message = 'a valid bearer token is required (Authorization: Bearer <token>)') {
    super(401, 'unauthenticated', message);
  }
}

export class Forbidden extends GriffinError {
  constructor(message: string) {
    super(403, 'permission_denied', message);
  }
}

export class NotFound extends GriffinError {
  constructor(message: string, field?: string) {
    super(404, 'not_found', message, field);
  }
}

export class MethodNotAllowed extends GriffinError {
  constructor(
    message: string,
    /** The Allow header: the methods the path does support. */
    readonly allow: string,
  ) {
    super(405, 'method_not_allowed', message);
  }
}

export class UnsupportedMediaType extends GriffinError {
  constructor(message: string, field?: string) {
    super(415, 'unsupported_media_type', message, field);
  }
}

export class Conflict extends GriffinError {
  constructor(message: string, field?: string) {
    super(409, 'conflict', message, field);
  }
}

export class Unprocessable extends GriffinError {
  constructor(message: string, field?: string) {
    super(422, 'unprocessable', message, field);
  }
}

export class TooManyRequests extends GriffinError {
  constructor(message: string, readonly retryAfterSeconds: number) {
    super(429, 'rate_limited', message);
  }
}

export class Upstream extends GriffinError {
  constructor(message: string) {
    super(502, 'upstream', message);
  }
}

export class Unavailable extends GriffinError {
  constructor(message: string, readonly retryAfterSeconds = 1) {
    super(503, 'unavailable', message);
  }
}

/** A conditional state change found the row in another state than it expected. */
export class StateConflict extends Conflict {
  constructor(
    readonly runId: string,
    readonly expected: readonly string[],
    readonly actual: string | undefined,
  ) {
    super(
      actual === undefined
        ? `run ${runId} does not exist`
        : `run ${runId} is ${actual}, expected one of: ${expected.join(', ')}`,
    );
  }
}
