// The outbound SMTP client against scripted peers on loopback: pipelining, per-recipient
// results, dot-stuffing on the wire, SIZE/SMTPUTF8 refusals, and hostile servers (over-long
// lines, silence) that must cost a bounded amount of memory and time.

import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { Readable } from "node:stream";
import { SmtpClient, SmtpClientError } from "./client.js";

/** A peer answering each command line through `answer`; records what it received. */
async function peer(answer: (line: string, s: Socket) => string | null, greeting = "220 peer ESMTP\r\n"): Promise<{ server: Server; port: number; received: string[]; writes: string[] }> {
  const received: string[] = [];
  const writes: string[] = [];
  const server = createServer((s) => {
    if (greeting) s.write(greeting);
    let buf = "";
    let inData = false;
    s.on("data", (d: Buffer) => {
      writes.push(d.toString("latin1"));
      buf += d.toString("latin1");
      let i: number;
      while ((i = buf.indexOf("\r\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        received.push(line);
        if (inData) {
          if (line === ".") {
            inData = false;
            s.write("250 2.0.0 queued\r\n");
          }
          continue;
        }
        const a = answer(line, s);
        if (a !== null) s.write(a);
        if (a?.startsWith("354")) inData = true;
      }
    });
    s.on("error", () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as { port: number }).port, received, writes };
}

const stop = (s: Server): Promise<void> => new Promise((r) => s.close(() => r()));
const body = (text: string) => async () => Readable.from([Buffer.from(text)]);

test("pipelined MAIL+RCPTs in one write, per-recipient results, dot-stuffed DATA", async () => {
  const p = await peer((l) => {
    if (l.startsWith("EHLO")) return "250-peer\r\n250-PIPELINING\r\n250-SIZE 100000\r\n250 8BITMIME\r\n";
    if (l.startsWith("MAIL")) return "250 2.1.0 ok\r\n";
    if (l === "RCPT TO:<bad@x.test>") return "550 5.1.1 no such user\r\n";
    if (l === "RCPT TO:<later@x.test>") return "450 4.2.1 try later\r\n";
    if (l.startsWith("RCPT")) return "250 2.1.5 ok\r\n";
    if (l === "DATA") return "354 go\r\n";
    if (l === "QUIT") return "221 bye\r\n";
    return "500 what\r\n";
  });
  try {
    const c = await SmtpClient.connect({ host: "127.0.0.1", port: p.port });
    await c.hello("client.test");
    assert.ok(c.has("pipelining"));
    const r = await c.send(
      { from: "a@me.test", to: ["good@x.test", "bad@x.test", "later@x.test"], size: 20, eightBit: true, smtputf8: false },
      body("Subject: t\r\n\r\n.dot\r\nend"),
    );
    assert.deepEqual(
      r.recipients.map((x) => [x.address, x.reply.code, x.delivered]),
      [["good@x.test", 250, true], ["bad@x.test", 550, false], ["later@x.test", 450, false]],
    );
    assert.ok(p.writes.some((w) => w === "MAIL FROM:<a@me.test> SIZE=20 BODY=8BITMIME\r\nRCPT TO:<good@x.test>\r\nRCPT TO:<bad@x.test>\r\nRCPT TO:<later@x.test>\r\n"), p.writes.join("|"));
    const i = p.received.indexOf("DATA");
    assert.deepEqual(p.received.slice(i + 1, i + 6), ["Subject: t", "", "..dot", "end", "."]);
    await c.quit();
  } finally {
    await stop(p.server);
  }
});

test("SIZE over the server's limit and SMTPUTF8 without support are refused before MAIL", async () => {
  const p = await peer((l) => (l.startsWith("EHLO") ? "250-peer\r\n250 SIZE 1000\r\n" : "250 ok\r\n"));
  try {
    const c = await SmtpClient.connect({ host: "127.0.0.1", port: p.port });
    await c.hello("client.test");
    const big = await c.send({ from: "a@b", to: ["c@d"], size: 5000, eightBit: false, smtputf8: false }, body("x"));
    assert.equal(big.recipients[0]!.reply.code, 552);
    const utf8 = await c.send({ from: "a@b", to: ["ü@d"], size: 10, eightBit: false, smtputf8: true }, body("x"));
    assert.equal(utf8.recipients[0]!.reply.enhanced, "5.6.7");
    assert.ok(!p.received.some((l) => l.startsWith("MAIL")));
    c.close();
  } finally {
    await stop(p.server);
  }
});

test("HELO fallback when EHLO is refused; no pipelining then", async () => {
  const p = await peer((l) => (l.startsWith("EHLO") ? "502 5.5.1 no\r\n" : l.startsWith("HELO") ? "250 peer\r\n" : l === "DATA" ? "354 go\r\n" : "250 ok\r\n"));
  try {
    const c = await SmtpClient.connect({ host: "127.0.0.1", port: p.port });
    await c.hello("client.test");
    assert.equal(c.esmtp, false);
    const r = await c.send({ from: "a@b", to: ["c@d", "e@f"], size: 3, eightBit: false, smtputf8: false }, body("x\r\n"));
    assert.ok(r.recipients.every((x) => x.delivered));
    assert.ok(p.writes.some((w) => w === "MAIL FROM:<a@b>\r\n"), "one command per write without PIPELINING");
    c.close();
  } finally {
    await stop(p.server);
  }
});

test("hostile peers: replies nobody asked for are bounded", async () => {
  const p = await peer((l) => (l.startsWith("EHLO") ? "250 peer\r\n" + "250 unsolicited\r\n".repeat(5000) : "250 ok\r\n"));
  try {
    const c = await SmtpClient.connect({ host: "127.0.0.1", port: p.port });
    await c.hello("client.test");
    await assert.rejects(
      (async () => {
        for (let i = 0; i < 10; i++) {
          await new Promise((r) => setTimeout(r, 50));
          await c.command("NOOP");
        }
      })(),
      /too many replies read ahead/,
    );
    c.close();
  } finally {
    await stop(p.server);
  }
});

test("hostile peers: an endless line, a silent server, a 554 greeting", async () => {
  const flood = await peer(() => null, "");
  flood.server.on("connection", (s) => s.write("220-" + "x".repeat(10_000)));
  const silent = await peer(() => null, "");
  const refusing = await peer(() => null, "554 5.7.1 go away\r\n");
  try {
    await assert.rejects(SmtpClient.connect({ host: "127.0.0.1", port: flood.port }), (e: unknown) => e instanceof SmtpClientError && e.temporary && /too long/.test(e.message));
    const t0 = Date.now();
    await assert.rejects(SmtpClient.connect({ host: "127.0.0.1", port: silent.port, timeouts: { greeting: 300 } }), /timed out/);
    assert.ok(Date.now() - t0 < 5_000);
    await assert.rejects(SmtpClient.connect({ host: "127.0.0.1", port: refusing.port }), (e: unknown) => e instanceof SmtpClientError && e.reply?.code === 554);
  } finally {
    await Promise.all([stop(flood.server), stop(silent.server), stop(refusing.server)]);
  }
});
