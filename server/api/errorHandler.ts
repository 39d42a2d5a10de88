import type { NextFunction, Request, Response } from 'express';
import { type ErrorCode, GriffinError, MethodNotAllowed, TooManyRequests, Unavailable } from '../errors.ts';
import { storageFault } from '../db/connect.ts';
import type { Logger } from '../logger.ts';

interface BodyParserError extends Error {
  type?: string;
  status?: number;
  expose?: boolean;
  limit?: number;
}

/** What a request's body or its encoding did wrong, as told by express.json (body-parser). */
function bodyError(error: BodyParserError, req: Request): { status: number; payload: { code: ErrorCode; message: string; field: string } } | undefined {
  if (error?.type === 'entity.parse.failed') return { status: 400, payload: { code: 'invalid_argument', message: 'the request body is not valid JSON', field: 'body' } };
  if (error?.type === 'entity.too.large') {
    return { status: 413, payload: { code: 'payload_too_large', message: `the request body is larger than the limit of ${error.limit} bytes`, field: 'body' } };
  }
  if (error?.type === 'encoding.unsupported' || error?.type === 'charset.unsupported') {
    return { status: 415, payload: { code: 'unsupported_media_type', message: `${error.message}; send identity, gzip, deflate or br`, field: 'body' } };
  }
  // Any other 4xx from the parser: a body that does not decode as its Content-Encoding says
  // (zlib errors), a Content-Length that does not match, an aborted upload.
  if (typeof error?.status === 'number' && error.status >= 400 && error.status < 500 && error.expose) {
    const encoding = req.headers['content-encoding'];
    const message = encoding
      ? `the request body could not be decoded as Content-Encoding: ${encoding} (${error.message})`
      : `the request body could not be read (${error.message})`;
    return { status: 400, payload: { code: 'invalid_argument', message, field: 'body' } };
  }
  return undefined;
}

/**
 * The only place errors become responses: one JSON shape, a fitting status, never a stack trace
 * or an HTML page.
 */
export function errorHandler(logger: Logger) {
  return (error: unknown, req: Request, res: Response, _next: NextFunction): void => {
    let status = 500;
    let payload: { code: string; message: string; field?: string } = { code: 'internal', message: 'internal error; the server log has details' };
    const parsed = bodyError(error as BodyParserError, req);
    const fault = error instanceof GriffinError || parsed ? undefined : storageFault(error);
    if (error instanceof GriffinError) {
      status = error.status;
      payload = { code: error.code, message: error.message, ...(error.field ? { field: error.field } : {}) };
      if (error instanceof TooManyRequests || error instanceof Unavailable) res.set('Retry-After', String(error.retryAfterSeconds));
      if (error instanceof MethodNotAllowed) res.set('Allow', error.allow);
    } else if (parsed) {
      ({ status, payload } = parsed);
    } else if (fault) {
      status = 503;
      payload = { code: 'unavailable', message: `the metadata database cannot serve this request right now (${fault.code}); retry shortly` };
      res.set('Retry-After', '1');
      // One line an operator can act on; the stack adds nothing to "the disk is full".
      logger.warn({ code: fault.code, hint: fault.hint, method: req.method, route: res.locals.route, runId: res.locals.runId }, 'database unavailable');
    } else {
      logger.error({ err: error, method: req.method, path: req.path, runId: res.locals.runId }, 'unhandled error');
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    res.status(status).json({ error: payload });
  };
}
