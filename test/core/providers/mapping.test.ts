/** The pure request/response mappings, offline. */
import assert from 'node:assert/strict';
import { MalformedResponseError } from '../../../src/core/providers/failure';
import { fromGeminiResponse, GeminiStreamAccumulator, mapGeminiFinishReason, toGeminiRequest } from '../../../src/core/providers/gemini';
import { fromOpenAIChatCompletion, mapOpenAIFinishReason, OpenAIStreamAccumulator, toOpenAIChatRequest } from '../../../src/core/providers/openai';
import type { GenerationRequest } from '../../../src/core/providers/types';

const REQ: GenerationRequest = {
  model: 'm1',
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Hi' },
    { role: 'assistant', content: 'Hello' },
    { role: 'user', content: 'Again' },
  ],
};

describe('OpenAI-style mapping', () => {
  it('maps a request, adding usage to streams and leaving unset options out', () => {
    assert.deepEqual(toOpenAIChatRequest(REQ), { model: 'm1', messages: REQ.messages });
    assert.deepEqual(toOpenAIChatRequest({ ...REQ, maxTokens: 100, temperature: 0, stream: true }), {
      model: 'm1',
      messages: REQ.messages,
      max_tokens: 100,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it('maps a completion with usage', () => {
    const r = fromOpenAIChatCompletion({ model: 'm1-0613', choices: [{ message: { content: 'Yo' }, finish_reason: 'stop' }], usage: { prompt_tokens: 5, completion_tokens: 2 } }, REQ);
    assert.deepEqual(r, { text: 'Yo', model: 'm1-0613', usage: { inputTokens: 5, outputTokens: 2 }, usageEstimated: false, finishReason: 'stop', complete: true });
  });

  it('marks a length-cut completion incomplete and estimates missing usage', () => {
    const r = fromOpenAIChatCompletion({ choices: [{ message: { content: 'abcdefgh' }, finish_reason: 'length' }] }, REQ);
    assert.equal(r.finishReason, 'length');
    assert.equal(r.complete, false);
    assert.equal(r.model, 'm1');
    assert.equal(r.usageEstimated, true);
    assert.deepEqual(r.usage, { inputTokens: Math.ceil('Be brief.HiHelloAgain'.length / 4), outputTokens: 2 });
  });

  it('accepts content parts and null content', () => {
    assert.equal(fromOpenAIChatCompletion({ choices: [{ message: { content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }, finish_reason: 'stop' }] }, REQ).text, 'ab');
    assert.equal(fromOpenAIChatCompletion({ choices: [{ message: { content: null }, finish_reason: 'stop' }] }, REQ).text, '');
  });

  it('rejects bodies that are not completions', () => {
    for (const body of ['<html>', null, [], {}, { choices: [] }, { choices: [{ message: {} }] }, new Blob(['<html>'], { type: 'text/html' })]) {
      assert.throws(() => fromOpenAIChatCompletion(body, REQ), MalformedResponseError, JSON.stringify(body));
    }
  });

  it('maps finish reasons', () => {
    assert.equal(mapOpenAIFinishReason('stop'), 'stop');
    assert.equal(mapOpenAIFinishReason('eos_token'), 'stop');
    assert.equal(mapOpenAIFinishReason('length'), 'length');
    assert.equal(mapOpenAIFinishReason('content_filter'), 'content_filter');
    assert.equal(mapOpenAIFinishReason('tool_calls'), 'other');
    assert.equal(mapOpenAIFinishReason(null), 'incomplete');
  });

  it('accumulates a stream; without [DONE] the result is incomplete', () => {
    const chunks = [
      { model: 'm1-x', choices: [{ index: 0, delta: { role: 'assistant', content: 'Hel' }, finish_reason: null }] },
      { choices: [{ index: 0, delta: { content: 'lo' }, finish_reason: null }, { index: 1, delta: { content: 'IGNORED' } }] },
      { choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] },
      { choices: [], usage: { prompt_tokens: 3, completion_tokens: 2 } },
    ];
    const whole = new OpenAIStreamAccumulator(REQ);
    chunks.forEach((c) => whole.add(c));
    assert.deepEqual(whole.result(true), { text: 'Hello', model: 'm1-x', usage: { inputTokens: 3, outputTokens: 2 }, usageEstimated: false, finishReason: 'stop', complete: true });
    const cut = new OpenAIStreamAccumulator(REQ);
    chunks.forEach((c) => cut.add(c));
    const r = cut.result(false);
    assert.equal(r.text, 'Hello');
    assert.equal(r.complete, false);
    assert.equal(r.finishReason, 'incomplete');
  });

  it('rejects empty streams and non-object events', () => {
    assert.throws(() => new OpenAIStreamAccumulator(REQ).result(true), MalformedResponseError);
    const noChoices = new OpenAIStreamAccumulator(REQ);
    noChoices.add({ choices: [] });
    assert.throws(() => noChoices.result(true), /no choices/);
    assert.throws(() => new OpenAIStreamAccumulator(REQ).add('data'), MalformedResponseError);
  });
});

describe('Gemini mapping', () => {
  it('puts system messages in the system instruction and maps roles and options', () => {
    assert.deepEqual(toGeminiRequest({ ...REQ, maxTokens: 50, temperature: 0.5 }), {
      model: 'm1',
      contents: [
        { role: 'user', parts: [{ text: 'Hi' }] },
        { role: 'model', parts: [{ text: 'Hello' }] },
        { role: 'user', parts: [{ text: 'Again' }] },
      ],
      config: { systemInstruction: 'Be brief.', maxOutputTokens: 50, temperature: 0.5 },
    });
    assert.deepEqual(toGeminiRequest({ model: 'm', messages: [{ role: 'user', content: 'x' }] }).config, {});
  });

  it('maps a response, skipping thought parts and counting thinking tokens as output', () => {
    const r = fromGeminiResponse(
      {
        candidates: [{ content: { parts: [{ text: 'thinking...', thought: true }, { text: 'An' }, { text: 'swer' }] }, finishReason: 'STOP' }],
        usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 4, thoughtsTokenCount: 6 },
        modelVersion: 'gemini-2.5-flash-001',
      },
      REQ,
    );
    assert.deepEqual(r, { text: 'Answer', model: 'gemini-2.5-flash-001', usage: { inputTokens: 10, outputTokens: 10 }, usageEstimated: false, finishReason: 'stop', complete: true });
  });

  it('maps MAX_TOKENS and safety stops as incomplete; a blocked prompt is a content_filter result', () => {
    assert.equal(fromGeminiResponse({ candidates: [{ content: { parts: [{ text: 'a' }] }, finishReason: 'MAX_TOKENS' }] }, REQ).finishReason, 'length');
    const blocked = fromGeminiResponse({ promptFeedback: { blockReason: 'SAFETY' } }, REQ);
    assert.equal(blocked.finishReason, 'content_filter');
    assert.equal(blocked.complete, false);
    assert.equal(mapGeminiFinishReason('SAFETY'), 'content_filter');
    assert.equal(mapGeminiFinishReason('MALFORMED_FUNCTION_CALL'), 'other');
    assert.equal(mapGeminiFinishReason(undefined), 'incomplete');
  });

  it('rejects responses without candidates', () => {
    for (const body of [{ candidates: [] }, {}, 'text', null]) assert.throws(() => fromGeminiResponse(body, REQ), MalformedResponseError);
  });

  it('accumulates a stream; without a final finishReason it is incomplete', () => {
    const whole = new GeminiStreamAccumulator(REQ);
    whole.add({ candidates: [{ content: { parts: [{ text: 'Hel' }] } }] });
    whole.add({ candidates: [{ content: { parts: [{ text: 'lo' }] }, finishReason: 'STOP' }], usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 2 } });
    assert.deepEqual(whole.result(), { text: 'Hello', model: 'm1', usage: { inputTokens: 3, outputTokens: 2 }, usageEstimated: false, finishReason: 'stop', complete: true });
    const cut = new GeminiStreamAccumulator(REQ);
    cut.add({ candidates: [{ content: { parts: [{ text: 'Hel' }] } }] });
    assert.equal(cut.result().complete, false);
    assert.equal(cut.result().finishReason, 'incomplete');
    assert.throws(() => new GeminiStreamAccumulator(REQ).result(), MalformedResponseError);
  });
});
