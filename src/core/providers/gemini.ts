/**
 * Google Gemini through the official `@google/genai` SDK (the successor of `@google/generative-ai`, end of life
 * 2025-08-31). The SDK sends the key in the `x-goog-api-key` header, never as a `key=` query parameter.
 * Its retries are off unless `httpOptions.retryOptions` is set, which we never do; our guarded fetch goes in
 * through `httpOptions.fetch`.
 */
import { GoogleGenAI } from '@google/genai';
import { estimateTokens, MalformedResponseError, requestChars, runAttempt } from './failure';
import type { CallLimits, FinishReason, GenerationRequest, GenerationResult, Provider, ProviderConfig, ProviderKind } from './types';

export const GEMINI_DEFAULT_BASE_URL = 'https://generativelanguage.googleapis.com';

export interface GeminiRequest {
  model: string;
  contents: { role: 'user' | 'model'; parts: { text: string }[] }[];
  config: { systemInstruction?: string; maxOutputTokens?: number; temperature?: number };
}

/** System messages become the system instruction; assistant turns are Gemini's "model" role. */
export function toGeminiRequest(request: GenerationRequest): GeminiRequest {
  const system = request.messages.filter((m) => m.role === 'system').map((m) => m.content);
  const out: GeminiRequest = {
    model: request.model,
    contents: request.messages
      .filter((m) => m.role !== 'system')
      .map((m) => ({ role: m.role === 'assistant' ? ('model' as const) : ('user' as const), parts: [{ text: m.content }] })),
    config: {},
  };
  if (system.length > 0) out.config.systemInstruction = system.join('\n\n');
  if (request.maxTokens !== undefined) out.config.maxOutputTokens = request.maxTokens;
  if (request.temperature !== undefined) out.config.temperature = request.temperature;
  return out;
}

export function mapGeminiFinishReason(reason: unknown): FinishReason {
  switch (reason) {
    case 'STOP':
      return 'stop';
    case 'MAX_TOKENS':
      return 'length';
    case 'SAFETY':
    case 'RECITATION':
    case 'BLOCKLIST':
    case 'PROHIBITED_CONTENT':
    case 'SPII':
    case 'IMAGE_SAFETY':
      return 'content_filter';
    default:
      return reason === undefined || reason === null ? 'incomplete' : 'other';
  }
}

interface GeminiCandidate {
  content?: { parts?: { text?: unknown; thought?: unknown }[] };
  finishReason?: unknown;
}
interface GeminiUsage {
  promptTokenCount?: unknown;
  candidatesTokenCount?: unknown;
  thoughtsTokenCount?: unknown;
}
interface GeminiBody {
  candidates?: unknown;
  usageMetadata?: GeminiUsage;
  modelVersion?: unknown;
  promptFeedback?: { blockReason?: unknown };
}

function candidateText(candidate: GeminiCandidate | undefined): string {
  const parts = candidate?.content?.parts;
  if (!Array.isArray(parts)) return '';
  // Thought summaries are not part of the answer.
  return parts.map((p) => (typeof p?.text === 'string' && p.thought !== true ? p.text : '')).join('');
}

function geminiUsage(usage: GeminiUsage | undefined, inputChars: number, outputChars: number): Pick<GenerationResult, 'usage' | 'usageEstimated'> {
  if (usage && typeof usage.promptTokenCount === 'number') {
    const out = (typeof usage.candidatesTokenCount === 'number' ? usage.candidatesTokenCount : 0) + (typeof usage.thoughtsTokenCount === 'number' ? usage.thoughtsTokenCount : 0);
    return { usage: { inputTokens: usage.promptTokenCount, outputTokens: out }, usageEstimated: false };
  }
  return { usage: { inputTokens: estimateTokens(inputChars), outputTokens: estimateTokens(outputChars) }, usageEstimated: true };
}

function asBody(value: unknown): GeminiBody {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new MalformedResponseError('expected a JSON generateContent response');
  return value as GeminiBody;
}

/** A generateContent response → our result. A prompt blocked by safety is a content_filter result, not an error. */
export function fromGeminiResponse(value: unknown, request: GenerationRequest): GenerationResult {
  const body = asBody(value);
  const candidates = Array.isArray(body.candidates) ? (body.candidates as GeminiCandidate[]) : [];
  if (candidates.length === 0 && !body.promptFeedback?.blockReason) throw new MalformedResponseError('the response has no candidates');
  const text = candidateText(candidates[0]);
  const finishReason = candidates.length === 0 ? 'content_filter' : mapGeminiFinishReason(candidates[0]!.finishReason);
  return {
    text,
    model: typeof body.modelVersion === 'string' && body.modelVersion ? body.modelVersion : request.model,
    ...geminiUsage(body.usageMetadata, requestChars(request), text.length),
    finishReason,
    complete: finishReason === 'stop',
  };
}

/** Gemini streams have no [DONE]: a stream is whole when its last candidate chunk carried a finishReason. */
export class GeminiStreamAccumulator {
  private readonly parts: string[] = [];
  private chunks = 0;
  private finish: unknown;
  private usage?: GeminiUsage;
  private model?: string;
  private blocked = false;

  constructor(private readonly request: GenerationRequest) {}

  add(value: unknown): void {
    const body = asBody(value);
    this.chunks++;
    if (body.usageMetadata) this.usage = body.usageMetadata;
    if (typeof body.modelVersion === 'string' && body.modelVersion) this.model = body.modelVersion;
    if (body.promptFeedback?.blockReason) this.blocked = true;
    const candidate = Array.isArray(body.candidates) ? (body.candidates[0] as GeminiCandidate | undefined) : undefined;
    if (!candidate) return;
    this.parts.push(candidateText(candidate));
    if (candidate.finishReason !== undefined && candidate.finishReason !== null) this.finish = candidate.finishReason;
  }

  result(): GenerationResult {
    if (this.chunks === 0) throw new MalformedResponseError('the stream carried no events');
    const text = this.parts.join('');
    if (text === '' && this.finish === undefined && !this.blocked) throw new MalformedResponseError('the stream carried no candidates');
    const finishReason: FinishReason = this.blocked && this.finish === undefined ? 'content_filter' : mapGeminiFinishReason(this.finish);
    return {
      text,
      model: this.model ?? this.request.model,
      ...geminiUsage(this.usage, requestChars(this.request), text.length),
      finishReason,
      complete: finishReason === 'stop',
    };
  }
}

export class GeminiProvider implements Provider {
  readonly id: string;
  readonly kind: ProviderKind = 'gemini';
  constructor(private readonly config: ProviderConfig) {
    this.id = config.id;
  }

  generate(request: GenerationRequest, limits: CallLimits): Promise<GenerationResult> {
    return runAttempt(this.id, limits, async (transport) => {
      const client = new GoogleGenAI({
        apiKey: this.config.apiKey || 'no-key',
        // Explicit, so GOOGLE_GENAI_USE_VERTEXAI in the environment cannot switch backends under us.
        vertexai: false,
        httpOptions: { baseUrl: this.config.baseUrl || GEMINI_DEFAULT_BASE_URL, fetch: transport.fetch },
      });
      const params = toGeminiRequest(request);
      if (!request.stream) return fromGeminiResponse(await client.models.generateContent(params), request);
      const stream = await client.models.generateContentStream(params);
      const type = transport.record.contentType ?? '';
      if (!type.includes('event-stream')) throw new MalformedResponseError(`expected an event stream, got ${type.split(';')[0] || 'no content type'}`);
      const acc = new GeminiStreamAccumulator(request);
      for await (const chunk of stream) acc.add(chunk);
      return acc.result();
    });
  }
}
