// IP addresses and CIDR networks: strict parsing, canonical text and matching.
//
// Everything the policy decides about a client starts from its address, so this parser is strict
// and total: it either returns a valid address or throws an AddressError saying what is wrong.
// Invariants:
// - IPv4-mapped IPv6 addresses ("::ffff:192.0.2.1", RFC 4291 §2.5.5.2) are IPv4 addresses: Node
//   reports IPv4 clients of dual-stack sockets that way, and a rule written for 192.0.2.0/24 must
//   catch them. A network written in mapped form with a prefix of at least 96 is an IPv4 network.
// - An IPv6 network never matches an IPv4 address (so "::/0" means "all of IPv6", not everything).
// - Dotted quads are decimal only, without leading zeros ("010.0.0.1" is refused rather than
//   guessed as octal), and with exactly four parts ("127.1" is refused).
// - Canonical text follows RFC 5952 §4 (lower case, no leading zeros, longest run of zero groups
//   compressed), so two spellings of one address compare equal as strings.
// - A zone id ("fe80::1%eth0", RFC 4007 §11) is accepted on an IPv6 address and ignored; it is
//   refused on a network and on IPv4.
// Pure functions, no I/O.

export class AddressError extends Error {
  constructor(
    readonly input: string,
    readonly problem: string,
  ) {
    super(`invalid IP address or network ${JSON.stringify(input.length > 64 ? input.slice(0, 64) + "…" : input)}: ${problem}`);
    this.name = "AddressError";
  }
}

export type IpFamily = 4 | 6;

/** A parsed address. IPv4 values are 32-bit, IPv6 values 128-bit. */
export interface Ip {
  readonly family: IpFamily;
  readonly value: bigint;
}

/** A parsed network: `base` has no bits set beyond `prefix`. */
export interface Cidr {
  readonly family: IpFamily;
  readonly base: bigint;
  readonly prefix: number;
}

/** Longer input is refused before parsing: the longest valid text (IPv6 with an embedded IPv4,
 * a zone id and a prefix) is well under this. */
const MAX_INPUT = 128;

const DEC_OCTET = /^(?:0|[1-9][0-9]{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;
const PREFIX = /^(?:0|[1-9][0-9]{0,2})$/;
const ZONE = /^[0-9A-Za-z_.~-]{1,64}$/;
const MAPPED_PREFIX = 0xffffn << 32n; // ::ffff:0:0/96

export function familyBits(family: IpFamily): number {
  return family === 4 ? 32 : 128;
}

/** The netmask of `prefix` bits as an integer of the family's width. */
export function prefixMask(family: IpFamily, prefix: number): bigint {
  const width = BigInt(familyBits(family));
  const all = (1n << width) - 1n;
  return all ^ ((1n << (width - BigInt(prefix))) - 1n);
}

function parseV4(text: string, input: string): bigint {
  const parts = text.split(".");
  if (parts.length !== 4) throw new AddressError(input, "an IPv4 address has four dot-separated decimal parts");
  let value = 0n;
  for (const part of parts) {
    if (!DEC_OCTET.test(part)) throw new AddressError(input, `IPv4 part ${JSON.stringify(part)} is not a decimal number without leading zeros`);
    const n = Number(part);
    if (n > 255) throw new AddressError(input, `IPv4 part ${part} is greater than 255`);
    value = (value << 8n) | BigInt(n);
  }
  return value;
}

/** RFC 4291 §2.2: eight hex groups, one "::" standing for one or more zero groups, and an
 * optional dotted-quad IPv4 address in place of the last two groups. */
function parseV6(text: string, input: string): bigint {
  if (!/^[0-9a-fA-F:.]+$/.test(text)) throw new AddressError(input, "unexpected character in an IPv6 address");
  const first = text.indexOf("::");
  if (first !== -1 && text.indexOf("::", first + 1) !== -1) throw new AddressError(input, `"::" may appear only once`);

  const toGroups = (part: string, isLast: boolean): number[] => {
    if (part === "") return [];
    const pieces = part.split(":");
    const out: number[] = [];
    pieces.forEach((piece, i) => {
      if (piece.includes(".")) {
        if (!isLast || i !== pieces.length - 1) throw new AddressError(input, "an embedded IPv4 address may only end an IPv6 address");
        const v4 = parseV4(piece, input);
        out.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
      } else {
        if (!HEX_GROUP.test(piece)) throw new AddressError(input, piece === "" ? "empty group (stray colon)" : `group ${JSON.stringify(piece)} is not 1 to 4 hex digits`);
        out.push(parseInt(piece, 16));
      }
    });
    return out;
  };

  let groups: number[];
  if (first === -1) {
    groups = toGroups(text, true);
    if (groups.length !== 8) throw new AddressError(input, `an IPv6 address without "::" has 8 groups, not ${groups.length}`);
  } else {
    const head = toGroups(text.slice(0, first), false);
    const tail = toGroups(text.slice(first + 2), true);
    const missing = 8 - head.length - tail.length;
    if (missing < 1) throw new AddressError(input, `too many groups around "::"`);
    groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  }
  let value = 0n;
  for (const g of groups) value = (value << 16n) | BigInt(g);
  return value;
}

interface RawAddress {
  family: IpFamily;
  value: bigint;
  /** True when written as an IPv4-mapped IPv6 address (the value is then the IPv4 one). */
  mapped: boolean;
}

function parseAddressText(text: string, input: string, allowZone: boolean): RawAddress {
  if (text === "") throw new AddressError(input, "empty");
  if (text.includes(":")) {
    let addr = text;
    const pct = text.indexOf("%");
    if (pct !== -1) {
      if (!allowZone) throw new AddressError(input, "a zone id is not allowed here");
      const zone = text.slice(pct + 1);
      if (!ZONE.test(zone)) throw new AddressError(input, "invalid zone id");
      addr = text.slice(0, pct);
    }
    const value = parseV6(addr, input);
    if (value >> 32n === 0xffffn) return { family: 4, value: value & 0xffffffffn, mapped: true }; // RFC 4291 §2.5.5.2
    return { family: 6, value, mapped: false };
  }
  if (text.includes("%")) throw new AddressError(input, "a zone id is only allowed on an IPv6 address");
  return { family: 4, value: parseV4(text, input), mapped: false };
}

function checkInput(input: unknown): string {
  if (typeof input !== "string") throw new AddressError(String(input), "not a string");
  if (input.length > MAX_INPUT) throw new AddressError(input, `longer than ${MAX_INPUT} characters`);
  return input;
}

/** Parses an IPv4 or IPv6 address (mapped IPv4 becomes IPv4; a zone id is ignored). */
export function parseIp(input: string): Ip {
  const text = checkInput(input);
  if (text.includes("/")) throw new AddressError(input, "a network, not an address");
  const raw = parseAddressText(text, input, true);
  return { family: raw.family, value: raw.value };
}

/** parseIp that returns null instead of throwing. */
export function tryParseIp(input: string): Ip | null {
  try {
    return parseIp(input);
  } catch (err) {
    if (err instanceof AddressError) return null;
    throw err;
  }
}

/** Parses "address/prefix", or a bare address (a /32 or /128 network). Host bits beyond the
 * prefix are cleared ("192.0.2.7/24" is 192.0.2.0/24), as the operator's intent is the network. */
export function parseCidr(input: string): Cidr {
  const text = checkInput(input);
  const slash = text.indexOf("/");
  const addrText = slash === -1 ? text : text.slice(0, slash);
  const raw = parseAddressText(addrText, input, false);
  let prefix: number;
  if (slash === -1) {
    prefix = familyBits(raw.family);
  } else {
    const p = text.slice(slash + 1);
    if (!PREFIX.test(p)) throw new AddressError(input, "the prefix length is not a decimal number");
    prefix = Number(p);
    const width = raw.mapped ? 128 : familyBits(raw.family);
    if (prefix > width) throw new AddressError(input, `the prefix length is greater than ${width}`);
    if (raw.mapped) {
      if (prefix >= 96) {
        prefix -= 96; // ::ffff:a.b.c.d/120 is a.b.c.0/24
      } else {
        // Wider than ::ffff:0:0/96: an IPv6 network that also spans non-mapped addresses.
        const v6 = MAPPED_PREFIX | raw.value;
        return { family: 6, base: v6 & prefixMask(6, prefix), prefix };
      }
    }
  }
  return { family: raw.family, base: raw.value & prefixMask(raw.family, prefix), prefix };
}

/** True when `ip` is inside `net`. Families never cross (see the module comment). */
export function cidrContains(net: Cidr, ip: Ip): boolean {
  return net.family === ip.family && (ip.value & prefixMask(net.family, net.prefix)) === net.base;
}

function formatV4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String(Number((value >> s) & 0xffn))).join(".");
}

/** RFC 5952 §4: lower case, no leading zeros, the longest run (first if tied) of two or more
 * zero groups replaced by "::". */
function formatV6(value: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 1; // RFC 5952 §4.2.2: a single zero group is not compressed
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(":");
  if (bestStart === -1) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

export function formatIp(ip: Ip): string {
  return ip.family === 4 ? formatV4(ip.value) : formatV6(ip.value);
}

/** "192.0.2.0/24"; a full-length network is written as a bare address. */
export function formatCidr(net: Cidr): string {
  const addr = formatIp({ family: net.family, value: net.base });
  return net.prefix === familyBits(net.family) ? addr : `${addr}/${net.prefix}`;
}

/** The canonical text of an address ("::FFFF:192.0.2.1" -> "192.0.2.1"). Throws AddressError. */
export function normalizeIp(input: string): string {
  return formatIp(parseIp(input));
}

/** The canonical text of a ban subject or rule: a bare address for a single host, else "net/len". */
export function normalizeSubject(input: string): string {
  return formatCidr(parseCidr(input));
}

function checkPrefix(name: string, prefix: number, max: number): void {
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) throw new RangeError(`${name} must be an integer from 0 to ${max}, not ${prefix}`);
}

/** The network of `ip` at the given prefix, as CIDR text: networkKey("192.0.2.77", 24, 64) is
 * "192.0.2.0/24"; networkKey("2001:db8:1:2:3::9", 24, 64) is "2001:db8:1:2::/64". */
export function networkKey(ip: string | Ip, prefixV4: number, prefixV6: number): string {
  checkPrefix("prefixV4", prefixV4, 32);
  checkPrefix("prefixV6", prefixV6, 128);
  const a = typeof ip === "string" ? parseIp(ip) : ip;
  const prefix = a.family === 4 ? prefixV4 : prefixV6;
  const net: Cidr = { family: a.family, base: a.value & prefixMask(a.family, prefix), prefix };
  return `${formatIp({ family: net.family, value: net.base })}/${prefix}`;
}

const LOOPBACK_V4: Cidr = { family: 4, base: 0x7f000000n, prefix: 8 }; // RFC 1122 §3.2.1.3 (g)

/** 127.0.0.0/8 (also in mapped form) or ::1 (RFC 4291 §2.5.3). Throws AddressError on bad input. */
export function isLoopback(ip: string | Ip): boolean {
  const a = typeof ip === "string" ? parseIp(ip) : ip;
  return a.family === 4 ? cidrContains(LOOPBACK_V4, a) : a.value === 1n;
}

/** An ordered list of networks, each kept with the text it was written as. */
export class NetworkList {
  private constructor(private readonly entries: ReadonlyArray<{ text: string; net: Cidr }>) {}

  /** Parses every entry; an invalid one throws an AddressError naming `where[i]`. */
  static parse(list: readonly string[], where = "networks"): NetworkList {
    return new NetworkList(
      list.map((text, i) => {
        try {
          return { text, net: parseCidr(text) };
        } catch (err) {
          if (err instanceof AddressError) throw new AddressError(text, `${err.problem} (in ${where}[${i}])`);
          throw err;
        }
      }),
    );
  }

  get size(): number {
    return this.entries.length;
  }

  /** The text of the first network containing `ip`, or null. */
  match(ip: Ip): string | null {
    for (const e of this.entries) if (cidrContains(e.net, ip)) return e.text;
    return null;
  }

  /** True when all of `net` lies inside one of the listed networks. */
  covers(net: Cidr): boolean {
    return this.entries.some((e) => e.net.family === net.family && e.net.prefix <= net.prefix && (net.base & prefixMask(net.family, e.net.prefix)) === e.net.base);
  }
}
