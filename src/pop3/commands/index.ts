// The static registry of POP3 commands: keyword -> definition. APOP is deliberately absent
// (RFC 1939 §7: it needs the plain password on the server). The session looks commands up here
// and checks their states in one place.

import type { Command } from "./types.js";
import { AUTH } from "./auth.js";
import { CAPA } from "./capa.js";
import { DELE } from "./dele.js";
import { LIST } from "./list.js";
import { NOOP } from "./noop.js";
import { PASS } from "./pass.js";
import { QUIT } from "./quit.js";
import { RETR } from "./retr.js";
import { RSET } from "./rset.js";
import { STAT } from "./stat.js";
import { STLS } from "./stls.js";
import { TOP } from "./top.js";
import { UIDL } from "./uidl.js";
import { USER } from "./user.js";

export const COMMANDS: ReadonlyMap<string, Command> = new Map(
  [AUTH, CAPA, DELE, LIST, NOOP, PASS, QUIT, RETR, RSET, STAT, STLS, TOP, UIDL, USER].map((c) => [c.name, c]),
);
