/**
 * Verified delegation on a reference workload: 30 `delegate tests --out` calls over the five small node:test
 * projects in test/fixtures/verify-projects, through the real delegate tool (router, SqlJsLedger, file policy,
 * backups, real `node --test` checks) against scripted providers on the fake provider server:
 *   - cheap   ($0.10 / $0.40 per Mtok): the first answer fails its check 50 % of the time, a repair 50 %;
 *   - mid     ($0.50 / $2.00):          fails 25 %, a repair 50 %;
 *   - premium ($3.00 / $15.00):         always passes (the reference: always using it).
 * Which answers fail is drawn from a fixed seed, so every run scores the same script. Token counts are the
 * router's estimate from the real request and answer sizes (the fake server reports no usage), so a repair,
 * which carries the failing answer and the check's output, costs what it would.
 * Reported: accepted-and-passing rate (each accepted file re-checked afterwards by an independent `node --test`;
 * goal 100 %), cost per accepted answer vs the same 30 tasks sent to premium (goal ≤ 25 %), attempts per task.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SidecarContext } from '../../src/sidecar/context';
import { callTool } from '../../src/sidecar/cli/run-tool';
import { delegateDescriptor, type DelegateOutput } from '../../src/sidecar/protocol/delegate';
import { startFakeProviderServer, type FakeProviderServer } from '../fakes/provider-server';
import { answerFor, copyProject, verifyProjects, type AnswerQuality, type VerifyProject } from '../fakes/verify-projects';
import { round } from './stats';

const ROUNDS = 6;
const SEED = 20261128;
const FAIL = { cheap: 0.5, cheapRepair: 0.5, mid: 0.25, midRepair: 0.5 };

/** mulberry32: a small seeded generator, so the script is the same every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function routerYaml(server: FakeProviderServer): string {
  const provider = (id: string, inPrice: number, outPrice: number) => [
    `  - id: ${id}`,
    '    kind: openai-compatible',
    '    tier: paid',
    `    baseUrl: ${server.baseUrl('openai-compatible', id)}`,
    '    apiKeyEnv: []',
    '    models:',
    `      - { id: ${id}-model, input_per_mtok: ${inPrice}, output_per_mtok: ${outPrice}, context: 128000 }`,
  ].join('\n');
  return [
    'providers:',
    '  - { id: local, disabled: true }',
    provider('cheap', 0.1, 0.4),
    provider('mid', 0.5, 2),
    provider('premium', 3, 15),
    'routing:',
    '  allow_paid: true',
    '  budget_usd_month: 1000',
    'verify:',
    '  tests: node --test {file}',
    '  timeout_s: 60',
    '  max_attempts: 5',
    '  repairs_per_provider: 1',
    '',
  ].join('\n');
}

interface Task {
  project: VerifyProject;
  script: { cheap: AnswerQuality[]; mid: AnswerQuality[]; premium: AnswerQuality[] };
}

function workload(): Task[] {
  const random = seeded(SEED);
  const bad = (): AnswerQuality => (random() < 0.5 ? 'wrong' : 'broken');
  const tasks: Task[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const project of verifyProjects()) {
      const cheapFirst = random() < FAIL.cheap ? bad() : 'good';
      const cheapRepair = random() < FAIL.cheapRepair ? bad() : 'good';
      const midFirst = random() < FAIL.mid ? bad() : 'good';
      const midRepair = random() < FAIL.midRepair ? bad() : 'good';
      tasks.push({ project, script: { cheap: [cheapFirst, cheapRepair], mid: [midFirst, midRepair], premium: ['good', 'good'] } });
    }
  }
  return tasks;
}

interface Scored {
  accepted: boolean;
  passesAfterwards: boolean;
  targetAbsentOnFailure: boolean;
  attempts: number;
  provider?: string;
  costUsd: number;
}

async function runTask(sidecar: SidecarContext, server: FakeProviderServer, workspace: string, task: Task, provider?: string): Promise<Scored> {
  server.reset();
  server.setReply({ usage: null });
  for (const route of ['cheap', 'mid', 'premium'] as const) {
    for (const quality of task.script[route]) server.enqueue(route, { kind: 'ok', text: answerFor(task.project, quality) });
  }
  const target = path.join(workspace, task.project.target);
  fs.rmSync(target, { force: true });
  let outcome: DelegateOutput | undefined;
  try {
    const r = await callTool(sidecar, delegateDescriptor, { task: 'tests', prompt: `Write node:test unit tests for ${task.project.source}.`, files: [task.project.source], output_path: task.project.target, ...(provider ? { provider } : {}) });
    outcome = r.structured;
  } catch {
    outcome = undefined;
  }
  const generations = server.completions().length;
  if (!outcome) {
    // The ledger has what the failed attempts cost; this workload's script never gets here (premium passes).
    return { accepted: false, passesAfterwards: false, targetAbsentOnFailure: !fs.existsSync(target), attempts: generations, costUsd: NaN };
  }
  let passesAfterwards = false;
  try {
    execFileSync(process.execPath, ['--test', task.project.target], { cwd: workspace, stdio: 'ignore', timeout: 60_000 });
    passesAfterwards = true;
  } catch {
    passesAfterwards = false;
  }
  return {
    accepted: outcome.verification?.status === 'passed',
    passesAfterwards,
    targetAbsentOnFailure: true,
    attempts: outcome.verification?.attempts.length ?? generations,
    provider: outcome.provider,
    costUsd: outcome.total_cost_usd ?? outcome.cost_usd,
  };
}

export async function run(): Promise<object> {
  const server = await startFakeProviderServer();
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'sb-bench-verify-')));
  const home = path.join(root, 'home');
  const switchboardHome = path.join(root, 'sb');
  fs.mkdirSync(home);
  fs.mkdirSync(switchboardHome);
  fs.writeFileSync(path.join(switchboardHome, 'router.yaml'), routerYaml(server));
  const projects = verifyProjects();
  const workspaces = new Map(projects.map((p) => [p.name, copyProject(p, path.join(root, p.name))]));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    SWITCHBOARD_HOME: switchboardHome,
    TMPDIR: os.tmpdir(),
    SWITCHBOARD_TRUSTED_FOLDERS: [...workspaces.values()].join(path.delimiter),
  };
  const sidecars = new Map(projects.map((p) => {
    const s = new SidecarContext({ workspace: workspaces.get(p.name)!, workspaceExplicit: true, actor: 'cli', env, log: () => {} });
    s.setClientRoots(undefined);
    return [p.name, s];
  }));
  try {
    const tasks = workload();
    const started = performance.now();
    const verified: Scored[] = [];
    for (const task of tasks) verified.push(await runTask(sidecars.get(task.project.name)!, server, workspaces.get(task.project.name)!, task));
    const verifiedMs = performance.now() - started;
    const premium: Scored[] = [];
    for (const task of tasks) premium.push(await runTask(sidecars.get(task.project.name)!, server, workspaces.get(task.project.name)!, task, 'premium'));

    const accepted = verified.filter((s) => s.accepted);
    const spent = verified.reduce((sum, s) => sum + (Number.isFinite(s.costUsd) ? s.costUsd : 0), 0);
    const premiumSpent = premium.reduce((sum, s) => sum + s.costUsd, 0);
    const perAccepted = spent / Math.max(1, accepted.length);
    const premiumPerAccepted = premiumSpent / Math.max(1, premium.filter((s) => s.accepted).length);
    const byProvider: Record<string, number> = {};
    for (const s of accepted) byProvider[s.provider!] = (byProvider[s.provider!] ?? 0) + 1;
    const attempts = verified.map((s) => s.attempts);
    const spend = await (await sidecars.values().next().value!.ledger()).monthSpend();
    return {
      load_avg_1m: round(os.loadavg()[0]!, 2),
      tasks: tasks.length,
      script: { seed: SEED, fail_rates: FAIL, premium_fails: 0 },
      accepted: accepted.length,
      accepted_and_passing_rate: round(accepted.filter((s) => s.passesAfterwards).length / Math.max(1, accepted.length), 4),
      goal_accepted_and_passing_rate: 1,
      failed_tasks_left_target_as_before: verified.filter((s) => !s.accepted).every((s) => s.targetAbsentOnFailure),
      attempts_per_task: { mean: round(attempts.reduce((a, b) => a + b, 0) / attempts.length, 2), max: Math.max(...attempts), first_try: attempts.filter((a) => a === 1).length },
      accepted_by_provider: byProvider,
      cost_per_accepted_usd: round(perAccepted, 8),
      premium_only_cost_per_accepted_usd: round(premiumPerAccepted, 8),
      cost_vs_premium_only: round(perAccepted / premiumPerAccepted, 4),
      goal_cost_vs_premium_only: 0.25,
      premium_only_accepted_and_passing: premium.filter((s) => s.accepted && s.passesAfterwards).length,
      ledger_calls: spend.calls,
      ledger_usd: round(spend.usd, 8),
      ms_per_verified_task: round(verifiedMs / tasks.length, 0),
    };
  } finally {
    for (const s of sidecars.values()) await s.close();
    await server.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
}
