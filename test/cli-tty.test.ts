// Passwords typed at a terminal: `portcullis user add` prompts twice without echo. Run under
// `script` (util-linux), which gives the CLI a real pseudo-terminal.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { runCli, withTempDir } from "./helpers/cli.js";

const TSX = import.meta.resolve("tsx");
const MAIN = new URL("../src/cli/main.ts", import.meta.url).pathname;

/** Runs the CLI on a pseudo-terminal, answering each prompt as it appears. */
function onTerminal(args: string[], answers: Array<[RegExp, string]>): Promise<{ code: number | null; output: string }> {
  const cmd = [process.execPath, "--import", TSX, MAIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(" ");
  const child = spawn("script", ["-qec", cmd, "/dev/null"], { stdio: ["pipe", "pipe", "pipe"] });
  let output = "";
  const pending = [...answers];
  child.stdout.on("data", (d: Buffer) => {
    output += d.toString();
    const next = pending[0];
    if (next && next[0].test(output)) {
      pending.shift();
      output += "\u0000"; // marks where we answered, so the same prompt is not answered twice
      child.stdin.write(next[1]);
    }
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`timed out; output: ${JSON.stringify(output)}`));
    }, 60_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output: output.replace(/\u0000/g, "") });
    });
  });
}

test("user add prompts twice on a terminal without echoing the password", async () => {
  await withTempDir(async (tmp) => {
    const data = join(tmp, "data");
    assert.equal((await runCli(["init", "--data", data, "--domain", "example.org"])).code, 0);
    const cfg = ["--config", join(data, "portcullis.toml")];
    const pw = "Typed-At-A-Terminal-42";
    const r = await onTerminal(["user", "add", "tty@example.org", ...cfg], [
      [/New password: $/, `${pw}\r`],
      [/Repeat password: $/, `${pw}\r`],
    ]);
    assert.equal(r.code, 0, r.output);
    assert.equal(r.output.replace(/\r/g, ""), "New password: \nRepeat password: \ncreated account tty@example.org\n");
    assert.ok(!r.output.includes(pw), "the password is never echoed");

    // Two different entries are refused.
    const mismatch = await onTerminal(["user", "passwd", "tty@example.org", ...cfg], [
      [/New password: $/, `${pw}\r`],
      [/Repeat password: $/, `${pw}x\r`],
    ]);
    assert.equal(mismatch.code, 1);
    assert.match(mismatch.output, /portcullis: the passwords do not match/);
    assert.ok(!mismatch.output.includes(pw));
  });
});
