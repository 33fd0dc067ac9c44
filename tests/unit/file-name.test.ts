import { describe, expect, it } from 'vitest';
import { fileNameVars } from '../../activities/processors/file-name';

const item = (data: Record<string, unknown>) => ({ index: 0, key: 'k', line: 1, data });

describe('{name} and {ext} of an item', () => {
  it('splits the file name of the item into stem and extension, without the directories', () => {
    expect(fileNameVars(item({ file: 'scans/IMG 01.png' }))).toEqual({ name: 'IMG 01', ext: 'png' });
    expect(fileNameVars(item({ file: 'archive.tar.gz' }))).toEqual({ name: 'archive.tar', ext: 'gz' });
    expect(fileNameVars(item({ file: 'notes' }))).toEqual({ name: 'notes', ext: '' });
    expect(fileNameVars(item({ file: 'C:\\docs\\x.pdf' }))).toEqual({ name: 'x', ext: 'pdf' });
  });

  it('cleans the stem to one segment that cannot climb out of the folder', () => {
    expect(fileNameVars(item({ file: 'a/...txt' }))).toEqual({ name: '__', ext: 'txt' });
    expect(fileNameVars(item({ file: '.env' }))).toEqual({ name: '_env', ext: '' });
    expect(fileNameVars(item({ file: 'a:b*c?"<>|\u0001.png' }))).toEqual({ name: 'a_b_c______', ext: 'png' });
    expect(fileNameVars(item({ file: 'x.p$n g' }))).toEqual({ name: 'x', ext: 'png' });
    // Cut at 200 bytes of UTF-8, on a character boundary (é is 2 bytes).
    const long = fileNameVars(item({ file: `${'é'.repeat(150)}.txt` }))!;
    expect([long.name.length, Buffer.byteLength(long.name)]).toEqual([100, 200]);
  });

  it('is undefined for items without a file field, so their own fields stay in charge', () => {
    expect(fileNameVars(item({ name: 'Jane' }))).toBeUndefined();
    expect(fileNameVars(item({ file: 42 }))).toBeUndefined();
  });
});
