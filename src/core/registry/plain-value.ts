/**
 * What may reach a server definition from a registry entry (or from the user's flags): plain values only.
 * Server definitions are run by MCP clients — sometimes through a shell (npx on Windows goes through cmd), and
 * Claude Code expands `${VAR}` in command, args, env, url and headers. So a value that carries a shell
 * metacharacter, a `$`, whitespace, a newline, a leading dash (a smuggled flag), `..` (path traversal), a
 * version range or `latest` is refused, not escaped: there is no safe way to quote for every client.
 */
import { UserError } from '../errors';

/** Letters, digits and the punctuation that appears in real paths, hosts, versions and key=value pairs. */
const PLAIN = /^[A-Za-z0-9._:/=@%+,-]+$/;
const FLAG = /^--?[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const HEADER_NAME = /^[A-Za-z0-9-]{1,128}$/;
const NPM = /^(@[a-z0-9][a-z0-9._-]*\/)?[a-z0-9][a-z0-9._-]*$/i;
const PYPI = /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/;
const OCI_NAME = /^([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?\/)?[a-z0-9]+([._-]+[a-z0-9]+)*(\/[a-z0-9]+([._-]+[a-z0-9]+)*)*$/;
const OCI_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const OCI_DIGEST = /^sha256:[a-f0-9]{64}$/;
/** 1.2.3, 1.2.3-beta.1, 1.0.0rc1, 2024.1.15, 1.2.3+build.5, v1.2.3 — never a range, wildcard or tag name. */
const EXACT_VERSION = /^v?[0-9]+(\.[0-9]+)*([-+._]?[0-9A-Za-z]+)*$/;
const WILDCARD_PART = /(^|\.)(x|X|\*)(\.|$)/;

export function refuse(what: string, value: string, why: string): never {
  throw new UserError(`refused: ${what} ${show(value)} ${why}`, 'registry_refused');
}

/** A value shown in a message: cut short, control characters made visible. */
export function show(value: string): string {
  const cleaned = JSON.stringify(value.length > 60 ? value.slice(0, 60) + '…' : value);
  return cleaned.replace(/\\u00[0-9a-f]{2}/gi, '\\…');
}

function hasTraversal(value: string): boolean {
  return value.split(/[/\\]/).some((part) => part === '..');
}

export function plainValue(what: string, value: string): string {
  if (value.length === 0 || value.length > 512) refuse(what, value, 'is empty or too long');
  if (value.startsWith('-')) refuse(what, value, 'starts with "-" (it would be read as a flag)');
  if (!PLAIN.test(value)) refuse(what, value, 'is not a plain value (whitespace, quotes, $, shell metacharacters and control characters are refused)');
  if (hasTraversal(value)) refuse(what, value, 'contains ".." (path traversal)');
  return value;
}

export function exactVersion(what: string, value: string | undefined): string {
  if (value === undefined || value === '') throw new UserError(`refused: ${what} has no exact version to pin`, 'registry_refused');
  if (value.length > 64 || !EXACT_VERSION.test(value) || WILDCARD_PART.test(value)) {
    refuse(what, value, 'is not an exact version (ranges, wildcards, "latest" and flags are refused)');
  }
  return value;
}

export function flagName(what: string, value: string): string {
  if (!FLAG.test(value)) refuse(what, value, 'is not a plain flag name');
  return value;
}

export function envName(what: string, value: string): string {
  if (!ENV_NAME.test(value)) refuse(what, value, 'is not a valid environment variable name');
  return value;
}

export function headerName(what: string, value: string): string {
  if (!HEADER_NAME.test(value)) refuse(what, value, 'is not a valid header name');
  return value;
}

export function npmIdentifier(value: string): string {
  if (value.length > 214 || !NPM.test(value) || hasTraversal(value)) refuse('npm package', value, 'is not a plain npm package name');
  return value;
}

export function pypiIdentifier(value: string): string {
  if (value.length > 200 || !PYPI.test(value)) refuse('PyPI package', value, 'is not a plain PyPI project name');
  return value;
}

/** `image`, `image:tag` or `image@sha256:…`; the tag (or, without one, the version) must be exact. */
export function ociReference(identifier: string, version: string | undefined): string {
  let name = identifier;
  let pin: string | undefined;
  const at = identifier.indexOf('@');
  if (at >= 0) {
    name = identifier.slice(0, at);
    pin = identifier.slice(at + 1);
    if (!OCI_DIGEST.test(pin)) refuse('image digest', pin, 'is not a sha256 digest');
    pin = `@${pin}`;
  } else {
    const colon = identifier.lastIndexOf(':');
    if (colon > identifier.lastIndexOf('/')) {
      name = identifier.slice(0, colon);
      const tag = identifier.slice(colon + 1);
      if (!OCI_TAG.test(tag)) refuse('image tag', tag, 'is not a plain tag');
      exactVersion('image tag', tag);
      pin = `:${tag}`;
    }
  }
  if (name.length > 255 || !OCI_NAME.test(name) || hasTraversal(name)) refuse('image', name, 'is not a plain image name');
  if (!pin) {
    const v = exactVersion(`image ${name}`, version);
    if (!OCI_TAG.test(v)) refuse('image tag', v, 'is not a plain tag');
    pin = `:${v}`;
  }
  return name + pin;
}

/** A remote's URL after template substitution: https (http only to this machine), nothing to expand. */
export function remoteUrl(value: string): string {
  if (value.length > 2048 || !/^[A-Za-z0-9._~:/?#@!&()*+,;=%-]+$/.test(value)) refuse('remote URL', value, 'is not a plain URL (whitespace, quotes, $, braces and control characters are refused)');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    refuse('remote URL', value, 'is not a URL');
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) refuse('remote URL', value, 'is not https');
  if (url.username || url.password) refuse('remote URL', value, 'carries credentials');
  return value;
}
