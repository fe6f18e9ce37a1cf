import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * A throwaway PostgreSQL server for tests: initdb into a temp dir, pg_ctl on a free 127.0.0.1 port (as user
 * postgres when we are root, since the server refuses to run as root), stopped and removed by stop().
 * fsync is off: these tests check logic and concurrency, never durability across power cuts.
 * Missing binaries FAIL the suite with a clear message; SWITCHBOARD_SKIP_PG=1 skips it instead (pgDescribe).
 */

export const skipPostgres = process.env.SWITCHBOARD_SKIP_PG === '1';
/** describe, or describe.skip when SWITCHBOARD_SKIP_PG=1 (then reported as skipped, never as passing). */
export function pgDescribe(title: string, fn: (this: Mocha.Suite) => void): void {
  (skipPostgres ? describe.skip : describe)(title, fn);
}

export function findPostgresBin(): string | undefined {
  const candidates: string[] = [];
  const root = '/usr/lib/postgresql';
  if (fs.existsSync(root)) {
    for (const v of fs.readdirSync(root).sort((a, b) => Number(b) - Number(a))) candidates.push(path.join(root, v, 'bin'));
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) if (dir) candidates.push(dir);
  return candidates.find((d) => fs.existsSync(path.join(d, 'initdb')) && fs.existsSync(path.join(d, 'pg_ctl')));
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function runAsServerUser(bin: string, args: string[]): string {
  if (!isRoot) return execFileSync(bin, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return execFileSync('su', ['postgres', '-s', '/bin/sh', '-c', [bin, ...args].map(quote).join(' ')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export class PostgresServer {
  private dbCounter = 0;
  private running = false;

  private constructor(readonly bin: string, readonly dir: string, readonly port: number, private readonly durable: boolean) {}

  /** durable: keep fsync on (benchmarks compare with the fsyncing sql.js ledger); tests leave it off for speed. */
  static async start(options: { durable?: boolean } = {}): Promise<PostgresServer> {
    const bin = findPostgresBin();
    if (!bin) {
      throw new Error(
        'PostgreSQL is not installed (no initdb/pg_ctl in /usr/lib/postgresql/*/bin or PATH): run scripts/install-postgres.sh ' +
        '(Debian package postgresql), or set SWITCHBOARD_SKIP_PG=1 to skip the PostgreSQL suites.',
      );
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-pg-'));
    if (isRoot) execFileSync('chown', ['-R', 'postgres:postgres', dir]);
    runAsServerUser(path.join(bin, 'initdb'), ['-D', path.join(dir, 'data'), '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
    const server = new PostgresServer(bin, dir, await freePort(), options.durable === true);
    server.startServer();
    return server;
  }

  /** postgres://postgres@127.0.0.1:PORT/DB */
  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  /** A fresh, empty database; returns its URL. */
  async createDatabase(prefix = 'ledger'): Promise<string> {
    const name = `${prefix}_${process.pid}_${++this.dbCounter}`;
    const { Client } = await import('pg');
    const client = new Client({ connectionString: this.url() });
    await client.connect();
    try {
      await client.query(`CREATE DATABASE ${name}`);
    } finally {
      await client.end();
    }
    return this.url(name);
  }

  startServer(): void {
    const speed = this.durable ? '' : ' -c fsync=off -c full_page_writes=off';
    const opts = `-c listen_addresses=127.0.0.1 -p ${this.port} -k ${this.dir}${speed} -c max_connections=300`;
    runAsServerUser(path.join(this.bin, 'pg_ctl'), ['-D', path.join(this.dir, 'data'), '-w', '-t', '120', '-l', path.join(this.dir, 'server.log'), '-o', opts, 'start']);
    this.running = true;
  }

  /** Stops the server at once (fast shutdown: open connections are cut). */
  stopServer(): void {
    if (!this.running) return;
    runAsServerUser(path.join(this.bin, 'pg_ctl'), ['-D', path.join(this.dir, 'data'), '-w', '-t', '120', '-m', 'fast', 'stop']);
    this.running = false;
  }

  log(): string {
    try {
      return fs.readFileSync(path.join(this.dir, 'server.log'), 'utf8');
    } catch {
      return '';
    }
  }

  async stop(): Promise<void> {
    try {
      this.stopServer();
    } finally {
      fs.rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

/** Inside a describe: one server for the suite, started before and stopped after it. */
export function usePostgres(): { server: () => PostgresServer } {
  let server: PostgresServer | undefined;
  before(async function () {
    this.timeout(180_000);
    server = await PostgresServer.start();
  });
  after(async function () {
    this.timeout(120_000);
    await server?.stop();
  });
  return {
    server: () => {
      if (!server) throw new Error('PostgreSQL test server not started');
      return server;
    },
  };
}
