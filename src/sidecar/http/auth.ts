/**
 * Who is calling the team server: a bearer token from SWITCHBOARD_TOKENS_FILE (only SHA-256 hashes are stored,
 * compared in constant time) or a JWT checked against the issuer's JWKS (issuer, audience, expiry, algorithm
 * allow-list). The result is a principal (token id or JWT subject, and team) with its limits.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import YAML from 'yaml';
import { z } from 'zod';
import { UserError } from '../../core/errors';
import type { Principal } from '../../core/ledger/types';

export interface Limits {
  /** Tool calls per minute (budgets are looked up by the ledger: budgetFor / teamBudget). */
  rpm: number;
}

export interface Caller {
  principal: Principal;
  limits: Limits;
  via: 'token' | 'jwt' | 'none';
}

/**
 * `unavailable`: the token could not be checked because the issuer's keys could not be fetched (its JWKS is down,
 * slow or broken) — the server's problem, not the caller's token: answered 503 with Retry-After, not 401 (a 401
 * would send an MCP client to re-authorise with a token that is fine).
 */
export type AuthOutcome =
  | { ok: true; caller: Caller }
  | { ok: false; error: 'invalid_request' | 'invalid_token'; description: string }
  | { ok: false; error: 'unavailable'; description: string };

/** Seconds a client should wait after `unavailable` (jose retries the JWKS on the next request). */
export const KEYS_UNAVAILABLE_RETRY_S = 10;

/** The issuer's key set could not be had: fetch failed, timed out, not 200, not a JWKS. */
class IssuerKeysUnavailable extends Error {}

const DEFAULT_RPM = 120;
const HEX64 = /^[0-9a-f]{64}$/;

const idShape = z.string().min(1).max(200).regex(/^[\w.@:+-]+$/, 'letters, digits and . _ @ : + - only');
const tokensFileShape = z.object({
  tokens: z.array(z.object({
    id: idShape,
    sha256: z.string().transform((s) => s.toLowerCase()).pipe(z.string().regex(HEX64, 'a SHA-256 hex digest (64 hex digits), never the token itself')),
    team: idShape.optional(),
    rpm: z.number().int().positive().optional(),
    budget_usd_month: z.number().nonnegative().optional(),
  }).strict()).default([]),
  teams: z.array(z.object({ id: idShape, budget_usd_month: z.number().nonnegative().optional() }).strict()).default([]),
  /** Limits for principals that have none of their own (JWT subjects, tokens without rpm/budget). */
  defaults: z.object({ rpm: z.number().int().positive().optional(), budget_usd_month: z.number().nonnegative().optional() }).strict().default({}),
}).strict();

export type TokensFile = z.infer<typeof tokensFileShape>;

export function parseTokensFile(text: string, file: string): TokensFile {
  let raw: unknown;
  try {
    raw = YAML.parse(text, { maxAliasCount: 100 }) ?? {};
  } catch (err) {
    throw new UserError(`${file}: not valid YAML/JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  const parsed = tokensFileShape.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UserError(`${file}: ${issue.path.join('.') || '(top)'}: ${issue.message}`);
  }
  const ids = new Set<string>();
  for (const t of parsed.data.tokens) {
    if (ids.has(t.id)) throw new UserError(`${file}: token id "${t.id}" appears twice`);
    ids.add(t.id);
  }
  return parsed.data;
}

export function sha256Hex(token: string): string {
  return crypto.createHash('sha256').update(token, 'utf8').digest('hex');
}

export interface AuthConfig {
  tokensFile?: string;
  jwt?: { issuer: string; audience: string; jwksUrl: string; algorithms: string[]; teamClaim: string };
}

export function authConfigFromEnv(env: NodeJS.ProcessEnv): AuthConfig {
  const config: AuthConfig = {};
  if (env.SWITCHBOARD_TOKENS_FILE?.trim()) config.tokensFile = env.SWITCHBOARD_TOKENS_FILE.trim();
  const issuer = env.SWITCHBOARD_JWT_ISSUER?.trim();
  const audience = env.SWITCHBOARD_JWT_AUDIENCE?.trim();
  const jwksUrl = env.SWITCHBOARD_JWKS_URL?.trim();
  if (issuer || audience || jwksUrl) {
    if (!issuer || !audience || !jwksUrl) throw new UserError('JWT auth needs all three of SWITCHBOARD_JWT_ISSUER, SWITCHBOARD_JWT_AUDIENCE and SWITCHBOARD_JWKS_URL');
    let url: URL;
    try {
      url = new URL(jwksUrl);
    } catch {
      throw new UserError('SWITCHBOARD_JWKS_URL is not a URL');
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) throw new UserError('SWITCHBOARD_JWKS_URL must be https:// (http:// only on loopback)');
    const algorithms = (env.SWITCHBOARD_JWT_ALGORITHMS ?? 'RS256,PS256,ES256,EdDSA').split(',').map((a) => a.trim()).filter(Boolean);
    if (algorithms.some((a) => a.toLowerCase() === 'none' || a.startsWith('HS'))) throw new UserError('SWITCHBOARD_JWT_ALGORITHMS: only asymmetric algorithms verified with the JWKS are allowed');
    config.jwt = { issuer, audience, jwksUrl, algorithms, teamClaim: env.SWITCHBOARD_JWT_TEAM_CLAIM?.trim() || 'team' };
  }
  return config;
}

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** Re-read when the file changes (a rotated Kubernetes Secret), checked at most every few seconds. */
const RELOAD_CHECK_MS = 2_000;

export class Authenticator {
  private tokens: TokensFile = { tokens: [], teams: [], defaults: {} };
  private tokenDigests: Array<{ digest: Buffer; index: number }> = [];
  private loadedStamp = '';
  private checkedAt = 0;
  private readonly jwks: JWTVerifyGetKey | undefined;

  constructor(readonly config: AuthConfig, private readonly log: (line: string) => void = () => {}) {
    if (config.tokensFile) this.load(true);
    if (config.jwt) {
      const keys = createRemoteJWKSet(new URL(config.jwt.jwksUrl), { timeoutDuration: 5_000, cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 });
      this.jwks = async (header, token) => {
        try {
          return await keys(header, token);
        } catch (err) {
          throw keyFetchFailed(err) ? new IssuerKeysUnavailable('the issuer\'s keys could not be fetched', { cause: err }) : err;
        }
      };
    }
  }

  get enabled(): boolean {
    return Boolean(this.config.tokensFile || this.config.jwt);
  }

  private load(first: boolean): void {
    const file = this.config.tokensFile!;
    let stamp: string;
    try {
      const st = fs.statSync(file);
      stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch (err) {
      if (first) throw new UserError(`SWITCHBOARD_TOKENS_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      return;
    }
    if (stamp === this.loadedStamp) return;
    try {
      const parsed = parseTokensFile(fs.readFileSync(file, 'utf8'), file);
      this.tokens = parsed;
      this.tokenDigests = parsed.tokens.map((t, index) => ({ digest: Buffer.from(t.sha256, 'hex'), index }));
      this.loadedStamp = stamp;
      if (!first) this.log(`tokens file reloaded (${parsed.tokens.length} tokens)`);
    } catch (err) {
      if (first) throw err;
      // A half-written or broken update keeps the last good list in force.
      this.log(`tokens file not reloaded: ${(err as Error).message}`);
    }
  }

  private refresh(): void {
    if (!this.config.tokensFile) return;
    const now = Date.now();
    if (now - this.checkedAt < RELOAD_CHECK_MS) return;
    this.checkedAt = now;
    this.load(false);
  }

  /** A principal's own monthly budget: its token's, else the defaults'. */
  budgetFor(id: string): number | undefined {
    return this.tokens.tokens.find((t) => t.id === id)?.budget_usd_month ?? this.tokens.defaults.budget_usd_month;
  }

  /** Budget for a principal's team (tokens file `teams`), if any. */
  teamBudget(team: string | undefined): number | undefined {
    if (team === undefined) return undefined;
    return this.tokens.teams.find((t) => t.id === team)?.budget_usd_month;
  }

  private limitsFor(own: { rpm?: number }): Limits {
    return { rpm: own.rpm ?? this.tokens.defaults.rpm ?? DEFAULT_RPM };
  }

  /** The caller behind an Authorization header value (or why not). */
  async authenticate(header: string | undefined): Promise<AuthOutcome> {
    if (!header) return { ok: false, error: 'invalid_request', description: 'no bearer token' };
    const match = /^Bearer +([A-Za-z0-9._~+/=-]{1,8192})$/i.exec(header.trim());
    if (!match) return { ok: false, error: 'invalid_request', description: 'the Authorization header must be "Bearer <token>"' };
    const token = match[1]!;
    if (this.config.jwt && token.split('.').length === 3) return this.verifyJwt(token);
    return this.verifyToken(token);
  }

  private verifyToken(token: string): AuthOutcome {
    this.refresh();
    const digest = crypto.createHash('sha256').update(token, 'utf8').digest();
    // Every stored digest is compared, each in constant time, so timing says nothing about which one matched.
    let found = -1;
    for (const { digest: stored, index } of this.tokenDigests) {
      if (crypto.timingSafeEqual(stored, digest) && found < 0) found = index;
    }
    if (found < 0) return { ok: false, error: 'invalid_token', description: 'unknown token' };
    const t = this.tokens.tokens[found]!;
    return { ok: true, caller: { principal: t.team ? { id: t.id, team: t.team } : { id: t.id }, limits: this.limitsFor(t), via: 'token' } };
  }

  private async verifyJwt(token: string): Promise<AuthOutcome> {
    const jwt = this.config.jwt!;
    try {
      const { payload } = await jwtVerify(token, this.jwks!, { issuer: jwt.issuer, audience: jwt.audience, algorithms: jwt.algorithms, requiredClaims: ['exp', 'sub'], clockTolerance: 30 });
      const sub = idShape.safeParse(payload.sub);
      if (!sub.success) return { ok: false, error: 'invalid_token', description: 'the token\'s subject is not a usable id' };
      const teamClaim = payload[jwt.teamClaim];
      const team = typeof teamClaim === 'string' && idShape.safeParse(teamClaim).success ? teamClaim : undefined;
      this.refresh();
      return { ok: true, caller: { principal: team ? { id: sub.data, team } : { id: sub.data }, limits: this.limitsFor({}), via: 'jwt' } };
    } catch (err) {
      if (err instanceof IssuerKeysUnavailable) {
        this.log(`JWKS unavailable: ${oneLineCause(err)}`);
        return { ok: false, error: 'unavailable', description: 'the identity provider\'s keys could not be fetched; retry shortly' };
      }
      const code = (err as { code?: string }).code ?? 'ERR_JWT_INVALID';
      // jose's codes say what failed (expired, claim, signature) without echoing the token.
      return { ok: false, error: 'invalid_token', description: jwtProblem(code, err as Error) };
    }
  }
}

/**
 * jose's errors for a key set it could not get: a timeout, a non-200 answer or unparsable body (JOSEError's generic
 * code), a body that is not a JWKS, or fetch's own TypeError (connection refused, DNS). Not a token's fault.
 */
function keyFetchFailed(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  if (code === 'ERR_JWKS_TIMEOUT' || code === 'ERR_JOSE_GENERIC' || code === 'ERR_JWKS_INVALID') return true;
  return err instanceof TypeError && code === undefined;
}

/** The underlying reason, for the server's log (no token in it: only the fetch's error). */
function oneLineCause(err: Error): string {
  const cause = err.cause as { message?: string; cause?: { code?: string; message?: string } } | undefined;
  const detail = cause?.cause?.code ?? cause?.cause?.message ?? cause?.message ?? 'unknown';
  return String(detail).split('\n')[0]!.slice(0, 200);
}

function jwtProblem(code: string, err: Error): string {
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return 'the token has expired';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return `the token's ${(err as { claim?: string }).claim ?? 'claims'} claim is not accepted`;
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return 'the token\'s algorithm is not allowed';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'the token\'s signature does not verify';
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return 'no key of the issuer matches the token';
    default:
      return 'the token is not valid';
  }
}
