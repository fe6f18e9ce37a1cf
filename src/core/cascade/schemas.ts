// The same JSON Schemas the editor uses for completion (package.json jsonValidation/yamlValidation) validate
// files at load time, so the two can never disagree.
import agentSchema from '../../../media/schemas/agent.schema.json';
import agentsDiscoverySchema from '../../../media/schemas/agents-discovery.schema.json';
import mcpDiscoverySchema from '../../../media/schemas/mcp-discovery.schema.json';
import mcpServersSchema from '../../../media/schemas/mcp-servers.schema.json';
import vscodeMcpSchema from '../../../media/schemas/vscode-mcp.schema.json';

export { agentSchema, agentsDiscoverySchema, mcpDiscoverySchema, mcpServersSchema, vscodeMcpSchema };

/** Front matter of a Claude Code subagent (.md). Claude Code requires name and description. */
export const subagentFrontMatterSchema = {
  type: 'object',
  required: ['name', 'description'],
  properties: {
    name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' },
    description: { type: 'string' },
    tools: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
    model: { type: 'string' },
    color: { type: 'string' },
    permissionMode: { type: 'string' },
    skills: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
    hooks: { type: 'object' },
    disallowedTools: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
  },
} as const;
