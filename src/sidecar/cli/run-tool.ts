/**
 * Runs an MCP tool's own handler from the command line, so `quota`, `backups` and `delegate` share every line of
 * logic with the tools Claude Code calls: same argument schema, same SidecarContext (actor `cli`), same redaction.
 */
import { z } from 'zod';
import { isUserError, UserError } from '../../core/errors';
import { ProviderError } from '../../core/providers/types';
import { redactDeep } from '../../core/redact';
import { SidecarContext } from '../context';
import { plainErrorMessage } from '../plain-error';
import type { ToolDefinition, ToolResult, Shape } from '../tools/tool';
import { checkWorkspace } from './agents';
import type { CommonOptions } from './args';

/** A SidecarContext for one CLI run. There is no MCP client, so there are no roots to wait for. */
export function openCliSidecar(common: CommonOptions, givenWorkspace: unknown): SidecarContext {
  checkWorkspace(common.workspace, givenWorkspace);
  const sidecar = new SidecarContext({ workspace: common.workspace, workspaceExplicit: true, actor: 'cli' });
  sidecar.setClientRoots(undefined);
  return sidecar;
}

/**
 * Validates `args` with the tool's input schema and runs its handler. Failures the user can act on become a
 * one-line UserError (exit 1); anything else propagates as a bug (exit 2).
 */
export async function runToolFromCli<O extends Shape = Shape>(
  sidecar: SidecarContext,
  tool: ToolDefinition,
  args: Record<string, unknown>,
  signal: AbortSignal = new AbortController().signal,
): Promise<ToolResult<O>> {
  const parsed = z.object(tool.input).safeParse(args);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length ? `${issue.path.join('.')}: ` : '';
    throw new UserError(`${where}${issue.message}`, 'bad_arguments');
  }
  try {
    await sidecar.ready();
    const result = await tool.run(parsed.data as never, { sidecar, signal, wantsProgress: false, progress: async () => {} });
    return redactDeep(result, sidecar.env) as unknown as ToolResult<O>;
  } catch (err) {
    if (isUserError(err) || err instanceof ProviderError) {
      throw new UserError(plainErrorMessage(err, sidecar.workspace, sidecar.env), isUserError(err) ? err.code : 'provider_error');
    }
    throw err;
  }
}

/** An AbortSignal that fires on Ctrl-C, so a long delegation stops cleanly (its quota reservation released). */
export function interruptSignal(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  return { signal: controller.signal, dispose: () => process.off('SIGINT', onSigint) };
}
