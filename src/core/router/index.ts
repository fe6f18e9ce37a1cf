/** The router's public surface, used as is by the MCP `delegate` tool and the CLI. */
export * from './config';
export * from './candidates';
export * from './cost';
export * from './retry';
export * from './router';

