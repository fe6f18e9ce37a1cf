import { UserError } from '../core/errors';

/**
 * Concurrency limits for delegations (`.agents/discovery-config.yaml` limits): at most `maxConcurrent` at once
 * and at most `modelLimits[model]` per model. Calls over the limit wait in a bounded FIFO queue; a full queue or
 * a wait longer than `queueTimeoutMs` fails with a plain message instead of piling up work.
 */
export interface LimiterOptions {
  maxConcurrent: number;
  modelLimits?: Record<string, number>;
  maxQueue: number;
  queueTimeoutMs: number;
}

interface Waiter {
  model: string | undefined;
  grant: (release: () => void) => void;
  fail: (err: Error) => void;
}

export class DelegationLimiter {
  private running = 0;
  private readonly runningPerModel = new Map<string, number>();
  private readonly queue: Waiter[] = [];

  constructor(private readonly options: LimiterOptions) {}

  get stats(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.queue.length };
  }

  /** Resolves with a release function once a slot is free. */
  acquire(model: string | undefined, signal?: AbortSignal): Promise<() => void> {
    if (this.queue.length === 0 && this.fits(model)) return Promise.resolve(this.take(model));
    if (this.queue.length >= this.options.maxQueue) {
      return Promise.reject(
        new UserError(`too many delegations: ${this.running} running and ${this.queue.length} waiting (max_concurrent ${this.options.maxConcurrent}); try again shortly`, 'queue_full'),
      );
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        model,
        grant: (release) => {
          cleanup();
          resolve(release);
        },
        fail: (err) => {
          cleanup();
          reject(err);
        },
      };
      const timer = setTimeout(() => {
        this.remove(waiter);
        waiter.fail(new UserError(`no free delegation slot after ${Math.round(this.options.queueTimeoutMs / 1000)} s (max_concurrent ${this.options.maxConcurrent}${model && this.limitFor(model) !== undefined ? `, ${model} limit ${this.limitFor(model)}` : ''}); try again later`, 'queue_timeout'));
      }, this.options.queueTimeoutMs);
      const onAbort = (): void => {
        this.remove(waiter);
        waiter.fail(new UserError('cancelled while waiting for a delegation slot', 'cancelled'));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
      // Calls ahead of it may be blocked only by their model's limit: this one can still run now.
      this.drain();
    });
  }

  private limitFor(model: string): number | undefined {
    return this.options.modelLimits?.[model];
  }

  private fits(model: string | undefined): boolean {
    if (this.running >= this.options.maxConcurrent) return false;
    if (model === undefined) return true;
    const limit = this.limitFor(model);
    return limit === undefined || (this.runningPerModel.get(model) ?? 0) < limit;
  }

  private take(model: string | undefined): () => void {
    this.running++;
    if (model !== undefined) this.runningPerModel.set(model, (this.runningPerModel.get(model) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
      if (model !== undefined) this.runningPerModel.set(model, (this.runningPerModel.get(model) ?? 1) - 1);
      this.drain();
    };
  }

  private remove(waiter: Waiter): void {
    const i = this.queue.indexOf(waiter);
    if (i !== -1) this.queue.splice(i, 1);
  }

  /** Grants waiting calls in order; one blocked only by its model's limit does not hold up calls for other models. */
  private drain(): void {
    for (let i = 0; i < this.queue.length && this.running < this.options.maxConcurrent; ) {
      const waiter = this.queue[i]!;
      if (this.fits(waiter.model)) {
        this.queue.splice(i, 1);
        waiter.grant(this.take(waiter.model));
      } else {
        i++;
      }
    }
  }
}
