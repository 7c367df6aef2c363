import {
  passwordFromEnvironment,
  readSigningKey,
  type KeyPassword,
  type SigningKey,
} from '../signature/keys.ts';

/**
 * A signing key's password for the CLI: KART_KEY_PASSWORD / COSIGN_PASSWORD when set, else (on a
 * terminal) a prompt that does not echo, asked only when the key turns out to be encrypted.
 */
export function cliKeyPassword(): KeyPassword {
  const fromEnvironment = passwordFromEnvironment();
  if (fromEnvironment !== undefined || process.stdin.isTTY !== true) return fromEnvironment;
  return () => promptHidden('Enter password for private key: ');
}

/** `--key` / `--sign-key`: the key file read with the CLI's password sources. */
export function readCliSigningKey(path: string): Promise<SigningKey> {
  return readSigningKey(path, cliKeyPassword());
}

function promptHidden(question: string): Promise<string | undefined> {
  const input = process.stdin;
  process.stderr.write(question);
  input.setRawMode(true);
  input.resume();
  let typed = '';
  return new Promise((done) => {
    const finish = (answer: string | undefined): void => {
      input.setRawMode(false);
      input.pause();
      input.off('data', onData);
      process.stderr.write('\n');
      done(answer);
    };
    const onData = (chunk: Buffer): void => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n') return finish(typed);
        // Ctrl-C or Ctrl-D: no password; the key reader then says which one it needed.
        if (char === '\u0003' || char === '\u0004') return finish(undefined);
        if (char === '\u007f' || char === '\b') typed = typed.slice(0, -1);
        else typed += char;
      }
    };
    input.on('data', onData);
  });
}
