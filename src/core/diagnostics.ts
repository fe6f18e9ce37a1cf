/** A problem found in a user's file. Lines and columns are 1-based, as editors show them. */
export interface Diagnostic {
  file: string;
  line: number;
  column: number;
  message: string;
  severity: 'error' | 'warning';
}

export function diagnostic(file: string, line: number, column: number, message: string, severity: Diagnostic['severity'] = 'error'): Diagnostic {
  return { file, line, column, message, severity };
}

/** "file:line:column: message", the shape editors and terminals turn into links. */
export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.column}: ${d.severity}: ${d.message}`;
}
