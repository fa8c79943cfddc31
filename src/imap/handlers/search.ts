// SEARCH and UID SEARCH (RFC 9051 §6.4.4) with ESEARCH (RFC 4731), SEARCHRES "$" saving
// (RFC 5182) and MODSEQ (RFC 7162 §3.1.5). Flags, dates and sizes are evaluated from the shared
// mailbox listing (views.ts); header keys from the shared header records (headers.ts), built from
// the stored structure (a header field the structure omits or truncates is read from the body
// file's header). BODY/TEXT needles of 3 characters or more are answered by the store's
// full-text index (Store.searchText), one query per needle; shorter needles, or a store that
// cannot answer, fall back to reading each candidate body once.
//
// Every message is first evaluated on what is at hand; only the messages whose answer depends
// on a header or text not loaded yet load it (so "UNSEEN FROM x" reads the headers of unseen
// messages only), then are evaluated again.
import type { MessageSummary } from "../../store/types.js";
import type { SearchMessage } from "../search.js";
import { compileSearch, renderEsearch, renderSearch, savedResult, textNeedles, usesModseq } from "../search.js";
import { parseHeaderFields, type HeaderField } from "../mime.js";
import type { ImapSession } from "../session/session.js";
import { searchableText } from "../session/textsearch.js";
import type { HeaderRecord } from "../session/headers.js";
import { isGone } from "../session/errors.js";
import { SELECTED, handler } from "./types.js";
import { toWire } from "../session/modseq.js";

async function readHeaderFields(s: ImapSession, messageId: number, end: number): Promise<HeaderField[]> {
  if (end <= 0) return [];
  const stream = await s.services.store.openBody(messageId, { start: 0, end: end - 1 });
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as string));
  const buf = Buffer.concat(chunks);
  return parseHeaderFields(buf, 0, buf.length);
}

const needleKey = (scope: "body" | "text", needle: string): string => `${scope}\0${needle}`;

/** Thrown by the evaluator's view when the data a key needs is not loaded yet; the message is
 * evaluated again once it is (the predicate is pure, so a retry answers as if it had been there). */
class Missing {
  constructor(readonly what: "header" | "full" | "text") {}
}
const MISSING_HEADER = new Missing("header");
const MISSING_FULL = new Missing("full");
const MISSING_TEXT = new Missing("text");

/** Messages whose structure is read from the store per query. */
const LOAD_BATCH = 1024;

export default handler({
  name: "SEARCH",
  states: SELECTED,
  async run(s, cmd) {
    const sel = s.selected!;
    const prog = cmd.args.program;
    const modseqUsed = usesModseq(prog.key);
    if (modseqUsed) s.condstore = true; // RFC 7162 §3.1: CONDSTORE-enabling
    const store = s.services.store;
    const { headers, cache } = s.shared;
    const listing = await s.shared.views.get(sel.mailboxId);
    const pred = compileSearch(prog.key, { messageCount: sel.exists, maxUid: sel.uids[sel.uids.length - 1] ?? 0, saved: s.savedUids });
    const needles = textNeedles(prog.key);
    // BODY/TEXT through the index where it can answer; the rest by reading bodies.
    const indexed = new Map<string, Set<number>>();
    for (const { scope, needle } of needles) {
      const key = needleKey(scope, needle);
      if (indexed.has(key)) continue;
      const hits = store.searchText ? await store.searchText(sel.mailboxId, scope === "body" ? { body: [needle] } : { text: [needle] }) : null;
      if (hits) indexed.set(key, hits); // else: read from the bodies of the messages that need it
    }
    // The session's sequence numbers against the current listing (both ascending by UID).
    type Candidate = { seq: number; meta: MessageSummary };
    const candidates: Candidate[] = [];
    const msgs = listing.messages;
    for (let i = 0, j = 0; i < sel.uids.length; i++) {
      const uid = sel.uids[i]!;
      while (j < msgs.length && msgs[j]!.uid < uid) j++;
      if (j < msgs.length && msgs[j]!.uid === uid) candidates.push({ seq: i + 1, meta: msgs[j]! }); // else expunged by another session, not yet announced
    }
    // Scanned text of the messages whose bodies had to be read (this command only).
    const texts = new Map<number, { body: string; text: string }>();
    const matched = new Uint8Array(candidates.length);
    // One view object, pointed at each message in turn (the predicate is synchronous and keeps
    // nothing), so evaluating a large mailbox allocates nothing per message.
    let meta: MessageSummary = candidates[0]?.meta ?? ({} as MessageSummary);
    let rec: HeaderRecord | undefined;
    const view: SearchMessage = {
      seq: 0,
      uid: 0,
      flags: [],
      modseq: 0,
      size: 0,
      internalDate: new Date(0),
      recent: false,
      get sentDay() {
        if (!rec) throw MISSING_HEADER;
        return rec.sentDay;
      },
      header(name: string) {
        if (!rec) throw MISSING_HEADER;
        const v = rec.values(name);
        if (v === null) throw MISSING_FULL;
        return v;
      },
      textMatches(scope, needle) {
        const hits = indexed.get(needleKey(scope, needle));
        if (hits) return hits.has(meta.uid);
        const t = texts.get(meta.id);
        if (!t) throw MISSING_TEXT;
        return (scope === "text" ? t.text : t.body).includes(needle);
      },
    };
    const evaluate = (k: number): Missing | null => {
      const c = candidates[k]!;
      meta = c.meta;
      rec = headers.get(meta.id);
      view.seq = c.seq;
      view.uid = meta.uid;
      view.flags = meta.flags;
      view.modseq = toWire(meta.modseq);
      view.size = meta.size;
      view.internalDate = meta.internalDate;
      try {
        if (pred(view)) matched[k] = 1;
        return null;
      } catch (e) {
        if (e instanceof Missing) return e;
        throw e;
      }
    };
    // Evaluate everything on what is at hand (flags, sizes, dates, cached headers); load what the
    // undecided messages need, in batches, and evaluate those again. Each round loads something
    // new for every undecided message (header record, then full header or text), so it ends.
    let todo: Array<{ k: number; what: Missing }> = [];
    for (let k = 0; k < candidates.length; k++) {
      const m = evaluate(k);
      if (m) todo.push({ k, what: m });
    }
    for (let round = 0; todo.length > 0; round++) {
      if (round > 3) throw new Error("SEARCH: message data still missing after loading it");
      const gone = new Set<number>();
      const needRecord = todo.filter((t) => t.what === MISSING_HEADER);
      for (let i = 0; i < needRecord.length; i += LOAD_BATCH) {
        const part = needRecord.slice(i, i + LOAD_BATCH).map((t) => candidates[t.k]!.meta);
        const metas = await store.getMessages(sel.mailboxId, part.map((m) => m.uid));
        const byUid = new Map(metas.map((m) => [m.uid, m]));
        for (const summary of part) {
          const meta = byUid.get(summary.uid);
          if (!meta || meta.id !== summary.id) {
            gone.add(summary.id); // expunged meanwhile by another session
            continue;
          }
          try {
            // Stored without a structure (e.g. too large to parse at delivery): read only its header.
            const parsed = cache.peek(meta) ?? (await cache.headerOnly(meta)) ?? (await cache.get(meta));
            headers.put(meta.id, parsed);
          } catch (err) {
            if (isGone(err)) gone.add(meta.id);
            else throw err;
          }
        }
      }
      for (const t of todo) {
        const meta = candidates[t.k]!.meta;
        if (gone.has(meta.id)) continue;
        try {
          if (t.what === MISSING_FULL) {
            // The stored header fields stop at MAX_SEARCH_HEADER_BYTES, or leave out bulky trace
            // fields (Received, DKIM-Signature, ...): read the whole header.
            const rec = headers.get(meta.id) ?? null;
            if (rec) headers.setFull(meta.id, rec, await readHeaderFields(s, meta.id, rec.bodyStart));
          } else if (t.what === MISSING_TEXT) {
            const body = await store.readBody(meta.id);
            const [full] = await store.getMessages(sel.mailboxId, [meta.uid]);
            if (!full || full.id !== meta.id) {
              gone.add(meta.id);
              continue;
            }
            texts.set(meta.id, searchableText(body, await cache.get(full))); // transfer encodings and charsets undone
          }
        } catch (err) {
          if (isGone(err)) gone.add(meta.id);
          else throw err;
        }
      }
      const next: typeof todo = [];
      for (const t of todo) {
        if (gone.has(candidates[t.k]!.meta.id)) continue;
        const m = evaluate(t.k);
        if (m) next.push({ k: t.k, what: m });
      }
      todo = next;
    }
    const nums: number[] = [];
    const matchedUids: number[] = [];
    let maxModseq = 0;
    for (let k = 0; k < candidates.length; k++) {
      if (!matched[k]) continue;
      const { seq, meta } = candidates[k]!;
      nums.push(cmd.uid ? meta.uid : seq);
      matchedUids.push(meta.uid);
      if (meta.modseq > maxModseq) maxModseq = meta.modseq;
    }
    const modseq = modseqUsed ? toWire(maxModseq) : null;
    const opts = prog.returnOpts;
    if (opts) {
      if (opts.save) {
        // RFC 5182 §2.4: "$" keeps UIDs.
        const kept = new Set(savedResult(nums, opts));
        s.savedUids = matchedUids.filter((u, i) => kept.has(nums[i]!));
      }
      const line = renderEsearch({ tag: cmd.tag, uid: cmd.uid, nums, opts, modseq });
      if (line) await s.write(line);
    } else if (s.rev2) {
      // RFC 9051 §6.4.4: IMAP4rev2 answers SEARCH with ESEARCH.
      await s.write(renderEsearch({ tag: cmd.tag, uid: cmd.uid, nums, opts: { min: false, max: false, count: false, all: true, save: false }, modseq })!);
    } else {
      await s.write(renderSearch(nums, modseq));
    }
  },
});
