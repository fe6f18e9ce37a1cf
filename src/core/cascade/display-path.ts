import path from 'node:path';

export interface DisplayRoot {
  dir: string;
  /** What replaces `dir` in output, e.g. "~/" or "" for the workspace. */
  prefix: string;
}

/**
 * Turns absolute paths into ones fit for human output: workspace files relative to the workspace, home files as
 * `~/…`, and so on. The most specific root wins (a workspace inside the home directory stays workspace-relative).
 * A path under no root is reduced to its file name so no unrelated absolute path is shown.
 */
export class PathDisplay {
  private readonly roots: DisplayRoot[];

  constructor(roots: DisplayRoot[]) {
    this.roots = roots
      .filter((r) => r.dir)
      .map((r) => ({ dir: path.resolve(r.dir), prefix: r.prefix }))
      .sort((a, b) => b.dir.length - a.dir.length);
  }

  private readonly folders = new Map<string, string | undefined>();

  /**
   * show(path.join(dir, name)) for a file directly in `dir`, with the folder's part worked out once per folder
   * (a cascade shows a thousand files from half a dozen folders). Falls back to show() when a root lies inside
   * `dir`, where the name could decide which root wins.
   */
  showIn(dir: string, name: string): string {
    let prefix = this.folders.get(dir);
    if (prefix === undefined && !this.folders.has(dir)) {
      const inside = this.roots.some((r) => r.dir.startsWith(dir + path.sep) || r.dir === dir);
      const probe = path.join(dir, name);
      const shown = this.show(probe);
      prefix = !inside && shown !== path.basename(probe) && shown.endsWith('/' + name) ? shown.slice(0, shown.length - name.length) : undefined;
      this.folders.set(dir, prefix);
      return shown;
    }
    return prefix === undefined ? this.show(path.join(dir, name)) : prefix + name;
  }

  show(absolute: string): string {
    for (const root of this.roots) {
      const rel = path.relative(root.dir, absolute);
      if (rel === '') return root.prefix || '.';
      if (!rel.startsWith('..') && !path.isAbsolute(rel)) return root.prefix + rel.split(path.sep).join('/');
    }
    return path.basename(absolute);
  }
}
