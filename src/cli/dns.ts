// `portcullis dns [--domain D] [--ip ADDR]... [--check]`: the DNS records to publish for each
// domain, ready to paste into a zone file, and the MTA-STS policy file; with --check, each record
// is looked up (through [outbound] dns_servers, like delivery) and reported as ok, missing or
// different. Exit status 1 when --check finds a problem.

import type { Command } from "commander";
import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { dkimKeyPath } from "../config/init.js";
import type { Config } from "../config/schema.js";
import { createResolver, orEmpty, type DnsResolver } from "../queue/dns.js";
import { checkRecord, recordsFor, zoneLine, type DnsRecord, type SrvService } from "../mailauth/records.js";
import { mtaStsPolicy } from "../admin/autoconfig.js";
import { CliError, withConfig, withStore, out } from "./common.js";

/** The SRV services from the configured listeners (RFC 6186 §3.4: "not offered" when absent). */
export function srvServices(config: Config): SrvService[] {
  const find = (protocol: string, tls: "implicit" | "starttls", role?: string): number | null => {
    const l = Object.values(config.listeners).find(
      (x) => x.enabled && x.protocol === protocol && x.tls === tls && (role === undefined || x.smtp_role === role),
    );
    return l && l.port > 0 ? l.port : null;
  };
  return [
    { service: "_submissions", port: find("smtp", "implicit", "submission") },
    { service: "_submission", port: find("smtp", "starttls", "submission") },
    { service: "_imaps", port: find("imap", "implicit") },
    { service: "_imap", port: find("imap", "starttls") },
    { service: "_pop3s", port: find("pop3", "implicit") },
    { service: "_pop3", port: find("pop3", "starttls") },
  ];
}

/** Public addresses the SMTP listeners are bound to (not wildcard, not loopback): known senders for SPF. */
export function listenerAddresses(config: Config): string[] {
  const out = new Set<string>();
  for (const l of Object.values(config.listeners)) {
    if (!l.enabled || l.protocol !== "smtp") continue;
    for (const a of l.addresses ?? []) {
      const v = isIP(a);
      if (v === 0 || a === "0.0.0.0" || a === "::" || a.startsWith("127.") || a === "::1") continue;
      out.add(a);
    }
  }
  return [...out];
}

async function lookup(resolver: DnsResolver, r: DnsRecord): Promise<string[]> {
  const name = r.name.replace(/\.$/, "");
  try {
    switch (r.type) {
      case "MX":
        return (await orEmpty(resolver.resolveMx(name))).map((m) => `${m.priority} ${m.exchange}`);
      case "TXT":
        return (await orEmpty(resolver.resolveTxt(name))).map((parts) => parts.join(""));
      case "SRV":
        return (await orEmpty(resolver.resolveSrv(name))).map((s) => `${s.priority} ${s.weight} ${s.port} ${s.name || "."}`);
      case "CNAME":
        return await orEmpty(resolver.resolveCname(name));
    }
  } catch (e) {
    if ((e as { code?: string }).code === "ENOTFOUND") return [];
    throw new CliError(`looking up ${r.type} ${name}: ${(e as Error).message}`);
  }
}

export function registerDns(program: Command): void {
  withConfig(
    program
      .command("dns")
      .description("print the DNS records to publish (MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT, SRV); --check compares with DNS")
      .option("--domain <domain>", "only this domain (default: every domain)")
      .option("--ip <address>", "an address the server sends from, for SPF (repeatable; listener addresses are added)", (v: string, acc: string[]) => [...acc, v], [] as string[])
      .option("--check", "look the records up and report what is missing or different"),
  ).action(async (o: { domain?: string; ip: string[]; check?: boolean }, cmd: Command) => {
    for (const ip of o.ip) if (isIP(ip) === 0) throw new CliError(`--ip: not an IP address: ${ip}`);
    await withStore(cmd, async ({ loaded, store }) => {
      const config = loaded.config;
      let domains = (await store.listDomains()).map((d) => d.name);
      if (o.domain !== undefined) {
        const d = o.domain.trim().toLowerCase().replace(/\.$/, "");
        if (!domains.includes(d)) throw new CliError(`${d} is not a domain of this server (see \`portcullis domain list\`)`);
        domains = [d];
      }
      const resolver = o.check ? createResolver(config.outbound.dns_servers) : null;
      const ips = [...new Set([...o.ip, ...listenerAddresses(config)])];
      // The policy the admin listener serves at /.well-known/mta-sts.txt: its id is published in DNS.
      const policy = mtaStsPolicy({
        mode: config.admin.mta_sts_mode,
        mx: config.admin.mta_sts_mx.length > 0 ? config.admin.mta_sts_mx : [config.server.hostname],
        maxAgeSeconds: Math.floor(config.admin.mta_sts_max_age / 1000),
      });
      let problems = 0;
      for (const domain of domains) {
        let key: string | null = null;
        try {
          key = await readFile(dkimKeyPath(loaded.dataDir, domain, config.dkim.selector), "utf8");
        } catch {
          key = null;
        }
        let ed25519: string | null = null;
        try {
          ed25519 = await readFile(dkimKeyPath(loaded.dataDir, domain, `${config.dkim.selector}-ed25519`), "utf8");
        } catch {
          ed25519 = null; // optional (RFC 8463)
        }
        const records = recordsFor({
          domain,
          hostname: config.server.hostname,
          selector: config.dkim.selector,
          dkimPrivateKey: key,
          ...(ed25519 ? { extraDkim: [{ selector: `${config.dkim.selector}-ed25519`, privateKey: ed25519 }] } : {}),
          ipv4: ips.filter((a) => isIP(a) === 4),
          ipv6: ips.filter((a) => isIP(a) === 6),
          services: srvServices(config),
          mtaStsPolicyText: policy,
        });
        out(`; ${domain}`);
        if (!key) out(`; no DKIM key for ${domain} (expected ${dkimKeyPath(loaded.dataDir, domain, config.dkim.selector)})`);
        for (const r of records) {
          if (!resolver) {
            out(`; ${r.purpose}\n${zoneLine(r)}`);
            continue;
          }
          const result = checkRecord(r, await lookup(resolver, r));
          if (result.status !== "ok") problems++;
          const what = `${r.type} ${r.name}`;
          if (result.status === "ok") out(`ok        ${what}`);
          else if (result.status === "missing") out(`missing   ${what}\n          publish: ${zoneLine(r)}`);
          else out(`different ${what}\n          found:   ${result.found.join(" | ")}\n          expected: ${zoneLine(r)}`);
        }
        if (!resolver) {
          out(`; MTA-STS policy file, served by the admin listener at /.well-known/mta-sts.txt; publish it as https://mta-sts.${domain}/.well-known/mta-sts.txt\n${policy.replace(/\r\n/g, "\n")}`);
        }
      }
      if (resolver) {
        out(problems === 0 ? "all records are published" : `${problems} record(s) missing or different`);
        if (problems > 0) process.exitCode = 1;
      }
    });
  });
}
