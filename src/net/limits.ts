// Every size and time limit on client input, in one place, so that the reader and the protocol
// parsers cannot drift apart (threat model §4). Values that operators tune come from the config
// ([limits], [imap], [pop3]); these are the protocol constants.

/** POP3: RFC 2449 §4 — a command line is at most 255 octets including CRLF. */
export const POP3_MAX_COMMAND_LINE = 255 - 2;

/** SMTP: RFC 5321 §4.5.3.1.4 — command lines are at most 512 octets including CRLF. */
export const SMTP_MAX_COMMAND_LINE = 512 - 2;
/** SMTP AUTH: RFC 4954 §4 — an AUTH command with an initial response, and each SASL response
 * line, may be up to 12288 octets. */
export const SMTP_MAX_AUTH_LINE = 12288;
/** SMTP: RFC 5321 §4.5.3.1.6 — text lines in DATA are at most 1000 octets including CRLF. We
 * accept more (real mail breaks this) but cap it so a line can never grow without bound. */
export const SMTP_MAX_DATA_LINE = 64 * 1024;

/** IMAP: RFC 9051 does not fix a line length; RFC 7162 §4 asks for at least 8192 octets. */
export const IMAP_MAX_COMMAND_LINE = 64 * 1024;
/** IMAP: literals outside APPEND (search strings, mailbox names, passwords) are small. */
export const IMAP_MAX_SMALL_LITERAL = 64 * 1024;
/** IMAP: RFC 7888 §4 — LITERAL- caps non-synchronizing literals at 4096 octets; we advertise
 * LITERAL+ but keep the same cap for non-synchronizing literals outside APPEND. */
export const IMAP_MAX_NONSYNC_LITERAL = 4096;
/** SASL responses in IMAP/POP3 AUTHENTICATE continuation lines. */
export const SASL_MAX_RESPONSE_LINE = 12288;

/** Output: above this many bytes queued to a client, writers wait (backpressure). */
export const OUTPUT_HIGH_WATER = 256 * 1024;
/** A client that has not read its pending output within this time is disconnected. */
export const OUTPUT_STALL_TIMEOUT_MS = 5 * 60_000;
/** Input: the reader pauses the socket when this much unconsumed input is buffered. */
export const INPUT_HIGH_WATER = 128 * 1024;

/** Literals and BDAT chunks (readBytes/readStream) must complete within the command-line deadline
 * plus their size at this rate: 50 MB may take up to ~3.5 hours, an 80-byte literal ~the deadline. */
export const LITERAL_MIN_BYTES_PER_SECOND = 4096;

/** SMTP: RFC 5321 §4.5.3.2 timeouts. */
export const SMTP_COMMAND_TIMEOUT_MS = 5 * 60_000;
export const SMTP_DATA_BLOCK_TIMEOUT_MS = 3 * 60_000;

/** PROXY protocol: a v1 header is at most 107 octets; v2 at most 16 + 65535 (we cap lower). */
export const PROXY_V1_MAX = 107;
export const PROXY_V2_MAX = 16 + 1024;
/** Time allowed for the PROXY header to arrive. */
export const PROXY_HEADER_TIMEOUT_MS = 5_000;
/** Time allowed for a TLS handshake to complete. */
export const TLS_HANDSHAKE_TIMEOUT_MS = 15_000;
