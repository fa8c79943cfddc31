// Creates a new Portcullis setup: the data directory, portcullis.toml, a self-signed TLS
// certificate, a DKIM key and the store. Used by `portcullis init`, `portcullis quickstart` and the
// end-to-end test harness, so tests run the same code path as operators.
//
// Invariants:
// - Never overwrites: refuses when DIR/portcullis.toml exists; keys that already exist are kept.
// - Everything is created private to the running user: directories 0700, files 0600, whatever the
//   umask (modes are set explicitly at creation).
// - Private keys never reach a log line or stdout.

import { mkdir, stat, chmod, readFile, open } from "node:fs/promises";
import { generateKeyPair as generateKeyPairCb, createPublicKey } from "node:crypto";
import { promisify } from "node:util";
import { join, resolve } from "node:path";
import { generate as generateCert } from "selfsigned";
import { openStore } from "../store/index.js";
import type { AuditLogger } from "../log/audit.js";
import { DEFAULT_LISTENERS, DEFAULT_SELECTOR, renderConfig, type RenderOptions } from "./render.js";

export { DEFAULT_LISTENERS, DEFAULT_SELECTOR, renderConfig, type RenderOptions };

const generateKeyPair = promisify(generateKeyPairCb);

/** Lower-cases and checks a domain name (RFC 1035 §2.3.1 labels, RFC 5321 §4.1.2 Domain). */
export function normalizeDomain(input: string): string {
  const d = input.trim().toLowerCase().replace(/\.$/, "");
  const label = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
  if (d.length === 0 || d.length > 253 || !d.split(".").every((l) => label.test(l))) {
    throw new InitError(`not a valid domain name: ${JSON.stringify(input)}`);
  }
  return d;
}

export class InitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InitError";
  }
}

export interface TlsMaterial {
  cert: string;
  key: string;
}

/** A self-signed certificate for `hostname`, with "localhost", 127.0.0.1 and ::1 in the SAN
 * (fetchmail and mbsync check only DNS names, so local clients connect to "localhost"). */
export async function generateTlsCertificate(hostname: string): Promise<TlsMaterial> {
  const notAfter = new Date(Date.now() + 825 * 86_400_000); // the longest validity clients accept
  const names = [...new Set([hostname, "localhost"])];
  const pems = await generateCert([{ name: "commonName", value: hostname }], {
    keyType: "rsa",
    keySize: 2048,
    algorithm: "sha256",
    notAfterDate: notAfter,
    extensions: [
      { name: "basicConstraints", cA: false, critical: true },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
      { name: "extKeyUsage", serverAuth: true },
      { name: "subjectAltName", altNames: [...names.map((value) => ({ type: 2 as const, value })), { type: 7, ip: "127.0.0.1" }, { type: 7, ip: "::1" }] },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

/** An RSA-2048 DKIM private key in PKCS#8 PEM (RFC 6376 §3.3.3: 1024-2048 bits; 2048 is what providers want). */
export async function generateDkimPrivateKey(): Promise<string> {
  const { privateKey } = await generateKeyPair("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  return privateKey;
}

/** The path of a domain's DKIM key: <data>/dkim/<domain>.<selector>.pem */
export function dkimKeyPath(dataDir: string, domain: string, selector: string): string {
  return join(dataDir, "dkim", `${domain}.${selector}.pem`);
}

/** The DNS TXT record publishing a DKIM key (RFC 6376 §3.6.1). */
export function dkimDnsRecord(domain: string, selector: string, privateKeyPem: string): string {
  const spki = createPublicKey(privateKeyPem).export({ type: "spki", format: "der" }).toString("base64");
  return `${selector}._domainkey.${domain}. IN TXT "v=DKIM1; k=rsa; p=${spki}"`;
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw e;
  }
}

/** Creates a directory with mode 0700 (or tightens an existing one we just made). */
async function privateDir(p: string): Promise<void> {
  await mkdir(p, { recursive: true, mode: 0o700 });
  await chmod(p, 0o700);
}

/** Writes a new file with mode 0600; refuses to replace an existing one (O_EXCL). */
export async function writePrivateFile(p: string, data: string): Promise<void> {
  const fh = await open(p, "wx", 0o600);
  try {
    await fh.writeFile(data);
    await fh.chmod(0o600);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Creates the DKIM key of a domain unless it exists. Returns its path, whether it was created,
 * and the DNS record to publish. */
export async function ensureDkimKey(dataDir: string, domain: string, selector: string, pem?: string): Promise<{ file: string; created: boolean; dnsRecord: string }> {
  await privateDir(join(dataDir, "dkim"));
  const file = dkimKeyPath(dataDir, domain, selector);
  let created = false;
  if (!(await exists(file))) {
    await writePrivateFile(file, pem ?? (await generateDkimPrivateKey()));
    created = true;
  }
  return { file, created, dnsRecord: dkimDnsRecord(domain, selector, await readFile(file, "utf8")) };
}

export interface InitOptions extends Omit<RenderOptions, "hostname"> {
  dataDir: string;
  domain: string;
  /** Default: "localhost" for the domain localhost, else mail.<domain>. */
  hostname?: string;
  /** More local domains to create in the store (the test harness adds "localhost"). */
  extraDomains?: string[];
  /** Pre-generated material (the test harness reuses one certificate and key per process). */
  tls?: TlsMaterial;
  dkimKey?: string;
  log?: AuditLogger;
}

export interface InitResult {
  dataDir: string;
  configFile: string;
  certFile: string;
  keyFile: string;
  dkimFile: string;
  dkimDnsRecord: string;
  hostname: string;
  domains: string[];
  /** listener name -> port written to the config. */
  ports: Record<string, number>;
}

/** Creates a new setup in `dataDir`. Refuses if dataDir/portcullis.toml exists. */
export async function initDataDir(o: InitOptions): Promise<InitResult> {
  const dataDir = resolve(o.dataDir);
  const configFile = join(dataDir, "portcullis.toml");
  if (await exists(configFile)) throw new InitError(`${configFile} already exists; refusing to overwrite an existing setup`);
  const domain = normalizeDomain(o.domain);
  const extra = (o.extraDomains ?? []).map(normalizeDomain).filter((d) => d !== domain);
  const hostname = o.hostname ? normalizeDomain(o.hostname) : domain === "localhost" ? "localhost" : `mail.${domain}`;
  const portBase = o.portBase ?? 0;
  if (!Number.isInteger(portBase) || portBase < 0 || portBase + 995 > 65535) throw new InitError(`--port-base must be an integer from 0 to ${65535 - 995}`);
  const selector = o.selector ?? DEFAULT_SELECTOR;

  await privateDir(dataDir);
  await privateDir(join(dataDir, "tls"));
  const certFile = join(dataDir, "tls", "cert.pem");
  const keyFile = join(dataDir, "tls", "key.pem");
  const tls = o.tls ?? (await generateTlsCertificate(hostname));
  if (!(await exists(keyFile))) await writePrivateFile(keyFile, tls.key);
  if (!(await exists(certFile))) await writePrivateFile(certFile, tls.cert);
  const dkim = await ensureDkimKey(dataDir, domain, selector, o.dkimKey);
  for (const d of extra) await ensureDkimKey(dataDir, d, selector, o.dkimKey);

  const store = await openStore(dataDir, o.log ? { log: o.log } : undefined);
  try {
    for (const d of [domain, ...extra]) if (!(await store.getDomain(d))) await store.addDomain(d);
  } finally {
    await store.close();
  }

  // The config file last: its presence means "a complete setup exists".
  await writePrivateFile(configFile, renderConfig({ ...o, hostname, selector }));
  const ports: Record<string, number> = {};
  for (const l of DEFAULT_LISTENERS) ports[l.name] = o.zeroPorts ? 0 : l.port + portBase;
  return { dataDir, configFile, certFile, keyFile, dkimFile: dkim.file, dkimDnsRecord: dkim.dnsRecord, hostname, domains: [domain, ...extra], ports };
}
