import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { parseStructuredText } from '../../../src/core/config/structured-file';
import { FIXTURE } from './helpers';

const ROOT = path.resolve(__dirname, '../../..');
const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  contributes: { jsonValidation: Array<{ fileMatch: string[]; url: string }>; yamlValidation: Array<{ fileMatch: string[]; url: string }> };
};
const OURS = ['agent', 'agents-discovery', 'mcp-discovery', 'mcp-servers', 'vscode-mcp'].map((n) => `./media/schemas/${n}.schema.json`);

/** VS Code's JSON and YAML services prefix a fileMatch pattern with "**\/" and match it against the file path. */
function schemasFor(rel: string): string[] {
  const all = [...manifest.contributes.jsonValidation, ...manifest.contributes.yamlValidation];
  return all.filter((v) => v.fileMatch.some((p) => path.matchesGlob('/ws/' + rel, '**/' + p.replace(/^\//, '')))).map((v) => v.url);
}

function walk(dir: string, base = dir): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const abs = path.join(dir, e.name);
    return e.isDirectory() ? walk(abs, base) : [path.relative(base, abs).split(path.sep).join('/')];
  });
}

describe('cascade JSON Schemas', () => {
  it('are draft-07 with a description on every property (for editor completion)', () => {
    for (const url of OURS) {
      const schema = JSON.parse(fs.readFileSync(path.join(ROOT, url), 'utf8'));
      assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#', url);
      const missing: string[] = [];
      const visit = (node: unknown, at: string) => {
        if (!node || typeof node !== 'object') return;
        const props = (node as { properties?: Record<string, { description?: string; $ref?: string }> }).properties;
        for (const [k, v] of Object.entries(props ?? {})) {
          if (!v.description && !v.$ref && !at.includes('subagent')) missing.push(`${at}.${k}`);
        }
        for (const [k, v] of Object.entries(node)) if (typeof v === 'object') visit(v, `${at}.${k}`);
      };
      visit(schema, url);
      assert.deepEqual(missing, [], `${url}: properties without description`);
    }
  });

  it('package.json contributes each schema to exactly the right fixture files', () => {
    const expected: Record<string, string> = {
      '.agents/core/ai-engineer.yaml': 'agent',
      '.agents/core/code-reviewer.yaml': 'agent',
      '.agents/project/journey-orchestrator.yaml': 'agent',
      '.agents/defaults/test-writer.yaml': 'agent',
      '.agents/discovery-config.yaml': 'agents-discovery',
      '.mcp/discovery-config.yaml': 'mcp-discovery',
      '.mcp/servers/core.json': 'mcp-servers',
      '.mcp/servers/optional.json': 'mcp-servers',
      '.mcp.json': 'mcp-servers',
      '.vscode/mcp.json': 'vscode-mcp',
    };
    for (const [rel, name] of Object.entries(expected)) {
      assert.deepEqual(schemasFor(rel), [`./media/schemas/${name}.schema.json`], rel);
    }
    assert.deepEqual(schemasFor('.agents/context/shared-architecture.md'), []);
    for (const url of OURS) assert.ok(fs.existsSync(path.join(ROOT, url)), url);
  });

  it('every fixture file validates cleanly against the schema its editor would use', () => {
    const files = walk(FIXTURE).filter((f) => /\.(ya?ml|json)$/.test(f));
    assert.ok(files.length >= 10, `found ${files.length} files`);
    for (const rel of files) {
      const [url] = schemasFor(rel);
      assert.ok(url, `${rel} has a schema`);
      const schema = JSON.parse(fs.readFileSync(path.join(ROOT, url!), 'utf8'));
      const parsed = parseStructuredText(rel, fs.readFileSync(path.join(FIXTURE, rel), 'utf8'), { schema, jsonc: rel === '.vscode/mcp.json' });
      assert.deepEqual(parsed.diagnostics, [], rel);
    }
  });
});
