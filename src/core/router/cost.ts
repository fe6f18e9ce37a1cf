import type { Amounts } from '../ledger/types';
import type { ChatMessage } from '../providers/types';
import type { BaselinePrice, ModelSpec } from './config';

/** Output assumed for estimates when the caller sets no maxTokens. */
export const DEFAULT_EXPECTED_OUTPUT_TOKENS = 1024;

export function promptChars(messages: ReadonlyArray<ChatMessage>): number {
  let n = 0;
  for (const m of messages) n += m.content.length;
  return n;
}

/** Tokens ≈ characters / 4: close enough for English and code to pick a model and hold a reservation. */
export function estimateTokens(chars: number): number {
  return Math.ceil(chars / 4);
}

export function priceUsd(price: Pick<ModelSpec, 'input_per_mtok' | 'output_per_mtok'> | BaselinePrice, inputTokens: number, outputTokens: number): number {
  return (inputTokens * price.input_per_mtok + outputTokens * price.output_per_mtok) / 1_000_000;
}

export interface CallEstimate {
  inputChars: number;
  inputTokens: number;
  outputTokens: number;
}

export function estimateCall(messages: ReadonlyArray<ChatMessage>, maxTokens: number | undefined): CallEstimate {
  const inputChars = promptChars(messages);
  return { inputChars, inputTokens: estimateTokens(inputChars), outputTokens: maxTokens ?? DEFAULT_EXPECTED_OUTPUT_TOKENS };
}

/** What a call consumes of each quota metric (the same shape for the reservation and the settlement). */
export function quotaAmounts(inputChars: number, inputTokens: number, outputTokens: number, usd: number): Amounts {
  return { requests: 1, input_chars: inputChars, tokens: inputTokens + outputTokens, usd };
}

