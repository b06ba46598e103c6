import { connect, type ConnectionOptions } from 'node:tls';

/**
 * One HTTP/1.1 request written byte for byte over a fresh TLS connection, for what node:http's
 * client will not send (two Authorization headers). Answers the status and the JSON body.
 */
export function rawTlsRequest(
  port: number,
  tls: Pick<ConnectionOptions, 'ca' | 'cert' | 'key'>,
  head: string,
  body = '',
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ...tls }, () => {
      // write, not end: a half-closed socket may be dropped before an answer that waits for an fsync
      socket.write(`${head.replace(/\r?\n/g, '\r\n').replace(/(\r\n)*$/, '')}\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      const rest = text.slice(text.indexOf('\r\n\r\n') + 4);
      let parsed: unknown = rest;
      try {
        parsed = JSON.parse(rest);
      } catch {
        /* not JSON */
      }
      resolve({ status, body: parsed });
    });
  });
}
