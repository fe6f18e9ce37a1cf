import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Agent } from '../../core/cascade';
import { UserError } from '../../core/errors';
import { formatBytes } from '../../core/format-bytes';
import { maskKnownSecrets, redact } from '../../core/redact';
import type { WorkspaceFiles } from '../../core/files';
import type { CheckedPath } from '../../core/files/path-guard';
import type { ChatMessage } from '../../core/providers/types';
import type { RouteResult } from '../../core/router';
import type { SidecarContext } from '../context';
import { workspaceStateDir } from '../../core/paths';
import { delegateDescriptor } from '../protocol/delegate';
import { plainErrorMessage } from '../plain-error';
import { defineTool, type ToolResult, type ToolRunContext } from './tool';
import { stripFence } from '../../core/generated-text';
import { describeVerification, type Verification, type VerifiedOutcome } from '../../core/verify';
import { delegateVerified } from '../delegation/verified';

/** What each task kind asks of the model; anything else is passed through as its own instruction. */
export const TASK_INSTRUCTIONS: Record<string, string> = {
  tests: 'Write thorough, runnable unit tests for the code given, in the project\'s language and test framework.',
  docs: 'Write clear, accurate documentation for the code given.',
  boilerplate: 'Write the requested boilerplate code, complete and ready to use.',
  code: 'Write the requested code, complete and correct.',
  review: 'Review the code given: list concrete problems with file and line, most important first.',
};

/** How much of a spilled answer the result still shows. */
const SPILLED_HEAD_CHARS = 2_000;
/** Where answers too long for the client go (inside the workspace, Switchboard's own folder). */
export const ANSWERS_DIR = '.switchboard/answers';

export type { DelegateOutput } from '../protocol/delegate';

export const delegateTool = defineTool({
  ...delegateDescriptor,
  // The answer is generated code: kept byte for byte except a key the user holds (summaries are masked in run).
  textIsContent: true,
  async run(args, run) {
    const { sidecar } = run;
    const files = await sidecar.files();
    const agent = args.agent ? sidecar.findAgent(args.agent) : undefined;
    // Refuse a forbidden output path, and context files over the policy or the total cap, before anything is
    // read or paid for: nothing of the files is held in memory while the call waits for a slot.
    if (args.output_path) files.check(args.output_path, 'write');
    const contextFiles = await planContextFiles(sidecar, files, args.files ?? [], delegateMaxBytes(sidecar.env));

    let verification: Verification | undefined;
    if (args.output_path) {
      // Each generation of the verified loop waits for its own slot; a candidate keeps its bytes except a known key.
      const routeOnce = (ask: { messages: ChatMessage[]; exclude: string[]; provider?: string; onlyModel?: string }) =>
        admitted(sidecar, run.signal, agent, async () => {
          const r = await route(sidecar, run.signal, agent, { ...args, messages: ask.messages, provider: ask.provider ?? args.provider, exclude: ask.exclude, onlyModel: ask.onlyModel });
          return { ...r, text: maskKnownSecrets(r.text, sidecar.env) };
        });
      const outputPath = args.output_path;
      const verified = await withProgress(run, args.task, async () => {
        const messages = await admitted(sidecar, run.signal, agent, () => buildMessages(sidecar, files, { ...args, files: contextFiles, agent }));
        return delegateVerified(sidecar, files, { task: args.task, outputPath, messages, provider: args.provider, verify: args.verify, propose: args.propose }, {
          route: routeOnce, signal: run.signal, progress: (m) => run.progress(m), audit: (r) => audit(sidecar, { ...r, op: 'delegate', agent: args.agent }),
        });
      });
      if (verified.kind === 'verified') return verifiedResult(sidecar, args.task, verified.outcome);
      verification = verified.verification;
    }

    let result: RouteResult;
    try {
      result = await withProgress(run, args.task, () => admitted(sidecar, run.signal, agent, async () => {
        const messages = await buildMessages(sidecar, files, { ...args, files: contextFiles, agent });
        return route(sidecar, run.signal, agent, { ...args, messages });
      }));
    } catch (err) {
      await audit(sidecar, { op: 'delegate', task: args.task, agent: args.agent, path: args.output_path, outcome: 'error', message: plainErrorMessage(err, sidecar.workspace, sidecar.env) });
      throw err;
    }

    const skipped = result.skipped.map((s) => `${s.provider}${s.model ? `/${s.model}` : ''}: ${s.reason}`);
    const routeText = describeRouted(result);
    const structured = { ...routedFields(result), skipped, ...(verification ? { verification } : {}) };
    const auditBase = { op: 'delegate' as const, task: args.task, agent: args.agent, provider: result.provider, model: result.model, cost_usd: result.costUsd, input_tokens: result.inputTokens, output_tokens: result.outputTokens, baseline_usd: result.baselineUsd, call_id: crypto.randomUUID(),
      // An output path whose check did not run (none found, or verify: false): the report says so, and why.
      ...(verification ? { verified: 'not_run', verification: { reason: verification.reason } } : {}) };

    if (!args.output_path || args.propose) {
      const warning = result.complete ? '' : `[incomplete: the answer was cut short (${result.finishReason})]\n`;
      if (!args.output_path && run.resultLimitChars !== undefined && result.text.length > run.resultLimitChars) {
        // Too long for the client (it would cut or drop it): the whole answer goes to a scratch file.
        const answerPath = await spillAnswer(sidecar.workspace, args.task, maskKnownSecrets(result.text, sidecar.env));
        await audit(sidecar, { ...auditBase, path: answerPath, outcome: 'ok' });
        const head = headOf(result.text, Math.min(SPILLED_HEAD_CHARS, Math.floor(run.resultLimitChars / 2)));
        return {
          text: `${head}\n…\n[the whole answer (${result.text.length} characters) is in ${answerPath}: read it from there]`,
          notes: redact(`${warning}— routed to ${routeText}`, sidecar.env),
          structured: { ...structured, answer_path: answerPath },
        };
      }
      await audit(sidecar, { ...auditBase, outcome: 'ok' });
      const verified = verification ? `; ${describeVerification(verification, args.task)}` : '';
      return { text: args.propose ? maskKnownSecrets(stripFence(result.text), sidecar.env) : result.text, notes: redact(`${warning}— routed to ${routeText}${verified}`, sidecar.env), structured };
    }
    if (!result.complete) {
      // A cut-short answer must never replace a file as if it were whole.
      await audit(sidecar, { ...auditBase, path: args.output_path, outcome: 'error', message: 'incomplete output not written' });
      return {
        text: redact(`NOT WRITTEN: the answer from ${routeText} was cut short (${result.finishReason}); ${args.output_path} is unchanged. Raise max_tokens or split the task.`, sidecar.env),
        structured,
      };
    }
    // Generated code keeps its bytes; only a key the user holds (echoed by a model or provider) is masked.
    const written = await files.write(args.output_path, maskKnownSecrets(stripFence(result.text), sidecar.env), {
      actor: sidecar.actor,
      reason: `delegate ${args.task}`,
      provider: result.provider,
      model: result.model,
      costUsd: result.costUsd,
    });
    await audit(sidecar, { ...auditBase, path: written.path, backup_id: written.backupId, bytes: written.bytes, outcome: 'ok' });
    return {
      text: redact(`${written.created ? 'created' : 'wrote'} ${written.path} (${written.bytes} bytes) via ${routeText}; backup ${written.backupId} (restore_backup undoes it); ${describeVerification(verification!, args.task)}`, sidecar.env),
      structured: { ...structured, backup_id: written.backupId },
    };
  },
});

/** The total of a delegation's context files, unless SWITCHBOARD_DELEGATE_MAX_BYTES says otherwise. */
export const DEFAULT_DELEGATE_MAX_BYTES = 4 * 1024 * 1024;

function delegateMaxBytes(env: NodeJS.ProcessEnv): number {
  const n = Number(env.SWITCHBOARD_DELEGATE_MAX_BYTES);
  return Number.isInteger(n) && n > 0 ? n : DEFAULT_DELEGATE_MAX_BYTES;
}

/**
 * The context files as they will be read: each checked against the policy (which resolves every spelling and
 * symbolic link to one canonical path), duplicates dropped, and their total size held to `maxBytes` — all from
 * metadata, before a byte is read.
 */
async function planContextFiles(sidecar: SidecarContext, files: WorkspaceFiles, given: readonly string[], maxBytes: number): Promise<string[]> {
  const seen = new Set<string>();
  const planned: string[] = [];
  let total = 0;
  for (const f of given) {
    let checked: CheckedPath;
    try {
      checked = files.check(f, 'read');
    } catch (err) {
      // Through read, so the refusal is audited like any other (it refuses again before reading a byte).
      await files.read(f, { actor: sidecar.actor });
      throw err;
    }
    if (seen.has(checked.abs)) continue;
    seen.add(checked.abs);
    total += checked.stat?.size ?? 0;
    planned.push(f);
  }
  if (total > maxBytes) {
    throw new UserError(
      `the context files total ${formatBytes(total)} (${planned.length} distinct), over the ${formatBytes(maxBytes)} limit for one delegation (SWITCHBOARD_DELEGATE_MAX_BYTES); pass fewer or smaller files`,
      'too_large',
    );
  }
  return planned;
}

interface RequestParts {
  task: string;
  prompt: string;
  files?: string[];
  output_path?: string;
  agent?: Agent;
}

async function buildMessages(sidecar: SidecarContext, files: WorkspaceFiles, parts: RequestParts): Promise<ChatMessage[]> {
  const system: string[] = [TASK_INSTRUCTIONS[parts.task] ?? `Task: ${parts.task}.`];
  if (parts.output_path) {
    system.push(`Your whole reply becomes the content of the file ${sidecar.displayPath(parts.output_path)}: reply with that file's content only, no commentary, no code fences.`);
  }
  if (parts.agent?.systemPrompt) system.push(parts.agent.systemPrompt.trim());
  else if (parts.agent?.description) system.push(`You act as: ${parts.agent.description}`);

  // Context loaded with every agent (discovery config `context`), then PROJECT_CONTEXT.md; both optional.
  if (parts.agent) {
    for (const cf of sidecar.agents().context.filter((c) => c.exists)) {
      const text = await readOptional(sidecar, files, path.relative(sidecar.workspace, cf.path));
      if (text !== undefined) system.push(`## ${cf.file}\n\n${text.trim()}`);
    }
  }
  const projectContext = await readOptional(sidecar, files, 'PROJECT_CONTEXT.md');
  if (projectContext !== undefined) system.push(`## PROJECT_CONTEXT.md\n\n${projectContext.trim()}`);

  const user: string[] = [parts.prompt];
  for (const f of parts.files ?? []) {
    // Given files must be readable under the policy: a refusal fails the delegation with the policy's reason.
    const read = await files.read(f, { actor: sidecar.actor });
    user.push(`File ${read.path}:\n\`\`\`\n${read.text}\n\`\`\``);
  }
  return [
    { role: 'system', content: system.join('\n\n') },
    { role: 'user', content: user.join('\n\n') },
  ];
}

async function readOptional(sidecar: SidecarContext, files: WorkspaceFiles, rel: string): Promise<string | undefined> {
  if (rel.startsWith('..') || path.isAbsolute(rel)) return undefined;
  try {
    return (await files.read(rel, { actor: sidecar.actor })).text;
  } catch (err) {
    if ((err as UserError).code !== 'not_found') sidecar.log(`context ${rel} left out: ${plainErrorMessage(err, sidecar.workspace, sidecar.env)}`);
    return undefined;
  }
}

/** Runs `work` (reading the context files, then the generation) once the delegation limiter admits the call. */
async function admitted<T>(sidecar: SidecarContext, signal: AbortSignal, agent: Agent | undefined, work: () => Promise<T>): Promise<T> {
  const release = await sidecar.limiter().acquire(agent?.model, signal);
  try {
    return await work();
  } finally {
    release();
  }
}

async function route(
  sidecar: SidecarContext,
  signal: AbortSignal,
  agent: Agent | undefined,
  request: { task: string; messages: ChatMessage[]; provider?: string; max_tokens?: number; exclude?: string[]; onlyModel?: string },
): Promise<RouteResult> {
  const router = await sidecar.router();
  return router.route({
    task: request.task,
    messages: request.messages,
    maxTokens: request.max_tokens,
    provider: request.provider,
    exclude: request.exclude,
    onlyModel: request.onlyModel,
    model: agent?.model,
    fallbackModels: agent?.fallbackModels,
    actor: agent?.id ?? sidecar.actor,
    signal,
    // Streaming lets the idle timeout catch a stalled generation early.
    stream: true,
  });
}

/** Sends a progress notification right away and then every interval until `work` settles. */
async function withProgress<T>(run: ToolRunContext, task: string, work: () => Promise<T>): Promise<T> {
  if (!run.wantsProgress) return work();
  const started = Date.now();
  await run.progress(`delegating ${task}…`);
  const timer = setInterval(() => void run.progress(`delegating ${task}: ${Math.round((Date.now() - started) / 1000)} s`), run.sidecar.progressIntervalMs);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

async function audit(sidecar: SidecarContext, record: Record<string, unknown> & { op: 'delegate' }): Promise<void> {
  try {
    const { appendAudit } = await import('../../core/files');
    await appendAudit(sidecar.workspace, { actor: sidecar.actor, ...record });
  } catch (err) {
    sidecar.log(`audit: ${plainErrorMessage(err, sidecar.workspace, sidecar.env)}`);
  }
}

/** The result of a verified delegation whose check passed. */
function verifiedResult(sidecar: SidecarContext, task: string, outcome: VerifiedOutcome): ToolResult<typeof delegateDescriptor.output> {
  const result = outcome.result!;
  const v = outcome.verification;
  const route = describeRouted(result);
  const structured = {
    ...routedFields(result),
    skipped: outcome.skipped,
    verification: { ...v, attempts: v.attempts.map((a) => ({ provider: a.provider, model: a.model, passed: a.passed, summary: a.summary, repair: a.repair, cost_usd: a.cost_usd })) },
    total_cost_usd: outcome.totalCostUsd,
    ...(outcome.backupId ? { backup_id: outcome.backupId } : {}),
  };
  const checked = `${describeVerification(v, task)}: ${v.command}`;
  const total = v.attempts.length > 1 ? `; all attempts $${outcome.totalCostUsd.toFixed(6)}` : '';
  // The loop's candidates were already masked of known keys; summaries are redacted like every other.
  if (!outcome.written) return { text: outcome.text ?? '', notes: redact(`— routed to ${route}${total}; ${checked}`, sidecar.env), structured };
  const w = outcome.written;
  return {
    text: redact(`${outcome.created ? 'created' : 'wrote'} ${sidecar.displayPath(w.path)} (${w.bytes} bytes) via ${route}${total}; ${checked}; backup ${outcome.backupId} (restore_backup undoes it)`, sidecar.env),
    structured,
  };
}

/** Writes `text` to a new file under .switchboard/answers/ and returns its workspace path. */
async function spillAnswer(workspace: string, task: string, text: string): Promise<string> {
  // workspaceStateDir also keeps .switchboard/ out of git (its .gitignore).
  const dir = path.join(workspaceStateDir(workspace), 'answers');
  await fs.promises.mkdir(dir, { recursive: true });
  // A repository may ship `.switchboard` as a link to elsewhere: write only where the path really is.
  if (fs.realpathSync.native(dir) !== path.join(fs.realpathSync.native(workspace), ...ANSWERS_DIR.split('/'))) {
    throw new UserError(`${ANSWERS_DIR} is not a plain folder inside the workspace; not writing the answer there`, 'answer_dir_unsafe');
  }
  const slug = task.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 24) || 'answer';
  const name = `${new Date().toISOString().replace(/[:.]/g, '-')}-${slug}-${crypto.randomBytes(3).toString('hex')}.md`;
  // 'wx': never follow or replace something already there.
  await fs.promises.writeFile(path.join(dir, name), text, { flag: 'wx', mode: 0o600 });
  return `${ANSWERS_DIR}/${name}`;
}

/** The first `max` characters, cut at a line end when one is near. */
function headOf(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.lastIndexOf('\n', max);
  return text.slice(0, cut > max / 2 ? cut : max);
}

/** "gemini/gemini-2.5-flash (free), 120+340 tokens, $0.000000": how a generation was routed, for notes and texts. */
function describeRouted(result: RouteResult): string {
  return `${result.provider}/${result.model} (${result.tier}), ${result.inputTokens}+${result.outputTokens} tokens, $${result.costUsd.toFixed(6)}`;
}

/** The fields of delegate's structured result that come from the routed generation itself. */
function routedFields(result: RouteResult) {
  return {
    provider: result.provider,
    model: result.model,
    tier: result.tier,
    input_tokens: result.inputTokens,
    output_tokens: result.outputTokens,
    cost_usd: result.costUsd,
    quota_left: result.quotaLeft.map((q) => ({ metric: q.metric, window: q.window, left: q.left, limit: q.limit })),
    complete: result.complete,
  };
}
