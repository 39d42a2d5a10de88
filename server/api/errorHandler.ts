import type { NextFunction, Request, Response } from 'express';
import { GriffinError, TooManyRequests, Unavailable } from '../errors.ts';
import type { Logger } from '../logger.ts';

interface BodyParserError extends Error {
  type?: string;
  status?: number;
  limit?: number;
}

/** Database errors that mean "try again shortly" rather than "the server is broken". */
function isTransientDatabaseError(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  return (
    ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', '57P01', '57P02', '57P03', '08006', '08001', '08003', 'SQLITE_BUSY'].includes(e?.code ?? '') ||
    // "not queryable": pg refuses further queries (e.g. the ROLLBACK) on a client whose connection broke mid-transaction.
    /Knex: Timeout acquiring a connection|Connection terminated|Client has encountered a connection error and is not queryable/.test(e?.message ?? '')
  );
}

/**
 * The only place errors become responses: one JSON shape, a fitting status, never a stack trace
 * or an HTML page.
 */
export function errorHandler(logger: Logger) {
  return (error: unknown, req: Request, res: Response, _next: NextFunction): void => {
    let status = 500;
    let payload: { code: string; message: string; field?: string } = { code: 'internal', message: 'internal error; the server log has details' };
    const parserError = error as BodyParserError;
    if (error instanceof GriffinError) {
      status = error.status;
      payload = { code: error.code, message: error.message, ...(error.field ? { field: error.field } : {}) };
      if (error instanceof TooManyRequests || error instanceof Unavailable) res.set('Retry-After', String(error.retryAfterSeconds));
    } else if (parserError?.type === 'entity.parse.failed') {
      status = 400;
      payload = { code: 'invalid_argument', message: 'the request body is not valid JSON', field: 'body' };
    } else if (parserError?.type === 'entity.too.large') {
      status = 413;
      payload = { code: 'payload_too_large', message: `the request body is larger than the limit of ${parserError.limit} bytes`, field: 'body' };
    } else if (parserError?.type === 'encoding.unsupported' || parserError?.type === 'charset.unsupported') {
      status = 415;
      payload = { code: 'invalid_argument', message: parserError.message, field: 'body' };
    } else if (isTransientDatabaseError(error)) {
      status = 503;
      payload = { code: 'unavailable', message: 'the metadata database is unreachable; retry shortly' };
      res.set('Retry-After', '1');
      logger.warn({ err: error, path: req.path, runId: res.locals.runId }, 'database unavailable');
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
