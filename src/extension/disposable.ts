import type * as vscode from 'vscode';

/**
 * Owns child disposables and releases them once, newest first (GitLens / vscode-pull-request-github style).
 * Anything registered after dispose() is disposed at once, so a late async registration cannot leak.
 */
export abstract class Disposable implements vscode.Disposable {
  private readonly children: vscode.Disposable[] = [];
  private disposed = false;

  get isDisposed(): boolean {
    return this.disposed;
  }

  protected _register<T extends vscode.Disposable>(child: T): T {
    if (this.disposed) {
      child.dispose();
    } else {
      this.children.push(child);
    }
    return child;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const errors: unknown[] = [];
    // Reverse order: things registered later may depend on earlier ones (e.g. views on the log channel).
    for (const child of this.children.splice(0).reverse()) {
      try {
        child.dispose();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, 'Several disposables failed to dispose');
  }
}

/** Wraps a plain callback as a vscode.Disposable without importing vscode at runtime. */
export function toDisposable(dispose: () => void): vscode.Disposable {
  let done = false;
  return {
    dispose() {
      if (done) return;
      done = true;
      dispose();
    },
  };
}
