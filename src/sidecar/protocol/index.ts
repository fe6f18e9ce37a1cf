/** Every tool's contract (see descriptor.ts). Tools, CLI and demo import values; the extension's views import types. */
export * from './descriptor';
export * from './common';
export * from './delegate';
export * from './read-file';
export * from './write-file';
export * from './list-backups';
export * from './restore-backup';
export * from './quota-status';
export * from './list-agents';
export * from './list-servers';
export * from './project-context';
export * from './search-registry';
export * from './usage-report';
export * from './result';
export * from './catalog';
