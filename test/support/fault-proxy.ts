/**
 * A fault-injecting proxy in front of a real registry, for the fault suite (test/faults) and anyone who
 * needs a registry that misbehaves at an exact point. Two layers, so each fault is injected where it
 * is real:
 *
 *   client ──TCP──▶ connection layer ──TCP──▶ request layer (HTTP) ──HTTP──▶ registry
 *
 *  - the connection layer (net) cuts a connection with a TCP RST, or stalls it, after exactly N bytes
 *    in one direction: mid-header, mid-body, between requests of a kept-alive connection;
 *  - the request layer (node:http) answers some requests itself with 500, or 429 + Retry-After,
 *    without forwarding them, and forwards the rest with the Host header unchanged (so the registry's
 *    Location URLs point back at the proxy and every later request passes through it too).
 *
 * Faults come from a script (chosen faults for the first connections/requests, in order) and then from
 * a seeded PRNG, so a failing run reproduces from its seed. Every fault that fired is logged.
 */
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { createServer as createNetServer, connect, type AddressInfo, type Socket } from 'node:net';

export type Direction = 'upstream' | 'downstream';

export type ConnectionFault =
  | { kind: 'none' }
  /** RST both sides once `atByte` bytes have passed in `direction` (bytes before it are delivered). */
  | { kind: 'reset'; direction: Direction; atByte: number }
  /** hold the bytes after `atByte` in `direction` for `ms`, then go on. */
  | { kind: 'stall'; direction: Direction; atByte: number; ms: number };

export type RequestFault =
  { kind: 'none' } | { kind: 'status'; status: 500 | 429; retryAfterSeconds?: number };

export interface FaultPlan {
  /** PRNG seed (any 32-bit integer); printed by the suite so a failure can be replayed. */
  seed: number;
  /** Chosen faults for the first connections, in order; then random ones. */
  connectionScript?: ConnectionFault[];
  /** Chosen faults for the first requests, in order; then random ones. */
  requestScript?: RequestFault[];
  /** Probability that a new connection (after the script) gets a reset; default 0. */
  resetProbability?: number;
  /** Probability that a new connection gets a stall; default 0. */
  stallProbability?: number;
  /** A random fault's byte offset is drawn log-uniformly from [0, maxOffset]; default 16 MiB. */
  maxOffset?: number;
  /** Stall length for random stalls (ms); default 200. */
  stallMs?: number;
  /** Probability that a request (after the script) is answered 500; default 0. */
  status500Probability?: number;
  /** Probability that a request is answered 429 with Retry-After; default 0. */
  status429Probability?: number;
  /** Retry-After for random 429s (seconds); default 1. */
  retryAfterSeconds?: number;
}

export interface ConnectionFaultEvent {
  layer: 'connection';
  connection: number;
  fault: ConnectionFault;
  fired: boolean;
}

export type FaultEvent =
  | ConnectionFaultEvent
  | { layer: 'request'; request: number; method: string; path: string; fault: RequestFault };

export interface FaultProxy {
  /** `127.0.0.1:PORT`: what references start with */
  host: string;
  /** faults planned and whether they fired (connection faults fire only if the bytes flowed) */
  events: FaultEvent[];
  /** counts of faults that actually happened */
  fired(): { resets: number; stalls: number; status500: number; status429: number };
  /** Stop injecting (everything passes through from now on). */
  calm(): void;
  stop(): Promise<void>;
}

/** mulberry32: small, fast, good enough to pick faults, and reproducible from one integer. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function startFaultProxy(
  target: { hostname: string; port: number },
  plan: FaultPlan,
): Promise<FaultProxy> {
  const random = seededRandom(plan.seed);
  const events: FaultEvent[] = [];
  let calm = false;
  let connections = 0;
  let requests = 0;

  const requestLayer = createHttpServer((req, res) => {
    const number = requests++;
    const fault = calm ? { kind: 'none' as const } : nextRequestFault(number);
    if (fault.kind === 'status') {
      events.push({
        layer: 'request',
        request: number,
        method: req.method ?? '',
        path: req.url ?? '',
        fault,
      });
      const headers: Record<string, string> = { 'content-type': 'application/json', connection: 'close' };
      if (fault.retryAfterSeconds !== undefined) headers['retry-after'] = String(fault.retryAfterSeconds);
      const code = fault.status === 429 ? 'TOOMANYREQUESTS' : 'UNKNOWN';
      res.writeHead(fault.status, headers);
      res.end(JSON.stringify({ errors: [{ code, message: `injected ${fault.status}` }] }));
      // The request body (if any) is not read: the connection closes after the answer.
      return;
    }
    const upstream = httpRequest(
      {
        hostname: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
        answer.pipe(res);
        answer.on('error', () => res.destroy());
      },
    );
    upstream.on('error', () => res.destroy());
    req.on('error', () => upstream.destroy());
    // A client cut mid-body (by the connection layer) must not leave a half request at the registry.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  });
  requestLayer.keepAliveTimeout = 30_000;
  await listen(requestLayer);
  const innerPort = (requestLayer.address() as AddressInfo).port;

  function nextRequestFault(number: number): RequestFault {
    const scripted = plan.requestScript?.[number];
    if (scripted !== undefined) return scripted;
    const roll = random();
    const p500 = plan.status500Probability ?? 0;
    const p429 = plan.status429Probability ?? 0;
    if (roll < p500) return { kind: 'status', status: 500 };
    if (roll < p500 + p429)
      return { kind: 'status', status: 429, retryAfterSeconds: plan.retryAfterSeconds ?? 1 };
    return { kind: 'none' };
  }

  function nextConnectionFault(number: number): ConnectionFault {
    const scripted = plan.connectionScript?.[number];
    if (scripted !== undefined) return scripted;
    const roll = random();
    const direction: Direction = random() < 0.5 ? 'upstream' : 'downstream';
    // Log-uniform: as many cuts in the first KB (headers) as in the last MB (bodies).
    const atByte = Math.floor(Math.exp(random() * Math.log((plan.maxOffset ?? 16 * 1024 * 1024) + 1)) - 1);
    const pReset = plan.resetProbability ?? 0;
    const pStall = plan.stallProbability ?? 0;
    if (roll < pReset) return { kind: 'reset', direction, atByte };
    if (roll < pReset + pStall) return { kind: 'stall', direction, atByte, ms: plan.stallMs ?? 200 };
    return { kind: 'none' };
  }

  const open = new Set<Socket>();
  const connectionLayer = createNetServer((client) => {
    const number = connections++;
    const fault = calm ? { kind: 'none' as const } : nextConnectionFault(number);
    const event: ConnectionFaultEvent = { layer: 'connection', connection: number, fault, fired: false };
    events.push(event);
    const server = connect(innerPort, '127.0.0.1');
    open.add(client);
    open.add(server);
    const cut = () => {
      event.fired = true;
      client.resetAndDestroy();
      server.destroy();
    };
    pump(
      client,
      server,
      fault.kind !== 'none' && fault.direction === 'upstream' ? fault : undefined,
      event,
      cut,
    );
    pump(
      server,
      client,
      fault.kind !== 'none' && fault.direction === 'downstream' ? fault : undefined,
      event,
      cut,
    );
    client.on('error', () => server.destroy());
    server.on('error', () => client.destroy());
    client.on('close', () => {
      open.delete(client);
      server.destroy();
    });
    server.on('close', () => {
      open.delete(server);
      client.end();
    });
  });
  await listen(connectionLayer);
  const port = (connectionLayer.address() as AddressInfo).port;

  return {
    host: `127.0.0.1:${port}`,
    events,
    fired: () => ({
      resets: events.filter((e) => e.layer === 'connection' && e.fired && e.fault.kind === 'reset').length,
      stalls: events.filter((e) => e.layer === 'connection' && e.fired && e.fault.kind === 'stall').length,
      status500: events.filter(
        (e) => e.layer === 'request' && e.fault.kind === 'status' && e.fault.status === 500,
      ).length,
      status429: events.filter(
        (e) => e.layer === 'request' && e.fault.kind === 'status' && e.fault.status === 429,
      ).length,
    }),
    calm: () => {
      calm = true;
    },
    stop: async () => {
      for (const socket of open) socket.destroy();
      requestLayer.closeAllConnections();
      await Promise.all([close(connectionLayer), close(requestLayer)]);
    },
  };
}

/**
 * Copies `from` → `to`, honouring backpressure, and applies a reset or stall when exactly `fault.atByte`
 * bytes have been forwarded (splitting the chunk that crosses the offset).
 */
function pump(
  from: Socket,
  to: Socket,
  fault: Exclude<ConnectionFault, { kind: 'none' }> | undefined,
  event: ConnectionFaultEvent,
  cut: () => void,
): void {
  let passed = 0;
  let armed = fault !== undefined;
  let holding = false;
  const held: Buffer[] = [];
  const forward = (chunk: Buffer) => {
    if (!to.write(chunk)) {
      from.pause();
      to.once('drain', () => {
        if (!holding) from.resume();
      });
    }
  };
  from.on('data', (chunk: Buffer) => {
    if (holding) {
      held.push(chunk);
      return;
    }
    if (!armed || fault === undefined || passed + chunk.length <= fault.atByte) {
      passed += chunk.length;
      forward(chunk);
      return;
    }
    const before = chunk.subarray(0, fault.atByte - passed);
    const after = chunk.subarray(fault.atByte - passed);
    passed += chunk.length;
    armed = false;
    if (fault.kind === 'reset') {
      // Let the bytes before the cut reach the peer (the write callback: flushed to the kernel), then RST.
      from.pause();
      if (before.length > 0) to.write(before, () => cut());
      else cut();
      return;
    }
    if (before.length > 0) forward(before);
    event.fired = true;
    holding = true;
    held.push(after);
    from.pause();
    setTimeout(() => {
      holding = false;
      for (const part of held.splice(0)) forward(part);
      if (!to.destroyed) from.resume();
    }, fault.ms);
  });
  from.on('end', () => {
    const finish = () => to.end();
    if (holding) setTimeout(finish, fault?.kind === 'stall' ? fault.ms : 0);
    else finish();
  });
}

function listen(server: { listen: (port: number, host: string, cb: () => void) => unknown }): Promise<void> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
}

function close(server: { close: (cb: () => void) => unknown }): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
