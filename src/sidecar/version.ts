// A named import: the bundler keeps this one field of package.json, not the whole manifest.
import { version } from '../../package.json';

/** Switchboard's version, from package.json at build time. */
export const SWITCHBOARD_VERSION: string = version;
