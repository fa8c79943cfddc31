// `portcullis queue list|show ID|retry ID|retry --all|delete ID`: the outbound queue.
//
// Works on the store directly, so it works whether or not the server runs; a running server sees
// the changes at its next poll (within a second). `retry` makes a message due now; `delete`
// removes it without a notice to the sender (the operator's decision).

import type { Command } from "commander";
import { StoreError, type QueuedMessage } from "../store/types.js";
import { CliError, withConfig, withStore, out, table } from "./common.js";

function pendingCount(m: QueuedMessage): number {
  return m.recipients.filter((r) => r.status === "pending").length;
}

function describe(m: QueuedMessage): string {
  const lines = [
    `id:            ${m.id}`,
    `sender:        <${m.sender}>`,
    `domain:        ${m.domain}`,
    `size:          ${m.size}`,
    `queued:        ${m.createdAt.toISOString()}`,
    `attempts:      ${m.attempts}`,
    `next attempt:  ${m.nextAttemptAt.toISOString()}`,
    `last error:    ${m.lastError ?? "-"}`,
    `delay notice:  ${m.delayNoticeSent ? "sent" : "not sent"}`,
    "recipients:",
    ...m.recipients.map((r) => `  ${r.status.padEnd(9)} <${r.address}>${r.lastReply ? `  ${r.lastReply}` : ""}`),
  ];
  return lines.join("\n");
}

export function registerQueue(program: Command): void {
  const queue = program.command("queue").description("the outbound queue: list, show, retry, delete");

  withConfig(queue.command("list").description("list queued messages")).action(async (_o: unknown, cmd: Command) => {
    await withStore(cmd, async ({ store }) => {
      const all = await store.listQueue();
      if (all.length === 0) return out("queue is empty");
      process.stdout.write(
        table([
          ["ID", "QUEUED", "SENDER", "DOMAIN", "PENDING", "ATTEMPTS", "NEXT", "LAST ERROR"],
          ...all.map((m) => [
            m.id,
            m.createdAt.toISOString(),
            `<${m.sender}>`,
            m.domain,
            `${pendingCount(m)}/${m.recipients.length}`,
            String(m.attempts),
            m.nextAttemptAt.toISOString(),
            (m.lastError ?? "-").slice(0, 80),
          ]),
        ]),
      );
      out(`${all.length} message(s)`);
    });
  });

  withConfig(queue.command("show <id>").description("show one queued message and its recipients")).action(async (id: string, _o: unknown, cmd: Command) => {
    await withStore(cmd, async ({ store }) => {
      const m = await store.getQueued(id.trim());
      if (!m) throw new CliError(`no queued message ${id}`);
      out(describe(m));
    });
  });

  withConfig(
    queue
      .command("retry [id]")
      .description("try a message (or, with --all, every message) again now")
      .option("--all", "every queued message"),
  ).action(async (id: string | undefined, o: { all?: boolean }, cmd: Command) => {
    if ((id === undefined) === !o.all) throw new CliError("give a queue id or --all");
    await withStore(cmd, async ({ store }) => {
      const ids = o.all ? (await store.listQueue()).map((m) => m.id) : [id!.trim()];
      const now = new Date();
      let n = 0;
      for (const qid of ids) {
        try {
          await store.updateQueued(qid, { nextAttemptAt: now });
          n++;
        } catch (e) {
          if (e instanceof StoreError && e.code === "not-found") {
            if (!o.all) throw new CliError(`no queued message ${qid}`);
            continue; // delivered meanwhile
          }
          throw e;
        }
      }
      out(`${n} message(s) scheduled for immediate retry`);
    });
  });

  withConfig(queue.command("delete <id>").description("remove a message from the queue (no notice to the sender)")).action(
    async (id: string, _o: unknown, cmd: Command) => {
      await withStore(cmd, async ({ store }) => {
        try {
          await store.deleteQueued(id.trim());
        } catch (e) {
          if (e instanceof StoreError && e.code === "not-found") throw new CliError(`no queued message ${id}`);
          throw e;
        }
        out(`deleted ${id.trim()}`);
      });
    },
  );
}
