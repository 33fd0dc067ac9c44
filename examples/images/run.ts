// `npm run example:images`: converting a folder of pictures on all cores with a preset. Makes a
// folder of 12 pictures (PNG, JPEG, TIFF in two sub-folders, plus a text file the preset's glob
// leaves out) with ImageMagick, runs the preset presets/<IMAGES_PRESET>.json (default
// web-thumbnail) over it, and hands the results on as one archive with `durabatch report --zip`.
// The check: the archive holds one converted picture per source picture, none under failed/, and
// each fits the preset's box.
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import yauzl from 'yauzl';
import type { BatchProgress } from '../../workflows/types';
import { durabatchJson, finish, main, rel, ROOT, useTemporalServer, workDir } from '../lib/example';

const exec = promisify(execFile);

/** name, size, colours: enough variety to see the preset at work. */
const PICTURES: [string, string, string][] = [
  ['2026-10/harbour-01.png', '1600x1200', 'navy-skyblue'],
  ['2026-10/harbour-02.png', '1200x1600', 'darkgreen-khaki'],
  ['2026-10/market-03.jpg', '1024x768', 'firebrick-gold'],
  ['2026-10/market-04.jpg', '800x800', 'purple-pink'],
  ['2026-10/scan-05.tif', '1240x1754', 'white-gray70'],
  ['2026-11/garden-06.png', '640x480', 'olive-yellow'],
  ['2026-11/garden-07.png', '2000x1000', 'teal-white'],
  ['2026-11/street-08.png', '300x200', 'black-orange'],
  ['2026-11/street-09.jpg', '1500x1000', 'maroon-wheat'],
  ['2026-11/portrait-10.png', '900x1350', 'sienna-bisque'],
  ['cover-11.png', '1280x720', 'midnightblue-coral'],
  ['cover-12.jpg', '1920x1080', 'darkslategray-aquamarine'],
];

async function makePictures(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  for (const [name, size, colours] of PICTURES) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await exec('convert', ['-size', size, `gradient:${colours}`, '-swirl', '120', path.join(dir, name)]);
  }
  await writeFile(path.join(dir, '2026-11', 'captions.txt'), 'garden-06: the east beds in October\n');
}

function zipEntries(file: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true }, (err, zip) => {
      if (err) return reject(err);
      const names: string[] = [];
      zip.on('entry', (e: yauzl.Entry) => (names.push(e.fileName), zip.readEntry()));
      zip.once('end', () => resolve(names));
      zip.once('error', reject);
      zip.readEntry();
    });
  });
}

main('images', async () => {
  const version = await exec('convert', ['-version']).catch(() => undefined);
  if (!version?.stdout.includes('ImageMagick'))
    throw new Error(
      "ImageMagick's `convert` is not installed (or is not ImageMagick): install it (apt-get install imagemagick, brew install imagemagick) and run again",
    );
  const presetName = process.env.IMAGES_PRESET ?? 'web-thumbnail';
  const preset = path.join(ROOT, 'examples', 'images', 'presets', `${presetName}.json`);
  const box = /(\d+)x\1>/.exec(await readFile(preset, 'utf8'))?.[1];
  const work = workDir('images');
  const pictures = path.join(work, 'pictures');
  await makePictures(pictures);
  process.stderr.write(`made ${PICTURES.length} pictures and a captions.txt in ${rel(pictures)}\n`);

  await useTemporalServer();
  const final = await durabatchJson<BatchProgress>([
    'run',
    rel(pictures),
    '--config',
    rel(preset),
    '--new',
    '--json',
    ...process.argv.slice(2),
  ]);
  const archive = path.join(work, `${presetName}.zip`);
  const report = await durabatchJson<{ archive?: { entries?: number } }>([
    'report',
    final.batchId,
    '--zip',
    rel(archive),
    '--json',
  ]);

  const entries = await zipEntries(archive);
  const converted = entries.filter((e) => e.startsWith('documents/'));
  const failed = entries.filter((e) => e.startsWith('failed/'));
  // Each output fits the preset's box (320×320 for web-thumbnail, 1200×1200 for print-proof).
  const outputs = await Promise.all(
    converted.map(async (e) => {
      const { stdout } = await exec('identify', ['-format', '%w %h', path.join(final.outputDir, e)]);
      return stdout.split(' ').map(Number);
    }),
  );
  const fits = outputs.filter(([w, h]) => box !== undefined && Math.max(w!, h!) <= Number(box)).length;
  process.stderr.write(
    `\n${rel(archive)}: ${entries.length} entries, ${converted.length} converted pictures\n`,
  );
  const ok =
    final.code === 0 &&
    report.code === 0 &&
    final.succeeded === PICTURES.length &&
    final.total === PICTURES.length &&
    converted.length === PICTURES.length &&
    failed.length === 0 &&
    fits === PICTURES.length;
  await finish(
    'images',
    ok,
    `${final.succeeded} of ${PICTURES.length} pictures converted with preset ${presetName} at concurrency ` +
      `${final.concurrency} (all cores); ${rel(archive)} holds ${converted.length} of them, ` +
      `${fits} within ${box ?? '?'}×${box ?? '?'}, ${failed.length} under failed/`,
  );
});
