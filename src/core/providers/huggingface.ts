/**
 * Hugging Face through the official `@huggingface/inference` SDK (InferenceClient chat completion).
 * We always give it an endpoint URL — by default the HF router's OpenAI-compatible /v1 — so no model-to-provider
 * lookup call is made and any token shape works. Its chat completion speaks the OpenAI wire shape.
 */
import { InferenceClient } from '@huggingface/inference';
import { runAttempt } from './failure';
import { assertEventStream, fromOpenAIChatCompletion, OpenAIStreamAccumulator, toOpenAIChatRequest } from './openai';
import type { CallLimits, GenerationRequest, GenerationResult, Provider, ProviderConfig, ProviderKind } from './types';

export const HUGGINGFACE_DEFAULT_BASE_URL = 'https://router.huggingface.co/v1';

export class HuggingFaceProvider implements Provider {
  readonly id: string;
  readonly kind: ProviderKind = 'huggingface';
  constructor(private readonly config: ProviderConfig) {
    this.id = config.id;
  }

  generate(request: GenerationRequest, limits: CallLimits): Promise<GenerationResult> {
    return runAttempt(this.id, limits, async (transport) => {
      const client = new InferenceClient(this.config.apiKey ?? '', {
        endpointUrl: this.config.baseUrl || HUGGINGFACE_DEFAULT_BASE_URL,
        // The SDK otherwise retries every 503 again and again, without limit; the router owns retries.
        retry_on_error: false,
        fetch: transport.fetch,
      });
      const { stream, stream_options, ...args } = toOpenAIChatRequest(request);
      if (!stream) {
        const completion: unknown = await client.chatCompletion(args);
        return fromOpenAIChatCompletion(completion, request);
      }
      const acc = new OpenAIStreamAccumulator(request);
      let checked = false;
      try {
        for await (const chunk of client.chatCompletionStream({ ...args, stream_options })) {
          if (!checked) {
            assertEventStream(transport);
            checked = true;
          }
          acc.add(chunk);
        }
      } catch (err) {
        // The SDK rejects a non-SSE 200 itself, with an error that reads like a provider error: it is a bad body.
        if (!checked && transport.record.status !== undefined && transport.record.status < 400) assertEventStream(transport);
        throw err;
      }
      return acc.result(transport.record.sawSseDone);
    });
  }
}
