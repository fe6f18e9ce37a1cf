/** Shapes more than one tool's output uses. Diagnostics and definition sources travel structured, never as text. */
import * as z from 'zod';

/** Where a definition lives. `file` is for people: workspace-relative, `~/…`, `(bundled)/…` or `$SWITCHBOARD_HOME/…`. */
export const sourceShape = z.object({ file: z.string(), line: z.number() });

/** A problem in a user's file, as src/core/diagnostics has it (the file shown as in `sourceShape`). */
export const diagnosticShape = z.object({
  file: z.string(),
  line: z.number(),
  column: z.number(),
  severity: z.enum(['error', 'warning']),
  message: z.string(),
});

/** A lower-precedence definition that the listed item overrides. */
export const hiddenShape = z.object({ layer: z.string(), source: sourceShape });

export type SourceOut = z.infer<typeof sourceShape>;
export type DiagnosticOut = z.infer<typeof diagnosticShape>;
export type HiddenOut = z.infer<typeof hiddenShape>;
