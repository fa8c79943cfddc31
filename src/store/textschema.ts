// The schema of the search index database (<store>/text.db), shared by the store (which reads
// it, textindex.ts) and the indexer thread (which alone writes it, textworker.ts).
//
// message_text: contentless FTS5 (the text lives in the body), trigram-tokenised so that any
// substring of 3 or more characters is found (IMAP SEARCH is a substring match, RFC 9051 §6.4.4);
// rowid = blobs.id. indexed: which blob (id and name) each rowid holds, so that a blob id reused
// after a delete never matches the old text.

export const TEXT_SCHEMA = `
  CREATE VIRTUAL TABLE IF NOT EXISTS message_text USING fts5(
    header, body, tokenize = 'trigram case_sensitive 0', content = '', contentless_delete = 1
  );
  CREATE TABLE IF NOT EXISTS indexed (blob_id INTEGER PRIMARY KEY, name TEXT NOT NULL);
`;

/** Octets of a body read for indexing (text beyond is not searchable through the index). */
export const MAX_READ = 16 * 1024 * 1024;
