/**
 * Which check a delegation runs, and whether it may: configured (router.yaml `verify.<task>`) or detected, and
 * allowed only in a trusted folder — a check runs the repository's code whoever wrote the command. A project's
 * command (configured in `.mcp/router.yaml` or detected from its files) is pinned to the trust decision; one
 * from the user's own router.yaml is theirs and needs no pin.
 */
import { checkPinnedCommand, decideTrust } from '../trust';
import type { VerifyConfig } from '../router/config';
import { detectCheck } from './detect';

export type CheckPlan =
  | { run: true; template: string; origin: string; slot: string }
  | { run: false; reason: string; template?: string; origin?: string };

export async function planCheck(options: {
  workspace: string;
  task: string;
  /** Workspace-relative path of the file the delegation writes. */
  file: string;
  verify: VerifyConfig;
  env: NodeJS.ProcessEnv;
  /** --no-verify / verify: false. */
  disabled?: boolean;
}): Promise<CheckPlan> {
  if (options.disabled) return { run: false, reason: 'verification turned off for this call' };
  const configured = options.verify.checks[options.task];
  let template: string;
  let origin: string;
  let needsPin: boolean;
  let slot = `verify.${options.task}`;
  let pinText: string | undefined;
  if (configured) {
    if (configured.command === undefined) return { run: false, reason: `verify.${options.task} is switched off in ${configured.layer === 'user' ? 'your' : 'the project\'s'} router.yaml` };
    template = configured.command;
    origin = `verify.${options.task} in the ${configured.layer === 'user' ? 'user' : 'project'} router.yaml`;
    needsPin = configured.layer === 'project';
  } else {
    const detected = detectCheck(options.workspace, options.task, options.file);
    if ('none' in detected) return { run: false, reason: detected.none };
    template = detected.command;
    origin = `detected: ${detected.why}`;
    needsPin = true;
    // Detection may pick a different runner per file (a .ts and a .js test): each is pinned on its own.
    slot = `verify.${options.task}.detected:${template}`;
    pinText = detected.pinText;
  }
  const decision = decideTrust(options.workspace, options.env);
  if (!decision.trusted) return { run: false, reason: `not run: ${decision.explanation}`, template, origin };
  if (needsPin) {
    const pinned = await checkPinnedCommand(decision, { slot, text: pinText ?? template }, options.env);
    if (!pinned.ok) return { run: false, reason: `not run: ${pinned.reason}`, template, origin };
  }
  return { run: true, template, origin, slot };
}
