// Access rules by address and network, checked before the greeting (threat model §5).
//
// In the spirit of TCP Wrappers (hosts_access(5): hosts.allow, then hosts.deny): for a connection
// on listener L the rules are tried in this order, and the first that contains the client decides:
//   1. access.listener.L.allow   2. access.listener.L.deny   3. access.allow   4. access.deny
// No match means allowed. Invariants: every rule is parsed when the policy is built (a bad rule is
// a start-up error naming its key), a check is pure and does no I/O, and an address that cannot be
// parsed is refused (fail closed) rather than waved through.

import type { Config } from "../config/schema.js";
import type { AccessDecision, AccessPolicy } from "./types.js";
import { NetworkList, tryParseIp } from "./cidr.js";

interface RuleSet {
  action: "allow" | "deny";
  scope: string; // "listener imap" or "global"
  networks: NetworkList;
}

export class StaticAccessPolicy implements AccessPolicy {
  private readonly global: RuleSet[];
  private readonly perListener = new Map<string, RuleSet[]>();

  constructor(access: Config["access"]) {
    this.global = [
      { action: "allow", scope: "global", networks: NetworkList.parse(access.allow, "access.allow") },
      { action: "deny", scope: "global", networks: NetworkList.parse(access.deny, "access.deny") },
    ];
    for (const [name, rules] of Object.entries(access.listener)) {
      const scope = `listener ${name}`;
      this.perListener.set(name, [
        { action: "allow", scope, networks: NetworkList.parse(rules.allow, `access.listener.${name}.allow`) },
        { action: "deny", scope, networks: NetworkList.parse(rules.deny, `access.listener.${name}.deny`) },
        ...this.global,
      ]);
    }
  }

  check(listenerName: string, ip: string): AccessDecision {
    const addr = tryParseIp(ip);
    if (!addr) return { allowed: false, rule: "deny unparsable client address" };
    for (const set of this.perListener.get(listenerName) ?? this.global) {
      const hit = set.networks.match(addr);
      if (hit !== null) return { allowed: set.action === "allow", rule: `${set.action} ${hit} (${set.scope})` };
    }
    return { allowed: true, rule: null };
  }
}

/** Builds the access policy from config.access; throws an AddressError naming a bad rule. */
export function createAccessPolicy(access: Config["access"]): AccessPolicy {
  return new StaticAccessPolicy(access);
}
