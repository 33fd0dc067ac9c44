// The scrubber at the processItem boundary (activities/processors/secret-scrub.ts): the forms a
// secret takes in handed-on text, excerpts cut through one, errors scrubbed in place (class and type
// kept for the retry policy), log lines, and which values count as the attempt's secrets.
import { Writable } from 'node:stream';
import { ApplicationFailure } from '@temporalio/common';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { SecretScrubber, secretsOf } from '../../activities/processors/secret-scrub';

const SECRET = 'sk-live-"quoted"/9f8e7d6c';
const scrub = new SecretScrubber([SECRET, 'multi-line-one\nmulti-line-two']);

describe('SecretScrubber', () => {
  it('masks the secret as is, inside JSON, URL-encoded, and each line of a multi-line one', () => {
    expect(scrub.text(`key ${SECRET} end`)).toBe('key **** end');
    expect(scrub.text(JSON.stringify({ k: SECRET }))).toBe('{"k":"****"}');
    expect(scrub.text(`?k=${encodeURIComponent(SECRET)}`)).toBe('?k=****');
    expect(scrub.text('a multi-line-two b')).toBe('a **** b');
    expect(scrub.text('nothing here')).toBe('nothing here');
  });

  it('masks the part of a secret left at the edge of a cut excerpt', () => {
    expect(scrub.text(`answer: …${SECRET.slice(6)} rest`)).toBe('answer: …**** rest');
    expect(scrub.text(`head ${SECRET.slice(0, 12)}…`)).toBe('head ****…');
    expect(scrub.text(`tail ${SECRET.slice(0, 10)}`)).toBe('tail ****');
    // Five characters or fewer at an edge are too little to be taken for the secret.
    expect(scrub.text('ends with sk-li')).toBe('ends with sk-li');
  });

  it('scrubs an error in place: message, stack, details and cause; class and type kept', () => {
    const cause = new Error(`socket said ${SECRET}`);
    const failure = ApplicationFailure.create({
      message: `refused ${SECRET}`,
      type: 'PermanentTargetError',
      nonRetryable: true,
      details: [{ body: `echo ${SECRET}` }],
      cause,
    });
    expect(scrub.error(failure)).toBe(failure);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure.type).toBe('PermanentTargetError');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toBe('refused ****');
    expect(failure.stack).not.toContain(SECRET);
    expect(failure.details).toEqual([{ body: 'echo ****' }]);
    expect((failure.cause as Error).message).toBe('socket said ****');
  });

  it('scrubs outcomes, class instances included, and every log line of the attempt logger', () => {
    class Answer {
      constructor(readonly token = SECRET) {}
    }
    expect(scrub.value({ output: `t=${SECRET}`, body: new Answer(), files: [`d/${SECRET}.txt`] })).toEqual({
      output: 't=****',
      body: { token: '****' },
      files: ['d/****.txt'],
    });
    let written = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        written += chunk.toString();
        done();
      },
    });
    const log = scrub.logger(pino({ level: 'trace' }, sink)).child({ step: 'x' });
    log.info({ header: SECRET, err: new Error(`boom ${SECRET}`) }, `sent ${SECRET}`);
    log.debug(`plain ${SECRET}`);
    expect(written).toContain('sent ****');
    expect(written).toContain('plain ****');
    expect(written).not.toContain('9f8e7d6c');
    expect(log.isLevelEnabled('debug')).toBe(true);
  });
});

describe('secretsOf', () => {
  it("takes every ${env:…} the spec references and the worker's secret-named variables", () => {
    const spec = { headers: { A: 'Bearer ${env:TOKEN_A}' }, env: { B: '${env:PLAIN_B}' }, url: 'x' };
    const env = {
      TOKEN_A: 'aaaa-1111',
      PLAIN_B: 'bbbb-2222',
      UNREFERENCED: 'cccc-3333',
      TEMPORAL_API_KEY: 'temporal-key-4444',
      SHORT_TOKEN: 'yes',
    };
    expect(secretsOf(spec, env).sort()).toEqual(['aaaa-1111', 'bbbb-2222', 'temporal-key-4444']);
    // Values too short to be secrets are not masked: "yes" must survive in outputs.
    expect(new SecretScrubber(['yes']).text('yes')).toBe('yes');
  });
});
