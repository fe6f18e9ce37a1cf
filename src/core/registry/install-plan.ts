/**
 * Turns a registry entry plus the user's inputs into one server definition (Claude Code's shape), or refuses.
 * The command is an argument vector built here — `npx -y pkg@ver`, `uvx pkg==ver`, `docker run -i --rm
 * image:tag` — never a string for a shell; remotes become `type: http` (or `sse`) with a URL. Secrets are
 * never values: env vars, arguments and headers marked `isSecret` become `${VAR}` references.
 */
import { UserError } from '../errors';
import { envName, exactVersion, flagName, headerName, npmIdentifier, ociReference, plainValue, pypiIdentifier, refuse, remoteUrl, show } from './plain-value';
import { transportKind, type KeyValueInput, type RegistryArgument, type RegistryEntry, type RegistryInput, type RegistryPackage, type RegistryTransport } from './schema';

export const INSTALLABLE_TYPES = ['npm', 'pypi', 'oci', 'remote'] as const;

export interface ServerDefinitionOut {
  type: 'stdio' | 'http' | 'sse';
  command?: string;
  args?: string[];
  env?: Record<string, string>;
  url?: string;
  headers?: Record<string, string>;
}

export interface InstallInputs {
  /** --env NAME=value (non-secret values) or --env NAME (acknowledged, referenced). */
  env: Record<string, string | true>;
  /** --arg name=value: positional valueHints, named flags (without dashes), template variables. */
  args: Record<string, string>;
}

export interface MissingInput {
  flag: string;
  description?: string;
  secret: boolean;
}

export interface InstallPlan {
  name: string;
  key: string;
  kind: (typeof INSTALLABLE_TYPES)[number];
  version: string;
  definition: ServerDefinitionOut;
  /** What will run (or be connected to), shown before anything is written. */
  display: string;
  /** Environment variables the definition references as `${VAR}`; the user must provide them. */
  secrets: string[];
  missing: MissingInput[];
}

export interface PlanOptions {
  inputs?: InstallInputs;
  /** Pick a package type or `remote` when the entry offers several. */
  type?: string;
  /** The key under mcpServers (default: the name's last part). */
  key?: string;
}

const RUNTIME_ALLOWED: Record<string, string[]> = {
  npx: ['-y', '--yes', '-q', '--quiet'],
  uvx: ['-q', '--quiet', '--python', '--no-cache', '--offline'],
  docker: ['-e', '--env', '-p', '--publish', '-v', '--volume', '--mount', '--init', '-w', '--workdir', '--network', '--memory', '--cpus'],
};

export function serverKey(name: string): string {
  const short = name.slice(name.lastIndexOf('/') + 1).replace(/[^A-Za-z0-9_-]/g, '-').replace(/^-+|-+$/g, '');
  return short.slice(0, 64) || 'server';
}

export function planInstall(entry: RegistryEntry, options: PlanOptions = {}): InstallPlan {
  const { server, meta } = entry;
  if (meta.status === 'deleted') throw new UserError(`refused: ${server.name} was deleted from the registry${meta.statusMessage ? ` (${meta.statusMessage})` : ''}`, 'registry_refused');
  const inputs = options.inputs ?? { env: {}, args: {} };
  const key = options.key ?? serverKey(server.name);
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(key)) refuse('server key', key, 'must be letters, digits, "-" or "_"');
  const want = options.type?.toLowerCase();
  const candidates: Array<{ kind: string; pkg?: RegistryPackage; remote?: RegistryTransport }> = [
    ...server.packages.map((pkg) => ({ kind: pkg.registryType.toLowerCase(), pkg })),
    ...server.remotes.map((remote) => ({ kind: 'remote', remote })),
  ];
  const offered = [...new Set(candidates.map((c) => c.kind))];
  const chosen = want ? candidates.find((c) => c.kind === want || (c.remote && transportKind(c.remote.type) === want)) : candidates.find((c) => (INSTALLABLE_TYPES as readonly string[]).includes(c.kind));
  if (!chosen) {
    if (candidates.length === 0) throw new UserError(`refused: ${server.name} lists no package or remote to install`, 'registry_refused');
    throw new UserError(`refused: ${want ? `${server.name} has no ${want} package` : `${server.name} offers only ${offered.join(', ')}`}; Switchboard installs ${INSTALLABLE_TYPES.join(', ')}`, 'registry_refused');
  }
  const ctx = new Resolver(inputs);
  const plan = chosen.remote ? planRemote(chosen.remote, ctx) : planPackage(chosen.pkg!, ctx);
  const unused = ctx.unused(inputs);
  if (unused.length) {
    throw new UserError(`refused: ${unused.map((k) => `--${k.replace(':', ' ')}`).join(', ')} ${unused.length === 1 ? 'is' : 'are'} not an input of ${server.name} (${plan.display}); nothing was written`, 'registry_refused');
  }
  return { name: server.name, key, ...plan, secrets: [...ctx.secrets], missing: ctx.missing };
}

function planPackage(pkg: RegistryPackage, ctx: Resolver): Omit<InstallPlan, 'name' | 'key' | 'secrets' | 'missing'> {
  const type = pkg.registryType.toLowerCase();
  if (pkg.transport && transportKind(pkg.transport.type) !== 'stdio') {
    throw new UserError(`refused: the ${type} package uses the ${pkg.transport.type} transport; Switchboard installs stdio packages and remotes`, 'registry_refused');
  }
  const runtime = { npm: 'npx', pypi: 'uvx', oci: 'docker' }[type];
  if (!runtime) throw new UserError(`refused: ${type} packages are not supported; Switchboard installs ${INSTALLABLE_TYPES.join(', ')}`, 'registry_refused');
  if (pkg.runtimeHint && pkg.runtimeHint !== runtime) throw new UserError(`refused: runtime "${pkg.runtimeHint.slice(0, 40)}" is not supported for ${type} packages (only ${runtime})`, 'registry_refused');
  const env: Record<string, string> = {};
  const envNames: string[] = [];
  for (const variable of pkg.environmentVariables ?? []) {
    const name = envName('environment variable', variable.name);
    const value = ctx.env(variable);
    if (value !== undefined) {
      env[name] = value;
      envNames.push(name);
    }
  }
  const runtimeArgs = ctx.argv(pkg.runtimeArguments ?? [], 'runtime argument', RUNTIME_ALLOWED[runtime]!);
  const packageArgs = ctx.argv(pkg.packageArguments ?? [], 'package argument');
  let args: string[];
  let version: string;
  if (type === 'npm') {
    const id = npmIdentifier(pkg.identifier);
    version = exactVersion(`${id}`, pkg.version);
    args = ['-y', ...runtimeArgs, `${id}@${version}`, ...packageArgs];
  } else if (type === 'pypi') {
    const id = pypiIdentifier(pkg.identifier);
    version = exactVersion(`${id}`, pkg.version);
    args = [...runtimeArgs, `${id}==${version}`, ...packageArgs];
  } else {
    const image = ociReference(pkg.identifier, pkg.version);
    version = image.slice(Math.max(image.lastIndexOf(':'), image.lastIndexOf('@')) + 1);
    // The container sees only what is passed: -e NAME forwards the variable without putting its value on the command line.
    args = ['run', '-i', '--rm', ...envNames.flatMap((n) => ['-e', n]), ...runtimeArgs, image, ...packageArgs];
  }
  const definition: ServerDefinitionOut = { type: 'stdio', command: runtime, args, ...(Object.keys(env).length ? { env } : {}) };
  return { kind: type as InstallPlan['kind'], version, definition, display: [runtime, ...args].join(' ') };
}

function planRemote(remote: RegistryTransport, ctx: Resolver): Omit<InstallPlan, 'name' | 'key' | 'secrets' | 'missing'> {
  const kind = transportKind(remote.type);
  if (kind !== 'http' && kind !== 'sse') throw new UserError(`refused: remote transport "${remote.type.slice(0, 40)}" is not supported (streamable-http, sse)`, 'registry_refused');
  if (!remote.url) throw new UserError('refused: the remote has no URL', 'registry_refused');
  const url = ctx.template('remote URL', remote.url, remote.variables ?? {}, false);
  const resolved = url === undefined ? undefined : remoteUrl(url);
  const headers: Record<string, string> = {};
  for (const header of remote.headers ?? []) {
    const name = headerName('header', header.name);
    const value = ctx.header(header);
    if (value !== undefined) headers[name] = value;
  }
  const definition: ServerDefinitionOut = { type: kind, url: resolved ?? remote.url, ...(Object.keys(headers).length ? { headers } : {}) };
  return { kind: 'remote', version: 'remote', definition, display: `${kind} ${resolved ?? remote.url}` };
}

/** Resolves inputs (fixed values, templates, the user's flags, defaults) and records what is missing. */
class Resolver {
  readonly secrets = new Set<string>();
  readonly missing: MissingInput[] = [];
  private readonly inputs: InstallInputs;
  readonly used = new Set<string>();

  constructor(given: InstallInputs) {
    // Reads are recorded, so flags the entry never asked for can be reported instead of silently ignored.
    const track = (prefix: string, values: Record<string, string | true>) =>
      new Proxy(values, { get: (target, key) => (typeof key === 'string' && Object.prototype.hasOwnProperty.call(target, key) ? (this.used.add(prefix + key), target[key]) : undefined) });
    this.inputs = { env: track('env:', given.env), args: track('arg:', given.args) as Record<string, string> };
  }

  unused(given: InstallInputs): string[] {
    return [...Object.keys(given.env).map((k) => `env:${k}`), ...Object.keys(given.args).map((k) => `arg:${k}`)].filter((k) => !this.used.has(k));
  }

  env(variable: KeyValueInput): string | undefined {
    const given = this.inputs.env[variable.name];
    if (variable.isSecret) {
      if (typeof given === 'string') throw new UserError(`refused: ${variable.name} is a secret; its value is never written. Set it in the environment the MCP client starts from and pass --env ${variable.name} (no value)`, 'registry_refused');
      this.secrets.add(variable.name);
      return `\${${variable.name}}`;
    }
    if (typeof given === 'string') return plainValue(`value of ${variable.name}`, given);
    if (given === true) {
      this.secrets.add(variable.name);
      return `\${${variable.name}}`;
    }
    if (variable.value !== undefined) return this.template(`value of ${variable.name}`, variable.value, variable.variables ?? {}, true);
    if (variable.default !== undefined) return plainValue(`default of ${variable.name}`, variable.default);
    if (variable.isRequired) this.missing.push({ flag: `--env ${variable.name}=…`, description: variable.description, secret: false });
    return undefined;
  }

  header(header: KeyValueInput): string | undefined {
    const userKey = header.name;
    if (header.isSecret && header.value === undefined) {
      const ref = secretRef(header.name);
      this.secrets.add(ref);
      return `\${${ref}}`;
    }
    const given = this.inputs.args[userKey];
    if (given !== undefined) return plainValue(`header ${header.name}`, given);
    if (header.value !== undefined) return this.template(`header ${header.name}`, header.value, header.variables ?? {}, true, true);
    if (header.default !== undefined) return plainValue(`header ${header.name}`, header.default);
    if (header.isRequired) this.missing.push({ flag: `--arg ${userKey}=…`, description: header.description, secret: false });
    return undefined;
  }

  /** Arguments in order; named ones become `--flag value`. */
  argv(list: RegistryArgument[], what: string, allowedFlags?: string[]): string[] {
    const out: string[] = [];
    for (const arg of list) {
      if (arg.type === 'named') {
        const flag = flagName(`${what}`, arg.name);
        if (allowedFlags && !allowedFlags.includes(flag)) refuse(what, flag, 'is not allowed (it could change what runs or widen its access)');
        const userKey = flag.replace(/^-+/, '');
        const value = this.argValue(arg, userKey, `${what} ${flag}`);
        if (value === null) continue;
        if (allowedFlags && ['-v', '--volume', '--mount'].includes(flag) && value && /^\/(:|$)|(^|,)(src|source)=\/(,|$)/.test(value)) {
          refuse(what, value, 'would mount the whole disk');
        }
        out.push(flag);
        if (value !== undefined) out.push(value);
      } else {
        const userKey = arg.valueHint ?? '';
        const value = this.argValue(arg, userKey, `${what}${arg.valueHint ? ` ${arg.valueHint}` : ''}`);
        if (value === null || value === undefined) continue;
        if (allowedFlags) refuse(what, value, 'is positional; only known flags are allowed as runtime arguments');
        out.push(value);
      }
    }
    return out;
  }

  /** undefined: a bare flag; null: leave the argument out. */
  private argValue(arg: RegistryArgument, userKey: string, what: string): string | undefined | null {
    const given = userKey ? this.inputs.args[userKey] : undefined;
    if (arg.isSecret) {
      if (given !== undefined) throw new UserError(`refused: ${userKey} is a secret; its value is never written. Set ${secretRef(userKey)} in the environment instead`, 'registry_refused');
      if (arg.value !== undefined) return this.template(what, arg.value, arg.variables ?? {}, true);
      const ref = secretRef(userKey || 'SECRET');
      this.secrets.add(ref);
      return `\${${ref}}`;
    }
    if (given !== undefined) return plainValue(what, given);
    if (arg.value !== undefined) return this.template(what, arg.value, arg.variables ?? {}, true) ?? null;
    if (arg.default !== undefined) return plainValue(what, arg.default);
    if (arg.isRequired) {
      this.missing.push({ flag: `--arg ${userKey || '?'}=…`, description: arg.description, secret: false });
      return null;
    }
    return arg.type === 'named' && arg.format !== 'string' && arg.format !== 'filepath' && arg.format !== 'number' ? undefined : null;
  }

  /**
   * `{name}` placeholders filled from the template's variables (the user's --arg, the variable's default, or a
   * `${VAR}` reference for a secret). Literal text must be plain; undefined when a required variable is missing.
   */
  template(what: string, text: string, variables: Record<string, RegistryInput>, plain: boolean, spaces = false): string | undefined {
    // `${VAR}` in a registry value would make the MCP client expand the user's own variables (keys) into it.
    // eslint-disable-next-line no-control-regex -- finding control characters is the point
    if (/[$`\\\u0000-\u001f\u007f\uE000\uE001]/.test(text)) refuse(what, text, plain ? 'is not a plain value ($, backquote, backslash and control characters are refused)' : 'is not a plain URL ($, backquote, backslash and control characters are refused)');
    let missing = false;
    const out = text.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
      const variable = variables[name] ?? {};
      const given = this.inputs.args[name];
      if (variable.isSecret) {
        if (given !== undefined) throw new UserError(`refused: ${name} is a secret; its value is never written. Set ${secretRef(name)} in the environment instead`, 'registry_refused');
        const ref = secretRef(name);
        this.secrets.add(ref);
        return `\uE000${ref}\uE001`;
      }
      if (given !== undefined) return plainValue(`${what} variable ${name}`, given);
      if (variable.value !== undefined) return plainValue(`${what} variable ${name}`, variable.value);
      if (variable.default !== undefined) return plainValue(`${what} variable ${name}`, variable.default);
      missing = true;
      this.missing.push({ flag: `--arg ${name}=…`, description: variable.description, secret: false });
      return '';
    });
    if (missing) return undefined;
    const literal = out.replace(/\uE000[A-Za-z0-9_]+\uE001/g, 'x');
    if (plain && literal.startsWith('-')) refuse(what, text, 'starts with "-" (it would be read as a flag; flags are named arguments)');
    if (plain) {
      const check = spaces ? literal.replace(/ /g, '_') : literal;
      if (literal.trim() === '' || !/^[A-Za-z0-9._:/=@%+,-]+$/.test(check) || check.split('/').includes('..')) refuse(what, text, 'is not a plain value');
    }
    return out.replace(/\uE000([A-Za-z0-9_]+)\uE001/g, (_m, ref: string) => `\${${ref}}`);
  }
}

function secretRef(name: string): string {
  const ref = name.replace(/^-+/, '').replace(/[^A-Za-z0-9_]/g, '_').toUpperCase();
  return /^[A-Z_]/.test(ref) ? ref : `_${ref}`;
}

export { show };
