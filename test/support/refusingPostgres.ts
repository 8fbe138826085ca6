import net from 'node:net';

// PostgreSQL frontend/backend protocol v3 ("Message Formats"): an SSLRequest is 8 bytes, its code 80877103.
const SSL_REQUEST_CODE = 80877103;

/** An ErrorResponse ('E'): severity, SQLSTATE and message fields, each a NUL-terminated string. */
function errorResponse(sqlstate: string, message: string): Buffer {
  const fields = Buffer.concat(
    [
      ['S', 'FATAL'],
      ['V', 'FATAL'],
      ['C', sqlstate],
      ['M', message],
    ]
      .map(([type, value]) => Buffer.from(`${type}${value}\0`))
      .concat(Buffer.from('\0')),
  );
  const header = Buffer.alloc(5);
  header.write('E');
  header.writeInt32BE(fields.length + 4, 1);
  return Buffer.concat([header, fields]);
}

/**
 * A loopback server that speaks just enough of the PostgreSQL protocol to refuse every login the
 * way a real server refuses a wrong password (FATAL, SQLSTATE 28P01). For a fault the suite's
 * trust-auth server cannot provoke; it listens on 127.0.0.1 only.
 */
export async function startRefusingPostgres(): Promise<{ port: number; close(): Promise<void> }> {
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.on('data', (packet: Buffer) => {
      if (packet.length === 8 && packet.readInt32BE(4) === SSL_REQUEST_CODE) {
        socket.write('N');
        return;
      }
      const user = /user\0([^\0]*)\0/.exec(packet.toString('latin1'))?.[1] ?? '';
      socket.end(errorResponse('28P01', `password authentication failed for user "${user}"`));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
