/**
 * SidecarClient (vscode-free) checks every result against the tool's output schema: a sidecar from another build
 * that answers in an old shape fails at the call with a message saying so, instead of feeding the views fields
 * that mean something else (the quota_status cooldown/circuit drift).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { ToolContractError } from '../../src/sidecar/protocol';
import { SidecarClient } from '../../src/extension/sidecarClient/client';
import { REPO } from '../sidecar/helpers';

const silent = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

describe('SidecarClient: results checked against the contract', function () {
  this.timeout(60_000);
  let client: SidecarClient;
  after(() => client?.dispose());

  it('a drifted quota_status answer is refused with a ToolContractError naming the field', async () => {
    client = new SidecarClient({ folder: REPO, sidecarPath: path.join(REPO, 'test', 'fakes', 'drifted-sidecar.cjs'), env: () => ({ PATH: process.env.PATH }), log: silent, startTimeoutMs: 30_000 });
    await assert.rejects(client.callTool('quota_status'), (e: unknown) => e instanceof ToolContractError && /quota_status answered outside its contract \(providers\.0\.key_needed/.test(e.message));
    assert.equal(client.state, 'ready', 'the connection itself is fine');
  });
});
