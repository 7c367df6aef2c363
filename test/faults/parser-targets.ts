/**
 * The parsers that read outside data, each as a fuzz target: a fast-check arbitrary for its input and
 * a `run` that feeds one input to the real parser. Shared by test/faults/fuzz.test.ts (a short run in
 * `npm test`) and scripts/fuzz-long.ts (`npm run fuzz`, FUZZ_RUNS long), so both fuzz the same thing.
 *
 * The contract under test: every input either parses or raises a KartError with a stable code and a
 * message. Anything else (a TypeError, a RangeError, a hang on a bounded input) is a bug in the parser.
 *
 * Inputs mix three sources, because purely random bytes rarely get past a parser's first check:
 * valid seeds mutated byte-wise (insert, delete, replace, duplicate a slice, truncate), structure-aware
 * variants (a valid manifest with one field swapped for arbitrary JSON), and plain random text.
 */
import { execFileSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { isKartError } from '../../src/errors.ts';
import {
  ImageConfigSchema,
  ImageIndexSchema,
  ImageManifestSchema,
  parseJson,
  parseReference,
  readTar,
  tarLayer,
} from '../../src/oci/index.ts';
import { parseKernelMetadata } from '../../src/kernel/artifact/metadata.ts';
import { parseKernelConfig, readKernelConfig, parseAllowList } from '../../src/kernel/config/index.ts';
import { parseFlavorFile, SHIPPED_FLAVORS_DIR } from '../../src/kernel/flavor/index.ts';
import { parseCatalogue } from '../../src/kernel/catalogue/index.ts';
import { parseWwwAuthenticate } from '../../src/registry/auth/challenge.ts';

export interface FuzzTarget<T> {
  name: string;
  arbitrary: fc.Arbitrary<T>;
  /** Feeds one input to the parser; resolves when it parsed, rejects with whatever it raised. */
  run: (input: T) => Promise<void> | void;
  /** How to print a failing input so it can be replayed (bytes as base64, text as JSON). */
  show: (input: T) => string;
}

/** A parse failure that keeps the contract: a KartError with a code and a message. */
export function isContractError(error: unknown): boolean {
  return isKartError(error) && /^[A-Z][A-Z0-9_]*$/.test(error.code) && error.message.length > 0;
}

/** Runs the target on one input; throws (with the input shown) only when the contract is broken. */
export async function checkOne<T>(target: FuzzTarget<T>, input: T): Promise<void> {
  try {
    await target.run(input);
  } catch (error) {
    if (isContractError(error)) return;
    const what =
      error instanceof Error ? `${error.name}: ${error.message}\n${error.stack ?? ''}` : String(error);
    throw new Error(`${target.name}: not a KartError for input ${target.show(input)}\n${what}`, {
      cause: error,
    });
  }
}

// --- mutation of seeds --------------------------------------------------------------------------

type Mutation =
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; length: number }
  | { op: 'replace'; at: number; byte: number }
  | { op: 'duplicate'; at: number; length: number }
  | { op: 'truncate'; at: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    op: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 8 }),
      // Bytes parsers treat specially: separators, quotes, escapes, NUL, high bytes, digits.
      fc
        .array(
          fc.constantFrom(
            0,
            0x0a,
            0x0d,
            0x22,
            0x27,
            0x2c,
            0x2f,
            0x3a,
            0x3d,
            0x40,
            0x5c,
            0x23,
            0x30,
            0x37,
            0xff,
            0xc3,
          ),
          {
            minLength: 1,
            maxLength: 4,
          },
        )
        .map((list) => Uint8Array.from(list)),
    ),
  }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ op: fc.constant('replace' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('duplicate' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
);

function applyMutation(input: Buffer, m: Mutation): Buffer {
  const at = input.length === 0 ? 0 : m.at % (input.length + 1);
  switch (m.op) {
    case 'insert':
      return Buffer.concat([input.subarray(0, at), m.bytes, input.subarray(at)]);
    case 'delete':
      return Buffer.concat([input.subarray(0, at), input.subarray(at + m.length)]);
    case 'replace': {
      if (input.length === 0) return input;
      const copy = Buffer.from(input);
      copy[at % input.length] = m.byte;
      return copy;
    }
    case 'duplicate':
      return Buffer.concat([input.subarray(0, at + m.length), input.subarray(at)]);
    case 'truncate':
      return input.subarray(0, at);
  }
}

/** A seed (one of `seeds`) with up to `max` byte mutations applied. */
export function mutatedBytes(seeds: readonly Buffer[], max = 6): fc.Arbitrary<Buffer> {
  return fc
    .tuple(fc.constantFrom(...seeds), fc.array(mutation, { maxLength: max }))
    .map(([seed, mutations]) => mutations.reduce(applyMutation, seed));
}

function mutatedText(seeds: readonly string[], max = 6): fc.Arbitrary<string> {
  return mutatedBytes(
    seeds.map((s) => Buffer.from(s, 'utf8')),
    max,
  ).map((bytes) => bytes.toString('utf8'));
}

const showText = (input: string): string => JSON.stringify(input);
const showBytes = (input: Uint8Array): string => `base64:${Buffer.from(input).toString('base64')}`;

// --- seeds --------------------------------------------------------------------------------------

const DIGEST = `sha256:${'a'.repeat(64)}`;

const referenceSeeds = [
  'registry.example.com/kernels/zone:6.6.1',
  'localhost:5000/kernel@' + DIGEST,
  '127.0.0.1:5000/a/b/c:tag@' + DIGEST,
  '[::1]:5000/kernels/zone:latest',
  'ghcr.io/edera-dev/zone-kernel',
  'oci:./layout:6.6.1',
  'oci:/tmp/layout@' + DIGEST,
  'docker.io/library/busybox:1.36',
  'busybox',
];

const manifestObject = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: DIGEST, size: 123 },
  layers: [
    {
      mediaType: 'application/vnd.oci.image.layer.v1.tar',
      digest: DIGEST,
      size: 4096,
      annotations: { 'org.opencontainers.image.title': 'kernel/image' },
    },
  ],
  annotations: { 'dev.edera.kernel.format': '1' },
};
const indexObject = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.index.v1+json',
  manifests: [
    {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: DIGEST,
      size: 700,
      platform: { architecture: 'amd64', os: 'linux' },
    },
  ],
};
const configObject = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [DIGEST] } };

const metadataSeed = [
  'KERNEL_ARCH=x86_64',
  'KERNEL_VERSION=6.6.1',
  'KERNEL_UNAME_R=6.6.1-zone',
  'KERNEL_FLAVOR=zone',
  `KERNEL_CONFIG=${DIGEST}`,
  'KERNEL_TAGS=6.6.1,6.6,latest',
  '',
].join('\n');

const configSeed = [
  '#',
  '# Automatically generated file; DO NOT EDIT.',
  '# Linux/x86 6.6.1 Kernel Configuration',
  '#',
  'CONFIG_64BIT=y',
  'CONFIG_XEN=y',
  '# CONFIG_DEBUG_INFO is not set',
  'CONFIG_NR_CPUS=64',
  'CONFIG_LOCALVERSION="-zone"',
  'CONFIG_CMDLINE="console=hvc0 root=\\"/dev/xvda\\""',
  'CONFIG_PHYSICAL_START=0x1000000',
  'CONFIG_MODULES=m',
  '',
].join('\n');

const flavorSeed = [
  '# a flavor',
  '[flavor]',
  'description = Xen zone guest',
  'extends = xen-guest',
  'repository = kernels/zone',
  '',
  '[require]',
  'CONFIG_XEN = y',
  'CONFIG_NR_CPUS >= 8',
  'CONFIG_LOCALVERSION = "-zone"',
  'CONFIG_DEBUG_INFO = n',
  '',
].join('\n');

const catalogueSeed = [
  '[defaults]',
  'arches = x86_64, aarch64',
  '',
  '[6.6.1]',
  'flavors = zone, host',
  'build = builds/{flavor}/{arch}',
  'tags = {version}-{flavor}',
  'aliases = no',
  '',
].join('\n');

/** The shipped flavor files are seeds too: real syntax, every rule form the project uses. */
const shippedFlavorSeeds = readdirSync(SHIPPED_FLAVORS_DIR)
  .filter((name) => name.endsWith('.ini'))
  .map((name) => readFileSync(join(SHIPPED_FLAVORS_DIR, name), 'utf8'));

const challengeSeeds = [
  'Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull"',
  'Basic realm="Registry Realm"',
  'Bearer realm="https://a/t", service=reg, scope="repository:x:pull,push", error="insufficient_scope"',
  'Negotiate abc+/def==, Basic realm="x\\"y"',
  'Bearer',
];

async function tarSeeds(): Promise<Buffer[]> {
  const small = await collect(
    tarLayer(
      [
        { path: 'kernel/image', size: 11, source: () => Readable.from([Buffer.from('hello world')]) },
        { path: 'kernel/metadata', size: 0, source: () => Readable.from([]) },
      ],
      { mtime: 0 },
    ),
  );
  // ustar's prefix field: a path longer than 100 bytes split at a `/`.
  const prefixed = await collect(
    tarLayer(
      [
        {
          path: `kernel/${'a'.repeat(60)}/${'b'.repeat(60)}/file`,
          size: 3,
          source: () => Readable.from([Buffer.from('abc')]),
        },
      ],
      {
        mtime: 1_700_000_000,
      },
    ),
  );
  return [small, prefixed, ...gnuTarSeeds()];
}

/** GNU tar's own pax and gnu formats (long names as `x` and `L` records, a symlink, a directory). */
function gnuTarSeeds(): Buffer[] {
  const dir = mkdtempSync(join(tmpdir(), 'kart-fuzz-tar-'));
  try {
    const long = `kernel/${'l'.repeat(110)}`;
    mkdirSync(join(dir, 'kernel'));
    writeFileSync(join(dir, long), 'long name body\n');
    symlinkSync('../etc/passwd', join(dir, 'kernel/link'));
    return ['pax', 'gnu'].map((format) =>
      execFileSync(
        'tar',
        ['-c', `--format=${format}`, '--owner=0', '--group=0', '--mtime=@0', '-C', dir, 'kernel'],
        {
          maxBuffer: 1024 * 1024,
        },
      ),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) parts.push(chunk);
  return Buffer.concat(parts);
}

// --- JSON documents: byte mutations and field swaps ---------------------------------------------

type JsonPath = (string | number)[];

function pathsOf(value: unknown, prefix: JsonPath = []): JsonPath[] {
  if (value === null || typeof value !== 'object') return [prefix];
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value);
  return [prefix, ...entries.flatMap(([key, child]) => pathsOf(child, [...prefix, key]))];
}

function withValueAt(document: unknown, path: JsonPath, value: unknown): unknown {
  if (path.length === 0) return value;
  const copy = (
    Array.isArray(document) ? [...(document as unknown[])] : { ...(document as object) }
  ) as Record<string | number, unknown>;
  const [head, ...rest] = path as [string | number, ...JsonPath];
  copy[head] = withValueAt(copy[head], rest, value);
  return copy;
}

function jsonDocument(seed: object): fc.Arbitrary<string> {
  const paths = pathsOf(seed);
  const swapped = fc
    .tuple(fc.constantFrom(...paths), fc.jsonValue({ maxDepth: 2 }))
    .map(([path, value]) => JSON.stringify(withValueAt(seed, path, value)));
  return fc.oneof(swapped, mutatedText([JSON.stringify(seed)], 3), fc.json({ maxDepth: 3 }));
}

// --- the targets --------------------------------------------------------------------------------

export async function parserTargets(): Promise<FuzzTarget<never>[]> {
  const tars = await tarSeeds();
  const targets = [
    {
      name: 'reference (parseReference)',
      arbitrary: fc.oneof(mutatedText(referenceSeeds), fc.string({ maxLength: 80, unit: 'binary' })),
      run: (input: string) => void parseReference(input),
      show: showText,
    } satisfies FuzzTarget<string>,
    {
      name: 'image manifest (parseJson ImageManifestSchema)',
      arbitrary: jsonDocument(manifestObject),
      run: (input: string) => void parseJson(ImageManifestSchema, input, 'fuzz manifest'),
      show: showText,
    } satisfies FuzzTarget<string>,
    {
      name: 'image index (parseJson ImageIndexSchema)',
      arbitrary: jsonDocument(indexObject),
      run: (input: string) => void parseJson(ImageIndexSchema, input, 'fuzz index'),
      show: showText,
    } satisfies FuzzTarget<string>,
    {
      name: 'image config (parseJson ImageConfigSchema, bytes)',
      arbitrary: jsonDocument(configObject).map((text) => Buffer.from(text, 'utf8')),
      run: (input: Buffer) => void parseJson(ImageConfigSchema, input, 'fuzz config'),
      show: showBytes,
    } satisfies FuzzTarget<Buffer>,
    {
      name: 'kernel metadata (parseKernelMetadata)',
      arbitrary: fc.oneof(mutatedBytes([Buffer.from(metadataSeed)]), fc.uint8Array({ maxLength: 200 })),
      run: (input: Uint8Array) => void parseKernelMetadata(input, 'fuzz/metadata'),
      show: showBytes,
    } satisfies FuzzTarget<Uint8Array>,
    {
      name: 'kernel .config (parseKernelConfig)',
      arbitrary: fc.oneof(mutatedText([configSeed]), fc.string({ maxLength: 200, unit: 'binary' })),
      run: (input: string) => void parseKernelConfig(input, 'fuzz.config'),
      show: showText,
    } satisfies FuzzTarget<string>,
    {
      name: 'kernel .config from a stream, plain or gzip (readKernelConfig -)',
      arbitrary: fc.oneof(
        mutatedBytes([Buffer.from(configSeed)]),
        // A gzip stream mutated: bad CRC, truncated member, garbage after the end.
        mutatedBytes([gzipSync(Buffer.from(configSeed))], 3),
      ),
      run: async (input: Buffer) => {
        await readKernelConfig('-', { stdin: Readable.from([input]) });
      },
      show: showBytes,
    } satisfies FuzzTarget<Buffer>,
    {
      name: 'config allow-list (parseAllowList)',
      arbitrary: mutatedText(['# allowed to differ\nCONFIG_LOCALVERSION\nCONFIG_NR_CPUS\n']),
      run: (input: string) => void parseAllowList(input, 'fuzz.allow'),
      show: showText,
    } satisfies FuzzTarget<string>,
    {
      name: 'flavor file (parseFlavorFile)',
      arbitrary: fc.oneof(
        mutatedText([flavorSeed, ...shippedFlavorSeeds]),
        fc.string({ maxLength: 200, unit: 'binary' }),
      ),
      run: (input: string) => void parseFlavorFile(input, 'fuzz', 'fuzz.ini'),
      show: showText,
    } satisfies FuzzTarget<string>,
    {
      name: 'publish catalogue (parseCatalogue)',
      arbitrary: mutatedText([catalogueSeed]),
      run: (input: string) => void parseCatalogue(input, 'fuzz-catalogue.ini'),
      show: showText,
    } satisfies FuzzTarget<string>,
    {
      name: 'tar layer (readTar, every body read)',
      arbitrary: fc.oneof(
        mutatedBytes(tars, 4),
        fc.uint8Array({ maxLength: 1536 }).map((b) => Buffer.from(b)),
      ),
      run: async (input: Buffer) => {
        for await (const entry of readTar(Readable.from([input]))) {
          for await (const chunk of entry.body) void chunk;
        }
      },
      show: showBytes,
    } satisfies FuzzTarget<Buffer>,
    {
      name: 'WWW-Authenticate (parseWwwAuthenticate)',
      arbitrary: fc.oneof(mutatedText(challengeSeeds), fc.string({ maxLength: 120 })),
      run: (input: string) => void parseWwwAuthenticate(input),
      show: showText,
    } satisfies FuzzTarget<string>,
  ];
  return targets as unknown as FuzzTarget<never>[];
}
