/**
 * `switchboard registry sync | search TEXT | show NAME | add NAME[@VERSION] | validate FILE`, each with --json.
 * Installing is a user action: it happens here (and in the editor), never through an MCP tool.
 */
import fs from 'node:fs';
import path from 'node:path';
import { formatDiagnostic } from '../../core/diagnostics';
import { UserError } from '../../core/errors';
import {
  RegistryClient,
  STATUSES,
  cacheInfo,
  describeAge,
  openRegistryIndex,
  planInstall,
  registrySources,
  validateServerJson,
  writeInstall,
  type InstallInputs,
  type InstallPlan,
  type RegistryEntry,
  type RegistryIndex,
  type SearchHit,
  type ServerStatus,
} from '../../core/registry';
import { exactVersion } from '../../core/registry/plain-value';
import { SERVER_NAME } from '../../core/registry/schema';
import { redact } from '../../core/redact';
import { checkWorkspace, formatTable, printDiagnostics } from './format';
import { parseCommandArgs } from './args';
import { printJson, type Command } from './commands';

const USAGE = 'usage: switchboard registry sync [--full] | search TEXT [--type T] [--transport stdio|http|sse] [--status S] | show NAME | add NAME[@VERSION] [--scope project|user] [--env VAR=…] [--arg name=value] [--yes] | validate FILE';

export const registryCommand: Command = {
  name: 'registry',
  summary: 'registry sync | search TEXT | show NAME | add NAME[@VERSION] | validate FILE: find and install MCP servers',
  async run(argv) {
    const { common, values, positionals } = parseCommandArgs(argv, {
      type: { type: 'string' },
      transport: { type: 'string' },
      status: { type: 'string' },
      limit: { type: 'string' },
      scope: { type: 'string' },
      env: { type: 'string', multiple: true },
      arg: { type: 'string', multiple: true },
      name: { type: 'string' },
      yes: { type: 'boolean', short: 'y' },
      full: { type: 'boolean' },
    });
    const [sub, ...rest] = positionals;
    switch (sub) {
      case 'sync':
        return sync(common.json, values.full === true);
      case 'search':
        return search(rest.join(' '), values, common.json);
      case 'show':
        if (rest.length !== 1) throw new UserError('usage: switchboard registry show NAME');
        return show(rest[0]!, common.json);
      case 'add':
        if (rest.length !== 1) throw new UserError('usage: switchboard registry add NAME[@VERSION] [--scope project|user] [--env VAR=…] [--arg name=value] [--yes]');
        checkWorkspace(common.workspace, values.workspace);
        return add(rest[0]!, values, common);
      case 'validate':
        if (rest.length !== 1) throw new UserError('usage: switchboard registry validate server.json');
        return validate(rest[0]!, common.workspace, common.json);
      default:
        throw new UserError(USAGE);
    }
  },
};

async function sync(json: boolean, full: boolean): Promise<number> {
  const sources = registrySources();
  printDiagnostics(sources.diagnostics);
  const index = await openRegistryIndex();
  const report = await index.sync(sources.urls, { full });
  const info = cacheInfo(index);
  if (json) {
    printJson({ ...report, cache: info });
  } else {
    for (const r of report.registries) {
      const dropped = r.dropped || r.droppedParts ? `; dropped ${r.dropped} invalid entr${r.dropped === 1 ? 'y' : 'ies'} and ${r.droppedParts} invalid package(s)/remote(s)` : '';
      process.stdout.write(r.error ? `${r.url}: sync failed (${r.error}); the cache keeps serving (${describeAge(info)})\n` : `${r.url}: ${r.full ? 'full' : 'incremental'} sync, ${r.fetched} fetched, ${r.applied} applied${dropped}\n`);
      for (const reason of r.reasons) process.stderr.write(`  ${redact(reason)}\n`);
    }
    process.stdout.write(`${report.total} server(s) in the index.\n`);
  }
  return report.registries.every((r) => r.error) ? 1 : 0;
}

/** A never-synced index is filled first; after that a search never waits for the network. */
async function readyIndex(): Promise<RegistryIndex> {
  const index = await openRegistryIndex();
  if (index.registries().length === 0) {
    const report = await index.sync(registrySources().urls);
    const failed = report.registries.filter((r) => r.error);
    if (failed.length === report.registries.length) throw new UserError(`the registry index is empty and the registry could not be reached (${failed[0]?.error ?? 'no registry'}); try again later`);
  }
  return index;
}

function list(value: unknown): string[] | undefined {
  return typeof value === 'string' ? value.split(',').map((v) => v.trim().toLowerCase()).filter(Boolean) : undefined;
}

async function search(text: string, values: Record<string, unknown>, json: boolean): Promise<number> {
  const statuses = list(values.status);
  for (const s of statuses ?? []) if (!(STATUSES as readonly string[]).includes(s)) throw new UserError(`--status must be one of ${STATUSES.join(', ')}`);
  const transports = list(values.transport);
  for (const t of transports ?? []) if (!['stdio', 'http', 'sse'].includes(t)) throw new UserError('--transport must be stdio, http or sse');
  const limit = values.limit === undefined ? 20 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new UserError('--limit must be a positive whole number');
  const index = await readyIndex();
  const hits = index.search({ text, types: list(values.type), transports, statuses: statuses as ServerStatus[] | undefined, limit });
  const info = cacheInfo(index);
  if (json) {
    printJson({ results: hits, cache: info });
    return 0;
  }
  const rows = [['NAME', 'VERSION', 'TYPE', 'TRANSPORT', 'STATUS', 'DESCRIPTION']];
  for (const h of hits) rows.push([h.name, h.version ?? '-', h.types.join(',') || '-', h.transports.join(',') || '-', h.status, oneLine(h.description, 70)]);
  process.stdout.write(redact(hits.length ? formatTable(rows) : 'No matching servers.') + '\n');
  process.stdout.write(`${hits.length} result(s); cache ${describeAge(info)}${info.errors.length ? ` (last sync failed: ${info.errors.join('; ')})` : ''}.\n`);
  return 0;
}

function oneLine(text: string, max: number): string {
  // eslint-disable-next-line no-control-regex -- control characters from a registry must not reach the terminal
  const flat = text.replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, ' ').trim();
  return flat.length > max ? flat.slice(0, max - 1) + '…' : flat;
}

function parseName(spec: string): { name: string; version?: string } {
  const at = spec.lastIndexOf('@');
  const name = at > 0 ? spec.slice(0, at) : spec;
  const version = at > 0 ? spec.slice(at + 1) : undefined;
  if (!SERVER_NAME.test(name) || name.length > 200) throw new UserError(`"${oneLine(name, 80)}" is not a registry server name (namespace/name, e.g. io.github.user/weather)`);
  if (version !== undefined) exactVersion(`version of ${name}`, version);
  return { name, version };
}

async function findEntry(name: string, version?: string): Promise<{ entry: RegistryEntry; registry: string; versions?: string[] }> {
  const index = await readyIndex();
  const cached = index.get(name);
  if (!cached) throw new UserError(`${name} is not in the registry index (${describeAge(cacheInfo(index))}); check the name with "switchboard registry search" or run "switchboard registry sync"`);
  if (version === undefined || version === cached.server.version) return { entry: cached, registry: cached.registry };
  const live = await new RegistryClient(cached.registry).version(name, version);
  if (!live) throw new UserError(`${name} has no version ${version} in the registry`);
  return { entry: live, registry: cached.registry };
}

async function show(spec: string, json: boolean): Promise<number> {
  const { name, version } = parseName(spec);
  const { entry, registry } = await findEntry(name, version);
  let versions: Array<{ version?: string; status: string }> | undefined;
  let versionsNote: string | undefined;
  try {
    versions = (await new RegistryClient(registry, { timeoutMs: 5000 }).versions(name)).map((v) => ({ version: v.server.version, status: v.meta.status }));
  } catch (err) {
    versionsNote = `versions not available offline (${(err as Error).message})`;
  }
  const s = entry.server;
  const inputs = [
    ...s.packages.flatMap((p) => (p.environmentVariables ?? []).map((e) => ({ name: e.name, kind: 'env', required: e.isRequired === true, secret: e.isSecret === true, description: e.description }))),
    ...s.packages.flatMap((p) => [...(p.packageArguments ?? []), ...(p.runtimeArguments ?? [])].filter((a) => a.isRequired && a.value === undefined).map((a) => ({ name: a.type === 'named' ? a.name : (a.valueHint ?? '?'), kind: 'arg', required: true, secret: a.isSecret === true, description: a.description }))),
    ...s.remotes.flatMap((r) => (r.headers ?? []).map((h) => ({ name: h.name, kind: 'header', required: h.isRequired === true, secret: h.isSecret === true, description: h.description }))),
  ];
  const details = {
    name: s.name,
    title: s.title,
    description: s.description,
    version: s.version,
    status: entry.meta.status,
    status_message: entry.meta.statusMessage,
    repository: s.repository?.url,
    website: s.websiteUrl,
    registry,
    packages: s.packages.map((p) => ({ type: p.registryType, identifier: p.identifier, version: p.version, transport: p.transport?.type ?? 'stdio' })),
    remotes: s.remotes.map((r) => ({ type: r.type, url: r.url })),
    inputs,
    versions,
  };
  if (json) {
    printJson({ ...details, versions_note: versionsNote });
    return 0;
  }
  const lines = [
    `${s.name}${s.version ? `@${s.version}` : ''}${s.title ? ` — ${oneLine(s.title, 80)}` : ''}`,
    `  status: ${entry.meta.status}${entry.meta.statusMessage ? ` (${oneLine(entry.meta.statusMessage, 120)})` : ''}`,
    `  ${oneLine(s.description, 300)}`,
    ...(s.repository?.url ? [`  repository: ${oneLine(s.repository.url, 200)}`] : []),
    ...details.packages.map((p) => `  package: ${p.type} ${oneLine(p.identifier, 120)}${p.version ? `@${oneLine(p.version, 40)}` : ''} (${p.transport})`),
    ...details.remotes.map((r) => `  remote: ${r.type} ${oneLine(r.url ?? '', 200)}`),
    ...inputs.map((i) => `  input: ${i.kind} ${i.name}${i.required ? ' (required)' : ''}${i.secret ? ' (secret)' : ''}${i.description ? ` — ${oneLine(i.description, 100)}` : ''}`),
    versions ? `  versions: ${versions.map((v) => `${v.version ?? '?'}${v.status === 'active' ? '' : ` (${v.status})`}`).join(', ')}` : `  ${versionsNote}`,
  ];
  process.stdout.write(redact(lines.join('\n')) + '\n');
  return 0;
}

function parseInputs(values: Record<string, unknown>): InstallInputs {
  const inputs: InstallInputs = { env: {}, args: {} };
  for (const item of (values.env as string[] | undefined) ?? []) {
    const eq = item.indexOf('=');
    const name = eq < 0 ? item : item.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new UserError(`--env ${oneLine(item, 60)}: expected NAME=value or NAME`);
    inputs.env[name] = eq < 0 ? true : item.slice(eq + 1);
  }
  for (const item of (values.arg as string[] | undefined) ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UserError(`--arg ${oneLine(item, 60)}: expected name=value`);
    inputs.args[item.slice(0, eq).replace(/^-+/, '')] = item.slice(eq + 1);
  }
  return inputs;
}

async function add(spec: string, values: Record<string, unknown>, common: { workspace: string; json: boolean }): Promise<number> {
  const scope = (values.scope ?? 'project') as string;
  if (scope !== 'project' && scope !== 'user') throw new UserError('--scope must be project or user');
  const { name, version } = parseName(spec);
  const inputs = parseInputs(values);
  const { entry } = await findEntry(name, version);
  let plan = planInstall(entry, { inputs, type: typeof values.type === 'string' ? values.type : undefined, key: typeof values.name === 'string' ? values.name : undefined });
  const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true && !common.json;
  if (plan.missing.length && interactive) {
    await askMissing(plan, inputs);
    plan = planInstall(entry, { inputs, type: typeof values.type === 'string' ? values.type : undefined, key: typeof values.name === 'string' ? values.name : undefined });
  }
  if (plan.missing.length) {
    throw new UserError(`${name} needs inputs; nothing was written. Pass: ${plan.missing.map((m) => `${m.flag}${m.description ? ` (${oneLine(m.description, 60)})` : ''}`).join(', ')}`);
  }
  const target = scope === 'project' ? '.mcp/servers/registry.json' : `~/.claude/mcp/servers/${plan.key}.json`;
  const summary = [
    `${plan.name}@${plan.version} (${plan.kind})${entry.meta.status === 'deprecated' ? ` — DEPRECATED${entry.meta.statusMessage ? `: ${oneLine(entry.meta.statusMessage, 120)}` : ''}` : ''}`,
    `  server "${plan.key}" in ${target}`,
    `  ${plan.definition.type === 'stdio' ? 'command' : 'connects to'}: ${plan.display}`,
    ...(plan.definition.env ? [`  env: ${Object.entries(plan.definition.env).map(([k, v]) => `${k}=${v}`).join(' ')}`] : []),
    ...(plan.definition.headers ? [`  headers: ${Object.keys(plan.definition.headers).join(', ')}`] : []),
    ...(plan.secrets.length ? [`  set in the environment the MCP client starts from: ${plan.secrets.join(', ')} (written only as \${VAR} references)`] : []),
  ].join('\n');
  if (!common.json) process.stdout.write(redact(summary) + '\n');
  if (values.yes !== true) {
    if (!interactive || !(await confirm('Write it? [y/N] '))) {
      throw new UserError(interactive ? 'nothing was written' : 'nothing was written; review the command above and re-run with --yes to write it');
    }
  }
  const written = await writeInstall(plan, scope, { workspace: common.workspace, actor: 'cli' });
  if (common.json) {
    printJson({ name: plan.name, version: plan.version, kind: plan.kind, key: plan.key, scope, file: written.file, backup_id: written.backup, replaced: written.replaced, command: plan.display, definition: plan.definition, secrets: plan.secrets, status: entry.meta.status });
  } else {
    process.stdout.write(`${written.replaced ? 'Replaced' : 'Added'} "${plan.key}" in ${written.file}${written.backup ? ` (backup ${written.backup})` : ''}. See it with: switchboard servers\n`);
  }
  return 0;
}

async function askMissing(plan: InstallPlan, inputs: InstallInputs): Promise<void> {
  const readline = await import('node:readline/promises');
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
  try {
    for (const m of plan.missing) {
      const match = /^--(env|arg) ([^=]+)=/.exec(m.flag);
      if (!match) continue;
      const answer = (await rl.question(`${match[2]}${m.description ? ` (${oneLine(m.description, 80)})` : ''}: `)).trim();
      if (!answer) continue;
      if (match[1] === 'env') inputs.env[match[2]!] = answer;
      else inputs.args[match[2]!] = answer;
    }
  } finally {
    rl.close();
  }
}

async function confirm(question: string): Promise<boolean> {
  const readline = await import('node:readline/promises');
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

function validate(file: string, workspace: string, json: boolean): number {
  const abs = path.resolve(workspace, file);
  let text: string;
  try {
    const stat = fs.statSync(abs);
    if (!stat.isFile()) throw new UserError(`${file}: not a regular file`);
    if (stat.size > 1024 * 1024) throw new UserError(`${file}: over 1 MiB; not a server.json`);
    text = fs.readFileSync(abs, 'utf8');
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`${file}: cannot be read`);
  }
  const diagnostics = validateServerJson(file, text);
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  if (json) printJson({ file, valid: errors === 0, diagnostics });
  else {
    for (const d of diagnostics) process.stdout.write(formatDiagnostic(d) + '\n');
    process.stdout.write(errors ? `${file}: ${errors} error(s), ${diagnostics.length - errors} warning(s)\n` : `${file}: valid${diagnostics.length ? ` (${diagnostics.length} warning(s))` : ''}\n`);
  }
  return errors ? 1 : 0;
}

export type { SearchHit };
