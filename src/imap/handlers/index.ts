// The command table: every IMAP command the parser knows, mapped to its handler. Static, so
// the set of commands (and the states each is allowed in) is visible in one place.
import type { CommandName } from "../parser.js";
import type { Handler } from "./types.js";
import capability from "./capability.js";
import noop from "./noop.js";
import check from "./check.js";
import logout from "./logout.js";
import starttls from "./starttls.js";
import login from "./login.js";
import authenticate from "./authenticate.js";
import enable from "./enable.js";
import id from "./id.js";
import namespace from "./namespace.js";
import { select, examine } from "./select.js";
import create from "./create.js";
import del from "./delete.js";
import rename from "./rename.js";
import { subscribe, unsubscribe } from "./subscribe.js";
import list from "./list.js";
import lsub from "./lsub.js";
import status from "./status.js";
import append from "./append.js";
import close from "./close.js";
import unselect from "./unselect.js";
import expunge from "./expunge.js";
import search from "./search.js";
import fetch from "./fetch.js";
import store from "./store.js";
import { copy, move } from "./copy.js";
import idle from "./idle.js";
import { getquota, getquotaroot } from "./quota.js";

export type { SessionState } from "./types.js";

export const HANDLERS: { readonly [K in CommandName]: Handler<K> } = {
  CAPABILITY: capability,
  NOOP: noop,
  LOGOUT: logout,
  STARTTLS: starttls,
  IDLE: idle,
  CHECK: check,
  CLOSE: close,
  UNSELECT: unselect,
  NAMESPACE: namespace,
  EXPUNGE: expunge,
  AUTHENTICATE: authenticate,
  LOGIN: login,
  ENABLE: enable,
  ID: id,
  SELECT: select,
  EXAMINE: examine,
  CREATE: create,
  DELETE: del,
  RENAME: rename,
  SUBSCRIBE: subscribe,
  UNSUBSCRIBE: unsubscribe,
  LIST: list,
  LSUB: lsub,
  STATUS: status,
  APPEND: append,
  SEARCH: search,
  FETCH: fetch,
  STORE: store,
  COPY: copy,
  MOVE: move,
  GETQUOTA: getquota,
  GETQUOTAROOT: getquotaroot,
};
