// What a client reads never maps the service's disks: staging findings and errors name an uploaded
// file by its path inside the upload (`metadata.csv`, `files/a.pdf`), and the service's storage
// roots by a placeholder (`<uploads>`, `<home>`, `<output>`). Applied to every problem and to the
// findings a start answer carries.
import path from 'node:path';

export interface ServerRoots {
  uploadsDir: string;
  outputRoot: string;
  home: string;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `text` with the service's own paths replaced (see the module comment). */
export function hideServerPaths(text: string, roots: ServerRoots): string {
  const sep = escape(path.sep);
  const uploads = escape(path.resolve(roots.uploadsDir));
  // A request's folder (incoming or claimed by its batch): the path inside it is what the client sent.
  let out = text.replace(new RegExp(`${uploads}${sep}(?:\\.incoming${sep})?[^${sep}\\s"']+${sep}`, 'g'), '');
  const named: [string, string][] = [
    [path.resolve(roots.uploadsDir), '<uploads>'],
    [path.resolve(roots.outputRoot), '<output>'],
    [path.resolve(roots.home), '<home>'],
  ];
  // Longest first, so a root inside another is named by its own placeholder.
  for (const [root, name] of named.sort((a, b) => b[0].length - a[0].length)) {
    out = out.replace(new RegExp(escape(root), 'g'), name);
  }
  return out;
}

/** `value` with every string in it passed through hideServerPaths: for answers built of many fields. */
export function hideServerPathsIn<T>(value: T, roots: ServerRoots): T {
  if (typeof value === 'string') return hideServerPaths(value, roots) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => hideServerPathsIn(v, roots)) as T;
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, hideServerPathsIn(v, roots)])) as T;
  return value;
}
