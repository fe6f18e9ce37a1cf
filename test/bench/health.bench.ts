/**
 * Server health and PROJECT_CONTEXT.md figures, each beside a reference measured in the same run:
 * - checkServers on a real stdio MCP server (spawn → initialize → tools/list → stop, lock file taken and released)
 *   vs the bare SDK doing the same handshake with its own StdioClientTransport;
 * - a cached check (5-minute cache hit) vs the uncached one;
 * - syncProjectContext on an unchanged state (read everything, render, compare, write nothing) vs loading the
 *   two cascades alone.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ServerCascade, WorkspaceCascade } from '../../src/core/cascade';
import { syncProjectContext } from '../../src/core/context';
import { checkServers } from '../../src/sidecar/health';
import { ratio, summary, time } from './stats';

const REPO = path.resolve(__dirname, '..', '..');

function fixtureSource(): string {
  const req = (m: string) => JSON.stringify(require.resolve(m));
  return `
const { McpServer } = require(${req('@modelcontextprotocol/sdk/server/mcp.js')});
const { StdioServerTransport } = require(${req('@modelcontextprotocol/sdk/server/stdio.js')});
const server = new McpServer({ name: 'fixture', version: '1.0.0' });
server.registerTool('hello', { description: 'hello' }, async () => ({ content: [{ type: 'text', text: 'hello' }] }));
server.registerTool('bye', { description: 'bye' }, async () => ({ content: [{ type: 'text', text: 'bye' }] }));
process.stdin.on('end', () => process.exit(0));
server.connect(new StdioServerTransport());
`;
}

export async function run(): Promise<object> {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'sb-bench-health-')));
  try {
    const workspace = path.join(root, 'ws');
    fs.cpSync(path.join(REPO, 'media', 'sample-workspace'), workspace, { recursive: true, filter: (src) => path.basename(src) !== '.switchboard' });
    const fixture = path.join(root, 'fixture.cjs');
    fs.writeFileSync(fixture, fixtureSource());
    fs.writeFileSync(path.join(workspace, '.mcp.json'), JSON.stringify({ mcpServers: { fixture: { command: process.execPath, args: [fixture] } } }));
    fs.mkdirSync(path.join(root, 'home'));
    // The fixture server is project-defined: checked only in a trusted folder (here, trusted as the editor would).
    const env = { PATH: process.env.PATH, HOME: path.join(root, 'home'), SWITCHBOARD_HOME: path.join(root, 'sb'), SWITCHBOARD_TRUSTED_FOLDERS: workspace };
    const server = new ServerCascade({ workspace, env }).load().servers.find((s) => s.id === 'fixture')!;

    const n = 15;
    const ours = await time(n, async () => {
      const [r] = await checkServers([server], { env, cwd: workspace, refresh: true });
      if (r!.status !== 'healthy') throw new Error(`fixture not healthy: ${r!.error}`);
    }, 2);
    const sdk = await time(n, async () => {
      const client = new Client({ name: 'bench', version: '1' });
      const transport = new StdioClientTransport({ command: process.execPath, args: [fixture], stderr: 'ignore' });
      await client.connect(transport);
      await client.listTools();
      await client.close();
    }, 2);
    const cached = await time(200, async () => {
      const [r] = await checkServers([server], { env, cwd: workspace });
      if (!r!.cached) throw new Error('expected a cache hit');
    });

    const deps = { env, bundledAgentsDir: path.join(REPO, 'media', 'default-agents') };
    await syncProjectContext(workspace, deps, { actor: 'cli' });
    const unchanged = await time(50, async () => {
      const r = await syncProjectContext(workspace, deps, { actor: 'cli' });
      if (r.changed) throw new Error('state changed between runs');
    });
    const cascadesOnly = await time(50, () => new WorkspaceCascade({ workspace, env, bundledAgentsDir: deps.bundledAgentsDir }).load());

    const o = summary(ours);
    const s = summary(sdk);
    const c = summary(cached);
    const u = summary(unchanged);
    const l = summary(cascadesOnly);
    return {
      stdio_check: { ...o, reference: 'bare SDK Client + StdioClientTransport: connect, tools/list, close', reference_p50_ms: s.p50_ms, ratio_p50: ratio(o.p50_ms, s.p50_ms) },
      cached_check: { ...c, reference: 'uncached check (above)', speedup_p50: ratio(o.p50_ms, c.p50_ms) },
      context_unchanged: { ...u, reference: 'loading both cascades alone (fresh objects)', reference_p50_ms: l.p50_ms, ratio_p50: ratio(u.p50_ms, l.p50_ms) },
    };
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}
