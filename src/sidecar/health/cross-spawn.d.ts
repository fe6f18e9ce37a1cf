// cross-spawn ships no types; it is the SDK's own dependency (its stdio transport spawns with it).
declare module 'cross-spawn' {
  import type { spawn } from 'node:child_process';
  const crossSpawn: typeof spawn;
  export default crossSpawn;
}
