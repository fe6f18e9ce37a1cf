/**
 * Together AI through the official `together-ai` SDK. Its chat completions use the OpenAI wire shape, so the
 * mapping functions are the ones in openai.ts.
 */
import Together from 'together-ai';
import { generateWithOpenAISdk, type ChatCompletionsClient } from './openai';
import { dispatchToTransport } from './transport';
import type { CallLimits, GenerationRequest, GenerationResult, Provider, ProviderConfig, ProviderKind } from './types';

export const TOGETHER_DEFAULT_BASE_URL = 'https://api.together.ai/v1';

export class TogetherProvider implements Provider {
  readonly id: string;
  readonly kind: ProviderKind = 'together';
  /** Built once; each attempt's guarded transport travels with its request (requestOptions). */
  private readonly client: Together;
  constructor(config: ProviderConfig) {
    this.id = config.id;
    this.client = new Together({
      apiKey: config.apiKey || 'no-key',
      // Explicit, so TOGETHER_BASE_URL in the environment cannot silently redirect the key.
      baseURL: config.baseUrl || TOGETHER_DEFAULT_BASE_URL,
      maxRetries: 0,
      fetch: dispatchToTransport,
    });
  }

  generate(request: GenerationRequest, limits: CallLimits): Promise<GenerationResult> {
    // together-ai's types are its own, but its chat-completions call takes and returns the OpenAI wire shapes.
    return generateWithOpenAISdk(this.id, this.client as unknown as ChatCompletionsClient, request, limits);
  }
}
