import * as vscode from 'vscode';
import type { AgentEntry, Snapshot } from '../data/source';
import type { FolderState, WorkspaceModel } from '../workspaceModel';
import { CascadeTreeProvider } from './cascadeTree';
import { openDefinitionCommand, relativeLocation } from './common';

export const AGENTS_VIEW_ID = 'switchboard.agents';

/** Agents by layer: model and fallbacks; an agent hidden by a higher layer says which one overrides it. */
export class AgentsTreeProvider extends CascadeTreeProvider<AgentEntry> {
  constructor(model: WorkspaceModel) {
    super(AGENTS_VIEW_ID, model);
  }

  protected load(state: FolderState): Promise<Snapshot<AgentEntry>> {
    return state.agents();
  }

  protected entryItem(agent: AgentEntry, idPrefix: string): vscode.TreeItem {
    const item = new vscode.TreeItem(agent.id, vscode.TreeItemCollapsibleState.None);
    item.id = `${idPrefix}|agent|${agent.layer}|${agent.id}`;
    const model = agent.model ?? 'default model';
    item.description = agent.overriddenBy ? `overridden by ${agent.overriddenBy.layer}` : model;
    item.iconPath = agent.overriddenBy
      ? new vscode.ThemeIcon('circle-slash', new vscode.ThemeColor('disabledForeground'))
      : new vscode.ThemeIcon('hubot');
    item.contextValue = agent.overriddenBy ? 'switchboard.agent.overridden' : 'switchboard.agent';
    item.command = openDefinitionCommand(agent.location);

    const tooltip = new vscode.MarkdownString(undefined, true);
    tooltip.appendMarkdown(`**${escape(agent.id)}** — ${escape(agent.layer)}\n\n`);
    if (agent.description) tooltip.appendMarkdown(`${escape(agent.description)}\n\n`);
    tooltip.appendMarkdown(`Model: \`${escape(model)}\`\n\n`);
    if (agent.fallbackModels.length > 0) tooltip.appendMarkdown(`Fallbacks: ${agent.fallbackModels.map((m) => `\`${escape(m)}\``).join(' → ')}\n\n`);
    if (agent.overriddenBy) tooltip.appendMarkdown(`Overridden by ${escape(agent.overriddenBy.layer)} (${escape(relativeLocation(agent.overriddenBy.location))})\n\n`);
    tooltip.appendMarkdown(`Defined in ${escape(relativeLocation(agent.location))}`);
    item.tooltip = tooltip;
    return item;
  }
}

function escape(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
}
