/**
 * The deployment folder for real: the image built from deploy/Dockerfile with Podman (scripts/build-image.sh),
 * started read-only as the chart runs it, probed, and stopped with SIGTERM; the Helm chart linted, rendered with
 * the documented values and every rendered object validated against the Kubernetes schemas (kubernetes-models).
 * `npm run test:deploy`. Without podman/helm the suites skip locally and FAIL under CI=true.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import YAML from 'yaml';
import { waitFor, writeTokensFile } from '../sidecar/http/helpers';

const REPO = path.resolve(__dirname, '..', '..');
const CHART = path.join(REPO, 'deploy', 'helm', 'switchboard');
const CI_VALUES = path.join(CHART, 'ci-values.yaml');
const CONTAINERS_CONF = path.join(os.homedir(), '.cache', 'switchboard', 'podman', 'containers.conf');

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

function requireOrSkip(ctx: Mocha.Context, ok: boolean, what: string): void {
  if (ok) return;
  if (process.env.CI === 'true') assert.fail(`${what} is not available`);
  ctx.skip();
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeout = 120_000): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env, timeout, maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('deploy: the container image (Podman)', function () {
  this.timeout(900_000);
  const tag = 'localhost/switchboard:test';
  const token = 'sbt_image_' + 'i'.repeat(32);
  let scratch: string;
  let container = '';
  let port = 0;
  const podmanEnv = { ...process.env, CONTAINERS_CONF };
  const podman = (args: string[], timeout?: number) => run('podman', args, podmanEnv, timeout);

  before(function () {
    requireOrSkip(this, have('podman') && have('debootstrap'), 'podman and debootstrap (apt-get install -y podman runc debootstrap)');
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-image-'));
    // The first run makes the cached base image (debootstrap, a few minutes); later runs take seconds.
    const built = run('bash', [path.join(REPO, 'scripts', 'build-image.sh'), tag], process.env, 880_000);
    assert.equal(built.status, 0, built.stderr.slice(-4000));
    assert.equal(built.stdout.trim().split('\n').at(-1), tag);
  });
  after(() => {
    if (container) podman(['rm', '-f', container]);
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('starts as uid 1000 on a read-only root filesystem and answers /healthz, /readyz and MCP', async () => {
    port = await freePort();
    const tokensFile = path.join(scratch, 'tokens.json');
    writeTokensFile(tokensFile, [{ id: 'ops', token }]);
    fs.chmodSync(tokensFile, 0o444);
    const started = podman([
      'run', '-d', '--init', '--network', 'host', '--read-only', '--tmpfs', '/tmp', '--tmpfs', '/data:rw,mode=1777',
      '-e', `PORT=${port}`, '-e', 'SWITCHBOARD_TOKENS_FILE=/run/switchboard/tokens.json', '-e', 'SWITCHBOARD_LOCAL_BASE_URL=http://127.0.0.1:9/v1',
      '-v', `${tokensFile}:/run/switchboard/tokens.json:ro`, tag,
    ]);
    assert.equal(started.status, 0, started.stderr);
    container = started.stdout.trim();
    const base = `http://127.0.0.1:${port}`;
    await waitFor(async () => ((await fetch(`${base}/healthz`)).ok ? true : undefined), '/healthz', 60_000);
    await waitFor(async () => ((await fetch(`${base}/readyz`)).status === 200 ? true : undefined), '/readyz', 60_000);

    const uid = podman(['exec', container, 'id', '-u']);
    assert.equal(uid.stdout.trim(), '1000');
    const health = podman(['healthcheck', 'run', container]);
    assert.equal(health.status, 0, `the image's HEALTHCHECK passes: ${health.stderr}`);

    const client = new Client({ name: 'image-test', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    try {
      assert.deepEqual((await client.listTools()).tools.map((t) => t.name).sort(), ['delegate', 'quota_status']);
      const q = await client.callTool({ name: 'quota_status', arguments: {} });
      assert.notEqual(q.isError, true);
    } finally {
      await client.close();
    }
    assert.equal((await fetch(`${base}/mcp`, { method: 'POST', body: '{}' })).status, 401, 'the image serves with auth');
  });

  it('`podman stop -t 10` sends SIGTERM and the server exits 0 (graceful, not killed)', () => {
    const stopped = podman(['stop', '-t', '10', container]);
    assert.equal(stopped.status, 0, stopped.stderr);
    const state = podman(['inspect', container, '--format', '{{.State.ExitCode}}']);
    assert.equal(state.stdout.trim(), '0');
    const logs = podman(['logs', container]);
    assert.match(logs.stderr + logs.stdout, /"signal":"SIGTERM","msg":"shutting down"/);
    assert.match(logs.stderr + logs.stdout, /"msg":"stopped"/);
  });
});

interface Rendered {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec?: Record<string, unknown>;
  [key: string]: unknown;
}

describe('deploy: the Helm chart', function () {
  this.timeout(300_000);
  let helm = '';

  before(function () {
    const install = run('bash', [path.join(REPO, 'scripts', 'install-helm.sh')], process.env, 280_000);
    requireOrSkip(this, install.status === 0, `helm (scripts/install-helm.sh: ${install.stderr.slice(-500)})`);
    helm = install.stdout.trim().split('\n').at(-1)!;
  });

  function template(args: string[]): Rendered[] {
    const r = run(helm, ['template', 'sb', CHART, '--namespace', 'team', ...args]);
    assert.equal(r.status, 0, r.stderr);
    return YAML.parseAllDocuments(r.stdout).map((d) => d.toJS() as Rendered).filter(Boolean);
  }

  async function validate(obj: Rendered): Promise<void> {
    const [group, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : ['', obj.apiVersion];
    const modulePath = group ? `kubernetes-models/${group}/${version}/${obj.kind}` : `kubernetes-models/${version}/${obj.kind}`;
    const mod = (await import(modulePath)) as Record<string, new (data: unknown) => { validate(): void }>;
    const Model = mod[obj.kind]!;
    assert.ok(Model, `kubernetes-models has ${obj.apiVersion} ${obj.kind}`);
    new Model(obj).validate();
  }

  it('the schema check has teeth: a wrong type in a rendered object is rejected', async () => {
    const deployment = template(['--set', 'secrets.tokens.name=t']).find((o) => o.kind === 'Deployment')!;
    await assert.rejects(validate({ ...deployment, spec: { ...deployment.spec, replicas: 'two' } }));
  });

  const documented: Array<[string, string[]]> = [
    ['tokens Secret only (the smallest working install)', ['--set', 'secrets.tokens.name=switchboard-tokens']],
    ['ci-values.yaml (JWT, PostgreSQL ledger, autoscaling, ServiceMonitor)', ['-f', CI_VALUES]],
  ];

  for (const [what, args] of documented) {
    it(`lints (--strict) and renders valid Kubernetes objects: ${what}`, async () => {
      const lint = run(helm, ['lint', '--strict', CHART, ...args]);
      assert.equal(lint.status, 0, lint.stdout + lint.stderr);
      const objects = template(args);
      for (const obj of objects) {
        if (obj.apiVersion === 'monitoring.coreos.com/v1') {
          // A CRD kubernetes-models does not ship: check the fields Prometheus Operator needs.
          const endpoints = (obj.spec as { endpoints: Array<{ port: string; path: string }> }).endpoints;
          assert.deepEqual(endpoints.map((e) => [e.port, e.path]), [['http', '/metrics']]);
          continue;
        }
        await validate(obj);
      }
      const kinds = objects.map((o) => o.kind).sort();
      const expected = ['ConfigMap', 'Deployment', 'NetworkPolicy', 'PodDisruptionBudget', 'Service', 'ServiceAccount'];
      for (const k of expected) assert.ok(kinds.includes(k), `${k} rendered: ${kinds.join(', ')}`);
      assert.ok(!kinds.includes('Secret'), 'the chart never renders a Secret: keys and tokens come from existing Secrets');

      const deployment = objects.find((o) => o.kind === 'Deployment')!;
      const pod = (deployment.spec as { template: { spec: Record<string, unknown> } }).template.spec as {
        securityContext: Record<string, unknown>;
        containers: Array<{ securityContext: Record<string, unknown>; livenessProbe: { httpGet: { path: string } }; readinessProbe: { httpGet: { path: string } }; env: Array<{ name: string; value?: string; valueFrom?: unknown }>; resources: { limits: unknown; requests: unknown } }>;
      };
      assert.equal(pod.securityContext.runAsNonRoot, true);
      assert.deepEqual(pod.securityContext.seccompProfile, { type: 'RuntimeDefault' });
      const c = pod.containers[0]!;
      assert.equal(c.securityContext.allowPrivilegeEscalation, false);
      assert.equal(c.securityContext.readOnlyRootFilesystem, true);
      assert.deepEqual(c.securityContext.capabilities, { drop: ['ALL'] });
      assert.equal(c.livenessProbe.httpGet.path, '/healthz');
      assert.equal(c.readinessProbe.httpGet.path, '/readyz');
      assert.ok(c.resources.limits && c.resources.requests);
      for (const e of c.env) {
        if (/KEY|TOKEN|SECRET|PASSWORD|LEDGER_URL/.test(e.name) && e.name !== 'SWITCHBOARD_TOKENS_FILE') assert.ok(e.valueFrom, `${e.name} comes from a Secret`);
      }
    });
  }

  it('the full values render an HPA and a ServiceMonitor, and refuse autoscaling without a shared ledger', () => {
    const kinds = template(['-f', CI_VALUES]).map((o) => o.kind);
    assert.ok(kinds.includes('HorizontalPodAutoscaler') && kinds.includes('ServiceMonitor'));
    const refused = run(helm, ['template', 'sb', CHART, '-f', CI_VALUES, '--set', 'ledger.urlSecret.name=']);
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /autoscaling needs a shared ledger/);
  });

  it('refuses to render without any auth (the server would refuse to start)', () => {
    const r = run(helm, ['template', 'sb', CHART]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /refuses to run without auth/);
  });

  it('the chart and the image agree: port, probes and state folder', () => {
    const dockerfile = fs.readFileSync(path.join(REPO, 'deploy', 'Dockerfile'), 'utf8');
    assert.match(dockerfile, /PORT=8787/);
    assert.match(dockerfile, /SWITCHBOARD_HOME=\/data/);
    assert.match(dockerfile, /^USER 1000:1000$/m);
    const values = YAML.parse(fs.readFileSync(path.join(CHART, 'values.yaml'), 'utf8')) as { port: number };
    assert.equal(values.port, 8787);
    execFileSync(helm, ['version', '--short']);
  });
});
