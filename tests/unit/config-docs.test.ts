// docs/configuration.md's settings tables are generated from the schema; this fails when someone
// changes a setting without regenerating them.
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { DOC_FILE, parseDocComments, renderSettings, replaceSettings } from '../../scripts/gen-config-docs';

describe('docs/configuration.md', () => {
  it('is up to date with the config schema', async () => {
    const current = await readFile(DOC_FILE, 'utf8');
    const expected = replaceSettings(current, await renderSettings());
    // Not toEqual on the whole text: a 60-line table diff hides the one thing to do.
    if (current !== expected) {
      expect.fail('docs/configuration.md is out of date with src/config: run `npm run docs:config`');
    }
  });

  it('documents every setting', async () => {
    const generated = await renderSettings();
    for (const field of ['concurrency', 'http.url', 'logLevels.processor', 'command.argv', 'module.path']) {
      expect(generated).toContain(`| \`${field}\``);
    }
    expect(generated).not.toMatch(/\| `[\w.]+`\s+\|[^\n]*\|\s+\|\n/); // no empty description column
  });

  it('reads `/** doc */ field:` pairs, including nested and multi-line comments', () => {
    const docs = parseDocComments(
      [
        'export const Thing = z.strictObject({',
        '  /** Items in flight. Default 10. */',
        '  concurrency: z.number(),',
        '  group: z',
        '    .strictObject({',
        '      /**',
        '       * Inner field,',
        '       * on two lines.',
        '       */',
        '      inner: z.string(),',
        '    }),',
        '  undocumented: z.string(),',
        '});',
      ].join('\n'),
    );
    expect(Object.fromEntries(docs)).toEqual({
      'Thing.concurrency': 'Items in flight. Default 10.',
      'Thing.group.inner': 'Inner field, on two lines.',
    });
  });
});
