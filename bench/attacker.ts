// The attacker of the `attack` benchmark, run as its own process so that its work does not slow
// the legitimate client's measurements in the benchmark process: `loops` parallel POP3S
// connections from 127.0.0.2 sending USER/PASS with wrong passwords for one account, as fast as
// the server answers; a refused or closed connection is retried at once. Stops on SIGTERM and
// prints {attempts, refused, replies} as JSON on stdout.
// Usage: node --import tsx bench/attacker.ts PORT USER [LOOPS]

import { Wire } from "./lib/wire.js";

const port = Number(process.argv[2]);
const user = process.argv[3] ?? "victim@example.test";
const loops = Number(process.argv[4] ?? 8);
let attempts = 0;
let refused = 0;
let stop = false;
const replies = new Set<string>();

async function loop(): Promise<void> {
  while (!stop) {
    let w: Wire;
    try {
      w = await Wire.connect({ port, tls: true, localAddress: "127.0.0.2", connectTimeoutMs: 5000 });
    } catch {
      refused++;
      await new Promise((r) => setTimeout(r, 5));
      continue;
    }
    try {
      const g = await w.readLine(5000);
      if (!g?.startsWith("+OK")) {
        refused++;
        if (g && replies.size < 6) replies.add(g.slice(0, 80));
        continue;
      }
      while (!stop && !w.ended) {
        attempts++;
        w.write(`USER ${user}\r\nPASS wrong-${attempts}\r\n`);
        // One reply to USER, one to PASS. A reply that does not come in time leaves the two out
        // of step (the late one would be read as the next USER's): start over on a new
        // connection rather than read the next "+OK" (to USER) as a successful PASS.
        const u = await w.readLine(10_000);
        const r = u === null ? null : await w.readLine(10_000);
        for (const reply of [u, r]) if (reply && !reply.startsWith("+OK") && replies.size < 6) replies.add(reply.slice(0, 80));
        if (u === null || r === null) break;
        if (!u.startsWith("+OK")) continue; // USER refused (e.g. throttled): PASS was refused too
        if (r.startsWith("+OK")) throw new Error(`attacker logged in?! (${r.slice(0, 80)})`);
      }
    } finally {
      w.close();
    }
  }
}

process.on("SIGTERM", () => (stop = true));
await Promise.all(Array.from({ length: loops }, loop));
process.stdout.write(JSON.stringify({ attempts, refused, replies: [...replies] }) + "\n");
