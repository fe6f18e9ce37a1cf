/**
 * The demo's MCP client: the real SDK Client over real stdio to `dist/sidecar.js serve`, exactly as Claude Code
 * connects. The only file of the demo that imports the MCP SDK.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { ToolDescriptor, ToolInput } from '../protocol/descriptor';
import { readToolResult, type TypedToolResult } from '../protocol/result';

export interface SidecarSession {
  toolNames: string[];
  /** Calls a tool by its descriptor; an error result throws, and the structured result is checked against the contract. */
  call<D extends ToolDescriptor>(descriptor: D, args: ToolInput<D>): Promise<TypedToolResult<D>>;
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
      async call(descriptor, args) {
        const result = await client.callTool({ name: descriptor.name, arguments: args as Record<string, unknown> }, undefined, { timeout: options.timeoutMs });
        return readToolResult(descriptor, result);
      },
      stderr: () => stderr,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
