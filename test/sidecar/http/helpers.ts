/**
 * Team server test helpers: the built sidecar started with `serve --http --port 0` as a real process, a local
 * JWKS issuer (jose keys served over HTTP on 127.0.0.1), and a tokens file holding only hashes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import type { FakeProviderServer } from '../../fakes/provider-server';
import { SIDECAR, type Scratch } from '../helpers';

export const OPENAI_KEY = 'sk-proj-' + 'x'.repeat(40);

/** The team server's environment: state in the scratch, OpenAI (paid, allowed) pointed at the fake server. */
export function serverEnv(scratch: Scratch, fake: FakeProviderServer, extra: Record<string, string> = {}): Record<string, string> {
  fs.writeFileSync(path.join(scratch.switchboardHome, 'router.yaml'), 'routing:\n  allow_paid: true\n');
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: scratch.home,
    SWITCHBOARD_HOME: scratch.switchboardHome,
    SWITCHBOARD_LOCAL_BASE_URL: 'http://127.0.0.1:9/v1',
    SWITCHBOARD_OPENAI_BASE_URL: fake.baseUrl('openai'),
    OPENAI_API_KEY: OPENAI_KEY,
    ...extra,
  };
}


export interface TeamServer {
  origin: string;
  mcpUrl: string;
  proc: ChildProcess;
  stderr(): string;
  /** Sends the signal and resolves with the exit code (null when killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function startTeamServer(env: Record<string, string>, args: string[] = [], timeoutMs = 30_000): Promise<TeamServer> {
  const proc = spawn(process.execPath, [SIDECAR, 'serve', '--http', '--port', '0', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const origin = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`team server did not start: ${stderr}`)), timeoutMs);
    proc.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString('utf8');
      const m = /listening on (http:\/\/\S+)\/mcp/.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`team server exited (${code}): ${stderr}`));
    });
  });
  return {
    origin,
    mcpUrl: `${origin}/mcp`,
    proc,
    stderr: () => stderr,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), 40_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Runs a process to its end (for start-up refusals). */
export function runSidecar(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [SIDECAR, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout!.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export function sha256(text: string): string {
  return crypto.createHash('sha256').update(text).digest('hex');
}

export interface TokenSpec {
  id: string;
  token: string;
  team?: string;
  rpm?: number;
  budget_usd_month?: number;
}

/** A tokens file with hashes only (the tokens themselves stay in the test). */
export function writeTokensFile(file: string, tokens: TokenSpec[], extra: Record<string, unknown> = {}): void {
  const doc = { tokens: tokens.map(({ token, ...rest }) => ({ ...rest, sha256: sha256(token) })), ...extra };
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(doc, null, 2));
}

export interface LocalIssuer {
  issuer: string;
  jwksUrl: string;
  sign(claims: Record<string, unknown>, options?: { expiresIn?: string | number; audience?: string; issuer?: string; key?: CryptoKey; kid?: string }): Promise<string>;
  /** A key pair the JWKS does not publish. */
  foreignKey: CryptoKey;
  close(): Promise<void>;
}

export async function startLocalIssuer(audience: string): Promise<LocalIssuer> {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const foreign = await generateKeyPair('ES256');
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const server = http.createServer((req, res) => {
    if (req.url === '/jwks.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const issuer = `${origin}/`;
  return {
    issuer,
    jwksUrl: `${origin}/jwks.json`,
    foreignKey: foreign.privateKey,
    async sign(claims, options = {}) {
      return new SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', kid: options.kid ?? 'k1' })
        .setIssuer(options.issuer ?? issuer)
        .setAudience(options.audience ?? audience)
        .setIssuedAt()
        .setExpirationTime(options.expiresIn ?? '10m')
        .sign(options.key ?? privateKey);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** An unsigned token (`alg: none`), as an attacker would send one. */
export function unsignedToken(claims: Record<string, unknown>): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
}

/** Polls until `check` returns a value (generous bounds: the machine is shared). */
export async function waitFor<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
