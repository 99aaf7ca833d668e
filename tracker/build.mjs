// Builds ../static/tracking/t.js from src/t.js with terser and prints its raw, gzip and brotli sizes.
// `--check` (run by `make lint`) builds in memory instead, and fails when the committed file differs from the
// build or the build is over its gzip budget.
import { readFileSync, writeFileSync } from 'node:fs';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { minify } from 'terser';

const SOURCE = new URL('src/t.js', import.meta.url);
const OUTPUT = new URL('../static/tracking/t.js', import.meta.url);
// Bytes; tests/tracking/test_script_and_seen.py holds the same line with Python's gzip.
const GZIP_BUDGET = 1000;

const options = {
  // The source's syntax is ES2019 (README.md, "Browser support"); terser may use any of it.
  ecma: 2019,
  compress: { passes: 3, unsafe: true, unsafe_arrows: true, unsafe_comps: true },
  mangle: true,
  // No banner: every byte counts against the budget; src/t.js says where the file comes from.
  format: { comments: false },
};

const built = (await minify(readFileSync(SOURCE, 'utf8'), options)).code + '\n';
const check = process.argv.includes('--check');
let failed = false;

if (check) {
  if (readFileSync(OUTPUT, 'utf8') !== built) {
    console.error('static/tracking/t.js is not the build of tracker/src/t.js: run `npm run build` in tracker/');
    failed = true;
  }
} else {
  writeFileSync(OUTPUT, built);
}

const bytes = Buffer.from(built);
const gzip = gzipSync(bytes, { level: 9 }).length;
const brotli = brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
console.log(`static/tracking/t.js: ${bytes.length} bytes raw, ${gzip} gzip -9, ${brotli} brotli -q 11`);
if (gzip > GZIP_BUDGET) {
  console.error(`static/tracking/t.js is over its budget of ${GZIP_BUDGET} bytes gzipped`);
  failed = true;
}
process.exit(failed ? 1 : 0);
