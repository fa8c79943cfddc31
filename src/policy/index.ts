// The security policy, assembled from the configuration: access rules, the persistent ban list,
// connection limits and the brute-force throttle (threat model §2, §4, §5). The server builds one
// policy at start-up, hands access/bans/limiter to the gate and the throttle to the auth engine,
// and calls bans.refresh() every few seconds so `portcullis ban` changes made by the CLI apply.
//
// Invariants: a bad rule or never_ban entry is a start-up error (AddressError naming the key);
// all state except bans is in memory; one clock (`now`, injectable for tests) drives everything.

import type { Config } from "../config/schema.js";
import type { Store } from "../store/types.js";
import type { AuditLogger } from "../log/audit.js";
import type { AccessPolicy, AuthThrottle, BanList, ConnectionLimiter } from "./types.js";
import { createAccessPolicy } from "./access.js";
import { PersistentBanList, type BanStore } from "./bans.js";
import { Limiter } from "./limiter.js";
import { SlidingThrottle } from "./throttle.js";

export interface Policy {
  access: AccessPolicy;
  bans: BanList & { refresh(): Promise<void> };
  limiter: ConnectionLimiter;
  throttle: AuthThrottle;
}

export async function createPolicy(o: { config: Config; store: Store | BanStore; log: AuditLogger; now?: () => number }): Promise<Policy> {
  const now = o.now ?? Date.now;
  const access = createAccessPolicy(o.config.access);
  const bans = await PersistentBanList.load({ store: o.store, auth: o.config.auth, log: o.log, now });
  const limiter = new Limiter({ limits: o.config.limits, now });
  const throttle = new SlidingThrottle({ auth: o.config.auth, bans, now, log: o.log });
  return { access, bans, limiter, throttle };
}

export type { AccessPolicy, AuthThrottle, BanList, ConnectionLimiter } from "./types.js";
export { AddressError, isLoopback, networkKey, normalizeIp, normalizeSubject, parseCidr, parseIp } from "./cidr.js";
export { PersistentBanList } from "./bans.js";
export { Limiter } from "./limiter.js";
export { SlidingThrottle } from "./throttle.js";
export { StaticAccessPolicy } from "./access.js";
