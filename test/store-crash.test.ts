// "Nothing acknowledged is lost": a child process appends messages to the store and is killed
// with SIGKILL at random moments, over several rounds on the same data directory. Afterwards
// every acknowledged message must be present with its exact body, every visible message must be
// whole (its payload matches the digest it carries), and checkIntegrity() must find nothing wrong
// (so files orphaned by the kills were cleaned up when the store was reopened). The child also
// copies (shared body files) and expunges (unlink after commit), so kills hit those paths too.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { openStore } from "../src/store/index.js";

const ROUNDS = 8;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const child = path.join(root, "test", "fixtures", "store-crash-child.ts");

interface Ack {
  hash: string;
  size: number;
}

interface Log {
  acks: Map<number, Ack>; // INBOX uid -> body
  copies: Array<[number, number]>; // [INBOX uid, Archive uid], acknowledged
  expunging: Set<number>; // INBOX uids whose expunge started (maybe committed)
  expunged: Set<number>; // INBOX uids whose expunge was acknowledged
}

/** Runs the child until READY, lets it work for `ms`, then SIGKILLs it. Returns what it acknowledged. */
function round(dataDir: string, ms: number): Promise<Log & { stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ["--import", "tsx", child, dataDir], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    const acks = new Map<number, Ack>();
    const copies: Array<[number, number]> = [];
    const expunging = new Set<number>();
    const expunged = new Set<number>();
    let buf = "";
    let stderr = "";
    let ready = false;
    const giveUp = setTimeout(() => {
      p.kill("SIGKILL");
      reject(new Error(`child never became ready: ${stderr}`));
    }, 20_000);
    p.stdout.setEncoding("utf8");
    p.stdout.on("data", (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line === "READY" && !ready) {
          ready = true;
          clearTimeout(giveUp);
          setTimeout(() => p.kill("SIGKILL"), ms);
          continue;
        }
        const m = /^ACK (\d+) ([0-9a-f]{64}) (\d+)$/.exec(line);
        if (m) acks.set(Number(m[1]), { hash: m[2]!, size: Number(m[3]) });
        const c = /^COPY (\d+) (\d+)$/.exec(line);
        if (c) copies.push([Number(c[1]), Number(c[2])]);
        const x = /^EXPUNG(ING|ED) (\d+)$/.exec(line);
        if (x) (x[1] === "ING" ? expunging : expunged).add(Number(x[2]));
      }
      // A partial last line (cut by the kill) is ignored: it was never fully acknowledged.
    });
    p.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    p.on("error", reject);
    p.on("exit", (code, signal) => {
      clearTimeout(giveUp);
      if (!ready) reject(new Error(`child exited early (${code ?? signal}): ${stderr}`));
      else if (signal !== "SIGKILL") reject(new Error(`child exited by itself (${code}): ${stderr}`));
      else resolve({ acks, copies, expunging, expunged, stderr });
    });
  });
}

test("appends survive SIGKILL at random moments; nothing torn is visible", { timeout: 90_000 }, async () => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "portcullis-crash-"));
  try {
    const acked = new Map<number, Ack>();
    const copies = new Map<number, Ack>(); // Archive uid -> body
    const mayBeGone = new Set<number>();
    const gone = new Set<number>();
    for (let i = 0; i < ROUNDS; i++) {
      const log = await round(dataDir, 150 + Math.floor(Math.random() * 900));
      for (const [uid, a] of log.acks) {
        assert.ok(!acked.has(uid), `UID ${uid} acknowledged twice (reused after a crash)`);
        acked.set(uid, a);
      }
      for (const [src, dst] of log.copies) {
        assert.ok(!copies.has(dst), `Archive UID ${dst} acknowledged twice`);
        copies.set(dst, log.acks.get(src)!);
      }
      log.expunging.forEach((u) => mayBeGone.add(u));
      log.expunged.forEach((u) => gone.add(u));
    }
    assert.ok(acked.size > 20, `only ${acked.size} appends were acknowledged`);
    assert.ok(copies.size > 0 && gone.size > 0, `copies ${copies.size}, expunges ${gone.size}: too few to test`);

    const store = await openStore(dataDir);
    try {
      const account = (await store.getAccount("crash@example.test"))!;
      const inbox = (await store.getMailbox(account.id, "INBOX"))!;
      const list = await store.listMessages(inbox.id);
      const byUid = new Map(list.map((m) => [m.uid, m]));
      const archive = (await store.getMailbox(account.id, "Archive"))!;
      const archived = await store.listMessages(archive.id);
      const byArchiveUid = new Map(archived.map((m) => [m.uid, m]));

      // Every acknowledged message is there with exactly the body that was acknowledged, unless
      // its expunge had started; an acknowledged expunge is final.
      for (const [uid, a] of acked) {
        const m = byUid.get(uid);
        if (gone.has(uid)) {
          assert.equal(m, undefined, `expunged UID ${uid} is back`);
          continue;
        }
        if (!m && mayBeGone.has(uid)) continue;
        assert.ok(m, `acknowledged UID ${uid} is missing`);
        assert.equal(m.size, a.size, `UID ${uid} size`);
        const body = await store.readBody(m.id);
        assert.equal(createHash("sha256").update(body).digest("hex"), a.hash, `UID ${uid} body differs`);
      }
      // Every acknowledged copy is there with its source's body, even if the source is expunged.
      for (const [uid, a] of copies) {
        const m = byArchiveUid.get(uid);
        assert.ok(m, `acknowledged Archive UID ${uid} is missing`);
        const body = await store.readBody(m.id);
        assert.equal(createHash("sha256").update(body).digest("hex"), a.hash, `Archive UID ${uid} body differs`);
      }

      // Every visible message (acknowledged or not) is whole.
      for (const m of [...list, ...archived]) {
        const body = await store.readBody(m.id);
        assert.equal(body.length, m.size, `UID ${m.uid}: body has ${body.length} bytes, metadata says ${m.size}`);
        const sep = body.indexOf("\r\n\r\n");
        assert.ok(sep > 0, `UID ${m.uid}: no header/body separator`);
        const digest = /X-Payload-SHA256: ([0-9a-f]{64})/.exec(body.subarray(0, sep).toString())?.[1];
        assert.ok(digest, `UID ${m.uid}: header cut`);
        assert.equal(createHash("sha256").update(body.subarray(sep + 4)).digest("hex"), digest, `UID ${m.uid}: torn body`);
      }

      // UIDs strictly ascending; counters agree; no orphaned files or temp files remain.
      for (let i = 1; i < list.length; i++) assert.ok(list[i]!.uid > list[i - 1]!.uid);
      const status = await store.mailboxStatus(inbox.id);
      assert.equal(status.messages, list.length);
      assert.ok(status.uidNext > Math.max(...acked.keys()));
      const report = await store.checkIntegrity();
      assert.deepEqual(report.problems, []);
      assert.equal(report.ok, true);
      assert.equal(report.messages, list.length + archived.length);

      // The store keeps working after the crashes: the next UID is above everything seen.
      const r = await store.appendMessage(inbox.id, { body: Buffer.from("Subject: after\r\n\r\nstill here\r\n") });
      assert.ok(r.uid >= status.uidNext);
    } finally {
      await store.close();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
