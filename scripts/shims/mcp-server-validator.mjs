// Build-time stand-in for the MCP SDK's default JSON Schema validator, used only by the SDK's Server (see
// scripts/build.mjs). The Server needs one only to check the answers to elicitation requests, which Switchboard
// never sends; the real one would load and set up ajv and ajv-formats at every start, before tools/list.
export class AjvJsonSchemaValidator {
  getValidator() {
    return () => ({ valid: false, data: undefined, errorMessage: 'the Switchboard sidecar sends no elicitation requests, so it validates no elicitation answers' });
  }
}
