import { destination as pinoDestination, pino, type DestinationStream, type Logger as PinoLogger } from 'pino';

let standardOutput: DestinationStream | undefined;

export type Logger = PinoLogger;

/**
 * Structured JSON logs. Authorization headers and token fields are redacted wherever they appear,
 * so a secret never reaches a log line even when a request or error object is logged whole.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'griffin' },
    redact: {
      paths: ['req.headers.authorization', 'headers.authorization', 'authorization', 'token', 'secret', '*.token', '*.secret', 'env.GRIFFIN_RUN_TOKEN', 'env.MLFLOW_TRACKING_TOKEN', 'secretEnv', '*.secretEnv'],
      censor: '[redacted]',
    },
  };
  // Standard output is written asynchronously: a synchronous write per access line stalls the
  // event loop, and every request queued behind it, whenever the disk under a redirected log
  // is busy. Lines are still written in order, at once (no minimum length), and flushed on exit.
  return pino(options, destination ?? (standardOutput ??= pinoDestination({ dest: 1, sync: false })));
}
