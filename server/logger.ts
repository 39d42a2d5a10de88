import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';

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
  return destination ? pino(options, destination) : pino(options);
}
