/**
 * The team server's HTTP front: MCP over Streamable HTTP at /mcp (stateless: a fresh MCP server and transport per
 * request, so any replica can answer any request), /healthz, /readyz, /metrics and the OAuth protected resource
 * metadata (RFC 9728). Every request passes the Host/Origin checks (DNS rebinding), the body cap and the
 * timeouts before any MCP code sees it; /mcp also needs a valid bearer token or JWT and is held to the caller's
 * calls-per-minute. One JSON log line per request (never prompts, tokens or keys).
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { Logger } from 'pino';
import type { Principal } from '../../core/ledger/types';
import { createServer } from '../server';
import type { ToolDefinition } from '../tools/tool';
import { KEYS_UNAVAILABLE_RETRY_S, isLoopbackHost, type Authenticator, type Caller } from './auth';
import type { HostedContext } from './hosted';
import type { ServerMetrics } from './metrics';
import { RateLimiter } from './rate-limit';

export interface HttpServerOptions {
  host: string;
  port: number;
  /** Serve /mcp without auth (only allowed on loopback; checked by the caller and again here). */
  noAuth: boolean;
  hosted: HostedContext;
  auth: Authenticator;
  metrics: ServerMetrics;
  logger: Logger;
  tools: ToolDefinition[];
  version: string;
  env: NodeJS.ProcessEnv;
}

export interface RunningServer {
  url: string;
  port: number;
  /** Stops accepting, lets in-flight work finish within the drain bound, cancels the rest, settles the ledger. */
  shutdown(): Promise<void>;
}

const MB = 1024 * 1024;

interface Settings {
  maxBodyBytes: number;
  toolTimeoutMs: number;
  drainMs: number;
  allowedOrigins: Set<string>;
  allowedHosts: Set<string> | undefined;
  publicUrl: string | undefined;
}

function settingsFrom(env: NodeJS.ProcessEnv): Settings {
  const list = (v: string | undefined) => (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  return {
    maxBodyBytes: positiveInt(env.SWITCHBOARD_MAX_BODY_BYTES) ?? 4 * MB,
    toolTimeoutMs: positiveInt(env.SWITCHBOARD_REQUEST_TIMEOUT_MS) ?? 600_000,
    drainMs: positiveInt(env.SWITCHBOARD_DRAIN_MS) ?? 20_000,
    allowedOrigins: new Set(list(env.SWITCHBOARD_ALLOWED_ORIGINS).map((o) => o.replace(/\/+$/, '').toLowerCase())),
    allowedHosts: env.SWITCHBOARD_ALLOWED_HOSTS ? new Set(list(env.SWITCHBOARD_ALLOWED_HOSTS).map((h) => h.toLowerCase())) : undefined,
    publicUrl: env.SWITCHBOARD_PUBLIC_URL?.trim().replace(/\/+$/, '') || undefined,
  };
}

export async function startHttpServer(options: HttpServerOptions): Promise<RunningServer> {
  const { hosted, auth, metrics, logger } = options;
  const loopback = isLoopbackHost(options.host);
  if (options.noAuth && !loopback) throw new Error('--no-auth is only allowed on a loopback address');
  const settings = settingsFrom(options.env);
  const limiter = new RateLimiter();
  const sweep = setInterval(() => limiter.sweep(), 60_000);
  sweep.unref();
  const active = new Set<{ abort(): void; done: Promise<void> }>();
  let draining = false;
  let readyCache: { at: number; ok: boolean; problem?: string } | undefined;

  const server = http.createServer({ requestTimeout: 60_000, headersTimeout: 15_000, keepAliveTimeout: 5_000, maxHeaderSize: 16 * 1024 });
  server.maxRequestsPerSocket = 1_000;
  server.maxConnections = positiveInt(options.env.SWITCHBOARD_MAX_CONNECTIONS) ?? 1_024;

  const anonymous: Caller = { principal: { id: hosted.anonymousId }, limits: { rpm: positiveInt(options.env.SWITCHBOARD_NO_AUTH_RPM) ?? 600 }, via: 'none' };

  function origin(req: http.IncomingMessage): string {
    if (settings.publicUrl) return settings.publicUrl;
    const host = req.headers.host ?? `${options.host}:${options.port}`;
    return `http://${host}`;
  }

  function metadataUrl(req: http.IncomingMessage): string {
    return `${origin(req)}/.well-known/oauth-protected-resource/mcp`;
  }

  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const started = performance.now();
    const reqId = randomUUID();
    const url = new URL(req.url ?? '/', 'http://x');
    const log: Record<string, unknown> = { reqId, method: req.method, path: url.pathname.slice(0, 200) };
    res.setHeader('x-request-id', reqId);
    res.on('close', () => {
      const route = ROUTES.has(url.pathname) ? url.pathname : 'other';
      metrics.httpRequests.inc({ route, code: String(res.statusCode) });
      if (route === '/healthz' || route === '/readyz' || route === '/metrics') return; // probes and scrapes would drown the log
      logger.info({ ...log, status: res.statusCode, ms: Math.round(performance.now() - started), ...(res.writableFinished ? {} : { aborted: true }) }, 'request');
    });

    const refusal = checkHostAndOrigin(req, loopback, settings);
    if (refusal) return send(res, 403, { error: refusal });

    switch (url.pathname) {
      case '/healthz':
        return send(res, 200, { status: 'ok' });
      case '/readyz':
        return void readiness().then((r) => send(res, r.ok ? 200 : 503, r.ok ? { status: 'ready' } : { status: draining ? 'draining' : 'not ready', problem: r.problem }));
      case '/metrics':
        return void metrics.registry.metrics().then((text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(text);
        });
      case '/.well-known/oauth-protected-resource':
      case '/.well-known/oauth-protected-resource/mcp':
        return send(res, 200, {
          resource: `${origin(req)}/mcp`,
          ...(auth.config.jwt ? { authorization_servers: [auth.config.jwt.issuer] } : {}),
          bearer_methods_supported: ['header'],
          resource_name: 'Switchboard team server',
        });
      case '/mcp':
        return void handleMcp(req, res, log).catch((err: unknown) => {
          logger.error({ reqId, err: (err as Error)?.message }, 'mcp request failed');
          if (!res.headersSent) send(res, 500, rpcError(-32603, 'internal error'));
          else res.end();
        });
      default:
        return send(res, 404, { error: 'not found' });
    }
  });

  async function readiness(): Promise<{ ok: boolean; problem?: string }> {
    if (draining) return { ok: false, problem: 'shutting down' };
    const now = Date.now();
    if (readyCache && now - readyCache.at < 1_000) return readyCache;
    try {
      await hosted.checkLedger(3_000);
      readyCache = { at: now, ok: true };
    } catch (err) {
      readyCache = { at: now, ok: false, problem: `ledger unreachable: ${String((err as Error)?.message ?? err).split('\n')[0]!.slice(0, 200)}` };
    }
    return readyCache;
  }

  async function handleMcp(req: http.IncomingMessage, res: http.ServerResponse, log: Record<string, unknown>): Promise<void> {
    if (draining) {
      res.setHeader('connection', 'close');
      return send(res, 503, rpcError(-32000, 'the server is shutting down; retry'), { 'retry-after': '1' });
    }
    let caller = anonymous;
    if (!options.noAuth) {
      const outcome = await auth.authenticate(req.headers.authorization);
      if (!outcome.ok && outcome.error === 'unavailable') {
        metrics.toolCalls.inc({ tool: '-', status: 'auth_unavailable' });
        return send(res, 503, rpcError(-32000, `unavailable: ${outcome.description}`), { 'retry-after': String(KEYS_UNAVAILABLE_RETRY_S) });
      }
      if (!outcome.ok) {
        metrics.toolCalls.inc({ tool: '-', status: 'unauthorized' });
        const challenge = `Bearer realm="switchboard", resource_metadata="${metadataUrl(req)}"${req.headers.authorization ? `, error="${outcome.error}", error_description="${outcome.description}"` : ''}`;
        return send(res, 401, rpcError(-32001, `unauthorized: ${outcome.description}`), { 'www-authenticate': challenge });
      }
      caller = outcome.caller;
    }
    log.principal = caller.principal.id;
    if (caller.principal.team) log.team = caller.principal.team;

    if (req.method === 'GET' || req.method === 'DELETE') {
      // Stateless: no session to resume or end, no server-initiated stream.
      return send(res, 405, rpcError(-32000, 'method not allowed: this server is stateless; POST JSON-RPC to /mcp'), { allow: 'POST' });
    }
    if (req.method !== 'POST') return send(res, 405, rpcError(-32000, 'method not allowed'), { allow: 'POST' });

    const body = await readBody(req, settings.maxBodyBytes);
    if (body.tooLarge) {
      res.setHeader('connection', 'close');
      return send(res, 413, rpcError(-32600, `request body over ${settings.maxBodyBytes} bytes`));
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.text);
    } catch {
      return send(res, 400, rpcError(-32700, 'parse error: the body is not JSON'));
    }
    const messages = Array.isArray(parsed) ? parsed : [parsed];
    const calls = messages.filter((m) => (m as { method?: unknown })?.method === 'tools/call');
    const rpc = messages.map((m) => (m as { method?: unknown })?.method).filter((m): m is string => typeof m === 'string');
    if (rpc.length) log.rpc = rpc.slice(0, 5).join(',').slice(0, 100);
    const tool = calls.map((c) => (c as { params?: { name?: unknown } }).params?.name).find((n): n is string => typeof n === 'string');
    if (tool) log.tool = tool.slice(0, 64);
    for (let i = 0; i < calls.length; i++) {
      const take = limiter.take(caller.principal.id, caller.limits.rpm);
      if (!take.ok) {
        metrics.refusals.inc({ reason: 'rpm' });
        metrics.toolCalls.inc({ tool: tool && options.tools.some((t) => t.name === tool) ? tool : '-', status: 'rate_limited' });
        return send(res, 429, rpcError(-32000, `rate limited: ${caller.limits.rpm} tool calls per minute for ${caller.principal.id}; retry in ${take.retryAfterS} s`), { 'retry-after': String(take.retryAfterS) });
      }
    }

    const mcp = createServer({ sidecar: hosted, version: options.version, tools: options.tools, resources: false, instructions: TEAM_INSTRUCTIONS });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: calls.length === 0 });
    let finish!: () => void;
    const entry = { abort: () => void mcp.close().catch(() => {}), done: new Promise<void>((resolve) => (finish = resolve)) };
    active.add(entry);
    metrics.inFlight.inc();
    const timer = setTimeout(() => {
      log.timedOut = true;
      entry.abort();
      if (!res.headersSent) send(res, 504, rpcError(-32000, 'the request took too long'));
      else res.end();
    }, settings.toolTimeoutMs);
    res.on('close', () => {
      clearTimeout(timer);
      // A client that went away cancels its work (the router releases its reservations).
      void mcp.close().catch(() => {});
      active.delete(entry);
      metrics.inFlight.dec();
      finish();
    });
    await mcp.connect(transport);
    const authed = req as http.IncomingMessage & { auth?: { token: string; clientId: string; scopes: string[]; extra: { principal: Principal } } };
    authed.auth = { token: '', clientId: caller.principal.id, scopes: [], extra: { principal: caller.principal } };
    await transport.handleRequest(authed, res, parsed);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  let shuttingDown: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    shutdown() {
      shuttingDown ??= (async () => {
        draining = true;
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        const deadline = Date.now() + settings.drainMs;
        while (active.size && Date.now() < deadline) await Promise.race([Promise.all([...active].map((a) => a.done)), sleep(Math.max(0, deadline - Date.now()))]);
        if (active.size) {
          logger.warn({ cancelled: active.size }, 'drain bound reached: cancelling in-flight requests');
          for (const a of active) a.abort();
          await Promise.race([Promise.all([...active].map((a) => a.done)), sleep(5_000)]);
        }
        server.closeAllConnections();
        await Promise.race([closed, sleep(2_000)]);
        clearInterval(sweep);
        await hosted.close();
      })();
      return shuttingDown;
    },
  };
}

const ROUTES = new Set(['/healthz', '/readyz', '/metrics', '/mcp', '/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp']);

const TEAM_INSTRUCTIONS = 'Delegate generation work (tests, docs, boilerplate) with `delegate`; it returns the text and writes nothing. `quota_status` shows your budget.';

/** DNS rebinding: a loopback server answers only to loopback Host names; a browser Origin must be allowed. */
function checkHostAndOrigin(req: http.IncomingMessage, loopback: boolean, settings: Settings): string | undefined {
  const host = (req.headers.host ?? '').toLowerCase();
  const hostname = host.replace(/:\d+$/, '');
  if (settings.allowedHosts) {
    if (!settings.allowedHosts.has(host) && !settings.allowedHosts.has(hostname)) return 'host not allowed';
  } else if (loopback && !isLoopbackHost(hostname)) {
    return 'host not allowed';
  }
  const originHeader = req.headers.origin;
  if (originHeader !== undefined) {
    const o = originHeader.replace(/\/+$/, '').toLowerCase();
    if (!settings.allowedOrigins.has(o)) return 'origin not allowed';
  }
  return undefined;
}

function readBody(req: http.IncomingMessage, max: number): Promise<{ tooLarge: boolean; text: string }> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) return Promise.resolve({ tooLarge: true, text: '' });
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= max) return void chunks.push(chunk);
      // Over the cap: stop keeping it; the 413 goes out with Connection: close.
      req.off('data', onData);
      req.resume();
      resolve({ tooLarge: true, text: '' });
    };
    req.on('data', onData);
    req.once('end', () => resolve({ tooLarge: false, text: Buffer.concat(chunks).toString('utf8') }));
    req.once('error', reject);
  });
}

function rpcError(code: number, message: string): Record<string, unknown> {
  return { jsonrpc: '2.0', error: { code, message }, id: null };
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return void res.end();
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function positiveInt(value: string | undefined): number | undefined {
  const n = value ? Number(value) : NaN;
  return Number.isInteger(n) && n > 0 ? n : undefined;
}
