/**
 * Turns a title into a URL slug: "Hello, World!" → "hello-world".
 * Accents are removed, runs of other characters become one dash, and the result is at most `maxLength` long
 * without a trailing dash.
 */
export function slugify(title: string, maxLength = 80): string {
  if (maxLength < 1) throw new RangeError('maxLength must be at least 1');
  const slug = title
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return slug.slice(0, maxLength).replace(/-+$/, '');
}
