/**
 * Running one tool call, whichever path brought it: the SDK's McpServer (server.ts, every transport) or the
 * stdio transport's direct lane (direct-tool-calls.ts). Both build the same result from the same run.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Principal } from '../core/ledger/types';
import type { SidecarContext } from './context';
import { plainErrorMessage } from './plain-error';
import { redactToolResult, type ToolDefinition, type ToolRunContext } from './tools/tool';

export interface ToolExtra {
  signal: AbortSignal;
  /** Set by the HTTP transport from the authenticated request (see src/sidecar/http). */
  authInfo?: { extra?: { principal?: Principal } };
  _meta?: { progressToken?: string | number };
  sendNotification(notification: { method: 'notifications/progress'; params: { progressToken: string | number; progress: number; total?: number; message?: string } }): Promise<void>;
}

export async function runTool(sidecar: SidecarContext, tool: ToolDefinition, args: Record<string, unknown>, extra: ToolExtra): Promise<CallToolResult> {
  const progressToken = extra._meta?.progressToken;
  let progressCount = 0;
  const context: ToolRunContext = {
    sidecar,
    // Read when the tool looks (the stdio lane makes the AbortController only then).
    get signal() {
      return extra.signal;
    },
    resultLimitChars: resultLimitChars(sidecar.env),
    wantsProgress: progressToken !== undefined,
    principal: extra.authInfo?.extra?.principal,
    progress: async (message) => {
      if (progressToken === undefined || extra.signal.aborted) return;
      progressCount++;
      try {
        await extra.sendNotification({ method: 'notifications/progress', params: { progressToken, progress: progressCount, message } });
      } catch (err) {
        sidecar.log(`progress notification failed: ${(err as Error).message}`);
      }
    },
  };
  try {
    if (!sidecar.isReady) await sidecar.ready();
    const result = redactToolResult(tool, await tool.run(args as never, context), sidecar.env);
    const content: CallToolResult['content'] = [{ type: 'text', text: result.text }];
    if (result.notes) content.push({ type: 'text', text: result.notes });
    return { content, structuredContent: result.structured as Record<string, unknown> };
  } catch (err) {
    const message = plainErrorMessage(err, sidecar.workspace, sidecar.env);
    sidecar.log(`${tool.name}: ${message}`);
    if (process.env.SWITCHBOARD_DEBUG && err instanceof Error) sidecar.log(String(err.stack));
    return { content: [{ type: 'text', text: message }], isError: true };
  }
}

/**
 * Claude Code caps an MCP result at about 25k tokens (MAX_MCP_OUTPUT_TOKENS) and the text travels twice (content
 * and structuredContent): 40k characters of text stay well inside. SWITCHBOARD_MAX_RESULT_CHARS overrides it.
 */
export const DEFAULT_RESULT_LIMIT_CHARS = 40_000;

function resultLimitChars(env: NodeJS.ProcessEnv): number {
  const n = Number(env.SWITCHBOARD_MAX_RESULT_CHARS);
  return Number.isInteger(n) && n > 0 ? n : DEFAULT_RESULT_LIMIT_CHARS;
}
