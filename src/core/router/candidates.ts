import { UserError } from '../errors';
import type { QuotaWindow } from '../ledger/types';
import type { Tier } from '../providers/types';
import type { ModelSpec, ProviderSpec, RouterConfig } from './config';
import { priceUsd, type CallEstimate } from './cost';

/**
 * Candidate selection as a pure function of the configuration and the request. What needs the ledger or the
 * network (quota, cooldowns, circuits, budget, the local probe) is checked afterwards by the router, per candidate.
 */

export interface Candidate {
  provider: ProviderSpec;
  model: ModelSpec;
  /** Cost of the call if it uses the expected tokens. */
  estimatedUsd: number;
  /** Why it is on the list: asked for by name, an agent's pinned/fallback model, the task's preference, or cheapest. */
  via: 'explicit' | 'pinned' | 'task' | 'auto';
}

export interface Skip {
  provider: string;
  model?: string;
  reason: string;
}

export interface CandidateQuery {
  task: string;
  /** A provider id asked for by name ("tests to Gemini"), or "auto". */
  provider?: string;
  /** An agent's pinned model, then its fallbacks; "provider/model" also works. */
  model?: string;
  fallbackModels?: string[];
  capabilities?: string[];
  /** With `provider` named: only this model of it. */
  onlyModel?: string;
  estimate: CallEstimate;
}

export interface Selection {
  candidates: Candidate[];
  skipped: Skip[];
}

const WINDOW_RANK: Record<QuotaWindow, number> = { minute: 0, day: 1, month: 2 };
const NO_QUOTA_RANK = 3;

/** Pinned model names that mean "no preference" (Claude Code's subagent `model: inherit`). */
const NO_PREFERENCE = new Set(['', 'auto', 'inherit', 'default']);

export function selectCandidates(config: RouterConfig, query: CandidateQuery, hasKey: (p: ProviderSpec) => boolean): Selection {
  const skipped: Skip[] = [];
  const explicit = query.provider && query.provider !== 'auto' ? query.provider : undefined;

  if (explicit) {
    const spec = config.providers.find((p) => p.id === explicit);
    if (!spec) throw new UserError(`unknown provider "${explicit}" (configured: ${config.providers.map((p) => p.id).join(', ')}, or auto)`, 'unknown_provider');
    if (spec.tier === 'paid' && !config.routing.allow_paid) {
      throw new UserError(`provider "${explicit}" is paid and paid providers are off; set routing.allow_paid: true in router.yaml to allow charges (budget_usd_month caps them)`, 'paid_not_allowed');
    }
    const only = query.onlyModel !== undefined ? [{ ...spec, models: spec.models.filter((m) => m.id === query.onlyModel) }] : [spec];
    return { candidates: order(config, usable(config, only, query, hasKey, skipped, 'explicit')), skipped };
  }

  const pinned = [query.model, ...(query.fallbackModels ?? [])].filter((m): m is string => typeof m === 'string' && !NO_PREFERENCE.has(m.trim()));
  if (pinned.length) {
    const candidates: Candidate[] = [];
    let known = 0;
    for (const name of pinned) {
      const matches = modelsNamed(config, name);
      if (!matches.length) {
        skipped.push({ provider: '-', model: name, reason: `model "${name}" is not served by any configured provider` });
        continue;
      }
      known++;
      const ok = usable(config, matches.map(({ provider, model }) => ({ ...provider, models: [model] })), query, hasKey, skipped, 'pinned');
      // The agent's order is its author's preference; within one name, the chain and price decide.
      for (const c of order(config, ok)) if (!candidates.some((x) => same(x, c))) candidates.push(c);
    }
    if (known) return { candidates, skipped };
    // None of the agent's models exists here (e.g. a Claude Code subagent pinned to "sonnet"): route it as auto.
  }

  const preferred = config.routing.tasks[query.task];
  const all = order(config, usable(config, config.providers, query, hasKey, skipped, 'auto'));
  if (preferred && preferred !== 'auto') {
    const first = all.filter((c) => c.provider.id === preferred).map((c) => ({ ...c, via: 'task' as const }));
    return { candidates: [...first, ...all.filter((c) => c.provider.id !== preferred)], skipped };
  }
  return { candidates: all, skipped };
}

function same(a: Candidate, b: Candidate): boolean {
  return a.provider.id === b.provider.id && a.model.id === b.model.id;
}

function modelsNamed(config: RouterConfig, name: string): Array<{ provider: ProviderSpec; model: ModelSpec }> {
  const out: Array<{ provider: ProviderSpec; model: ModelSpec }> = [];
  const slash = name.indexOf('/');
  for (const provider of config.providers) {
    for (const model of provider.models) {
      if (model.id === name) out.push({ provider, model });
      // "gemini/gemini-2.5-flash" names the provider too; model ids may contain "/" themselves (HF, Together).
      else if (slash > 0 && name.slice(0, slash) === provider.id && name.slice(slash + 1) === model.id) out.push({ provider, model });
    }
  }
  return out;
}

/** Applies the static filters, recording why each provider or model was left out. */
function usable(
  config: RouterConfig,
  providers: ReadonlyArray<ProviderSpec>,
  query: CandidateQuery,
  hasKey: (p: ProviderSpec) => boolean,
  skipped: Skip[],
  via: Candidate['via'],
): Candidate[] {
  const out: Candidate[] = [];
  const need = query.estimate.inputTokens + query.estimate.outputTokens;
  for (const p of providers) {
    if (p.disabled) { skipped.push({ provider: p.id, reason: 'disabled in router.yaml' }); continue; }
    if (!config.routing.chain.includes(p.tier)) { skipped.push({ provider: p.id, reason: `tier "${p.tier}" is not in routing.chain` }); continue; }
    if (p.tier === 'paid' && !config.routing.allow_paid) { skipped.push({ provider: p.id, reason: 'paid and routing.allow_paid is false' }); continue; }
    if (!hasKey(p)) { skipped.push({ provider: p.id, reason: `no API key (set ${p.apiKeyEnv.join(' or ')})` }); continue; }
    if (!p.models.length) { skipped.push({ provider: p.id, reason: 'no models configured' }); continue; }
    for (const m of p.models) {
      if (need > m.context) {
        skipped.push({ provider: p.id, model: m.id, reason: `context too small: needs ~${need} tokens, ${m.id} takes ${m.context}` });
        continue;
      }
      const missing = (query.capabilities ?? []).filter((c) => m.capabilities && !m.capabilities.includes(c));
      if (missing.length) {
        skipped.push({ provider: p.id, model: m.id, reason: `missing capability: ${missing.join(', ')}` });
        continue;
      }
      out.push({ provider: p, model: m, estimatedUsd: priceUsd(m, query.estimate.inputTokens, query.estimate.outputTokens), via });
    }
  }
  return out;
}

/**
 * The chain (local → free → paid), then estimated cost. Ties go to the provider whose quota window is
 * shortest — a daily free quota not used today is lost, a monthly one keeps — then to configuration order.
 */
export function order(config: RouterConfig, candidates: Candidate[]): Candidate[] {
  const providerIndex = new Map(config.providers.map((p, i) => [p.id, i]));
  const tierRank = (t: Tier) => config.routing.chain.indexOf(t);
  return [...candidates].sort((a, b) =>
    tierRank(a.provider.tier) - tierRank(b.provider.tier)
    || a.estimatedUsd - b.estimatedUsd
    || windowRank(a.provider) - windowRank(b.provider)
    || (providerIndex.get(a.provider.id) ?? 0) - (providerIndex.get(b.provider.id) ?? 0)
    || a.provider.models.indexOf(a.model) - b.provider.models.indexOf(b.model));
}

export function windowRank(p: ProviderSpec): number {
  let rank = NO_QUOTA_RANK;
  for (const q of p.quotas) rank = Math.min(rank, WINDOW_RANK[q.window]);
  return rank;
}
