/** The MCP registry: client (API v0.1), local index, install plans and writes, server.json validation. */
export { RegistryClient, type ClientOptions } from './client';
export { registrySources, normalizeRegistryUrl, OFFICIAL_REGISTRY, type RegistrySources } from './config';
export { RegistryIndex, tokenize, type SearchHit, type SearchOptions, type SyncReport, type RegistryState } from './index-store';
export { planInstall, serverKey, INSTALLABLE_TYPES, type InstallPlan, type InstallInputs, type MissingInput, type ServerDefinitionOut } from './install-plan';
export { writeInstall, PROJECT_REGISTRY_FILE, type WriteResult as InstallWriteResult } from './install-write';
export { validateServerJson } from './validate';
export { STATUSES, OFFICIAL_META, parseEntry, emptyCounts, transportKind, type RegistryEntry, type RegistryServer, type ServerStatus, type RegistryPackage } from './schema';
export { openRegistryIndex, cacheInfo, describeAge, searchRegistry, type CacheInfo } from './service';
