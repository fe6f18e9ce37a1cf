// A "sidecar" from another build: it answers quota_status in the old shape (no key_needed, no circuit;
// cooldown_until meaning "circuit open"). Started by SidecarClient like dist/sidecar.js (`<file> serve …`).
const { Server } = require('@modelcontextprotocol/sdk/server/index.js');
const { StdioServerTransport } = require('@modelcontextprotocol/sdk/server/stdio.js');
const { CallToolRequestSchema, ListToolsRequestSchema } = require('@modelcontextprotocol/sdk/types.js');

const server = new Server({ name: 'switchboard', version: '0.0.1' }, { capabilities: { tools: {} } });
server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: [{ name: 'quota_status', inputSchema: { type: 'object' } }] }));
server.setRequestHandler(CallToolRequestSchema, async () => ({
  content: [{ type: 'text', text: 'old quota' }],
  structuredContent: {
    providers: [{ id: 'huggingface', tier: 'free', has_key: false, quotas: [], cooldown_until: '2099-01-01T00:00:00.000Z' }],
    month: { month: '2026-11', calls: 0, usd: 0, baseline_usd: 0 },
  },
}));
server.connect(new StdioServerTransport());
