import { resolveProviderConfig } from '../../core/providers/env';
import { cooldownKey } from '../../core/router/cooldown-key';
import { quotaStatusDescriptor, type ProviderStatus } from '../protocol/quota-status';
import { defineTool } from './tool';

/**
 * Quota, 429 cooldowns and circuits per provider, computed here once: `switchboard quota`, the editor's Quota
 * view and the status bar all show this tool's answer.
 */
export const quotaStatusTool = defineTool({
  ...quotaStatusDescriptor,
  async run(_args, { sidecar }) {
    const [{ config }, ledger] = await Promise.all([sidecar.routerConfig(), sidecar.ledger()]);
    const now = Date.now();
    const providers: ProviderStatus[] = [];
    for (const p of config.providers.filter((x) => !x.disabled)) {
      let apiKey: string | undefined;
      try {
        apiKey = resolveProviderConfig(p, sidecar.env).apiKey;
      } catch {
        // A bad base URL is the router's to report; the key lookup does not depend on it.
      }
      const keyNeeded = p.apiKeyEnv.length > 0;
      const states = await ledger.quota(p.id, p.quotas);
      const status: ProviderStatus = {
        id: p.id,
        tier: p.tier,
        key_needed: keyNeeded,
        has_key: !keyNeeded || Boolean(apiKey),
        quotas: states.map((s) => ({
          metric: s.rule.metric,
          window: s.rule.window,
          limit: s.rule.limit,
          left: round(s.left),
          resets_at: new Date(s.resetAtMs).toISOString(),
        })),
        circuit: 'closed',
      };
      // Cooldowns are kept per provider and key fingerprint, as the router keeps them.
      const cool = await ledger.cooldown(cooldownKey(p.id, apiKey));
      if (cool && cool.untilMs > now) {
        status.cooldown_until = new Date(cool.untilMs).toISOString();
        status.cooldown_reason = cool.reason;
      }
      const circuit = await ledger.circuit(p.id);
      status.circuit = circuit.state === 'open' && circuit.untilMs <= now ? 'half-open' : circuit.state;
      if (circuit.state === 'open' && circuit.untilMs > now) status.circuit_until = new Date(circuit.untilMs).toISOString();
      providers.push(status);
    }
    const spend = await ledger.monthSpend();
    const month = { month: spend.month, calls: spend.calls, usd: round(spend.usd), baseline_usd: round(spend.baselineUsd) };
    const lines = providers.map((p) => {
      const q = p.quotas.map((x) => `${x.left}/${x.limit} ${x.metric} per ${x.window}`).join(', ') || 'no quota';
      const state = [p.cooldown_until ? `cooling down until ${p.cooldown_until}` : '', p.circuit === 'closed' ? '' : `circuit ${p.circuit}${p.circuit_until ? ` until ${p.circuit_until}` : ''}`].filter(Boolean).join('; ');
      return `${p.id} (${p.tier}${p.has_key ? '' : ', no key'}): ${q}${state ? ` [${state}]` : ''}`;
    });
    lines.push(`${month.month}: ${month.calls} calls, $${month.usd.toFixed(4)} (premium baseline $${month.baseline_usd.toFixed(4)})`);
    return { text: lines.join('\n'), structured: { providers, month } };
  },
});

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
