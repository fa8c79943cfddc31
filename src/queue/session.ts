// One outbound session to a destination: pick the next hop (route, smarthost or MX hosts in
// order, each of their addresses in turn), say EHLO, secure the connection, authenticate to a
// smarthost. The runner then sends its messages over the returned client.
//
// TLS rules, per kind of next hop:
// - MX and routes: opportunistic STARTTLS when offered (RFC 3207; certificate not verified, as is
//   usual between MTAs, RFC 7435); plain text only when the host does not offer STARTTLS. A failed
//   handshake after STARTTLS was offered fails this host (the next host may be tried; the same
//   host is never retried in plain text).
// - MTA-STS enforce (RFC 8461 §4.2): only MX hosts matching the policy, STARTTLS required, and the
//   certificate verified for the MX host name.
// - Smarthost: implicit TLS (smtps://) or required STARTTLS (smtp://), certificate verified, AUTH
//   PLAIN only after TLS.

import { lookup } from "node:dns/promises";
import { SmtpClient, SmtpClientError, type Timeouts } from "./client.js";
import { addressesOf, type Destination, type Hop } from "./mx.js";
import type { DnsResolver } from "./dns.js";

export interface SessionOptions {
  localName: string;
  resolver: DnsResolver;
  timeouts?: Partial<Timeouts>;
  /** Extra trusted CAs for verified TLS (tests). */
  ca?: string[];
  /** Called before each connection attempt (audit "queue.attempt"). */
  onAttempt?: (hop: Hop, address: string) => void;
}

/** Host names the operator configured (routes, smarthost) resolve like any other program's:
 * getaddrinfo, so /etc/hosts counts. MX host names go through the DNS resolver. */
async function systemAddresses(host: string): Promise<string[]> {
  try {
    return (await lookup(host.replace(/^\[|\]$/g, ""), { all: true, verbatim: true })).map((a) => a.address);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "ENOTFOUND" || code === "ENODATA") return [];
    throw e;
  }
}

export interface OpenSession {
  client: SmtpClient;
  hop: Hop;
  address: string;
}

/** Opens a session to the first hop that works; throws the last SmtpClientError otherwise. */
export async function openSession(
  dest: Exclude<Destination, { kind: "fail" }>,
  o: SessionOptions,
  requireVerifiedTls: boolean,
): Promise<OpenSession> {
  let last: Error = new SmtpClientError("no next hop", true);
  for (const hop of dest.hops) {
    let addresses: string[];
    try {
      addresses = dest.kind === "mx" ? await addressesOf(hop.name, o.resolver) : await systemAddresses(hop.name);
    } catch (e) {
      last = new SmtpClientError(`address lookup for ${hop.name} failed: ${(e as Error).message}`, true);
      continue;
    }
    if (addresses.length === 0) {
      last = new SmtpClientError(`${hop.name} has no address (no A/AAAA records)`, true);
      continue;
    }
    for (const address of addresses) {
      o.onAttempt?.(hop, address);
      let client: SmtpClient | null = null;
      try {
        const smarthost = dest.kind === "smarthost";
        client = await SmtpClient.connect({
          host: address,
          port: hop.port,
          servername: hop.name,
          implicitTls: smarthost && dest.implicitTls,
          ...(o.ca ? { ca: o.ca } : {}),
          ...(o.timeouts ? { timeouts: o.timeouts } : {}),
        });
        await client.hello(o.localName);
        const verify = smarthost || requireVerifiedTls;
        if (!client.tls) {
          if (client.has("STARTTLS")) {
            await client.startTls({ verify, servername: hop.name, localName: o.localName });
          } else if (verify) {
            throw new SmtpClientError(
              smarthost ? `smarthost ${hop.name} does not offer STARTTLS` : `${hop.name} does not offer STARTTLS, required by the domain's MTA-STS policy`,
              true,
            );
          }
        }
        if (smarthost && dest.user !== null) await client.authPlain(dest.user, dest.password ?? "");
        return { client, hop, address };
      } catch (e) {
        client?.close();
        last = e instanceof SmtpClientError ? e : new SmtpClientError((e as Error).message, true);
        last.message = `${hop.name}[${address}]:${hop.port}: ${last.message}`;
      }
    }
  }
  throw last;
}
