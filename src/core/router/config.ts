import path from 'node:path';
import fs from 'node:fs';
import { readStructuredFile } from '../config/structured-file';
import { diagnostic, type Diagnostic } from '../diagnostics';
import { switchboardHome } from '../paths';
import type { QuotaRule } from '../ledger/types';
import type { ProviderKind, Tier } from '../providers/types';
import { keyEnvVars } from '../providers/env';
import { addSecretEnvNames } from '../redact';
import routerSchema from '../../../media/schemas/router.schema.json';
import { narrowProjectLayer } from './narrow';

/**
 * router.yaml: `.mcp/router.yaml` (project) over `$SWITCHBOARD_HOME/router.yaml` (user) over built-in defaults.
 * Providers merge by id, field by field, so a user can change one price or one base URL without restating the rest.
 */

export interface ModelSpec {
  id: string;
  input_per_mtok: number;
  output_per_mtok: number;
  /** Context window in tokens (prompt + output). */
  context: number;
  /** When set, the model only takes tasks whose required capabilities are all listed; unset = unrestricted. */
  capabilities?: string[];
}

export interface ProviderSpec {
  id: string;
  kind: ProviderKind;
  tier: Tier;
  baseUrl?: string;
  /** Environment variables holding the key, first set wins; empty = no key needed (local servers). */
  apiKeyEnv: string[];
  disabled: boolean;
  /** Empty for a local server means "whatever it serves" (found by the probe). */
  models: ModelSpec[];
  quotas: QuotaRule[];
  /** Which layer defined (or last changed) it: "built-in" or a file path. */
  source: string;
}

export interface RoutingPolicy {
  chain: Tier[];
  allow_paid: boolean;
  /** Most paid providers may cost per calendar month (UTC); undefined = no cap beyond allow_paid. */
  budget_usd_month?: number;
  /** task → provider id or "auto". */
  tasks: Record<string, string>;
}

export interface BaselinePrice {
  model: string;
  input_per_mtok: number;
  output_per_mtok: number;
}

/** A configured check command and the layer it came from (a project's needs trust and is pinned; a user's is theirs). */
export interface VerifyCheck {
  /** The template; `false` in the file switches a task's check off (stored as undefined command). */
  command?: string;
  layer: 'user' | 'project';
  source: string;
}

export interface VerifyConfig {
  /** task kind → its check. */
  checks: Record<string, VerifyCheck>;
  timeout_s: number;
  max_attempts: number;
  repairs_per_provider: number;
}

export interface RouterConfig {
  providers: ProviderSpec[];
  routing: RoutingPolicy;
  alerts: number[];
  baseline: BaselinePrice;
  verify: VerifyConfig;
}

export interface LoadedRouterConfig {
  config: RouterConfig;
  diagnostics: Diagnostic[];
  /** Files that were applied, lowest layer first. */
  sources: string[];
}

export const LOCAL_DEFAULT_BASE_URL = 'http://127.0.0.1:11434/v1';
/** Context assumed for a model the configuration does not describe (a local server's own models). */
export const DEFAULT_CONTEXT_TOKENS = 8192;

/** The seed's free tiers as editable data; every figure here can be overridden in router.yaml. */
export function builtInRouterConfig(): RouterConfig {
  const builtIn = 'built-in';
  return {
    providers: [
      {
        id: 'local', kind: 'openai-compatible', tier: 'local', baseUrl: LOCAL_DEFAULT_BASE_URL, apiKeyEnv: [], disabled: false,
        models: [], quotas: [], source: builtIn,
      },
      {
        id: 'gemini', kind: 'gemini', tier: 'free', apiKeyEnv: keyEnvVars({ kind: 'gemini' }), disabled: false,
        models: [{ id: 'gemini-2.5-flash', input_per_mtok: 0, output_per_mtok: 0, context: 1_048_576 }],
        quotas: [{ metric: 'requests', window: 'day', limit: 1500, reset_tz: 'America/Los_Angeles' }],
        source: builtIn,
      },
      {
        id: 'together', kind: 'together', tier: 'free', apiKeyEnv: keyEnvVars({ kind: 'together' }), disabled: false,
        models: [{ id: 'meta-llama/Llama-3.3-70B-Instruct-Turbo-Free', input_per_mtok: 0, output_per_mtok: 0, context: 131_072 }],
        quotas: [{ metric: 'requests', window: 'month', limit: 3000 }],
        source: builtIn,
      },
      {
        id: 'huggingface', kind: 'huggingface', tier: 'free', apiKeyEnv: keyEnvVars({ kind: 'huggingface' }), disabled: false,
        models: [{ id: 'Qwen/Qwen2.5-Coder-32B-Instruct', input_per_mtok: 0, output_per_mtok: 0, context: 32_768 }],
        quotas: [{ metric: 'input_chars', window: 'month', limit: 30_000 }],
        source: builtIn,
      },
      {
        id: 'openai', kind: 'openai', tier: 'paid', apiKeyEnv: keyEnvVars({ kind: 'openai' }), disabled: false,
        models: [{ id: 'gpt-4o-mini', input_per_mtok: 0.15, output_per_mtok: 0.6, context: 128_000 }],
        quotas: [{ metric: 'usd', window: 'month', limit: 5 }],
        source: builtIn,
      },
    ],
    routing: { chain: ['local', 'free', 'paid'], allow_paid: false, budget_usd_month: 5, tasks: {} },
    alerts: [0.8, 0.95, 1.0],
    baseline: { model: 'claude-sonnet (baseline)', input_per_mtok: 3, output_per_mtok: 15 },
    verify: { checks: {}, timeout_s: 120, max_attempts: 3, repairs_per_provider: 1 },
  };
}

/** The file shapes as written (everything optional; validated by media/schemas/router.schema.json). */
export interface RawModel { id: string; input_per_mtok?: number; output_per_mtok?: number; context?: number; capabilities?: string[] }
export interface RawProvider {
  id: string; kind?: ProviderKind; tier?: Tier; baseUrl?: string; apiKeyEnv?: string | string[]; disabled?: boolean;
  models?: RawModel[]; quotas?: QuotaRule[];
}
export interface RawRouterFile {
  providers?: RawProvider[];
  routing?: Partial<RoutingPolicy>;
  alerts?: number[];
  baseline?: Partial<BaselinePrice>;
  verify?: Record<string, string | number | false>;
}

export function projectRouterFile(workspace: string): string {
  return path.join(workspace, '.mcp', 'router.yaml');
}

export function userRouterFile(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(switchboardHome(env), 'router.yaml');
}

/** Loads the three layers. Never throws: a broken file is reported and the layer below stays in force. */
export function loadRouterConfig(options: { workspace?: string; env?: NodeJS.ProcessEnv } = {}): LoadedRouterConfig {
  const env = options.env ?? process.env;
  const files = [userRouterFile(env)];
  if (options.workspace) files.push(projectRouterFile(options.workspace));
  const project = options.workspace ? projectRouterFile(options.workspace) : undefined;
  let config = builtInRouterConfig();
  const diagnostics: Diagnostic[] = [];
  const sources: string[] = [];
  for (const file of files) {
    if (!fs.existsSync(file)) continue;
    const parsed = readStructuredFile<RawRouterFile>(file, { schema: routerSchema });
    const layer = parsed.value === undefined ? undefined : applyLayer(config, parsed.value, file, parsed.lineOf, { project: file === project });
    const problems = [...parsed.diagnostics, ...(layer?.diagnostics ?? [])];
    diagnostics.push(...problems);
    if (problems.some((d) => d.severity === 'error')) {
      diagnostics.push(diagnostic(file, 1, 1, 'router configuration not applied because of the errors above; the layer below is in force', 'warning'));
      continue;
    }
    if (!layer) continue; // empty file: already reported as a warning
    config = layer.config;
    sources.push(file);
  }
  // A custom apiKeyEnv holds a key like OPENAI_API_KEY does: masked wherever it could surface from now on.
  addSecretEnvNames(config.providers.flatMap((p) => p.apiKeyEnv));
  return { config, diagnostics, sources };
}

/**
 * Parses router.yaml text already validated elsewhere (tests, the editor's unsaved buffer) onto a base.
 * With `project`, the layer can only narrow the base (see narrow.ts); what it may not change is ignored with a
 * warning per setting.
 */
export function applyLayer(
  base: RouterConfig,
  given: RawRouterFile,
  file: string,
  lineOf: (p: ReadonlyArray<string | number>) => number = () => 1,
  options: { project?: boolean } = {},
): { config: RouterConfig; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  (given.providers ?? []).forEach((rp, index) => {
    for (const [qi, q] of (rp?.quotas ?? []).entries()) {
      if (q?.reset_tz && !isTimeZone(q.reset_tz)) {
        diagnostics.push(diagnostic(file, lineOf(['providers', index, 'quotas', qi, 'reset_tz']), 1, `provider "${rp.id}": unknown time zone "${q.reset_tz}" (use an IANA name such as America/Los_Angeles)`));
      }
    }
  });
  let raw = given;
  if (options.project) {
    const narrowed = narrowProjectLayer(base, given, file, lineOf);
    raw = narrowed.raw;
    diagnostics.push(...narrowed.diagnostics);
  }
  const providers = base.providers.map((p) => ({ ...p }));
  (raw.providers ?? []).forEach((rp, index) => {
    if (!rp || typeof rp.id !== 'string') return; // the schema already reported it
    const at = lineOf(['providers', index]);
    const existing = providers.findIndex((p) => p.id === rp.id);
    const lower = existing >= 0 ? providers[existing] : undefined;
    const kind = rp.kind ?? lower?.kind;
    if (!kind) {
      diagnostics.push(diagnostic(file, at, 1, `provider "${rp.id}": "kind" is required for a new provider (openai, gemini, huggingface, together or openai-compatible)`));
      return;
    }
    const merged: ProviderSpec = {
      id: rp.id,
      kind,
      // A provider the user adds without a tier is treated as paid: it is then never used without allow_paid.
      tier: rp.tier ?? lower?.tier ?? 'paid',
      baseUrl: rp.baseUrl ?? lower?.baseUrl,
      apiKeyEnv: rp.apiKeyEnv !== undefined ? toList(rp.apiKeyEnv) : lower?.apiKeyEnv ?? keyEnvVars({ kind }),
      disabled: rp.disabled ?? lower?.disabled ?? false,
      models: rp.models ? rp.models.map((m) => mergeModel(m, lower?.models.find((lm) => lm.id === m.id))) : lower?.models ?? defaultModels(kind),
      quotas: rp.quotas ? rp.quotas.map((q) => ({ ...q })) : lower?.quotas ?? [],
      source: file,
    };
    if (existing >= 0) providers[existing] = merged;
    else providers.push(merged);
  });
  const routing: RoutingPolicy = {
    chain: raw.routing?.chain ?? base.routing.chain,
    allow_paid: raw.routing?.allow_paid ?? base.routing.allow_paid,
    budget_usd_month: raw.routing && 'budget_usd_month' in raw.routing ? raw.routing.budget_usd_month : base.routing.budget_usd_month,
    tasks: { ...base.routing.tasks, ...(raw.routing?.tasks ?? {}) },
  };
  for (const [task, target] of Object.entries(raw.routing?.tasks ?? {})) {
    if (target !== 'auto' && !providers.some((p) => p.id === target)) {
      diagnostics.push(diagnostic(file, lineOf(['routing', 'tasks', task]), 1, `routing.tasks.${task}: no provider "${target}" (known: ${providers.map((p) => p.id).join(', ')}, auto)`, 'warning'));
    }
  }
  return {
    config: {
      providers,
      routing,
      alerts: raw.alerts ? [...raw.alerts].sort((a, b) => a - b) : base.alerts,
      baseline: { ...base.baseline, ...(raw.baseline ?? {}) },
      verify: applyVerify(base.verify, raw.verify, file, options.project ? 'project' : 'user', lineOf, diagnostics),
    },
    diagnostics,
  };
}

const VERIFY_LIMITS = ['timeout_s', 'max_attempts', 'repairs_per_provider'] as const;

/**
 * `verify:` — checks per task kind, and the limits. A project may set checks (they run only once the folder is
 * trusted, pinned) and may lower the limits, never raise them: more attempts and longer checks cost the user.
 */
function applyVerify(
  base: VerifyConfig,
  raw: RawRouterFile['verify'],
  file: string,
  origin: VerifyCheck['layer'],
  lineOf: (p: ReadonlyArray<string | number>) => number,
  diagnostics: Diagnostic[],
): VerifyConfig {
  if (!raw) return base;
  const out: VerifyConfig = { ...base, checks: { ...base.checks } };
  for (const [key, value] of Object.entries(raw)) {
    if ((VERIFY_LIMITS as readonly string[]).includes(key)) {
      const name = key as (typeof VERIFY_LIMITS)[number];
      if (typeof value !== 'number') continue; // the schema already reported it
      if (origin === 'project' && value > base[name]) {
        diagnostics.push(diagnostic(file, lineOf(['verify', key]), 1, `verify.${key}: a project may lower this limit, not raise it (${value} ignored; ${base[name]} stays)`, 'warning'));
        continue;
      }
      out[name] = value;
    } else if (typeof value === 'string' || value === false) {
      out.checks[key] = { command: value === false ? undefined : value, layer: origin, source: file };
    }
  }
  return out;
}

/** A team server (`kind: switchboard`) chooses the model itself unless the entry names some. */
function defaultModels(kind: ProviderKind): ModelSpec[] {
  return kind === 'switchboard' ? [{ id: 'auto', input_per_mtok: 0, output_per_mtok: 0, context: DEFAULT_CONTEXT_TOKENS }] : [];
}

function mergeModel(m: RawModel, lower: ModelSpec | undefined): ModelSpec {
  return {
    id: m.id,
    input_per_mtok: m.input_per_mtok ?? lower?.input_per_mtok ?? 0,
    output_per_mtok: m.output_per_mtok ?? lower?.output_per_mtok ?? 0,
    context: m.context ?? lower?.context ?? DEFAULT_CONTEXT_TOKENS,
    capabilities: m.capabilities ?? lower?.capabilities,
  };
}

function toList(v: string | string[]): string[] {
  return Array.isArray(v) ? v : [v];
}

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
