/**
 * The one place that decides whether a folder is trusted (SPEC "Trust: what a repository may decide").
 *
 * A folder is trusted when the user said so, through any of:
 * - the editor: VS Code's workspace trust, passed by the extension to its own sidecar in
 *   `SWITCHBOARD_TRUSTED_FOLDERS` (the environment is user layer; a repository cannot set it);
 * - Claude Code: `projects[<folder or an ancestor>].hasTrustDialogAccepted` in `~/.claude.json`;
 * - Switchboard: `switchboard trust`, recorded in `$SWITCHBOARD_HOME/trust.json`.
 *
 * Commands a project configures (verification checks, server start commands, npx/docker recipes) are pinned
 * per slot: the first time a trusted folder runs a slot's command its text is recorded; a different text in
 * the same slot later needs trust again (`switchboard trust` re-pins what the project holds then).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { FileLock } from '../file-lock';
import { switchboardHome, userHome } from '../paths';

export type TrustSource = 'editor' | 'claude-code' | 'switchboard';

export interface TrustDecision {
  /** The canonical folder the decision is about. */
  folder: string;
  trusted: boolean;
  /** Who trusted it, when trusted. */
  source?: TrustSource;
  /** One sentence for users: why, and (when untrusted) how to trust it. */
  explanation: string;
}

/** A command a project configures, named by the slot it fills (e.g. `verify.tests`, `server:github`). */
export interface ProjectCommand {
  slot: string;
  /** The exact text that would run (command and arguments joined as shown to the user). */
  text: string;
  /**
   * Everything that decides what runs (e.g. the server definition as written, env values included), when that
   * is more than `text`. Only its hash is stored: written-out values may be secrets.
   */
  fingerprint?: string;
}

export type PinCheck =
  | { ok: true }
  | { ok: false; reason: string };

export interface TrustEntry {
  folder: string;
  /** False for a record that only holds pins of a folder the editor or Claude Code trusts. */
  trusted: boolean;
  trusted_at?: string;
  /** slot → sha256 of the pinned command text. */
  pins: Record<string, { sha256: string; text: string; pinned_at: string }>;
}

interface TrustFile {
  version: 1;
  folders: TrustEntry[];
}

/** Env variable through which the editor tells its sidecar which folders it trusts (path-delimiter separated). */
export const EDITOR_TRUST_ENV = 'SWITCHBOARD_TRUSTED_FOLDERS';

const TRUST_FILE_MAX_BYTES = 4 * 1024 * 1024;
const CLAUDE_JSON_MAX_BYTES = 32 * 1024 * 1024;

export function trustFilePath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(switchboardHome(env), 'trust.json');
}

/** Resolves symlinks where the folder exists, so a link to a trusted folder is that folder and nothing else. */
export function canonicalFolder(folder: string): string {
  const abs = path.resolve(folder);
  try {
    return fs.realpathSync.native(abs);
  } catch {
    return abs;
  }
}

export function untrustedHint(folder: string): string {
  return `trust it with \`switchboard trust --workspace ${JSON.stringify(folder)}\` (or trust the folder in VS Code or Claude Code)`;
}

export function decideTrust(workspace: string, env: NodeJS.ProcessEnv = process.env): TrustDecision {
  const folder = canonicalFolder(workspace);
  if (editorTrusts(folder, env)) return { folder, trusted: true, source: 'editor', explanation: 'trusted in the editor' };
  if (readTrustFile(env).folders.some((e) => e.folder === folder && e.trusted === true)) {
    return { folder, trusted: true, source: 'switchboard', explanation: 'trusted with `switchboard trust`' };
  }
  if (claudeCodeTrusts(folder, env)) return { folder, trusted: true, source: 'claude-code', explanation: "trusted in Claude Code's trust dialog" };
  return { folder, trusted: false, explanation: `this folder is not trusted: project settings that touch keys, money, the disk or run commands are ignored; ${untrustedHint(folder)}` };
}

function editorTrusts(folder: string, env: NodeJS.ProcessEnv): boolean {
  const value = env[EDITOR_TRUST_ENV];
  if (!value) return false;
  return value.split(path.delimiter).some((f) => f.trim() !== '' && path.isAbsolute(f) && canonicalFolder(f) === folder);
}

function claudeCodeTrusts(folder: string, env: NodeJS.ProcessEnv): boolean {
  const file = path.join(userHome(env), '.claude.json');
  let projects: unknown;
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile() || stat.size > CLAUDE_JSON_MAX_BYTES) return false;
    projects = (JSON.parse(fs.readFileSync(file, 'utf8')) as { projects?: unknown })?.projects;
  } catch {
    return false;
  }
  if (!projects || typeof projects !== 'object' || Array.isArray(projects)) return false;
  const accepted = (dir: string) => {
    const entry = Object.prototype.hasOwnProperty.call(projects, dir) ? (projects as Record<string, unknown>)[dir] : undefined;
    return !!entry && typeof entry === 'object' && (entry as { hasTrustDialogAccepted?: unknown }).hasTrustDialogAccepted === true;
  };
  // Claude Code's trust covers the folder and what lies below it; but a trust accepted once for the home folder
  // or the file-system root would trust every clone on the machine, so those two count only for themselves.
  const broad = new Set([canonicalFolder(userHome(env)), path.parse(folder).root]);
  for (let dir = folder; ; dir = path.dirname(dir)) {
    if (accepted(dir) && (dir === folder || !broad.has(dir))) return true;
    if (path.dirname(dir) === dir) return false;
  }
}

export function readTrustFile(env: NodeJS.ProcessEnv = process.env): TrustFile {
  const file = trustFilePath(env);
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile() || stat.size > TRUST_FILE_MAX_BYTES) return { version: 1, folders: [] };
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<TrustFile>;
    const folders = Array.isArray(parsed.folders) ? parsed.folders.filter(isEntry) : [];
    return { version: 1, folders };
  } catch {
    return { version: 1, folders: [] };
  }
}

function isEntry(e: unknown): e is TrustEntry {
  const x = e as TrustEntry;
  return !!x && typeof x.folder === 'string' && typeof x.trusted === 'boolean' && !!x.pins && typeof x.pins === 'object' && !Array.isArray(x.pins);
}

/** Read-modify-write of trust.json under a cross-process lock; written atomically with mode 0600. */
async function updateTrustFile(env: NodeJS.ProcessEnv, change: (file: TrustFile) => void): Promise<void> {
  const target = trustFilePath(env);
  fs.mkdirSync(path.dirname(target), { recursive: true, mode: 0o700 });
  const lock = new FileLock(target, { acquireTimeoutMs: 10_000 });
  await lock.acquire();
  try {
    const data = readTrustFile(env);
    change(data);
    const temp = `${target}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
    fs.writeFileSync(temp, JSON.stringify(data, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
    fs.renameSync(temp, target);
  } finally {
    lock.release();
  }
}

/** Trusts `workspace` and pins the project's commands as they are now (replacing earlier pins). */
export async function grantTrust(workspace: string, commands: readonly ProjectCommand[], env: NodeJS.ProcessEnv = process.env): Promise<TrustEntry> {
  const folder = canonicalFolder(workspace);
  const now = new Date().toISOString();
  const entry: TrustEntry = { folder, trusted: true, trusted_at: now, pins: {} };
  for (const c of commands) entry.pins[c.slot] = { sha256: commandHash(c), text: c.text, pinned_at: now };
  await updateTrustFile(env, (data) => {
    data.folders = data.folders.filter((e) => e.folder !== folder);
    data.folders.push(entry);
  });
  return entry;
}

/** Removes Switchboard's own record of trust (the editor's and Claude Code's are theirs to revoke). */
export async function revokeTrust(workspace: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const folder = canonicalFolder(workspace);
  let removed = false;
  await updateTrustFile(env, (data) => {
    removed = data.folders.some((e) => e.folder === folder && e.trusted);
    // Pins go too: trusting the folder again later re-pins what it holds then.
    data.folders = data.folders.filter((e) => e.folder !== folder);
  });
  return removed;
}

export function listTrust(env: NodeJS.ProcessEnv = process.env): TrustEntry[] {
  return readTrustFile(env).folders.filter((e) => e.trusted);
}

export function hashCommand(text: string): string {
  return crypto.createHash('sha256').update(text, 'utf8').digest('hex');
}

/** The pinned hash of a command: of its fingerprint when it has one, else of its text. */
export function commandHash(command: ProjectCommand): string {
  return hashCommand(command.fingerprint ?? command.text);
}

/**
 * May this trusted folder run `command`? An unpinned slot is pinned now (first use in a trusted folder); a
 * pinned slot must hold the same text. Callers check `decideTrust` first: an untrusted folder runs nothing.
 */
export async function checkPinnedCommand(decision: TrustDecision, command: ProjectCommand, env: NodeJS.ProcessEnv = process.env): Promise<PinCheck> {
  if (!decision.trusted) return { ok: false, reason: decision.explanation };
  const sha = commandHash(command);
  const existing = readTrustFile(env).folders.find((e) => e.folder === decision.folder)?.pins[command.slot];
  if (existing) {
    if (existing.sha256 === sha) return { ok: true };
    return { ok: false, reason: `the command for ${command.slot} changed since this folder was trusted (was: ${existing.text}); run it only after checking it: ${untrustedHint(decision.folder)}` };
  }
  await updateTrustFile(env, (data) => {
    let entry = data.folders.find((e) => e.folder === decision.folder);
    if (!entry) {
      // Trusted through the editor or Claude Code: keep the pins in our own record without granting trust here.
      entry = { folder: decision.folder, trusted: false, pins: {} };
      data.folders.push(entry);
    }
    entry.pins[command.slot] ??= { sha256: sha, text: command.text, pinned_at: new Date().toISOString() };
  });
  const pinned = readTrustFile(env).folders.find((e) => e.folder === decision.folder)?.pins[command.slot];
  return pinned?.sha256 === sha ? { ok: true } : { ok: false, reason: `the command for ${command.slot} was pinned to a different text by another process` };
}

// commands.ts (projectCommands, serverCommand) loads the cascades and router.yaml: import it directly where
// needed, so deciding trust stays cheap on the serve path.
export { isProjectServer, PROJECT_SERVER_LAYERS } from './layers';
export { allowListedEnv } from './child-env';
