/**
 * Which check a written file gets when router.yaml configures none: the project's own test runner, found from
 * its files. For a test file, a command that runs that one file; otherwise (or when no runner can take one
 * file) the project's whole test command. Every answer says why, for the result and the trust pin.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface DetectedCheck {
  /** Template with `{file}` / `{dir}` placeholders. */
  command: string;
  /** Plain words: what was found. */
  why: string;
  /**
   * What the trust pin holds when the command runs project text the template does not show (the npm script
   * behind `npm test`): a changed script then needs trust again, like a changed command.
   */
  pinText?: string;
}

/** npm's placeholder script, which fails on purpose: not a test command. */
const NPM_DEFAULT_TEST = /no test specified/;
const MAX_MANIFEST_BYTES = 1024 * 1024;

interface PackageJson {
  scripts?: Record<string, unknown>;
  dependencies?: Record<string, unknown>;
  devDependencies?: Record<string, unknown>;
  type?: string;
}

function readSmall(file: string): string | undefined {
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile() || stat.size > MAX_MANIFEST_BYTES) return undefined;
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function readPackageJson(workspace: string): PackageJson | undefined {
  const text = readSmall(path.join(workspace, 'package.json'));
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as unknown;
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as PackageJson) : undefined;
  } catch {
    return undefined;
  }
}

function exists(workspace: string, rel: string): boolean {
  return fs.existsSync(path.join(workspace, rel));
}

/** The check for `file` (workspace-relative) written by a `task` delegation, or undefined with the reason. */
export function detectCheck(workspace: string, task: string, file: string): DetectedCheck | { none: string } {
  if (task !== 'tests' && task !== 'code' && task !== 'boilerplate') return { none: `no check is configured for ${task} (set verify.${task} in router.yaml)` };
  const base = path.basename(file);
  const isTest = task === 'tests' || /(\.|_)(test|spec)\.[cm]?[jt]sx?$|^test_.*\.py$|_test\.py$|_test\.go$/.test(base);

  const pkg = readPackageJson(workspace);
  if (pkg) {
    const found = detectNode(workspace, pkg, file, isTest);
    if (found) return found;
  }
  if (file.endsWith('.py') || exists(workspace, 'pyproject.toml') || exists(workspace, 'pytest.ini') || exists(workspace, 'setup.cfg') || exists(workspace, 'tox.ini')) {
    const pytest = /pytest/.test(readSmall(path.join(workspace, 'pyproject.toml')) ?? '') || exists(workspace, 'pytest.ini') || exists(workspace, 'conftest.py');
    if (file.endsWith('.py') || pytest) {
      if (isTest && file.endsWith('.py')) return { command: 'python3 -m pytest -q {file}', why: 'a Python test file: pytest runs it' };
      return { command: 'python3 -m pytest -q', why: 'a Python project: its pytest suite' };
    }
  }
  if (exists(workspace, 'go.mod')) {
    if (file.endsWith('.go')) return { command: 'go test ./{dir}', why: 'go.mod: go test runs the package of the written file' };
    return { command: 'go test ./...', why: 'go.mod: the module\'s tests' };
  }
  if (exists(workspace, 'Cargo.toml')) {
    const m = /^tests\/([^/]+)\.rs$/.exec(file.split(path.sep).join('/'));
    if (m) return { command: `cargo test --test ${m[1]}`, why: 'Cargo.toml: an integration test under tests/, run alone' };
    return { command: 'cargo test', why: 'Cargo.toml: the crate\'s tests' };
  }
  if (isTest && /\.[cm]?js$/.test(file)) return { command: 'node --test {file}', why: 'a JavaScript test file and no test runner configured: Node\'s built-in runner' };
  return { none: `no test runner found for ${file} (set verify.${task} in router.yaml)` };
}

function detectNode(workspace: string, pkg: PackageJson, file: string, isTest: boolean): DetectedCheck | undefined {
  const deps = { ...(isRecord(pkg.dependencies) ? pkg.dependencies : {}), ...(isRecord(pkg.devDependencies) ? pkg.devDependencies : {}) };
  const scripts = isRecord(pkg.scripts) ? pkg.scripts : {};
  const testScript = typeof scripts.test === 'string' && !NPM_DEFAULT_TEST.test(scripts.test) ? scripts.test : undefined;
  const uses = (name: string) => name in deps || (testScript !== undefined && new RegExp(`(^|[\\s/"'])${name}(\\s|$)`).test(testScript));
  const ts = /\.[cm]?tsx?$/.test(file);
  if (isTest) {
    if (uses('vitest')) return { command: 'npx --no-install vitest run {file}', why: 'vitest in package.json: it runs the one file' };
    if (uses('jest')) return { command: 'npx --no-install jest {file}', why: 'jest in package.json: it runs the one file' };
    if (uses('mocha')) return { command: 'npx --no-install mocha {file}', why: 'mocha in package.json: it runs the one file' };
    const nodeTest = testScript !== undefined && /\bnode\b[^&|;]*--test\b/.test(testScript);
    if (nodeTest || (!testScript && !ts)) {
      if (ts) {
        if ('tsx' in deps || exists(workspace, 'node_modules/tsx')) return { command: 'node --import tsx --test {file}', why: 'node:test with tsx for TypeScript (package.json): Node runs the one file' };
      } else {
        return { command: 'node --test {file}', why: nodeTest ? 'package.json tests with node --test: Node runs the one file' : 'a JavaScript test file: Node\'s built-in runner runs it' };
      }
    }
  }
  if (testScript) {
    return {
      command: 'npm test --silent',
      why: isTest ? 'package.json scripts.test (no runner found that takes one file)' : 'package.json scripts.test, the project\'s test command',
      pinText: `npm test --silent (scripts.test: ${testScript})`,
    };
  }
  return undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}
