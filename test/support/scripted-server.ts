/**
 * A scripted HTTP server on 127.0.0.1 for registry behaviour Debian's distribution 2.8 does not show
 * (the referrers API, 429 + Retry-After, 5xx bursts, cross-origin redirects, cut connections, lying
 * digests, huge manifests, missing Content-Length, OCI-Chunk-Min-Length, relative Locations).
 * A test passes one function that answers each request; every request is recorded with its headers
 * and body, so the test can assert exactly what kart sent.
 *
 *   const server = await startScriptedServer((req, res) => { ... res.end() });
 *   new URL('/v2/', server.url); server.requests[0].headers.authorization; await server.stop();
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** path and query */
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export type Script = (request: RecordedRequest, response: ServerResponse, index: number) => unknown; // what a handler returns (often `res.end()`) is ignored; a promise is awaited

export interface ScriptedServer {
  /** `127.0.0.1:PORT` */
  host: string;
  /** `http://127.0.0.1:PORT` */
  url: string;
  requests: RecordedRequest[];
  stop(): Promise<void>;
}

export async function startScriptedServer(script: Script): Promise<ScriptedServer> {
  const requests: RecordedRequest[] = [];
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const recorded: RecordedRequest = {
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      body: Buffer.concat(chunks),
    };
    requests.push(recorded);
    try {
      await script(recorded, res, requests.length - 1);
    } catch (error) {
      res.statusCode = 599;
      res.end(String(error));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Answers with a distribution-spec error document. */
export function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ errors: [{ code, message }] }));
}
