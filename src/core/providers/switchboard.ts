/**
 * A team server as a provider (`kind: switchboard`): the local router hands the generation to a Switchboard
 * team server, which routes it again with the team's keys, quotas and budgets. Files are still written locally,
 * behind the local policy and backups, by whoever asked for the generation.
 *
 * It speaks the three JSON-RPC calls it needs (initialize, notifications/initialized, tools/call delegate) over
 * the guarded fetch, so src/core stays free of the MCP SDK; the answer may come as JSON or as an SSE stream.
 * baseUrl is the server's MCP endpoint (…/mcp); the bearer token comes from the variable `apiKeyEnv` names.
 */
import { MalformedResponseError, runAttempt } from './failure';
import type { GuardedTransport } from './transport';
import { ProviderError, type CallLimits, type FinishReason, type GenerationRequest, type GenerationResult, type Provider, type ProviderConfig, type ProviderKind } from './types';

/** The protocol revision we speak; servers that only know an older one answer with theirs, which we accept. */
export const SWITCHBOARD_PROTOCOL_VERSION = '2025-11-25';
/** The model id that lets the team server choose (any other id is passed as the team server's provider). */
export const SWITCHBOARD_AUTO_MODEL = 'auto';

interface JsonRpcResponse {
  jsonrpc: '2.0';
  id?: number | string;
  result?: Record<string, unknown>;
  error?: { code: number; message: string };
}

interface DelegateStructured {
  provider?: string;
  model?: string;
  input_tokens?: number;
  output_tokens?: number;
  complete?: boolean;
}

export class SwitchboardProvider implements Provider {
  readonly id: string;
  readonly kind: ProviderKind = 'switchboard';

  constructor(private readonly config: ProviderConfig) {
    this.id = config.id;
  }

  generate(request: GenerationRequest, limits: CallLimits): Promise<GenerationResult> {
    return runAttempt(this.id, limits, async (transport) => {
      const url = this.config.baseUrl;
      if (!url) throw new ProviderError(this.id, 'bad_request', `${this.id}: a switchboard provider needs baseUrl (the team server's /mcp URL)`);
      const session = new Session(this.id, url, this.config.apiKey, transport);
      const init = await session.call('initialize', {
        protocolVersion: SWITCHBOARD_PROTOCOL_VERSION,
        capabilities: {},
        clientInfo: { name: 'switchboard-sidecar', version: '1' },
      });
      session.protocolVersion = typeof init.protocolVersion === 'string' ? init.protocolVersion : SWITCHBOARD_PROTOCOL_VERSION;
      await session.notify('notifications/initialized');
      const system = request.messages.filter((m) => m.role === 'system').map((m) => m.content).join('\n\n');
      const prompt = request.messages.filter((m) => m.role !== 'system').map((m) => m.content).join('\n\n');
      const args: Record<string, unknown> = { task: request.task ?? 'code', prompt, ...(system ? { system } : {}) };
      if (request.model && request.model !== SWITCHBOARD_AUTO_MODEL) args.provider = request.model;
      if (request.maxTokens) args.max_tokens = request.maxTokens;
      const result = await session.call('tools/call', { name: 'delegate', arguments: args });
      const content = Array.isArray(result.content) ? (result.content as Array<{ type?: string; text?: string }>) : [];
      const text = content[0]?.type === 'text' && typeof content[0].text === 'string' ? content[0].text : undefined;
      if (result.isError === true) {
        // The team server could not route it (its budgets, quotas or providers): another local candidate may.
        throw new ProviderError(this.id, 'server_error', `${this.id}: the team server refused: ${(text ?? 'no message').split('\n')[0]!.slice(0, 300)}`);
      }
      if (text === undefined) throw new MalformedResponseError('the team server answered delegate without text');
      const structured = (result.structuredContent ?? {}) as DelegateStructured;
      const complete = structured.complete !== false;
      const finishReason: FinishReason = complete ? 'stop' : 'incomplete';
      const inputTokens = Number.isFinite(structured.input_tokens) ? Number(structured.input_tokens) : 0;
      const outputTokens = Number.isFinite(structured.output_tokens) ? Number(structured.output_tokens) : 0;
      return {
        text,
        model: structured.provider && structured.model ? `${structured.provider}/${structured.model}` : request.model,
        usage: { inputTokens, outputTokens },
        usageEstimated: structured.input_tokens === undefined,
        finishReason,
        complete,
      };
    });
  }
}

/** One short MCP exchange over HTTP: each POST carries the session id (if the server set one) and the token. */
class Session {
  protocolVersion: string | undefined;
  private sessionId: string | undefined;
  private nextId = 1;

  constructor(
    private readonly providerId: string,
    private readonly url: string,
    private readonly token: string | undefined,
    private readonly transport: GuardedTransport,
  ) {}

  private headers(): Record<string, string> {
    const h: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    if (this.token) h.authorization = `Bearer ${this.token}`;
    if (this.sessionId) h['mcp-session-id'] = this.sessionId;
    if (this.protocolVersion) h['mcp-protocol-version'] = this.protocolVersion;
    return h;
  }

  async notify(method: string): Promise<void> {
    const res = await this.transport.fetch(this.url, { method: 'POST', headers: this.headers(), body: JSON.stringify({ jsonrpc: '2.0', method }) });
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`HTTP ${res.status} for ${method}`);
  }

  async call(method: string, params: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    const res = await this.transport.fetch(this.url, { method: 'POST', headers: this.headers(), body: JSON.stringify({ jsonrpc: '2.0', id, method, params }) });
    const session = res.headers.get('mcp-session-id');
    if (session) this.sessionId = session;
    const body = await res.text();
    if (!res.ok) throw new Error(`HTTP ${res.status} for ${method}`);
    const type = res.headers.get('content-type') ?? '';
    const messages = type.includes('text/event-stream') ? sseMessages(body) : [parseJson(body)];
    const reply = messages.find((m): m is JsonRpcResponse => !!m && typeof m === 'object' && (m as JsonRpcResponse).id === id);
    if (!reply) throw new MalformedResponseError(`no answer to ${method} in the team server's response`);
    if (reply.error) throw new ProviderError(this.providerId, reply.error.code === -32602 ? 'bad_request' : 'server_error', `${this.providerId}: ${method}: ${String(reply.error.message).slice(0, 300)}`);
    if (!reply.result || typeof reply.result !== 'object') throw new MalformedResponseError(`${method}: the answer has no result`);
    return reply.result;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new MalformedResponseError('the team server answered with something that is not JSON');
  }
}

/** The JSON-RPC messages in an SSE body (events separated by blank lines, each `data:` line part of one). */
function sseMessages(body: string): unknown[] {
  const out: unknown[] = [];
  for (const event of body.split(/\r?\n\r?\n/)) {
    const data = event.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n');
    if (data) out.push(parseJson(data));
  }
  return out;
}
