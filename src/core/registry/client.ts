/**
 * A client for the MCP Registry API v0.1 (`GET /v0.1/servers`, `/v0.1/servers/{name}/versions[/{version}]`).
 * Node's fetch, a timeout per request, a byte cap per response, and every entry screened by schema.ts: a
 * registry that answers garbage costs a diagnostic, never the sync.
 */
import { UserError } from '../errors';
import { emptyCounts, parseEntry, serverListSchema, type ParseCounts, type RegistryEntry } from './schema';

export interface ClientOptions {
  timeoutMs?: number;
  maxBytes?: number;
  /** Page size asked for (the official registry caps it at 100). */
  pageSize?: number;
  /** A registry that keeps returning cursors is cut off here. */
  maxPages?: number;
}

export interface PageResult {
  entries: RegistryEntry[];
  nextCursor?: string;
}

export interface ListQuery {
  cursor?: string;
  limit?: number;
  search?: string;
  updatedSince?: string;
  version?: string;
}

const DEFAULTS = { timeoutMs: 15_000, maxBytes: 16 * 1024 * 1024, pageSize: 100, maxPages: 2000 };

export class RegistryClient {
  readonly baseUrl: string;
  private readonly options: Required<ClientOptions>;

  constructor(baseUrl: string, options: ClientOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.options = { ...DEFAULTS, ...options };
  }

  /** One page of `GET /v0.1/servers`. */
  async listPage(query: ListQuery, counts: ParseCounts = emptyCounts()): Promise<PageResult> {
    const url = new URL(`${this.baseUrl}/v0.1/servers`);
    if (query.cursor) url.searchParams.set('cursor', query.cursor);
    url.searchParams.set('limit', String(query.limit ?? this.options.pageSize));
    if (query.search) url.searchParams.set('search', query.search);
    if (query.updatedSince) url.searchParams.set('updated_since', query.updatedSince);
    if (query.version) url.searchParams.set('version', query.version);
    const body = await this.getJson(url);
    const list = serverListSchema.safeParse(body);
    if (!list.success) throw new UserError(`registry ${this.host()} answered something that is not a server list`, 'registry_bad_response');
    const entries: RegistryEntry[] = [];
    for (const raw of list.data.servers) {
      const entry = parseEntry(raw, counts);
      if (entry) entries.push(entry);
    }
    const next = list.data.metadata?.nextCursor ?? undefined;
    return { entries, nextCursor: next || undefined };
  }

  /** Every page of the latest versions (updated since a time, when given). */
  async listAll(query: Omit<ListQuery, 'cursor'>, counts: ParseCounts = emptyCounts()): Promise<RegistryEntry[]> {
    const out: RegistryEntry[] = [];
    const seen = new Set<string>();
    let cursor: string | undefined;
    for (let page = 0; page < this.options.maxPages; page++) {
      const result = await this.listPage({ ...query, cursor }, counts);
      out.push(...result.entries);
      if (!result.nextCursor) return out;
      // A cursor seen before would loop forever.
      if (seen.has(result.nextCursor)) throw new UserError(`registry ${this.host()} repeated a page cursor; sync stopped`, 'registry_bad_response');
      seen.add(result.nextCursor);
      cursor = result.nextCursor;
    }
    throw new UserError(`registry ${this.host()} returned more than ${this.options.maxPages} pages; sync stopped`, 'registry_bad_response');
  }

  /** `GET /v0.1/servers/{name}/versions`: every version, newest first. */
  async versions(name: string, counts: ParseCounts = emptyCounts()): Promise<RegistryEntry[]> {
    const body = await this.getJson(new URL(`${this.baseUrl}/v0.1/servers/${encodeURIComponent(name)}/versions`));
    const list = serverListSchema.safeParse(body);
    if (!list.success) throw new UserError(`registry ${this.host()} answered something that is not a version list`, 'registry_bad_response');
    return list.data.servers.map((raw) => parseEntry(raw, counts)).filter((e): e is RegistryEntry => e !== undefined && e.server.name === name);
  }

  /** `GET /v0.1/servers/{name}/versions/{version}`; undefined on 404. */
  async version(name: string, version: string, counts: ParseCounts = emptyCounts()): Promise<RegistryEntry | undefined> {
    const body = await this.getJson(new URL(`${this.baseUrl}/v0.1/servers/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}`), true);
    if (body === undefined) return undefined;
    const entry = parseEntry(body, counts);
    return entry && entry.server.name === name ? entry : undefined;
  }

  private host(): string {
    try {
      return new URL(this.baseUrl).host;
    } catch {
      return this.baseUrl;
    }
  }

  private async getJson(url: URL, notFoundOk = false): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(url, { headers: { accept: 'application/json' }, redirect: 'error', signal: AbortSignal.timeout(this.options.timeoutMs) });
    } catch (err) {
      const cause = (err as Error).name === 'TimeoutError' ? `no answer within ${Math.round(this.options.timeoutMs / 1000)} s` : 'unreachable';
      throw new UserError(`registry ${this.host()} is ${cause}`, 'registry_unreachable');
    }
    if (notFoundOk && response.status === 404) {
      await response.body?.cancel();
      return undefined;
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new UserError(`registry ${this.host()} answered HTTP ${response.status}`, 'registry_unreachable');
    }
    const text = await readCapped(response, this.options.maxBytes, this.host());
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new UserError(`registry ${this.host()} answered invalid JSON`, 'registry_bad_response');
    }
  }
}

async function readCapped(response: Response, maxBytes: number, host: string): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (declared > maxBytes) {
    await response.body?.cancel();
    throw new UserError(`registry ${host} sent a response over ${Math.round(maxBytes / 1048576)} MiB; ignored`, 'registry_bad_response');
  }
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw new UserError(`registry ${host} sent a response over ${Math.round(maxBytes / 1048576)} MiB; ignored`, 'registry_bad_response');
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
