// The durabatch package's own directory, found by walking up from this module to its package.json:
// the CLI runs from a bundle under node_modules/.cache, so paths relative to `import.meta.url`
// would point into the cache rather than at workflows/ or node_modules/.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

export function packageRoot(): string {
  if (root) return root;
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'durabatch') return (root = dir);
    } catch {
      // no package.json here: keep walking up
    }
    if (path.dirname(dir) === dir)
      throw new Error(`durabatch's package.json not found above ${import.meta.url}`);
  }
}
