/**
 * The MCP server factory. Side-effect free: it builds and returns an McpServer; nothing is opened, read or
 * started until a client connects and calls something. Together with stdio.ts this is where the MCP SDK is
 * used; tools (./tools/*) only know the SDK-free `ToolDefinition`.
 */
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ListToolsRequestSchema, RootsListChangedNotificationSchema, type Tool } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { SidecarContext } from './context';
import { ALL_TOOLS } from './tools';
import { runTool, type ToolExtra } from './tool-call';
import type { ToolDefinition } from './tools/tool';

export const SERVER_NAME = 'switchboard';

export interface ServerDeps {
  sidecar: SidecarContext;
  version?: string;
  /** Defaults to every Switchboard tool. */
  tools?: ToolDefinition[];
  /** Workspace resources (project context, agents); a team server has no workspace and serves none. */
  resources?: boolean;
  instructions?: string;
}

declare const SWITCHBOARD_TOOL_LISTING: Tool[] | undefined;
/**
 * compactToolList(ALL_TOOLS), computed by the build (scripts/build.mjs) from the same definitions and compiled
 * into the bundle: a start then converts no zod schema. Undefined when running from source.
 */
const BUILT_TOOL_LISTING: Tool[] | undefined = typeof SWITCHBOARD_TOOL_LISTING === 'undefined' ? undefined : SWITCHBOARD_TOOL_LISTING;

export function createServer(deps: ServerDeps): McpServer {
  const { sidecar } = deps;
  const server = new McpServer(
    { name: SERVER_NAME, version: deps.version ?? '0.1.0' },
    {
      capabilities: { tools: {}, ...(deps.resources === false ? {} : { resources: {} }) },
      instructions: deps.instructions ?? 'Delegate generation work (tests, docs, boilerplate) to the cheapest capable model with `delegate`; file tools write with a backup.',
    },
  );

  for (const tool of deps.tools ?? ALL_TOOLS) {
    server.registerTool(
      tool.name,
      { description: tool.description, inputSchema: tool.input, outputSchema: tool.output, annotations: tool.annotations },
      // The SDK validated the arguments against `tool.input` before calling this.
      ((args: Record<string, unknown>, extra: ToolExtra) => runTool(sidecar, tool, args, extra)) as never,
    );
  }

  // The SDK's own listing repeats `$schema`, `additionalProperties` and defaults in every schema; the same
  // schemas without that noise keep the whole tools/list within ~1.5k tokens of every Claude session.
  const tools = deps.tools ?? ALL_TOOLS;
  let listing: Tool[] | undefined = tools === ALL_TOOLS ? BUILT_TOOL_LISTING : undefined;
  server.server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: (listing ??= compactToolList(tools)) }));

  if (deps.resources === false) return server;

  server.registerResource(
    'project-context',
    'switchboard://project-context',
    { description: 'PROJECT_CONTEXT.md: agents, servers, quota, recent delegations', mimeType: 'text/markdown' },
    async (uri) => {
      await sidecar.ready();
      const { content } = await sidecar.syncContext({ write: false });
      return { contents: [{ uri: uri.href, mimeType: 'text/markdown', text: content }] };
    },
  );

  server.registerResource(
    'agent',
    new ResourceTemplate('switchboard://agents/{id}', {
      list: async () => {
        await sidecar.ready();
        const agents = await sidecar.agentSummaries();
        return { resources: agents.map((a) => ({ uri: `switchboard://agents/${encodeURIComponent(a.id)}`, name: a.id, description: a.description, mimeType: 'text/markdown' })) };
      },
    }),
    { description: 'An effective agent definition (after the cascade)', mimeType: 'text/markdown' },
    async (uri, variables) => {
      await sidecar.ready();
      const id = decodeURIComponent(String(variables.id ?? ''));
      const text = await sidecar.agentDocument(id);
      return { contents: [{ uri: uri.href, mimeType: 'text/markdown', text }] };
    },
  );

  // Client roots may narrow where the file tools reach (never widen it); ask once initialised and on change.
  const refreshRoots = async (): Promise<void> => {
    if (!server.server.getClientCapabilities()?.roots) {
      sidecar.setClientRoots(undefined);
      return;
    }
    try {
      const { roots } = await server.server.listRoots(undefined, { timeout: 5_000 });
      sidecar.setClientRoots(roots.map((r) => r.uri));
    } catch (err) {
      sidecar.log(`roots/list failed: ${(err as Error).message}; using the workspace alone`);
      sidecar.rootsUnanswered();
    }
  };
  server.server.oninitialized = () => void refreshRoots();
  server.server.setNotificationHandler(RootsListChangedNotificationSchema, async () => {
    sidecar.expectRoots();
    await refreshRoots();
  });
  return server;
}

/** tools/list entries with compact JSON Schemas (draft-07) derived from the same zod shapes the SDK validates with. */
export function compactToolList(tools: ToolDefinition[]): Tool[] {
  return tools.map((tool) => ({
    name: tool.name,
    description: tool.description,
    inputSchema: compactSchema(z.toJSONSchema(z.object(tool.input), { target: 'draft-7', io: 'input' })) as Tool['inputSchema'],
    outputSchema: outputSkeleton(z.toJSONSchema(z.object(tool.output), { target: 'draft-7', io: 'input' })) as Tool['outputSchema'],
    ...(tool.annotations ? { annotations: tool.annotations } : {}),
  }));
}

function compactSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(compactSchema);
  if (!schema || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema as Record<string, unknown>)) {
    if (key === '$schema' || (key === 'additionalProperties' && value === false)) continue;
    if ((key === 'maximum' || key === 'minimum') && Math.abs(value as number) >= Number.MAX_SAFE_INTEGER) continue;
    if (key === 'required' && Array.isArray(value) && value.length === 0) continue;
    out[key] = compactSchema(value);
  }
  return out;
}

/**
 * Output schemas go out as a skeleton: the field names, nested as the result nests them, without types or
 * `required` lists, and only the result's own fields (what nests below them is in src/sidecar/protocol). The
 * server validates every result against the full zod shape before sending it (and our clients check it against
 * the same shape), so the rest would only cost tokens in every Claude session: all of tools/list stays under
 * 6,000 characters.
 */
const SKELETON_DEPTH = 1;

function outputSkeleton(schema: unknown, depth = 0): unknown {
  if (!schema || typeof schema !== 'object' || depth > SKELETON_DEPTH) return {};
  const node = schema as { properties?: Record<string, unknown>; items?: unknown };
  const out: Record<string, unknown> = depth === 0 ? { type: 'object' } : {};
  // An array's items are the same level as the array (`quota_left[].metric` is a second-level name).
  if (node.items && typeof node.items === 'object') return { ...out, items: outputSkeleton(node.items, depth) };
  if (node.properties && depth < SKELETON_DEPTH) out.properties = Object.fromEntries(Object.entries(node.properties).map(([k, v]) => [k, outputSkeleton(v, depth + 1)]));
  return out;
}
