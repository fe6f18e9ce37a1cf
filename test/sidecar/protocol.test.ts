/**
 * The typed contract itself: every served tool has its descriptor in the catalog (the tool spreads exactly that
 * descriptor), results are checked against the output schema on the client side, and the top-level
 * `--version` / `--help` of the built CLI.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { TOOL_DESCRIPTORS, quotaStatusDescriptor, readToolResult, ToolCallError, ToolContractError } from '../../src/sidecar/protocol';
import { ALL_TOOLS } from '../../src/sidecar/tools';
import { REPO, SIDECAR, buildOnce } from './helpers';

describe('protocol: one typed contract', () => {
  it('every served tool is in the catalog under its name, sharing the descriptor\'s schemas', () => {
    assert.deepEqual(ALL_TOOLS.map((t) => t.name).sort(), Object.keys(TOOL_DESCRIPTORS).sort());
    for (const tool of ALL_TOOLS) {
      const descriptor = TOOL_DESCRIPTORS[tool.name as keyof typeof TOOL_DESCRIPTORS];
      assert.equal(tool.input, descriptor.input, `${tool.name}: input is the descriptor's`);
      assert.equal(tool.output, descriptor.output, `${tool.name}: output is the descriptor's`);
      assert.equal(tool.description, descriptor.description);
    }
  });

  it('readToolResult types a result, and refuses one outside the contract or an error result', () => {
    const ok = {
      content: [{ type: 'text', text: 'summary' }, { type: 'text', text: 'note' }],
      structuredContent: { providers: [], month: { month: '2026-11', calls: 0, usd: 0, baseline_usd: 0 } },
    };
    const r = readToolResult(quotaStatusDescriptor, ok);
    assert.equal(r.text, 'summary');
    assert.equal(r.notes, 'note');
    assert.equal(r.structured.month.month, '2026-11');
    // A sidecar of another build: `cooldown_until` meant something else and `circuit` did not exist.
    const drifted = { content: [], structuredContent: { providers: [{ id: 'x', tier: 'free', has_key: true, quotas: [], cooldown_until: 'soon' }], month: ok.structuredContent.month } };
    assert.throws(() => readToolResult(quotaStatusDescriptor, drifted), (e: unknown) => e instanceof ToolContractError && /quota_status answered outside its contract \(providers\.0\.key_needed/.test(e.message));
    assert.throws(() => readToolResult(quotaStatusDescriptor, { isError: true, content: [{ type: 'text', text: 'ledger locked' }] }), (e: unknown) => e instanceof ToolCallError && e.message === 'ledger locked');
  });
});

describe('switchboard --version / --help (built CLI)', function () {
  this.timeout(60_000);
  before(() => buildOnce());
  const version = (JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

  it('--version prints the package version and exits, even with stdin not a terminal (no serving)', () => {
    for (const flag of ['--version', '-V']) {
      const r = spawnSync(process.execPath, [SIDECAR, flag], { input: '', encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, `switchboard ${version}\n`);
    }
  });

  it('--help lists every command and --version; `<command> --help` gives that command\'s summary', () => {
    const out = execFileSync(process.execPath, [SIDECAR, '--help'], { input: '', encoding: 'utf8', timeout: 30_000 });
    for (const name of ['serve', 'agents', 'servers', 'context', 'install', 'quota', 'backups', 'delegate', 'demo']) assert.match(out, new RegExp(`^  ${name} `, 'm'));
    assert.match(out, /--version/);
    const quota = execFileSync(process.execPath, [SIDECAR, 'quota', '--help'], { input: '', encoding: 'utf8', timeout: 30_000 });
    assert.match(quota, /^switchboard quota: Quota left per provider/);
  });

  it('the bundle carries the version alone, not the whole package.json', () => {
    // The launcher and the bundle it runs.
    const files = [SIDECAR, path.join(path.dirname(SIDECAR), 'sidecar', 'bundle.js')];
    for (const file of files) assert.ok(!fs.readFileSync(file, 'utf8').includes('mcpServerDefinitionProviders'), `the extension manifest is not in ${path.basename(file)}`);
  });
});
