/**
 * The sidecar as the commands see it: the part of SidecarClient they call. Tool names, arguments and results are
 * typed by the sidecar's protocol (src/sidecar/protocol), imported for types only. Commands get a client per
 * workspace folder through `ClientFor`.
 */
import type * as vscode from 'vscode';
import type { SidecarClient } from '../sidecarClient/client';

export type ToolClient = Pick<SidecarClient, 'callTool' | 'callToolWithText'>;

export type ClientFor = (folder: vscode.WorkspaceFolder) => ToolClient | Promise<ToolClient>;

/** The tool's plain message, whatever failed (tool error, dead sidecar, abort). */
export function toolErrorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

export function isAbort(error: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted) return true;
  return error instanceof Error && (error.name === 'AbortError' || /\babort(ed)?\b|cancelled/i.test(error.message));
}
