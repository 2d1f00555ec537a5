import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { generate } from 'selfsigned';

/**
 * A TLS front for a plain-HTTP partner simulator, for `npm run chaos`: the bridge reaches the
 * partner over https, and a share of new connections is offered a certificate the bridge must
 * refuse — an untrusted self-signed one, or one for another host signed by the trusted CA — as
 * when a partner's certificate is renewed wrongly or a proxy intercepts. The decision is made
 * per connection, so kept-alive connections stay good and the bridge's retry on a new
 * connection usually gets through.
 *
 * `caFile` holds the trusted CA's certificate, for the bridge's NODE_EXTRA_CA_CERTS. Each proxy's
 * CA has a name of its own: OpenSSL finds an issuer by name, so two CAs of one name in one trust
 * store fail each other's certificates.
 */
export interface FlakyTlsProxy {
  /** https://127.0.0.1:port, with the target's path (a FHIR base keeps its /fhir/R4). */
  url: string;
  caFile: string;
  setBadCertRate(rate: number): void;
  stats(): { connections: number; badCerts: number };
  stop(): Promise<void>;
}

export async function startFlakyTlsProxy(opts: {
  target: string;
  dir: string;
  badCertRate: number;
  random: () => number;
}): Promise<FlakyTlsProxy> {
  const target = new URL(opts.target);
  const name = `iasu-chaos-partner-${randomBytes(4).toString('hex')}`;
  const ca = await generate([{ name: 'commonName', value: name }], {
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 7, ip: '127.0.0.1' },
          { type: 2, value: 'localhost' },
        ],
      },
    ],
  });
  const wrongHost = await generate([{ name: 'commonName', value: 'someone-else.example' }], {
    algorithm: 'sha256',
    ca: { key: ca.private, cert: ca.cert },
  });
  const untrusted = await generate([{ name: 'commonName', value: '127.0.0.1' }], { algorithm: 'sha256' });
  const caFile = join(opts.dir, `${name}.crt`);
  writeFileSync(caFile, `${ca.cert.trim()}\n`);

  const sockets = new Set<Socket>();
  const toTarget = (clear: TLSSocket): void => {
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    clear.pipe(upstream).pipe(clear);
    const end = () => {
      clear.destroy();
      upstream.destroy();
    };
    clear.on('error', end);
    upstream.on('error', end);
    clear.on('close', end);
    upstream.on('close', end);
  };
  const good = createTlsServer({ key: ca.private, cert: ca.cert }, toTarget);
  const bad = [
    createTlsServer({ key: untrusted.private, cert: untrusted.cert }, toTarget),
    createTlsServer({ key: wrongHost.private, cert: wrongHost.cert }, toTarget),
  ];
  for (const server of [good, ...bad]) server.on('tlsClientError', (_err, socket) => socket.destroy());

  let badCertRate = opts.badCertRate;
  let connections = 0;
  let badCerts = 0;
  const front: Server = createServer((socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    if (badCertRate > 0 && opts.random() < badCertRate) {
      bad[badCerts++ % bad.length]!.emit('connection', socket);
    } else {
      good.emit('connection', socket);
    }
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  const port = (front.address() as { port: number }).port;

  return {
    url: `https://127.0.0.1:${port}${target.pathname.replace(/\/$/, '')}`,
    caFile,
    setBadCertRate: (rate) => {
      badCertRate = rate;
    },
    stats: () => ({ connections, badCerts }),
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => front.close(() => resolve()));
    },
  };
}
