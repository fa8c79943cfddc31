// The queue runner: takes due messages from the store's queue and delivers them, with
// `outbound.workers` destinations in flight at once, retrying with backoff and sending DSNs.
//
// Invariants:
// - The store is the only state that matters: a message leaves the queue only after every
//   recipient was delivered or failed (and failures were notified); a crash at any point leaves it
//   queued and it is tried again (SMTP's at-least-once, RFC 5321 §6.1).
// - One job per destination (domain, or the smarthost) at a time; a job sends all of its due
//   messages over one connection, RSET between them.
// - A message is never in two jobs at once (the in-flight set).
// - Recipients are tracked one by one: delivered and failed ones are never tried again.
// - DKIM: a message whose From: (or envelope sender) domain is local and has a key is signed just
//   before it is sent, whichever path it takes (MX, route, smarthost).

import type { Readable } from "node:stream";
import { Readable as ReadableStream } from "node:stream";
import type { Config } from "../config/schema.js";
import type { Store, QueuedMessage, QueueRecipient } from "../store/types.js";
import { StoreError } from "../store/types.js";
import { audit, type AuditLogger } from "../log/audit.js";
import { SmtpClientError, type SmtpClient, type Timeouts, type TransactionResult } from "./client.js";
import { createResolver, type DnsResolver } from "./dns.js";
import { resolveDestination, type Destination } from "./mx.js";
import { openSession, type OpenSession } from "./session.js";
import { MtaStsPolicies, mxMatches, type PolicyFetcher } from "./mtasts.js";
import { nextAttempt, delayNoticeDue } from "./backoff.js";
import { statusOf, type DsnRecipient } from "./dsn.js";
import { readHead, sendNotice } from "./notices.js";
import { replyText, type Reply } from "./reply.js";
import { DkimKeys, dkimSignature } from "../mailauth/dkim.js";
import { fromDomain } from "./headers.js";

export interface RunnerOptions {
  config: Config;
  dataDir: string;
  store: Store;
  log: AuditLogger;
  /** Default: built from outbound.dns_servers. */
  resolver?: DnsResolver;
  /** MTA-STS policy fetcher (default: HTTPS). */
  fetchPolicy?: PolicyFetcher;
  now?: () => Date;
  random?: () => number;
  /** Port of MX hosts; 25 except in tests. */
  mxPort?: number;
  timeouts?: Partial<Timeouts>;
  /** How often the queue is polled for due messages, in ms (default 1000). */
  pollMs?: number;
  /** Extra trusted CAs for verified TLS (smarthost, MTA-STS) — tests. */
  ca?: string[];
}

/** What the SMTP side stores in QueuedMessage.meta (src/smtp/deliver.ts), plus our DSN marker. */
interface QueueMeta {
  submittedBy?: string | null;
  smtputf8?: boolean;
  body?: string;
  dsn?: boolean;
}

const BATCH = 50;
const MAX_RCPTS_PER_TRANSACTION = 100;

export class QueueRunner {
  private readonly resolver: DnsResolver;
  private readonly sts: MtaStsPolicies;
  private readonly keys: DkimKeys;
  private readonly now: () => Date;
  private readonly inFlight = new Set<string>();
  private readonly activeDestinations = new Set<string>();
  private readonly jobs = new Set<Promise<void>>();
  private readonly clients = new Set<SmtpClient>();
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private again = false;
  private stopping = false;

  constructor(private readonly o: RunnerOptions) {
    this.resolver = o.resolver ?? createResolver(o.config.outbound.dns_servers);
    this.sts = new MtaStsPolicies(this.resolver, o.fetchPolicy, () => this.now().getTime());
    this.keys = new DkimKeys(o.dataDir, o.config.dkim.selector);
    this.now = o.now ?? (() => new Date());
  }

  start(): void {
    if (this.timer || this.stopping) return;
    this.timer = setInterval(() => this.wake(), this.o.pollMs ?? 1_000);
    this.timer.unref();
    this.wake();
  }

  /** Looks at the queue now (call after enqueue). Cheap; safe to call often. */
  wake(): void {
    if (this.stopping) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    this.ticking = this.tick()
      .catch((e: unknown) => this.o.log.error({ err: e }, "queue runner: cannot read the queue"))
      .finally(() => {
        this.ticking = null;
        if (this.again) {
          this.again = false;
          setImmediate(() => this.wake());
        }
      });
  }

  /** Stops taking work, aborts connections still open after `deadlineMs`, waits for jobs. */
  async stop(deadlineMs: number): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.ticking; // a pass reading the queue finishes before the store may close
    const all = Promise.allSettled([...this.jobs]);
    let t: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((r) => (t = setTimeout(r, deadlineMs)));
    await Promise.race([all, deadline]);
    clearTimeout(t);
    for (const c of this.clients) c.close();
    await all;
  }

  private destinationKey(m: QueuedMessage): string {
    const c = this.o.config.outbound;
    return c.routes[m.domain] === undefined && c.smarthost ? "*smarthost*" : m.domain;
  }

  private async tick(): Promise<void> {
    const workers = this.o.config.outbound.workers;
    if (this.activeDestinations.size >= workers) return;
    const due = await this.o.store.dueQueue(this.now(), 500);
    const groups = new Map<string, QueuedMessage[]>();
    for (const m of due) {
      if (this.inFlight.has(m.id)) continue;
      const key = this.destinationKey(m);
      if (this.activeDestinations.has(key)) continue;
      const g = groups.get(key) ?? [];
      if (g.length < BATCH) g.push(m);
      groups.set(key, g);
    }
    for (const [key, msgs] of groups) {
      if (this.activeDestinations.size >= workers || this.stopping) break;
      this.activeDestinations.add(key);
      for (const m of msgs) this.inFlight.add(m.id);
      const job = this.runDestination(msgs)
        .catch((e: unknown) => this.o.log.error({ err: e, destination: key }, "queue runner: delivery job failed"))
        .finally(() => {
          this.activeDestinations.delete(key);
          for (const m of msgs) this.inFlight.delete(m.id);
          this.jobs.delete(job);
          this.wake();
        });
      this.jobs.add(job);
    }
  }

  /** Delivers messages that share a destination (same domain, or all through the smarthost). */
  private async runDestination(msgs: QueuedMessage[]): Promise<void> {
    const c = this.o.config.outbound;
    const domain = msgs[0]!.domain;
    let dest: Destination;
    try {
      dest = await resolveDestination(domain, this.resolver, { routes: c.routes, ...(c.smarthost ? { smarthost: c.smarthost } : {}), mxPort: this.o.mxPort ?? 25 }, this.o.random);
    } catch (e) {
      dest = { kind: "fail", permanent: false, code: 451, enhanced: "4.3.5", reason: `cannot route ${domain}: ${(e as Error).message}` };
    }
    if (dest.kind === "fail") {
      const reply: Reply = { code: dest.code, enhanced: dest.enhanced, lines: [`${dest.enhanced} ${dest.reason}`] };
      for (const m of msgs) await this.settle(m, m.recipients.filter((r) => r.status === "pending").map((r) => ({ address: r.address, reply, delivered: false })), null, null);
      return;
    }
    // RFC 8461 §4: MTA-STS applies to MX delivery only (routes and the smarthost are the operator's choice).
    let enforce = false;
    if (dest.kind === "mx" && dest.viaMx) {
      const policy = await this.sts.policyFor(domain);
      if (policy?.mode === "enforce") {
        enforce = true;
        const allowed = dest.hops.filter((h) => mxMatches(h.name, policy.mx));
        if (allowed.length === 0) {
          // RFC 8461 §5.1: no MX matches the policy -> do not deliver; temporary.
          for (const m of msgs) await this.deferAll(m, "no MX host matches the domain's MTA-STS policy (RFC 8461)", null);
          return;
        }
        dest = { ...dest, hops: allowed };
      }
    }
    let session: OpenSession | null = null;
    for (let i = 0; i < msgs.length; i++) {
      const m = msgs[i]!;
      if (this.stopping) return; // left due; retried after restart
      try {
        if (!session) {
          session = await openSession(
            dest,
            {
              localName: this.o.config.server.hostname,
              resolver: this.resolver,
              ...(this.o.timeouts ? { timeouts: this.o.timeouts } : {}),
              ...(this.o.ca ? { ca: this.o.ca } : {}),
              onAttempt: (hop, address) =>
                audit(this.o.log, "queue.attempt", { id: m.id, domain, host: hop.name, address, port: hop.port, attempt: m.attempts + 1, queued: msgs.length - i }),
            },
            enforce,
          );
          this.clients.add(session.client);
        } else {
          await session.client.reset(); // RFC 5321 §4.1.1.5: a clean state for the next transaction
        }
        const result = await this.sendOne(session.client, m);
        await this.settle(m, result.recipients, session, result.final);
      } catch (e) {
        if (this.stopping) return;
        const err = e instanceof SmtpClientError ? e : new SmtpClientError((e as Error).message, true);
        if (session) {
          this.clients.delete(session.client);
          session.client.close();
        }
        // The connection is gone (or never came up): defer this message and the rest of the batch.
        for (const rest of msgs.slice(i)) await this.deferAll(rest, err.message, session);
        return;
      }
    }
    if (session) {
      this.clients.delete(session.client);
      await session.client.quit();
    }
  }

  private async sendOne(client: SmtpClient, m: QueuedMessage): Promise<TransactionResult> {
    const pending = m.recipients.filter((r) => r.status === "pending").map((r) => r.address);
    const meta = (m.meta ?? {}) as QueueMeta;
    const signature = Buffer.from(await this.signatureFor(m), "utf8");
    const nonAscii = (s: string): boolean => /[^\x00-\x7f]/.test(s);
    const body = async (): Promise<Readable> => {
      const stream = await this.o.store.openQueuedBody(m.id);
      if (signature.length === 0) return stream;
      return ReadableStream.from(
        (async function* () {
          yield signature;
          for await (const c of stream) yield c as Buffer;
        })(),
      );
    };
    const out: TransactionResult = { recipients: [], final: null };
    // RFC 5321 §4.5.3.1.8: servers must take 100 recipients per transaction; more go in further ones.
    for (let i = 0; i < pending.length; i += MAX_RCPTS_PER_TRANSACTION) {
      if (i > 0) await client.reset();
      const to = pending.slice(i, i + MAX_RCPTS_PER_TRANSACTION);
      const r = await client.send(
        {
          from: m.sender,
          to,
          size: m.size + signature.length,
          eightBit: meta.body === "8BITMIME",
          smtputf8: meta.smtputf8 === true || nonAscii(m.sender) || pending.some(nonAscii),
        },
        body,
      );
      out.recipients.push(...r.recipients);
      out.final = r.final ?? out.final;
    }
    return out;
  }

  /** The DKIM-Signature header for `m`, or "" when its domain is not ours or has no key. */
  private async signatureFor(m: QueuedMessage): Promise<string> {
    const head = await readHead(await this.o.store.openQueuedBody(m.id));
    const candidates = [fromDomain(head), m.sender.includes("@") ? m.sender.slice(m.sender.lastIndexOf("@") + 1) : null];
    for (const d of candidates) {
      if (!d || !(await this.o.store.getDomain(d))) continue;
      const keys = await this.keys.keysFor(d);
      if (keys.length === 0) continue;
      return dkimSignature(await this.o.store.openQueuedBody(m.id), keys);
    }
    return "";
  }

  private async deferAll(m: QueuedMessage, reason: string, session: OpenSession | null): Promise<void> {
    const reply: Reply = { code: 451, enhanced: "4.4.1", lines: [`4.4.1 ${reason}`] };
    await this.settle(m, m.recipients.filter((r) => r.status === "pending").map((r) => ({ address: r.address, reply, delivered: false })), session, null);
  }

  /** Records an attempt's outcome for `m`: statuses, retry or expiry, DSNs, removal when done. */
  private async settle(
    m: QueuedMessage,
    results: Array<{ address: string; reply: Reply; delivered: boolean }>,
    session: OpenSession | null,
    final: Reply | null,
  ): Promise<void> {
    const now = this.now();
    const byAddress = new Map(results.map((r) => [r.address, r]));
    const remote = session ? session.hop.name : null;
    const delivered: string[] = [];
    const failed: DsnRecipient[] = [];
    let lastTransient: Reply | null = null;
    const recipients: QueueRecipient[] = m.recipients.map((r) => {
      const res = r.status === "pending" ? byAddress.get(r.address) : undefined;
      if (!res) return r;
      const text = replyText(res.reply);
      if (res.delivered) {
        delivered.push(r.address);
        return { ...r, status: "delivered", lastReply: text };
      }
      if (res.reply.code >= 500) {
        failed.push({ address: r.address, action: "failed", status: statusOf(res.reply.code, res.reply.enhanced), diagnostic: text, remoteMta: remote });
        return { ...r, status: "failed", lastReply: text };
      }
      lastTransient = res.reply;
      return { ...r, lastReply: text };
    });
    if (delivered.length > 0) {
      audit(this.o.log, "queue.delivered", {
        id: m.id,
        domain: m.domain,
        recipients: delivered,
        remote: remote ? `${remote}[${session!.address}]:${session!.hop.port}` : null,
        reply: final ? replyText(final) : null,
        tls: session?.client.tls ? session.client.tls.version : null,
        cipher: session?.client.tls?.cipher ?? null,
      });
    }
    const attempts = m.attempts + 1;
    let stillPending = recipients.filter((r) => r.status === "pending");
    let nextAt: Date | null = null;
    if (stillPending.length > 0) {
      const c = this.o.config.outbound;
      const decision = nextAttempt(m.createdAt, attempts, now, { initialMs: c.retry_initial, maxMs: c.retry_max, lifetimeMs: c.lifetime });
      if (decision.kind === "expired") {
        // The lifetime is over: the pending recipients fail with the last temporary error.
        for (const r of stillPending) {
          const last = r.lastReply ?? "no delivery attempt succeeded";
          failed.push({ address: r.address, action: "failed", status: "4.4.7", diagnostic: `${last} (gave up after ${Math.round(c.lifetime / 3_600_000)} h)`, remoteMta: remote });
          r.status = "failed";
        }
        stillPending = [];
      } else {
        nextAt = decision.at;
        audit(
          this.o.log,
          "queue.deferred",
          { id: m.id, domain: m.domain, recipients: stillPending.map((r) => r.address), reason: lastTransient ? replyText(lastTransient) : (stillPending[0]?.lastReply ?? null), attempts, next: nextAt.toISOString() },
          "warn",
        );
      }
    }
    if (failed.length > 0) {
      audit(this.o.log, "queue.failed", { id: m.id, domain: m.domain, recipients: failed.map((f) => f.address), reason: failed[0]!.diagnostic }, "warn");
    }
    const ctx = { store: this.o.store, log: this.o.log, hostname: this.o.config.server.hostname, now: this.now, queued: () => setImmediate(() => this.wake()) };
    // A notice that cannot be sent (e.g. the sender's mailbox is over quota) is logged and dropped:
    // failing here would leave the recipients' new states unsaved and deliver them again.
    const notify = async (r: Parameters<typeof sendNotice>[1]): Promise<void> => {
      try {
        await sendNotice(ctx, r);
      } catch (e) {
        this.o.log.error({ err: e, id: m.id, kind: r.kind, to: r.sender }, "delivery notice could not be sent; dropped");
      }
    };
    // Notices go out before the queue entry changes: a crash in between repeats a notice rather than losing it.
    try {
      if (failed.length > 0) await notify({ kind: "failure", queueId: m.id, sender: m.sender, arrivalDate: m.createdAt, recipients: failed });
      let delayNoticeSent = m.delayNoticeSent;
      if (stillPending.length > 0 && delayNoticeDue(m.createdAt, now, this.o.config.outbound.delay_notice_after, m.delayNoticeSent)) {
        const until = new Date(m.createdAt.getTime() + this.o.config.outbound.lifetime);
        await notify({
          kind: "delay",
          queueId: m.id,
          sender: m.sender,
          arrivalDate: m.createdAt,
          willRetryUntil: until,
          recipients: stillPending.map((r) => ({ address: r.address, action: "delayed", status: statusOf(lastTransient?.code ?? 451, lastTransient?.enhanced ?? null), diagnostic: r.lastReply, remoteMta: remote })),
        });
        delayNoticeSent = true;
      }
      if (stillPending.length === 0) {
        await this.o.store.deleteQueued(m.id);
      } else {
        await this.o.store.updateQueued(m.id, {
          recipients,
          attempts,
          nextAttemptAt: nextAt!,
          lastError: stillPending[0]?.lastReply ?? null,
          delayNoticeSent,
        });
      }
    } catch (e) {
      if (e instanceof StoreError && e.code === "not-found") return; // deleted meanwhile (`portcullis queue delete`)
      throw e;
    }
  }
}

/** A view of `store` whose enqueue() also calls `wake` once the message is durable, so that the
 * runner starts delivering at once instead of at its next poll. Everything else is the store. */
export function wakingStore(store: Store, wake: () => void): Store {
  return new Proxy(store, {
    get(target, prop, _receiver) {
      if (prop === "enqueue") {
        return async (...args: Parameters<Store["enqueue"]>) => {
          const q = await target.enqueue(...args);
          setImmediate(wake);
          return q;
        };
      }
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
