import fs from 'node:fs';
import path from 'node:path';
import * as vscode from 'vscode';
import { keyChannelDir, startKeyChannel } from '../../core/keys/channel';
import { Disposable, toDisposable } from '../disposable';
import { describeError } from '../log';
import type { KeyChannelServer } from '../../core/keys/channel';
import type { KeyStore } from './keyStore';

/**
 * Serves the stored keys to sidecars this editor did not start (Claude Code's) over the per-user key channel,
 * while the editor runs. Started after activation and only once a key is stored; stopped on dispose.
 */
export class KeyChannelHost extends Disposable {
  private server?: Promise<KeyChannelServer | undefined>;

  constructor(
    private readonly keys: KeyStore,
    private readonly log: vscode.LogOutputChannel,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    super();
    this._register(keys.onDidChange(() => void this.startIfKeys()));
    this._register(toDisposable(() => void this.server?.then((s) => s?.close())));
  }

  /** The running channel, if any (for tests: its endpoint and token file). */
  get running(): Promise<KeyChannelServer | undefined> {
    return this.server ?? Promise.resolve(undefined);
  }

  async startIfKeys(): Promise<KeyChannelServer | undefined> {
    const running = await this.server;
    if (running && this.isCurrent(running)) return running;
    if (running) {
      // Its token file is gone (run/ deleted) or SWITCHBOARD_HOME moved: serve again where sidecars look.
      this.log.info('Key channel endpoint moved or removed; reopening it');
      this.server = undefined;
      await running.close().catch(() => undefined);
    }
    if (Object.keys(await this.keys.all()).length === 0 || this.isDisposed) return undefined;
    this.server ??= this.start();
    return this.server;
  }

  private isCurrent(server: KeyChannelServer): boolean {
    return fs.existsSync(server.tokenFile) && path.dirname(server.tokenFile) === keyChannelDir(this.env);
  }

  private async start(): Promise<KeyChannelServer | undefined> {
    try {
      const server = await startKeyChannel({
        env: this.env,
        keys: () => this.keys.all(),
        trustsFolder: (folder) => editorTrustsFolder(folder),
        log: (level, line) => (level === 'warn' ? this.log.warn(line) : this.log.info(line)),
      });
      if (this.isDisposed) {
        await server.close();
        return undefined;
      }
      this.log.info('Key channel open: sidecars started by Claude Code can get the stored keys while this editor runs');
      return server;
    } catch (error) {
      this.log.warn(`Key channel not available: ${describeError(error)}`);
      this.server = undefined;
      return undefined;
    }
  }
}

/**
 * Keys go only to a sidecar working in a folder this editor trusts: VS Code's workspace trust is granted, and the
 * folder is one of the window's workspace folders (or inside one). Compared on real paths, so a link elsewhere
 * does not pass for a trusted folder.
 */
export function editorTrustsFolder(folder: string): boolean {
  if (!vscode.workspace.isTrusted) return false;
  const asked = realPath(folder);
  return (vscode.workspace.workspaceFolders ?? []).some((f) => {
    if (f.uri.scheme !== 'file') return false;
    const rel = path.relative(realPath(f.uri.fsPath), asked);
    return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
  });
}

function realPath(p: string): string {
  try {
    return fs.realpathSync.native(path.resolve(p));
  } catch {
    return path.resolve(p);
  }
}
