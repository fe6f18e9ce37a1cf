/**
 * The path-policy security suite: every case runs a real read or write through WorkspaceFiles on real files,
 * and every denied case proves that nothing outside the workspace (nor inside it) was created or changed, and
 * that the message names the rule without showing an absolute path.
 *
 * Layout per case (fresh temp folder `base`):
 *   base/ws          the workspace: src/ok.ts, README.md, Makefile, .env, .git/config, pd/f.txt
 *   base/ws-evil     a look-alike sibling (CVE-2025-53110's prefix trick): x.ts
 *   base/outside     secrets the policy must never reach: secret.txt, secret.ts, pd2/f.txt
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { WorkspaceFiles } from '../../../src/core/files';
import { PathDenied, type DenyRule } from '../../../src/core/files/path-guard';
import { defaultPolicy, type FilePolicy } from '../../../src/core/files/policy';
import { diffSnapshots, removeDir, snapshot, tempDir, write } from './helpers';

interface Ctx {
  base: string;
  ws: string;
  outside: string;
  evil: string;
  /** Things to close after the case (socket servers). */
  cleanup: Array<() => Promise<void> | void>;
}

interface Case {
  threat: string;
  op: 'read' | 'write';
  input: string | ((c: Ctx) => string);
  expect: DenyRule | 'ok';
  setup?: (c: Ctx) => void | Promise<void>;
  policy?: (c: Ctx, p: FilePolicy) => void;
  volume?: { windowsNames?: boolean };
  /** Runs between the policy check and the use of the file. */
  swap?: (c: Ctx) => void;
  content?: string;
  /** For allowed reads: the text expected back. */
  expectText?: string;
}

const SECRET = 'TOP SECRET outside the workspace\n';
const OK_TS = 'export const ok = true;\n';
const NEW = 'export const generated = 1;\n';

const link = (target: string, at: string) => fs.symlinkSync(target, at);

const cases: Case[] = [
  // ---- traversal and normalisation ----------------------------------------------------------------------------
  { threat: 'classic ../ escape to read a sibling folder', op: 'read', input: '../outside/secret.txt', expect: 'traversal' },
  { threat: '../ escape to create a file outside', op: 'write', input: '../outside/new.ts', expect: 'traversal' },
  { threat: '.. hidden after a real folder name', op: 'read', input: 'src/../../outside/secret.txt', expect: 'traversal' },
  { threat: '.. that would stay inside is still refused (no lexical guessing)', op: 'write', input: 'src/../src/x.ts', expect: 'traversal' },
  { threat: './ prefix is harmless normalisation', op: 'read', input: './src/ok.ts', expect: 'ok', expectText: OK_TS },
  { threat: 'doubled slashes are harmless normalisation', op: 'read', input: 'src//ok.ts', expect: 'ok', expectText: OK_TS },
  { threat: 'trailing slash: a file addressed as a folder', op: 'read', input: 'src/ok.ts/', expect: 'not_regular_file' },
  { threat: 'trailing slash on a new name would create a folder', op: 'write', input: 'src/new.ts/', expect: 'not_regular_file' },
  { threat: 'Windows separators smuggle .. past a / splitter', op: 'read', input: 'src\\..\\..\\outside\\secret.txt', expect: 'backslash' },
  { threat: 'backslash traversal on write', op: 'write', input: '..\\outside\\x.ts', expect: 'backslash' },
  { threat: 'percent-encoded dots (a decoder further down would see ..)', op: 'read', input: '%2e%2e/outside/secret.txt', expect: 'percent_encoding' },
  { threat: 'percent-encoded slashes', op: 'read', input: '..%2Foutside%2Fsecret.txt', expect: 'percent_encoding' },
  { threat: 'double percent-encoding', op: 'write', input: '%252e%252e/outside/x.ts', expect: 'percent_encoding' },
  { threat: 'dot-only names (Windows treats "..." like ".")', op: 'read', input: 'src/.../ok.ts', expect: 'traversal' },
  { threat: 'the workspace root itself', op: 'read', input: '.', expect: 'not_regular_file' },
  { threat: 'empty path', op: 'write', input: '', expect: 'invalid_path' },
  { threat: 'a folder read as a file', op: 'read', input: 'src', expect: 'not_regular_file' },

  // ---- look-alike sibling folders (CVE-2025-53110) --------------------------------------------------------------
  { threat: 'absolute path into /ws-evil, which string-prefix checks take for /ws', op: 'read', input: (c) => path.join(c.evil, 'x.ts'), expect: 'outside_allowed_paths' },
  { threat: 'create a file in the look-alike sibling', op: 'write', input: (c) => path.join(c.evil, 'new.ts'), expect: 'outside_allowed_paths' },
  { threat: 'absolute path that climbs out and back into the sibling', op: 'read', input: (c) => `${c.ws}/../ws-evil/x.ts`, expect: 'traversal' },
  { threat: 'link inside the workspace to the look-alike sibling', op: 'read', input: 'evil/x.ts', setup: (c) => link('../ws-evil', path.join(c.ws, 'evil')), expect: 'outside_allowed_paths' },
  {
    threat: 'allowed_paths [src]: sibling src-old shares the prefix',
    op: 'read',
    input: 'src-old/x.ts',
    setup: (c) => write(path.join(c.ws, 'src-old/x.ts'), 'old'),
    policy: (c, p) => (p.allowedPaths = [path.join(c.ws, 'src')]),
    expect: 'outside_allowed_paths',
  },
  { threat: 'allowed_paths [src]: a file inside src is fine', op: 'read', input: 'src/ok.ts', policy: (c, p) => (p.allowedPaths = [path.join(c.ws, 'src')]), expect: 'ok', expectText: OK_TS },

  // ---- absolute, home, URL and drive-style inputs ---------------------------------------------------------------
  { threat: 'absolute system file', op: 'read', input: '/etc/passwd', expect: 'outside_allowed_paths' },
  { threat: 'absolute write to a system folder', op: 'write', input: '/tmp/sb-should-not-exist.ts', expect: 'outside_allowed_paths' },
  { threat: 'absolute path inside the workspace is accepted', op: 'read', input: (c) => path.join(c.ws, 'src/ok.ts'), expect: 'ok', expectText: OK_TS },
  { threat: 'absolute write inside the workspace is accepted', op: 'write', input: (c) => path.join(c.ws, 'src/abs.ts'), expect: 'ok' },
  { threat: 'home-relative path to SSH keys', op: 'read', input: '~/.ssh/id_rsa', expect: 'home_relative' },
  { threat: 'home-relative shell profile', op: 'write', input: '~/.bashrc', expect: 'home_relative' },
  { threat: 'file:// URL to a system file', op: 'read', input: 'file:///etc/passwd', expect: 'url' },
  { threat: 'file:// URL even into the workspace (no second parser)', op: 'read', input: (c) => `file://${c.ws}/src/ok.ts`, expect: 'url' },
  { threat: 'http URL', op: 'write', input: 'https://example.invalid/x.ts', expect: 'url' },
  { threat: 'Windows drive path', op: 'read', input: 'C:\\Windows\\win.ini', expect: 'drive_path' },
  { threat: 'drive path with forward slashes', op: 'write', input: 'C:/Users/x/evil.ts', expect: 'drive_path' },
  { threat: 'UNC network path', op: 'read', input: '\\\\server\\share\\x.ts', expect: 'drive_path' },
  { threat: 'NTFS alternate data stream', op: 'write', input: 'src/ok.ts:hidden', expect: 'drive_path' },

  // ---- NUL and control characters -------------------------------------------------------------------------------
  { threat: 'NUL truncation (C APIs stop at \\0: "ok.ts\\0.md")', op: 'read', input: 'src/ok.ts\u0000.md', expect: 'control_character' },
  { threat: 'newline in a name forges audit/log lines', op: 'write', input: 'src/a\nb.ts', expect: 'control_character' },
  { threat: 'right-to-left override disguises the extension', op: 'write', input: 'src/\u202Est.ts', expect: 'control_character' },
  { threat: 'carriage return', op: 'read', input: 'src/ok.ts\r', expect: 'control_character' },
  { threat: 'C1 control character', op: 'write', input: 'src/\u0085x.ts', expect: 'control_character' },

  // ---- the forbidden list, matched as file systems match names ---------------------------------------------------
  { threat: 'secrets in .env', op: 'read', input: '.env', expect: 'forbidden' },
  { threat: '.ENV on a case-insensitive volume is .env', op: 'read', input: '.ENV', setup: (c) => write(path.join(c.ws, '.ENV'), 'K=1'), expect: 'forbidden' },
  { threat: '.env.local deeper in the tree', op: 'read', input: 'config/.env.local', setup: (c) => write(path.join(c.ws, 'config/.env.local'), 'K=1'), expect: 'forbidden' },
  { threat: 'Windows ignores trailing dots: ".env." is ".env"', op: 'write', input: '.env.', expect: 'forbidden' },
  { threat: 'git hooks run code', op: 'write', input: '.git/hooks/post-checkout.sh', expect: 'forbidden' },
  { threat: 'case variant of .git', op: 'write', input: '.GIT/config.json', expect: 'forbidden' },
  { threat: 'Windows ignores trailing spaces: ".git " is ".git"', op: 'write', input: '.git /x.ts', expect: 'forbidden' },
  { threat: 'nested repository or submodule .git', op: 'write', input: 'packages/app/.git/x.json', expect: 'forbidden' },
  { threat: "Switchboard's own audit log", op: 'write', input: '.switchboard/audit.jsonl', expect: 'forbidden' },
  { threat: "Switchboard's backups (forge a restore)", op: 'read', input: '.switchboard/backups/records/x.json', expect: 'forbidden' },
  { threat: 'VS Code tasks run code', op: 'write', input: '.vscode/tasks.json', expect: 'forbidden' },
  { threat: '.mcp.json starts servers', op: 'write', input: '.mcp.json', expect: 'forbidden' },
  { threat: 'the policy itself (a model widening its own rights)', op: 'write', input: '.mcp/policy.yaml', expect: 'forbidden' },
  { threat: 'Claude Code settings and hooks', op: 'write', input: '.claude/settings.json', expect: 'forbidden' },
  { threat: 'CI workflows run code with repository secrets', op: 'write', input: '.github/workflows/ci.yml', expect: 'forbidden' },
  { threat: 'other .github files are ordinary config', op: 'write', input: '.github/dependabot.yml', expect: 'ok' },
  { threat: 'husky git hooks', op: 'write', input: '.husky/pre-commit.sh', expect: 'forbidden' },
  {
    threat: 'Unicode NFD spelling of an NFC forbidden name (macOS stores NFD)',
    op: 'write',
    input: 'docs/cafe\u0301.md',
    policy: (_c, p) => p.forbidden.push('caf\u00e9.md'),
    expect: 'forbidden',
  },
  { threat: 'harmless name linked to .env', op: 'read', input: 'notes.md', setup: (c) => link('.env', path.join(c.ws, 'notes.md')), expect: 'forbidden' },
  { threat: 'harmless folder name linked to .git', op: 'write', input: 'cfg/x.json', setup: (c) => link('.git', path.join(c.ws, 'cfg')), expect: 'forbidden' },

  // ---- extension allowlist and size -----------------------------------------------------------------------------
  { threat: 'private key without extension', op: 'read', input: 'keys/id_rsa', setup: (c) => write(path.join(c.ws, 'keys/id_rsa'), 'KEY'), expect: 'key_material' },
  { threat: 'certificate / key file', op: 'write', input: 'cert.pem', expect: 'key_material' },
  { threat: 'executable', op: 'write', input: 'tool.exe', expect: 'extension' },
  { threat: 'whole-name allowlist entry', op: 'read', input: 'Makefile', expect: 'ok', expectText: 'all:\n' },
  { threat: 'allowed name linked to a disallowed file type', op: 'read', input: 'doc.md', setup: (c) => { write(path.join(c.ws, 'k.bin'), 'KEY'); link('k.bin', path.join(c.ws, 'doc.md')); }, expect: 'extension' },
  { threat: 'allowed name linked to key material', op: 'read', input: 'notes.md', setup: (c) => { write(path.join(c.ws, 'k.pem'), 'KEY'); link('k.pem', path.join(c.ws, 'notes.md')); }, expect: 'key_material' },
  { threat: 'key material even where the policy allows its extension', op: 'read', input: '.aws/credentials.txt', setup: (c) => write(path.join(c.ws, '.aws/credentials.txt'), 'KEY'), expect: 'key_material' },
  { threat: 'extension case does not matter', op: 'write', input: 'src/UPPER.TS', expect: 'ok' },
  { threat: 'file over max_file_bytes', op: 'read', input: 'big.txt', setup: (c) => write(path.join(c.ws, 'big.txt'), 'x'.repeat(1001)), policy: (_c, p) => (p.maxFileBytes = 1000), expect: 'too_large' },
  { threat: 'content over the limit in bytes though not in characters', op: 'write', input: 'src/wide.ts', content: '\u00e9'.repeat(501), policy: (_c, p) => (p.maxFileBytes = 1000), expect: 'too_large' },

  // ---- symbolic links in every position (CVE-2025-53109) --------------------------------------------------------
  { threat: 'target is an absolute link to an outside secret', op: 'read', input: 'link.txt', setup: (c) => link(path.join(c.outside, 'secret.txt'), path.join(c.ws, 'link.txt')), expect: 'outside_allowed_paths' },
  { threat: 'write through a link to an outside file', op: 'write', input: 'link.ts', setup: (c) => link(path.join(c.outside, 'secret.ts'), path.join(c.ws, 'link.ts')), expect: 'outside_allowed_paths' },
  { threat: 'relative link climbing out', op: 'read', input: 'rel.txt', setup: (c) => link('../outside/secret.txt', path.join(c.ws, 'rel.txt')), expect: 'outside_allowed_paths' },
  { threat: 'parent folder is a link to outside: create there', op: 'write', input: 'od/new.ts', setup: (c) => link(c.outside, path.join(c.ws, 'od')), expect: 'outside_allowed_paths' },
  { threat: 'parent link, existing file', op: 'read', input: 'od/secret.txt', setup: (c) => link(c.outside, path.join(c.ws, 'od')), expect: 'outside_allowed_paths' },
  { threat: 'chain of links ending outside', op: 'read', input: 'a1.txt', setup: (c) => { link('a2.txt', path.join(c.ws, 'a1.txt')); link('../outside/secret.txt', path.join(c.ws, 'a2.txt')); }, expect: 'outside_allowed_paths' },
  { threat: 'chain of links staying inside is fine', op: 'read', input: 'c1.ts', setup: (c) => { link('c2.ts', path.join(c.ws, 'c1.ts')); link('src/ok.ts', path.join(c.ws, 'c2.ts')); }, expect: 'ok', expectText: OK_TS },
  { threat: 'write through an inside link lands on its target', op: 'write', input: 'alias.ts', setup: (c) => link('src/ok.ts', path.join(c.ws, 'alias.ts')), expect: 'ok' },
  { threat: 'dangling link (read)', op: 'read', input: 'dang.ts', setup: (c) => link('nowhere.ts', path.join(c.ws, 'dang.ts')), expect: 'symlink_dangling' },
  { threat: 'dangling link pointing outside: writing through it would create an outside file', op: 'write', input: 'dout.ts', setup: (c) => link('../outside/created.ts', path.join(c.ws, 'dout.ts')), expect: 'symlink_dangling' },
  { threat: 'dangling folder link in parent position', op: 'write', input: 'ddir/x.ts', setup: (c) => link('../outside/nodir', path.join(c.ws, 'ddir')), expect: 'symlink_dangling' },
  { threat: "link to the root's parent", op: 'read', input: 'up/outside/secret.txt', setup: (c) => link('..', path.join(c.ws, 'up')), expect: 'outside_allowed_paths' },
  { threat: "absolute link to the root's parent, then create", op: 'write', input: 'absup/outside/x.ts', setup: (c) => link(c.base, path.join(c.ws, 'absup')), expect: 'outside_allowed_paths' },
  { threat: 'link to the workspace itself stays inside', op: 'read', input: 'self/src/ok.ts', setup: (c) => link('.', path.join(c.ws, 'self')), expect: 'ok', expectText: OK_TS },
  { threat: 'link loop', op: 'read', input: 'loop1/x.ts', setup: (c) => { link('loop2', path.join(c.ws, 'loop1')); link('loop1', path.join(c.ws, 'loop2')); }, expect: 'symlink_loop' },
  { threat: 'self loop as target', op: 'write', input: 'me.ts', setup: (c) => link('me.ts', path.join(c.ws, 'me.ts')), expect: 'symlink_loop' },
  { threat: 'a file used as a folder', op: 'write', input: 'src/ok.ts/x.ts', expect: 'not_a_directory' },

  // ---- hard links -----------------------------------------------------------------------------------------------
  { threat: 'hard link to an outside secret (read)', op: 'read', input: 'hl.txt', setup: (c) => fs.linkSync(path.join(c.outside, 'secret.txt'), path.join(c.ws, 'hl.txt')), expect: 'hard_link' },
  { threat: 'hard link to an outside file (write / backup copies it)', op: 'write', input: 'hl.ts', setup: (c) => fs.linkSync(path.join(c.outside, 'secret.ts'), path.join(c.ws, 'hl.ts')), expect: 'hard_link' },

  // ---- special files --------------------------------------------------------------------------------------------
  { threat: 'FIFO: a read would block forever', op: 'read', input: 'fifo.txt', setup: (c) => execFileSync('mkfifo', [path.join(c.ws, 'fifo.txt')]), expect: 'not_regular_file' },
  { threat: 'FIFO as a write target', op: 'write', input: 'fifo.ts', setup: (c) => execFileSync('mkfifo', [path.join(c.ws, 'fifo.ts')]), expect: 'not_regular_file' },
  { threat: 'device via link (/dev/null)', op: 'read', input: 'null.txt', setup: (c) => link('/dev/null', path.join(c.ws, 'null.txt')), expect: 'outside_allowed_paths' },
  { threat: 'device via link (/dev/zero would fill memory)', op: 'write', input: 'zero.ts', setup: (c) => link('/dev/zero', path.join(c.ws, 'zero.ts')), expect: 'outside_allowed_paths' },
  { threat: 'Unix socket', op: 'read', input: 'sock.txt', setup: listenOn('sock.txt'), expect: 'not_regular_file' },
  { threat: 'folder named like a source file (read)', op: 'read', input: 'dir.ts', setup: (c) => fs.mkdirSync(path.join(c.ws, 'dir.ts')), expect: 'not_regular_file' },
  { threat: 'folder named like a source file (write)', op: 'write', input: 'dir.ts', setup: (c) => fs.mkdirSync(path.join(c.ws, 'dir.ts')), expect: 'not_regular_file' },

  // ---- Windows name quirks (checked on every platform when enabled) ----------------------------------------------
  { threat: 'Windows device name CON.ts', op: 'write', input: 'src/CON.ts', volume: { windowsNames: true }, expect: 'windows_reserved_name' },
  { threat: 'Windows device name with trailing dot', op: 'read', input: 'nul.', volume: { windowsNames: true }, expect: 'windows_reserved_name' },

  // ---- swapped between check and use (TOCTOU) ---------------------------------------------------------------------
  {
    threat: 'file swapped for a link to a secret after the check (read)',
    op: 'read',
    input: 'swap.txt',
    setup: (c) => write(path.join(c.ws, 'swap.txt'), 'inside'),
    swap: (c) => { fs.rmSync(path.join(c.ws, 'swap.txt')); link(path.join(c.outside, 'secret.txt'), path.join(c.ws, 'swap.txt')); },
    expect: 'changed_during_check',
  },
  {
    threat: 'file swapped for a link to an outside file after the check (write)',
    op: 'write',
    input: 'sw.ts',
    setup: (c) => write(path.join(c.ws, 'sw.ts'), 'inside'),
    swap: (c) => { fs.rmSync(path.join(c.ws, 'sw.ts')); link(path.join(c.outside, 'secret.ts'), path.join(c.ws, 'sw.ts')); },
    expect: 'changed_during_check',
  },
  {
    threat: 'parent folder swapped for a link after the check (read reaches an outside file of the same name)',
    op: 'read',
    input: 'pd/f.txt',
    swap: (c) => { fs.renameSync(path.join(c.ws, 'pd'), path.join(c.ws, 'pd-old')); link(path.join(c.outside, 'pd2'), path.join(c.ws, 'pd')); },
    expect: 'changed_during_check',
  },
  {
    threat: 'parent folder swapped for a link after the check (write would create outside)',
    op: 'write',
    input: 'pd/new.ts',
    swap: (c) => { fs.renameSync(path.join(c.ws, 'pd'), path.join(c.ws, 'pd-old')); link(c.outside, path.join(c.ws, 'pd')); },
    expect: 'changed_during_check',
  },
];

function listenOn(name: string): (c: Ctx) => Promise<void> {
  return async (c) => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(path.join(c.ws, name), resolve));
    c.cleanup.push(() => new Promise<void>((r) => server.close(() => r())));
  };
}

function layout(): Ctx {
  const base = tempDir('sb-sec-');
  const ws = path.join(base, 'ws');
  const outside = path.join(base, 'outside');
  const evil = path.join(base, 'ws-evil');
  write(path.join(ws, 'src/ok.ts'), OK_TS);
  write(path.join(ws, 'README.md'), '# readme\n');
  write(path.join(ws, 'Makefile'), 'all:\n');
  write(path.join(ws, '.env'), 'OPENAI_API_KEY=sk-not-a-real-key-0000000000\n');
  write(path.join(ws, '.git/config'), '[core]\n');
  write(path.join(ws, 'pd/f.txt'), 'inside\n');
  write(path.join(outside, 'secret.txt'), SECRET);
  write(path.join(outside, 'secret.ts'), SECRET);
  write(path.join(outside, 'pd2/f.txt'), SECRET);
  write(path.join(evil, 'x.ts'), SECRET);
  return { base, ws, outside, evil, cleanup: [] };
}

describe('files: path policy security suite', function () {
  this.timeout(10_000);
  let ctx: Ctx;
  afterEach(async () => {
    if (!ctx) return;
    for (const fn of ctx.cleanup) await fn();
    removeDir(ctx.base);
  });

  it('has at least 60 concrete cases, each with its threat written down', () => {
    assert.ok(cases.length >= 60, `only ${cases.length} cases`);
    for (const c of cases) assert.ok(c.threat.length > 5, c.threat);
  });

  for (const [i, tc] of cases.entries()) {
    const shownInput = typeof tc.input === 'string' ? JSON.stringify(tc.input) : '(absolute)';
    it(`#${i + 1} ${tc.op} ${shownInput} → ${tc.expect}: ${tc.threat}`, async () => {
      ctx = layout();
      await tc.setup?.(ctx);
      const policy = defaultPolicy(ctx.ws);
      tc.policy?.(ctx, policy);
      const files = await WorkspaceFiles.open(ctx.ws, { policy, volume: tc.volume, afterCheck: tc.swap ? () => tc.swap!(ctx) : undefined });
      const input = typeof tc.input === 'string' ? tc.input : tc.input(ctx);
      // A swap changes the workspace on purpose, so then only the outside is compared.
      const skip = (rel: string) => rel === 'ws/.switchboard' || (!!tc.swap && rel === 'ws');
      const before = snapshot(ctx.base, skip);
      const run = () => (tc.op === 'read' ? files.read(input, { actor: 'claude-code' }) : files.write(input, tc.content ?? NEW, { actor: 'claude-code' }));

      if (tc.expect === 'ok') {
        const result = await run();
        if (tc.op === 'read') assert.equal((result as { text: string }).text, tc.expectText);
        else {
          const written = files.check(input, 'read');
          assert.equal(fs.readFileSync(written.abs, 'utf8'), tc.content ?? NEW);
          assert.ok(written.abs.startsWith(ctx.ws + path.sep));
        }
        const outsideChanges = diffSnapshots(before, snapshot(ctx.base, skip)).filter((d) => !/ (ws\/|ws$)/.test(d));
        assert.deepEqual(outsideChanges, []);
        return;
      }

      const err = await run().then(
        () => assert.fail('expected a denial'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof PathDenied, `expected PathDenied, got ${String(err)}`);
      assert.equal(err.rule, tc.expect, err.message);
      assert.ok(err.message.includes(`rule: ${tc.expect}`));
      assert.ok(!err.message.includes(ctx.base), `message shows an absolute path: ${err.message}`);
      assert.ok(!err.message.includes(SECRET.trim()));
      assert.deepEqual(diffSnapshots(before, snapshot(ctx.base, skip)), [], 'something changed on disk');
    });
  }
});

describe('files: a real race between check and use', function () {
  this.timeout(120_000);
  // Another process flips a workspace file between a regular file and a link to an outside secret as fast as it
  // can, while reads and writes run: none may ever return or change the secret.
  const FLIPPER = `
    const fs = require('node:fs'); const [dir, name, target] = process.argv.slice(1);
    const p = dir + '/' + name; let i = 0;
    const stop = Date.now() + 90000;
    while (Date.now() < stop) {
      const t = dir + '/.flip' + (i++ % 2);
      try { fs.rmSync(t, { force: true }); } catch {}
      if (i % 2) fs.symlinkSync(target, t); else fs.writeFileSync(t, 'inside\\n');
      fs.renameSync(t, p);
      // The same dwell in both states (preparing a link is quicker than writing a file, which left the regular
      // file in place so briefly on a busy machine that no operation succeeded and the test failed at random);
      // now and then a long one, so that a whole durable write can fit in it.
      const dwellMs = Math.random() < 0.1 ? 8 : 0.3;
      for (const until = performance.now() + dwellMs; performance.now() < until; );
    }`;

  for (const op of ['read', 'write'] as const) {
    it(`${op}s never reach the outside file while it flips`, async () => {
      const c = layout();
      try {
        const { spawn } = await import('node:child_process');
        const name = op === 'read' ? 'flip.txt' : 'flip.ts';
        const secretFile = path.join(c.outside, op === 'read' ? 'secret.txt' : 'secret.ts');
        write(path.join(c.ws, name), 'inside\n');
        const files = await WorkspaceFiles.open(c.ws);
        const before = snapshot(c.outside);
        const child = spawn(process.execPath, ['-e', FLIPPER, c.ws, name, secretFile], { stdio: 'ignore' });
        const outcomes = { ok: 0, denied: 0 };
        const rules = new Map<string, number>();
        try {
          // The flipper is a new node process: on a busy machine it can take seconds to start. Wait until it has
          // flipped, then run until both outcomes were seen (at least 400 operations; reads take a fraction of a
          // millisecond now, so a fixed count could end before the flipper ever got the CPU).
          const startBy = Date.now() + 30_000; // (the suite allows 120 s)
          while (!fs.lstatSync(path.join(c.ws, name)).isSymbolicLink()) {
            assert.ok(Date.now() < startBy, 'the flipper never flipped');
            await new Promise((r) => setTimeout(r, 5));
          }
          const runUntil = Date.now() + 30_000;
          for (let i = 0; i < 400 || ((outcomes.ok === 0 || outcomes.denied === 0) && Date.now() < runUntil); i++) {
            if (i % 50 === 49) await new Promise((r) => setImmediate(r));
            try {
              if (op === 'read') {
                const r = await files.read(name, { actor: 'claude-code' });
                assert.equal(r.text, 'inside\n');
              } else {
                await files.write(name, `export const i = ${i};\n`, { actor: 'claude-code' });
              }
              outcomes.ok++;
            } catch (err) {
              // A denial, or "no such file" when the check ran in the instant between the flipper's rm and rename.
              if (!(err instanceof PathDenied) && (err as { code?: string }).code !== 'not_found') throw err;
              outcomes.denied++;
              const rule = (err as PathDenied).rule ?? 'not_found';
              rules.set(rule, (rules.get(rule) ?? 0) + 1);
            }
          }
        } finally {
          child.kill('SIGKILL');
          // The flipper stops by itself after 90 s: then its exit has already been reported.
          if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('exit', r));
        }
        assert.deepEqual(diffSnapshots(before, snapshot(c.outside)), []);
        assert.equal(fs.readFileSync(secretFile, 'utf8'), SECRET);
        // Both branches of the race were really exercised.
        assert.ok(outcomes.ok > 0 && outcomes.denied > 0, JSON.stringify(outcomes));
        if (process.env.SB_RACE_STATS) process.stderr.write(`${op} race: ${JSON.stringify({ ...outcomes, rules: Object.fromEntries(rules) })}\n`);
      } finally {
        removeDir(c.base);
      }
    });
  }
});
