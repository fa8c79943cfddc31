// SMTP replies: a code, an enhanced status code (RFC 3463, advertised as ENHANCEDSTATUSCODES per
// RFC 2034) and text lines; and SmtpError, the one error type that carries the reply it becomes.
//
// Invariants:
// - Text never contains CR or LF: whatever a client sent that ends up in a reply cannot forge
//   extra reply lines (formatReply replaces them).
// - Every reply carries an enhanced status code except the few the RFCs exempt: the 220
//   greeting, the EHLO/HELO 250 lines (RFC 2034 §3 leaves them out, as Postfix and Exim do), 354
//   and 334 (intermediate replies, RFC 4954 §4: a 334 carries only base64).
// - Pure: no I/O.

export interface Reply {
  code: number;
  /** "2.0.0"; null only for the exempt replies listed above. */
  status: string | null;
  lines: string[];
}

export function reply(code: number, status: string | null, ...lines: string[]): Reply {
  return { code, status, lines: lines.length > 0 ? lines : [""] };
}

/** Wire form: "250-2.0.0 a\r\n250 2.0.0 b\r\n" (RFC 5321 §4.2.1 multi-line replies). */
export function formatReply(r: Reply): string {
  const out: string[] = [];
  r.lines.forEach((raw, i) => {
    const text = raw.replace(/[\r\n\0]+/g, " ");
    const sep = i === r.lines.length - 1 ? " " : "-";
    const body = r.status ? (text ? `${r.status} ${text}` : r.status) : text;
    out.push(`${r.code}${sep}${body}\r\n`);
  });
  return out.join("");
}

export interface SmtpErrorOptions {
  /** Close the connection after sending the reply. */
  close?: boolean;
  /** Does this reply count toward smtp.max_bad_commands? Default: true for 5xx, false otherwise. */
  bad?: boolean;
}

/** A refusal that becomes exactly `reply` on the wire. Thrown anywhere in a command, caught only at
 * the command boundary (session.ts). */
export class SmtpError extends Error {
  readonly close: boolean;
  readonly bad: boolean;
  constructor(
    readonly reply: Reply,
    opts: SmtpErrorOptions = {},
  ) {
    super(`${reply.code} ${reply.status ?? ""} ${reply.lines.join(" / ")}`.trim());
    this.name = "SmtpError";
    this.close = opts.close ?? false;
    this.bad = opts.bad ?? reply.code >= 500;
  }
}

export function fail(code: number, status: string, text: string, opts?: SmtpErrorOptions): SmtpError {
  return new SmtpError(reply(code, status, text), opts);
}

/** Replies used from several places, so the wording stays the same. */
export const Replies = {
  ok: () => reply(250, "2.0.0", "Ok"),
  syntax: (text = "Syntax error") => reply(501, "5.5.4", text),
  unknownCommand: () => reply(500, "5.5.1", "Command not recognized"),
  badSequence: (text: string) => reply(503, "5.5.1", text),
  lineTooLong: () => reply(500, "5.5.2", "Line too long"),
  timeout: (host: string) => reply(421, "4.4.2", `${host} Timeout, closing connection`),
  shuttingDown: (host: string) => reply(421, "4.3.2", `${host} Service shutting down, closing connection`),
  tooManyErrors: (host: string) => reply(421, "4.7.0", `${host} Too many errors, closing connection`),
  internal: () => reply(451, "4.3.0", "Internal error, try again later"),
} as const;
