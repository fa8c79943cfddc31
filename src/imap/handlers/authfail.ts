// Turns an authentication failure into its IMAP response (RFC 5530 codes; RFC 9051 §6.2.2/§6.2.3).
import type { AuthFailureReason } from "../../auth/types.js";
import { ImapError } from "../session/errors.js";

export function authFailure(reason: AuthFailureReason): ImapError {
  switch (reason) {
    case "invalid-credentials":
      return new ImapError("NO", "AUTHENTICATIONFAILED", "Authentication failed");
    case "banned":
      // The client IP is now banned: answer, say goodbye, close.
      return new ImapError("NO", "AUTHENTICATIONFAILED", "Authentication failed", "Too many failed logins");
    case "throttled":
      return new ImapError("NO", "UNAVAILABLE", "Too many failed logins; try again later");
    case "encryption-required":
      return new ImapError("NO", "PRIVACYREQUIRED", "Password authentication requires TLS (use STARTTLS)");
    case "aborted":
      return new ImapError("BAD", null, "Authentication cancelled"); // RFC 9051 §6.2.2
    case "malformed":
      return new ImapError("BAD", null, "Malformed authentication exchange");
    case "unsupported":
      return new ImapError("NO", "CANNOT", "Unsupported authentication mechanism");
  }
}
