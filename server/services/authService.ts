import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ApiToken, Principal, Role } from '../domain/index.ts';
import { Forbidden, NotFound, TooManyRequests, Unauthorized } from '../errors.ts';
import type { TokenStore } from '../store/tokenStore.ts';
import type { RunStore } from '../store/runStore.ts';
import { isTerminal } from '../domain/index.ts';
import { newSecret, newTokenId, sha256Hex, timingSafeEqualText } from '../ids.ts';
import type { Logger } from '../logger.ts';

const ROLE_RANK: Record<Role, number> = { viewer: 1, editor: 2, admin: 3 };
const USER_TOKEN_PREFIX = 'gft_';
const RUN_TOKEN_PREFIX = 'grt_';
/** A user or run token secret wherever it appears in a text (for redaction). */
export const TOKEN_SECRET_PATTERN = new RegExp(`(?:${USER_TOKEN_PREFIX}|${RUN_TOKEN_PREFIX})[A-Za-z0-9_-]+`, 'g');

const FAILURE_WINDOW_MS = 60_000;

const bearerToken = (header: string | undefined): string | undefined => /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1];

export const roleAllows = (held: Role, needed: Role): boolean => ROLE_RANK[held] >= ROLE_RANK[needed];

/**
 * Bearer tokens. User tokens are random and stored hashed. Run-scoped tokens are an HMAC of the
 * run id under the service secret: a re-launch after a crash can hand the same token to the
 * process again without the service ever storing it, and every replica can verify it.
 */
/*
 * Verified user tokens are remembered briefly: a database lookup per request was the largest
 * share of a GET's cost. A revocation takes effect at once on the instance that revoked it and
 * within `verifiedTtlMs` (GRIFFIN_AUTH_CACHE_MS, 5 s) on other replicas.
 */
const VERIFIED_CACHE_MAX = 10_000;

export class AuthService {
  private readonly failures = new Map<string, { count: number; windowStart: number }>();
  private readonly verified = new Map<string, { principal: Principal; until: number }>();

  constructor(
    private readonly tokens: TokenStore,
    private readonly runs: RunStore,
    private readonly secret: string,
    private readonly logger: Logger,
    /** Failed authentications allowed per client address in one window before 429s. */
    private readonly failureLimit = 20,
    private readonly verifiedTtlMs = 5_000,
  ) {}

  async createToken(name: string, role: Role): Promise<{ token: ApiToken; secret: string }> {
    const secret = `${USER_TOKEN_PREFIX}${newSecret(24)}`;
    const token = await this.tokens.insert({ id: newTokenId(), name, role, prefix: secret.slice(0, 8), tokenHash: sha256Hex(secret) });
    return { token, secret };
  }

  listTokens(): Promise<ApiToken[]> {
    return this.tokens.list();
  }

  async revokeToken(id: string): Promise<void> {
    if (!(await this.tokens.revoke(id))) throw new NotFound(`token ${id} does not exist or is already revoked`, 'id');
    for (const [hash, entry] of this.verified) {
      if (entry.principal.kind === 'user' && entry.principal.tokenId === id) this.verified.delete(hash);
    }
  }

  /**
   * Makes sure an admin can sign in on first start: GRIFFIN_ADMIN_TOKEN when given, otherwise a
   * generated token written (mode 0600) into the data directory and printed once.
   */
  async bootstrapAdmin(dataDir: string, configured: string | undefined): Promise<{ printedToken?: string; file?: string }> {
    if (configured) {
      const hash = sha256Hex(configured);
      if (!(await this.tokens.findActiveByHash(hash))) {
        await this.tokens.insert({ id: newTokenId(), name: 'admin (GRIFFIN_ADMIN_TOKEN)', role: 'admin', prefix: configured.slice(0, 8), tokenHash: hash });
      }
      return {};
    }
    if (await this.tokens.findByName('bootstrap-admin')) return {};
    const { secret } = await this.createToken('bootstrap-admin', 'admin');
    const file = path.join(dataDir, 'admin-token');
    fs.writeFileSync(file, `${secret}\n`, { mode: 0o600 });
    fs.chmodSync(file, 0o600); // the mode above applies only to a new file
    return { printedToken: secret, file };
  }

  runToken(runId: string): string {
    const mac = crypto.createHmac('sha256', this.secret).update(`run:${runId}`).digest('base64url');
    return `${RUN_TOKEN_PREFIX}${runId}_${mac}`;
  }

  /**
   * Resolves the Authorization header to a principal, or throws 401 (429 once the client address
   * has failed too often). A valid token always passes, also from a locked-out address: tokens are
   * long random values that no rate of guessing finds, so the limit only sheds noisy or broken
   * clients, and must not lock out the legitimate users who share their address (NAT, a proxy).
   */
  async authenticate(header: string | undefined, clientKey: string): Promise<Principal> {
    const presented = bearerToken(header);
    const principal = presented === undefined ? undefined : presented.startsWith(RUN_TOKEN_PREFIX) ? await this.verifyRunToken(presented) : await this.verifyUserToken(presented);
    if (principal) return principal;
    this.checkFailureBudget(clientKey);
    this.recordFailure(clientKey);
    throw presented === undefined ? new Unauthorized() : new Unauthorized('the bearer token is not valid (unknown, revoked, or its run has finished)');
  }

  /**
   * The principal of a user token verified within the last `verifiedTtlMs`, without a query; undefined
   * for anything else (a run token, a token not seen lately, no token), which `authenticate` decides.
   */
  recentlyVerified(header: string | undefined): Principal | undefined {
    const presented = bearerToken(header);
    if (presented === undefined || presented.startsWith(RUN_TOKEN_PREFIX)) return undefined;
    return this.cachedUser(sha256Hex(presented));
  }

  private cachedUser(hash: string): Principal | undefined {
    const cached = this.verified.get(hash);
    return cached && cached.until > Date.now() ? cached.principal : undefined;
  }

  private async verifyUserToken(presented: string): Promise<Principal | undefined> {
    const hash = sha256Hex(presented);
    const cached = this.cachedUser(hash);
    if (cached) return cached;
    const token = await this.tokens.findActiveByHash(hash);
    if (!token) return undefined;
    this.tokens.touch(token.id, token.lastUsedAt).catch((error) => this.logger.warn({ err: error }, 'could not record token use'));
    const principal: Principal = { kind: 'user', tokenId: token.id, name: token.name, role: token.role };
    if (this.verifiedTtlMs <= 0) return principal;
    if (this.verified.size >= VERIFIED_CACHE_MAX) this.verified.clear();
    this.verified.set(hash, { principal, until: Date.now() + this.verifiedTtlMs });
    return principal;
  }

  private async verifyRunToken(presented: string): Promise<Principal | undefined> {
    const runId = presented.slice(RUN_TOKEN_PREFIX.length).split('_')[0];
    if (!runId || !timingSafeEqualText(presented, this.runToken(runId))) return undefined;
    const run = await this.runs.get(runId);
    // A run token dies with its run: nothing may write into a finished run's record.
    if (!run || isTerminal(run.state)) return undefined;
    const inputModelRunId = run.spec.inputModel?.runId ?? undefined;
    return inputModelRunId ? { kind: 'run', runId, inputModelRunId } : { kind: 'run', runId };
  }

  /** Role check for user tokens; run tokens pass only where the route allows its own run. */
  authorize(principal: Principal, needed: Role, opts: { runId?: string; allowRunToken?: boolean; allowInputModelToken?: boolean } = {}): void {
    if (principal.kind === 'run') {
      if (opts.allowRunToken && opts.runId === principal.runId) return;
      // A scoring run reads the artifacts of the run that made its input model version, and nothing else.
      if (opts.allowInputModelToken && opts.runId !== undefined && opts.runId === principal.inputModelRunId) return;
      throw new Forbidden('a run-scoped token may only report metrics and artifacts for its own run (and read the artifacts of its input model)');
    }
    if (!roleAllows(principal.role, needed)) {
      throw new Forbidden(`this action needs the ${needed} role; the token "${principal.name}" has ${principal.role}`);
    }
  }

  private checkFailureBudget(clientKey: string): void {
    const entry = this.failures.get(clientKey);
    if (!entry) return;
    const elapsed = Date.now() - entry.windowStart;
    if (elapsed > FAILURE_WINDOW_MS) {
      this.failures.delete(clientKey);
      return;
    }
    if (entry.count >= this.failureLimit) {
      throw new TooManyRequests('too many failed authentication attempts; wait and retry', Math.ceil((FAILURE_WINDOW_MS - elapsed) / 1000));
    }
  }

  private recordFailure(clientKey: string): void {
    const now = Date.now();
    const entry = this.failures.get(clientKey);
    if (!entry || now - entry.windowStart > FAILURE_WINDOW_MS) this.failures.set(clientKey, { count: 1, windowStart: now });
    else entry.count += 1;
    if (this.failures.size > 10_000) this.failures.clear(); // bound memory under a spray of addresses
  }
}
