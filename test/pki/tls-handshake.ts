import { type AddressInfo, isIP } from 'node:net';
import { checkServerIdentity, connect, createServer, type TLSSocket } from 'node:tls';

/** Key, certificate and trusted CA for one end of a TLS connection. */
export interface TlsEnd {
  readonly key?: string;
  readonly cert?: string;
  readonly ca: string;
}

export interface HandshakeResult {
  /** Whether the server's OpenSSL accepted the client certificate, and why not. */
  readonly serverAccepted: boolean;
  readonly serverError: string | null;
  /** URI SANs of the client certificate as the server saw them. */
  readonly clientUris: readonly string[];
  /** Whether the client accepted the server certificate for `serverName`, and why not. */
  readonly clientAccepted: boolean;
  readonly clientError: string | null;
}

function uris(socket: TLSSocket): string[] {
  const san = socket.getPeerCertificate().subjectaltname ?? '';
  return san
    .split(', ')
    .filter((entry) => entry.startsWith('URI:'))
    .map((entry) => entry.slice('URI:'.length));
}

/**
 * A real mTLS handshake over loopback. Both ends run with rejectUnauthorized: false and report
 * OpenSSL's verdict instead, so a test can assert *why* a certificate was refused.
 */
export async function handshake(
  server: Required<TlsEnd>,
  client: TlsEnd,
  serverName = 'localhost',
): Promise<HandshakeResult> {
  const tlsServer = createServer({ ...server, requestCert: true, rejectUnauthorized: false });
  const serverSide = new Promise<Pick<HandshakeResult, 'serverAccepted' | 'serverError' | 'clientUris'>>(
    (resolve, reject) => {
      tlsServer.once('secureConnection', (socket) => {
        resolve({
          serverAccepted: socket.authorized,
          serverError: socket.authorized ? null : String(socket.authorizationError),
          clientUris: uris(socket),
        });
        socket.end();
      });
      tlsServer.once('tlsClientError', reject);
    },
  );
  await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
  const { port } = tlsServer.address() as AddressInfo;
  try {
    const clientSide = new Promise<Pick<HandshakeResult, 'clientAccepted' | 'clientError'>>((resolve, reject) => {
      const socket = connect(
        {
          ...client,
          host: '127.0.0.1',
          port,
          // SNI must not carry an IP address (RFC 6066); the name is checked by hand below instead.
          ...(isIP(serverName) === 0 ? { servername: serverName } : {}),
          rejectUnauthorized: false,
          checkServerIdentity: () => undefined,
        },
        () => {
          if (!socket.authorized) {
            resolve({ clientAccepted: false, clientError: String(socket.authorizationError) });
            return;
          }
          const nameError = checkServerIdentity(serverName, socket.getPeerCertificate());
          resolve({
            clientAccepted: nameError === undefined,
            clientError: nameError === undefined ? null : String((nameError as NodeJS.ErrnoException).code),
          });
        },
      );
      socket.on('error', reject);
      socket.on('data', () => undefined);
      socket.on('end', () => socket.end());
    });
    const [s, c] = await Promise.all([serverSide, clientSide]);
    return { ...s, ...c };
  } finally {
    await new Promise<void>((resolve) => tlsServer.close(() => resolve()));
  }
}
