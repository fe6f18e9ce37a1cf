/**
 * The fake provider server as the VS Code suites use it: started in the runner's own process, reached by the
 * sidecar through SWITCHBOARD_<ID>_BASE_URL, scripted by tests in the extension host over its /__control API.
 * Keys are not set here: the extension-host suite stores one through SecretStorage, as a user would.
 */
import type { FakeProviderServer } from '../fakes/provider-server';

/** Where extension-host tests find the fake's control API. */
export const FAKE_ORIGIN_ENV = 'SWITCHBOARD_TEST_FAKE_PROVIDER_ORIGIN';

export function fakeProviderEnv(fake: FakeProviderServer): NodeJS.ProcessEnv {
  return {
    [FAKE_ORIGIN_ENV]: fake.origin,
    SWITCHBOARD_GEMINI_BASE_URL: fake.baseUrl('gemini'),
    SWITCHBOARD_OPENAI_BASE_URL: fake.baseUrl('openai'),
    SWITCHBOARD_TOGETHER_BASE_URL: fake.baseUrl('together'),
    SWITCHBOARD_HUGGINGFACE_BASE_URL: fake.baseUrl('huggingface'),
  };
}
