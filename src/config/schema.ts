// The configuration schema: the one definition of every key Portcullis reads.
//
// The TOML files (portcullis.toml plus portcullis.d/*.toml) are merged and then validated against
// this schema once, at start-up; the result is deep-frozen and passed to every module. Keys keep
// their TOML spelling (snake_case) so that the documentation, the files and the code use one name.
// Unknown keys are errors (every object is strict). Defaults are the secure choice; a setting that
// weakens security is explicit and is logged at start-up (see `insecureSettings`).
//
// docs/configuration.md documents every key here; keep them in step.

import { z } from "zod";

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration: a number of seconds, or a string such as "90s", "5m", "1h", "5d". Parsed to milliseconds. */
export const duration = z.union([z.number().nonnegative(), z.string()]).transform((v, ctx) => {
  if (typeof v === "number") return Math.round(v * 1000);
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(v);
  if (!m) {
    ctx.addIssue({ code: "custom", message: `not a duration: ${JSON.stringify(v)} (use e.g. "30s", "5m", "1h", "5d")` });
    return z.NEVER;
  }
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2]!]!);
});

const SIZE_UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3 };

/** A size in bytes: a number, or a string such as "512KB", "50MB", "2GB". */
export const size = z.union([z.number().int().nonnegative(), z.string()]).transform((v, ctx) => {
  if (typeof v === "number") return v;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(v);
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    ctx.addIssue({ code: "custom", message: `not a size: ${JSON.stringify(v)} (use e.g. 52428800, "512KB", "50MB")` });
    return z.NEVER;
  }
  return Math.round(Number(m[1]) * unit);
});

const IPV4_CIDR = /^(\d{1,3})(\.\d{1,3}){3}(\/\d{1,2})?$/;
const IPV6_CIDR = /^[0-9a-f:.]+(\/\d{1,3})?$/i;
/** An IP address or CIDR network: "192.0.2.1", "192.0.2.0/24", "2001:db8::/32". */
export const network = z
  .string()
  .refine((s) => IPV4_CIDR.test(s) || (s.includes(":") && IPV6_CIDR.test(s)), { message: "not an IP address or CIDR network" });

export const PROTOCOLS = ["smtp", "imap", "pop3"] as const;
export type Protocol = (typeof PROTOCOLS)[number];

const listener = z
  .object({
    /** Which protocol this listener speaks. SMTP listeners also say whether they are MX or submission. */
    protocol: z.enum(["smtp", "imap", "pop3", "http"]),
    /** For SMTP: "mx" accepts mail for our domains without AUTH; "submission" requires AUTH. */
    smtp_role: z.enum(["mx", "submission"]).optional(),
    port: z.number().int().min(0).max(65535),
    /** Addresses to bind. Default: all IPv4 and IPv6 addresses; the http listener defaults to loopback. */
    addresses: z.array(z.string()).optional(),
    /** "starttls": plain with STARTTLS/STLS offered; "implicit": TLS from the first byte (RFC 8314); "none": no TLS (http only). */
    tls: z.enum(["starttls", "implicit", "none"]),
    /** Accept a PROXY protocol v1/v2 header from `proxy.trusted` networks. */
    proxy_protocol: z.boolean().default(false),
    /** INSECURE: allow password authentication without TLS. Accepted only on a listener bound to loopback addresses. */
    allow_insecure_auth: z.boolean().default(false),
    enabled: z.boolean().default(true),
  })
  .strict();
export type ListenerConfig = z.infer<typeof listener>;

const accessRules = z
  .object({
    allow: z.array(network).default([]),
    deny: z.array(network).default([]),
  })
  .strict();

export const configSchema = z
  .object({
    server: z
      .object({
        /** The server's host name: the SMTP greeting, Received: headers, the TLS certificate. */
        hostname: z.string().min(1),
        /** Directory for the store, message files, TLS and DKIM keys. Relative paths are relative to the config file. */
        data_dir: z.string().default("."),
        /** How long SIGTERM waits for sessions in flight before aborting them. */
        shutdown_timeout: duration.default(10_000),
      })
      .strict(),
    tls: z
      .object({
        cert: z.string().default("tls/cert.pem"),
        key: z.string().default("tls/key.pem"),
        /** Further certificates chosen by SNI: { name = "mail.example.org", cert = "...", key = "..." }. */
        sni: z.array(z.object({ name: z.string(), cert: z.string(), key: z.string() }).strict()).default([]),
        /** Oldest TLS version accepted. TLSv1.2 is the minimum Portcullis allows. */
        min_version: z.enum(["TLSv1.2", "TLSv1.3"]).default("TLSv1.2"),
        /** Reload the certificate files when they change (they are also reloaded on SIGHUP). */
        watch: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    listeners: z.record(z.string(), listener).default({}),
    access: z
      .object({
        allow: z.array(network).default([]),
        deny: z.array(network).default([]),
        /** Per-listener rules, keyed by listener name; checked before the global rules. */
        listener: z.record(z.string(), accessRules).default({}),
      })
      .strict()
      .prefault({}),
    proxy: z
      .object({
        /** Networks allowed to send a PROXY protocol header. Empty: nobody. */
        trusted: z.array(network).default([]),
      })
      .strict()
      .prefault({}),
    limits: z
      .object({
        max_connections: z.number().int().positive().default(4000),
        max_connections_per_ip: z.number().int().positive().default(20),
        /** New connections from one IP (IPv6: per /64) within a minute. */
        max_new_connections_per_ip_per_minute: z.number().int().positive().default(60),
        max_sessions_per_account: z.number().int().positive().default(50),
        /** Largest message accepted by SMTP or IMAP APPEND (RFC 1870 SIZE). */
        max_message_size: size.default(50 * 1024 * 1024),
        /** Time allowed before authentication (or, for MX, for the whole session's idle wait). */
        preauth_timeout: duration.default(60_000),
        /** Deadline for completing any one command line once its first byte arrived (slow-drip clients). */
        command_line_timeout: duration.default(30_000),
      })
      .strict()
      .prefault({}),
    auth: z
      .object({
        /** Failed logins from one IP within `failure_window` before the IP is banned. */
        max_failures_per_ip: z.number().int().positive().default(10),
        /** Failed logins from one network (IPv4 /24, IPv6 /48) within the window before it is banned. */
        max_failures_per_network: z.number().int().positive().default(50),
        /** Failed logins against one account (from any IP) within the window before its logins are slowed. */
        max_failures_per_account: z.number().int().positive().default(20),
        failure_window: duration.default(15 * 60_000),
        /** First ban period; each repeat offence doubles it up to `max_ban_duration`. */
        ban_duration: duration.default(60 * 60_000),
        max_ban_duration: duration.default(7 * 86_400_000),
        /** Networks never banned (e.g. your office). Empty by default. */
        never_ban: z.array(network).default([]),
        /** Concurrent password verifications (argon2id) in the worker pool. */
        hash_workers: z.number().int().positive().max(64).default(2),
        /** Concurrent verifications per client IP; more wait in line (up to 16), beyond that refused. */
        max_concurrent_per_ip: z.number().int().positive().default(2),
      })
      .strict()
      .prefault({}),
    smtp: z
      .object({
        max_recipients: z.number().int().positive().default(100),
        /** Received: headers after which a message is refused as a loop (554 5.4.6). */
        max_received_headers: z.number().int().positive().default(50),
        /** Submission: messages one account may send per hour. */
        max_messages_per_hour: z.number().int().positive().default(200),
        /** Submission: distinct recipients one account may send to per day. */
        max_recipients_per_day: z.number().int().positive().default(1000),
        /** Name the authenticated user in the Received: header of submitted mail. */
        received_header_auth_user: z.boolean().default(false),
        /** Unknown or failing commands before the connection is closed. */
        max_bad_commands: z.number().int().positive().default(10),
      })
      .strict()
      .prefault({}),
    imap: z
      .object({
        /** Autologout timer after login; RFC 9051 §5.4 requires at least 30 minutes. */
        idle_timeout: duration.default(30 * 60_000),
      })
      .strict()
      .prefault({}),
    pop3: z
      .object({
        /** Inactivity timer after login; RFC 1939 §3 requires at least 10 minutes. */
        idle_timeout: duration.default(10 * 60_000),
      })
      .strict()
      .prefault({}),
    outbound: z
      .object({
        /** Destination domain -> fixed next hop "host:port", bypassing MX lookup. */
        routes: z.record(z.string(), z.string()).default({}),
        /** Send everything through this relay, e.g. "smtps://user:password@host:465". */
        smarthost: z.string().optional(),
        /** DNS servers to use ("127.0.0.1:5353"); default: the system resolver. */
        dns_servers: z.array(z.string()).default([]),
        retry_initial: duration.default(5 * 60_000),
        retry_max: duration.default(4 * 60 * 60_000),
        lifetime: duration.default(5 * 86_400_000),
        delay_notice_after: duration.default(4 * 60 * 60_000),
        workers: z.number().int().positive().default(4),
      })
      .strict()
      .prefault({}),
    dkim: z
      .object({
        /** Selector used for keys created by `init` and `domain add`. */
        selector: z.string().default("portcullis"),
      })
      .strict()
      .prefault({}),
    mailauth: z
      .object({
        /** Check SPF, DKIM, ARC and DMARC on mail arriving on MX listeners (threat model §3). */
        enabled: z.boolean().default(true),
        /** Refuse (550 5.7.1) mail failing DMARC of a domain with p=reject; false files it to Junk. */
        dmarc_reject: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
        /** Ship audit events to a remote syslog collector (RFC 5424 over TCP or TLS); absent: off. */
        remote: z
          .object({
            /** "tls://collector:6514" (RFC 5425) or "tcp://collector:514" (RFC 6587, no encryption). */
            url: z.string().regex(/^(tcp|tls):\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?\/?$/, {
              message: 'expected "tls://host:port" or "tcp://host:port"',
            }),
            /** CA certificate (PEM) that signed the collector's certificate; default: the system CAs. Relative to the data directory. */
            ca: z.string().optional(),
            /** Client certificate and key (PEM) for collectors that authenticate senders (RFC 5425 §4.2). Relative to the data directory. */
            cert: z.string().optional(),
            key: z.string().optional(),
            /** Audit events kept in memory while the collector is unreachable; the oldest are dropped beyond this. */
            queue_size: z.number().int().positive().max(1_000_000).default(10_000),
            /** Interval of the `log.heartbeat` event, so the collector can alert on silence. */
            heartbeat: duration.default(60_000),
          })
          .strict()
          .optional(),
      })
      .strict()
      .prefault({}),
    admin: z
      .object({
        /** INSECURE: allow an http listener on non-loopback addresses (exposes health and metrics). */
        allow_public: z.boolean().default(false),
        /** Deadline for receiving a whole HTTP request (headers and body). */
        request_timeout: duration.default(10_000),
        /** MTA-STS policy mode served at /.well-known/mta-sts.txt (RFC 8461 §5). */
        mta_sts_mode: z.enum(["testing", "enforce", "none"]).default("testing"),
        /** MX host names (patterns such as "*.example.org") in the MTA-STS policy; default: server.hostname. */
        mta_sts_mx: z.array(z.string().min(1)).default([]),
        /** MTA-STS max_age; RFC 8461 §3.2 caps it at 31557600 seconds. */
        mta_sts_max_age: duration.default(604_800_000).refine((ms) => ms <= 31_557_600_000, { message: "at most 31557600 seconds (RFC 8461 §3.2)" }),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;

/** The settings in `config` that weaken security, each as a sentence for the start-up log. */
export function insecureSettings(config: Config): string[] {
  const out: string[] = [];
  for (const [name, l] of Object.entries(config.listeners)) {
    if (l.enabled && l.allow_insecure_auth) out.push(`listener ${name}: password authentication allowed without TLS (loopback only)`);
    if (l.enabled && l.tls === "none" && l.protocol !== "http") out.push(`listener ${name}: TLS disabled`);
  }
  if (config.admin.allow_public) out.push("admin.allow_public: the admin listener may be bound to non-loopback addresses");
  if (config.log.remote?.url.startsWith("tcp:")) out.push("log.remote.url: audit events are shipped without TLS");
  if (!config.mailauth.enabled) out.push("mailauth.enabled = false: inbound mail is not checked for SPF/DKIM/DMARC (spoofed mail reaches INBOX)");
  if (config.mailauth.enabled && !config.mailauth.dmarc_reject) out.push("mailauth.dmarc_reject = false: mail failing DMARC p=reject is filed to Junk instead of refused");
  if (config.auth.never_ban.length > 0) out.push(`auth.never_ban: ${config.auth.never_ban.join(", ")} are never banned`);
  return out;
}
