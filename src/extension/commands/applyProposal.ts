/** "Switchboard: Apply Proposal" — editor-title ✓, the notification's Apply, or the palette. */
import * as vscode from 'vscode';
import type { ApplyOutcome, DelegationService } from '../delegation/service';
import { pickProposal } from './discardProposal';

export const APPLY_PROPOSAL_COMMAND = 'switchboard.applyProposal';

export async function applyProposal(service: DelegationService, arg?: unknown): Promise<ApplyOutcome | undefined> {
  const proposal = await pickProposal(service, arg, 'apply');
  if (!proposal) return undefined;
  return service.apply(proposal);
}

export function registerApplyProposal(service: DelegationService): vscode.Disposable {
  return vscode.commands.registerCommand(APPLY_PROPOSAL_COMMAND, (arg?: unknown) => applyProposal(service, arg));
}
