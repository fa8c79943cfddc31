// FETCH and UID FETCH (RFC 9051 §6.4.5, §7.5.2) with BINARY (RFC 3516), MODSEQ/CHANGEDSINCE
// (RFC 7162 §3.1.4) and VANISHED (RFC 7162 §3.2.6).
//
// Invariants:
// - Structure items (ENVELOPE, BODY, BODYSTRUCTURE, section offsets) come from the stored parsed
//   structure (or the parse-once cache), never from re-reading the body; a rendered ENVELOPE is
//   kept per message id (session/cache.ts).
// - A FETCH of FLAGS, UID, MODSEQ, INTERNALDATE and RFC822.SIZE only is answered from the shared
//   mailbox listing (store/views.ts), which is current when read, without a store query per batch.
// - Body sections are streamed from the store's byte ranges as literals whose length is known
//   before the first octet is written; the stream is opened before the literal is announced, so a
//   message removed meanwhile cannot leave a short literal. Only HEADER.FIELDS filtering and
//   BINARY decoding hold one part in memory.
// - Fetching a body section without .PEEK sets \Seen (unless read-only) and reports the new
//   FLAGS in the same response (RFC 9051 §6.4.5).
import type { Readable } from "node:stream";
import { ReadStream } from "node:fs";
import type { MessageSummary } from "../../store/types.js";
import type { FetchItem } from "../fetchatt.js";
import { fetchResponseName, setsSeen } from "../fetchatt.js";
import { renderFlagList } from "../flags.js";
import { formatDateTime } from "../encode.js";
import { renderEnvelope } from "../envelope.js";
import type { ParsedMessage } from "../mime.js";
import { decodeTransferEncoding } from "../../mime/transfer.js";
import {
  filterHeaderFields,
  partialRange,
  renderBodyBasic,
  renderBodyStructure,
  resolveBinaryPart,
  resolveSection,
} from "../bodystructure.js";
import { formatSet, setMatcher } from "../sequence.js";
import type { ImapSession } from "../session/session.js";
import { bad, no, isGone } from "../session/errors.js";
import { SELECTED, handler } from "./types.js";
import { targetUids } from "./targets.js";
import { fromWire, toWire } from "../session/modseq.js";

/** Messages read from the store per query; bodies are still streamed one at a time. */
const BATCH = 2048;
/** Output is flushed to the connection once this much is buffered. */
const CHUNK = 64 * 1024;

/** A piece of one FETCH response: text, or octets [start, end) of the stored body. */
type Piece = string | Buffer | { start: number; end: number };

/** Items answered from the top-level header alone (envelope, header sections): for a message
 * stored without a structure, reading its header is enough. */
function headerLevelOnly(items: readonly FetchItem[]): boolean {
  return items.every(
    (i) =>
      i.type === "ENVELOPE" || i.type === "RFC822.HEADER" ||
      (i.type === "BODY[]" && i.section.part.length === 0 && (i.section.text === "HEADER" || i.section.text === "HEADER.FIELDS" || i.section.text === "HEADER.FIELDS.NOT")) ||
      !needsStructure([i]),
  );
}

function needsStructure(items: readonly FetchItem[]): boolean {
  return items.some(
    (i) =>
      i.type === "ENVELOPE" || i.type === "BODY" || i.type === "BODYSTRUCTURE" || i.type === "RFC822.HEADER" || i.type === "RFC822.TEXT" ||
      i.type === "BINARY" || i.type === "BINARY.SIZE" || (i.type === "BODY[]" && (i.section.part.length > 0 || i.section.text !== null)),
  );
}

async function readRange(s: ImapSession, meta: MessageSummary, start: number, end: number): Promise<Buffer> {
  if (end <= start) return Buffer.alloc(0);
  const stream = await s.services.store.openBody(meta.id, { start, end: end - 1 });
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as string));
  return Buffer.concat(chunks);
}

function literalHead(name: string, n: number, binary = false): string {
  return `${name} ${binary ? "~" : ""}{${n}}\r\n`;
}

/** Items answered from a message's listing entry alone (no structure, no body). */
const LISTED_ITEMS = new Set<FetchItem["type"]>(["FLAGS", "UID", "MODSEQ", "INTERNALDATE", "RFC822.SIZE"]);

/** The entries of `messages` (ascending UID) whose UID is in `uids`, ascending. */
function listedMessages(messages: readonly MessageSummary[], uids: readonly number[]): MessageSummary[] {
  let sorted = true;
  for (let i = 1; i < uids.length && sorted; i++) sorted = uids[i - 1]! < uids[i]!;
  const want = sorted ? uids : [...new Set(uids)].sort((a, b) => a - b);
  const out: MessageSummary[] = [];
  for (let i = 0, j = 0; i < want.length && j < messages.length; i++) {
    const u = want[i]!;
    while (j < messages.length && messages[j]!.uid < u) j++;
    if (j < messages.length && messages[j]!.uid === u) out.push(messages[j]!);
  }
  return out;
}

/** The items of one response answered from a listing entry (LISTED_ITEMS only), in order. */
function listedLine(items: readonly FetchItem[], meta: MessageSummary, flags: string): string {
  let line = "";
  for (const it of items) {
    if (line) line += " ";
    switch (it.type) {
      case "FLAGS":
        line += `FLAGS ${flags}`;
        break;
      case "UID":
        line += `UID ${meta.uid}`;
        break;
      case "MODSEQ":
        line += `MODSEQ (${toWire(meta.modseq)})`;
        break;
      case "INTERNALDATE":
        line += `INTERNALDATE "${formatDateTime(meta.internalDate)}"`;
        break;
      case "RFC822.SIZE":
        line += `RFC822.SIZE ${meta.size}`;
        break;
      default:
        throw new Error(`FETCH item ${it.type} is not answered from the listing`);
    }
  }
  return line;
}

/** The pieces of one item. */
async function item(s: ImapSession, it: FetchItem, meta: MessageSummary, parsed: ParsedMessage | null): Promise<Piece[]> {
  switch (it.type) {
    case "FLAGS":
      return [`FLAGS ${renderFlagList(meta.flags)}`];
    case "INTERNALDATE":
      return [`INTERNALDATE "${formatDateTime(meta.internalDate)}"`];
    case "RFC822.SIZE":
      return [`RFC822.SIZE ${meta.size}`];
    case "UID":
      return [`UID ${meta.uid}`];
    case "MODSEQ":
      return [`MODSEQ (${toWire(meta.modseq)})`];
    case "ENVELOPE": {
      let env = s.shared.cache.envelope(meta.id);
      if (env === undefined) {
        // Not loaded because the envelope was kept, and dropped since by another session: load now.
        const p = parsed ?? (await s.shared.cache.headerOnly(meta)) ?? (await s.shared.cache.get(meta));
        s.shared.cache.keepEnvelope(meta.id, (env = renderEnvelope(p.envelope)));
      }
      return [`ENVELOPE ${env}`];
    }
    case "BODY":
      return [`BODY ${renderBodyBasic(parsed!)}`];
    case "BODYSTRUCTURE":
      return [`BODYSTRUCTURE ${renderBodyStructure(parsed!)}`];
    case "RFC822":
      return [literalHead("RFC822", meta.size), { start: 0, end: meta.size }];
    case "RFC822.HEADER": {
      const end = parsed!.root.bodyStart;
      return [literalHead("RFC822.HEADER", end), { start: 0, end }];
    }
    case "RFC822.TEXT": {
      const start = parsed!.root.bodyStart;
      return [literalHead("RFC822.TEXT", meta.size - start), { start, end: meta.size }];
    }
    case "BODY[]": {
      const name = fetchResponseName(it);
      const sec = it.section;
      if (sec.part.length === 0 && sec.text === null) {
        const r = partialRange(meta.size, it.partial);
        return [literalHead(name, r.end - r.start), { start: r.start, end: r.end }];
      }
      const plan = resolveSection(parsed!, sec);
      if (!plan) return [`${name} NIL`]; // RFC 9051 §6.4.5: a part that does not exist
      if (plan.filter) {
        const header = filterHeaderFields(await readRange(s, meta, plan.range.start, plan.range.end), plan.filter.fields, plan.filter.not);
        const r = partialRange(header.length, it.partial);
        return [literalHead(name, r.end - r.start), header.subarray(r.start, r.end)];
      }
      const r = partialRange(plan.range.end - plan.range.start, it.partial);
      return [literalHead(name, r.end - r.start), { start: plan.range.start + r.start, end: plan.range.start + r.end }];
    }
    case "BINARY":
    case "BINARY.SIZE": {
      const part = resolveBinaryPart(parsed!, it.part);
      if (!part) throw no("No such leaf part for BINARY", "NONEXISTENT");
      const raw = await readRange(s, meta, part.bodyStart, part.bodyEnd);
      const decoded = decodeTransferEncoding(raw, part.encoding);
      if (!decoded) throw no("Unknown Content-Transfer-Encoding", "UNKNOWN-CTE"); // RFC 3516 §4.3
      const name = fetchResponseName(it);
      if (it.type === "BINARY.SIZE") return [`${name} ${decoded.length}`];
      const r = partialRange(decoded.length, it.partial);
      const data = decoded.subarray(r.start, r.end);
      return [literalHead(name, data.length, data.includes(0)), data]; // RFC 3516 §4.2 literal8 when NUL
    }
  }
}

/** Opens every body range of one response before any of it is written, so a message removed
 * meanwhile is skipped cleanly instead of leaving a literal shorter than announced. Once a file
 * is open its octets stay readable even if it is unlinked. */
async function openRanges(s: ImapSession, meta: MessageSummary, pieces: Piece[][]): Promise<Readable[]> {
  const streams: Readable[] = [];
  try {
    for (const item of pieces) {
      for (const p of item) {
        if (typeof p === "string" || Buffer.isBuffer(p) || p.end <= p.start) continue;
        const stream = await s.services.store.openBody(meta.id, { start: p.start, end: p.end - 1 });
        streams.push(stream);
        if (stream instanceof ReadStream && stream.pending) {
          await new Promise<void>((resolve, reject) => {
            stream.once("ready", () => resolve());
            stream.once("error", reject);
          });
        }
      }
    }
    return streams;
  } catch (err) {
    for (const st of streams) st.destroy();
    throw err;
  }
}

/** Writes one message's FETCH response, streaming body ranges from the opened streams. */
async function writeResponse(s: ImapSession, out: { buf: string }, seq: number, meta: MessageSummary, pieces: Piece[][], streams: Readable[]): Promise<void> {
  let next = 0;
  try {
    out.buf += `* ${seq} FETCH (`;
    for (let i = 0; i < pieces.length; i++) {
      if (i > 0) out.buf += " ";
      for (const p of pieces[i]!) {
        if (typeof p === "string") out.buf += p;
        else if (Buffer.isBuffer(p)) {
          await s.write(out.buf);
          out.buf = "";
          await s.write(p);
        } else if (p.end > p.start) {
          const stream = streams[next++]!;
          await s.write(out.buf);
          out.buf = "";
          let sent = 0;
          for await (const c of stream) {
            const b = Buffer.isBuffer(c) ? c : Buffer.from(c as string);
            sent += b.length;
            await s.write(b);
          }
          // The store guarantees the range; anything else breaks the framing: end the session.
          if (sent !== p.end - p.start) throw new Error(`body of message ${meta.id} shorter than announced`);
        }
      }
    }
  } finally {
    for (const st of streams) st.destroy();
  }
  out.buf += ")\r\n";
  if (out.buf.length >= CHUNK) {
    await s.write(out.buf);
    out.buf = "";
  }
}

export default handler({
  name: "FETCH",
  states: SELECTED,
  async run(s, cmd) {
    const sel = s.selected!;
    const a = cmd.args;
    const items = a.items.slice();
    const has = (t: FetchItem["type"]) => items.some((i) => i.type === t);
    // RFC 9051 §6.4.9; with QRESYNC every FETCH response carries the UID (RFC 7162 §3.2.4).
    if ((cmd.uid || s.qresync) && !has("UID")) items.unshift({ type: "UID" });
    if (has("MODSEQ")) s.condstore = true; // RFC 7162 §3.1: CONDSTORE-enabling
    if (a.changedSince !== null) {
      s.condstore = true;
      if (!has("MODSEQ")) items.push({ type: "MODSEQ" }); // RFC 7162 §3.1.4.1
    }
    if (a.vanished && (!cmd.uid || !s.qresync)) throw bad("VANISHED needs UID FETCH and ENABLE QRESYNC"); // RFC 7162 §3.2.6
    const uids = targetUids(s, a.set, cmd.uid);
    const store = s.services.store;
    const out = { buf: "" };
    if (a.vanished && a.changedSince !== null) {
      const { vanished } = await store.changesSince(sel.mailboxId, fromWire(a.changedSince));
      const inSet = setMatcher(a.set, sel.uids[sel.uids.length - 1] ?? 0, { saved: s.savedUids });
      const wanted = vanished.filter(inSet);
      if (wanted.length > 0) out.buf += `* VANISHED (EARLIER) ${formatSet(wanted, { sort: true })}\r\n`;
    }
    const seen = !sel.readOnly && items.some(setsSeen);
    const structure = needsStructure(items);
    const headerOnly = headerLevelOnly(items);
    // ENVELOPE is the only structure item: a message whose rendered envelope is kept needs nothing else.
    const envelopeOnly = structure && items.every((i) => i.type === "ENVELOPE" || !needsStructure([i]));
    // Items the shared mailbox listing answers (views.ts): no per-message store read at all.
    const listed = !seen && items.every((i) => LISTED_ITEMS.has(i.type)) ? listedMessages((await s.shared.views.get(sel.mailboxId)).messages, uids) : null;
    const renderedFlags = new Map<readonly string[], string>();
    const wantFlags = has("FLAGS");
    for (let i = 0; i < uids.length; i += BATCH) {
      const metas: MessageSummary[] = listed ? listed.slice(i, i + BATCH) : await store.getMessages(sel.mailboxId, uids.slice(i, i + BATCH));
      const addFlags = new Set<number>();
      if (seen) {
        const unseen = metas.filter((m) => !m.flags.includes("\\Seen")).map((m) => m.uid);
        if (unseen.length > 0) {
          const res = await store.storeFlags(sel.mailboxId, unseen, "add", ["\\Seen"]);
          sel.dropOwn(res.changed);
          const byUid = new Map(res.changed.map((c) => [c.uid, c]));
          for (const m of metas) {
            const c = byUid.get(m.uid);
            if (c) {
              m.flags = c.flags;
              m.modseq = c.modseq;
              addFlags.add(m.uid);
            }
          }
        }
      }
      for (const meta of metas) {
        if (a.changedSince !== null && toWire(meta.modseq) <= a.changedSince) continue;
        const seq = sel.seqOf(meta.uid);
        if (seq === 0) continue;
        if (listed) {
          // Listing entries share their flag arrays: each distinct one is noted and rendered once.
          let flags = renderedFlags.get(meta.flags);
          if (flags === undefined) {
            if (wantFlags) out.buf += sel.noteFlags(meta.flags); // RFC 9051 §7.3.5
            renderedFlags.set(meta.flags, (flags = renderFlagList(meta.flags)));
          }
          out.buf += `* ${seq} FETCH (${listedLine(items, meta, flags)})\r\n`;
          if (out.buf.length >= CHUNK) {
            await s.write(out.buf);
            out.buf = "";
          }
          continue;
        }
        const its = addFlags.has(meta.uid) && !has("FLAGS") ? [...items, { type: "FLAGS" } as FetchItem] : items;
        if (its.some((x) => x.type === "FLAGS")) out.buf += sel.noteFlags(meta.flags); // RFC 9051 §7.3.5
        const pieces: Piece[][] = [];
        let streams: Readable[];
        try {
          const load = structure && !(envelopeOnly && s.shared.cache.envelope(meta.id) !== undefined);
          let parsed = load ? s.shared.cache.peek(meta) : null;
          if (load && !parsed && headerOnly) parsed = await s.shared.cache.headerOnly(meta);
          if (load && !parsed) parsed = await s.shared.cache.get(meta);
          for (const it of its) pieces.push(await item(s, it, meta, parsed));
          streams = await openRanges(s, meta, pieces);
        } catch (err) {
          // RFC 2180 §4.1.3: a message expunged meanwhile by another session is left out.
          if (isGone(err)) continue;
          throw err;
        }
        await writeResponse(s, out, seq, meta, pieces, streams);
      }
    }
    if (out.buf) await s.write(out.buf);
  },
});
