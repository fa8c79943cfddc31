// The SQLite database of the embedded store: connection settings, schema and migrations.
//
// Invariants kept by the schema itself (triggers), so no code path can forget them:
// - mailboxes.messages/unseen/deleted/size always equal the aggregates over that mailbox's rows
//   in `messages` (mailboxStatus reads one row, never scans);
// - blobs.refs always equals the number of `messages` and `queue` rows pointing at the blob;
//   a blob whose refs drops to 0 is deleted in the same transaction and its file unlinked after
//   the commit; its inline data (blob_data) and its listing for indexing (text_pending) are
//   deleted with it (its row in the search index, text.db, never matches again: searches check
//   the blob's name).
// - ids of domains, accounts, aliases, mailboxes and messages are never reused (AUTOINCREMENT):
//   a stale id held by a session can never reach another user's mailbox or message.
// The schema version is kept in `schema_version`; MIGRATIONS[i] upgrades version i to i+1.

import Database from "better-sqlite3";

export type DB = Database.Database;

const MIGRATIONS: string[] = [
  // 0 -> 1: the initial schema.
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);

  CREATE TABLE domains (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    catch_all TEXT,
    created_at INTEGER NOT NULL
  );

  CREATE TABLE accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    address TEXT NOT NULL UNIQUE,
    domain_id INTEGER NOT NULL REFERENCES domains(id),
    credentials TEXT,
    quota_bytes INTEGER,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX accounts_domain ON accounts(domain_id);

  CREATE TABLE aliases (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    address TEXT NOT NULL UNIQUE,
    domain_id INTEGER NOT NULL REFERENCES domains(id),
    targets TEXT NOT NULL
  );
  CREATE INDEX aliases_domain ON aliases(domain_id);

  CREATE TABLE mailboxes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    special_use TEXT,
    subscribed INTEGER NOT NULL DEFAULT 1,
    uid_validity INTEGER NOT NULL,
    uid_next INTEGER NOT NULL DEFAULT 1,
    highest_modseq INTEGER NOT NULL DEFAULT 0,
    messages INTEGER NOT NULL DEFAULT 0,
    unseen INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL DEFAULT 0,
    UNIQUE (account_id, name)
  );

  -- One row per body file. No foreign keys point here (refs is the integrity mechanism), so
  -- deleting a blob row never scans the messages table.
  CREATE TABLE blobs (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    refs INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX blobs_unreferenced ON blobs(id) WHERE refs <= 0;

  CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid INTEGER NOT NULL,
    modseq INTEGER NOT NULL,
    flags TEXT NOT NULL,
    seen INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    internal_date INTEGER NOT NULL,
    size INTEGER NOT NULL,
    blob_id INTEGER NOT NULL,
    parsed TEXT,
    UNIQUE (mailbox_id, uid)
  );
  CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);
  CREATE INDEX messages_deleted ON messages(mailbox_id, uid) WHERE deleted = 1;

  -- RFC 7162 §3.2.5.2: expunged UIDs with the MODSEQ of their expunge, for VANISHED (EARLIER).
  CREATE TABLE expunged (
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid INTEGER NOT NULL,
    modseq INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
  ) WITHOUT ROWID;
  CREATE INDEX expunged_modseq ON expunged(mailbox_id, modseq);

  CREATE TABLE bans (
    subject TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    offences INTEGER NOT NULL
  );

  CREATE TABLE queue (
    id TEXT PRIMARY KEY,
    sender TEXT NOT NULL,
    recipients TEXT NOT NULL,
    domain TEXT NOT NULL,
    size INTEGER NOT NULL,
    blob_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    delay_notice_sent INTEGER NOT NULL DEFAULT 0,
    meta TEXT
  );
  CREATE INDEX queue_due ON queue(next_attempt_at);

  CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN
    UPDATE mailboxes SET messages = messages + 1, unseen = unseen + 1 - NEW.seen,
      deleted = deleted + NEW.deleted, size = size + NEW.size WHERE id = NEW.mailbox_id;
    UPDATE blobs SET refs = refs + 1 WHERE id = NEW.blob_id;
  END;
  CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN
    UPDATE mailboxes SET messages = messages - 1, unseen = unseen - 1 + OLD.seen,
      deleted = deleted - OLD.deleted, size = size - OLD.size WHERE id = OLD.mailbox_id;
    UPDATE blobs SET refs = refs - 1 WHERE id = OLD.blob_id;
  END;
  CREATE TRIGGER messages_au AFTER UPDATE OF seen, deleted ON messages BEGIN
    UPDATE mailboxes SET unseen = unseen + OLD.seen - NEW.seen,
      deleted = deleted + NEW.deleted - OLD.deleted WHERE id = NEW.mailbox_id;
  END;
  CREATE TRIGGER queue_ai AFTER INSERT ON queue BEGIN
    UPDATE blobs SET refs = refs + 1 WHERE id = NEW.blob_id;
  END;
  CREATE TRIGGER queue_ad AFTER DELETE ON queue BEGIN
    UPDATE blobs SET refs = refs - 1 WHERE id = OLD.blob_id;
  END;
  `,
  // 1 -> 2: the full-text index of message text (IMAP SEARCH BODY/TEXT). One row per blob (a body
  // shared by COPY is indexed once), rowid = blobs.id; contentless (the text lives in the body
  // file), trigram-tokenised so any substring of >= 3 characters is found. Rows of messages
  // stored before this version are listed in text_pending to be indexed (since migration 4 the
  // index lives in text.db; textindex.ts); search reads bodies while many are pending.
  `
  CREATE VIRTUAL TABLE message_text USING fts5(
    header, body, tokenize = 'trigram case_sensitive 0', content = '', contentless_delete = 1
  );
  CREATE TABLE text_pending (blob_id INTEGER PRIMARY KEY);
  INSERT INTO text_pending (blob_id) SELECT DISTINCT blob_id FROM messages;
  -- The index row goes with the blob row, whichever path deletes it (commit, recovery).
  CREATE TRIGGER blobs_ad AFTER DELETE ON blobs BEGIN
    DELETE FROM message_text WHERE rowid = OLD.id;
    DELETE FROM text_pending WHERE blob_id = OLD.id;
  END;
  `,
  // 2 -> 3: small bodies stored in the database itself (blobs.ts INLINE_MAX): one row per inline
  // blob, written in the transaction of its blob row and deleted with it. A body here has no
  // file: it costs no file creation, file fsync or directory fsync, only its share of the commit.
  `
  CREATE TABLE blob_data (blob_id INTEGER PRIMARY KEY, data BLOB NOT NULL);
  CREATE TRIGGER blobs_ad_data AFTER DELETE ON blobs BEGIN
    DELETE FROM blob_data WHERE blob_id = OLD.id;
  END;
  `,
  // 3 -> 4: the full-text index moves to its own database (text.db, textschema.ts), written by the
  // indexer thread (textworker.ts) so that tokenising never runs on the event loop. text_pending
  // stays here as the durable list of bodies to index; every message body is listed again and
  // re-indexed into text.db after the upgrade.
  `
  DROP TRIGGER blobs_ad;
  DROP TABLE message_text;
  CREATE TRIGGER blobs_ad AFTER DELETE ON blobs BEGIN
    DELETE FROM text_pending WHERE blob_id = OLD.id;
  END;
  INSERT OR IGNORE INTO text_pending (blob_id) SELECT DISTINCT blob_id FROM messages;
  `,
  // 4 -> 5: a covering index for listing a mailbox (messages.ts listSummaries: IMAP SELECT, POP3
  // login), so a listing reads this index only, never the rows with their stored structures.
  `
  CREATE INDEX IF NOT EXISTS messages_listing ON messages(mailbox_id, uid, id, modseq, flags, internal_date, size);
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Opens (creating if needed) the database file and brings its schema up to date. */
export function openDatabase(file: string): DB {
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  // Commits do not fsync: the committer fsyncs the WAL in the thread pool before acknowledging
  // any write (context.ts WalSync), so nothing acknowledged is lost and the event loop never
  // waits for the disk. Checkpoints still fsync the WAL before and the database after copying.
  db.pragma("synchronous = NORMAL");
  // After a checkpoint lets the WAL start over, its file is cut back to this size (a burst of mail
  // must not leave a WAL file of hundreds of megabytes behind).
  db.pragma("journal_size_limit = 67108864");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  migrate(db);
  return db;
}

function migrate(db: DB): void {
  db.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
  const row = db.prepare("SELECT version FROM schema_version").get() as { version: number } | undefined;
  let version = row?.version ?? 0;
  if (version > SCHEMA_VERSION) {
    db.close();
    throw new Error(`store schema version ${version} is newer than this program (${SCHEMA_VERSION}); upgrade Portcullis`);
  }
  while (version < SCHEMA_VERSION) {
    const next = version + 1;
    db.transaction(() => {
      db.exec(MIGRATIONS[version]!);
      db.prepare("DELETE FROM schema_version").run();
      db.prepare("INSERT INTO schema_version (version) VALUES (?)").run(next);
    }).immediate();
    version = next;
  }
}

/** A cache of prepared statements keyed by their SQL, so each is compiled once per connection. */
export class Statements {
  private readonly cache = new Map<string, Database.Statement>();
  constructor(readonly db: DB) {}
  get(sql: string): Database.Statement {
    let s = this.cache.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.cache.set(sql, s);
    }
    return s;
  }
}
