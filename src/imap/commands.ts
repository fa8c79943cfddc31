// Argument schemas of the IMAP commands (RFC 9051 §6 and §9, with the extensions Portcullis
// advertises): one typed result per command, parsed from a Cursor positioned after the name.
//
// Invariants:
// - Each parser consumes exactly its command's grammar; the caller checks nothing is left over.
// - Mailbox names are returned as sent (after string decoding); the session applies modified
//   UTF-7 decoding for IMAP4rev1 clients (encode.ts mailboxFromWire).
// - Atoms that name keywords (capabilities, mechanisms, status items, options) are upper-cased.

import { Cursor, ImapSyntaxError, utf8, type ExternalLiteral } from "./lexer.js";
import { parseDateTime } from "./encode.js";
import { parseSequenceSet, type SequenceSet } from "./sequence.js";
import { parseSearchProgram, type SearchProgram } from "./search.js";
import { FETCH_MACROS, parseFetchAtt, type FetchItem } from "./fetchatt.js";

export type StatusItem = "MESSAGES" | "UIDNEXT" | "UIDVALIDITY" | "UNSEEN" | "DELETED" | "SIZE" | "HIGHESTMODSEQ" | "RECENT" | "APPENDLIMIT";
const STATUS_ITEMS = new Set<string>(["MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "HIGHESTMODSEQ", "RECENT", "APPENDLIMIT"]);

export interface QresyncParams {
  uidValidity: number;
  modseq: number;
  knownUids: SequenceSet | null;
  /** RFC 7162 §3.2.5.2 seq-match-data: known sequence numbers and their UIDs. */
  seqMatch: { seqs: SequenceSet; uids: SequenceSet } | null;
}

export interface ListArgs {
  reference: string;
  patterns: string[];
  /** True when any RFC 5258 syntax was used (selection or return options, pattern list). */
  extended: boolean;
  select: { subscribed: boolean; remote: boolean; recursiveMatch: boolean; specialUse: boolean };
  return: { subscribed: boolean; children: boolean; specialUse: boolean; status: StatusItem[] | null };
}

export interface CommandArgs {
  CAPABILITY: Record<string, never>;
  NOOP: Record<string, never>;
  LOGOUT: Record<string, never>;
  STARTTLS: Record<string, never>;
  IDLE: Record<string, never>;
  CHECK: Record<string, never>;
  CLOSE: Record<string, never>;
  UNSELECT: Record<string, never>;
  NAMESPACE: Record<string, never>;
  /** UID EXPUNGE carries a set (RFC 4315 §2.1). */
  EXPUNGE: { set: SequenceSet | null };
  /** `initialResponse` is the raw base64 (or "=" for empty) of SASL-IR (RFC 4959 §3). */
  AUTHENTICATE: { mechanism: string; initialResponse: string | null };
  LOGIN: { username: string; password: string };
  ENABLE: { capabilities: string[] };
  /** RFC 2971: null for "ID NIL". */
  ID: { params: Array<[string, string | null]> | null };
  SELECT: { mailbox: string; condstore: boolean; qresync: QresyncParams | null };
  EXAMINE: { mailbox: string; condstore: boolean; qresync: QresyncParams | null };
  /** RFC 6154 §3: CREATE ... (USE (\Sent)). */
  CREATE: { mailbox: string; specialUse: string[] };
  DELETE: { mailbox: string };
  RENAME: { from: string; to: string };
  SUBSCRIBE: { mailbox: string };
  UNSUBSCRIBE: { mailbox: string };
  LIST: ListArgs;
  LSUB: { reference: string; pattern: string };
  STATUS: { mailbox: string; items: StatusItem[] };
  /** `binary`: sent as literal8 (RFC 3516 §4.3); `utf8`: wrapped in UTF8 (...) (RFC 6855 §4). */
  APPEND: { mailbox: string; flags: string[]; date: Date | null; message: Buffer | ExternalLiteral; binary: boolean; utf8: boolean };
  SEARCH: { program: SearchProgram };
  FETCH: { set: SequenceSet; items: FetchItem[]; changedSince: number | null; vanished: boolean };
  STORE: { set: SequenceSet; op: "set" | "add" | "remove"; silent: boolean; flags: string[]; unchangedSince: number | null };
  COPY: { set: SequenceSet; mailbox: string };
  MOVE: { set: SequenceSet; mailbox: string };
  GETQUOTA: { root: string };
  GETQUOTAROOT: { mailbox: string };
}

export type CommandName = keyof CommandArgs;

const NO_ARGS = new Set(["CAPABILITY", "NOOP", "LOGOUT", "STARTTLS", "IDLE", "CHECK", "CLOSE", "UNSELECT", "NAMESPACE"]);

export const COMMAND_NAMES: ReadonlySet<string> = new Set<string>([
  ...NO_ARGS,
  "EXPUNGE", "AUTHENTICATE", "LOGIN", "ENABLE", "ID", "SELECT", "EXAMINE", "CREATE", "DELETE", "RENAME",
  "SUBSCRIBE", "UNSUBSCRIBE", "LIST", "LSUB", "STATUS", "APPEND", "SEARCH", "FETCH", "STORE", "COPY",
  "MOVE", "GETQUOTA", "GETQUOTAROOT",
]);

/** RFC 9051 §6.4.9, RFC 4315 §2.1 (UID EXPUNGE), RFC 6851 §3.2 (UID MOVE). */
export const UID_COMMANDS: ReadonlySet<string> = new Set(["COPY", "MOVE", "FETCH", "SEARCH", "STORE", "EXPUNGE"]);

function seqSet(c: Cursor): SequenceSet {
  const r = parseSequenceSet(c.sequenceToken());
  if ("error" in r) throw new ImapSyntaxError(r.error);
  return r;
}

/** RFC 9051 §9 flag = "\Answered" / ... / flag-keyword / flag-extension ("\" atom). */
export function parseFlag(c: Cursor): string {
  if (c.tryChar("\\")) return "\\" + c.atom("a flag");
  return c.atom("a flag");
}

function mailbox(c: Cursor): string {
  return c.astring("a mailbox name");
}

function statusItems(c: Cursor): StatusItem[] {
  return c.list(() => {
    const a = c.atom("a status item").toUpperCase();
    if (!STATUS_ITEMS.has(a)) throw new ImapSyntaxError(`Unknown status item ${a.slice(0, 40)}`);
    return a as StatusItem;
  }, false);
}

function select(c: Cursor): CommandArgs["SELECT"] {
  c.sp();
  const mb = mailbox(c);
  let condstore = false;
  let qresync: QresyncParams | null = null;
  if (c.trySp()) {
    // RFC 4466 §2.1 select-params; RFC 7162 §3.1.8 CONDSTORE, §3.2.5 QRESYNC
    c.list(() => {
      const p = c.atom("a select parameter").toUpperCase();
      if (p === "CONDSTORE") condstore = true;
      else if (p === "QRESYNC") {
        c.sp();
        c.char("(");
        const uidValidity = c.nzNumber();
        c.sp();
        const modseq = c.modseq(false);
        let knownUids: SequenceSet | null = null;
        let seqMatch: QresyncParams["seqMatch"] = null;
        if (c.trySp()) {
          if (c.peek() !== 0x28) {
            knownUids = seqSet(c);
            if (knownUids.kind === "saved") throw new ImapSyntaxError("$ not allowed here");
            c.trySp();
          }
          if (c.peek() === 0x28) {
            c.char("(");
            const seqs = seqSet(c);
            c.sp();
            const uids = seqSet(c);
            c.char(")");
            seqMatch = { seqs, uids };
          }
        }
        c.char(")");
        qresync = { uidValidity, modseq, knownUids, seqMatch };
      } else throw new ImapSyntaxError(`Unknown SELECT parameter ${p.slice(0, 40)}`);
    }, false);
  }
  return { mailbox: mb, condstore, qresync };
}

function list(c: Cursor): ListArgs {
  c.sp();
  const args: ListArgs = {
    reference: "",
    patterns: [],
    extended: false,
    select: { subscribed: false, remote: false, recursiveMatch: false, specialUse: false },
    return: { subscribed: false, children: false, specialUse: false, status: null },
  };
  if (c.peek() === 0x28) {
    // RFC 5258 §3 list-select-opts
    args.extended = true;
    for (const o of c.list(() => c.atom("a selection option").toUpperCase())) {
      if (o === "SUBSCRIBED") args.select.subscribed = true;
      else if (o === "REMOTE") args.select.remote = true;
      else if (o === "RECURSIVEMATCH") args.select.recursiveMatch = true;
      else if (o === "SPECIAL-USE") args.select.specialUse = true; // RFC 6154 §3
      else throw new ImapSyntaxError(`Unknown LIST selection option ${o.slice(0, 40)}`);
    }
    // RFC 5258 §3: RECURSIVEMATCH alone (without a base option) is a BAD.
    if (args.select.recursiveMatch && !args.select.subscribed && !args.select.specialUse) {
      throw new ImapSyntaxError("RECURSIVEMATCH needs another selection option");
    }
    c.sp();
  }
  args.reference = mailbox(c);
  c.sp();
  if (c.peek() === 0x28) {
    args.extended = true; // RFC 5258 §3 patterns
    args.patterns = c.list(() => c.listMailbox(), false);
  } else {
    args.patterns = [c.listMailbox()];
  }
  if (c.trySp()) {
    if (!c.tryWord("RETURN")) throw new ImapSyntaxError("Expected RETURN");
    args.extended = true;
    c.sp();
    c.list(() => {
      const o = c.atom("a return option").toUpperCase();
      if (o === "SUBSCRIBED") args.return.subscribed = true;
      else if (o === "CHILDREN") args.return.children = true;
      else if (o === "SPECIAL-USE") args.return.specialUse = true; // RFC 6154 §3
      else if (o === "STATUS") {
        c.sp();
        args.return.status = statusItems(c); // RFC 5819 §2
      } else throw new ImapSyntaxError(`Unknown LIST return option ${o.slice(0, 40)}`);
      return o;
    });
  }
  return args;
}

function fetch(c: Cursor): CommandArgs["FETCH"] {
  c.sp();
  const set = seqSet(c);
  c.sp();
  let items: FetchItem[];
  if (c.peek() === 0x28) items = c.list(() => parseFetchAtt(c), false);
  else if (c.tryWord("ALL")) items = FETCH_MACROS.ALL.map((i) => ({ ...i }));
  else if (c.tryWord("FAST")) items = FETCH_MACROS.FAST.map((i) => ({ ...i }));
  else if (c.tryWord("FULL")) items = FETCH_MACROS.FULL.map((i) => ({ ...i }));
  else items = [parseFetchAtt(c)];
  let changedSince: number | null = null;
  let vanished = false;
  if (c.trySp()) {
    // RFC 4466 §2.4 fetch-modifiers; RFC 7162 §3.1.4.1 CHANGEDSINCE, §3.2.6 VANISHED
    c.list(() => {
      const m = c.atom("a fetch modifier").toUpperCase();
      if (m === "CHANGEDSINCE") {
        c.sp();
        changedSince = c.modseq(false);
      } else if (m === "VANISHED") vanished = true;
      else throw new ImapSyntaxError(`Unknown FETCH modifier ${m.slice(0, 40)}`);
      return m;
    }, false);
    // RFC 7162 §3.2.6: VANISHED requires CHANGEDSINCE.
    if (vanished && changedSince === null) throw new ImapSyntaxError("VANISHED requires CHANGEDSINCE");
  }
  return { set, items, changedSince, vanished };
}

function store(c: Cursor): CommandArgs["STORE"] {
  c.sp();
  const set = seqSet(c);
  c.sp();
  let unchangedSince: number | null = null;
  if (c.peek() === 0x28) {
    // RFC 7162 §3.1.3 store-modifier UNCHANGEDSINCE
    c.list(() => {
      const m = c.atom("a store modifier").toUpperCase();
      if (m !== "UNCHANGEDSINCE") throw new ImapSyntaxError(`Unknown STORE modifier ${m.slice(0, 40)}`);
      c.sp();
      unchangedSince = c.modseq(true);
      return m;
    }, false);
    c.sp();
  }
  const word = c.atom("FLAGS").toUpperCase();
  const m = /^([+-]?)FLAGS(\.SILENT)?$/.exec(word);
  if (!m) throw new ImapSyntaxError("Expected FLAGS, +FLAGS or -FLAGS");
  c.sp();
  let flags: string[];
  if (c.peek() === 0x28) flags = c.list(() => parseFlag(c));
  else {
    flags = [parseFlag(c)];
    while (c.trySp()) flags.push(parseFlag(c));
  }
  const op = m[1] === "+" ? "add" : m[1] === "-" ? "remove" : "set";
  return { set, op, silent: m[2] !== undefined, flags, unchangedSince };
}

function append(c: Cursor): CommandArgs["APPEND"] {
  c.sp();
  const mb = mailbox(c);
  c.sp();
  let flags: string[] = [];
  let date: Date | null = null;
  if (c.peek() === 0x28) {
    flags = c.list(() => parseFlag(c));
    c.sp();
  }
  if (c.peek() === 0x22) {
    const s = utf8(c.string());
    date = parseDateTime(s); // RFC 9051 §9 date-time
    if (!date) throw new ImapSyntaxError(`Invalid date-time "${s.slice(0, 40)}"`);
    c.sp();
  }
  // RFC 6855 §4: append-data =/ "UTF8" SP "(" literal8 ")"
  const utf8Wrapped = c.tryWord("UTF8");
  if (utf8Wrapped) {
    c.sp();
    c.char("(");
  }
  if (!c.atString() || c.peek() === 0x22) throw new ImapSyntaxError("Expected the message literal"); // RFC 9051 §9 append: a literal
  const v = c.stringValue();
  if (utf8Wrapped) {
    if (!v.binary) throw new ImapSyntaxError("UTF8 needs a literal8"); // RFC 6855 §4
    c.char(")");
  }
  return { mailbox: mb, flags, date, message: v.data, binary: v.binary, utf8: utf8Wrapped };
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Parses the arguments of `name`; the cursor is right after the command name. */
export function parseArgs(name: CommandName, c: Cursor, uid: boolean): CommandArgs[CommandName] {
  if (NO_ARGS.has(name)) return {};
  switch (name) {
    case "EXPUNGE":
      if (!uid) return { set: null };
      c.sp();
      return { set: seqSet(c) };
    case "AUTHENTICATE": {
      c.sp();
      const mechanism = c.atom("a SASL mechanism").toUpperCase();
      let initialResponse: string | null = null;
      if (c.trySp()) {
        // RFC 4959 §3: initial-response = base64 / "="
        initialResponse = c.astringAtom();
        if (initialResponse !== "=" && (initialResponse.length === 0 || !BASE64.test(initialResponse))) {
          throw new ImapSyntaxError("Invalid initial response");
        }
      }
      return { mechanism, initialResponse };
    }
    case "LOGIN": {
      c.sp();
      const username = c.astring("a user name");
      c.sp();
      const password = c.astring("a password");
      return { username, password };
    }
    case "ENABLE": {
      const capabilities: string[] = [];
      c.sp();
      capabilities.push(c.atom("a capability").toUpperCase());
      while (c.trySp()) capabilities.push(c.atom("a capability").toUpperCase());
      return { capabilities };
    }
    case "ID": {
      c.sp();
      if (c.tryWord("NIL")) return { params: null };
      // RFC 2971 §3.3: at most 30 pairs, field names up to 30 octets, values up to 1024.
      const params = c.list((): [string, string | null] => {
        const k = utf8(c.string());
        c.sp();
        const v = c.nstring();
        if (k.length > 30 || (v !== null && v.length > 1024)) throw new ImapSyntaxError("ID field too long");
        return [k, v];
      });
      if (params.length > 30) throw new ImapSyntaxError("Too many ID fields");
      return { params };
    }
    case "SELECT":
    case "EXAMINE":
      return select(c);
    case "CREATE": {
      c.sp();
      const mb = mailbox(c);
      const specialUse: string[] = [];
      if (c.trySp()) {
        // RFC 4466 §2.2 create-params; RFC 6154 §3 USE (use-attr ...)
        c.list(() => {
          const p = c.atom("a create parameter").toUpperCase();
          if (p !== "USE") throw new ImapSyntaxError(`Unknown CREATE parameter ${p.slice(0, 40)}`);
          c.sp();
          specialUse.push(...c.list(() => parseFlag(c)));
          return p;
        }, false);
      }
      return { mailbox: mb, specialUse };
    }
    case "DELETE":
    case "SUBSCRIBE":
    case "UNSUBSCRIBE":
    case "GETQUOTAROOT":
      c.sp();
      return { mailbox: mailbox(c) };
    case "GETQUOTA":
      c.sp();
      return { root: c.astring("a quota root") };
    case "RENAME": {
      c.sp();
      const from = mailbox(c);
      c.sp();
      return { from, to: mailbox(c) };
    }
    case "LIST":
      return list(c);
    case "LSUB": {
      c.sp();
      const reference = mailbox(c);
      c.sp();
      return { reference, pattern: c.listMailbox() };
    }
    case "STATUS": {
      c.sp();
      const mb = mailbox(c);
      c.sp();
      return { mailbox: mb, items: statusItems(c) };
    }
    case "APPEND":
      return append(c);
    case "SEARCH":
      return { program: parseSearchProgram(c) };
    case "FETCH":
      return fetch(c);
    case "STORE":
      return store(c);
    case "COPY":
    case "MOVE": {
      c.sp();
      const set = seqSet(c);
      c.sp();
      return { set, mailbox: mailbox(c) };
    }
    default:
      throw new ImapSyntaxError("Unknown command");
  }
}
