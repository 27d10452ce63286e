/** The hand-over test's command splitter agrees with /bin/sh, and refuses what a plain command must not hold. */
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { shellArg } from '../../../pipeline/blueprint/blueprint';
import { sdpipeArgs, shellWords } from './shell-words';

/** The words /bin/sh makes of a line (globbing off; the line is test data without expansions). */
function shWords(line: string): string[] {
  const out = execFileSync('/bin/sh', ['-c', `set -f; set -- ${line}; for w in "$@"; do printf '%s\\0' "$w"; done`], { encoding: 'utf8' });
  return out === '' ? [] : out.slice(0, -1).split('\0');
}

describe('shellWords', () => {
  it.each([
    'npx sdpipe validate --env dev --live',
    "npx sdpipe snapshot bake --env 'my env' --lock 'locks/mirror/it'\\''s/images.lock.json'",
    'a  "b c"  d\\ e "x\\"y\\\\z" \'\'',
    "--flag=value 'it'\\''s' \"q'uote\"",
  ])('splits %s as /bin/sh does', (line) => {
    expect(shellWords(line)).toEqual(shWords(line));
  });

  it('gives back every word list quoted with the blueprint’s shellArg (checked against /bin/sh too)', () => {
    const word = fc.string({ unit: fc.constantFrom('a', 'Z', '0', '-', '.', '/', ' ', "'", '"', '\\', '$', ';', '|', '*', '#', '~', '@', ':', '=', '%'), minLength: 1, maxLength: 12 });
    fc.assert(
      fc.property(fc.array(word, { minLength: 1, maxLength: 5 }), (args) => {
        const line = args.map(shellArg).join(' ');
        expect(shellWords(line)).toEqual(args);
      }),
      { numRuns: 300 },
    );
    const sample = ["it's", 'a b', '$HOME', 'x;y', '"q"'];
    expect(shWords(sample.map(shellArg).join(' '))).toEqual(sample);
  });

  it.each([
    ['npx sdpipe validate; rm -rf /', /unquoted ; at column 20/],
    ['npx sdpipe mirror --env $ENV', /unquoted \$ at column 25/],
    ['npx sdpipe mirror --env "$ENV"', /expansion at column 26/],
    ["npx sdpipe mirror --env 'dev", /unterminated ' at column 25/],
    ['npx sdpipe mirror > out.txt', /unquoted > at column 19/],
    ['npx sdpipe mirror --out out/*', /unquoted \* at column 29/],
  ])('refuses %s', (line, message) => {
    expect(() => shellWords(line)).toThrow(message);
  });

  it('sdpipeArgs strips `npx sdpipe` or the step artifact\'s `node .sdpipe-step/sdpipe.js` and refuses any other program', () => {
    expect(sdpipeArgs("npx sdpipe models sync --env 'a b' --out out")).toEqual(['models', 'sync', '--env', 'a b', '--out', 'out']);
    expect(sdpipeArgs('node .sdpipe-step/sdpipe.js mirror --env dev')).toEqual(['mirror', '--env', 'dev']);
    expect(() => sdpipeArgs('node other.js mirror')).toThrow(/not an `npx sdpipe …` or `node .sdpipe-step\/sdpipe.js …` command/);
    expect(() => sdpipeArgs('npm ci --no-audit')).toThrow(/not an `npx sdpipe …` or/);
  });
});
