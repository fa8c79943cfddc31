// Content-Transfer-Encoding decoding (RFC 2045 §6), shared by IMAP (BINARY fetches, RFC 3516)
// and the store's full-text extractor. Pure: no I/O, never throws on message content.

/** Decodes a part body (RFC 2045 §6). null for an unknown encoding (IMAP BINARY answers
 * NO [UNKNOWN-CTE], RFC 3516 §4.3). */
export function decodeTransferEncoding(body: Buffer, encoding: string | null): Buffer | null {
  const e = (encoding ?? "7bit").trim().toLowerCase();
  if (e === "7bit" || e === "8bit" || e === "binary") return body;
  if (e === "base64") return Buffer.from(body.toString("latin1").replace(/[^A-Za-z0-9+/]/g, ""), "base64");
  if (e === "quoted-printable") return decodeQuotedPrintable(body);
  return null;
}

/** RFC 2045 §6.7 quoted-printable, lenient: invalid escapes are kept literally. */
export function decodeQuotedPrintable(b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(b.length);
  let o = 0;
  const hex = (c: number) => (c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x41 && c <= 0x46 ? c - 55 : c >= 0x61 && c <= 0x66 ? c - 87 : -1);
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c !== 0x3d) {
      out[o++] = c;
      continue;
    }
    // soft line break: "=" followed by optional white space and a line end
    let j = i + 1;
    while (j < b.length && (b[j] === 0x20 || b[j] === 0x09)) j++;
    if (b[j] === 0x0d && b[j + 1] === 0x0a) {
      i = j + 1;
      continue;
    }
    if (b[j] === 0x0a) {
      i = j;
      continue;
    }
    const h = hex(b[i + 1] ?? -1);
    const l = hex(b[i + 2] ?? -1);
    if (h >= 0 && l >= 0) {
      out[o++] = h * 16 + l;
      i += 2;
    } else out[o++] = c;
  }
  return Buffer.from(out.subarray(0, o));
}
