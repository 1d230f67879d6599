import type { Socket } from 'node:net';

/**
 * Writes `chunk` to `socket` every `everyMs` until it closes: a peer that never finishes
 * what it sends (a receiver's answer, a client's request). Returns whether it is still open.
 */
export function dribble(socket: Socket, chunk: string, everyMs = 20): () => boolean {
  const timer = setInterval(() => { if (!socket.destroyed) socket.write(chunk); }, everyMs);
  socket.on('close', () => clearInterval(timer));
  socket.on('error', () => clearInterval(timer));
  return () => !socket.destroyed;
}
