import fs from 'node:fs';
import { AgentCascade, type Agent } from '../../core/cascade';
import { formatDiagnostic, type Diagnostic } from '../../core/diagnostics';
import { UserError } from '../../core/errors';
import { redact, redactDeep } from '../../core/redact';
import { parseCommandArgs } from './args';
import { printJson, type Command } from './commands';

/** The workspace must be an existing folder; anything else is a one-line user error. */
export function checkWorkspace(workspace: string, given: unknown): void {
  let isDir = false;
  try {
    isDir = fs.statSync(workspace).isDirectory();
  } catch {
    // reported below
  }
  if (!isDir) throw new UserError(`--workspace ${typeof given === 'string' ? given : workspace}: not a directory`);
}

/** Left-aligned columns separated by two spaces; the last column is not padded. */
export function formatTable(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

export function printDiagnostics(diagnostics: Diagnostic[]): void {
  for (const d of diagnostics) process.stderr.write(redact(formatDiagnostic(d)) + '\n');
}

export function agentsTable(agents: Agent[]): string {
  const rows: string[][] = [['ID', 'LAYER', 'MODEL', 'FORMAT', 'SOURCE', 'NOTE']];
  for (const a of agents) {
    const notes: string[] = [];
    if (a.hides.length) notes.push(`overrides ${a.hides.map((h) => h.layer).join(', ')}`);
    if (!a.enabled) notes.push('disabled');
    rows.push([a.id, a.layer, a.model ?? '-', a.format, `${a.source.file}:${a.source.line}`, notes.join('; ')]);
    for (const h of a.hides) rows.push(['  ↳ overridden', h.layer, '', '', `${h.file}:${h.line}`, '']);
  }
  return formatTable(rows);
}

export const agentsCommand: Command = {
  name: 'agents',
  summary: 'List agents from the cascade (~/.claude/agents, .agents/, .claude/agents, bundled) with what overrides what',
  async run(argv) {
    const { common, values } = parseCommandArgs(argv);
    checkWorkspace(common.workspace, values.workspace);
    const result = new AgentCascade({ workspace: common.workspace }).load();
    if (common.json) {
      printJson(redactDeep(result));
      return 0;
    }
    const lines = [result.agents.length ? agentsTable(result.agents) : 'No agents found.'];
    if (result.context.length) lines.push('', `Context loaded with every agent: ${result.context.map((c) => c.file + (c.exists ? '' : ' (missing)')).join(', ')}`);
    const errors = result.diagnostics.filter((d) => d.severity === 'error').length;
    const warnings = result.diagnostics.length - errors;
    lines.push('', `${result.agents.length} agent(s); ${errors} error(s), ${warnings} warning(s)${result.diagnostics.length ? ' (on stderr)' : ''}.`);
    process.stdout.write(redact(lines.join('\n')) + '\n');
    printDiagnostics(result.diagnostics);
    return 0;
  },
};
