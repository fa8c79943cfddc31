// Fake SaslHooks for the mechanism tests: records every call and answers from a table of users.

import type { Account, ScramCredentials } from "../../store/types.js";
import type { AuthFailureReason, PasswordResult } from "../types.js";
import { failure, type SaslFailure, type SaslHooks, type ScramLookup } from "./common.js";

export interface FakeUser {
  password?: string;
  scram?: ScramCredentials;
}

export function fakeAccount(address: string): Account {
  return { id: 1, address, domainId: 1, credentials: null, quotaBytes: null, disabled: false, createdAt: new Date(0) };
}

export class FakeHooks implements SaslHooks {
  readonly calls: Array<{ fn: string; args: unknown[] }> = [];
  refuse: SaslFailure | null = null;

  constructor(private readonly users: Record<string, FakeUser> = {}) {}

  async verifyPassword(username: string, password: string): Promise<PasswordResult> {
    this.calls.push({ fn: "verifyPassword", args: [username, password] });
    const u = this.users[username.toLowerCase()];
    if (u?.password !== undefined && u.password === password) return { ok: true, account: fakeAccount(username.toLowerCase()) };
    return { ok: false, reason: "invalid-credentials", message: "authentication failed" };
  }

  async begin(username: string): Promise<ScramLookup> {
    this.calls.push({ fn: "begin", args: [username] });
    if (this.refuse) return { kind: "refused", step: this.refuse };
    const u = this.users[username];
    if (!u?.scram) return { kind: "proceed", account: null, scram: null };
    return { kind: "proceed", account: fakeAccount(username), scram: u.scram };
  }

  succeed(account: Account): void {
    this.calls.push({ fn: "succeed", args: [account.address] });
  }

  async fail(reason: AuthFailureReason, message: string, username: string | null, guess: boolean): Promise<SaslFailure> {
    this.calls.push({ fn: "fail", args: [reason, message, username, guess] });
    return failure(reason, message);
  }

  names(): string[] {
    return this.calls.map((c) => c.fn);
  }
}
