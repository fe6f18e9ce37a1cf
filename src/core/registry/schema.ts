/**
 * The shapes of MCP Registry API v0.1 responses (`ServerList`, `ServerResponse`, `server.json`), as zod schemas
 * that accept what real registries serve. Real entries are messy: missing versions, arguments shaped oddly,
 * registry types nobody knows yet, descriptions far over the 100-character limit. The rule here: an entry is
 * kept when it has a usable name; a package, remote or argument that does not parse is dropped on its own (and
 * counted), and anything odd but harmless is kept for display and refused later, at install time, if it would
 * end up on a command line.
 */
import { z } from 'zod';

/** The registry's name rule: reverse-DNS namespace, one slash, a server name. */
export const SERVER_NAME = /^[a-zA-Z0-9.-]+\/[a-zA-Z0-9._-]+$/;
export const STATUSES = ['active', 'deprecated', 'deleted'] as const;
export type ServerStatus = (typeof STATUSES)[number];
export const OFFICIAL_META = 'io.modelcontextprotocol.registry/official';

/** Long free text is cut, never rejected: a 1 MB description must not cost the index or the screen. */
const MAX_TEXT = 4000;
const text = (max = MAX_TEXT) => z.string().transform((s) => (s.length > max ? s.slice(0, max) + '…' : s));

const input = z.object({
  description: text().optional(),
  isRequired: z.boolean().optional().catch(undefined),
  isSecret: z.boolean().optional().catch(undefined),
  format: z.string().optional().catch(undefined),
  value: z.string().optional(),
  default: z.string().optional().catch(undefined),
  placeholder: z.string().optional().catch(undefined),
  choices: z.array(z.string()).optional().catch(undefined),
});
export type RegistryInput = z.infer<typeof input>;

const withVariables = input.extend({ variables: z.record(z.string(), input).optional().catch(undefined) });

export const keyValueInput = withVariables.extend({ name: z.string().min(1).max(256) });
export type KeyValueInput = z.infer<typeof keyValueInput>;

export const argumentSchema = z.discriminatedUnion('type', [
  withVariables.extend({ type: z.literal('positional'), valueHint: z.string().optional(), isRepeated: z.boolean().optional().catch(undefined) }),
  withVariables.extend({ type: z.literal('named'), name: z.string().min(1).max(256), isRepeated: z.boolean().optional().catch(undefined) }),
]);
export type RegistryArgument = z.infer<typeof argumentSchema>;

export const transportSchema = z.object({
  type: z.string().min(1).max(64),
  url: z.string().max(4096).optional(),
  headers: z.array(keyValueInput).optional(),
  variables: z.record(z.string(), input).optional().catch(undefined),
});
export type RegistryTransport = z.infer<typeof transportSchema>;

export const packageSchema = z.object({
  registryType: z.string().min(1).max(64),
  registryBaseUrl: z.string().optional().catch(undefined),
  identifier: z.string().min(1).max(1024),
  // Missing in some real entries (and optional for OCI in newer schemas, where the tag is in the identifier).
  version: z.string().max(255).optional(),
  fileSha256: z.string().optional().catch(undefined),
  runtimeHint: z.string().max(64).optional().catch(undefined),
  transport: transportSchema.optional(),
  runtimeArguments: z.array(argumentSchema).optional(),
  packageArguments: z.array(argumentSchema).optional(),
  environmentVariables: z.array(keyValueInput).optional(),
});
export type RegistryPackage = z.infer<typeof packageSchema>;

const repositorySchema = z.object({ url: z.string().max(2048), source: z.string().max(64).optional(), subfolder: z.string().optional() });

/** One server.json, as the index keeps it (packages and remotes already screened one by one). */
export interface RegistryServer {
  name: string;
  title?: string;
  description: string;
  version?: string;
  websiteUrl?: string;
  repository?: { url: string; source?: string; subfolder?: string };
  packages: RegistryPackage[];
  remotes: RegistryTransport[];
}

export interface OfficialMeta {
  status: ServerStatus;
  statusMessage?: string;
  publishedAt?: string;
  updatedAt?: string;
  isLatest?: boolean;
}

/** One `ServerResponse`: the server plus the registry's own metadata. */
export interface RegistryEntry {
  server: RegistryServer;
  meta: OfficialMeta;
}

const serverCore = z.object({
  name: z.string().min(3).max(200).regex(SERVER_NAME, 'not a registry name (namespace/name)'),
  title: text(200).optional().catch(undefined),
  description: text().optional().catch(undefined),
  version: z.string().max(255).optional().catch(undefined),
  websiteUrl: z.string().max(2048).optional().catch(undefined),
  repository: repositorySchema.optional().catch(undefined),
  packages: z.array(z.unknown()).optional().catch(undefined),
  remotes: z.array(z.unknown()).optional().catch(undefined),
});

const officialSchema = z.object({
  status: z.enum(STATUSES).catch('active'),
  statusMessage: text(500).optional().catch(undefined),
  publishedAt: z.string().max(64).optional().catch(undefined),
  updatedAt: z.string().max(64).optional().catch(undefined),
  isLatest: z.boolean().optional().catch(undefined),
});

const responseSchema = z.object({
  server: serverCore,
  _meta: z.record(z.string(), z.unknown()).optional().catch(undefined),
});

export interface ParseCounts {
  /** Entries dropped whole (no usable name, not an object). */
  droppedEntries: number;
  /** Packages, remotes dropped from otherwise good entries. */
  droppedParts: number;
  /** First few reasons, for the diagnostic line. */
  reasons: string[];
}

export function emptyCounts(): ParseCounts {
  return { droppedEntries: 0, droppedParts: 0, reasons: [] };
}

function note(counts: ParseCounts, reason: string): void {
  if (counts.reasons.length < 5) counts.reasons.push(reason);
}

function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  return issue ? `${issue.path.join('.') || 'entry'}: ${issue.message}` : 'invalid';
}

/** Screens one `ServerResponse`; returns undefined (and counts it) when it cannot be used at all. */
export function parseEntry(raw: unknown, counts: ParseCounts): RegistryEntry | undefined {
  const parsed = responseSchema.safeParse(raw);
  if (!parsed.success) {
    counts.droppedEntries++;
    note(counts, firstIssue(parsed.error));
    return undefined;
  }
  const s = parsed.data.server;
  const packages: RegistryPackage[] = [];
  for (const p of s.packages ?? []) {
    const r = packageSchema.safeParse(p);
    if (r.success) packages.push(r.data);
    else {
      counts.droppedParts++;
      note(counts, `${s.name}: package ${firstIssue(r.error)}`);
    }
  }
  const remotes: RegistryTransport[] = [];
  for (const p of s.remotes ?? []) {
    const r = transportSchema.safeParse(p);
    if (r.success) remotes.push(r.data);
    else {
      counts.droppedParts++;
      note(counts, `${s.name}: remote ${firstIssue(r.error)}`);
    }
  }
  const official = officialSchema.safeParse(parsed.data._meta?.[OFFICIAL_META] ?? {});
  const meta: OfficialMeta = official.success ? official.data : { status: 'active' };
  const server: RegistryServer = {
    name: s.name,
    title: s.title,
    description: s.description ?? '',
    version: s.version,
    websiteUrl: s.websiteUrl,
    repository: s.repository,
    packages,
    remotes,
  };
  return { server, meta };
}

/** `ServerList`: the entries and the next cursor (empty or missing: no more pages). */
export const serverListSchema = z.object({
  servers: z.array(z.unknown()),
  metadata: z.object({ nextCursor: z.string().max(4096).nullish().catch(undefined), count: z.number().optional().catch(undefined) }).partial().optional().catch(undefined),
});

/** Transport kinds as users filter them: stdio, http (streamable-http), sse. */
export function transportKind(type: string | undefined): string {
  if (!type || type === 'stdio') return 'stdio';
  if (type === 'streamable-http' || type === 'http') return 'http';
  return type;
}
