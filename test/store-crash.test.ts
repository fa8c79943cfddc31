// "Nothing acknowledged is lost": a child process appends messages to the store and is killed
// with SIGKILL at random moments, over several rounds on the same data directory. Afterwards
// every acknowledged message must be present with its exact body, every visible message must be
// whole (its payload matches the digest it carries), and checkIntegrity() must find nothing wrong
// (so files orphaned by the kills were cleaned up when the store was reopened).

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

/** Runs the child until READY, lets it append for `ms`, then SIGKILLs it. Returns its ACKs. */
function round(dataDir: string, ms: number): Promise<{ acks: Map<number, Ack>; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ["--import", "tsx", child, dataDir], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    const acks = new Map<number, Ack>();
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
      }
      // A partial last line (cut by the kill) is ignored: it was never fully acknowledged.
    });
    p.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    p.on("error", reject);
    p.on("exit", (code, signal) => {
      clearTimeout(giveUp);
      if (!ready) reject(new Error(`child exited early (${code ?? signal}): ${stderr}`));
      else if (signal !== "SIGKILL") reject(new Error(`child exited by itself (${code}): ${stderr}`));
      else resolve({ acks, stderr });
    });
  });
}

test("appends survive SIGKILL at random moments; nothing torn is visible", { timeout: 90_000 }, async () => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "portcullis-crash-"));
  try {
    const acked = new Map<number, Ack>();
    for (let i = 0; i < ROUNDS; i++) {
      const { acks } = await round(dataDir, 150 + Math.floor(Math.random() * 900));
      for (const [uid, a] of acks) {
        assert.ok(!acked.has(uid), `UID ${uid} acknowledged twice (reused after a crash)`);
        acked.set(uid, a);
      }
    }
    assert.ok(acked.size > 20, `only ${acked.size} appends were acknowledged`);

    const store = await openStore(dataDir);
    try {
      const account = (await store.getAccount("crash@example.test"))!;
      const inbox = (await store.getMailbox(account.id, "INBOX"))!;
      const list = await store.listMessages(inbox.id);
      const byUid = new Map(list.map((m) => [m.uid, m]));

      // Every acknowledged message is there with exactly the body that was acknowledged.
      for (const [uid, a] of acked) {
        const m = byUid.get(uid);
        assert.ok(m, `acknowledged UID ${uid} is missing`);
        assert.equal(m.size, a.size, `UID ${uid} size`);
        const body = await store.readBody(m.id);
        assert.equal(createHash("sha256").update(body).digest("hex"), a.hash, `UID ${uid} body differs`);
      }

      // Every visible message (acknowledged or not) is whole.
      for (const m of list) {
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
      assert.equal(report.messages, list.length);

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
