import { AgentCascade, type Agent } from '../../core/cascade';
import { redact, redactDeep } from '../../core/redact';
import { parseCommandArgs } from './args';
import { printJson, type Command } from './commands';
import { checkWorkspace, diagnosticSummary, formatTable, printDiagnostics } from './format';

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
    lines.push('', `${result.agents.length} agent(s); ${diagnosticSummary(result.diagnostics)}.`);
    process.stdout.write(redact(lines.join('\n')) + '\n');
    printDiagnostics(result.diagnostics);
    return 0;
  },
};
