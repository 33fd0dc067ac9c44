// Answers to clients never map the service's disks: an upload's files by their path inside it,
// the storage roots by placeholders.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { hideServerPaths, hideServerPathsIn } from '../../src/api/server-paths';

const roots = { uploadsDir: '/srv/home/uploads', outputRoot: '/srv/output', home: '/srv/home' };

describe('hideServerPaths', () => {
  it('names uploaded files by their path in the upload, roots by placeholders', () => {
    expect(
      hideServerPaths('metadata file /srv/home/uploads/.incoming/5f0c/metadata.csv line 3: bad', roots),
    ).toBe('metadata file metadata.csv line 3: bad');
    expect(hideServerPaths('/srv/home/uploads/batch-7/files/inbox/a.pdf is empty', roots)).toBe(
      'files/inbox/a.pdf is empty',
    );
    expect(hideServerPaths('staged in /srv/home/staged/x; output /srv/output/b1', roots)).toBe(
      'staged in <home>/staged/x; output <output>/b1',
    );
    expect(hideServerPaths('uploads live in /srv/home/uploads', roots)).toBe('uploads live in <uploads>');
    expect(hideServerPaths('nothing to hide in /etc/hosts', roots)).toBe('nothing to hide in /etc/hosts');
  });

  it('treats roots as text, not patterns', () => {
    const odd = { uploadsDir: path.resolve('/a+b/(up)'), outputRoot: '/o', home: '/h' };
    expect(hideServerPaths('/a+b/(up)/id/metadata.json', odd)).toBe('metadata.json');
    expect(hideServerPaths('/aab/(up)/id/metadata.json', odd)).toBe('/aab/(up)/id/metadata.json');
  });

  it('hides them in every string of a JSON answer, keys and other values untouched', () => {
    const plan = {
      total: 2,
      source: '/srv/home/uploads/.incoming/5f0c/files',
      staged: { dir: '/srv/home/staged/ab12', fingerprint: 'ab12' },
      warnings: ['metadata /srv/home/uploads/.incoming/5f0c/metadata.csv: line 4: no file "x.pdf"'],
      refusal: null,
      cost: { total: null },
    };
    expect(hideServerPathsIn(plan, roots)).toEqual({
      total: 2,
      source: 'files',
      staged: { dir: '<home>/staged/ab12', fingerprint: 'ab12' },
      warnings: ['metadata metadata.csv: line 4: no file "x.pdf"'],
      refusal: null,
      cost: { total: null },
    });
  });
});
