/**
 * The sidecar as the commands see it: the part of SidecarClient they call, and the shapes of the tool results
 * they read (see src/sidecar/tools/*.ts). Commands get a client per workspace folder through `ClientFor`.
 */
import type * as vscode from 'vscode';
import type { CallToolOptions } from '../sidecar/client';

export interface ToolClient {
  callTool<T = Record<string, unknown>>(name: string, args?: Record<string, unknown>, options?: CallToolOptions): Promise<T>;
  callToolWithText<T = Record<string, unknown>>(name: string, args?: Record<string, unknown>, options?: CallToolOptions): Promise<{ structured: T; text: string }>;
}

export type ClientFor = (folder: vscode.WorkspaceFolder) => ToolClient | Promise<ToolClient>;

export interface QuotaStatus {
  providers: Array<{ id: string; tier: string; has_key: boolean; quotas: Array<{ metric: string; window: string; limit: number; left: number; resets_at: string }> }>;
  month: { month: string; calls: number; usd: number; baseline_usd: number };
}

export interface RestoreResult {
  path: string;
  restored_from: string;
  backup_id: string;
  deleted: boolean;
  forced: boolean;
  unchanged: boolean;
}

export interface WriteResult {
  path: string;
  bytes: number;
  backup_id: string;
  created: boolean;
}

/** The tool's plain message, whatever failed (tool error, dead sidecar, abort). */
export function toolErrorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

export function isAbort(error: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted) return true;
  return error instanceof Error && (error.name === 'AbortError' || /\babort(ed)?\b|cancelled/i.test(error.message));
}
