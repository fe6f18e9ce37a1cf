/**
 * The demo's MCP client: the real SDK Client over real stdio to `dist/sidecar.js serve`, exactly as Claude Code
 * connects. The only file of the demo that imports the MCP SDK.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

export interface ToolCallOutcome {
  text: string;
  structured: Record<string, unknown>;
  isError: boolean;
}

export interface SidecarSession {
  toolNames: string[];
  call(name: string, args: Record<string, unknown>): Promise<ToolCallOutcome>;
  /** What the sidecar wrote on stderr (its log), for a failure message. */
  stderr(): string;
  close(): Promise<void>;
}

export async function connectSidecarOverStdio(options: {
  bundle: string;
  workspace: string;
  env: Record<string, string>;
  cwd: string;
  timeoutMs: number;
}): Promise<SidecarSession> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [options.bundle, 'serve', '--workspace', options.workspace],
    env: options.env,
    cwd: options.cwd,
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (d: Buffer) => {
    // Bounded: only the tail is ever shown.
    stderr = (stderr + d.toString('utf8')).slice(-8192);
  });
  const client = new Client({ name: 'switchboard-demo', version: '1.0.0' }, { capabilities: {} });
  const close = async () => {
    await client.close().catch(() => {});
  };
  try {
    await client.connect(transport, { timeout: options.timeoutMs });
    const { tools } = await client.listTools(undefined, { timeout: options.timeoutMs });
    return {
      toolNames: tools.map((t) => t.name),
      async call(name, args) {
        const result = await client.callTool({ name, arguments: args }, undefined, { timeout: options.timeoutMs });
        const content = (result.content ?? []) as Array<{ type: string; text?: string }>;
        return {
          text: content.map((c) => c.text ?? '').join('\n'),
          structured: (result.structuredContent ?? {}) as Record<string, unknown>,
          isError: result.isError === true,
        };
      },
      stderr: () => stderr,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
