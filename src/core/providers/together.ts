/**
 * Together AI through the official `together-ai` SDK. Its chat completions use the OpenAI wire shape, so the
 * mapping functions are the ones in openai.ts.
 */
import Together from 'together-ai';
import { runAttempt } from './failure';
import { assertEventStream, fromOpenAIChatCompletion, OpenAIStreamAccumulator, requestOptions, toOpenAIChatRequest } from './openai';
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
    const client = this.client;
    return runAttempt(this.id, limits, async (transport) => {
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
}
