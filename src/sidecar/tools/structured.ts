/** Core values in the protocol's structured shapes, with paths outside the workspace scrubbed. */
import type { Diagnostic } from '../../core/diagnostics';
import type { SidecarContext } from '../context';
import { scrubPaths } from '../plain-error';
import type { DiagnosticOut } from '../protocol/common';

export function diagnosticsOut(diagnostics: readonly Diagnostic[], sidecar: SidecarContext): DiagnosticOut[] {
  const scrub = (text: string) => scrubPaths(text, sidecar.workspace, sidecar.env);
  return diagnostics.map((d) => ({ file: scrub(d.file), line: d.line, column: d.column, severity: d.severity, message: scrub(d.message) }));
}
