/**
 * The path policy: ONE function, `checkPath`, that every file tool and command uses before touching a file.
 *
 * Decisions are made on canonical paths, component by component, never by string prefix:
 *  1. the input is screened lexically (control characters, URLs, `~`, drive letters, backslashes,
 *     percent-encoded separators, `..`), so tricks are refused before the file system is asked anything;
 *  2. the real path of the target, or of its nearest existing ancestor, is computed and must lie inside a
 *     canonical allowed root (compared component-wise, with the volume's own case/Unicode rules);
 *  3. the forbidden list and the extension allowlist are matched against both the path as given and the
 *     canonical path (a harmless-looking link to `.env` is still `.env`), ignoring case, Unicode normal form and
 *     Windows' trailing dots/spaces;
 *  4. an existing target must be a regular file with one link, within the size limit.
 * Denials are `PathDenied` (a UserError) naming the rule; they never show an absolute path outside the workspace.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors';
import { redact } from '../redact';
import { KEY_MATERIAL, type FilePolicy } from './policy';

export type PathPurpose = 'read' | 'write';

export type DenyRule =
  | 'invalid_path'
  | 'control_character'
  | 'url'
  | 'home_relative'
  | 'drive_path'
  | 'backslash'
  | 'percent_encoding'
  | 'traversal'
  | 'windows_reserved_name'
  | 'outside_allowed_paths'
  | 'forbidden'
  | 'key_material'
  | 'extension'
  | 'too_large'
  | 'symlink_dangling'
  | 'symlink_loop'
  | 'not_a_directory'
  | 'not_regular_file'
  | 'hard_link'
  | 'changed_during_check';

/** A policy denial. `rule` is stable (tests, audit); the message is for people. */
export class PathDenied extends UserError {
  constructor(readonly rule: DenyRule, message: string) {
    super(`${message} (rule: ${rule})`, 'path_denied');
    this.name = 'PathDenied';
  }
}

/** A path that passed the policy. */
export interface CheckedPath {
  /** Workspace-relative, '/'-separated (what audit records and results show). */
  rel: string;
  /** Canonical absolute path to operate on (every symbolic link resolved). */
  abs: string;
  /** The canonical allowed root holding it. */
  root: string;
  exists: boolean;
  /** lstat of `abs` when it exists (device and inode are re-checked when the file is opened). */
  stat?: fs.Stats;
  /**
   * Set when the folders on the way were looked at one by one rather than resolved (reads on Linux): the opened
   * file's real path must then be read back and equal `abs`, or the read is refused.
   */
  openedPathMustMatch?: true;
}

/** What checkPath needs, computed once per workspace by `createPathContext`. */
export interface PathContext {
  /** Canonical workspace folder. */
  workspace: string;
  /** Canonical allowed roots. */
  roots: string[];
  policy: FilePolicy;
  /** How the workspace's volume compares names. */
  caseInsensitive: boolean;
  normalizationInsensitive: boolean;
  /** Refuse Windows device names (CON, NUL, COM1 …) — on by default on Windows only. */
  windowsNames: boolean;
}

export function createPathContext(workspace: string, policy: FilePolicy, overrides: Partial<Pick<PathContext, 'caseInsensitive' | 'normalizationInsensitive' | 'windowsNames'>> = {}): PathContext {
  const ws = fs.realpathSync.native(workspace);
  const roots: string[] = [];
  for (const p of policy.allowedPaths) {
    try {
      roots.push(fs.realpathSync.native(p));
    } catch {
      // A missing allowed folder simply allows nothing; loadPolicy already warned.
    }
  }
  const volume = detectVolumeRules(ws);
  return {
    workspace: ws,
    roots,
    policy,
    caseInsensitive: overrides.caseInsensitive ?? volume.caseInsensitive,
    normalizationInsensitive: overrides.normalizationInsensitive ?? volume.normalizationInsensitive,
    windowsNames: overrides.windowsNames ?? process.platform === 'win32',
  };
}

/**
 * Asks the file system how it compares names, by creating a probe and looking it up under other spellings.
 * Runs in the OS temp folder when the folder itself cannot be written (read-only checkouts).
 */
export function detectVolumeRules(dir: string): { caseInsensitive: boolean; normalizationInsensitive: boolean } {
  const nfc = `.sb-probe-${crypto.randomBytes(4).toString('hex')}-\u00e9`;
  for (const base of [dir]) {
    const probe = path.join(base, nfc);
    try {
      fs.writeFileSync(probe, '', { flag: 'wx' });
    } catch {
      continue;
    }
    try {
      return {
        caseInsensitive: fs.existsSync(path.join(base, nfc.toUpperCase())),
        normalizationInsensitive: fs.existsSync(path.join(base, nfc.normalize('NFD'))),
      };
    } finally {
      fs.rmSync(probe, { force: true });
    }
  }
  // Cannot probe: assume the stricter reading for containment is the exact one (case-sensitive).
  return { caseInsensitive: process.platform === 'win32' || process.platform === 'darwin', normalizationInsensitive: process.platform === 'darwin' };
}

// C0/C1 controls, DEL, line/paragraph separators and bidirectional overrides (names that display as something else).
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f]/;
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9\u00b9\u00b2\u00b3]|lpt[0-9\u00b9\u00b2\u00b3]|conin\$|conout\$)(\..*)?$/i;
const MAX_INPUT_CHARS = 4096;
const MAX_COMPONENT_BYTES = 255;

/** THE path policy. Throws PathDenied, or a UserError 'not_found' for a missing file to read. */
export function checkPath(ctx: PathContext, input: unknown, purpose: PathPurpose): CheckedPath {
  // Worked out only when a message needs it: redacting it on every check was wasted work on the hot path.
  const shown = () => showable(input);
  const deny = (rule: DenyRule, why: string): never => {
    throw new PathDenied(rule, `${purpose === 'read' ? 'Reading' : 'Writing'} ${shown()} is not allowed: ${why}`);
  };
  const { absolute, components } = screenOnce(input, deny, ctx.windowsNames);

  const lexical = absolute ? path.join(path.parse(process.cwd()).root, ...components) : path.join(ctx.workspace, ...components);
  const plain = !absolute && purpose === 'read' ? plainBelow(ctx.workspace, components) : undefined;
  const { canonical, exists, stat: lexicalStat } = plain ?? canonicalize(lexical, deny);

  const root = ctx.roots.find((r) => isInside(ctx, r, canonical));
  if (!root) deny('outside_allowed_paths', 'it is outside the folders Switchboard may use');
  const base = isInside(ctx, ctx.workspace, canonical) ? ctx.workspace : root!;
  const canonicalParts = splitBelow(base, canonical);
  // The given spelling matters too: `.git/x` must be refused even if `.git` were a link to a harmless folder.
  const givenParts = absolute ? (isInside(ctx, base, lexical) ? splitBelow(base, lexical) : []) : components;
  if (canonicalParts.length === 0) deny('not_regular_file', 'it is a folder, not a file');

  const userAction = ctx.policy.userActionFiles?.some((f) => f === givenParts.join('/') && f === canonicalParts.join('/'));
  // Without a link on the way both spellings are the same names: matched once.
  const spellings = givenParts.length === canonicalParts.length && givenParts.every((p, i) => p === canonicalParts[i]) ? [canonicalParts] : [givenParts, canonicalParts];
  // The name checks depend only on the names and the lists: a spelling that passed them all is remembered.
  const passed = passedNames(ctx.policy);
  const namesKey = `${userAction ? '1' : '0'}${givenParts.join('/')}\0${canonicalParts.join('/')}`;
  const known = passed.has(namesKey);
  for (const parts of userAction || known ? [] : spellings) {
    const hit = forbiddenMatch(ctx.policy.forbidden, parts);
    if (hit) deny('forbidden', `"${hit}" is on the forbidden list (secrets, version control, Switchboard state, configuration that runs code)`);
    const key = forbiddenMatch(KEY_MATERIAL, parts);
    if (key) deny('key_material', `"${key}" is key material (SSH/cloud/registry credentials), which no policy makes readable`);
  }
  // Existence is only told for names that passed the forbidden list.
  const stat = exists ? (lexicalStat ?? fs.lstatSync(canonical)) : undefined;
  if (stat?.isDirectory()) deny('not_regular_file', 'it is a folder, not a file');
  for (const parts of known ? [] : spellings) {
    const name = parts[parts.length - 1];
    if (name !== undefined && !extensionAllowed(ctx.policy.allowedExtensions, name)) {
      deny('extension', `files of this type are not on the allowed_extensions list`);
    }
  }
  if (!known) {
    if (passed.size >= 1024) passed.clear();
    passed.add(namesKey);
  }

  if (stat) {
    if (!stat.isFile()) deny('not_regular_file', `it is ${kindOf(stat)}, not a regular file`);
    if (stat.nlink > 1) deny('hard_link', 'the file has several hard links, so its content may also live outside the workspace');
    if (stat.size > ctx.policy.maxFileBytes) deny('too_large', `it is ${stat.size} bytes, over the max_file_bytes limit of ${ctx.policy.maxFileBytes}`);
  } else if (purpose === 'read') {
    throw new UserError(`No file ${shown()} in the workspace`, 'not_found');
  }
  return { rel: relativeForDisplay(ctx.workspace, canonical), abs: canonical, root: root!, exists, stat, ...(plain ? { openedPathMustMatch: true } : {}) };
}

/** The input as it may appear in a message: relative inputs only, never an absolute path or odd characters. */
function showable(input: unknown): string {
  if (typeof input !== 'string' || !input || input.length > 200 || CONTROL.test(input)) return 'this path';
  if (/^([/\\~]|[a-z][a-z0-9+.-]*:)/i.test(input)) return 'this path';
  return redact(`"${input}"`);
}

// Inputs that passed the lexical screen (a pure function of the text): the same few paths are asked for again and
// again. A denial throws and is never remembered; the arrays are never changed by callers.
const screened = new Map<string, { absolute: boolean; components: readonly string[] }>();

function screenOnce(input: unknown, deny: (rule: DenyRule, why: string) => never, windowsNames: boolean): { absolute: boolean; components: readonly string[] } {
  if (typeof input !== 'string') return screen(input, deny, windowsNames);
  return remembered(screened, (windowsNames ? 'w' : 'p') + input, 1024, () => screen(input, deny, windowsNames));
}

/** `cache`'s value for `key`, made by `make` when missing; the cache is emptied when it reaches `limit` entries. */
function remembered<V>(cache: Map<string, V>, key: string, limit: number, make: () => V): V {
  let value = cache.get(key);
  if (value === undefined) {
    value = make();
    if (cache.size >= limit) cache.clear();
    cache.set(key, value);
  }
  return value;
}

function screen(input: unknown, deny: (rule: DenyRule, why: string) => never, windowsNames: boolean): { absolute: boolean; components: string[] } {
  if (typeof input !== 'string' || input.trim() === '') deny('invalid_path', 'the path is empty');
  const s = input as string;
  if (s.length > MAX_INPUT_CHARS) deny('invalid_path', 'the path is too long');
  if (CONTROL.test(s)) deny('control_character', 'the path contains a NUL, control or direction-changing character');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s) || /^file:/i.test(s)) deny('url', 'URLs are not accepted; give a path relative to the workspace');
  if (/^[a-z]:/i.test(s) || s.startsWith('\\\\') || s.startsWith('//?/') || s.startsWith('//./')) deny('drive_path', 'drive letters and network paths are not accepted');
  if (s.startsWith('~')) deny('home_relative', 'home-relative paths are not accepted; give a path relative to the workspace');
  if (s.includes('\\')) deny('backslash', "backslashes are not accepted as separators or in names; use '/'");
  if (/%(2e|2f|5c|00|25)/i.test(s)) deny('percent_encoding', 'percent-encoded dots, slashes or percent signs are not accepted');
  if (s.endsWith('/')) deny('not_regular_file', 'a trailing slash names a folder, not a file');
  const absolute = s.startsWith('/');
  const components = s.split('/').filter((c) => c !== '' && c !== '.');
  for (const c of components) {
    if (c === '..') deny('traversal', "'..' is not accepted; give a path inside the workspace");
    if (/^[. ]+$/.test(c)) deny('traversal', 'names made only of dots and spaces are not accepted');
    if (c.includes(':')) deny('drive_path', "':' is not accepted in names (drive letters, Windows streams)");
    if (Buffer.byteLength(c) > MAX_COMPONENT_BYTES) deny('invalid_path', 'a name in the path is longer than 255 bytes');
    if (windowsNames && WINDOWS_RESERVED.test(c.replace(/[. ]+$/, ''))) deny('windows_reserved_name', 'it names a Windows device');
  }
  if (components.length === 0) deny('not_regular_file', 'it names a folder, not a file');
  return { absolute, components };
}

/**
 * Real path of the target, or of its nearest existing ancestor plus the names still to be created. `stat`: the
 * target's lstat when no link was on the way (the lexical path is the canonical one), so it is not asked twice.
 */
function canonicalize(lexical: string, deny: (rule: DenyRule, why: string) => never): { canonical: string; exists: boolean; stat?: fs.Stats } {
  const rest: string[] = [];
  let existing = lexical;
  let stat: fs.Stats;
  for (;;) {
    try {
      stat = fs.lstatSync(existing);
      break;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ELOOP') deny('symlink_loop', 'a symbolic link in the path points to itself');
      if (code === 'ENOTDIR') deny('not_a_directory', 'a file is used as a folder in the path');
      if (code !== 'ENOENT') deny('invalid_path', `the path cannot be examined (${code ?? 'error'})`);
      const parent = path.dirname(existing);
      if (parent === existing) deny('invalid_path', 'no part of the path exists');
      rest.unshift(path.basename(existing));
      existing = parent;
    }
  }
  let real: string;
  try {
    real = fs.realpathSync.native(existing);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') deny('symlink_loop', 'a symbolic link in the path is part of a loop');
    if (code === 'ENOENT') deny('symlink_dangling', 'a symbolic link in the path points to nothing');
    if (code === 'ENOTDIR') deny('not_a_directory', 'a file is used as a folder in the path');
    deny('invalid_path', `the path cannot be resolved (${code ?? 'error'})`);
  }
  if (rest.length > 0 && !fs.statSync(real!).isDirectory()) deny('not_a_directory', 'a file is used as a folder in the path');
  if (rest.length === 0) return { canonical: real!, exists: true, ...(real! === lexical ? { stat: stat! } : {}) };
  return { canonical: path.join(real!, ...rest), exists: false };
}

/**
 * The cheap way to the canonical path of a file to read, where it applies: the workspace is canonical already,
 * so when every folder below it on the way is a real folder and the file itself a regular file (one lstat each),
 * the path as given is the canonical path, without a realpath walking every folder from `/`. Only for reads on
 * Linux with /proc: there the opened file's real path is compared with the checked one (readExisting), which
 * catches a folder swapped for a link after this look. Anything else (a link, a missing name) takes the full
 * walk, which also words the denial.
 */
function plainBelow(workspace: string, components: readonly string[]): { canonical: string; exists: true; stat: fs.Stats } | undefined {
  if (!procFdReliable()) return undefined;
  let p = workspace;
  for (let i = 0; i < components.length; i++) {
    p += path.sep + components[i]!;
    const st = fs.lstatSync(p, { throwIfNoEntry: false });
    if (!st) return undefined;
    if (i < components.length - 1 ? !st.isDirectory() : !st.isFile()) return undefined;
    if (i === components.length - 1) return { canonical: p, exists: true, stat: st };
  }
  return undefined;
}

let procFd: boolean | undefined;
/** Linux with /proc mounted: the path of an open file can be read back (durable.ts pathOfOpenFile). */
function procFdReliable(): boolean {
  if (procFd === undefined) {
    try {
      procFd = process.platform === 'linux' && fs.statSync('/proc/self/fd').isDirectory();
    } catch {
      procFd = false;
    }
  }
  return procFd;
}

// The same few roots are split on every check: kept (bounded; the arrays are never changed by callers).
const componentsCache = new Map<string, readonly string[]>();

function components(p: string): readonly string[] {
  return remembered(componentsCache, p, 256, () => p.split(path.sep).filter(Boolean));
}

/** Component-wise containment with the volume's rules; `/ws-evil` is never inside `/ws`. */
export function isInside(ctx: Pick<PathContext, 'caseInsensitive' | 'normalizationInsensitive'>, root: string, p: string): boolean {
  const r = components(root);
  const q = components(p);
  if (q.length < r.length) return false;
  const fold = (s: string) => {
    let out = ctx.normalizationInsensitive ? s.normalize('NFC') : s;
    if (ctx.caseInsensitive) out = out.toLowerCase();
    return out;
  };
  return r.every((c, i) => fold(c) === fold(q[i]!));
}

function splitBelow(root: string, p: string): string[] {
  return components(p).slice(components(root).length);
}

function relativeForDisplay(workspace: string, canonical: string): string {
  const below = canonical.startsWith(workspace + path.sep) ? canonical.slice(workspace.length + 1) : path.relative(workspace, canonical);
  return below.split(path.sep).join('/');
}

/**
 * How a name is compared against the deny-list: Unicode NFC, lower case, and without Windows' ignored trailing
 * dots and spaces. Broader than any one file system, which is what a deny-list should be.
 */
export function foldName(name: string): string {
  return name.normalize('NFC').toLowerCase().replace(/[. ]+$/, '');
}

/**
 * The first forbidden pattern matching the components, or undefined. A pattern is one or more names joined by
 * '/', with '*' and '?' inside names; a trailing '/' (folder) matches the name itself too (a `.git` file is a
 * submodule's pointer). Patterns match at any depth.
 */
export function forbiddenMatch(patterns: readonly string[], parts: readonly string[]): string | undefined {
  const names = parts.map(foldName);
  const { anySegment, compiled } = compiledOnce(forbiddenCache, patterns, compileForbidden);
  // Usually no name matches any segment of any pattern: one regular expression per name says so.
  if (!names.some((n) => anySegment.test(n))) return undefined;
  for (const { pattern, segs } of compiled) {
    for (let start = 0; start + segs.length <= names.length; start++) {
      if (segs.every((re, i) => re.test(names[start + i]!))) return pattern;
    }
  }
  return undefined;
}

function compileForbidden(patterns: readonly string[]): { anySegment: RegExp; compiled: Array<{ pattern: string; segs: RegExp[] }> } {
  const bodies = patterns.map((pattern) => ({ pattern, bodies: pattern.split('/').filter(Boolean).map((s) => globBody(foldName(s))) })).filter((p) => p.bodies.length > 0);
  const all = bodies.flatMap((p) => p.bodies);
  return {
    anySegment: all.length ? new RegExp(`^(?:${all.join('|')})$`, 's') : /(?!)/,
    compiled: bodies.map((p) => ({ pattern: p.pattern, segs: p.bodies.map((b) => new RegExp(`^${b}$`, 's')) })),
  };
}

function globBody(glob: string): string {
  return glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
}

export function extensionAllowed(allowed: readonly string[], name: string): boolean {
  const n = foldName(name);
  const { extensions, names } = compiledOnce(extensionCache, allowed, compileExtensions);
  if (names.has(n)) return true;
  // Every ending that starts at a dot (not the whole name): "a.test.ts" → ".test.ts", ".ts".
  for (let i = n.indexOf('.', 1); i > 0; i = n.indexOf('.', i + 1)) if (extensions.has(n.slice(i))) return true;
  return false;
}

function compileExtensions(allowed: readonly string[]): { extensions: Set<string>; names: Set<string> } {
  return {
    extensions: new Set(allowed.map((e) => e.toLowerCase()).filter((e) => e.startsWith('.'))),
    names: new Set(allowed.map(foldName)),
  };
}

// Both lists are checked several times per file operation: compiled once per list (folding ~130 allowlist
// entries and building a dozen regular expressions took most of a check's time). Keyed by the list itself and
// re-checked against its content, so a list changed in place is never matched with stale rules.
const forbiddenCache = new WeakMap<readonly string[], { copy: string[]; value: ReturnType<typeof compileForbidden> }>();
const extensionCache = new WeakMap<readonly string[], { copy: string[]; value: ReturnType<typeof compileExtensions> }>();

function compiledOnce<T>(cache: WeakMap<readonly string[], { copy: string[]; value: T }>, list: readonly string[], compile: (list: readonly string[]) => T): T {
  const hit = cache.get(list);
  if (hit && hit.copy.length === list.length && hit.copy.every((v, i) => v === list[i])) return hit.value;
  const value = compile(list);
  cache.set(list, { copy: [...list], value });
  return value;
}

/**
 * Spellings (given and canonical names) that passed the forbidden, key-material and extension checks under a
 * policy's lists. Tied to the compiled lists, so a list changed in place starts a new set.
 */
const passedCache = new WeakMap<object, { extensions: object; names: Set<string> }>();

function passedNames(policy: FilePolicy): Set<string> {
  const forbidden = compiledOnce(forbiddenCache, policy.forbidden, compileForbidden);
  const extensions = compiledOnce(extensionCache, policy.allowedExtensions, compileExtensions);
  let entry = passedCache.get(forbidden);
  if (!entry || entry.extensions !== extensions) {
    entry = { extensions, names: new Set() };
    passedCache.set(forbidden, entry);
  }
  return entry.names;
}

function kindOf(st: fs.Stats): string {
  if (st.isFIFO()) return 'a named pipe';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'a special file';
}
