/**
 * The production wiring the MCP tools and the CLI share (SidecarContext): router.yaml layers, the ledger in the
 * sidecar's own SWITCHBOARD_HOME with router.yaml's alerts, providers through their SDKs — in process.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SidecarContext } from '../../src/sidecar/context';
import { startFakeProviderServer } from '../fakes/provider-server';

describe('SidecarContext wiring', function () {
  this.timeout(30_000);

  it('a second roots change before the first is answered: tool calls still wait for the newest roots', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-context-roots-'));
    const workspace = path.join(root, 'ws');
    fs.mkdirSync(workspace);
    const sidecar = new SidecarContext({ workspace, workspaceExplicit: true, env: { ...process.env, SWITCHBOARD_HOME: path.join(root, 'home') }, actor: 'cli', log: () => {} });
    try {
      sidecar.setClientRoots(undefined);
      await sidecar.ready(); // settled, and the cascade code loaded
      sidecar.expectRoots();
      sidecar.expectRoots(); // releases the first expectation, not the second
      let done = false;
      const waiting = sidecar.ready().then(() => (done = true));
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(done, false, 'ready() waits for the roots the client has not sent yet');
      sidecar.setClientRoots([`file://${workspace}`]);
      await waiting;
      assert.equal(done, true);
    } finally {
      await sidecar.close();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('reads router.yaml layers, opens the ledger in its env SWITCHBOARD_HOME and routes through the SDKs', async () => {
    const server = await startFakeProviderServer();
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-context-wiring-'));
    const workspace = path.join(root, 'ws');
    fs.mkdirSync(path.join(workspace, '.mcp'), { recursive: true });
    // Everything but Gemini off, its daily quota set to 2, and a 50 % alert.
    fs.writeFileSync(path.join(workspace, '.mcp', 'router.yaml'), [
      'providers:',
      '  - {id: local, disabled: true}',
      '  - {id: together, disabled: true}',
      '  - {id: huggingface, disabled: true}',
      '  - id: gemini',
      '    quotas: [{metric: requests, window: day, limit: 2, reset_tz: America/Los_Angeles}]',
      'alerts: [0.5]',
    ].join('\n'));
    const env = { ...process.env, HOME: path.join(root, 'user'), SWITCHBOARD_HOME: path.join(root, 'home'), GEMINI_API_KEY: 'AIzaSyTEST-context-wiring-0000000000000000', SWITCHBOARD_GEMINI_BASE_URL: server.baseUrl('gemini', 'gem') };
    const sidecar = new SidecarContext({ workspace, workspaceExplicit: true, env, actor: 'cli', log: () => {} });
    sidecar.setClientRoots(undefined);
    try {
      const router = await sidecar.router();
      const r = await router.route({ task: 'docs', messages: [{ role: 'user', content: 'Document add().' }] });
      assert.deepEqual([r.provider, r.tier], ['gemini', 'free']);
      assert.deepEqual(r.quotaLeft.map((q) => [q.limit, q.left]), [[2, 1]]);
      assert.ok(fs.existsSync(path.join(env.SWITCHBOARD_HOME, 'ledger.sqlite')), 'the ledger lives in the env SWITCHBOARD_HOME');
      assert.equal(server.completions('gem').length, 1);
      assert.ok(r.skipped.some((s) => s.provider === 'openai' && /allow_paid is false/.test(s.reason)));
      assert.ok(r.events.some((e) => e.threshold === 0.5), 'router.yaml alerts are the ledger thresholds');
    } finally {
      await sidecar.close();
      await server.close();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('builds one Router per router configuration and a new one when a router.yaml changes, even to the same size', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-context-router-'));
    const workspace = path.join(root, 'ws');
    const routerFile = path.join(workspace, '.mcp', 'router.yaml');
    fs.mkdirSync(path.dirname(routerFile), { recursive: true });
    // Alerts: a setting a project may change (the trust model ignores a project's allow_paid, budget raises…).
    fs.writeFileSync(routerFile, 'alerts: [0.5]\n');
    const env = { ...process.env, HOME: path.join(root, 'user'), SWITCHBOARD_HOME: path.join(root, 'home') };
    const sidecar = new SidecarContext({ workspace, workspaceExplicit: true, env, actor: 'cli', log: () => {} });
    sidecar.setClientRoots(undefined);
    try {
      const first = await sidecar.router();
      assert.deepEqual(first.config.alerts, [0.5]);
      // Whether the second call may reuse it depends on how fresh the file is (racy window): poll until it does.
      let previous = first;
      let settled = await sidecar.router();
      for (let i = 0; settled !== previous && i < 400; i++) {
        await new Promise((r) => setTimeout(r, 50));
        previous = settled;
        settled = await sidecar.router();
      }
      assert.equal(await sidecar.router(), settled, 'unchanged configuration: the same Router');
      fs.writeFileSync(routerFile, 'alerts: [0.7]\n'); // the same size as before
      const changed = await sidecar.router();
      assert.notEqual(changed, settled);
      assert.deepEqual(changed.config.alerts, [0.7]);
    } finally {
      await sidecar.close();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
