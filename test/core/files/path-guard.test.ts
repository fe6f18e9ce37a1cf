/** The name-matching rules under the path policy, and volume detection. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { WorkspaceFiles } from '../../../src/core/files';
import { detectVolumeRules, extensionAllowed, forbiddenMatch, foldName, isInside } from '../../../src/core/files/path-guard';
import { BUILTIN_FORBIDDEN, DEFAULT_ALLOWED_EXTENSIONS } from '../../../src/core/files/policy';
import { removeDir, tempDir } from './helpers';

describe('files: path-guard matching rules', () => {
  it('folds names the way any file system might equate them', () => {
    assert.equal(foldName('.ENV. '), '.env');
    assert.equal(foldName('Cafe\u0301'), 'caf\u00e9');
  });

  const forbidden: Array<[string[], string | undefined]> = [
    [['.env'], '.env*'],
    [['app', '.env.production'], '.env*'],
    [['.git'], '.git/'],
    [['sub', '.git', 'HEAD'], '.git/'],
    [['.github', 'workflows', 'ci.yml'], '.github/workflows/'],
    [['.github', 'CODEOWNERS'], undefined],
    [['docs', 'workflows', 'x.md'], undefined],
    [['environment.ts'], undefined],
    [['src', 'git', 'x.ts'], undefined],
    [['.gitignore'], undefined],
    [['.mcp', 'servers', 'core.json'], '.mcp/'],
  ];
  for (const [parts, hit] of forbidden) {
    it(`forbidden: ${parts.join('/')} → ${hit ?? 'allowed'}`, () => assert.equal(forbiddenMatch(BUILTIN_FORBIDDEN, parts), hit));
  }

  it('extension allowlist: extensions, whole names, case, multi-dot', () => {
    const ok = (n: string) => extensionAllowed(DEFAULT_ALLOWED_EXTENSIONS, n);
    assert.ok(ok('a.ts') && ok('A.TS') && ok('types.d.ts') && ok('Makefile') && ok('.gitignore'));
    assert.ok(!ok('id_rsa') && !ok('key.pem') && !ok('a.exe') && !ok('.npmrc') && !ok('ts'));
  });

  it('containment is per component and follows the volume rules', () => {
    const exact = { caseInsensitive: false, normalizationInsensitive: false };
    const loose = { caseInsensitive: true, normalizationInsensitive: true };
    assert.ok(isInside(exact, '/w/ws', '/w/ws/a.ts'));
    assert.ok(!isInside(exact, '/w/ws', '/w/ws-evil/a.ts'));
    assert.ok(!isInside(exact, '/w/ws', '/w'));
    assert.ok(!isInside(exact, '/w/ws', '/w/WS/a.ts'), 'on a case-sensitive volume /w/WS is another folder');
    assert.ok(isInside(loose, '/w/ws', '/w/WS/a.ts'));
    assert.ok(!isInside(exact, '/w/caf\u00e9', '/w/cafe\u0301/a.ts'));
    assert.ok(isInside(loose, '/w/caf\u00e9', '/w/cafe\u0301/a.ts'));
    assert.ok(!isInside(loose, '/w/ws', '/w/ws-evil/a.ts'));
  });

  it('detects how this volume compares names, leaving no probe behind', () => {
    const dir = tempDir();
    try {
      const rules = detectVolumeRules(dir);
      // Linux ext4/tmpfs: exact; macOS APFS/HFS+ and Windows NTFS: case-insensitive.
      const expected = process.platform === 'linux' ? false : true;
      assert.equal(rules.caseInsensitive, expected);
      assert.deepEqual(fs.readdirSync(dir), []);
    } finally {
      removeDir(dir);
    }
  });

  it('refuses a missing workspace plainly', async () => {
    const dir = tempDir();
    await assert.rejects(WorkspaceFiles.open(path.join(dir, 'missing')), /The workspace folder does not exist/);
    removeDir(dir);
  });

  it('a read below real folders skips the realpath walk and then must prove the opened path; a link on the way takes the walk', async () => {
    const dir = tempDir();
    try {
      const ws = fs.realpathSync(dir);
      fs.mkdirSync(path.join(ws, 'src', 'deep'), { recursive: true });
      fs.writeFileSync(path.join(ws, 'src', 'deep', 'a.ts'), 'export {};\n');
      fs.symlinkSync(path.join(ws, 'src'), path.join(ws, 'linked'));
      const files = await WorkspaceFiles.open(ws);
      const plain = files.check('src/deep/a.ts', 'read');
      assert.equal(plain.abs, path.join(ws, 'src', 'deep', 'a.ts'));
      // Only where the opened file's path can be read back (Linux /proc) is the walk skipped.
      assert.equal(plain.openedPathMustMatch, process.platform === 'linux' ? true : undefined);
      const viaLink = files.check('linked/deep/a.ts', 'read');
      assert.equal(viaLink.abs, path.join(ws, 'src', 'deep', 'a.ts'), 'a link on the way is resolved to the canonical path');
      assert.equal(viaLink.openedPathMustMatch, undefined);
      // Writes always take the full walk.
      assert.equal(files.check('src/deep/a.ts', 'write').openedPathMustMatch, undefined);
      assert.equal((await files.read('linked/deep/a.ts', { actor: 'cli' })).text, 'export {};\n');
      await files.idle();
    } finally {
      removeDir(dir);
    }
  });
});
