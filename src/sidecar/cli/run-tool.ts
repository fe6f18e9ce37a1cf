/**
 * Runs an MCP tool's own handler from the command line, so `quota`, `backups` and `delegate` share every line of
 * logic with the tools Claude Code calls: same argument schema, same SidecarContext (actor `cli`), same redaction,
 * and the result checked against the same output schema.
 */
import { z } from 'zod';
import { isUserError, UserError } from '../../core/errors';
import { ProviderError } from '../../core/providers/types';
import { redactDeep } from '../../core/redact';
import { SidecarContext } from '../context';
import { plainErrorMessage } from '../plain-error';
import type { Shape, ToolDescriptor, ToolInput, ToolOutput } from '../protocol/descriptor';
import type { ToolDefinition } from '../tools/tool';
import { checkWorkspace } from './format';
import type { CommonOptions } from './args';

/** A SidecarContext for one CLI run. There is no MCP client, so there are no roots to wait for. */
export function openCliSidecar(common: CommonOptions, givenWorkspace: unknown): SidecarContext {
  checkWorkspace(common.workspace, givenWorkspace);
  const sidecar = new SidecarContext({ workspace: common.workspace, workspaceExplicit: true, actor: 'cli' });
  sidecar.setClientRoots(undefined);
  return sidecar;
}

export interface CliToolResult<D extends ToolDescriptor> {
  text: string;
  notes?: string;
  structured: ToolOutput<D>;
}

/**
 * The typed way the command line calls a tool: `descriptor` names it (src/sidecar/protocol), `args` are checked
 * against its input schema, and the structured result against its output schema. Failures the user can act on
 * become a one-line UserError (exit 1); anything else propagates as a bug (exit 2).
 */
export async function callTool<I extends Shape, O extends Shape>(
  sidecar: SidecarContext,
  descriptor: ToolDescriptor<I, O>,
  args: ToolInput<ToolDescriptor<I, O>>,
  signal: AbortSignal = new AbortController().signal,
): Promise<CliToolResult<ToolDescriptor<I, O>>> {
  const tool = await implementationOf(descriptor);
  const parsed = z.object(descriptor.input).safeParse(args);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length ? `${issue.path.join('.')}: ` : '';
    throw new UserError(`${where}${issue.message}`, 'bad_arguments');
  }
  let result;
  try {
    result = await tool.run(parsed.data, { sidecar, signal, wantsProgress: false, progress: async () => {} });
  } catch (err) {
    if (isUserError(err) || err instanceof ProviderError) {
      throw new UserError(plainErrorMessage(err, sidecar.workspace, sidecar.env), isUserError(err) ? err.code : 'provider_error');
    }
    throw err;
  }
  // The MCP server validates every result before sending it; the command line holds itself to the same contract.
  const structured = z.object(descriptor.output).parse(result.structured);
  return redactDeep({ text: result.text, notes: result.notes, structured }, sidecar.env);
}

/** The implementation registered for a descriptor (loaded on first use: `serve` does not need the CLI's path). */
async function implementationOf<I extends Shape, O extends Shape>(descriptor: ToolDescriptor<I, O>): Promise<ToolDefinition<I, O>> {
  const { ALL_TOOLS } = await import('../tools');
  const tool = ALL_TOOLS.find((t) => t.name === descriptor.name);
  // Tools spread their descriptor in, so a tool implementing this one holds the very same shape objects.
  if (!tool || tool.input !== descriptor.input || tool.output !== descriptor.output) throw new Error(`no tool implements the ${descriptor.name} descriptor`);
  return tool as unknown as ToolDefinition<I, O>;
}

/** An AbortSignal that fires on Ctrl-C, so a long delegation stops cleanly (its quota reservation released). */
export function interruptSignal(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  return { signal: controller.signal, dispose: () => process.off('SIGINT', onSigint) };
}
