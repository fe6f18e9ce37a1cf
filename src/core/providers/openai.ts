/**
 * OpenAI through the official `openai` SDK. The chat-completions wire format defined here (request mapping,
 * response mapping, stream accumulation) is shared by Together, Hugging Face and OpenAI-compatible local servers.
 */
import OpenAI from 'openai';
import { estimateTokens, MalformedResponseError, requestChars, runAttempt } from './failure';
import { dispatchToTransport, transportFetchOptions, type GuardedTransport } from './transport';
import type { CallLimits, FinishReason, GenerationRequest, GenerationResult, Provider, ProviderConfig, ProviderKind } from './types';

export const OPENAI_DEFAULT_BASE_URL = 'https://api.openai.com/v1';

/** Body of POST /chat/completions (the subset we send). */
export interface OpenAIChatRequest {
  model: string;
  messages: { role: 'system' | 'user' | 'assistant'; content: string }[];
  max_tokens?: number;
  temperature?: number;
  stream?: boolean;
  stream_options?: { include_usage: boolean };
}

export function toOpenAIChatRequest(request: GenerationRequest): OpenAIChatRequest {
  const body: OpenAIChatRequest = {
    model: request.model,
    messages: request.messages.map((m) => ({ role: m.role, content: m.content })),
  };
  if (request.maxTokens !== undefined) body.max_tokens = request.maxTokens;
  if (request.temperature !== undefined) body.temperature = request.temperature;
  if (request.stream) {
    body.stream = true;
    // Without this, streams carry no usage and we would have to estimate it.
    body.stream_options = { include_usage: true };
  }
  return body;
}

export function mapOpenAIFinishReason(reason: unknown): FinishReason {
  switch (reason) {
    case 'stop':
    case 'eos_token':
    case 'stop_sequence':
      return 'stop';
    case 'length':
    case 'max_tokens':
      return 'length';
    case 'content_filter':
      return 'content_filter';
    default:
      return reason === null || reason === undefined ? 'incomplete' : 'other';
  }
}

interface OpenAIUsage {
  prompt_tokens?: unknown;
  completion_tokens?: unknown;
}

function usageOrEstimate(usage: OpenAIUsage | null | undefined, inputChars: number, outputChars: number): Pick<GenerationResult, 'usage' | 'usageEstimated'> {
  if (usage && typeof usage.prompt_tokens === 'number' && typeof usage.completion_tokens === 'number') {
    return { usage: { inputTokens: usage.prompt_tokens, outputTokens: usage.completion_tokens }, usageEstimated: false };
  }
  return { usage: { inputTokens: estimateTokens(inputChars), outputTokens: estimateTokens(outputChars) }, usageEstimated: true };
}

function messageText(content: unknown): string | undefined {
  if (typeof content === 'string') return content;
  if (content === null) return '';
  // Some compatible servers return content parts.
  if (Array.isArray(content)) return content.map((p) => (typeof p === 'string' ? p : typeof p?.text === 'string' ? p.text : '')).join('');
  return undefined;
}

/** A non-streamed chat completion body → our result. Throws MalformedResponseError for anything else. */
export function fromOpenAIChatCompletion(body: unknown, request: GenerationRequest): GenerationResult {
  // The HF SDK hands back a Blob for a non-JSON 200.
  if (typeof Blob !== 'undefined' && body instanceof Blob) throw new MalformedResponseError(`expected a JSON chat completion, got ${body.type || 'a non-JSON body'}`);
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new MalformedResponseError(typeof body === 'string' ? 'expected a JSON chat completion, got text' : 'expected a JSON chat completion');
  }
  const b = body as { choices?: unknown; model?: unknown; usage?: OpenAIUsage | null };
  if (!Array.isArray(b.choices) || b.choices.length === 0) throw new MalformedResponseError('the completion has no choices');
  const choice = b.choices[0] as { message?: { content?: unknown }; finish_reason?: unknown };
  const text = messageText(choice?.message?.content);
  if (text === undefined) throw new MalformedResponseError('the first choice has no message content');
  const finishReason = mapOpenAIFinishReason(choice.finish_reason);
  return {
    text,
    model: typeof b.model === 'string' && b.model ? b.model : request.model,
    ...usageOrEstimate(b.usage, requestChars(request), text.length),
    finishReason,
    complete: finishReason === 'stop',
  };
}

/** Accumulates streamed chat-completion chunks (OpenAI, Together, HF and compatible servers send the same shape). */
export class OpenAIStreamAccumulator {
  private readonly parts: string[] = [];
  private chunks = 0;
  private model?: string;
  private finish: unknown = null;
  private usage?: OpenAIUsage;

  constructor(private readonly request: GenerationRequest) {}

  add(chunk: unknown): void {
    if (!chunk || typeof chunk !== 'object') throw new MalformedResponseError('a stream event is not a JSON object');
    const c = chunk as { model?: unknown; choices?: unknown; usage?: OpenAIUsage | null };
    this.chunks++;
    if (typeof c.model === 'string' && c.model) this.model = c.model;
    if (c.usage) this.usage = c.usage;
    if (!Array.isArray(c.choices)) return;
    for (const choice of c.choices as { index?: number; delta?: { content?: unknown }; finish_reason?: unknown }[]) {
      if ((choice?.index ?? 0) !== 0) continue;
      const piece = messageText(choice.delta?.content);
      if (piece) this.parts.push(piece);
      if (choice.finish_reason !== null && choice.finish_reason !== undefined) this.finish = choice.finish_reason;
    }
  }

  /** `sawEndMarker`: the SSE body reached `data: [DONE]`. Without it the answer may be cut, so it is not complete. */
  result(sawEndMarker: boolean): GenerationResult {
    if (this.chunks === 0) throw new MalformedResponseError('the stream carried no events');
    const text = this.parts.join('');
    const mapped = mapOpenAIFinishReason(this.finish);
    if (this.finish === null && text === '') throw new MalformedResponseError('the stream carried no choices');
    const finishReason: FinishReason = sawEndMarker ? mapped : 'incomplete';
    return {
      text,
      model: this.model ?? this.request.model,
      ...usageOrEstimate(this.usage, requestChars(this.request), text.length),
      finishReason,
      complete: finishReason === 'stop',
    };
  }
}

/** Stream responses must be SSE; anything else (HTML, JSON) is not a stream whatever the SDK makes of it. */
export function assertEventStream(transport: GuardedTransport): void {
  const type = transport.record.contentType ?? '';
  if (!type.includes('event-stream')) throw new MalformedResponseError(`expected an event stream, got ${type.split(';')[0] || 'no content type'}`);
}

/**
 * SDK client options that must never come from the environment or the SDK's own defaults. The client is built
 * once per provider; each attempt's guarded transport travels with its request (requestOptions).
 */
export function openAIClientOptions(config: ProviderConfig, defaultBaseUrl: string) {
  return {
    // A local server may need no key, but the SDK requires one; a placeholder keeps OPENAI_API_KEY from leaking to it.
    apiKey: config.apiKey || 'no-key',
    baseURL: config.baseUrl || defaultBaseUrl,
    organization: null,
    project: null,
    maxRetries: 0,
    fetch: dispatchToTransport,
  };
}

/** Per-request SDK options for one attempt (OpenAI and Together clients take the same ones). */
export function requestOptions(transport: GuardedTransport, limits: CallLimits): { timeout: number; fetchOptions: Record<never, never> } {
  // Our transport's deadline fires first; this only keeps the SDK's own 10-minute default out of the way.
  // Whole milliseconds: the SDK rejects a fractional per-request timeout.
  return { timeout: Math.ceil(limits.totalDeadlineMs) + 5_000, fetchOptions: transportFetchOptions(transport) };
}

/**
 * The part of an SDK client this needs. The together-ai SDK's client has the same OpenAI-shaped
 * `chat.completions.create(body, options)`, so Together shares this one attempt too.
 */
export type ChatCompletionsClient = Pick<OpenAI, 'chat'>;

/** One attempt through an OpenAI-shaped SDK client (OpenAI, openai-compatible servers, Together). */
export async function generateWithOpenAISdk(
  providerId: string,
  client: ChatCompletionsClient,
  request: GenerationRequest,
  limits: CallLimits,
): Promise<GenerationResult> {
  return runAttempt(providerId, limits, async (transport) => {
    const options = requestOptions(transport, limits);
    const body = toOpenAIChatRequest(request);
    if (!body.stream) {
      const completion: unknown = await client.chat.completions.create({ ...body, stream: false }, options);
      return fromOpenAIChatCompletion(completion, request);
    }
    const stream = await client.chat.completions.create({ ...body, stream: true }, options);
    assertEventStream(transport);
    const acc = new OpenAIStreamAccumulator(request);
    for await (const chunk of stream) acc.add(chunk);
    return acc.result(transport.record.sawSseDone);
  });
}

export class OpenAIProvider implements Provider {
  readonly id: string;
  readonly kind: ProviderKind = 'openai';
  private readonly client: OpenAI;
  constructor(config: ProviderConfig) {
    this.id = config.id;
    this.client = new OpenAI(openAIClientOptions(config, OPENAI_DEFAULT_BASE_URL));
  }
  generate(request: GenerationRequest, limits: CallLimits): Promise<GenerationResult> {
    return generateWithOpenAISdk(this.id, this.client, request, limits);
  }
}
