// The one error type of the POP3 session: it carries the exact response line it becomes.
//
// Commands throw Pop3Error anywhere; the session loop catches it at the command boundary, writes
// `response` and, when `close` is set, ends the session (without entering UPDATE: nothing is
// deleted). Any other thrown value is a server fault: logged, answered with [SYS/TEMP], closed.

export class Pop3Error extends Error {
  /** `response` is the full reply line without CRLF, starting with "-ERR". */
  constructor(
    readonly response: string,
    readonly close = false,
  ) {
    super(response);
    this.name = "Pop3Error";
  }
}

/** Responses used in more than one place, so that tests and code agree on the exact text. */
export const R = {
  greeting: "+OK Portcullis POP3 ready",
  tooLong: "-ERR line too long",
  timeout: "-ERR [SYS/TEMP] timeout",
  shutdown: "-ERR [SYS/TEMP] server shutting down",
  internal: "-ERR [SYS/TEMP] internal server error",
  tooManyBad: "-ERR too many bad commands",
  // RFC 2595 §4 / threat model §1: no password before TLS; RFC 3206 §4 AUTH response code.
  needTls: "-ERR [AUTH] plaintext authentication disallowed: use STLS or port 995",
  authFailed: "-ERR [AUTH] authentication failed",
  throttled: "-ERR [SYS/TEMP] too many failed logins, try again later",
  // RFC 2449 §8.1.2 IN-USE: the maildrop is locked by another session.
  inUse: "-ERR [IN-USE] maildrop already locked by another session",
  tooManySessions: "-ERR [SYS/TEMP] too many sessions for this account",
  noSuchMessage: "-ERR no such message",
  http: "-ERR this is a POP3 server, not an HTTP server",
} as const;
