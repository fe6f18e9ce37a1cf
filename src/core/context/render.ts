import crypto from 'node:crypto';

/**
 * PROJECT_CONTEXT.md as a pure function of a state snapshot. Same state → same bytes: every list is sorted
 * here (whatever order the caller gave), and the only "version" line is a hash of the state, never a clock.
 */

export const CONTEXT_FILE = 'PROJECT_CONTEXT.md';
export const USER_START = '<!-- switchboard:user-start -->';
export const USER_END = '<!-- switchboard:user-end -->';
/** Opens the first line of every generated file; how a file we wrote is told apart from a hand-written one. */
export const GENERATED_MARK = '<!-- switchboard:generated';

export const DEFAULT_USER_SECTION = '\n_Anything written between these markers is kept when Switchboard regenerates this file._\n';

export interface ContextAgent {
  id: string;
  layer: string;
  model?: string;
  description?: string;
}

export interface ContextServer {
  id: string;
  layer: string;
  type: string;
  /** enabled / running / optional (off) / disabled / duplicate of X, then the health check's verdict when known. */
  status: string;
}

export interface ContextQuota {
  metric: string;
  window: string;
  limit: number;
  /** Settled use only: open reservations come and go with in-flight calls and would churn the file. */
  used: number;
}

export interface ContextProvider {
  id: string;
  kind: string;
  tier: string;
  disabled: boolean;
  models: string[];
  /** Undefined when the ledger could not be read (shown as "unknown"). */
  quotas?: ContextQuota[];
}

export interface ContextDelegation {
  time: string;
  task?: string;
  agent?: string;
  provider?: string;
  model?: string;
  path?: string;
  outcome: string;
}

export interface ContextState {
  project: { name: string; branch?: string };
  agents: ContextAgent[];
  /** Agents found but disabled in the discovery config (counted, not listed). */
  disabledAgents: number;
  servers: ContextServer[];
  providers: ContextProvider[];
  /** Newest first. */
  delegations: ContextDelegation[];
  /** Text between the user markers, kept verbatim (markers excluded). */
  userSection: string;
}

export function renderProjectContext(state: ContextState): string {
  const s = normalize(state);
  const out: string[] = [];
  out.push(`${GENERATED_MARK} by \`switchboard context\` from state sha256:${stateHash(s)}; edit only between the user markers -->`);
  out.push(`# Project context: ${inline(s.project.name)}`, '');
  out.push(`- Project: \`${code(s.project.name)}\``);
  out.push(`- Branch: ${s.project.branch ? `\`${code(s.project.branch)}\`` : '(not a git repository)'}`);
  out.push('');

  out.push(`## Agents (${s.agents.length})`, '');
  if (s.agents.length) {
    out.push(...table(['Agent', 'Layer', 'Model', 'Description'], s.agents.map((a) => [a.id, a.layer, a.model ?? '—', a.description ?? ''])));
  } else {
    out.push('No agents found.');
  }
  if (s.disabledAgents) out.push('', `${s.disabledAgents} more agent(s) disabled in \`.agents/discovery-config.yaml\`.`);
  out.push('');

  out.push(`## MCP servers (${s.servers.length})`, '');
  if (s.servers.length) out.push(...table(['Server', 'Layer', 'Type', 'Status'], s.servers.map((v) => [v.id, v.layer, v.type, v.status])));
  else out.push('No MCP servers found.');
  out.push('');

  out.push('## Providers and quota left', '');
  if (s.providers.length) {
    out.push(...table(['Provider', 'Tier', 'Models', 'Quota left'], s.providers.map((p) => [
      p.disabled ? `${p.id} (disabled)` : p.id,
      p.tier,
      p.models.join(', ') || '(whatever the server offers)',
      quotaText(p.quotas),
    ])));
  } else {
    out.push('No providers configured.');
  }
  out.push('');

  out.push(`## Recent delegations (${s.delegations.length})`, '');
  if (s.delegations.length) {
    out.push(...table(['When (UTC)', 'Task', 'Agent', 'Routed to', 'Output', 'Outcome'], s.delegations.map((d) => [
      d.time.replace('T', ' ').replace(/\.\d+Z$|Z$/, ''),
      d.task ?? '',
      d.agent ?? '',
      d.provider ? `${d.provider}${d.model ? `/${d.model}` : ''}` : '',
      d.path ?? '',
      d.outcome,
    ])));
  } else {
    out.push('None yet.');
  }
  out.push('');

  out.push('## Notes', '', USER_START + s.userSection + USER_END, '');
  return out.join('\n');
}

/**
 * The user section of an existing file. A file with both markers keeps what lies between them; a start marker
 * without an end keeps everything after it; a file without markers that Switchboard did not write is kept whole
 * (it is the user's own text); a generated file whose markers were deleted gets the default section back.
 */
export function extractUserSection(existing: string | undefined): string {
  if (existing === undefined) return DEFAULT_USER_SECTION;
  const start = existing.indexOf(USER_START);
  if (start >= 0) {
    const from = start + USER_START.length;
    const end = existing.indexOf(USER_END, from);
    return end >= 0 ? existing.slice(from, end) : existing.slice(from);
  }
  if (existing.startsWith(GENERATED_MARK) || !existing.trim()) return DEFAULT_USER_SECTION;
  // The end marker inside kept text would cut it short on the next run.
  return '\n' + existing.split(USER_END).join('<!-- switchboard:user-end (escaped) -->').replace(/\n?$/, '\n');
}

/** Names of the `## ` sections whose text differs between two versions (for "what changed" output). */
export function changedSections(before: string | undefined, after: string): string[] {
  const a = sections(before ?? '');
  const b = sections(after);
  const names = new Set([...a.keys(), ...b.keys()]);
  return [...names].filter((n) => a.get(n) !== b.get(n));
}

function sections(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let name = '(header)';
  let body: string[] = [];
  for (const line of text.split('\n')) {
    const heading = /^## (.+?)(?: \(\d+\))?$/.exec(line);
    if (heading) {
      out.set(name, body.join('\n'));
      name = heading[1]!;
      body = [];
    } else if (!line.startsWith(GENERATED_MARK)) {
      body.push(line);
    }
  }
  out.set(name, body.join('\n'));
  return out;
}

function normalize(s: ContextState): ContextState {
  const byId = <T extends { id: string }>(list: T[]) => [...list].sort((x, y) => compare(x.id, y.id));
  return {
    project: s.project,
    agents: byId(s.agents),
    disabledAgents: s.disabledAgents,
    servers: byId(s.servers),
    providers: byId(s.providers).map((p) => ({
      ...p,
      models: [...p.models].sort(compare),
      quotas: p.quotas ? [...p.quotas].sort((x, y) => compare(`${x.metric}/${x.window}`, `${y.metric}/${y.window}`) || x.limit - y.limit) : undefined,
    })),
    // Newest first; ties broken by every other field so equal times cannot reorder between runs.
    delegations: [...s.delegations].sort((x, y) => compare(y.time, x.time) || compare(JSON.stringify(x), JSON.stringify(y))),
    userSection: s.userSection,
  };
}

/** Hash of everything generated (the user section is not state). */
function stateHash(s: ContextState): string {
  const { userSection: _user, ...rest } = s;
  return crypto.createHash('sha256').update(JSON.stringify(rest)).digest('hex').slice(0, 16);
}

function quotaText(quotas: ContextQuota[] | undefined): string {
  if (!quotas) return 'unknown (ledger unavailable)';
  if (!quotas.length) return 'no limits';
  return quotas.map((q) => {
    const left = Math.max(0, q.limit - q.used);
    return `${amount(q.metric, left)} of ${amount(q.metric, q.limit)} ${q.metric}/${q.window}`;
  }).join('; ');
}

function amount(metric: string, n: number): string {
  if (metric === 'usd') return `$${n.toFixed(2)}`;
  return String(Math.floor(n));
}

function table(header: string[], rows: string[][]): string[] {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ];
}

/** One table cell: a single line, no column breaks, bounded length. */
function cell(text: string): string {
  const flat = inline(text);
  const short = flat.length > 120 ? flat.slice(0, 119) + '…' : flat;
  return short.replace(/\|/g, '\\|');
}

function inline(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

function code(text: string): string {
  return inline(text).replace(/`/g, "'");
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
