/** Injection tokens of the three SocketDClients the client app registers. */
export const SOCKETD = 'SOCKETD';
/** Connects with a token the server does not know: its handshake passes, its messages are forbidden. */
export const SOCKETD_BAD_TOKEN = 'SOCKETD_BAD_TOKEN';
/** Connects without a token: the server's handshake hook refuses it. */
export const SOCKETD_NO_TOKEN = 'SOCKETD_NO_TOKEN';
