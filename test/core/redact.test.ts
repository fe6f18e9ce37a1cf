/**
 * The two redactions: content keeps every byte except the user's own key values; logs, errors and summaries are
 * masked by pattern as well. Server arguments carrying tokens are masked for display.
 */
import assert from 'node:assert/strict';
import { addSecretEnvNames, addSecretValues, maskCommandArgs, maskKnownSecrets, redact, resetSecretValues } from '../../src/core/redact';

const CUSTOM_KEY = 'corpkey' + 'Xy8Wv7Ut6'.repeat(3);
const OPENAI_KEY = 'sk-proj-' + 'Qz9'.repeat(12);

describe('redact: fidelity for content, patterns for logs', () => {
  afterEach(() => resetSecretValues());

  it('maskKnownSecrets keeps ordinary code (token, password, Bearer, ?key=) byte for byte', () => {
    const code = 'const token = getToken();\npassword: hunter2\nAuthorization: Bearer abcdefghijklmnop\nfetch(`/x?key=${k}`)\nsk-proj-EXAMPLEexampleEXAMPLE12345\n';
    assert.equal(maskKnownSecrets(code, { OPENAI_API_KEY: OPENAI_KEY }), code);
    assert.notEqual(redact(code, {}), code, 'while log redaction still masks these shapes');
  });

  it('maskKnownSecrets masks the user\'s keys: standard variables, registered apiKeyEnv names, editor keys', () => {
    const editorKey = 'editor' + 'Key123456789'.repeat(2);
    addSecretValues([editorKey]);
    const env = { OPENAI_API_KEY: OPENAI_KEY, CORP_KEY: CUSTOM_KEY };
    const text = `a=${OPENAI_KEY} b=${CUSTOM_KEY} c=${editorKey}`;
    assert.equal(maskKnownSecrets(text, env), `a=[REDACTED] b=${CUSTOM_KEY} c=[REDACTED]`, 'an unregistered variable is not a key');
    addSecretEnvNames(['CORP_KEY']);
    assert.equal(maskKnownSecrets(text, env), 'a=[REDACTED] b=[REDACTED] c=[REDACTED]');
    assert.equal(redact(`provider said: ${CUSTOM_KEY}`, env), 'provider said: [REDACTED]', 'log redaction uses them too');
  });

  it('log redaction masks GitHub, Slack and AWS tokens by shape', () => {
    const line = `ghp_${'a1B2'.repeat(9)} xoxb-123456789012-${'zz'.repeat(8)} AKIAQWERTYUIOPASDFGH github_pat_${'Z9'.repeat(20)}`;
    assert.equal(redact(line, {}), '[REDACTED] [REDACTED] [REDACTED] [REDACTED]');
  });

  it('maskCommandArgs masks flag values, --flag=value, NAME=value and token shapes; keeps references and the rest', () => {
    const args = ['-y', 'server', '--token', 'opaqueValue123', '--api-key=abc123def456', '-e', 'GITHUB_TOKEN=plainvalue', `xoxp-1234567890-${'q'.repeat(12)}`, '--key', '${MY_KEY}', '--port', '8080'];
    assert.deepEqual(maskCommandArgs(args, {}), ['-y', 'server', '--token', '[REDACTED]', '--api-key=[REDACTED]', '-e', 'GITHUB_TOKEN=[REDACTED]', '[REDACTED]', '--key', '${MY_KEY}', '--port', '8080']);
    assert.deepEqual(maskCommandArgs(['--no-auth', 'server.js', '--auth-type', 'bearer'], {}), ['--no-auth', 'server.js', '--auth-type', 'bearer'], 'switches and their neighbours stay');
  });
});
