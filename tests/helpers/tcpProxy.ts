import net from 'node:net';

export interface TcpProxy {
  /** The local port that forwards to the target. */
  port: number;
  /** Connections accepted so far: a client that reconnects makes it grow. */
  connections(): number;
  /** Cuts every open connection and keeps listening, as a network blip does. */
  drop(): void;
  /** Stops listening and cuts every connection: the target is unreachable through it from then on. */
  close(): Promise<void>;
}

/**
 * A TCP proxy in front of a shared server (the Ray head, the Kubernetes API server): a test can
 * cut the connections its client makes, or make the server unreachable for that client alone,
 * without disturbing the server that other tests use.
 */
export async function startTcpProxy(target: URL): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((client) => {
    connections += 1;
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const drop = () => sockets.forEach((s) => s.destroy());
  return {
    port,
    connections: () => connections,
    drop,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      drop();
      await closed;
    },
  };
}
