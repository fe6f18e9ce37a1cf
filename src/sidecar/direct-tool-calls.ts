/**
 * The stdio transport's direct lane for plain tool calls. Through the SDK a tools/call request is checked by
 * six zod schemas (the frame, the request twice, the arguments, the structured result, the whole result) and
 * passes a dozen promise hops before our tool runs: about a third of a small call's time on the server. This
 * lane answers the common case itself, with the same `runTool` and the same result:
 *  - only a request it can fully vouch for: `jsonrpc` "2.0", a string or finite number id, `tools/call`, params
 *    holding just `name` (a tool served here), plain-object `arguments` that the tool's own input schema
 *    accepts, and `_meta` (a progress token is used, other keys such as Claude Code's tool-use id are ignored,
 *    as the SDK ignores them; a task's key is not taken). Anything else (unknown tool, bad arguments, other
 *    fields) goes to the SDK, which answers it exactly as before;
 *  - the structured result is checked against the tool's output schema, as the SDK would;
 *  - `notifications/cancelled` aborts a call running here and its answer is never sent, as in the SDK;
 *  - a text block repeated in the structured result (read_file's content) is JSON-escaped once.
 */
import { z } from 'zod';
import { RELATED_TASK_META_KEY, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { SidecarContext } from './context';
import { isRequestId, type DirectLane, type DirectReply } from './stdio';
import { runTool, type ToolExtra } from './tool-call';
import type { ToolDefinition } from './tools/tool';

type RequestId = string | number;

/** A tool with its shapes made into zod objects on its first call (a start converts none). */
class Compiled {
  private inputSchema: z.ZodType | undefined;
  private outputSchema: z.ZodType | undefined;
  constructor(readonly tool: ToolDefinition) {}
  get input(): z.ZodType {
    return (this.inputSchema ??= z.object(this.tool.input));
  }
  get output(): z.ZodType {
    return (this.outputSchema ??= z.object(this.tool.output));
  }
}

/** A request the lane answers: its tool and its arguments as the input schema parsed them. */
interface PlainCall {
  id: RequestId;
  compiled: Compiled;
  args: Record<string, unknown>;
  progressToken?: RequestId;
}

export class DirectToolCalls implements DirectLane {
  private readonly tools = new Map<string, Compiled>();
  private readonly running = new Map<RequestId, Cancellation>();

  constructor(private readonly sidecar: SidecarContext, tools: readonly ToolDefinition[]) {
    for (const tool of tools) this.tools.set(tool.name, new Compiled(tool));
  }

  take(message: unknown, reply: DirectReply): boolean {
    const call = this.plainCall(message);
    if (!call) return false;
    const cancellation = new Cancellation();
    this.running.set(call.id, cancellation);
    void this.answer(call, cancellation, reply);
    return true;
  }

  /** A client's notifications/cancelled: aborts the call when it runs here (the SDK gets the notice too). */
  cancel(requestId: unknown): void {
    if (isRequestId(requestId)) this.running.get(requestId)?.abort('cancelled by the client');
  }

  /** The session ended: every call still running is aborted and answers nobody. */
  close(): void {
    for (const cancellation of this.running.values()) cancellation.abort('the session ended');
    this.running.clear();
  }

  private plainCall(message: unknown): PlainCall | undefined {
    if (!isPlainObject(message) || message.jsonrpc !== '2.0' || message.method !== 'tools/call') return undefined;
    for (const key in message) if (key !== 'jsonrpc' && key !== 'method' && key !== 'id' && key !== 'params') return undefined;
    const id = message.id;
    if (!isRequestId(id) || this.running.has(id)) return undefined;
    const params = message.params;
    if (!isPlainObject(params) || typeof params.name !== 'string') return undefined;
    let progressToken: RequestId | undefined;
    for (const key in params) {
      if (key === 'name' || key === 'arguments') continue;
      if (key !== '_meta') return undefined;
      const meta = params._meta;
      // Clients add their own keys (Claude Code: its tool-use id), which the SDK ignores too; a task's is not ours.
      if (!isPlainObject(meta) || RELATED_TASK_META_KEY in meta) return undefined;
      const token = meta.progressToken;
      if (token !== undefined && !isRequestId(token)) return undefined;
      progressToken = token;
    }
    const compiled = this.tools.get(params.name);
    if (!compiled) return undefined;
    const raw = params.arguments ?? {};
    if (!isPlainObject(raw)) return undefined;
    let parsed: { success: boolean; data?: unknown };
    try {
      parsed = compiled.input.safeParse(raw);
    } catch {
      return undefined; // e.g. a schema needing async parsing: the SDK's path handles it
    }
    if (!parsed.success) return undefined;
    return { id, compiled, args: parsed.data as Record<string, unknown>, progressToken };
  }

  private async answer(call: PlainCall, cancellation: Cancellation, reply: DirectReply): Promise<void> {
    const { id, compiled } = call;
    const extra: ToolExtra = {
      get signal() {
        return cancellation.signal;
      },
      ...(call.progressToken !== undefined ? { _meta: { progressToken: call.progressToken } } : {}),
      sendNotification: (notification) => reply.sendLine(JSON.stringify({ jsonrpc: '2.0', ...notification })),
    };
    let result: CallToolResult;
    try {
      result = await runTool(this.sidecar, compiled.tool, call.args, extra);
      if (!result.isError) {
        const checked = compiled.output.safeParse(result.structuredContent);
        if (!checked.success) {
          this.sidecar.log(`${compiled.tool.name}: its result does not fit its output schema: ${checked.error.message}`);
          result = { content: [{ type: 'text', text: `Output validation error: Invalid structured content for tool ${compiled.tool.name}` }], isError: true };
        }
      }
    } catch (err) {
      // runTool turns failures into isError results; this is a bug in the lane itself.
      this.sidecar.log(`${compiled.tool.name}: ${(err as Error).message}`);
      result = { content: [{ type: 'text', text: 'Internal error' }], isError: true };
    }
    if (this.running.get(id) === cancellation) this.running.delete(id);
    if (cancellation.aborted) return;
    await reply.sendLine(serializeToolResponse(id, result));
  }
}

/**
 * An AbortController made only when the tool looks at its signal: most calls (a read) never do, and making one
 * is a noticeable part of a small call.
 */
class Cancellation {
  private controller: AbortController | undefined;
  private reason: string | undefined;

  get aborted(): boolean {
    return this.reason !== undefined;
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.reason !== undefined) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  abort(reason: string): void {
    if (this.reason !== undefined) return;
    this.reason = reason;
    this.controller?.abort(reason);
  }
}

/** Text blocks this long or longer that the structured result repeats are escaped once and spliced in twice. */
const SHARED_TEXT_CHARS = 1024;

/**
 * `JSON.stringify({ jsonrpc, id, result })`, except that a long text block repeated as a top-level string of
 * `structuredContent` (same string) is escaped once: on Node 20 escaping costs about 3 µs per KB.
 */
export function serializeToolResponse(id: RequestId, result: CallToolResult): string {
  const shared = new Map<string, string>();
  for (const block of result.content) {
    if (block.type === 'text' && block.text.length >= SHARED_TEXT_CHARS && !shared.has(block.text)) shared.set(block.text, JSON.stringify(block.text));
  }
  const structured = result.structuredContent;
  const repeats = structured !== undefined && shared.size > 0 && Object.values(structured).some((v) => typeof v === 'string' && shared.has(v));
  if (!repeats) return JSON.stringify({ jsonrpc: '2.0', id, result });
  const parts: string[] = [];
  for (const [key, value] of Object.entries(result)) {
    if (value === undefined) continue;
    if (key === 'content') parts.push(`"content":[${result.content.map((b) => (b.type === 'text' && shared.has(b.text) && Object.keys(b).length === 2 ? `{"type":"text","text":${shared.get(b.text)!}}` : JSON.stringify(b))).join(',')}]`);
    else if (key === 'structuredContent') parts.push(`"structuredContent":${objectWith(structured!, shared)}`);
    else parts.push(`${JSON.stringify(key)}:${JSON.stringify(value)}`);
  }
  return `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":{${parts.join(',')}}}`;
}

function objectWith(value: Record<string, unknown>, shared: Map<string, string>): string {
  const parts: string[] = [];
  for (const [key, field] of Object.entries(value)) {
    const json = typeof field === 'string' ? (shared.get(field) ?? JSON.stringify(field)) : JSON.stringify(field);
    if (json !== undefined) parts.push(`${JSON.stringify(key)}:${json}`);
  }
  return `{${parts.join(',')}}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}
