/**
 * `switchboard demo`: the whole path, offline, on a scratch copy of media/sample-workspace.
 *
 * A SIMULATED Gemini provider on 127.0.0.1 → the built sidecar spawned over stdio (its own scratch HOME and
 * SWITCHBOARD_HOME, a dummy key, none of the user's keys) → the real MCP SDK client calls `delegate` (tests for
 * src/slugify.ts, written with a backup), `quota_status`, `restore_backup` (the rollback) and `list_backups`.
 * The delegation is verified: the scratch copy is trusted and its check is the sample's tests under node:test
 * (TypeScript through the checkout's tsx); the simulated first draft fails it and the repair passes.
 * Nothing outside the scratch folder is read for state or written.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { UserError } from '../../core/errors';
import { backupsTable } from '../cli/backups';
import { routingLines } from '../cli/delegate';
import { quotaTable } from '../cli/quota';
import {
  delegateDescriptor,
  listBackupsDescriptor,
  quotaStatusDescriptor,
  restoreBackupDescriptor,
  type BackupRow,
  type DelegateOutput,
  type QuotaStatusOutput,
} from '../protocol';
import { connectSidecarOverStdio, type SidecarSession } from './mcp-client';
import { DEMO_API_KEY, SIMULATED_LABEL, startSimulatedProvider, type SimulatedProvider } from './simulated-provider';

export const DEMO_SOURCE = 'src/slugify.ts';
export const DEMO_OUTPUT = 'test/slugify.test.ts';
/** Per MCP request (connect, each tool call): far above the ~1 s the whole demo takes, only a hang guard. */
const CALL_TIMEOUT_MS = 20_000;

export interface DemoOptions {
  /** dist/sidecar.js: spawned as the MCP server. */
  bundle: string;
  /** media/sample-workspace. */
  sampleDir: string;
  /** Remove the scratch folder at the end (default: keep it, so the user can look around). */
  clean: boolean;
  /** Readable progress; not called in --json mode. */
  print?: (line: string) => void;
}

export interface DemoSummary {
  simulated: true;
  provider_note: string;
  scratch_dir: string;
  workspace: string;
  scratch_kept: boolean;
  sidecar_tools: string[];
  delegate: DelegateOutput & { text: string };
  written: { path: string; bytes: number; backup_id: string };
  quota: QuotaStatusOutput;
  rollback: { path: string; deleted: boolean; file_exists_after: boolean; restored_from: string; backup_id: string };
  backups: BackupRow[];
  simulated_requests: number;
  elapsed_ms: number;
}

export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const started = Date.now();
  const print = options.print ?? (() => {});
  if (!fs.existsSync(path.join(options.sampleDir, DEMO_SOURCE))) {
    // The packaged extension leaves media/sample-workspace out (.vscodeignore): the demo runs from a checkout.
    throw new UserError(`the demo needs the sample workspace at ${options.sampleDir}, which only a Switchboard checkout has: run npm run demo there`, 'demo_sample_missing');
  }
  const scratch = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-demo-')));
  const workspace = path.join(scratch, 'workspace');
  const home = path.join(scratch, 'home');
  const switchboardHome = path.join(scratch, 'switchboard-home');
  const tmp = path.join(scratch, 'tmp');
  let sim: SimulatedProvider | undefined;
  let session: SidecarSession | undefined;
  let succeeded = false;
  try {
    fs.cpSync(options.sampleDir, workspace, { recursive: true });
    for (const dir of [home, switchboardHome, tmp]) fs.mkdirSync(dir, { recursive: true });
    // The sample routes by the built-in defaults, whose first tier is a local model server; a real Ollama on
    // this machine must not take the demo's task, so the scratch copy switches the local tier off.
    fs.writeFileSync(
      path.join(workspace, '.mcp', 'router.yaml'),
      '# Written by `switchboard demo` in its scratch copy: no local model server, so the simulated Gemini free tier answers.\nproviders:\n  - id: local\n    disabled: true\n',
    );

    // The check, in the scratch user layer: node:test runs the written file, TypeScript through tsx.
    const tsxLoader = findTsxLoader(options.bundle);
    if (tsxLoader) {
      fs.writeFileSync(path.join(switchboardHome, 'router.yaml'), `# Written by \`switchboard demo\`: the check a delegated test file must pass.\nverify:\n  tests: ${JSON.stringify(`node --import ${pathToFileURL(tsxLoader).href} --test {file}`)}\n  timeout_s: 60\n`);
    }

    sim = await startSimulatedProvider();
    print('Switchboard demo: offline, on a scratch copy of the sample workspace; no real model is called, no key needed.');
    print(`  scratch workspace:  ${workspace}`);
    print(`  provider:           SIMULATED Gemini at ${sim.baseUrl} (simulated answers, dummy key "${DEMO_API_KEY}")`);

    session = await connectSidecarOverStdio({
      bundle: options.bundle,
      workspace,
      cwd: workspace,
      env: sidecarEnv({ home, switchboardHome, tmp, geminiBaseUrl: sim.baseUrl }),
      timeoutMs: CALL_TIMEOUT_MS,
    });
    print(`  sidecar:            node ${path.basename(options.bundle)} serve, connected over stdio as an MCP client (${session.toolNames.length} tools)`);
    print('');

    print(`1. delegate {task: "tests", files: ["${DEMO_SOURCE}"], output_path: "${DEMO_OUTPUT}"}`);
    const delegated = await session.call(delegateDescriptor, { task: 'tests', prompt: `Write unit tests for ${DEMO_SOURCE}.`, files: [DEMO_SOURCE], output_path: DEMO_OUTPUT });
    const outcome = delegated.structured;
    const target = path.join(workspace, DEMO_OUTPUT);
    if (!outcome.backup_id || !fs.existsSync(target)) throw new UserError(`delegate did not write ${DEMO_OUTPUT}: ${delegated.text}`, 'demo_failed');
    const written = { path: DEMO_OUTPUT, bytes: fs.statSync(target).size, backup_id: outcome.backup_id };

    const quota = (await session.call(quotaStatusDescriptor, {})).structured;
    // The scratch ledger is fresh: this month's figures are exactly this one delegation.
    const baselineUsd = quota.month.baseline_usd;
    for (const line of routingLines(outcome, { baselineUsd, providerLabel: labelFor(outcome.provider), task: 'tests' })) print(`   ${line}`);
    print(`   wrote ${written.path} (${written.bytes} bytes) with backup ${written.backup_id}`);
    const v = outcome.verification;
    if (v?.status === 'passed' && v.attempts.length > 1) {
      print(`   verified: the ${SIMULATED_LABEL} model's first answer failed the sample's check (${v.attempts[0]!.summary}); sent back with the check's output, its repair passed`);
    } else if (v) {
      print(`   verification ${v.status}${v.reason ? `: ${v.reason}` : ''}`);
    }
    print('');

    print('2. quota_status (the scratch ledger; the simulated provider\'s row is marked)');
    const shownQuota: QuotaStatusOutput = { ...quota, providers: quota.providers.map((p) => ({ ...p, id: p.id === outcome.provider ? `${p.id} (${SIMULATED_LABEL})` : p.id })) };
    for (const line of quotaTable(shownQuota).split('\n')) print(line ? `   ${line}` : '');
    print('');

    print(`3. rollback: restore_backup {backup_id: "${written.backup_id}"}`);
    const restored = (await session.call(restoreBackupDescriptor, { backup_id: written.backup_id })).structured;
    const existsAfter = fs.existsSync(target);
    if (existsAfter || !restored.deleted) throw new UserError(`the rollback did not remove ${DEMO_OUTPUT}`, 'demo_failed');
    print(`   ${restored.path} removed: it did not exist before the delegation (the removal is itself backed up as ${restored.backup_id})`);
    const { backups } = (await session.call(listBackupsDescriptor, {})).structured;
    print('   list_backups:');
    for (const line of backupsTable(backups).split('\n')) print(`     ${line}`);
    print('');

    const summary: DemoSummary = {
      simulated: true,
      provider_note: `${SIMULATED_LABEL} Gemini provider on 127.0.0.1: canned answers, no network, dummy key`,
      scratch_dir: scratch,
      workspace,
      scratch_kept: !options.clean,
      sidecar_tools: session.toolNames,
      delegate: { ...outcome, text: delegated.text },
      written,
      quota,
      rollback: { path: restored.path, deleted: restored.deleted, file_exists_after: existsAfter, restored_from: restored.restored_from, backup_id: restored.backup_id },
      backups,
      simulated_requests: sim.requests,
      elapsed_ms: 0,
    };
    succeeded = true;
    summary.elapsed_ms = Date.now() - started;
    print(`Done in ${(summary.elapsed_ms / 1000).toFixed(1)} s; the ${SIMULATED_LABEL} provider answered ${sim.requests} request(s).`);
    if (options.clean) print('Scratch folder removed (--clean).');
    else print(`Scratch workspace kept at ${workspace}: look around (.switchboard/ holds the backups and audit log), then delete ${scratch}.`);
    return summary;
  } catch (err) {
    const log = session?.stderr().trim().split('\n').pop();
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new UserError(`demo failed: ${message}${log ? ` (sidecar: ${log})` : ''}; scratch folder kept at ${scratch}`, 'demo_failed');
  } finally {
    await session?.close();
    await sim?.close();
    // A failed run keeps its scratch folder for a look, whatever --clean says.
    if (options.clean && succeeded) fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/** The sidecar's whole environment: nothing inherited that could carry a real key or point at real state. */
function sidecarEnv(dirs: { home: string; switchboardHome: string; tmp: string; geminiBaseUrl: string }): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ['PATH', 'Path', 'SystemRoot', 'SYSTEMROOT', 'WINDIR', 'LANG', 'LC_ALL']) {
    const value = process.env[name];
    if (value) env[name] = value;
  }
  return {
    ...env,
    HOME: dirs.home,
    USERPROFILE: dirs.home,
    TMPDIR: dirs.tmp,
    TEMP: dirs.tmp,
    TMP: dirs.tmp,
    SWITCHBOARD_HOME: dirs.switchboardHome,
    SWITCHBOARD_GEMINI_BASE_URL: dirs.geminiBaseUrl,
    // The demo's own scratch copy is trusted, as the editor would say of a folder the user trusts.
    SWITCHBOARD_TRUSTED_FOLDERS: path.join(path.dirname(dirs.home), 'workspace'),
    GEMINI_API_KEY: DEMO_API_KEY,
  };
}

/** tsx's ESM loader in the checkout the demo runs from (the sample is TypeScript; Node 20 cannot run it alone). */
function findTsxLoader(bundle: string): string | undefined {
  try {
    const manifest = createRequire(bundle).resolve('tsx/package.json');
    const loader = path.join(path.dirname(manifest), 'dist', 'loader.mjs');
    return fs.existsSync(loader) ? loader : undefined;
  } catch {
    return undefined;
  }
}

function labelFor(provider: string): string | undefined {
  return provider === 'gemini' ? `(${SIMULATED_LABEL})` : undefined;
}
