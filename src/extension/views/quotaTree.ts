import * as vscode from 'vscode';
import { Disposable } from '../disposable';
import { describeError } from '../log';
import { formatAmount, formatDuration } from '../../core/format-quota';
import type { QuotaEntry, QuotaLine } from '../data/source';
import type { WorkspaceModel } from '../workspaceModel';

export const QUOTA_VIEW_ID = 'switchboard.quota';

export type QuotaNode =
  | { kind: 'provider'; entry: QuotaEntry }
  | { kind: 'quota'; entry: QuotaEntry; line: QuotaLine }
  | { kind: 'cooldown'; entry: QuotaEntry; untilMs: number; reason: string }
  | { kind: 'circuit'; entry: QuotaEntry; state: 'open' | 'half-open'; untilMs?: number }
  | { kind: 'error'; message: string };

/** Alert levels from the spec (`alerts: [0.8, 0.95, 1.0]`), as theme colours. */
export function quotaColor(fraction: number): vscode.ThemeColor {
  if (fraction >= 1) return new vscode.ThemeColor('charts.red');
  if (fraction >= 0.95) return new vscode.ThemeColor('charts.orange');
  if (fraction >= 0.8) return new vscode.ThemeColor('charts.yellow');
  return new vscode.ThemeColor('charts.green');
}

/** Per provider: tier, whether a key is set, used / limit per quota with time to reset, and cooldowns. */
export class QuotaTreeProvider extends Disposable implements vscode.TreeDataProvider<QuotaNode> {
  private readonly changed = this._register(new vscode.EventEmitter<QuotaNode | undefined>());
  readonly onDidChangeTreeData = this.changed.event;

  constructor(
    private readonly model: WorkspaceModel,
    /** In Restricted Mode quota stays empty: it belongs to the sidecar, which does not run there. */
    private readonly isRestricted: () => boolean,
    private readonly now: () => number = Date.now,
  ) {
    super();
    this._register(model.onDidChange(() => this.changed.fire(undefined)));
  }

  refresh(): void {
    this.changed.fire(undefined);
  }

  async getChildren(node?: QuotaNode): Promise<QuotaNode[]> {
    if (!node) {
      if (this.isRestricted()) return [];
      try {
        const entries = await this.model.source.quota(this.model.folders[0]?.path);
        return entries.map((entry) => ({ kind: 'provider', entry }));
      } catch (error) {
        // One row saying what failed beats an empty view that looks like "nothing configured".
        return [{ kind: 'error', message: `Could not read quota: ${describeError(error)}` }];
      }
    }
    if (node.kind !== 'provider') return [];
    const children: QuotaNode[] = node.entry.quotas.map((line) => ({ kind: 'quota', entry: node.entry, line }));
    if (node.entry.cooldownUntilMs !== undefined && node.entry.cooldownUntilMs > this.now()) {
      children.push({ kind: 'cooldown', entry: node.entry, untilMs: node.entry.cooldownUntilMs, reason: node.entry.cooldownReason ?? 'cooling down' });
    }
    if (node.entry.circuit) children.push({ kind: 'circuit', entry: node.entry, state: node.entry.circuit, untilMs: node.entry.circuitUntilMs });
    return children;
  }

  getTreeItem(node: QuotaNode): vscode.TreeItem {
    if (node.kind === 'error') {
      const item = new vscode.TreeItem(node.message, vscode.TreeItemCollapsibleState.None);
      item.iconPath = new vscode.ThemeIcon('error', new vscode.ThemeColor('problemsErrorIcon.foreground'));
      item.tooltip = node.message;
      return item;
    }
    const id = `${QUOTA_VIEW_ID}|${node.entry.providerId}`;
    switch (node.kind) {
      case 'provider': {
        const { entry } = node;
        const hasChildren = entry.quotas.length > 0 || entry.cooldownUntilMs !== undefined || entry.circuit !== undefined;
        const item = new vscode.TreeItem(entry.providerId, hasChildren ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.None);
        item.id = id;
        const usable = entry.keyPresent || !entry.keyNeeded;
        item.description = `${entry.tier} · ${!entry.keyNeeded ? 'no key needed' : entry.keyPresent ? 'key set' : 'no key'}${hasChildren ? '' : ' · no quota'}`;
        const worst = Math.max(0, ...entry.quotas.map((q) => (q.limit > 0 ? q.used / q.limit : 0)));
        item.iconPath = usable ? new vscode.ThemeIcon('dashboard', quotaColor(worst)) : new vscode.ThemeIcon('key', new vscode.ThemeColor('disabledForeground'));
        item.contextValue = usable ? 'switchboard.provider' : 'switchboard.provider.noKey';
        // The sidebar cuts the description at its width: everything, in full, on hover.
        item.tooltip = new vscode.MarkdownString([
          `**${entry.providerId}** (${entry.tier}) — ${!entry.keyNeeded ? 'no key needed' : entry.keyPresent ? 'API key set' : 'no API key'}`,
          ...entry.quotas.map((q) => `- ${formatAmount(q.used)} / ${formatAmount(q.limit)} ${q.metric} per ${q.window} (${percent(q)}%), resets in ${formatDuration(q.resetAtMs - this.now())}`),
        ].join('\n\n'));
        return item;
      }
      case 'quota': {
        const { line } = node;
        const fraction = line.limit > 0 ? line.used / line.limit : 0;
        // The figure that matters leads the label, so a narrow sidebar cuts the reset time, not the usage.
        const usage = line.metric === 'usd' ? `$${line.used.toFixed(2)} / $${line.limit.toFixed(2)} per ${line.window}` : `${formatAmount(line.used)} / ${formatAmount(line.limit)} ${line.metric}/${line.window}`;
        const item = new vscode.TreeItem(usage, vscode.TreeItemCollapsibleState.None);
        item.id = `${id}|${line.metric}|${line.window}`;
        item.description = `${Math.round(fraction * 100)}% · resets in ${formatDuration(line.resetAtMs - this.now())}`;
        item.iconPath = new vscode.ThemeIcon('circle-filled', quotaColor(fraction));
        item.contextValue = 'switchboard.quota';
        item.tooltip = `${node.entry.providerId}: ${formatAmount(line.used)} of ${formatAmount(line.limit)} ${line.metric} used this ${line.window} (${percent(line)}%); resets in ${formatDuration(line.resetAtMs - this.now())} (${new Date(line.resetAtMs).toLocaleString()}). Alerts at 80%, 95% and 100%.`;
        return item;
      }
      case 'cooldown': {
        const item = new vscode.TreeItem('cooldown', vscode.TreeItemCollapsibleState.None);
        item.id = `${id}|cooldown`;
        item.description = `${node.reason} · ${formatDuration(node.untilMs - this.now())} left`;
        item.iconPath = new vscode.ThemeIcon('watch', new vscode.ThemeColor('charts.orange'));
        item.tooltip = `${node.entry.providerId} is paused until ${new Date(node.untilMs).toLocaleString()}: ${node.reason}`;
        return item;
      }
      case 'circuit': {
        const item = new vscode.TreeItem(`circuit ${node.state}`, vscode.TreeItemCollapsibleState.None);
        item.id = `${id}|circuit`;
        item.description = node.state === 'open'
          ? `paused after repeated failures${node.untilMs !== undefined ? ` · ${formatDuration(node.untilMs - this.now())} left` : ''}`
          : 'the next call is a trial';
        item.iconPath = new vscode.ThemeIcon('debug-disconnect', new vscode.ThemeColor(node.state === 'open' ? 'charts.red' : 'charts.yellow'));
        return item;
      }
    }
  }
}

function percent(line: QuotaLine): number {
  return line.limit > 0 ? Math.round((line.used / line.limit) * 100) : 0;
}
