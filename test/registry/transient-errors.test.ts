import { describe, expect, it } from 'vitest';
import { errorFromNetwork, errorFromResponse } from '../../src/registry/registry-errors.ts';

/** Which registry failures a copy may start over after: the ones that may not happen again. */
describe('transient registry failures', () => {
  const url = new URL('http://127.0.0.1:5000/v2/acme/kernel/blobs/uploads/');
  const answer = (status: number) =>
    errorFromResponse({
      status,
      body: { code: undefined, message: undefined },
      what: 'blob',
      host: '127.0.0.1:5000',
    });
  const network = (code: string) => errorFromNetwork(Object.assign(new Error(code), { code }), url, 'blob');

  it('marks rate limits, 5xx, broken connections and stalls transient', () => {
    expect([429, 500, 502, 503, 504].map((status) => [status, answer(status).transient])).toEqual([
      [429, true],
      [500, true],
      [502, true],
      [503, true],
      [504, true],
    ]);
    expect(['ECONNRESET', 'UND_ERR_SOCKET', 'UND_ERR_BODY_TIMEOUT'].map((c) => network(c).transient)).toEqual(
      [true, true, true],
    );
  });

  it('never marks refusals or misconfiguration transient', () => {
    expect([400, 401, 403, 404, 405, 501].map((status) => answer(status).transient)).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
    expect(['ECONNREFUSED', 'ENOTFOUND', 'CERT_HAS_EXPIRED'].map((c) => network(c).transient)).toEqual([
      false,
      false,
      false,
    ]);
  });
});
