import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import type { Agent } from '../../core/cascade';
import { UserError } from '../../core/errors';
import type { WorkspaceFiles } from '../../core/files';
import type { ChatMessage } from '../../core/providers/types';
import type { RouteResult } from '../../core/router';
import type { SidecarContext } from '../context';
import { workspaceStateDir } from '../../core/paths';
import { plainErrorMessage } from '../plain-error';
import { delegateDescriptor } from '../protocol/delegate';
import { defineTool, type ToolRunContext } from './tool';
import { stripFence } from '../../core/generated-text';

/** What each task kind asks of the model; anything else is passed through as its own instruction. */
const TASK_INSTRUCTIONS: Record<string, string> = {
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

export const delegateTool = defineTool({
  ...delegateDescriptor,
  async run(args, run) {
    const { sidecar } = run;
    const files = await sidecar.files();
    const agent = args.agent ? sidecar.findAgent(args.agent) : undefined;
    // Refuse a forbidden output path before paying for a generation.
    if (args.output_path) files.check(args.output_path, 'write');
    const messages = await buildMessages(sidecar, files, { ...args, agent });

    let result: RouteResult;
    try {
      result = await withProgress(run, args.task, () => routeLimited(sidecar, run.signal, agent, { ...args, messages }));
    } catch (err) {
      await audit(sidecar, { op: 'delegate', task: args.task, agent: args.agent, path: args.output_path, outcome: 'error', message: plainErrorMessage(err, sidecar.workspace, sidecar.env) });
      throw err;
    }

    const quotaLeft = result.quotaLeft.map((q) => ({ metric: q.metric, window: q.window, left: q.left, limit: q.limit }));
    const skipped = result.skipped.map((s) => `${s.provider}${s.model ? `/${s.model}` : ''}: ${s.reason}`);
    const route = `${result.provider}/${result.model} (${result.tier}), ${result.inputTokens}+${result.outputTokens} tokens, $${result.costUsd.toFixed(6)}`;
    const structured = {
      provider: result.provider,
      model: result.model,
      tier: result.tier,
      input_tokens: result.inputTokens,
      output_tokens: result.outputTokens,
      cost_usd: result.costUsd,
      quota_left: quotaLeft,
      complete: result.complete,
      skipped,
    };
    const auditBase = { op: 'delegate' as const, task: args.task, agent: args.agent, provider: result.provider, model: result.model, cost_usd: result.costUsd, input_tokens: result.inputTokens, output_tokens: result.outputTokens, baseline_usd: result.baselineUsd, call_id: crypto.randomUUID() };

    if (!args.output_path) {
      const warning = result.complete ? '' : `[incomplete: the answer was cut short (${result.finishReason})]\n`;
      if (run.resultLimitChars !== undefined && result.text.length > run.resultLimitChars) {
        // Too long for the client (it would cut or drop it): the whole answer goes to a scratch file.
        const answerPath = await spillAnswer(sidecar.workspace, args.task, result.text);
        await audit(sidecar, { ...auditBase, path: answerPath, outcome: 'ok' });
        const head = headOf(result.text, Math.min(SPILLED_HEAD_CHARS, Math.floor(run.resultLimitChars / 2)));
        return {
          text: `${head}\n…\n[the whole answer (${result.text.length} characters) is in ${answerPath}: read it from there]`,
          notes: `${warning}— routed to ${route}`,
          structured: { ...structured, answer_path: answerPath },
        };
      }
      await audit(sidecar, { ...auditBase, outcome: 'ok' });
      return { text: result.text, notes: `${warning}— routed to ${route}`, structured };
    }
    if (!result.complete) {
      // A cut-short answer must never replace a file as if it were whole.
      await audit(sidecar, { ...auditBase, path: args.output_path, outcome: 'error', message: 'incomplete output not written' });
      return {
        text: `NOT WRITTEN: the answer from ${route} was cut short (${result.finishReason}); ${args.output_path} is unchanged. Raise max_tokens or split the task.`,
        structured,
      };
    }
    const written = await files.write(args.output_path, stripFence(result.text), {
      actor: sidecar.actor,
      reason: `delegate ${args.task}`,
      provider: result.provider,
      model: result.model,
      costUsd: result.costUsd,
    });
    await audit(sidecar, { ...auditBase, path: written.path, backup_id: written.backupId, bytes: written.bytes, outcome: 'ok' });
    return {
      text: `${written.created ? 'created' : 'wrote'} ${written.path} (${written.bytes} bytes) via ${route}; backup ${written.backupId} (restore_backup undoes it)`,
      structured: { ...structured, backup_id: written.backupId },
    };
  },
});

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

async function routeLimited(
  sidecar: SidecarContext,
  signal: AbortSignal,
  agent: Agent | undefined,
  request: { task: string; messages: ChatMessage[]; provider?: string; max_tokens?: number },
): Promise<RouteResult> {
  const release = await sidecar.limiter().acquire(agent?.model, signal);
  try {
    const router = await sidecar.router();
    return await router.route({
      task: request.task,
      messages: request.messages,
      maxTokens: request.max_tokens,
      provider: request.provider,
      model: agent?.model,
      fallbackModels: agent?.fallbackModels,
      actor: agent?.id ?? sidecar.actor,
      signal,
      // Streaming lets the idle timeout catch a stalled generation early.
      stream: true,
    });
  } finally {
    release();
  }
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
