import type { IncomingMessage, ServerResponse } from 'node:http';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';

/*
 * The response contract, checked on real traffic: every JSON body a route answers with on success
 * is validated against the schema the OpenAPI document gives for that operation and status. The
 * test service (service.ts) records through this, so every test that talks to it checks the
 * document against what the service really sends; close() fails the test file on a mismatch.
 */

interface OpenApiDocument {
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>>;
}

export interface ResponseContract {
  /** Wraps a request handler so that its JSON success responses are checked. */
  instrument(handler: (req: IncomingMessage, res: ServerResponse) => void): (req: IncomingMessage, res: ServerResponse) => void;
  /** Checks one response; returns what is wrong with it, empty when it fits. */
  check(method: string, path: string, status: number, body: unknown): string[];
  /** Every mismatch seen so far, one line each. */
  readonly violations: string[];
  /** How many responses were checked against a schema. */
  readonly checked: number;
}

export function responseContract(document: OpenApiDocument): ResponseContract {
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  const validators = new Map<string, ValidateFunction | null>();
  const violations: string[] = [];
  let checked = 0;

  const validatorFor = (method: string, path: string, status: number): ValidateFunction | null | undefined => {
    const key = `${method} ${path} ${status}`;
    if (!validators.has(key)) {
      const operation = document.paths[path]?.[method.toLowerCase()];
      if (!operation) return undefined;
      const response = operation.responses[String(status)];
      const schema = response?.content?.['application/json']?.schema;
      validators.set(key, schema === undefined ? null : ajv.compile(schema as object));
    }
    return validators.get(key);
  };

  const check = (method: string, path: string, status: number, body: unknown): string[] => {
    const validate = validatorFor(method, path, status);
    if (validate === undefined) return [`${method} ${path} is not in the OpenAPI document`];
    if (validate === null) return [`${method} ${path} answered ${status} with a JSON body the document does not describe`];
    checked += 1;
    if (validate(body)) return [];
    return (validate.errors ?? []).slice(0, 5).map((e) => {
      const extra = e.keyword === 'additionalProperties' ? ` (${String((e.params as { additionalProperty?: string }).additionalProperty)})` : '';
      return `${method} ${path} ${status}: ${e.instancePath || '/'} ${e.message}${extra}`;
    });
  };

  return {
    violations,
    get checked() {
      return checked;
    },
    check,
    instrument(handler) {
      return (req: IncomingMessage, res: ServerResponse & { locals?: Record<string, unknown> }) => {
        let body: unknown;
        let isJson = false;
        // Express gives the response its prototype (with json) once the request enters the app;
        // this own property is found first and hands over to it.
        Object.defineProperty(res, 'json', {
          configurable: true,
          writable: true,
          value(b: unknown) {
            body = b;
            isJson = true;
            return (Object.getPrototypeOf(res) as { json: (this: unknown, b: unknown) => unknown }).json.call(res, b);
          },
        });
        res.on('finish', () => {
          const route = res.locals?.route;
          if (!isJson || typeof route !== 'string' || res.statusCode < 200 || res.statusCode >= 300 || !route.startsWith('/api/v1/')) return;
          violations.push(...check(req.method ?? 'GET', route, res.statusCode, body));
        });
        handler(req, res);
      };
    },
  };
}
