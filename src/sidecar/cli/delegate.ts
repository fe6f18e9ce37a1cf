import { UserError } from '../../core/errors';
import { redact } from '../../core/redact';
import { priceUsd } from '../../core/router/cost';
import { DELEGATE_TASKS, delegateDescriptor, type DelegateOutput } from '../protocol/delegate';
import { parseCommandArgs } from './args';
import { printJson, type Command } from './commands';
import { callTool, interruptSignal, openCliSidecar } from './run-tool';
import { describeVerification } from '../../core/verify';

/** Used when no --prompt is given: the task kind and the files already say what is wanted. */
const DEFAULT_PROMPTS: Record<(typeof DELEGATE_TASKS)[number], string> = {
  tests: 'Write unit tests for the files given.',
  docs: 'Document the files given.',
  boilerplate: 'Write the boilerplate for the files given.',
  code: 'Write the code the files given call for.',
  review: 'Review the files given.',
};

/**
 * The routing decision as readable lines. `providerLabel` qualifies the provider (the demo says "simulated");
 * `baselineUsd` is what the premium baseline model would have cost for the same tokens.
 */
export function routingLines(d: DelegateOutput, options: { baselineUsd?: number; providerLabel?: string; task?: string } = {}): string[] {
  const label = options.providerLabel ? ` ${options.providerLabel}` : '';
  let cost = `cost $${d.cost_usd.toFixed(4)}`;
  if (options.baselineUsd !== undefined) {
    cost += ` (premium baseline $${options.baselineUsd.toFixed(4)}, saved $${Math.max(0, options.baselineUsd - d.cost_usd).toFixed(4)})`;
  }
  const lines = [
    `Routed to ${d.provider}${label} · model ${d.model} · tier ${d.tier}${d.complete ? '' : ' · INCOMPLETE answer'}`,
    `  tokens: ${d.input_tokens} in + ${d.output_tokens} out; ${cost}`,
  ];
  if (d.quota_left.length) lines.push(`  quota left: ${d.quota_left.map((q) => `${fmt(q.left)} of ${fmt(q.limit)} ${q.metric}/${q.window}`).join(', ')}`);
  if (d.skipped.length) lines.push('  skipped:', ...d.skipped.map((s) => `    - ${s}`));
  if (d.verification) {
    const v = d.verification;
    // The label (the demo's "(simulated)") goes wherever the provider is named.
    const named = (p: string) => (p === d.provider ? `${p}${label}` : p);
    const attempts = v.attempts.map((a) => ({ repair: false, cost_usd: 0, input_tokens: 0, output_tokens: 0, ...a, provider: named(a.provider) }));
    lines.push(`  verification: ${describeVerification({ ...v, attempts }, options.task)}${v.status !== 'skipped' && v.command ? ` — ${v.command}` : ''}`);
    if (v.origin) lines.push(`    command from ${v.origin}`);
    for (const [i, a] of attempts.entries()) lines.push(`    ${i + 1}. ${a.provider} ${a.model}${a.repair ? ' (repair)' : ''}: ${a.passed ? 'passed' : 'failed'} — ${a.summary}`);
    if (d.total_cost_usd !== undefined && v.attempts.length > 1) lines.push(`    all attempts cost $${d.total_cost_usd.toFixed(4)}`);
  }
  return lines;
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(4);
}

export const delegateCommand: Command = {
  name: 'delegate',
  summary: 'delegate TASK [--file F ...] [--prompt TEXT] [--out PATH [--no-verify]] [--provider P] [--agent A] [--max-tokens N]: route a task (tests|docs|boilerplate|code|review) to the cheapest model; with --out the answer is kept only if the project\'s check passes',
  async run(argv) {
    const { common, values, positionals } = parseCommandArgs(argv, {
      provider: { type: 'string' },
      file: { type: 'string', multiple: true },
      prompt: { type: 'string' },
      out: { type: 'string' },
      agent: { type: 'string' },
      'max-tokens': { type: 'string' },
      'no-verify': { type: 'boolean' },
    });
    const [task, ...extra] = positionals;
    if (!task) throw new UserError(`delegate needs a task: ${DELEGATE_TASKS.join(', ')}`);
    if (!(DELEGATE_TASKS as readonly string[]).includes(task)) throw new UserError(`unknown task "${task}" (use one of: ${DELEGATE_TASKS.join(', ')})`);
    if (extra.length) throw new UserError(`unexpected argument "${extra[0]}" (give files with --file, the request with --prompt)`);
    let maxTokens: number | undefined;
    if (values['max-tokens'] !== undefined) {
      maxTokens = Number(values['max-tokens']);
      if (!(Number.isInteger(maxTokens) && maxTokens > 0)) throw new UserError('--max-tokens must be a positive whole number');
    }
    const prompt = typeof values.prompt === 'string' ? values.prompt : DEFAULT_PROMPTS[task as (typeof DELEGATE_TASKS)[number]];
    if (!prompt.trim()) throw new UserError('--prompt is empty');

    const sidecar = openCliSidecar(common, values.workspace);
    const interrupt = interruptSignal();
    try {
      const out = typeof values.out === 'string' ? values.out : undefined;
      const { text, structured: outcome } = await callTool(
        sidecar,
        delegateDescriptor,
        {
          task,
          prompt,
          files: values.file as string[] | undefined,
          provider: values.provider as string | undefined,
          agent: values.agent as string | undefined,
          output_path: out,
          max_tokens: maxTokens,
          ...(values['no-verify'] === true ? { verify: false } : {}),
        },
        interrupt.signal,
      ).catch((err: unknown) => {
        if (interrupt.signal.aborted) throw new UserError(`delegation cancelled (Ctrl-C)${out ? `; ${out} was not written` : ''}`, 'cancelled');
        throw err;
      });
      // A cut-short answer is never written: with --out that is a failure the caller must see.
      if (out && !outcome.backup_id && outcome.verification?.status !== 'passed') throw new UserError(text.split('\n')[0]!, 'incomplete_output');
      const { config } = await sidecar.routerConfig();
      const baselineUsd = Math.round(priceUsd(config.baseline, outcome.input_tokens, outcome.output_tokens) * 1e6) / 1e6;
      const routing = redact(routingLines(outcome, { baselineUsd, task }).join('\n'));

      if (common.json) {
        printJson({ ...(out ? { path: sidecar.displayPath(out) } : { text }), ...outcome, baseline_usd: baselineUsd });
      } else if (out) {
        process.stdout.write(`${text.split('\n')[0]}\nUndo: switchboard backups restore ${outcome.backup_id}\n${routing}\n`);
      } else {
        // The answer alone on stdout (so it can be piped or redirected); the decision on stderr.
        process.stdout.write(text.endsWith('\n') ? text : text + '\n');
        process.stderr.write(routing + '\n');
      }
      return 0;
    } finally {
      interrupt.dispose();
      await sidecar.close();
    }
  },
};
