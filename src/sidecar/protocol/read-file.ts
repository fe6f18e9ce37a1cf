import * as z from 'zod';
import { describeTool, type ToolInput, type ToolOutput } from './descriptor';

export const readFileDescriptor = describeTool({
  name: 'read_file',
  description: 'Read a workspace text file (file policy applies). Long files come back in part: see partial, ask for lines.',
  input: {
    path: z.string().min(1).describe('Workspace-relative path'),
    start_line: z.number().int().positive().optional(),
    end_line: z.number().int().positive().optional().describe('Inclusive'),
  },
  output: {
    path: z.string(),
    bytes: z.number(),
    sha256: z.string(),
    content: z.string(),
    /** The 1-based inclusive line range `content` holds, of `total_lines`. */
    start_line: z.number(),
    end_line: z.number(),
    total_lines: z.number(),
    /** True when `content` is not the whole file (a range was asked for, or the file is too long for one answer). */
    partial: z.boolean(),
  },
  annotations: { readOnlyHint: true },
});

export type ReadFileInput = ToolInput<typeof readFileDescriptor>;
export type ReadFileOutput = ToolOutput<typeof readFileDescriptor>;
