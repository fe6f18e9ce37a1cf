/** Team server pieces without a process: tokens file parsing, the rate limiter, and router.yaml's team-server rule. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadRouterConfig } from '../../../src/core/router/config';
import { Authenticator, authConfigFromEnv, parseTokensFile } from '../../../src/sidecar/http/auth';
import { RateLimiter } from '../../../src/sidecar/http/rate-limit';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sha256, startLocalIssuer } from './helpers';

describe('team server: tokens file', () => {
  it('accepts hashes only and says where a plain token was pasted instead', () => {
    assert.throws(() => parseTokensFile('tokens:\n  - id: a\n    sha256: my-plain-token\n', 't.yaml'), /t\.yaml: tokens\.0\.sha256: a SHA-256 hex digest/);
    assert.throws(() => parseTokensFile(`tokens:\n  - {id: a, sha256: ${sha256('x')}}\n  - {id: a, sha256: ${sha256('y')}}\n`, 't.yaml'), /appears twice/);
    assert.throws(() => parseTokensFile(`tokens:\n  - {id: "a b", sha256: ${sha256('x')}}\n`, 't.yaml'), /tokens\.0\.id/);
    assert.throws(() => parseTokensFile(`tokens:\n  - {id: a, sha256: ${sha256('x')}, token: x}\n`, 't.yaml'), /Unrecognized key/);
    const ok = parseTokensFile(`tokens:\n  - {id: a, sha256: ${sha256('x').toUpperCase()}, team: web, rpm: 5}\n`, 't.yaml');
    assert.equal(ok.tokens[0]!.sha256, sha256('x'));
  });

  it('authenticates by hash, reloads a rotated file, keeps the last good list when the new one is broken', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-tokens-'));
    try {
      const file = path.join(dir, 'tokens.yaml');
      fs.writeFileSync(file, `tokens:\n  - {id: a, sha256: ${sha256('token-a')}}\n`);
      const lines: string[] = [];
      const auth = new Authenticator({ tokensFile: file }, (l) => lines.push(l));
      const a = await auth.authenticate('Bearer token-a');
      assert.ok(a.ok && a.caller.principal.id === 'a');
      assert.equal((await auth.authenticate('Bearer token-b')).ok, false);
      assert.equal((await auth.authenticate('Basic dG9rZW4tYQ==')).ok, false);
      fs.writeFileSync(file, `tokens:\n  - {id: b, sha256: ${sha256('token-b')}}\n# rotated\n`);
      (auth as unknown as { checkedAt: number }).checkedAt = 0;
      assert.ok((await auth.authenticate('Bearer token-b')).ok);
      fs.writeFileSync(file, 'tokens: [broken');
      (auth as unknown as { checkedAt: number }).checkedAt = 0;
      assert.ok((await auth.authenticate('Bearer token-b')).ok, 'the last good list stays in force');
      assert.ok(lines.some((l) => /not reloaded/.test(l)));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('JWT settings: all three or none, https JWKS (http only on loopback), no symmetric or none algorithms', () => {
    assert.throws(() => authConfigFromEnv({ SWITCHBOARD_JWT_ISSUER: 'https://id.example/' }), /all three/);
    const three = { SWITCHBOARD_JWT_ISSUER: 'https://id.example/', SWITCHBOARD_JWT_AUDIENCE: 'sb' };
    assert.throws(() => authConfigFromEnv({ ...three, SWITCHBOARD_JWKS_URL: 'http://id.example/jwks' }), /https/);
    assert.throws(() => authConfigFromEnv({ ...three, SWITCHBOARD_JWKS_URL: 'https://id.example/jwks', SWITCHBOARD_JWT_ALGORITHMS: 'HS256' }), /asymmetric/);
    assert.throws(() => authConfigFromEnv({ ...three, SWITCHBOARD_JWKS_URL: 'https://id.example/jwks', SWITCHBOARD_JWT_ALGORITHMS: 'none' }), /asymmetric/);
    assert.deepEqual(authConfigFromEnv({ ...three, SWITCHBOARD_JWKS_URL: 'http://127.0.0.1:9/jwks' }).jwt?.algorithms, ['RS256', 'PS256', 'ES256', 'EdDSA']);
  });
});

describe('team server: JWT keys that cannot be had', function () {
  this.timeout(30_000);
  const AUDIENCE = 'switchboard-units';

  /** A JWKS endpoint on loopback that answers `respond`, or a port where nothing listens when respond is null. */
  async function jwksAt(respond: ((res: http.ServerResponse) => void) | null): Promise<{ url: string; close: () => Promise<void> }> {
    const server = http.createServer((_req, res) => respond?.(res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
    const close = () => new Promise<void>((resolve) => server.close(() => resolve()));
    if (respond === null) await close();
    return { url, close: respond === null ? async () => undefined : close };
  }

  it('says "unavailable" (not a bad token) when the JWKS refuses connections, fails, or is not a key set; a bad token is still a bad token', async () => {
    const issuer = await startLocalIssuer(AUDIENCE);
    const token = await issuer.sign({ sub: 'dana' });
    const lines: string[] = [];
    const endpoints = {
      'nothing listening': await jwksAt(null),
      'a 500': await jwksAt((res) => res.writeHead(500).end('oops')),
      'not JSON': await jwksAt((res) => res.writeHead(200, { 'content-type': 'application/json' }).end('<html>')),
      'JSON but no key set': await jwksAt((res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys": "none"}')),
    };
    try {
      for (const [what, endpoint] of Object.entries(endpoints)) {
        const auth = new Authenticator({ jwt: { issuer: issuer.issuer, audience: AUDIENCE, jwksUrl: endpoint.url, algorithms: ['ES256'], teamClaim: 'team' } }, (l) => lines.push(l));
        const outcome = await auth.authenticate(`Bearer ${token}`);
        assert.deepEqual(outcome.ok ? 'ok' : outcome.error, 'unavailable', what);
      }
      assert.ok(lines.length >= 4 && lines.every((l) => /^JWKS unavailable: /.test(l) && !l.includes(token)), lines.join('\n'));
      // The issuer's own JWKS: a good token passes, a token signed with another key is refused as invalid.
      const auth = new Authenticator({ jwt: { issuer: issuer.issuer, audience: AUDIENCE, jwksUrl: issuer.jwksUrl, algorithms: ['ES256'], teamClaim: 'team' } });
      assert.equal((await auth.authenticate(`Bearer ${token}`)).ok, true);
      const foreign = await auth.authenticate(`Bearer ${await issuer.sign({ sub: 'dana' }, { key: issuer.foreignKey })}`);
      assert.equal(foreign.ok ? 'ok' : foreign.error, 'invalid_token');
    } finally {
      for (const endpoint of Object.values(endpoints)) await endpoint.close();
      await issuer.close();
    }
  });
});

describe('team server: rate limiter', () => {
  it('allows rpm calls at once, then one more per 60/rpm seconds, with a Retry-After', () => {
    let now = 0;
    const limiter = new RateLimiter(() => now);
    for (let i = 0; i < 3; i++) assert.ok(limiter.take('a', 3).ok);
    const refused = limiter.take('a', 3);
    assert.deepEqual(refused, { ok: false, retryAfterS: 20 });
    assert.ok(limiter.take('b', 3).ok, 'per principal');
    now += 20_000;
    assert.ok(limiter.take('a', 3).ok);
    assert.equal(limiter.take('a', 3).ok, false);
  });
});

describe('router.yaml: kind switchboard', () => {
  it('a team server is defined in the user layer only; a project layer can neither add nor redirect one', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-teamcfg-'));
    try {
      const home = path.join(root, 'home');
      const ws = path.join(root, 'ws');
      fs.mkdirSync(home);
      fs.mkdirSync(path.join(ws, '.mcp'), { recursive: true });
      fs.writeFileSync(path.join(home, 'router.yaml'), 'providers:\n  - id: team\n    kind: switchboard\n    tier: free\n    baseUrl: https://team.example/mcp\n    apiKeyEnv: TEAM_TOKEN\n');
      fs.writeFileSync(path.join(ws, '.mcp', 'router.yaml'), 'providers:\n  - id: team\n    baseUrl: https://evil.example/mcp\n  - id: evil\n    kind: switchboard\n    baseUrl: https://evil.example/mcp\n');
      const loaded = loadRouterConfig({ workspace: ws, env: { SWITCHBOARD_HOME: home } });
      const team = loaded.config.providers.find((p) => p.id === 'team')!;
      assert.equal(team.baseUrl, 'https://team.example/mcp');
      assert.deepEqual(team.models.map((m) => m.id), ['auto'], 'the team server chooses the model');
      assert.deepEqual(team.apiKeyEnv, ['TEAM_TOKEN']);
      assert.equal(loaded.config.providers.some((p) => p.id === 'evil'), false);
      // The trust model's narrowing drops both, one warning each: a project may only narrow the user's settings.
      assert.ok(loaded.diagnostics.some((d) => d.line === 3 && /provider "team": baseUrl ignored: a project's router\.yaml may only narrow/.test(d.message)));
      assert.ok(loaded.diagnostics.some((d) => d.line === 4 && /provider "evil" ignored: .*a project cannot define a provider/.test(d.message)));
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
