/**
 * The typed contract between the sidecar and its clients (CLI, demo, extension). Each tool has one module in
 * this folder holding its name, description, zod input and output shapes and the types inferred from them;
 * the tool implementation (src/sidecar/tools/<tool>.ts), the CLI and the demo import the module, and the
 * extension imports its types only. No SDK import here: this folder must stay cheap to load and SDK-free.
 */
import type { z } from 'zod';

export type Shape = z.ZodRawShape;

export interface ToolAnnotations {
  readOnlyHint?: boolean;
  destructiveHint?: boolean;
  idempotentHint?: boolean;
  openWorldHint?: boolean;
}

export interface ToolDescriptor<I extends Shape = Shape, O extends Shape = Shape> {
  name: string;
  description: string;
  input: I;
  output: O;
  annotations?: ToolAnnotations;
}

/** Keeps the exact shapes in the descriptor's type (no widening), so inputs and outputs are inferred from it. */
export function describeTool<I extends Shape, O extends Shape>(descriptor: ToolDescriptor<I, O>): ToolDescriptor<I, O> {
  return descriptor;
}

/** What a caller passes (defaults optional). */
export type ToolInput<D extends ToolDescriptor> = z.input<z.ZodObject<D['input']>>;
/** What the tool's structuredContent holds (validated against the output shape before it is sent). */
export type ToolOutput<D extends ToolDescriptor> = z.infer<z.ZodObject<D['output']>>;
