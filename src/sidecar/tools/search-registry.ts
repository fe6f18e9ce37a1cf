import { searchRegistryDescriptor } from '../protocol/search-registry';
import { defineTool } from './tool';

/** Read-only: the local index only (no network, nothing installed); `switchboard registry sync` fills it. */
export const searchRegistryTool = defineTool({
  ...searchRegistryDescriptor,
  async run(args, { sidecar }) {
    // Loaded on first use: the index (sql.js) is not needed to answer tools/list.
    const { describeAge, searchRegistry } = await import('../../core/registry/service');
    const { hits, cache } = await searchRegistry(
      { text: args.query, types: args.type ? [args.type] : undefined, transports: args.transport ? [args.transport] : undefined, limit: 10 },
      sidecar.env,
    );
    const results = hits.map((h) => ({ name: h.name, description: h.description.slice(0, 300), version: h.version, status: h.status, types: h.types }));
    const lines = results.map((r) => `${r.name}${r.version ? `@${r.version}` : ''}${r.status === 'deprecated' ? ' (deprecated)' : ''} [${r.types.join(',')}] ${r.description.slice(0, 120)}`);
    const age = cache.entries ? `Registry cache: ${cache.entries} entries, ${describeAge(cache)}.` : 'Registry cache is empty: the user can run `switchboard registry sync`.';
    const text = [results.length ? lines.join('\n') : 'No matching servers.', age, ...(results.length ? ['Install (user action): switchboard registry add NAME'] : [])].join('\n');
    return { text, structured: { results, cache_age_s: cache.age_s } };
  },
});
