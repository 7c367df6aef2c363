/**
 * Child process of the bench: reads FILE the way kart moves blobs (fs read stream → DigestingStream)
 * and prints the digest; the bench times it against `sha256sum FILE`.
 */
import { createReadStream } from 'node:fs';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DigestingStream } from '../src/oci/digest.ts';

const file = process.argv[2];
if (file === undefined) {
  console.error('usage: node bench/hash-throughput.ts FILE');
  process.exit(2);
}
const digesting = new DigestingStream();
const sink = new Writable({
  write(_chunk, _encoding, done) {
    done();
  },
});
await pipeline(createReadStream(file), digesting, sink);
console.log(digesting.digest());
