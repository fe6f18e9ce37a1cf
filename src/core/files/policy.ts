/**
 * The file policy: `.mcp/policy.yaml` over built-in defaults (SPEC "File policy").
 * `loadPolicy` never throws; a bad file becomes diagnostics and the defaults stay in force.
 */
import fs from 'node:fs';
import path from 'node:path';
import policySchema from '../../../media/schemas/policy.schema.json';
import { readStructuredFile } from '../config/structured-file';
import { diagnostic, type Diagnostic } from '../diagnostics';

export interface BackupRetention {
  /** Backups kept per file (the newest is always kept). */
  count: number;
  /** Backups older than this are removed (the newest of a file is always kept). */
  days: number;
}

export interface FilePolicy {
  /** Absolute folders the file tools may use. */
  allowedPaths: string[];
  /** Name patterns never read nor written, matched per path component at any depth, ignoring case. */
  forbidden: string[];
  maxFileBytes: number;
  /** '.ext' entries are extensions, other entries whole file names. Matched ignoring case. */
  allowedExtensions: string[];
  backup: boolean;
  backupRetention: BackupRetention;
  /**
   * Exact workspace-relative paths a user action (never an MCP tool) may write although the forbidden list
   * covers them. Set only in code, by `forUserAction`; a policy file cannot set it.
   */
  userActionFiles?: readonly string[];
}

/**
 * Built in and not removable by a policy file: secrets, VCS internals, Switchboard's own state, and
 * configuration that runs code. `.mcp/` is added to the SPEC's list because it holds this very policy and the
 * MCP server definitions (commands the editor starts); a model able to write it could widen its own rights.
 */
export const BUILTIN_FORBIDDEN: readonly string[] = [
  '.env*',
  '.git/',
  '.switchboard/',
  '.vscode/',
  '.mcp.json',
  '.mcp/',
  '.claude/',
  '.github/workflows/',
  '.husky/',
];

/**
 * Key material: never read nor written by any file tool, whatever a policy file says (SPEC "Trust"). Checked by
 * the path guard on its own, so no policy object can leave it out. `id_*` is spelled out as the SSH key names,
 * so that ordinary source such as `id_generator.ts` stays usable.
 */
export const KEY_MATERIAL: readonly string[] = [
  '.ssh/', '.gnupg/', '.aws/', '.azure/', '.kube/', '.docker/', '.config/gcloud/', '.password-store/',
  'id_rsa*', 'id_dsa*', 'id_ecdsa*', 'id_ed25519*', 'id_xmss*', 'identity', 'authorized_keys', 'known_hosts',
  '*.pem', '*.key', '*.p12', '*.pfx', '*.jks', '*.keystore', '*.kdbx', '*.asc', '*.gpg',
  '.npmrc', '.yarnrc', '.yarnrc.yml', '.pypirc', '.netrc', '_netrc', '.git-credentials', '.pgpass', '.my.cnf',
  'credentials', 'credentials.json', 'credentials.db', '.credentials*', '*.credentials', 'application_default_credentials.json',
  '.claude.json', 'secrets.json', 'secrets.yaml', 'secrets.yml',
];

export const DEFAULT_MAX_FILE_BYTES = 10 * 1024 * 1024;

/** Source, test, doc and data files. Keys, certificates, archives and binaries are left out on purpose. */
export const DEFAULT_ALLOWED_EXTENSIONS: readonly string[] = [
  // source
  '.ts', '.tsx', '.mts', '.cts', '.js', '.jsx', '.mjs', '.cjs', '.py', '.pyi', '.rb', '.go', '.rs', '.java',
  '.kt', '.kts', '.scala', '.swift', '.c', '.h', '.cc', '.cpp', '.cxx', '.hpp', '.hh', '.m', '.mm', '.cs',
  '.fs', '.fsx', '.php', '.lua', '.pl', '.pm', '.r', '.jl', '.dart', '.ex', '.exs', '.erl', '.hrl', '.clj',
  '.cljs', '.hs', '.ml', '.mli', '.elm', '.vue', '.svelte', '.astro', '.sql', '.sh', '.bash', '.zsh', '.fish',
  '.ps1', '.css', '.scss', '.sass', '.less', '.html', '.htm', '.graphql', '.gql', '.proto', '.tf', '.hcl',
  '.sol', '.zig', '.nim', '.groovy', '.gradle', '.vb', '.ipynb',
  // tests
  '.snap', '.feature',
  // docs
  '.md', '.mdx', '.markdown', '.rst', '.txt', '.adoc', '.tex', '.org',
  // data
  '.json', '.jsonc', '.json5', '.jsonl', '.yaml', '.yml', '.toml', '.xml', '.csv', '.tsv', '.ini', '.cfg',
  '.conf', '.properties', '.svg',
  // whole names
  'Makefile', 'Dockerfile', 'Containerfile', 'Justfile', 'Gemfile', 'Rakefile', 'Procfile', 'LICENSE',
  'README', 'CHANGELOG', 'CODEOWNERS', '.gitignore', '.gitattributes', '.editorconfig', '.dockerignore',
  '.prettierrc', '.nvmrc',
];

export const DEFAULT_RETENTION: BackupRetention = { count: 20, days: 30 };

export function defaultPolicy(workspace: string): FilePolicy {
  return {
    allowedPaths: [path.resolve(workspace)],
    forbidden: [...BUILTIN_FORBIDDEN],
    maxFileBytes: DEFAULT_MAX_FILE_BYTES,
    allowedExtensions: [...DEFAULT_ALLOWED_EXTENSIONS],
    backup: true,
    backupRetention: { ...DEFAULT_RETENTION },
  };
}

interface RawPolicyFile {
  allowed_paths?: string[];
  forbidden?: string[];
  max_file_bytes?: number;
  allowed_extensions?: string[];
  backup?: boolean;
  backup_retention?: { count?: number; days?: number };
}

export interface LoadedPolicy {
  policy: FilePolicy;
  diagnostics: Diagnostic[];
  /** The policy file, when there is one. */
  source?: string;
}

/**
 * `.mcp/policy.yaml` (or `.yml`) over the defaults. Keys with errors keep their defaults. The file is part of
 * the repository, so it can only narrow (SPEC "Trust"): `allowed_paths` outside the workspace, extensions
 * beyond the built-in list and a larger `max_file_bytes` are ignored, each with a warning saying why.
 */
export function loadPolicy(workspace: string): LoadedPolicy {
  const policy = defaultPolicy(workspace);
  const file = ['policy.yaml', 'policy.yml'].map((n) => path.join(workspace, '.mcp', n)).find((f) => fs.existsSync(f));
  if (!file) return { policy, diagnostics: [] };
  const parsed = readStructuredFile<RawPolicyFile>(file, { schema: policySchema });
  const diagnostics = [...parsed.diagnostics];
  const raw = parsed.value;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return { policy, diagnostics, source: file };
  // Only keys without an error are applied, so one typo does not silently loosen or reset the rest.
  const bad = new Set(diagnostics.filter((d) => d.severity === 'error').map((d) => d.line));
  const ok = (key: keyof RawPolicyFile) => raw[key] !== undefined && !bad.has(parsed.lineOf([key])) && !badInside(diagnostics, parsed.lineOf, key, raw[key]);

  const narrowOnly = (at: ReadonlyArray<string | number>, what: string, why: string) =>
    diagnostics.push(diagnostic(file, parsed.lineOf(at), 1, `${what} ignored: a project's policy.yaml may only narrow the file policy; ${why}`, 'warning'));
  if (ok('allowed_paths')) {
    const paths: string[] = [];
    const canonicalWorkspace = realDir(workspace);
    raw.allowed_paths!.forEach((p, i) => {
      const abs = path.resolve(workspace, p);
      if (!fs.existsSync(abs)) diagnostics.push(diagnostic(file, parsed.lineOf(['allowed_paths', i]), 1, `allowed_paths[${i}]: folder "${p}" does not exist; it was left out`, 'warning'));
      else if (!within(realDir(abs), canonicalWorkspace)) narrowOnly(['allowed_paths', i], `allowed_paths[${i}] ("${p}")`, 'it lies outside the workspace (after following links), and files outside the workspace are never reachable');
      else paths.push(abs);
    });
    if (paths.length) policy.allowedPaths = paths;
  }
  if (ok('forbidden')) policy.forbidden = [...BUILTIN_FORBIDDEN, ...raw.forbidden!.filter((f) => !BUILTIN_FORBIDDEN.includes(f))];
  if (ok('max_file_bytes')) {
    if (raw.max_file_bytes! <= DEFAULT_MAX_FILE_BYTES) policy.maxFileBytes = raw.max_file_bytes!;
    else narrowOnly(['max_file_bytes'], `max_file_bytes: ${raw.max_file_bytes}`, `it may lower the limit of ${DEFAULT_MAX_FILE_BYTES} bytes, not raise it`);
  }
  if (ok('allowed_extensions')) {
    const builtIn = new Set(DEFAULT_ALLOWED_EXTENSIONS.map((e) => e.toLowerCase()));
    const kept: string[] = [];
    raw.allowed_extensions!.forEach((e, i) => {
      if (builtIn.has(e.toLowerCase())) kept.push(e);
      else narrowOnly(['allowed_extensions', i], `allowed_extensions[${i}] ("${e}")`, 'it may shrink the built-in list of source, test, doc and data types, not add to it');
    });
    policy.allowedExtensions = kept;
  }
  if (ok('backup')) policy.backup = raw.backup!;
  if (ok('backup_retention')) policy.backupRetention = { ...DEFAULT_RETENTION, ...raw.backup_retention };
  return { policy, diagnostics, source: file };
}

function realDir(p: string): string {
  try {
    return fs.realpathSync.native(path.resolve(p));
  } catch {
    return path.resolve(p);
  }
}

function within(inner: string, outer: string): boolean {
  const rel = path.relative(outer, inner);
  return rel === '' || (!rel.startsWith('..' + path.sep) && rel !== '..' && !path.isAbsolute(rel));
}

// An error reported on a line inside a key's value (a list item, a nested key) also disqualifies the key.
function badInside(diags: Diagnostic[], lineOf: (p: ReadonlyArray<string | number>) => number, key: string, value: unknown): boolean {
  const errors = diags.filter((d) => d.severity === 'error').map((d) => d.line);
  if (!errors.length) return false;
  const lines: number[] = [];
  if (Array.isArray(value)) value.forEach((_v, i) => lines.push(lineOf([key, i])));
  else if (value && typeof value === 'object') for (const k of Object.keys(value)) lines.push(lineOf([key, k]));
  return lines.some((l) => errors.includes(l));
}

/**
 * The policy for one user action that must write one file the forbidden list covers (the registry install
 * writing `.mcp/servers/registry.json`). Only that exact path, spelled exactly so and resolving to itself
 * (no link on the way), is let through; every other forbidden path stays forbidden.
 */
export function forUserAction(policy: FilePolicy, file: string): FilePolicy {
  return { ...policy, userActionFiles: [file] };
}
