/**
 * `switchboard serve --http`: the team server. Binds 127.0.0.1 unless told otherwise; refuses to start
 * without auth (tokens file or JWT issuer) unless --no-auth on a loopback address. SIGTERM/SIGINT drain it.
 */
import pino from 'pino';
import { UserError } from '../../core/errors';
import { Authenticator, authConfigFromEnv, isLoopbackHost } from '../http/auth';
import { HostedContext, hostedTools } from '../http/hosted';
import { ServerMetrics } from '../http/metrics';
import { startHttpServer } from '../http/server';
import { SWITCHBOARD_VERSION } from '../version';

export async function serveHttp(values: Record<string, unknown>, env: NodeJS.ProcessEnv): Promise<number> {
  const host = typeof values.host === 'string' ? values.host : env.SWITCHBOARD_HOST ?? '127.0.0.1';
  const portText = typeof values.port === 'string' ? values.port : env.PORT ?? '8787';
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UserError(`--port: expected a port number, got "${portText}"`);
  const noAuth = values['no-auth'] === true;
  // One JSON line per event on stderr; never prompts, tokens or keys (nothing logs them).
  const logger = pino({ base: { service: 'switchboard' }, timestamp: pino.stdTimeFunctions.isoTime, level: env.SWITCHBOARD_LOG_LEVEL ?? 'info' }, pino.destination({ dest: 2, sync: true }));
  const auth = new Authenticator(authConfigFromEnv(env), (line) => logger.info(line));
  if (noAuth && !isLoopbackHost(host)) throw new UserError('--no-auth is only allowed on a loopback address (127.0.0.1, ::1, localhost)');
  if (!noAuth && !auth.enabled) throw new UserError('no auth configured: set SWITCHBOARD_TOKENS_FILE and/or SWITCHBOARD_JWT_ISSUER, SWITCHBOARD_JWT_AUDIENCE, SWITCHBOARD_JWKS_URL (or --no-auth on loopback)');

  const metrics = new ServerMetrics();
  const hosted = new HostedContext({ env, auth, metrics, log: (line) => logger.info(line) });
  let running;
  try {
    running = await startHttpServer({ host, port, noAuth, hosted, auth, metrics, logger, tools: hostedTools(), version: SWITCHBOARD_VERSION, env });
  } catch (err) {
    await hosted.close();
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') throw new UserError(`cannot listen on ${host}:${port} (${code})`);
    throw err;
  }
  logger.info({ url: running.url, auth: noAuth ? 'none' : [auth.config.tokensFile ? 'tokens' : '', auth.config.jwt ? 'jwt' : ''].filter(Boolean).join('+') }, 'listening');
  // The line tests and scripts wait for (stdout stays free of everything else).
  process.stdout.write(`switchboard team server listening on ${running.url}/mcp\n`);

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'shutting down');
      void running.shutdown().then(resolve, (err: unknown) => {
        logger.error({ err: (err as Error)?.message }, 'shutdown failed');
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  logger.info('stopped');
  return 0;
}
