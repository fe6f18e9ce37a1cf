/**
 * The project layer of router.yaml (`.mcp/router.yaml`) can only narrow what touches keys and money, whatever
 * the folder's trust (SPEC "Trust: what a repository may decide"). It may choose among the providers the user
 * layer defines, prefer one per task, disable one, lower the budget, add or tighten a quota, restrict a
 * provider to some of its models. It may not set `baseUrl` or `apiKeyEnv`, define a provider (one would carry
 * a key or send code somewhere), change a kind or tier, enable what the user disabled, switch on `allow_paid`,
 * raise the budget or a quota, reorder the tier chain, or change any price. Each ignored setting becomes a
 * warning with its line and the reason; the rest of the file still applies.
 */
import { diagnostic, type Diagnostic } from '../diagnostics';
import type { QuotaRule } from '../ledger/types';
import type { RawModel, RawProvider, RawRouterFile, RouterConfig } from './config';

const WHY_KEYS = 'only your own router.yaml ($SWITCHBOARD_HOME/router.yaml) decides where keys and code are sent';
const WHY_MONEY = 'only your own router.yaml ($SWITCHBOARD_HOME/router.yaml) decides what may be spent';

export function narrowProjectLayer(
  base: RouterConfig,
  raw: RawRouterFile,
  file: string,
  lineOf: (p: ReadonlyArray<string | number>) => number,
): { raw: RawRouterFile; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const ignore = (at: ReadonlyArray<string | number>, what: string, why: string) =>
    diagnostics.push(diagnostic(file, lineOf(at), 1, `${what} ignored: a project's router.yaml may only narrow the user's settings; ${why}`, 'warning'));
  const out: RawRouterFile = {};

  if (raw.providers) {
    const providers: RawProvider[] = [];
    raw.providers.forEach((rp, index) => {
      if (!rp || typeof rp.id !== 'string') return; // the schema already reported it
      const at = ['providers', index];
      const lower = base.providers.find((p) => p.id === rp.id);
      if (!lower) {
        ignore(at, `provider "${rp.id}"`, `a project cannot define a provider (${WHY_KEYS}); define it there to use it`);
        return;
      }
      const kept: RawProvider = { id: rp.id };
      if (rp.baseUrl !== undefined) ignore([...at, 'baseUrl'], `provider "${rp.id}": baseUrl`, WHY_KEYS);
      if (rp.apiKeyEnv !== undefined) ignore([...at, 'apiKeyEnv'], `provider "${rp.id}": apiKeyEnv`, WHY_KEYS);
      if (rp.kind !== undefined && rp.kind !== lower.kind) ignore([...at, 'kind'], `provider "${rp.id}": kind`, WHY_KEYS);
      if (rp.tier !== undefined && rp.tier !== lower.tier) ignore([...at, 'tier'], `provider "${rp.id}": tier`, `${WHY_MONEY} (the tier decides whether allow_paid applies)`);
      if (rp.disabled === true) kept.disabled = true;
      else if (rp.disabled === false && lower.disabled) ignore([...at, 'disabled'], `provider "${rp.id}": disabled: false`, 'a project can disable a provider, not enable one you disabled');
      if (rp.models) {
        const models = narrowModels(rp, lower, at, ignore);
        if (models.length) kept.models = models;
      }
      if (rp.quotas) kept.quotas = narrowQuotas(rp, lower.quotas, at, ignore);
      providers.push(kept);
    });
    out.providers = providers;
  }

  if (raw.routing) {
    const routing: NonNullable<RawRouterFile['routing']> = {};
    const r = raw.routing;
    if (r.chain) {
      if (isSubsequence(r.chain, base.routing.chain)) routing.chain = r.chain;
      else ignore(['routing', 'chain'], 'routing.chain', `it may leave tiers out but not add or reorder them (${WHY_MONEY}); in force: [${base.routing.chain.join(', ')}]`);
    }
    if (r.allow_paid === false) routing.allow_paid = false;
    else if (r.allow_paid === true && !base.routing.allow_paid) ignore(['routing', 'allow_paid'], 'routing.allow_paid: true', WHY_MONEY);
    if (typeof r.budget_usd_month === 'number') {
      const current = base.routing.budget_usd_month;
      if (current === undefined || r.budget_usd_month <= current) routing.budget_usd_month = r.budget_usd_month;
      else ignore(['routing', 'budget_usd_month'], `routing.budget_usd_month: ${r.budget_usd_month}`, `a project may lower the budget, not raise it (${WHY_MONEY}); in force: ${current}`);
    }
    if (r.tasks) routing.tasks = r.tasks;
    out.routing = routing;
  }
  if (raw.alerts) out.alerts = raw.alerts;
  if (raw.baseline) ignore(['baseline'], 'baseline', 'prices are yours to set, and the savings shown are measured against them');
  // Anything the schema learns later (e.g. verify:) passes through unchanged; its own loader judges it.
  for (const [key, value] of Object.entries(raw)) {
    if (!['providers', 'routing', 'alerts', 'baseline'].includes(key)) (out as Record<string, unknown>)[key] = value;
  }
  return { raw: out, diagnostics };
}

type Ignore = (at: ReadonlyArray<string | number>, what: string, why: string) => void;

/** The models a project keeps: ones the user layer defines (at the user's prices), any on a local server. */
function narrowModels(rp: RawProvider, lower: RouterConfig['providers'][number], at: Array<string | number>, ignore: Ignore): RawModel[] {
  const out: RawModel[] = [];
  rp.models!.forEach((m, mi) => {
    if (!m || typeof m.id !== 'string') return;
    const where = [...at, 'models', mi];
    const known = lower.models.find((lm) => lm.id === m.id);
    // A local server's models are whatever it serves, at no cost: naming one only selects it.
    const localAny = !known && lower.tier === 'local' && lower.models.length === 0;
    if (!known && !localAny) {
      ignore(where, `provider "${rp.id}": model "${m.id}"`, `a project can choose among the models you define, not add one (its price would be unknown)`);
      return;
    }
    const priceIn = known?.input_per_mtok ?? 0;
    const priceOut = known?.output_per_mtok ?? 0;
    if ((m.input_per_mtok !== undefined && m.input_per_mtok !== priceIn) || (m.output_per_mtok !== undefined && m.output_per_mtok !== priceOut)) {
      ignore(where, `provider "${rp.id}": model "${m.id}" prices`, WHY_MONEY);
    }
    const kept: RawModel = { id: m.id, input_per_mtok: priceIn, output_per_mtok: priceOut };
    if (m.context !== undefined) kept.context = m.context;
    if (m.capabilities !== undefined) kept.capabilities = m.capabilities;
    out.push(kept);
  });
  return out;
}

/** The user's quotas, each tightened where the project sets a lower limit, plus the project's new ones. */
function narrowQuotas(rp: RawProvider, lower: readonly QuotaRule[], at: Array<string | number>, ignore: Ignore): QuotaRule[] {
  const out = lower.map((q) => ({ ...q }));
  rp.quotas!.forEach((q, qi) => {
    if (!q || typeof q.limit !== 'number') return;
    const same = out.find((o) => o.metric === q.metric && o.window === q.window);
    if (!same) {
      out.push({ ...q });
      return;
    }
    if (q.limit < same.limit) same.limit = q.limit;
    else if (q.limit > same.limit) ignore([...at, 'quotas', qi, 'limit'], `provider "${rp.id}": quota ${q.metric} per ${q.window} of ${q.limit}`, `a project may add or lower a quota, not raise one (${WHY_MONEY}); in force: ${same.limit}`);
  });
  return out;
}

function isSubsequence<T>(sub: readonly T[], full: readonly T[]): boolean {
  let i = 0;
  for (const x of full) if (i < sub.length && sub[i] === x) i++;
  return i === sub.length && new Set(sub).size === sub.length;
}
