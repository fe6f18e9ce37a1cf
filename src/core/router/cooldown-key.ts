/**
 * Where a provider's 429 cooldown is kept in the ledger: per provider and key fingerprint. Its own module so
 * quota_status reads cooldowns without loading the router (and with it every provider SDK).
 */
import crypto from 'node:crypto';

/** Key fingerprints already computed: a process sees a handful of keys, and hashing one per route costs ~10 µs. */
const fingerprints = new Map<string, string>();
const MAX_FINGERPRINTS = 64;

function keyFingerprint(apiKey: string): string {
  let fp = fingerprints.get(apiKey);
  if (fp === undefined) {
    fp = crypto.createHash('sha256').update(apiKey).digest('hex').slice(0, 12);
    if (fingerprints.size >= MAX_FINGERPRINTS) fingerprints.clear();
    fingerprints.set(apiKey, fp);
  }
  return fp;
}

export function cooldownKey(providerId: string, apiKey: string | undefined): string {
  // The key's fingerprint, never the key: a rotated key is not held back by its predecessor's cooldown.
  return `provider:${providerId}:${apiKey ? keyFingerprint(apiKey) : 'nokey'}`;
}
