import net from 'node:net';
import { formatListen, type ListenAddress } from '../../config/address.js';

/**
 * Whether nginx could bind a listen address it does not hold yet: the one reload failure that is
 * common (a port another program uses) and that `nginx -t` does not see. Null when it can.
 */
export function listenProblem(address: ListenAddress): Promise<string | null> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(`listen ${formatListen(address)}: ${err.code ?? err.message}`));
    server.listen(address.port, address.host, () => server.close(() => resolve(null)));
  });
}
