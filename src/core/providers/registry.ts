/** Builds the Provider for a resolved configuration: one class per kind, each through its official SDK. */
import { UserError } from '../errors';
import { resolveProviderConfig, type ProviderEntry } from './env';
import { GeminiProvider } from './gemini';
import { HuggingFaceProvider } from './huggingface';
import { OpenAIProvider } from './openai';
import { OpenAICompatibleProvider } from './openai-compatible';
import { SwitchboardProvider } from './switchboard';
import { TogetherProvider } from './together';
import type { Provider, ProviderConfig } from './types';

export function createProvider(config: ProviderConfig): Provider {
  switch (config.kind) {
    case 'openai':
      return new OpenAIProvider(config);
    case 'openai-compatible':
      return new OpenAICompatibleProvider(config);
    case 'gemini':
      return new GeminiProvider(config);
    case 'huggingface':
      return new HuggingFaceProvider(config);
    case 'together':
      return new TogetherProvider(config);
    case 'switchboard':
      return new SwitchboardProvider(config);
    default:
      throw new UserError(`unknown provider kind "${String((config as { kind?: unknown }).kind)}" for provider "${config.id}"`, 'bad_provider_kind');
  }
}

/** Resolves key and base URL from the environment and router.yaml, then builds the provider. */
export function createProviderFromEntry(entry: ProviderEntry, env: NodeJS.ProcessEnv = process.env): Provider {
  return createProvider(resolveProviderConfig(entry, env));
}
