import type { Request } from 'express';
import { z } from 'zod';
import { GriffinError, NotFound, UnsupportedMediaType } from '../errors.ts';
import { CodeSnapshotView } from '../domain/index.ts';
import { CODE_URI_PREFIX, type CodeStore } from '../files/codeStore.ts';
import { defineRoute, type RouteDef } from './route.ts';

const CodeParams = z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/, 'is not a sha256 (64 lowercase hex digits)') });
const ZIP_TYPES = ['application/zip', 'application/x-zip-compressed', 'application/octet-stream'];

/** The request body as one buffer, refused with a 413 as soon as it passes `limit`. */
async function readBody(req: Request, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw new GriffinError(413, 'payload_too_large', `the code archive is ${declared} bytes; the limit is ${limit} (GRIFFIN_MAX_CODE_BYTES)`, 'body');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      req.resume();
      throw new GriffinError(413, 'payload_too_large', `the code archive is larger than the limit of ${limit} bytes (GRIFFIN_MAX_CODE_BYTES)`, 'body');
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * Code uploaded from a laptop (the SDK, `griffin submit --code`), stored by content so that a
 * model can name it as griffin://code/<sha256> and any backend can run it. Whoever may submit
 * runs may upload code.
 */
export function codeRoutes(code: CodeStore): RouteDef[] {
  return [
    defineRoute({
      method: 'post',
      path: '/code',
      tag: 'code',
      summary: `Upload a zip of training code (raw body, Content-Type: application/zip). Answers {codeUri: "${CODE_URI_PREFIX}<sha256>"}: 201 when stored, 200 when the same bytes already were.`,
      access: { role: 'editor' },
      rawBody: true,
      // application/zip is taken too; the document names the generic type every HTTP client can send.
      rawBodyTypes: ['application/octet-stream'],
      response: CodeSnapshotView,
      successStatus: 201,
      alsoStatuses: [200],
      handler: async ({ req }) => {
        const type = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
        if (!ZIP_TYPES.includes(type)) throw new UnsupportedMediaType(`send the code as a zip archive with Content-Type: application/zip (got "${type || 'none'}")`, 'Content-Type');
        const encoding = String(req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
        if (encoding !== 'identity') throw new UnsupportedMediaType(`send the zip without Content-Encoding (got "${encoding}"); it is compressed already`, 'Content-Encoding');
        const { code: stored, created } = code.put(await readBody(req, code.limits.maxUploadBytes));
        return { status: created ? 201 : 200, body: stored };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/code/:sha256',
      tag: 'code',
      summary: 'What an uploaded code snapshot holds (size, files, upload time); 404 when it was never uploaded.',
      access: { role: 'viewer' },
      params: CodeParams,
      response: CodeSnapshotView,
      handler: async ({ params }) => {
        const stored = code.find(params.sha256);
        if (!stored) throw new NotFound(`no code was uploaded as ${CODE_URI_PREFIX}${params.sha256}`, 'sha256');
        return { body: stored };
      },
    }),
  ];
}
