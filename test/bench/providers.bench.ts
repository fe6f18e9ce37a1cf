/**
 * Provider layer overhead: our Provider.generate (fresh SDK client + guarded fetch + mapping per call) against a
 * direct call through the same SDK with a reused client, both to the same loopback fake endpoint, interleaved in
 * the same run so drift hits both alike. `openai_stream_200_events`: the same for a 200-chunk stream (see longStream).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import { createProvider } from '../../src/core/providers/registry';
import { GuardedTransport } from '../../src/core/providers/transport';
import { DEFAULT_CALL_LIMITS, type ProviderKind } from '../../src/core/providers/types';
import { startFakeProviderServer } from '../fakes/provider-server';
import { ratio, round, summary } from './stats';

const N = 400;
const WARMUP = 50;

async function interleaved(a: () => Promise<unknown>, b: () => Promise<unknown>, n = N, warmup = WARMUP): Promise<{ a: number[]; b: number[] }> {
  for (let i = 0; i < warmup; i++) {
    await a();
    await b();
  }
  const out = { a: [] as number[], b: [] as number[] };
  for (let i = 0; i < n; i++) {
    for (const [fn, into] of i % 2 ? ([[a, out.a], [b, out.b]] as const) : ([[b, out.b], [a, out.a]] as const)) {
      const t0 = process.hrtime.bigint();
      await fn();
      into.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }
  return out;
}

export async function run(): Promise<object> {
  const server = await startFakeProviderServer();
  const messages = [{ role: 'user' as const, content: 'Write a unit test for add(a, b).' }];
  const results: Record<string, unknown> = {};
  try {
    const openaiDirect = new OpenAI({ apiKey: 'sk-bench', baseURL: server.baseUrl('openai'), maxRetries: 0 });
    const geminiDirect = new GoogleGenAI({ apiKey: 'AIza-bench', httpOptions: { baseUrl: server.baseUrl('gemini') } });
    const direct: Partial<Record<ProviderKind, (stream: boolean) => Promise<unknown>>> = {
      openai: async (stream) => {
        if (!stream) return openaiDirect.chat.completions.create({ model: 'm', messages });
        const s = await openaiDirect.chat.completions.create({ model: 'm', messages, stream: true, stream_options: { include_usage: true } });
        for await (const chunk of s) void chunk;
      },
      gemini: async (stream) => {
        if (!stream) return geminiDirect.models.generateContent({ model: 'm', contents: messages[0]!.content });
        for await (const chunk of await geminiDirect.models.generateContentStream({ model: 'm', contents: messages[0]!.content })) void chunk;
      },
    };
    for (const kind of ['openai', 'gemini'] as const) {
      const provider = createProvider({ id: kind, kind, tier: 'free', baseUrl: server.baseUrl(kind), apiKey: 'bench-key-123456' });
      for (const stream of [false, true]) {
        const { a: ours, b: sdk } = await interleaved(
          () => provider.generate({ model: 'm', messages, stream }, DEFAULT_CALL_LIMITS),
          () => direct[kind]!(stream),
        );
        const o = summary(ours);
        const d = summary(sdk);
        results[`${kind}_${stream ? 'stream' : 'json'}`] = {
          provider: o,
          direct_sdk: d,
          overhead_p50_ms: round(o.p50_ms - d.p50_ms),
          overhead_p99_ms: round(o.p99_ms - d.p99_ms),
          ratio_p50: ratio(o.p50_ms, d.p50_ms),
        };
        server.reset();
      }
    }
  } finally {
    await server.close();
  }
  results.openai_stream_200_events = await longStream();
  results.parts_in_process = await partsInProcess();
  return results;
}

/**
 * A delegation's real shape: a stream of 200 events, each in its own write (so its own chunk, as tokens arrive
 * from a provider), through our OpenAI provider and through the bare SDK, interleaved. The per-chunk costs of the
 * guarded transport (idle timer, byte cap, end-marker watch) show here; the fake server's answers come in one or
 * two chunks.
 */
async function longStream(): Promise<object> {
  const EVENTS = 200;
  const event = (i: number) => `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content: `tok${i} ` }, finish_reason: null }] })}\n\n`;
  const last = `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage: { prompt_tokens: 5, completion_tokens: EVENTS, total_tokens: EVENTS + 5 } })}\n\ndata: [DONE]\n\n`;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let i = 0;
      const next = (): void => {
        if (i === EVENTS) return void res.end(last);
        res.write(event(i++));
        setImmediate(next);
      };
      next();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
    const messages = [{ role: 'user' as const, content: 'Write a unit test for add(a, b).' }];
    const provider = createProvider({ id: 'openai', kind: 'openai', tier: 'free', baseUrl, apiKey: 'bench-key-123456' });
    const sdk = new OpenAI({ apiKey: 'sk-bench', baseURL: baseUrl, maxRetries: 0 });
    const ours = async () => {
      if (!(await provider.generate({ model: 'm', messages, stream: true }, DEFAULT_CALL_LIMITS)).complete) throw new Error('stream cut short');
    };
    const direct = async () => {
      for await (const chunk of await sdk.chat.completions.create({ model: 'm', messages, stream: true, stream_options: { include_usage: true } })) void chunk;
    };
    const { a, b } = await interleaved(ours, direct, 150, 20);
    const o = summary(a);
    const d = summary(b);
    return { events: EVENTS, provider: o, direct_sdk: d, overhead_p50_ms: round(o.p50_ms - d.p50_ms), ratio_p50: ratio(o.p50_ms, d.p50_ms) };
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** The provider layer's own costs without the network, steadier than loopback timings on a busy machine. */
async function partsInProcess(): Promise<object> {
  const body = JSON.stringify({ id: 'x', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'hello' }, finish_reason: 'stop' }] });
  const canned: typeof fetch = async () => new Response(body, { status: 200, headers: { 'content-type': 'application/json', 'x-ratelimit-remaining': '3' } });
  const perCallUs = async (fn: () => Promise<unknown> | unknown, n = 5000): Promise<number> => {
    for (let i = 0; i < 500; i++) await fn();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await fn();
    return round(Number(process.hrtime.bigint() - t0) / 1e3 / n, 1);
  };
  const plainFetch = await perCallUs(async () => (await canned('x')).json());
  const guardedFetch = await perCallUs(async () => {
    const t = new GuardedTransport(DEFAULT_CALL_LIMITS, canned);
    try {
      return await (await t.fetch('x', { signal: new AbortController().signal })).json();
    } finally {
      t.dispose();
    }
  });
  return {
    fetch_and_parse_us: plainFetch,
    guarded_fetch_and_parse_us: guardedFetch,
    guard_overhead_us: round(guardedFetch - plainFetch, 1),
    openai_client_construction_us: await perCallUs(() => new OpenAI({ apiKey: 'k', baseURL: 'http://127.0.0.1:1/v1', maxRetries: 0, fetch: canned })),
    genai_client_construction_us: await perCallUs(() => new GoogleGenAI({ apiKey: 'k', vertexai: false, httpOptions: { baseUrl: 'http://127.0.0.1:1', fetch: canned } })),
  };
}
