// Starting an HTTP server on a user's --host and port: the reasons it cannot listen become one
// line each (a port in use, an address this machine does not have, a port it may not open),
// naming the flag to change.

import type { Server } from 'node:http';
import { UserError } from '../errors.js';

export function listen(server: Server, port: number, host: string, portFlag: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(new UserError('PORT_IN_USE', `port ${port} on ${host} is in use; choose another with ${portFlag}`));
      else if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') reject(new UserError('CANNOT_LISTEN', `cannot listen on ${host}: not an address of this machine (--host)`));
      else if (err.code === 'EACCES') reject(new UserError('CANNOT_LISTEN', `no permission to listen on port ${port} (${portFlag}; ports below 1024 need privileges)`));
      else reject(err);
    });
    server.listen(port, host, () => resolve());
  });
}
