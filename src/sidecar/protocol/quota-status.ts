import * as z from 'zod';
import { diagnosticShape } from './common';
import { describeTool, type ToolInput, type ToolOutput } from './descriptor';

export const quotaStatusDescriptor = describeTool({
  name: 'quota_status',
  description: 'Quota left per provider (shared ledger), 429 cooldowns, open circuits, and this month\'s spend.',
  input: {},
  output: {
    providers: z.array(z.object({
      id: z.string(),
      tier: z.string(),
      /** False for a provider that needs no key (a local model server); has_key is then true. */
      key_needed: z.boolean(),
      has_key: z.boolean(),
      quotas: z.array(z.object({ metric: z.string(), window: z.string(), limit: z.number(), left: z.number(), resets_at: z.string() })),
      /** Set while the provider (with this key) is paused after a 429 / quota answer: the router skips it until then. */
      cooldown_until: z.string().optional(),
      cooldown_reason: z.string().optional(),
      /** open: paused after repeated failures until circuit_until; half-open: the next call is a trial. */
      circuit: z.enum(['closed', 'open', 'half-open']),
      circuit_until: z.string().optional(),
    })),
    month: z.object({ month: z.string(), calls: z.number(), usd: z.number(), baseline_usd: z.number() }),
    /** router.yaml problems, including each project setting ignored because a project may only narrow. */
    diagnostics: z.array(diagnosticShape).optional(),
  },
  annotations: { readOnlyHint: true },
});

export type QuotaStatusInput = ToolInput<typeof quotaStatusDescriptor>;
export type QuotaStatusOutput = ToolOutput<typeof quotaStatusDescriptor>;
export type ProviderStatus = QuotaStatusOutput['providers'][number];
