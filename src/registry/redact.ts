/**
 * What a registry's error body may not repeat back to the terminal: the credential kart sent with the
 * request. A misconfigured or hostile registry (or a debugging proxy) can echo the request headers in
 * its error document; kart quotes that document, so every form of the secret it sent is cut out first.
 */
const REDACTED = '[redacted]';
/** Shorter fragments would redact ordinary words; no real secret is this short. */
const MIN_SECRET_LENGTH = 6;

/** The forms of an Authorization value a registry might echo: whole, the token or base64, and decoded. */
export function secretsOf(authorization: string): string[] {
  const space = authorization.indexOf(' ');
  const scheme = space < 0 ? '' : authorization.slice(0, space).toLowerCase();
  const credential = space < 0 ? authorization : authorization.slice(space + 1).trim();
  const secrets = [authorization, credential];
  if (scheme === 'basic') {
    const decoded = Buffer.from(credential, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    secrets.push(decoded, colon < 0 ? decoded : decoded.slice(colon + 1));
  }
  return [...new Set(secrets)].filter((secret) => secret.length >= MIN_SECRET_LENGTH);
}

/** `text` with every occurrence of each secret (longest first) replaced by `[redacted]`. */
export function redactSecrets(text: string, secrets: readonly string[] | undefined): string {
  let out = text;
  for (const secret of [...(secrets ?? [])].sort((a, b) => b.length - a.length)) {
    out = out.split(secret).join(REDACTED);
  }
  return out;
}
