/**
 * The team server's side of the sidecar: no workspace (so no file tools and no workspace resources), one ledger
 * shared by every caller (PostgreSQL when SWITCHBOARD_LEDGER_URL is set, so replicas share quotas and budgets;
 * budgets per principal and team are held in it by reservation), a router kept between calls, and the tool
 * list built from the sidecar's own tool definitions, filtered and adapted for callers without a workspace.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import type { Budget, Ledger, Principal, QuotaState } from '../../core/ledger/types';
import type { ChatMessage } from '../../core/providers/types';
import type { Router, RouteResult } from '../../core/router';
import { UserError } from '../../core/errors';
import { budgetCounter } from '../../core/ledger/rules';
import { SidecarContext } from '../context';
import { DelegationLimiter } from '../limiter';
import { ALL_TOOLS } from '../tools';
import { TASK_INSTRUCTIONS } from '../tools/delegate';
import { defineTool, type ToolDefinition, type ToolRunContext } from '../tools/tool';
import type { Authenticator } from './auth';
import type { ServerMetrics } from './metrics';

export interface HostedOptions {
  env: NodeJS.ProcessEnv;
  auth: Authenticator;
  metrics: ServerMetrics;
  log: (line: string) => void;
}

export class HostedContext extends SidecarContext {
  readonly auth: Authenticator;
  readonly metrics: ServerMetrics;
  private readonly scratch: string;
  private hostedLedger: Promise<Ledger> | undefined;
  private hostedLimiter: DelegationLimiter | undefined;
  private cachedRouter: { key: string; router: Router } | undefined;

  constructor(options: HostedOptions) {
    // An empty folder stands in for the workspace: nothing project-level is ever read on a team server.
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-hosted-'));
    super({ workspace: scratch, workspaceExplicit: true, env: options.env, actor: 'claude-code', log: options.log });
    this.scratch = scratch;
    this.auth = options.auth;
    this.metrics = options.metrics;
  }

  override async ready(): Promise<void> {}

  override setClientRoots(): void {}

  /** The one ledger (sql.js file, or PostgreSQL shared by replicas); a failed open is retried on the next call (see /readyz). */
  override ledger(): Promise<Ledger> {
    if (!this.hostedLedger) {
      this.hostedLedger = (async () => {
        const [{ openLedger }, loaded] = await Promise.all([import('../../core/ledger/open'), this.routerConfig()]);
        return openLedger(this.env, { thresholds: loaded.config.alerts, onWarning: (w) => this.log(w.message) });
      })();
      this.hostedLedger.catch(() => (this.hostedLedger = undefined));
    }
    return this.hostedLedger;
  }

  readonly anonymousId = 'anonymous';

  /** The caller's own and team budgets (tokens file), held by reservation on every routed call. */
  budgetsFor(principal: Principal | undefined): Budget[] {
    if (!principal) return [];
    const out: Budget[] = [];
    const own = principal.id === this.anonymousId ? undefined : this.auth.budgetFor(principal.id);
    if (own !== undefined) out.push({ scope: 'principal', key: principal.id, limitUsd: own, window: 'month' });
    const team = this.auth.teamBudget(principal.team);
    if (team !== undefined && principal.team !== undefined) out.push({ scope: 'team', key: principal.team, limitUsd: team, window: 'month' });
    return out;
  }

  /** The caller's budgets as the shared ledger's counters stand (for quota_status). */
  async budgetStates(principal: Principal): Promise<Array<{ scope: 'principal' | 'team'; id: string; state: QuotaState }>> {
    const ledger = await this.ledger();
    const out: Array<{ scope: 'principal' | 'team'; id: string; state: QuotaState }> = [];
    for (const b of this.budgetsFor(principal)) {
      const scope = b.scope as 'principal' | 'team';
      const id = b.key!;
      const [state] = await ledger.quota(budgetCounter(scope, id), [{ metric: 'usd', window: 'month', limit: b.limitUsd }]);
      if (state) out.push({ scope, id, state });
    }
    return out;
  }

  /** Reads the ledger; rejects when it cannot be opened or read in time. */
  async checkLedger(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('the ledger did not answer in time')), timeoutMs)));
    try {
      await Promise.race([(async () => void (await (await this.ledger()).monthSpend()))(), deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  override limiter(): DelegationLimiter {
    this.hostedLimiter ??= new DelegationLimiter({
      maxConcurrent: positiveInt(this.env.SWITCHBOARD_MAX_CONCURRENT) ?? 64,
      maxQueue: positiveInt(this.env.SWITCHBOARD_MAX_QUEUE) ?? 256,
      queueTimeoutMs: positiveInt(this.env.SWITCHBOARD_QUEUE_TIMEOUT_MS) ?? 120_000,
    });
    return this.hostedLimiter;
  }

  /** One router while router.yaml is unchanged, so provider SDK clients (and their connections) are reused. */
  override async router(): Promise<Router> {
    const { Router } = await import('../../core/router');
    const loaded = await this.routerConfig();
    const key = JSON.stringify(loaded.config);
    if (this.cachedRouter?.key === key) return this.cachedRouter.router;
    for (const d of loaded.diagnostics) this.log(`${d.file}:${d.line}:${d.column}: ${d.severity}: ${d.message}`);
    const router = new Router({ config: loaded.config, ledger: await this.ledger(), env: this.env });
    this.cachedRouter = { key, router };
    return router;
  }

  override async close(): Promise<void> {
    const ledger = this.hostedLedger;
    this.hostedLedger = undefined;
    if (ledger) await (await ledger.catch(() => undefined))?.close();
    fs.rmSync(this.scratch, { recursive: true, force: true });
  }
}

function positiveInt(value: string | undefined): number | undefined {
  const n = value ? Number(value) : NaN;
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

function hostedOf(run: ToolRunContext): HostedContext {
  if (!(run.sidecar instanceof HostedContext)) throw new Error('hosted tool outside the team server');
  return run.sidecar;
}

/** Tools a team server serves: no file tools, nothing that needs a workspace. */
// usage_report reads a workspace's audit log, and a team server has none: a per-principal report is not built yet.
const HOSTED_TOOL_NAMES = new Set(['delegate', 'quota_status']);

export function hostedTools(): ToolDefinition[] {
  return ALL_TOOLS.filter((t) => HOSTED_TOOL_NAMES.has(t.name)).map((t) => instrument(ADAPT[t.name]?.(t) ?? t));
}

const ADAPT: Record<string, (tool: ToolDefinition) => ToolDefinition> = {
  delegate: (tool) => defineTool({
    name: tool.name,
    description: 'Route a generation task to the cheapest capable model the team server allows (local, free, then paid if allowed); returns the text.',
    input: {
      task: z.string().min(1).max(100).describe('tests|docs|boilerplate|code|review'),
      prompt: z.string().min(1),
      system: z.string().optional().describe('Instructions replacing the task\'s default'),
      provider: z.string().max(200).optional().describe('Provider id, or auto'),
      max_tokens: z.number().int().positive().max(200_000).optional(),
    },
    output: tool.output,
    annotations: tool.annotations,
    async run(args, run) {
      const ctx = hostedOf(run);
      const messages: ChatMessage[] = [
        { role: 'system', content: args.system ?? TASK_INSTRUCTIONS[args.task] ?? `Task: ${args.task}.` },
        { role: 'user', content: args.prompt },
      ];
      const release = await ctx.limiter().acquire(undefined, run.signal);
      let result: RouteResult;
      const progress = run.wantsProgress ? setInterval(() => void run.progress(`delegating ${args.task}…`), ctx.progressIntervalMs) : undefined;
      try {
        const router = await ctx.router();
        result = await router.route({
          task: args.task, messages, maxTokens: args.max_tokens, provider: args.provider,
          actor: 'team-server', principal: run.principal, budgets: ctx.budgetsFor(run.principal), signal: run.signal, stream: true,
        });
      } catch (err) {
        const attempts = (err as { attempts?: Array<{ provider: string; outcome: string; ms: number }> }).attempts;
        if (attempts) ctx.metrics.recordFailedAttempts(attempts);
        if ((err as UserError).code === 'no_provider' && /: over (the (principal|team) budget|budget_usd_month)/.test((err as Error).message)) ctx.metrics.refusals.inc({ reason: 'budget' });
        throw err;
      } finally {
        clearInterval(progress);
        release();
      }
      ctx.metrics.recordRoute(result);
      const route = `${result.provider}/${result.model} (${result.tier}), ${result.inputTokens}+${result.outputTokens} tokens, $${result.costUsd.toFixed(6)}`;
      const warning = result.complete ? '' : `[incomplete: the answer was cut short (${result.finishReason})]\n`;
      return {
        text: result.text,
        notes: `${warning}— routed to ${route}`,
        structured: {
          provider: result.provider, model: result.model, tier: result.tier, input_tokens: result.inputTokens, output_tokens: result.outputTokens,
          cost_usd: result.costUsd, quota_left: result.quotaLeft.map((q) => ({ metric: q.metric, window: q.window, left: q.left, limit: q.limit })),
          complete: result.complete, skipped: result.skipped.map((s) => `${s.provider}${s.model ? `/${s.model}` : ''}: ${s.reason}`),
        },
      };
    },
  }),
  quota_status: (tool) => defineTool({
    name: tool.name,
    description: 'Quota left per provider on the team server, this month\'s spend, and your own and your team\'s budget.',
    input: tool.input,
    output: {
      ...tool.output,
      principal: z.object({ id: z.string(), team: z.string().optional() }).optional(),
      budgets: z.array(z.object({ scope: z.enum(['principal', 'team']), id: z.string(), limit_usd: z.number(), used_usd: z.number(), left_usd: z.number(), resets_at: z.string() })),
    },
    annotations: tool.annotations,
    async run(args, run) {
      const ctx = hostedOf(run);
      const base = await tool.run(args, run);
      const states = run.principal ? await ctx.budgetStates(run.principal) : [];
      const budgets = states.map(({ scope, id, state }) => ({
        scope, id, limit_usd: state.rule.limit, used_usd: round(state.used + state.reserved), left_usd: round(state.left), resets_at: new Date(state.resetAtMs).toISOString(),
      }));
      const lines = budgets.map((b) => `budget ${b.scope} ${b.id}: $${b.left_usd.toFixed(4)} left of $${b.limit_usd} this month`);
      return {
        text: [base.text, ...lines].join('\n'),
        structured: { ...(base.structured as Record<string, unknown>), ...(run.principal ? { principal: run.principal } : {}), budgets } as never,
      };
    },
  }),
};

/** Counts and times every call by tool and outcome. */
function instrument(tool: ToolDefinition): ToolDefinition {
  return {
    ...tool,
    async run(args, run) {
      const ctx = hostedOf(run);
      const end = ctx.metrics.toolSeconds.startTimer({ tool: tool.name });
      try {
        const result = await tool.run(args, run);
        ctx.metrics.toolCalls.inc({ tool: tool.name, status: 'ok' });
        return result;
      } catch (err) {
        ctx.metrics.toolCalls.inc({ tool: tool.name, status: 'error' });
        throw err;
      } finally {
        end();
      }
    },
  };
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
