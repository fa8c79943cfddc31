// SEARCH and UID SEARCH (RFC 9051 §6.4.4) with ESEARCH (RFC 4731), SEARCHRES "$" saving
// (RFC 5182) and MODSEQ (RFC 7162 §3.1.5). Flags, dates, sizes and header keys are evaluated
// from the metadata and stored structure (a header field the structure omits or truncates is
// read from the body file's header). BODY/TEXT needles of 3 characters or more are answered by
// the store's full-text index (Store.searchText), one query per needle; shorter needles, or a
// store that cannot answer, fall back to reading each candidate body once.
import type { MessageMeta } from "../../store/types.js";
import type { SearchKey } from "../search.js";
import { compileSearch, renderEsearch, renderSearch, savedResult, textNeedles, usesModseq } from "../search.js";
import { searchView } from "../searchview.js";
import { parseHeaderFields, type HeaderField, type ParsedMessage } from "../mime.js";
import type { ImapSession } from "../session/session.js";
import { searchableText } from "../session/textsearch.js";
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

/** Does the key read header fields or the Date: header (so an unparsed message must be parsed)? */
function needsHeaders(k: SearchKey): boolean {
  switch (k.type) {
    case "header":
      return true;
    case "date":
      return k.which === "sent";
    case "and":
      return k.keys.some(needsHeaders);
    case "or":
      return needsHeaders(k.a) || needsHeaders(k.b);
    case "not":
      return needsHeaders(k.key);
    default:
      return false;
  }
}

/** Lower-case names of the header fields HEADER keys of the program read. */
function headerFields(k: SearchKey, out: Set<string> = new Set()): Set<string> {
  if (k.type === "header") out.add(k.field);
  else if (k.type === "and") k.keys.forEach((x) => headerFields(x, out));
  else if (k.type === "or") {
    headerFields(k.a, out);
    headerFields(k.b, out);
  } else if (k.type === "not") headerFields(k.key, out);
  return out;
}

const needleKey = (scope: "body" | "text", needle: string): string => `${scope}\0${needle}`;

export default handler({
  name: "SEARCH",
  states: SELECTED,
  async run(s, cmd) {
    const sel = s.selected!;
    const prog = cmd.args.program;
    const modseqUsed = usesModseq(prog.key);
    if (modseqUsed) s.condstore = true; // RFC 7162 §3.1: CONDSTORE-enabling
    const store = s.services.store;
    const all = await store.listMessages(sel.mailboxId);
    const byUid = new Map<number, MessageMeta>(all.map((m) => [m.uid, m]));
    const pred = compileSearch(prog.key, { messageCount: sel.exists, maxUid: sel.uids[sel.uids.length - 1] ?? 0, saved: s.savedUids });
    const needles = textNeedles(prog.key);
    const headers = needsHeaders(prog.key);
    const wanted = [...headerFields(prog.key)];
    // BODY/TEXT through the index where it can answer; the rest by reading bodies.
    const indexed = new Map<string, Set<number>>();
    let scan = false;
    for (const { scope, needle } of needles) {
      const key = needleKey(scope, needle);
      if (indexed.has(key)) continue;
      const hits = store.searchText ? await store.searchText(sel.mailboxId, scope === "body" ? { body: [needle] } : { text: [needle] }) : null;
      if (hits) indexed.set(key, hits);
      else scan = true;
    }
    const nums: number[] = [];
    const matchedUids: number[] = [];
    let maxModseq = 0;
    for (let i = 0; i < sel.uids.length; i++) {
      const uid = sel.uids[i]!;
      const meta = byUid.get(uid);
      if (!meta) continue; // expunged by another session, not yet announced
      let parsed: ParsedMessage | null = s.shared.cache.peek(meta);
      let scanned: ((scope: "body" | "text", needle: string) => boolean) = () => false;
      let readHeader: ((name: string) => string[]) | null = null;
      try {
        if (scan) {
          const body = await store.readBody(meta.id);
          parsed ??= await s.shared.cache.get(meta);
          const t = searchableText(body, parsed); // transfer encodings and charsets undone
          scanned = (scope, needle) => (scope === "text" ? t.text : t.body).includes(needle);
        } else if (!parsed && headers) {
          // Stored without a structure (e.g. delivered by SMTP): read only its header.
          parsed = (await s.shared.cache.headerOnly(meta)) ?? (await s.shared.cache.get(meta));
        }
        const p = parsed;
        if (p && headers && (p.headersTruncated || wanted.some((f) => (p.headersOmitted ?? []).includes(f)))) {
          // The stored header fields stop at MAX_SEARCH_HEADER_BYTES, or leave out bulky trace
          // fields (Received, DKIM-Signature, ...): read the whole header.
          const fields = await readHeaderFields(s, meta.id, p.root.bodyStart);
          readHeader = (name) => fields.filter((f) => f.name.toLowerCase() === name).map((f) => f.value);
        }
      } catch (err) {
        if (isGone(err)) continue; // expunged meanwhile by another session
        throw err;
      }
      const text = (scope: "body" | "text", needle: string): boolean => indexed.get(needleKey(scope, needle))?.has(uid) ?? scanned(scope, needle);
      const view = searchView({ seq: i + 1, meta: { ...meta, modseq: toWire(meta.modseq) }, parsed, textMatches: text, ...(readHeader ? { readHeader } : {}) });
      if (pred(view)) {
        nums.push(cmd.uid ? uid : i + 1);
        matchedUids.push(uid);
        if (meta.modseq > maxModseq) maxModseq = meta.modseq;
      }
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
