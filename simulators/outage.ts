import type { Server } from '@hapi/hapi';
import type { Socket } from 'node:net';

/**
 * A partner outage for a simulator: goDown() stops accepting connections (new ones are refused
 * with ECONNREFUSED) and cuts the open ones, keep-alive included; comeBack() listens again on
 * the same port with the same state. hapi itself could stop() and start() again, but it would
 * re-listen on its configured port (0: a new one), so the node listener is closed and reopened
 * directly while hapi stays 'started'. Steps run one at a time, in call order.
 */
export interface OutageSwitch {
  goDown(): Promise<void>;
  comeBack(): Promise<void>;
  /** Runs the simulator's own stop after any pending switch; goDown/comeBack are refused after it. */
  stop(stopServer: () => Promise<void>): Promise<void>;
}

/** Call before server.start(): it must see every connection. */
export function outageSwitch(server: Server, name: string): OutageSwitch {
  // hapi keeps its own set of sockets privately and only ends idle ones gracefully on stop().
  const sockets = new Set<Socket>();
  server.listener.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  const state = { down: false, stopped: false, transition: Promise.resolve() };
  const serially = (step: () => Promise<void>): Promise<void> => {
    const run = state.transition.then(step);
    state.transition = run.catch(() => undefined);
    return run;
  };

  return {
    goDown: () =>
      serially(async () => {
        if (state.down || state.stopped) return;
        state.down = true;
        const closed = new Promise<void>((resolve) => server.listener.close(() => resolve()));
        for (const socket of sockets) socket.destroy();
        await closed;
        // Let a client in this process (the tests) read the FIN on its pooled keep-alive sockets and
        // drop them (poll, then close callbacks): its next request then connects anew and is refused
        // (ECONNREFUSED) instead of writing into a dead socket ('other side closed').
        for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
      }),
    comeBack: () =>
      serially(async () => {
        if (state.stopped) throw new Error(`${name} is stopped`);
        if (!state.down) return;
        const port = server.info.port as number;
        await new Promise<void>((resolve, reject) => {
          server.listener.once('error', reject);
          server.listener.listen(port, '127.0.0.1', () => {
            server.listener.removeListener('error', reject);
            resolve();
          });
        });
        state.down = false;
      }),
    // Down, the node listener is already closed; hapi's close() then just calls back.
    stop: (stopServer) =>
      serially(async () => {
        state.stopped = true;
        await stopServer();
      }),
  };
}
