/**
 * Environment-variable references in a server definition — `${VAR}`, `${VAR:-default}`, `${env:VAR}` (VS Code)
 * and bare `$VAR` — resolved from our environment. Results name the variables and whether they are set, never
 * their values; `scrub` takes the resolved values back out of anything a server printed.
 */

export interface EnvRef {
  /** As written, e.g. "${GITHUB_TOKEN}". */
  ref: string;
  name: string;
  /** `withheld`: a key Switchboard manages, or any variable of an untrusted project; never expanded. */
  state: 'set' | 'missing' | 'withheld';
}

export interface ResolverOptions {
  /** Variables never expanded (resolved as unset): the keys Switchboard manages, for project definitions. */
  withhold?: ReadonlySet<string>;
  /** Expand nothing at all (a project the user has not trusted). */
  withholdAll?: boolean;
}

const REFERENCE = /\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{(input:[^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;

export class EnvResolver {
  private readonly refs = new Map<string, EnvRef>();
  private readonly values = new Set<string>();

  constructor(private readonly env: NodeJS.ProcessEnv, private readonly options: ResolverOptions = {}) {}

  resolve(text: string): string {
    return text.replace(REFERENCE, (whole, braced: string | undefined, fallback: string | undefined, input: string | undefined, bare: string | undefined) => {
      if (input) {
        // ${input:id} is a value VS Code prompts the user for; nothing here can answer it.
        this.note(whole, input, undefined);
        return '';
      }
      const name = (braced ?? bare)!;
      if (this.options.withholdAll || this.options.withhold?.has(name)) {
        this.refs.set(whole, { ref: whole, name, state: 'withheld' });
        return fallback ?? '';
      }
      const value = this.env[name];
      this.note(whole, name, value);
      if (value !== undefined && value !== '') return value;
      return fallback ?? '';
    });
  }

  resolveAll(list: readonly string[] | undefined): string[] {
    return (list ?? []).map((t) => this.resolve(t));
  }

  resolveRecord(record: Readonly<Record<string, string>> | undefined): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(record ?? {})) out[k] = this.resolve(v);
    return out;
  }

  /** Literal values that must not be shown either (a server's env may hold a key written out in full). */
  protect(values: Iterable<string>): void {
    for (const v of values) if (v.length >= 4) this.values.add(v);
  }

  /** Every reference seen so far, sorted, values left out. */
  references(): EnvRef[] {
    return [...this.refs.values()].sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0));
  }

  /** Resolved values put back as their reference names, so server output can be shown safely. */
  scrub(text: string): string {
    let out = text;
    for (const value of [...this.values].sort((a, b) => b.length - a.length)) out = out.split(value).join('[REDACTED]');
    return out;
  }

  private note(ref: string, name: string, value: string | undefined): void {
    const set = value !== undefined && value !== '';
    this.refs.set(ref, { ref, name, state: set ? 'set' : 'missing' });
    // Very short values (a "1", a "true") would blank out ordinary words; they are not secrets either.
    if (set && value.length >= 4) this.values.add(value);
  }
}
