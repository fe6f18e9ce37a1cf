/**
 * The registry client and local index against the fake v0.1 registry on 127.0.0.1: paging, incremental sync,
 * lifecycle statuses, garbage and a registry that is down, ranking and filters, merging registries by name, and
 * two processes syncing the same file at once.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RegistryClient, RegistryIndex, cacheInfo, emptyCounts } from '../../../src/core/registry';
import { FakeRegistry, garbageItems, generatedEntries, hostileEntries, seedEntries } from '../../fakes/registry-server';

describe('registry index: sync and search against a fake v0.1 registry', function () {
  this.timeout(60_000);
  let dir: string;
  let fake: FakeRegistry;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-registry-'));
    fake = await new FakeRegistry({ entries: [...seedEntries(), ...hostileEntries()], rawExtra: garbageItems() }).start();
    fake.setStatus('io.github.legacy/old-weather', 'deprecated', 'use io.github.acme/weather');
    fake.setStatus('io.github.gone/filesystem-plus', 'deleted');
  });
  afterEach(async () => {
    await fake.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const file = () => path.join(dir, 'registry.sqlite');

  it('pages through every entry with the cursor and drops (and counts) what does not validate', async () => {
    const index = await RegistryIndex.open(file());
    const report = await index.sync([fake.url], { pageSize: 4 });
    const r = report.registries[0]!;
    assert.equal(r.error, undefined);
    assert.ok(fake.requests.filter((u) => u.startsWith('/v0.1/servers?')).length >= 6, 'several pages were fetched');
    assert.ok(fake.requests.some((u) => u.includes('cursor=')), 'the cursor was sent back');
    assert.ok(fake.requests.every((u) => !u.startsWith('/v0.1/servers?') || u.includes('version=latest')));
    assert.equal(r.dropped, garbageItems().length, 'each garbage item is counted');
    assert.equal(r.droppedParts, 1, 'the package with odd argument shapes is dropped on its own');
    // Deleted entries are not served on a full sync; everything else valid is indexed.
    assert.equal(report.total, seedEntries().length + hostileEntries().length - 1);
    const odd = index.get('io.github.messy/odd-args');
    assert.ok(odd, 'an entry survives the loss of its broken package');
    assert.equal(odd.server.packages.length, 0);
    assert.ok(index.get('io.github.messy/huge-description')!.server.description.length < 5000, 'huge descriptions are cut');
    index.close();
    // The file is a real database another process can open.
    const again = await RegistryIndex.open(file());
    assert.equal(again.search({ text: 'weather' })[0]!.name, 'io.github.acme/weather');
    again.close();
  });

  it('syncs incrementally with updated_since: new versions, deprecations and deletions arrive', async () => {
    const index = await RegistryIndex.open(file());
    await index.sync([fake.url]);
    assert.equal(index.search({ text: 'brand new' }).length, 0);
    fake.requests.length = 0;
    fake.publish({ name: 'io.github.fresh/brand-new', description: 'A brand new server', version: '0.1.0', packages: [{ registryType: 'npm', identifier: 'brand-new-mcp', version: '0.1.0', transport: { type: 'stdio' } }] });
    fake.publish({ ...(seedEntries()[0] as object), version: '1.5.0', packages: [{ registryType: 'npm', identifier: '@acme/weather-mcp', version: '1.5.0', transport: { type: 'stdio' } }] });
    fake.setStatus('io.github.pyfolk/sqlite-explorer', 'deleted');
    fake.setStatus('io.github.containers/postgres', 'deprecated', 'moved');
    const report = await index.sync([fake.url]);
    const r = report.registries[0]!;
    assert.equal(r.full, false);
    assert.ok(fake.requests.every((u) => u.includes('updated_since=')), fake.requests.join('\n'));
    // The four changes, plus the deletion made after the newest entry the full sync saw (a full sync does not list deleted entries).
    assert.equal(r.fetched, 5, 'only what changed was fetched');
    assert.equal(index.search({ text: 'brand new' })[0]?.name, 'io.github.fresh/brand-new');
    assert.equal(index.get('io.github.acme/weather')!.server.version, '1.5.0');
    assert.equal(index.search({ text: 'sqlite' }).length, 0, 'deleted entries are hidden');
    assert.equal(index.get('io.github.pyfolk/sqlite-explorer')!.meta.status, 'deleted');
    const pg = index.search({ text: 'postgres' })[0]!;
    assert.equal(pg.status, 'deprecated');
    assert.equal(pg.statusMessage, 'moved');
    index.close();
  });

  it('keeps serving the cache, with its age, when the registry is down, answers garbage or floods', async () => {
    const index = await RegistryIndex.open(file());
    await index.sync([fake.url]);
    const before = fs.readFileSync(file());
    for (const mode of ['down', 'garbage', 'huge'] as const) {
      fake.mode = mode;
      const report = await index.sync([fake.url], { maxBytes: 1024 * 1024 });
      assert.ok(report.registries[0]!.error, `${mode}: the failure is reported`);
      assert.equal(index.search({ text: 'weather' })[0]?.name, 'io.github.acme/weather', `${mode}: search still works`);
      const info = cacheInfo(index);
      assert.ok(info.age_s !== undefined && info.synced_at, 'the age of the cache is known');
      assert.equal(info.errors.length, 1);
    }
    fake.mode = 'up';
    const again = await index.sync([fake.url]);
    assert.equal(again.registries[0]!.error, undefined);
    assert.equal(again.registries[0]!.full, false, 'the watermark survived the failures');
    assert.equal(cacheInfo(index).errors.length, 0);
    assert.ok(before.length > 0);
    index.close();
  });

  it('a registry that is unreachable from the start: a clear error, an empty cache, no crash', async () => {
    const index = await RegistryIndex.open(file());
    const report = await index.sync(['http://127.0.0.1:9'], { timeoutMs: 3000 });
    assert.match(report.registries[0]!.error!, /unreachable|no answer/);
    assert.deepEqual(index.search({ text: 'weather' }), []);
    index.close();
  });

  it('ranks name and title matches above description matches, requires every word, filters', async () => {
    const index = await RegistryIndex.open(file());
    await index.sync([fake.url]);
    const weather = index.search({ text: 'weather' }).map((h) => h.name);
    assert.equal(weather[0], 'io.github.acme/weather', 'the exact short name first');
    assert.ok(weather.indexOf('io.github.legacy/old-weather') < weather.indexOf('io.github.messy/huge-description'), 'a name match outranks a description-only match');
    assert.equal(weather.at(-1), 'io.github.messy/huge-description');
    assert.equal(index.search({ text: 'weather' }).find((h) => h.name === 'io.github.legacy/old-weather')!.status, 'deprecated');
    assert.ok(!weather.includes('io.github.gone/filesystem-plus'));
    assert.deepEqual(index.search({ text: 'weather sqlite' }), [], 'all words are required');
    assert.deepEqual(index.search({ text: 'sqlite read' }).map((h) => h.name), ['io.github.pyfolk/sqlite-explorer']);
    assert.deepEqual(index.search({ text: 'WEATH' }).map((h) => h.name).slice(0, 1), ['io.github.acme/weather'], 'prefixes, any case');
    assert.deepEqual(index.search({ text: '', types: ['pypi'] }).map((h) => h.name), ['io.github.pyfolk/sqlite-explorer']);
    assert.deepEqual(index.search({ text: '', transports: ['sse'] }).map((h) => h.name), ['com.example/events-sse']);
    assert.ok(index.search({ text: '', transports: ['http'] }).some((h) => h.name === 'com.example/search-remote'));
    assert.deepEqual(index.search({ text: '', statuses: ['deprecated'] }).map((h) => h.name), ['io.github.legacy/old-weather']);
    assert.deepEqual(index.search({ text: 'weather', types: ['oci'] }), []);
    // FTS syntax in user text is just words.
    assert.doesNotThrow(() => index.search({ text: '"unbalanced AND OR NOT * NEAR( -x ^y' }));
    index.close();
  });

  it('merges several registries by name: the first listed wins', async () => {
    const privateReg = await new FakeRegistry({ entries: [{ name: 'io.github.acme/weather', description: 'Internal fork of weather', version: '9.0.0' }, { name: 'com.corp/internal-tool', description: 'Only in the private registry', version: '1.0.0' }] }).start();
    try {
      const index = await RegistryIndex.open(file());
      await index.sync([privateReg.url, fake.url]);
      assert.equal(index.get('io.github.acme/weather')!.server.version, '9.0.0');
      assert.equal(index.get('io.github.acme/weather')!.registry, privateReg.url);
      assert.equal(index.search({ text: 'weather' }).filter((h) => h.name === 'io.github.acme/weather').length, 1, 'one result per name');
      assert.ok(index.get('com.corp/internal-tool'));
      assert.ok(index.get('io.github.pyfolk/sqlite-explorer'), 'the second registry still contributes');
      // Order swapped: the official copy wins now.
      await index.sync([fake.url, privateReg.url]);
      assert.equal(index.get('io.github.acme/weather')!.server.version, '1.4.2');
      index.close();
    } finally {
      await privateReg.stop();
    }
  });

  it('the client reads versions and one version by URL-encoded name', async () => {
    fake.publish({ ...(seedEntries()[0] as object), version: '1.5.0' });
    const client = new RegistryClient(fake.url);
    const versions = await client.versions('io.github.acme/weather');
    assert.deepEqual(versions.map((v) => v.server.version), ['1.5.0', '1.4.2']);
    assert.ok(fake.requests.some((u) => u.includes('io.github.acme%2Fweather/versions')));
    assert.equal((await client.version('io.github.acme/weather', '1.4.2'))!.server.version, '1.4.2');
    assert.equal(await client.version('io.github.acme/weather', '7.7.7'), undefined);
    const counts = emptyCounts();
    await client.listPage({ version: 'latest' }, counts);
    assert.equal(counts.droppedEntries, garbageItems().length);
  });

  it('two processes syncing the same index at once leave one valid, complete file', async () => {
    const big = await new FakeRegistry({ entries: generatedEntries(600) }).start();
    try {
      const worker = path.join(__dirname, 'sync-worker.ts');
      const run = () =>
        new Promise<number>((resolve) => {
          const child = spawn(process.execPath, ['--import', 'tsx', worker, file(), big.url], { stdio: ['ignore', 'ignore', 'inherit'] });
          child.on('exit', (code) => resolve(code ?? -1));
        });
      const codes = await Promise.all([run(), run(), run()]);
      assert.deepEqual(codes, [0, 0, 0]);
      const index = await RegistryIndex.open(file());
      assert.equal(index.registries()[0]!.entries, 600);
      assert.equal(index.search({ text: 'weather' }).length > 0, true);
      index.close();
      assert.ok(!fs.existsSync(file() + '.lock'), 'the lock was released');
      assert.deepEqual(fs.readdirSync(dir).filter((f) => f !== 'registry.sqlite'), [], 'no temp files left');
    } finally {
      await big.stop();
    }
  });
});
