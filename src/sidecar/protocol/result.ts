/**
 * Reading a tools/call result against a descriptor, for every MCP client of the sidecar (the extension, the
 * demo, tests): the text blocks, an error result as an exception, and structuredContent checked against the
 * tool's output schema, so a sidecar and a client that disagree about the contract fail loudly, at the call.
 */
import * as z from 'zod';
import type { ToolDescriptor, ToolOutput } from './descriptor';

/** What an MCP tools/call result looks like on the wire (the part read here). */
export interface WireToolResult {
  content?: unknown;
  structuredContent?: unknown;
  isError?: unknown;
}

export interface TypedToolResult<D extends ToolDescriptor> {
  /** The first text block: the content itself (read_file, delegate) or a readable summary. */
  text: string;
  /** Later text blocks: remarks about the text (how a delegation was routed, a partial read). */
  notes: string;
  structured: ToolOutput<D>;
}

/** The tool answered with `isError: true`; the message is the tool's own plain text. */
export class ToolCallError extends Error {
  constructor(readonly tool: string, message: string) {
    super(message);
    this.name = 'ToolCallError';
  }
}

/** The sidecar's structuredContent does not match the descriptor this client was built with. */
export class ToolContractError extends Error {
  constructor(readonly tool: string, message: string) {
    super(message);
    this.name = 'ToolContractError';
  }
}

/** `result` is the SDK's CallToolResult (or its legacy `toolResult` form, which has no content: an empty result). */
export function readToolResult<D extends ToolDescriptor>(descriptor: D, wire: object): TypedToolResult<D> {
  const result = wire as WireToolResult;
  const blocks = (Array.isArray(result.content) ? result.content : []).map((c: unknown) =>
    c && typeof c === 'object' && (c as { type?: unknown }).type === 'text' ? String((c as { text?: unknown }).text ?? '') : '',
  );
  if (result.isError === true) throw new ToolCallError(descriptor.name, blocks.join('\n').trim() || `${descriptor.name} failed`);
  const parsed = z.object(descriptor.output).safeParse(result.structuredContent ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ToolContractError(descriptor.name, `${descriptor.name} answered outside its contract (${issue.path.join('.') || 'result'}: ${issue.message}); are the sidecar and its client from the same build?`);
  }
  return { text: blocks[0] ?? '', notes: blocks.slice(1).join('\n'), structured: parsed.data as ToolOutput<D> };
}
