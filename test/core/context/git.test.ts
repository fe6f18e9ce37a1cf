import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readGitBranch, readProjectName } from '../../../src/core/context';

describe('context: project name and git branch (no git binary)', () => {
  let root: string;
  beforeEach(() => (root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'sb-git-')))));
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  const write = (rel: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  };

  it('reads the branch from .git/HEAD, also from a sub-folder of the repository', () => {
    write('repo/.git/HEAD', 'ref: refs/heads/feature/login\n');
    fs.mkdirSync(path.join(root, 'repo', 'packages', 'app'), { recursive: true });
    assert.equal(readGitBranch(path.join(root, 'repo')), 'feature/login');
    assert.equal(readGitBranch(path.join(root, 'repo', 'packages', 'app')), 'feature/login');
  });

  it('a detached HEAD shows the short commit', () => {
    write('repo/.git/HEAD', '0123456789abcdef0123456789abcdef01234567\n');
    assert.equal(readGitBranch(path.join(root, 'repo')), 'detached at 0123456');
  });

  it('a worktree (.git file with gitdir:) reads its own HEAD', () => {
    write('main/.git/HEAD', 'ref: refs/heads/main\n');
    write('main/.git/worktrees/wt/HEAD', 'ref: refs/heads/hotfix\n');
    write('wt/.git', 'gitdir: ../main/.git/worktrees/wt\n');
    assert.equal(readGitBranch(path.join(root, 'wt')), 'hotfix');
    assert.equal(readGitBranch(path.join(root, 'main')), 'main');
  });

  it('a broken .git file is passed over for the repository around it; the file-system root has no branch', () => {
    write('.git/HEAD', 'ref: refs/heads/outer\n');
    write('inner/.git', 'not a pointer\n');
    assert.equal(readGitBranch(path.join(root, 'inner')), 'outer');
    assert.equal(readGitBranch(path.parse(root).root), undefined);
  });

  it('project name: package.json name, else the folder name (also when package.json is broken)', () => {
    write('a/package.json', JSON.stringify({ name: '@acme/widgets' }));
    write('b/package.json', '{ not json');
    fs.mkdirSync(path.join(root, 'c'));
    assert.equal(readProjectName(path.join(root, 'a')), '@acme/widgets');
    assert.equal(readProjectName(path.join(root, 'b')), 'b');
    assert.equal(readProjectName(path.join(root, 'c')), 'c');
  });
});
