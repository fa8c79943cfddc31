// The parse-once cache: a message stored without an IMAP structure (MessageMeta.parsed is null,
// e.g. delivered by SMTP or POP3 tooling) is parsed once with the foundation MIME parser and kept
// in a small in-memory LRU shared by all IMAP sessions of one server.
//
// It also keeps the rendered ENVELOPE of recently fetched messages (FETCH ENVELOPE is what mail
// clients ask for most), so a repeated fetch neither decodes the stored structure nor, for a
// message stored without one, reads its header from the body file again.
//
// Invariants: the cache is bounded (entries and total parsed-message size; envelope text by
// MAX_ENVELOPE_CHARS); a cached structure or envelope is keyed by the store-wide message id,
// which is never reused, and a stored body never changes.

import type { MessageMeta, Store } from "../../store/types.js";

/** What the cache needs of a message: a listing entry without `parsed` is read from the body. */
type Msg = Pick<MessageMeta, "id" | "size"> & { parsed?: unknown };
import { findBodyStart, isParsedMessage, parseMessage, type ParsedMessage } from "../mime.js";

const MAX_ENTRIES = 512;
/** Characters of rendered envelopes kept (oldest first out). */
export const MAX_ENVELOPE_CHARS = 8 * 1024 * 1024;
/** Octets read to find the header of an unparsed message for header SEARCH keys. */
const HEADER_PROBE = 64 * 1024;

export class ParsedCache {
  private readonly map = new Map<number, ParsedMessage>();
  private readonly envelopes = new Map<number, string>();
  private envelopeChars = 0;

  constructor(private readonly store: Store) {}

  /** The rendered ENVELOPE of a message, when kept. */
  envelope(messageId: number): string | undefined {
    return this.envelopes.get(messageId);
  }

  keepEnvelope(messageId: number, rendered: string): void {
    if (this.envelopes.has(messageId)) return;
    this.envelopes.set(messageId, rendered);
    this.envelopeChars += rendered.length + 32;
    for (const [id, r] of this.envelopes) {
      if (this.envelopeChars <= MAX_ENVELOPE_CHARS) break;
      this.envelopes.delete(id);
      this.envelopeChars -= r.length + 32;
    }
  }

  /** The stored or cached structure, without reading anything; null when neither exists. */
  peek(meta: Msg): ParsedMessage | null {
    if (isParsedMessage(meta.parsed)) return meta.parsed;
    return this.map.get(meta.id) ?? null;
  }

  /**
   * The header fields and envelope only, for SEARCH on a message stored without a structure:
   * reads just the header (at most HEADER_PROBE octets), not the body. null when the header is
   * longer than that (the caller parses the whole message then).
   */
  async headerOnly(meta: Msg): Promise<ParsedMessage | null> {
    const end = Math.min(meta.size, HEADER_PROBE);
    if (end === 0) return parseMessage(Buffer.alloc(0));
    const stream = await this.store.openBody(meta.id, { start: 0, end: end - 1 });
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as string));
    const buf = Buffer.concat(chunks);
    const bodyStart = findBodyStart(buf, 0, buf.length);
    if (bodyStart === buf.length && meta.size > buf.length) return null;
    return parseMessage(buf.subarray(0, bodyStart));
  }

  /** The stored structure, or the cached one, or the body parsed now (and cached). */
  async get(meta: Msg): Promise<ParsedMessage> {
    if (isParsedMessage(meta.parsed)) return meta.parsed;
    const hit = this.map.get(meta.id);
    if (hit) {
      this.map.delete(meta.id);
      this.map.set(meta.id, hit);
      return hit;
    }
    const body = await this.store.readBody(meta.id);
    const parsed = parseMessage(body);
    this.map.set(meta.id, parsed);
    if (this.map.size > MAX_ENTRIES) {
      const oldest = this.map.keys().next().value;
      if (oldest !== undefined) this.map.delete(oldest);
    }
    return parsed;
  }
}
