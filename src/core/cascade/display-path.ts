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

  show(absolute: string): string {
    for (const root of this.roots) {
      const rel = path.relative(root.dir, absolute);
      if (rel === '') return root.prefix || '.';
      if (!rel.startsWith('..') && !path.isAbsolute(rel)) return root.prefix + rel.split(path.sep).join('/');
    }
    return path.basename(absolute);
  }
}
