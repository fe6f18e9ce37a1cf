/**
 * The dashboard webview: quota bars, spend vs saved, spend per day, delegation history with Restore / Open
 * File, and the routing chain. Loaded only when opened (this module is imported by the command on first use);
 * its UI is the separate dist/dashboard.js bundle (webview-ui/). Data comes from the folder's sidecar
 * (quota_status, usage_report); it refreshes when the ledger or the workspace's audit log changes — file
 * watchers, no polling.
 */
import crypto from 'node:crypto';
import path from 'node:path';
import * as vscode from 'vscode';
import { switchboardHome } from '../../core/paths';
import { Disposable } from '../disposable';
import { toolErrorMessage, type ClientFor } from '../delegation/tools';
import { describeError } from '../log';
import { RESTORE_BACKUP_COMMAND, type RestoreOutcome } from '../commands/restoreBackup';
import { DEFAULT_ALERTS, isToExtension, routingChain, type DashboardData, type Message, type ToExtension, type ToWebview } from './messages';

export const DASHBOARD_VIEW_TYPE = 'switchboard.dashboard';
const REFRESH_DEBOUNCE_MS = 300;
const PAGE = 50;

export class DashboardPanel extends Disposable {
  private static current?: DashboardPanel;
  private timer?: NodeJS.Timeout;
  private cursor?: string;
  private loading?: Promise<void>;

  static show(extensionUri: vscode.Uri, folder: vscode.WorkspaceFolder, clientFor: ClientFor, log: vscode.LogOutputChannel): DashboardPanel {
    const open = DashboardPanel.current;
    if (open && open.folder.uri.toString() === folder.uri.toString()) {
      open.panel.reveal();
      return open;
    }
    open?.dispose();
    const panel = vscode.window.createWebviewPanel(DASHBOARD_VIEW_TYPE, `Switchboard Dashboard (${folder.name})`, vscode.ViewColumn.Active, {
      enableScripts: true,
      // Only the bundle's folder; nothing else of the extension or the disk is reachable from the page.
      localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist')],
      enableFindWidget: true,
    });
    return (DashboardPanel.current = new DashboardPanel(panel, extensionUri, folder, clientFor, log));
  }

  static get open(): DashboardPanel | undefined {
    return DashboardPanel.current;
  }

  private constructor(
    readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    readonly folder: vscode.WorkspaceFolder,
    private readonly clientFor: ClientFor,
    private readonly log: vscode.LogOutputChannel,
  ) {
    super();
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'switchboard.svg');
    panel.webview.html = dashboardHtml(panel.webview, extensionUri);
    this._register(panel.onDidDispose(() => this.dispose()));
    this._register(panel.webview.onDidReceiveMessage((m: unknown) => void this.onMessage(m)));
    // Live: a delegation appends to the audit log and settles in the shared ledger; either change refreshes.
    const audit = this._register(vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(folder, '.switchboard/audit.jsonl')));
    const ledger = this._register(vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(switchboardHome()), 'ledger.sqlite*')));
    for (const w of [audit, ledger]) {
      this._register(w.onDidChange(() => this.scheduleRefresh()));
      this._register(w.onDidCreate(() => this.scheduleRefresh()));
    }
  }

  override dispose(): void {
    clearTimeout(this.timer);
    if (DashboardPanel.current === this) DashboardPanel.current = undefined;
    super.dispose();
    this.panel.dispose();
  }

  /** Resolves once the data in the webview is current (tests wait on it). */
  async refresh(): Promise<void> {
    const run = (this.loading ?? Promise.resolve()).then(() => this.load());
    this.loading = run.catch(() => undefined);
    return run;
  }

  private scheduleRefresh(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.refresh(), REFRESH_DEBOUNCE_MS);
  }

  private post(message: Message<ToWebview>): void {
    if (!this.isDisposed) void this.panel.webview.postMessage(message);
  }

  private async load(): Promise<void> {
    try {
      const client = await this.clientFor(this.folder);
      const [quota, report] = await Promise.all([client.callTool('quota_status'), client.callTool('usage_report', { limit: PAGE, cursor: this.cursor })]);
      const now = Date.now();
      const data: DashboardData = { folder: this.folder.name, quota, report, chain: routingChain(quota, now), alerts: DEFAULT_ALERTS, at: new Date(now).toISOString() };
      this.post({ type: 'data', data });
    } catch (error) {
      this.log.warn(`Dashboard: ${describeError(error)}`);
      this.post({ type: 'error', message: toolErrorMessage(error) });
    }
  }

  private async onMessage(raw: unknown): Promise<void> {
    if (!isToExtension(raw)) return;
    const message: Message<ToExtension> = raw;
    switch (message.type) {
      case 'ready':
      case 'refresh':
        return this.refresh();
      case 'page':
        this.cursor = message.cursor;
        return this.refresh();
      case 'restore': {
        // The command asks before forcing over a file edited since, and reports the outcome itself.
        const outcome = await vscode.commands.executeCommand<RestoreOutcome | undefined>(RESTORE_BACKUP_COMMAND, { folder: this.folder, backupId: message.backupId });
        if (outcome?.status === 'restored') {
          const { result } = outcome;
          const what = result.unchanged ? `${message.path} was already as it was before that delegation` : result.deleted ? `Deleted ${message.path} (it did not exist before that delegation)` : `Restored ${message.path}`;
          this.post({ type: 'notice', message: `${what} (backup ${message.backupId}).` });
        }
        return this.refresh();
      }
      case 'openFile':
        return this.openFile(message.path);
    }
  }

  private async openFile(relative: string): Promise<void> {
    // The path comes from the audit log (workspace content): open it only when it stays inside the folder.
    const root = this.folder.uri.fsPath;
    const target = path.resolve(root, relative);
    if (path.isAbsolute(relative) || !target.startsWith(root + path.sep)) {
      this.post({ type: 'notice', message: `Not opening ${relative}: it is outside ${this.folder.name}.` });
      return;
    }
    try {
      await vscode.window.showTextDocument(vscode.Uri.file(target), { preview: true, viewColumn: vscode.ViewColumn.Beside });
    } catch (error) {
      this.post({ type: 'notice', message: `Cannot open ${relative}: ${describeError(error)}` });
    }
  }
}

/** Strict CSP: scripts only from the bundle, with this page's nonce; styles only from the bundle; nothing remote. */
export function dashboardHtml(webview: vscode.Webview, extensionUri: vscode.Uri): string {
  const nonce = crypto.randomBytes(16).toString('base64');
  const script = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'dashboard.js'));
  const style = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'dashboard.css'));
  const csp = [
    "default-src 'none'",
    `img-src ${webview.cspSource} data:`,
    `style-src ${webview.cspSource}`,
    `font-src ${webview.cspSource}`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style.toString()}">
<title>Switchboard Dashboard</title>
</head>
<body>
<main id="app" aria-busy="true"><p>Loading…</p></main>
<script nonce="${nonce}" src="${script.toString()}"></script>
</body>
</html>`;
}
