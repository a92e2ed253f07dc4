// Writes <file>.br (brotli, quality 11) and <file>.gz (gzip -9) next to every compressible
// file of a build, for servers that send precompressed files (tests/support/server.mjs
// does; so do nginx's brotli_static/gzip_static and S3 + CloudFront with metadata).
//   node scripts/precompress.mjs <dir>
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

const COMPRESSIBLE = new Set(['.wasm', '.js', '.css', '.html', '.json', '.svg', '.webmanifest', '.txt']);
const dir = process.argv[2];
if (!dir) throw new Error('usage: node scripts/precompress.mjs <dir>');

function* files(d) {
  for (const e of fs.readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) yield* files(p);
    else if (COMPRESSIBLE.has(path.extname(e.name))) yield p;
  }
}

let n = 0;
for (const f of files(dir)) {
  const data = fs.readFileSync(f);
  fs.writeFileSync(f + '.br', zlib.brotliCompressSync(data, {
    params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: data.length },
  }));
  fs.writeFileSync(f + '.gz', zlib.gzipSync(data, { level: 9 }));
  n++;
}
console.log(`precompress: ${n} files (.br and .gz)`);
