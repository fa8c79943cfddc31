// The portcullis.toml that `portcullis init` writes, and the listeners it sets up. Pure: no I/O.
// Kept apart from init.ts so that it can be used (and tested) without the store.

/** The listeners `init` writes: name, protocol, standard port, TLS mode. */
export const DEFAULT_LISTENERS = [
  { name: "smtp", protocol: "smtp", smtp_role: "mx", port: 25, tls: "starttls", comment: "MX: mail from the internet for our domains (RFC 5321), STARTTLS offered" },
  { name: "submission", protocol: "smtp", smtp_role: "submission", port: 587, tls: "starttls", comment: "mail submission with AUTH after STARTTLS (RFC 6409)" },
  { name: "submissions", protocol: "smtp", smtp_role: "submission", port: 465, tls: "implicit", comment: "mail submission over implicit TLS (RFC 8314)" },
  { name: "imap", protocol: "imap", port: 143, tls: "starttls", comment: "IMAP with STARTTLS (RFC 9051)" },
  { name: "imaps", protocol: "imap", port: 993, tls: "implicit", comment: "IMAP over implicit TLS (RFC 8314)" },
  { name: "pop3", protocol: "pop3", port: 110, tls: "starttls", comment: "POP3 with STLS (RFC 2595)" },
  { name: "pop3s", protocol: "pop3", port: 995, tls: "implicit", comment: "POP3 over implicit TLS (RFC 8314)" },
  { name: "admin", protocol: "http", port: 80, tls: "none", comment: "health and metrics; loopback only" },
] as const;

export type ListenerName = (typeof DEFAULT_LISTENERS)[number]["name"];

export const DEFAULT_SELECTOR = "portcullis";

export interface RenderOptions {
  hostname: string;
  /** Added to every standard port (--port-base); ignored with zeroPorts. */
  portBase?: number;
  /** Every listener on port 0 (the test harness). */
  zeroPorts?: boolean;
  /** Bind every listener to these addresses (default: all addresses; admin: 127.0.0.1). */
  addresses?: string[];
  selector?: string;
}

const q = (s: string): string => JSON.stringify(s);

/** The portcullis.toml that `init` writes. */
export function renderConfig(o: RenderOptions): string {
  const base = o.portBase ?? 0;
  const lines = [
    "# Portcullis configuration, written by `portcullis init`.",
    "# Every key is documented in docs/configuration.md. Drop-in files in portcullis.d/*.toml",
    "# beside this file are merged over it in file-name order.",
    "",
    "[server]",
    `hostname = ${q(o.hostname)}`,
    "# The data directory (store, messages, keys), relative to this file.",
    `data_dir = "."`,
    "",
    "[tls]",
    "# Self-signed certificate made by `portcullis init`; replace with your own (reloaded on SIGHUP).",
    `cert = "tls/cert.pem"`,
    `key = "tls/key.pem"`,
    "",
    "[dkim]",
    `selector = ${q(o.selector ?? DEFAULT_SELECTOR)}`,
  ];
  for (const l of DEFAULT_LISTENERS) {
    const port = o.zeroPorts ? 0 : l.port + base;
    const addresses = o.addresses ?? (l.protocol === "http" ? ["127.0.0.1"] : undefined);
    lines.push("", `# ${l.comment}`, `[listeners.${l.name}]`, `protocol = ${q(l.protocol)}`);
    if ("smtp_role" in l) lines.push(`smtp_role = ${q(l.smtp_role)}`);
    lines.push(`port = ${port}`, `tls = ${q(l.tls)}`);
    if (addresses) lines.push(`addresses = [${addresses.map(q).join(", ")}]`);
  }
  return lines.join("\n") + "\n";
}

