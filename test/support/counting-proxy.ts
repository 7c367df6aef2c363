/**
 * A small HTTP reverse proxy that records every request it forwards (method, path with query, status),
 * so tests can prove what went over the wire: an unchanged push uploads no blob, a second repository
 * mounts instead of uploading. It forwards the Host header unchanged, so the registry builds its
 * absolute Location URLs with the proxy's address and every later request also passes through here.
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LoggedRequest {
  method: string;
  /** path and query, as the client sent it */
  path: string;
  status: number;
}

export interface CountingProxy {
  /** `127.0.0.1:PORT` */
  host: string;
  requestLog: LoggedRequest[];
  stop(): Promise<void>;
}

export async function startCountingProxy(target: { hostname: string; port: number }): Promise<CountingProxy> {
  const requestLog: LoggedRequest[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const upstream = httpRequest(
      {
        hostname: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        requestLog.push({ method: req.method ?? '', path: req.url ?? '', status: answer.statusCode ?? 0 });
        res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
        answer.pipe(res);
      },
    );
    upstream.on('error', (error) => {
      requestLog.push({ method: req.method ?? '', path: req.url ?? '', status: 502 });
      res.destroy(error);
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    requestLog,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
