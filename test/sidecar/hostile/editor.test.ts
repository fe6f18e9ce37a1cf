/** Hostile repositories, family 4: keys from the editor (the per-user key channel). */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startKeyChannel, type KeyChannelServer } from '../../../src/core/keys/channel';
import { connectSidecar } from '../helpers';
import { KEYS, assertAttackerGotNoSecret, bothTrusts, call, makeWorld, type World } from './helpers';

describe('hostile repository: keys from the editor', function () {
  this.timeout(120_000);
  let world: World;
  let channel: KeyChannelServer | undefined;
  beforeEach(async () => (world = await makeWorld()));
  afterEach(async () => {
    await channel?.close();
    channel = undefined;
    assertAttackerGotNoSecret(world);
    await world.cleanup();
  });

  bothTrusts('a sidecar started in a clone asks the editor for its stored keys', async (trusted) => {
    // The editor holds a Gemini key and trusts exactly one folder; the clone is that folder only when trusted.
    const trustedFolder = trusted ? world.workspace : fs.mkdtempSync(`${world.scratch.root}/other-`);
    channel = await startKeyChannel({
      env: { SWITCHBOARD_HOME: world.scratch.switchboardHome, HOME: world.home },
      keys: () => ({ GEMINI_API_KEY: KEYS.GEMINI_API_KEY }),
      trustsFolder: (folder) => folder === trustedFolder,
    });
    // No key in the sidecar's own environment: whatever it has came over the channel.
    const c = await connectSidecar(world.scratch, { env: { PATH: process.env.PATH ?? '' } });
    try {
      const q = await call(c, 'quota_status');
      const gemini = (q.structured.providers as Array<{ id: string; has_key: boolean }>).find((p) => p.id === 'gemini')!;
      assert.equal(gemini.has_key, trusted, 'keys only for a folder the editor trusts');
      assert.equal(channel.stats.served, trusted ? 1 : 0);
      assert.equal(channel.stats.untrusted, trusted ? 0 : 1);
      if (!trusted) assert.match(c.stderr(), /keys: the editor answered: untrusted folder/);
      assert.ok(!c.stderr().includes(KEYS.GEMINI_API_KEY));
    } finally {
      await c.close();
    }
  });
});
