/** "Switchboard: Discard Proposal" — closes the diff; nothing is written. */
import * as vscode from 'vscode';
import type { Proposal } from '../delegation/proposals';
import type { DelegationService } from '../delegation/service';

export const DISCARD_PROPOSAL_COMMAND = 'switchboard.discardProposal';

/** The proposal meant by the invocation; asks when several are pending and none is in view. */
export async function pickProposal(service: DelegationService, arg: unknown, verb: string): Promise<Proposal | undefined> {
  const resolved = service.proposals.resolve(arg);
  if (resolved) return resolved;
  const all = service.proposals.all;
  if (all.length === 0) {
    void vscode.window.showInformationMessage(`Switchboard: no proposal to ${verb}.`);
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(
    all.map((p) => ({ label: p.targetRel, description: `${p.task} · ${p.result.provider}/${p.result.model}${p.result.complete ? '' : ' · INCOMPLETE'}`, proposal: p })),
    { placeHolder: `Which proposal to ${verb}?` },
  );
  return picked?.proposal;
}

export function registerDiscardProposal(service: DelegationService): vscode.Disposable {
  return vscode.commands.registerCommand(DISCARD_PROPOSAL_COMMAND, async (arg?: unknown) => {
    const proposal = await pickProposal(service, arg, 'discard');
    return proposal ? service.discard(proposal) : false;
  });
}
