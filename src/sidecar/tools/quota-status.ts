import { z } from 'zod';
import { formatDiagnostic } from '../../core/diagnostics';
import { scrubPaths } from '../plain-error';
import { defineTool } from './tool';

const quotaShape = z.object({ metric: z.string(), window: z.string(), limit: z.number(), left: z.number(), resets_at: z.string() });

export const quotaStatusTool = defineTool({
  name: 'quota_status',
  description: 'Quota left per provider (shared ledger), and this month\'s spend.',
  input: {},
  output: {
    // cooldown_until: set while the provider is paused after repeated failures (the editor's Quota view shows it).
    providers: z.array(z.object({ id: z.string(), tier: z.string(), has_key: z.boolean(), quotas: z.array(quotaShape), cooldown_until: z.string().optional() })),
    month: z.object({ month: z.string(), calls: z.number(), usd: z.number(), baseline_usd: z.number() }),
    // router.yaml problems, including each project setting ignored because a project may only narrow.
    diagnostics: z.array(z.string()).optional(),
  },
  annotations: { readOnlyHint: true },
  async run(_args, { sidecar }) {
    const { config, diagnostics: routerDiagnostics } = await sidecar.routerConfig();
    const diagnostics = routerDiagnostics.map((d) => scrubPaths(formatDiagnostic(d), sidecar.workspace, sidecar.env));
    const ledger = await sidecar.ledger();
    const providers = [];
    for (const p of config.providers.filter((x) => !x.disabled)) {
      const states = await ledger.quota(p.id, p.quotas);
      const circuit = await ledger.circuit(p.id);
      providers.push({
        ...(circuit.state === 'open' ? { cooldown_until: new Date(circuit.untilMs).toISOString() } : {}),
        id: p.id,
        tier: p.tier,
        has_key: p.apiKeyEnv.length === 0 || p.apiKeyEnv.some((name) => Boolean(sidecar.env[name]?.trim())),
        quotas: states.map((s) => ({
          metric: s.rule.metric,
          window: s.rule.window,
          limit: s.rule.limit,
          left: round(s.left),
          resets_at: new Date(s.resetAtMs).toISOString(),
        })),
      });
    }
    const spend = await ledger.monthSpend();
    const month = { month: spend.month, calls: spend.calls, usd: round(spend.usd), baseline_usd: round(spend.baselineUsd) };
    const lines = providers.map((p) => {
      const q = p.quotas.map((x) => `${x.left}/${x.limit} ${x.metric} per ${x.window}`).join(', ') || 'no quota';
      return `${p.id} (${p.tier}${p.has_key ? '' : ', no key'}): ${q}`;
    });
    lines.push(`${month.month}: ${month.calls} calls, $${month.usd.toFixed(4)} (premium baseline $${month.baseline_usd.toFixed(4)})`);
    if (diagnostics.length) lines.push(`${diagnostics.length} router.yaml problem(s):`, ...diagnostics);
    return { text: lines.join('\n'), structured: { providers, month, ...(diagnostics.length ? { diagnostics } : {}) } };
  },
});

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
