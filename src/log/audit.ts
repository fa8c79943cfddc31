// Structured JSON logs and audit events.
//
// Every security-relevant thing that happens is logged as one JSON line with a stable `event`
// name from AUDIT_EVENTS, so operators can alert on it and ship it elsewhere. Secrets never reach a
// log line: callers never pass them, and pino's redaction blanks the usual field names as a
// second line of defence.

import { pino, type Logger, type LoggerOptions, type DestinationStream } from "pino";

export type AuditLogger = Logger;

/** The stable audit event names. Add new ones here; never rename one that has shipped. */
export const AUDIT_EVENTS = [
  "server.start",
  "server.stop",
  "server.config.insecure",
  "listener.open",
  "listener.error",
  "tls.reload",
  "tls.reload.failed",
  "conn.open",
  "conn.close",
  "conn.refused", // access rule, ban or connection limit before the greeting
  "conn.proxy", // PROXY header accepted (real client address)
  "conn.proxy.refused",
  "tls.established",
  "tls.failed",
  "tls.starttls.discarded", // pipelined input after STARTTLS thrown away
  "input.too_long",
  "input.timeout",
  "input.invalid",
  "limit.hit",
  "auth.success",
  "auth.failure",
  "auth.throttled",
  "ban.added",
  "ban.lifted",
  "smtp.received",
  "smtp.rcpt.refused",
  "smtp.relay.refused",
  "smtp.sender.refused",
  "smtp.sendlimit",
  "smtp.protocol.abuse",
  "imap.append",
  "pop3.update",
  "queue.enqueued",
  "queue.attempt",
  "queue.delivered",
  "queue.deferred",
  "queue.failed",
  "queue.dsn",
  "store.check",
  "session.error",
  "log.heartbeat", // periodic, so a remote collector can alert on silence (src/log/syslog.ts)
] as const;
export type AuditEvent = (typeof AUDIT_EVENTS)[number];

const REDACT = ["password", "pass", "secret", "*.password", "*.pass", "*.secret", "credentials", "*.credentials"];

export interface LoggerSettings {
  level?: LoggerOptions["level"];
  destination?: DestinationStream | NodeJS.WritableStream;
}

export function createLogger(settings: LoggerSettings = {}): AuditLogger {
  const options: LoggerOptions = {
    level: settings.level ?? "info",
    base: { service: "portcullis" },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT, censor: "[redacted]" },
    formatters: { level: (label) => ({ level: label }) },
  };
  return settings.destination ? pino(options, settings.destination as DestinationStream) : pino(options);
}

/** Logs one audit event. `level` is "info" unless said otherwise; refusals and failures use "warn". */
export function audit(
  log: AuditLogger,
  event: AuditEvent,
  fields: Record<string, unknown> = {},
  level: "info" | "warn" | "error" = "info",
): void {
  log[level]({ event, ...fields });
}
