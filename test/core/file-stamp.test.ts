import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RACY_MS, sameStamp, stampFiles, stampOf } from '../../src/core/file-stamp';

describe('file stamps (what parse caches compare)', () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-stamp-')); });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a stamp taken while the file was fresh is racy and never proves it unchanged', () => {
    const f = path.join(dir, 'a.yaml');
    fs.writeFileSync(f, 'a: 1\n');
    const st = fs.statSync(f);
    const fresh = stampOf(st, Math.max(st.mtimeMs, st.ctimeMs) + RACY_MS - 1);
    assert.equal(fresh.racy, true);
    assert.equal(sameStamp(fresh, st), false, 'identical stat, still not trusted');
    const old = stampOf(st, Math.max(st.mtimeMs, st.ctimeMs) + RACY_MS + 1);
    assert.equal(old.racy, false);
    assert.equal(sameStamp(old, st), true);
  });

  it('a same-size rewrite with the mtime set back changes the stamp (ctime, or the inode of a replaced file)', () => {
    const f = path.join(dir, 'a.yaml');
    fs.writeFileSync(f, 'a: 1\n');
    const fixed = new Date('2026-01-02T03:04:05Z');
    fs.utimesSync(f, fixed, fixed);
    const before = fs.statSync(f);
    const stamp = stampOf(before, Math.max(before.mtimeMs, before.ctimeMs) + RACY_MS + 1);
    // Replaced by rename (as editors save): a new inode.
    fs.writeFileSync(f + '.tmp', 'a: 2\n');
    fs.utimesSync(f + '.tmp', fixed, fixed);
    fs.renameSync(f + '.tmp', f);
    assert.equal(sameStamp(stamp, fs.statSync(f)), false);
  });

  it('stampFiles covers missing files, so creating one changes the stamp', () => {
    const a = path.join(dir, 'router.yaml');
    const missing = stampFiles([a]);
    fs.writeFileSync(a, 'x: 1\n');
    assert.notEqual(stampFiles([a]).key, missing.key);
  });
});
