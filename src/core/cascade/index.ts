import { AgentCascade, type AgentCascadeOptions, type AgentCascadeResult } from './agents';
import { ServerCascade, type ServerCascadeResult } from './servers';

export * from './agents';
export * from './servers';
export type { CascadeItem, HiddenRef, SourceRef } from './types';
export { PathDisplay } from './display-path';

/** Both cascades of a workspace, with one entry point for file-watcher events. */
export class WorkspaceCascade {
  readonly agents: AgentCascade;
  readonly servers: ServerCascade;

  constructor(options: AgentCascadeOptions) {
    this.agents = new AgentCascade(options);
    this.servers = new ServerCascade(options);
  }

  load(): { agents: AgentCascadeResult; servers: ServerCascadeResult } {
    return { agents: this.agents.load(), servers: this.servers.load() };
  }

  /** Re-reads one changed file in whichever cascade it belongs to; returns which cascades changed. */
  reloadFile(file: string): { agents?: AgentCascadeResult; servers?: ServerCascadeResult } {
    const out: { agents?: AgentCascadeResult; servers?: ServerCascadeResult } = {};
    if (this.agents.concerns(file)) out.agents = this.agents.reloadFile(file);
    if (this.servers.concerns(file)) out.servers = this.servers.reloadFile(file);
    return out;
  }
}
