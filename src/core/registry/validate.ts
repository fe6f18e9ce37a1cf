/**
 * `switchboard registry validate server.json`: the file against the vendored schema
 * (media/schemas/server.schema.json), then the registry's own rules the schema cannot say — a reverse-DNS
 * namespace, exact versions (no ranges, no `latest`), a hash for mcpb packages, URLs that are URLs — each with
 * the file's line and column.
 */
import serverSchema from '../../../media/schemas/server.schema.json';
import { parseStructuredText } from '../config/structured-file';
import { diagnostic, type Diagnostic } from '../diagnostics';

const RANGE = /^[\^~<>=*]|\s|\|\||(^|\.)(x|X|\*)(\.|$)/;
const SEMVER = /^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/;

type Json = Record<string, unknown>;

export function validateServerJson(file: string, text: string): Diagnostic[] {
  const parsed = parseStructuredText<Json>(file, text, { schema: serverSchema });
  const out = [...parsed.diagnostics];
  const doc = parsed.value;
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return out;
  const at = (path: Array<string | number>, message: string, severity: Diagnostic['severity'] = 'error') => {
    out.push(diagnostic(file, parsed.lineOf(path), 1, message, severity));
  };
  const name = doc.name;
  if (typeof name === 'string' && /^[a-zA-Z0-9.-]+\/[a-zA-Z0-9._-]+$/.test(name)) {
    const namespace = name.slice(0, name.indexOf('/'));
    if (!namespace.includes('.')) at(['name'], `name: namespace "${namespace}" is not reverse-DNS (e.g. io.github.user/weather, com.example/server)`);
    if (namespace.startsWith('io.github.') && namespace.split('.').length !== 3) at(['name'], 'name: a GitHub namespace is io.github.<user-or-org>', 'warning');
  }
  const version = doc.version;
  if (typeof version === 'string') {
    if (version === 'latest' || RANGE.test(version)) at(['version'], `version: "${version}" is a range or tag; publish one exact version`);
    else if (!SEMVER.test(version)) at(['version'], `version: "${version}" is not semantic versioning (allowed, but it may not sort as expected)`, 'warning');
  }
  checkUrl(doc.websiteUrl, ['websiteUrl'], at);
  checkUrl((doc.repository as Json | undefined)?.url, ['repository', 'url'], at);
  const packages = Array.isArray(doc.packages) ? doc.packages : [];
  packages.forEach((raw, i) => {
    if (!raw || typeof raw !== 'object') return;
    const pkg = raw as Json;
    const where = ['packages', i];
    const v = pkg.version;
    if (typeof v === 'string' && v !== 'latest' && RANGE.test(v)) at([...where, 'version'], `packages[${i}].version: "${v}" is a range; give one exact version`);
    if (v === undefined && pkg.registryType !== 'oci' && pkg.registryType !== 'mcpb') at([...where], `packages[${i}]: missing "version" (clients cannot pin what they install)`);
    if (pkg.registryType === 'mcpb' && typeof pkg.fileSha256 !== 'string') at([...where], `packages[${i}]: mcpb packages need "fileSha256"`);
    if (typeof pkg.registryType === 'string' && !['npm', 'pypi', 'oci', 'nuget', 'mcpb'].includes(pkg.registryType)) {
      at([...where, 'registryType'], `packages[${i}].registryType: "${pkg.registryType}" is not one the official registry accepts (npm, pypi, oci, nuget, mcpb)`, 'warning');
    }
    if (Array.isArray(pkg.runtimeArguments) && pkg.runtimeArguments.length && typeof pkg.runtimeHint !== 'string') {
      at([...where], `packages[${i}]: "runtimeArguments" without "runtimeHint"`, 'warning');
    }
  });
  const remotes = Array.isArray(doc.remotes) ? doc.remotes : [];
  remotes.forEach((raw, i) => {
    const url = (raw as Json | undefined)?.url;
    if (typeof url === 'string' && !url.startsWith('{')) checkUrl(url, ['remotes', i, 'url'], at);
  });
  if (!packages.length && !remotes.length) at([], 'neither "packages" nor "remotes": nothing tells a client how to run or reach the server', 'warning');
  return out.sort((a, b) => a.line - b.line || a.column - b.column);
}

function checkUrl(value: unknown, path: Array<string | number>, at: (p: Array<string | number>, m: string) => void): void {
  if (typeof value !== 'string') return;
  try {
    const url = new URL(value);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') at(path, `${path.join('.')}: "${value.slice(0, 80)}" is not an http(s) URL`);
  } catch {
    at(path, `${path.join('.')}: "${value.slice(0, 80)}" is not a URL`);
  }
}
