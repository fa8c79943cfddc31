// Tests of untagged response writers and response codes.

import { test } from "node:test";
import assert from "node:assert/strict";
import { appendUidCode, copyUidCode, renderEnabled, renderId, renderList, renderQuota, renderQuotaRoot, renderStatus, renderVanished } from "./responses.js";
import { mailboxToWire } from "./encode.js";

test("STATUS and LIST lines", () => {
  assert.equal(renderStatus(mailboxToWire("INBOX", true), [["MESSAGES", 3], ["UNSEEN", 1], ["HIGHESTMODSEQ", 90]]), "* STATUS INBOX (MESSAGES 3 UNSEEN 1 HIGHESTMODSEQ 90)\r\n");
  assert.equal(renderStatus(mailboxToWire("Sent Items", false), [["SIZE", 0]]), '* STATUS "Sent Items" (SIZE 0)\r\n');
  assert.equal(renderList("LIST", ["\\HasNoChildren", "\\Sent"], "/", mailboxToWire("Sent", true)), '* LIST (\\HasNoChildren \\Sent) "/" Sent\r\n');
  assert.equal(renderList("LIST", ["\\Noselect"], null, '""'), '* LIST (\\Noselect) NIL ""\r\n');
  assert.equal(renderList("LIST", [], "/", "Foo", ["SUBSCRIBED"]), '* LIST () "/" Foo ("CHILDINFO" ("SUBSCRIBED"))\r\n');
  assert.equal(renderList("LSUB", [], "/", mailboxToWire("Entwürfe", false)), '* LSUB () "/" Entw&APw-rfe\r\n');
});

test("VANISHED, COPYUID, APPENDUID", () => {
  assert.equal(renderVanished([7, 1, 2, 3], true), "* VANISHED (EARLIER) 1:3,7\r\n");
  assert.equal(renderVanished([5], false), "* VANISHED 5\r\n");
  assert.equal(renderVanished([], false), null);
  assert.equal(copyUidCode(38505, [[304, 3956], [319, 3957], [320, 3958]]), "COPYUID 38505 304,319:320 3956:3958");
  assert.equal(copyUidCode(1, []), null);
  assert.equal(appendUidCode(38505, 3955), "APPENDUID 38505 3955");
});

test("ENABLED, QUOTA, QUOTAROOT, ID", () => {
  assert.equal(renderEnabled(["CONDSTORE", "QRESYNC"]), "* ENABLED CONDSTORE QRESYNC\r\n");
  assert.equal(renderEnabled([]), "* ENABLED\r\n");
  assert.equal(renderQuota("", 1500, 10 * 1024 * 1024), '* QUOTA "" (STORAGE 2 10240)\r\n');
  assert.equal(renderQuotaRoot("INBOX", [""]), '* QUOTAROOT INBOX ""\r\n');
  assert.equal(renderId([["name", "Portcullis"], ["version", null]]), '* ID ("name" "Portcullis" "version" NIL)\r\n');
  assert.equal(renderId(null), "* ID NIL\r\n");
});
