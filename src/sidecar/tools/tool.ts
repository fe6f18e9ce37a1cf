/**
 * What a tool is, independent of the MCP SDK: its descriptor (src/sidecar/protocol: name, terse description,
 * zod input/output shapes) plus a `run` returning readable text and structured content. server.ts is the only
 * place that turns these into SDK registrations, so moving to the SDK's v2 packages touches one file.
 */
import type { z } from 'zod';
import { maskKnownSecrets, redact, redactDeep } from '../../core/redact';
import type { Principal } from '../../core/ledger/types';
import type { SidecarContext } from '../context';
import type { Shape, ToolDescriptor } from '../protocol/descriptor';

export type { Shape } from '../protocol/descriptor';

export interface ToolRunContext {
  sidecar: SidecarContext;
  /** Aborted when the client cancels the request or the session ends. */
  signal: AbortSignal;
  /** Sends a progress notification when the client asked for them (sent a progress token); a no-op otherwise. */
  progress(message: string): Promise<void>;
  /** True when the client sent a progress token. */
  wantsProgress: boolean;
  /** The authenticated caller on a team server (undefined over stdio). */
  principal?: Principal;
  /**
   * How many characters of text one result may carry before the client would cut it (Claude Code caps MCP
   * results at about 25k tokens). Undefined: no limit (the command line prints everything).
   */
  resultLimitChars?: number;
}

export interface ToolResult<O extends Shape> {
  /** Short, readable summary (or the content itself for read_file / project_context / delegate). */
  text: string;
  /**
   * Remarks about the text that are not part of it (delegate: how it was routed, whether it was cut short).
   * Sent as a second content block, so a client can take the first block as the content itself.
   */
  notes?: string;
  structured: z.infer<z.ZodObject<O>>;
  /**
   * Strings of `structured` that need no redaction pass: already redacted (read_file's path, masked when it was
   * checked) or made by us (a SHA-256 in hex). Each pass costs a scan with every key pattern.
   */
  redacted?: readonly string[];
}

export interface ToolDefinition<I extends Shape = Shape, O extends Shape = Shape> extends ToolDescriptor<I, O> {
  /**
   * The result's `text` is file content or generated code (read_file, delegate): it keeps every byte except the
   * values of the keys the user holds. Otherwise the text is a summary and gets pattern-based masking too.
   */
  textIsContent?: boolean;
  // Method syntax on purpose: a list of tools with different shapes stays a ToolDefinition[] without casts.
  run(args: z.infer<z.ZodObject<I>>, context: ToolRunContext): Promise<ToolResult<O>>;
}

/** A tool implementation: its descriptor (spread in) plus `run`, types kept exact. */
export function defineTool<I extends Shape, O extends Shape>(tool: ToolDefinition<I, O>): ToolDefinition<I, O> {
  return tool;
}

/**
 * The one redaction of a tool result, shared by the MCP server and the CLI: content keeps its bytes (only the
 * user's own key values are masked), summaries, notes and structured fields are masked by pattern as well.
 * A structured field repeating the text (read_file's `content`) gets the text's treatment.
 */
export function redactToolResult<O extends Shape>(tool: Pick<ToolDefinition, 'textIsContent'>, result: ToolResult<O>, env: NodeJS.ProcessEnv): ToolResult<O> {
  const text = tool.textIsContent ? maskKnownSecrets(result.text, env) : redact(result.text, env);
  return {
    text,
    ...(result.notes !== undefined ? { notes: redact(result.notes, env) } : {}),
    structured: redactDeep(result.structured, env, new Map([[result.text, text], ...(result.redacted ?? []).map((r): [string, string] => [r, r])])),
  };
}
