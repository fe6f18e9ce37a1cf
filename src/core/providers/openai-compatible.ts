/**
 * Any OpenAI-compatible server (Ollama, LM Studio, llama.cpp, vLLM) through the official `openai` SDK.
 * Default base URL: Ollama's on loopback, the SPEC's local tier.
 */
import OpenAI from 'openai';
import { generateWithOpenAISdk, openAIClientOptions } from './openai';
import type { CallLimits, GenerationRequest, GenerationResult, Provider, ProviderConfig, ProviderKind } from './types';

export const OPENAI_COMPATIBLE_DEFAULT_BASE_URL = 'http://127.0.0.1:11434/v1';

export class OpenAICompatibleProvider implements Provider {
  readonly id: string;
  readonly kind: ProviderKind = 'openai-compatible';
  private readonly client: OpenAI;
  constructor(config: ProviderConfig) {
    this.id = config.id;
    this.client = new OpenAI(openAIClientOptions(config, OPENAI_COMPATIBLE_DEFAULT_BASE_URL));
  }
  generate(request: GenerationRequest, limits: CallLimits): Promise<GenerationResult> {
    return generateWithOpenAISdk(this.id, this.client, request, limits);
  }
}
