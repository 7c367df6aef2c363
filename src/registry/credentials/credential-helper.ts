import { spawn } from 'node:child_process';
import { KartError } from '../../errors.ts';
import { checkShape, looseObject, optional, string } from '../../oci/json-shape.ts';
import type { Credential } from './credential.ts';

/**
 * docker's credential-helper protocol: `docker-credential-<suffix> get|store|erase`.
 * `get` and `erase` read the plain server address on stdin; `store` reads JSON
 * {ServerURL, Username, Secret}. Answers and errors arrive on stdout. A Username of `<token>` means
 * Secret is an identity (refresh) token. "credentials not found" means anonymous, not a failure.
 */
const HelperAnswerSchema = looseObject({
  ServerURL: optional(string()),
  Username: string(),
  Secret: string(),
});

const MAX_HELPER_OUTPUT = 64 * 1024;
const HELPER_TIMEOUT_MS = 30_000;
const NOT_FOUND = /credentials not found/i;
const IDENTITY_TOKEN_USER = '<token>';

interface HelperRun {
  code: number | null;
  stdout: string;
}

function helperProgram(suffix: string): string {
  if (!/^[a-zA-Z0-9._-]+$/.test(suffix)) {
    throw new KartError('CREDENTIAL_HELPER_INVALID', `credential helper name "${suffix}" is not valid`, {
      exitCode: 2,
      hint: 'credsStore / credHelpers name a program docker-credential-<name>; fix the docker config',
    });
  }
  return `docker-credential-${suffix}`;
}

function runHelper(suffix: string, action: string, input: string): Promise<HelperRun> {
  const program = helperProgram(suffix);
  return new Promise((resolve, reject) => {
    const child = spawn(program, [action], { stdio: ['pipe', 'pipe', 'ignore'], timeout: HELPER_TIMEOUT_MS });
    const chunks: Buffer[] = [];
    let size = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_HELPER_OUTPUT) chunks.push(chunk);
      else child.kill('SIGKILL');
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'ENOENT'
          ? new KartError('CREDENTIAL_HELPER_MISSING', `credential helper ${program} is not on PATH`, {
              exitCode: 2,
              hint: `install ${program}, or remove it from credsStore/credHelpers in the docker config`,
            })
          : new KartError('CREDENTIAL_HELPER_FAILED', `credential helper ${program} could not be run`, {
              exitCode: 2,
              cause: error,
            }),
      );
    });
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(chunks).toString('utf8') }));
    // A helper that exits without reading stdin makes the write fail with EPIPE: its exit status tells.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

function helperFailed(suffix: string, action: string, run: HelperRun): KartError {
  // The helper's own message is about the helper, never our secret (stdin is not echoed back here).
  const said = run.stdout.trim().split('\n')[0]?.slice(0, 200) ?? '';
  return new KartError(
    'CREDENTIAL_HELPER_FAILED',
    `credential helper docker-credential-${suffix} ${action} failed (exit ${run.code ?? 'signal'})${said ? `: ${said}` : ''}`,
    {
      exitCode: 2,
      hint: 'check that the helper works on its own, e.g. `echo HOST | docker-credential-NAME get`',
    },
  );
}

/** Asks a helper for a server address's credential; undefined when it has none. */
export async function helperGet(suffix: string, serverAddress: string): Promise<Credential | undefined> {
  const run = await runHelper(suffix, 'get', serverAddress);
  if (run.code !== 0) {
    if (NOT_FOUND.test(run.stdout)) return undefined;
    throw helperFailed(suffix, 'get', run);
  }
  let json: unknown;
  try {
    json = JSON.parse(run.stdout);
  } catch {
    throw new KartError(
      'CREDENTIAL_HELPER_FAILED',
      `credential helper docker-credential-${suffix} get answered with something that is not JSON`,
      { exitCode: 2, hint: 'the helper must print {"ServerURL","Username","Secret"}' },
    );
  }
  const answer = checkShape(HelperAnswerSchema, json);
  if (!answer.ok) {
    throw new KartError(
      'CREDENTIAL_HELPER_FAILED',
      `credential helper docker-credential-${suffix} get answered without ${answer.mismatch.path.join('.') || 'the expected fields'}`,
      { exitCode: 2, hint: 'the helper must print {"ServerURL","Username","Secret"}' },
    );
  }
  const { Username, Secret } = answer.value;
  if (Secret === '') return undefined;
  return Username === IDENTITY_TOKEN_USER
    ? { identityToken: Secret }
    : { username: Username, password: Secret };
}

export async function helperStore(
  suffix: string,
  serverAddress: string,
  credential: Credential,
): Promise<void> {
  const body =
    credential.identityToken !== undefined
      ? { ServerURL: serverAddress, Username: IDENTITY_TOKEN_USER, Secret: credential.identityToken }
      : { ServerURL: serverAddress, Username: credential.username ?? '', Secret: credential.password ?? '' };
  const run = await runHelper(suffix, 'store', JSON.stringify(body));
  if (run.code !== 0) throw helperFailed(suffix, 'store', run);
}

/** Erases a credential; false when the helper had none. */
export async function helperErase(suffix: string, serverAddress: string): Promise<boolean> {
  const run = await runHelper(suffix, 'erase', serverAddress);
  if (run.code === 0) return true;
  if (NOT_FOUND.test(run.stdout)) return false;
  throw helperFailed(suffix, 'erase', run);
}
