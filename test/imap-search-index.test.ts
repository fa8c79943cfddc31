// End to end: IMAP SEARCH BODY/TEXT answered by the store's full-text index (Store.searchText).
// A corpus of 50 varied messages (8bit, quoted-printable, base64, HTML alternatives, an embedded
// message/rfc822, RFC 2047 subjects, UTF-8 and Latin-1) is searched through IMAP; the results
// equal the expected UIDs and equal what the body-reading scan answers (the index hidden). A
// mailbox of 20,000 messages answers SEARCH BODY in well under a second; the scan's time on the
// same mailbox is printed beside it. Also: HEADER on a trace field the stored structure omits.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { PASSWORD, RawImap } from "./imap-helpers.js";
import type { Store } from "../src/store/types.js";

let server: TestServer;

before(async () => {
  server = await startTestServer();
});

after(async () => {
  await server?.stop();
});

const COLORS = ["crimson", "azure", "emerald", "amber", "violet", "ochre", "teal"];
const FRUITS = ["mango", "kiwano", "papaya", "lychee", "quince"];

interface Model {
  raw: string;
  body: string; // lower-case words in the body (as the user reads it)
  header: string; // lower-case words in the header
}

const qpEncode = (s: string, charset: "utf-8" | "latin1"): string =>
  [...Buffer.from(s, charset)].map((b) => (b >= 0x21 && b <= 0x7e && b !== 0x3d ? String.fromCharCode(b) : b === 0x20 ? " " : "=" + b.toString(16).toUpperCase().padStart(2, "0"))).join("");

function message(i: number): Model {
  const color = COLORS[i % COLORS.length]!;
  const fruit = FRUITS[i % FRUITS.length]!;
  const greet = i % 3 === 0 ? " Grüße" : "";
  const cyr = i % 4 === 0 && i % 5 !== 4 ? " Привет" : "";
  const words = `Note ${i}: the ${color.toUpperCase()} report${greet}${cyr}.`;
  const subject = i % 2 === 0 ? `=?UTF-8?B?${Buffer.from(`Fruit ${fruit} Ärger`).toString("base64")}?=` : `Fruit ${fruit}`;
  const head = `From: Sender ${i} <s${i}@example.org>\r\nTo: u@example.test\r\nSubject: ${subject}\r\nDate: Sun, 22 Nov 2026 10:00:00 +0000\r\nMessage-ID: <m${i}@example.org>\r\nMIME-Version: 1.0\r\n`;
  const header = `${head}`.toLowerCase().replace(subject.toLowerCase(), `fruit ${fruit}${i % 2 === 0 ? " ärger" : ""}`);
  let raw: string;
  let body = words.toLowerCase();
  switch (i % 5) {
    case 0:
      raw = `${head}Content-Type: text/plain; charset=utf-8\r\n\r\n${words}\r\n`;
      break;
    case 1:
      raw = `${head}Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n${qpEncode(words, "utf-8")}\r\n`;
      break;
    case 2: {
      const b64 = Buffer.from(words + "\r\n").toString("base64").replace(/.{76}/g, "$&\r\n");
      raw = `${head}Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64}\r\n`;
      break;
    }
    case 3:
      raw =
        `${head}Content-Type: multipart/alternative; boundary="b${i}"\r\n\r\n--b${i}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the HTML part.\r\n` +
        `--b${i}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>${words} <i>zebracorn</i></p>\r\n--b${i}--\r\n`;
      body = `see the html part. <p>${words.toLowerCase()} <i>zebracorn</i></p>`;
      break;
    default: {
      const latin = words.replace(" Привет", "");
      raw =
        `${head}Content-Type: multipart/mixed; boundary="m${i}"\r\n\r\n--m${i}\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n${qpEncode(latin, "latin1")}\r\n` +
        `--m${i}\r\nContent-Type: message/rfc822\r\n\r\nSubject: nestedsubject ${i}\r\nFrom: inner@example.org\r\n\r\nnestedbody text\r\n` +
        `--m${i}\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from("binaryblobword").toString("base64")}\r\n--m${i}--\r\n`;
      body = `${latin.toLowerCase()} subject: nestedsubject ${i} from: inner@example.org nestedbody text`;
    }
  }
  return { raw, body, header };
}

async function append(c: RawImap, mailbox: string, msg: string): Promise<void> {
  const r = await c.cmd(`APPEND ${mailbox} {${Buffer.byteLength(msg)}+}\r\n${msg}`);
  assert.match(r, /^t\d+ OK/m, r);
}

async function search(c: RawImap, scope: "BODY" | "TEXT", needle: string, timeoutMs = 5000): Promise<number[]> {
  const r = await c.cmd(`UID SEARCH CHARSET UTF-8 ${scope} {${Buffer.byteLength(needle)}+}\r\n${needle}`, timeoutMs);
  assert.match(r, /^t\d+ OK/m, r);
  const line = /^\* SEARCH([ \d]*)\r$/m.exec(r);
  assert.ok(line, r);
  return line[1]!.trim() === "" ? [] : line[1]!.trim().split(" ").map(Number);
}

/** Runs `fn` with the store's index hidden from IMAP, so SEARCH reads every body (the scan). */
async function withoutIndex<T>(fn: () => Promise<T>): Promise<T> {
  const store = server.services.store as Store & { searchText?: unknown };
  Object.defineProperty(store, "searchText", { value: undefined, configurable: true, writable: true });
  try {
    return await fn();
  } finally {
    delete store.searchText;
  }
}

test("SEARCH BODY/TEXT through the index equals the expected UIDs and the scan, on 50 varied messages", async () => {
  await server.addUser("fts@example.test", PASSWORD);
  const c = await RawImap.connect(server, { implicitTls: true });
  try {
    await c.login("fts@example.test");
    const corpus = Array.from({ length: 50 }, (_, i) => message(i));
    for (const m of corpus) await append(c, "INBOX", m.raw);
    assert.match(await c.cmd("SELECT INBOX"), /^\* 50 EXISTS/m);
    assert.ok(typeof server.services.store.searchText === "function");

    const expected = (scope: "BODY" | "TEXT", needle: string): number[] => {
      const n = needle.toLowerCase();
      return corpus.flatMap((m, i) => (m.body.includes(n) || (scope === "TEXT" && m.header.includes(n)) ? [i + 1] : []));
    };
    const needles: Array<["BODY" | "TEXT", string]> = [
      ["BODY", "crimson"],
      ["BODY", "EMERALD REP"],
      ["TEXT", "Teal"],
      ["BODY", "mango"], // only in the Subject
      ["TEXT", "mango"],
      ["TEXT", "KIWANO"],
      ["BODY", "grüße"],
      ["BODY", "GRÜẞE"],
      ["BODY", "привет"],
      ["TEXT", "ПРИВЕТ"],
      ["TEXT", "ärger"], // RFC 2047 encoded-word in the Subject
      ["BODY", "ärger"],
      ["BODY", "zebracorn"], // only in the HTML part
      ["BODY", "nestedsubject"], // the embedded message's header is body text
      ["BODY", "nestedbody"],
      ["BODY", "note 1"],
      ["TEXT", "s12@example.org"],
      ["BODY", "s12@example.org"],
      ["BODY", "absent-word"],
      ["BODY", "binaryblobword"], // only in a binary attachment: not text
    ];
    for (const [scope, needle] of needles) {
      const got = await search(c, scope, needle);
      assert.deepEqual(got, expected(scope, needle), `${scope} ${needle}`);
      const none = (scope === "BODY" && ["mango", "ärger", "s12@example.org"].includes(needle)) || needle === "absent-word" || needle === "binaryblobword"; // header-only words, binary
      assert.equal(got.length === 0, none, `${scope} ${needle}: ${got.length} matches`);
    }
    // The index and the scan answer alike, for the needles above and boilerplate ones.
    const more: Array<["BODY" | "TEXT", string]> = [...needles, ["BODY", "the"], ["TEXT", "example"], ["TEXT", "content-type"], ["BODY", "report."]];
    const viaIndex = [];
    for (const [scope, needle] of more) viaIndex.push(await search(c, scope, needle));
    const viaScan = await withoutIndex(async () => {
      const out = [];
      for (const [scope, needle] of more) out.push(await search(c, scope, needle));
      return out;
    });
    assert.deepEqual(viaIndex, viaScan);
    // Short needles use the scan; combinations mix both.
    assert.deepEqual(await search(c, "BODY", "te"), expected("BODY", "te"));
    const r = await c.cmd("UID SEARCH CHARSET UTF-8 BODY crimson NOT BODY {2+}\r\nü OR TEXT kiwano BODY note");
    const want = corpus.flatMap((m, i) => (m.body.includes("crimson") && !m.body.includes("ü") ? [i + 1] : []));
    assert.match(r, new RegExp(`^\\* SEARCH${want.map((u) => " " + u).join("")}\\r$`, "m"));

    // COPY shares the body: the copy is found in its mailbox; EXPUNGE removes it from results.
    await c.cmd("UID COPY 1:5 Archive");
    await c.cmd("SELECT Archive");
    assert.deepEqual(await search(c, "BODY", "crimson"), [1]);
    await c.cmd("UID STORE 1 +FLAGS (\\Deleted)");
    await c.cmd("EXPUNGE");
    assert.deepEqual(await search(c, "BODY", "crimson"), []);
    await c.cmd("SELECT INBOX");
    assert.deepEqual(await search(c, "BODY", "crimson"), expected("BODY", "crimson"));
  } finally {
    c.close();
  }
});

test("SEARCH HEADER on a trace field the stored structure leaves out (Received)", async () => {
  await server.addUser("fts-received@example.test", PASSWORD);
  const c = await RawImap.connect(server, { implicitTls: true });
  try {
    await c.login("fts-received@example.test");
    await append(c, "INBOX", "Received: from relay.example.org by mx.example.test; Sun, 22 Nov 2026 10:00:00 +0000\r\nSubject: traced\r\n\r\nhi\r\n");
    await append(c, "INBOX", "Subject: untraced\r\n\r\nhi\r\n");
    await c.cmd("SELECT INBOX");
    assert.match(await c.cmd("UID SEARCH HEADER Received relay.example"), /^\* SEARCH 1\r$/m);
    assert.match(await c.cmd('UID SEARCH HEADER Received ""'), /^\* SEARCH 1\r$/m);
    assert.match(await c.cmd("UID SEARCH NOT HEADER Received relay"), /^\* SEARCH 2\r$/m);
  } finally {
    c.close();
  }
});

test("SEARCH BODY on a mailbox of 20,000 messages answers in well under a second", async () => {
  const account = await server.addUser("fts-big@example.test", PASSWORD);
  const store = server.services.store;
  const inbox = (await store.getMailbox(account.id, "INBOX"))!;
  const N = 20_000;
  const t0 = Date.now();
  const CONCURRENCY = 256;
  const uidOf = new Array<number>(N);
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = next++; i < N; i = next++) {
        const needle = i % 1000 === 7 ? " rarewordxyz" : "";
        const body = `From: s${i}@example.org\r\nSubject: bulk ${i}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBulk message number ${i} about ${COLORS[i % 7]}${needle} and nothing else.\r\n`;
        uidOf[i] = (await store.appendMessage(inbox.id, { body: Buffer.from(body) })).uid;
      }
    }),
  );
  console.log(`# stored ${N} messages in ${Date.now() - t0} ms`);
  const uids = (pick: (i: number) => boolean): number[] => uidOf.filter((_, i) => pick(i)).sort((a, b) => a - b);
  const expected = uids((i) => i % 1000 === 7);
  const c = await RawImap.connect(server, { implicitTls: true });
  try {
    await c.login("fts-big@example.test");
    assert.match(await c.cmd("SELECT INBOX", 30_000), /^\* 20000 EXISTS/m);
    await search(c, "BODY", "warmup", 30_000); // the session's listing of the mailbox is cached after this
    const t1 = performance.now();
    const got = await search(c, "BODY", "RareWordXyz", 30_000);
    const indexMs = performance.now() - t1;
    assert.deepEqual(got, expected);
    const t2 = performance.now();
    const text = await search(c, "TEXT", "bulk 1999", 30_000);
    const textMs = performance.now() - t2;
    assert.deepEqual(
      text,
      uids((i) => String(i).startsWith("1999")),
    );
    const t3 = performance.now();
    const scanned = await withoutIndex(() => search(c, "BODY", "RareWordXyz", 300_000));
    const scanMs = performance.now() - t3;
    assert.deepEqual(scanned, expected);
    console.log(
      `# SEARCH BODY over ${N} messages: index ${indexMs.toFixed(0)} ms, TEXT ${textMs.toFixed(0)} ms; scan (every body read) ${scanMs.toFixed(0)} ms`,
    );
    assert.ok(indexMs < 3000, `SEARCH BODY took ${indexMs} ms`);
    assert.ok(textMs < 3000, `SEARCH TEXT took ${textMs} ms`);
  } finally {
    c.close();
  }
});
