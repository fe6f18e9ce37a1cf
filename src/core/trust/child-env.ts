/**
 * The environment a project-defined process gets (server health checks, npx/docker recipes, verification
 * checks): an allow-list of what programs need to run — never a key Switchboard manages, whatever the trust.
 */

/** Passed through when set. Proxies and CA settings are there so npx/docker work behind a corporate proxy. */
const PASSED: readonly string[] = [
  'PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'TERM', 'COLORTERM', 'LANG', 'LANGUAGE', 'TZ', 'TMPDIR', 'TMP', 'TEMP',
  'XDG_RUNTIME_DIR', 'XDG_CONFIG_HOME', 'XDG_CACHE_HOME', 'XDG_DATA_HOME',
  'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy',
  'NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'SSL_CERT_DIR', 'npm_config_registry', 'npm_config_cache', 'DOCKER_HOST',
  // Windows
  'SYSTEMROOT', 'SystemRoot', 'WINDIR', 'COMSPEC', 'PATHEXT', 'USERPROFILE', 'APPDATA', 'LOCALAPPDATA', 'PROGRAMFILES', 'ProgramFiles', 'HOMEDRIVE', 'HOMEPATH',
];

/** The allow-listed part of `env` (plus `LC_*`), without any of `managedKeys`. */
export function allowListedEnv(env: NodeJS.ProcessEnv, managedKeys: ReadonlySet<string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || managedKeys.has(name)) continue;
    if (PASSED.includes(name) || /^LC_[A-Z]+$/.test(name)) out[name] = value;
  }
  return out;
}
