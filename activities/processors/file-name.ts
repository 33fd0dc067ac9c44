// `{name}` and `{ext}` for output names: a converted file can keep its source file's name
// (`{documents}/{name}.webp`). Both are cleaned to a single harmless path segment, since they end
// up in paths the program writes to: no separator, no leading dot (so never `.` or `..`), no
// control character, and short enough for any file system.
import type { Item } from '../../workflows/types';

/** Room for a suffix added by the template: the whole name must stay under 255 bytes. */
const MAX_NAME_BYTES = 200;
const MAX_EXT_CHARS = 20;
// Separators of every platform, controls, and characters Windows refuses in a name.
// eslint-disable-next-line no-control-regex -- control characters are exactly what must go
const UNSAFE = /[\u0000-\u001f\u007f/\\:*?"<>|]/g;

function clean(text: string, maxBytes: number): string {
  const safe = text.replace(UNSAFE, '_').replace(/^\.+/, (dots) => '_'.repeat(dots.length));
  let out = '';
  let bytes = 0;
  // Cut by UTF-8 bytes on a character boundary, never inside a character.
  for (const ch of safe) {
    bytes += Buffer.byteLength(ch);
    if (bytes > maxBytes) break;
    out += ch;
  }
  return out;
}

/**
 * The stem and extension (without its dot) of the item's `file` field, which every directory-source
 * item has (its path relative to the directory): `scans/IMG 01.png` → `{ name: 'IMG 01', ext: 'png' }`,
 * `notes` → `{ name: 'notes', ext: '' }`, `archive.tar.gz` → `archive.tar` and `gz`. Undefined when
 * the item has no `file` field (then `{name}` stays whatever the item's own fields make it).
 */
export function fileNameVars(item: Item): { name: string; ext: string } | undefined {
  const file = item.data.file;
  if (typeof file !== 'string' || file === '') return undefined;
  const base = file.split(/[/\\]/).pop() ?? '';
  const dot = base.lastIndexOf('.');
  const [stem, ext] = dot > 0 ? [base.slice(0, dot), base.slice(dot + 1)] : [base, ''];
  return {
    name: clean(stem, MAX_NAME_BYTES) || '_',
    ext: ext.replace(/[^A-Za-z0-9_-]/g, '').slice(0, MAX_EXT_CHARS),
  };
}
