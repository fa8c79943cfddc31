// The contract between the connection layer ("the gate") and the protocol sessions.
//
// Protocol code (SMTP, IMAP, POP3) never touches a socket: the gate accepts the connection,
// applies PROXY protocol, access rules, bans and connection limits, does the TLS handshake, and
// then hands the session a `Connection`. The session pulls input through the connection's one
// reader (lines and literals, each with a hard size limit and a deadline) and writes replies
// through it (with backpressure). Limits live in src/net/limits.ts.

import type { AuditLogger } from "../log/audit.js";
import type { Protocol } from "../config/schema.js";

export interface ListenerInfo {
  name: string; // the key under [listeners] in the config
  protocol: Protocol;
  smtpRole: "mx" | "submission" | null; // SMTP listeners only
  port: number; // the bound port
  tls: "starttls" | "implicit" | "none";
  allowInsecureAuth: boolean; // only ever true on loopback listeners
}

export interface TlsInfo {
  version: string; // "TLSv1.3"
  cipher: string; // "TLS_AES_256_GCM_SHA384"
  servername: string | null; // SNI
}

/** One input line. `bytes` excludes the line ending. */
export interface Line {
  bytes: Buffer;
  /** true when the line ended in CRLF, false when it ended in a bare LF. */
  crlf: boolean;
}

/** Why the reader gave up. Protocols turn these into their own reply, then close. */
export class InputError extends Error {
  constructor(
    readonly kind: "too-long" | "timeout" | "closed" | "eof",
    message: string,
  ) {
    super(message);
    this.name = "InputError";
  }
}

export type SessionPhase = "preauth" | "authenticated";

export interface Connection {
  readonly id: string; // unique per process, appears in every log line of the session
  readonly listener: ListenerInfo;
  /** The real client address (behind a trusted PROXY header, the address it names). */
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  /** Logger bound to this connection (conn id, client IP, listener). */
  readonly log: AuditLogger;
  /** True once TLS is established (implicit TLS or after STARTTLS). */
  readonly secure: boolean;
  readonly tls: TlsInfo | null;
  /** Password-based authentication is allowed now: TLS is up, or the listener is a loopback one
   * with allow_insecure_auth (threat model §1). */
  readonly passwordAuthAllowed: boolean;
  readonly closed: boolean;
  /** Aborted when the connection closes or the server starts shutting down. */
  readonly signal: AbortSignal;
  /** True once the server is shutting down: finish the current command and say goodbye. */
  readonly shuttingDown: boolean;

  /** Reads one line of at most `maxBytes` octets (excluding CRLF). Resolves null on a clean EOF
   * between lines. Rejects with InputError("too-long") when the limit is passed (the rest of the
   * line is not buffered), InputError("timeout") when the idle timeout or the command-line
   * deadline passes, InputError("eof") on EOF in the middle of a line. */
  readLine(maxBytes: number): Promise<Line | null>;
  /** Reads exactly `n` octets (an IMAP literal); rejects with InputError("eof") on EOF. */
  readBytes(n: number): Promise<Buffer>;
  /** Passes exactly `n` octets to `onChunk` as they arrive, without holding them all in memory. */
  readStream(n: number, onChunk: (chunk: Buffer) => void | Promise<void>): Promise<void>;
  /** Octets received and not yet consumed (e.g. a client pipelining before the greeting). */
  readonly buffered: number;

  /** Queues output. Resolves at once while the output buffer is small; otherwise when the client
   * has read enough (backpressure). A client that stops reading is disconnected after a timeout. */
  write(data: string | Buffer): Promise<void>;
  /** STARTTLS / STLS: upgrades the connection. Anything the client sent after the command and
   * before the handshake is discarded (RFC 3207 §4.2, RFC 2595 §3.1) and its size returned so
   * the caller can log it. Call after writing the "go ahead" reply. */
  startTls(): Promise<{ discarded: number }>;
  /** Selects the timeouts of a phase: preauth uses limits.preauth_timeout, authenticated uses
   * `idleTimeoutMs` (the protocol's RFC value). */
  setPhase(phase: SessionPhase, idleTimeoutMs?: number): void;
  /** tls-exporter channel binding data for SCRAM-*-PLUS (RFC 9266): 32 octets, only on TLS 1.3
   * (RFC 9266 §3), null otherwise. Pass it as AuthContext.channelBinding. Optional so that test
   * fakes need not implement it; the gate's connections always do. */
  readonly channelBinding?: () => Buffer | null;
  /** Claims one of the account's session slots (limits.max_sessions_per_account); false when all
   * are taken. The slot is released when the connection closes. */
  claimAccount(accountId: number): boolean;
  /** Flushes what was written, then closes. */
  close(): Promise<void>;
}

export type RefusalReason = "access" | "banned" | "too-many-connections" | "rate" | "shutdown";

/** What a protocol gives the gate. */
export interface ProtocolHandler {
  readonly protocol: Protocol | "test";
  /** The line (with CRLF) sent before closing a connection the gate refuses before the greeting:
   * SMTP "554 ...", IMAP "* BYE ...", POP3 "-ERR ...". */
  refusal(reason: RefusalReason): string;
  /** Runs one session to its end. Throwing is allowed; the gate logs it and closes the socket. */
  serve(conn: Connection): Promise<void>;
}
