import * as vscode from 'vscode';
import { Disposable } from '../disposable';
import { describeError } from '../log';
import type { SidecarState } from '../sidecarClient/client';
import type { SidecarManager } from '../sidecarClient/manager';
import type { QuotaStatusOutput as QuotaStatusResult } from '../../sidecar/protocol';
import type { TrustState } from '../trust';

export const STATUS_BAR_ID = 'switchboard.status';
/** VS Code generates `<viewId>.focus` for every view. */
export const OPEN_QUOTA_COMMAND = 'switchboard.quota.focus';
/** The click target: the dashboard (quota bars, spend vs saved, history). Same id as commands/openDashboard.ts. */
export const OPEN_DASHBOARD_COMMAND = 'switchboard.openDashboard';

const STATE_ICONS: Record<SidecarState, string> = {
  stopped: '$(circle-outline)',
  starting: '$(loading~spin)',
  restarting: '$(loading~spin)',
  ready: '$(pass)',
  failed: '$(error)',
};

/**
 * One status bar item: the sidecar's state and this month's spend against what the same calls would have cost on
 * the premium baseline ("saved"). Click opens the dashboard. Spend comes from `quota_status` (the shared ledger).
 */
export class SidecarStatusBar extends Disposable {
  readonly item = this._register(vscode.window.createStatusBarItem(STATUS_BAR_ID, vscode.StatusBarAlignment.Left, 50));
  private month?: QuotaStatusResult['month'];
  private spendTimer?: ReturnType<typeof setTimeout>;

  constructor(
    private readonly sidecars: SidecarManager,
    private readonly trust: TrustState,
    /** The folder whose sidecar the item reports on (the first workspace folder). */
    private readonly primaryFolder: () => string | undefined,
    private readonly log: vscode.LogOutputChannel,
  ) {
    super();
    this.item.name = 'Switchboard';
    this.item.command = { command: OPEN_DASHBOARD_COMMAND, title: 'Open Dashboard' };
    this._register({ dispose: () => clearTimeout(this.spendTimer) });
    this._register(
      sidecars.onDidChangeState((change) => {
        if (change.client.folder !== this.primaryFolder()) return;
        this.render();
        if (change.state === 'ready') this.refreshSpend();
      }),
    );
    this._register(trust.onDidChange(() => this.render()));
    this.render();
    this.item.show();
  }

  /** Takes a quota_status result someone else already fetched (the Quota view), saving a call. */
  setQuota(result: QuotaStatusResult | undefined): void {
    if (!result?.month) return;
    this.month = result.month;
    this.render();
  }

  /** Re-reads this month's spend (debounced): after a delegation, a ledger change or the sidecar becoming ready. */
  refreshSpend(delayMs = 200): void {
    clearTimeout(this.spendTimer);
    this.spendTimer = setTimeout(() => void this.fetchSpend(), delayMs);
  }

  private async fetchSpend(): Promise<void> {
    const folder = this.primaryFolder();
    const client = folder ? this.sidecars.existing(folder) : undefined;
    if (!client || client.state !== 'ready' || this.isDisposed) return;
    try {
      this.setQuota(await client.callTool('quota_status'));
    } catch (error) {
      this.log.debug(`status bar: quota_status failed: ${describeError(error)}`);
    }
  }

  private render(): void {
    if (this.isDisposed) return;
    const item = this.item;
    if (!this.trust.isTrusted) {
      item.text = '$(shield) Switchboard';
      item.tooltip = 'Switchboard — Restricted Mode: no sidecar runs until you trust this workspace.';
      item.backgroundColor = undefined;
      return;
    }
    const folder = this.primaryFolder();
    const client = folder ? this.sidecars.existing(folder) : undefined;
    const state: SidecarState = client?.state ?? 'stopped';
    const spend = this.month ? ` $${this.month.usd.toFixed(2)} · saved $${Math.max(0, this.month.baseline_usd - this.month.usd).toFixed(2)}` : '';
    const label = state === 'ready' ? spend || ' ready' : state === 'failed' ? ' sidecar failed' : state === 'stopped' ? spend : ` ${state}…`;
    item.text = `${STATE_ICONS[state]} Switchboard${label}`;
    const tooltip = new vscode.MarkdownString(undefined, true);
    tooltip.appendMarkdown(`**Switchboard** — sidecar ${state}${client?.startMs !== undefined ? ` (started in ${Math.round(client.startMs)} ms)` : ''}\n\n`);
    if (this.month) {
      tooltip.appendMarkdown(`${this.month.month}: ${this.month.calls} call${this.month.calls === 1 ? '' : 's'}, spent $${this.month.usd.toFixed(4)}; the premium baseline would have cost $${this.month.baseline_usd.toFixed(4)}\n\n`);
    }
    if (state === 'failed' && client?.lastError) tooltip.appendText(`Last error: ${client.lastError}\n\n`);
    tooltip.appendMarkdown('Click to open the dashboard.');
    item.tooltip = tooltip;
    item.backgroundColor = state === 'failed' ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
  }
}
