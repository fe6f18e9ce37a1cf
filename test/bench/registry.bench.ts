/**
 * Registry index: a full sync of 5,000 entries from the local fake registry (budget 2 s) and searches over them
 * in process (budget p50 5 ms). References from the same run: fetching and JSON-parsing the same pages without
 * validating or indexing them, and a plain substring scan over the 5,000 descriptions held in memory.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RegistryIndex } from '../../src/core/registry';
import { FakeRegistry, generatedEntries } from '../fakes/registry-server';
import { ratio, round, summary, time } from './stats';

const ENTRIES = 5000;
const QUERIES = ['weather', 'github query', 'postgres monitor', 'files', 'slack summarize data', 'kube', 'translate workflows', 'music', 'nothingmatches', 'email sync'];

export async function run(): Promise<object> {
  const entries = generatedEntries(ENTRIES);
  const fake = await new FakeRegistry({ entries }).start();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-bench-registry-'));
  try {
    // Reference: the same pages fetched and parsed, nothing else.
    const fetchOnly = await time(3, async () => {
      let cursor: string | undefined;
      do {
        const url = `${fake.url}/v0.1/servers?limit=100&version=latest${cursor ? `&cursor=${cursor}` : ''}`;
        const body = (await (await fetch(url)).json()) as { metadata?: { nextCursor?: string } };
        cursor = body.metadata?.nextCursor;
      } while (cursor);
    }, 1);
    const syncs = await time(3, async (i) => {
      const index = await RegistryIndex.open(path.join(dir, `full-${i}.sqlite`));
      const report = await index.sync([fake.url], { full: true });
      if (report.total !== ENTRIES) throw new Error(`indexed ${report.total} of ${ENTRIES}`);
      index.close();
    }, 1);
    const index = await RegistryIndex.open(path.join(dir, 'full-0.sqlite'));
    const search = await time(500, (i) => index.search({ text: QUERIES[i % QUERIES.length], limit: 20 }), 50);
    const filtered = await time(200, (i) => index.search({ text: QUERIES[i % QUERIES.length], types: ['npm'], transports: ['stdio'], limit: 20 }), 20);
    const descriptions = entries.map((e) => `${String(e.name)} ${String(e.description)}`.toLowerCase());
    const scan = await time(500, (i) => descriptions.filter((d) => QUERIES[i % QUERIES.length]!.split(' ').every((w) => d.includes(w))).slice(0, 20), 50);
    index.close();
    const syncP50 = summary(syncs).p50_ms;
    const searchP50 = summary(search).p50_ms;
    return {
      entries: ENTRIES,
      sync_full: { ...summary(syncs), budget_ms: 2000, within_budget: syncP50 <= 2000 },
      reference_fetch_parse_only: summary(fetchOnly),
      sync_vs_fetch_only: ratio(syncP50, summary(fetchOnly).p50_ms),
      search: { ...summary(search), budget_ms: 5, within_budget: searchP50 <= 5 },
      search_filtered: summary(filtered),
      reference_substring_scan: summary(scan),
      search_vs_scan: ratio(searchP50, summary(scan).p50_ms),
      file_bytes: fs.statSync(path.join(dir, 'full-0.sqlite')).size,
      note: round(0) === 0 ? 'sync = fetch 50 pages + zod screening + FTS4 index + atomic file replace under the lock' : '',
    };
  } finally {
    await fake.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
