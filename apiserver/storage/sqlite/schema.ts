// The on-disk layout, in the shape kine gives etcd's data model on SQL: one row per revision. The
// row id is the revision, so the history of a key is its rows ordered by id, and "the state at
// revision R" is the newest row of every key with id <= R that is not a deletion.
import Database from 'better-sqlite3';

export type Db = Database.Database;

/** A row of the kv table as the statements below return it. */
export interface Row {
  id: number;
  name: string;
  created: number;
  deleted: number;
  create_revision: number;
  prev_revision: number;
  value: string;
}

/** A history row joined with the row it replaced (for watch replay's prevKv). */
export interface HistoryRow extends Row {
  prev_value: string | null;
  prev_create_revision: number | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS kv (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  created INTEGER NOT NULL,
  deleted INTEGER NOT NULL,
  create_revision INTEGER NOT NULL,
  prev_revision INTEGER NOT NULL,
  value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS kv_name_id ON kv (name, id);
CREATE TABLE IF NOT EXISTS meta (
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
`;

export function openDatabase(path: string): Db {
  // No busy wait: the connection is exclusive, so a lock held elsewhere means another process
  // owns the file, and better-sqlite3 would block the event loop while waiting.
  const db = new Database(path, { timeout: 0 });
  try {
    // WAL + FULL: a COMMIT returns only after the WAL is fsynced, so an acknowledged write
    // survives a crash or power loss. EXCLUSIVE locking keeps a second process (which would
    // hand out revisions from its own counter) from opening the file at the same time.
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec(SCHEMA);
    // Take the write lock now rather than at the first write, so a second opener fails at once.
    db.exec('BEGIN EXCLUSIVE; COMMIT;');
  } catch (err) {
    db.close();
    if (err instanceof Error && /locked|busy/i.test(err.message)) {
      throw new Error(`storage file ${path} is in use by another process (${err.message})`);
    }
    throw err;
  }
  return db;
}

/** The prepared statements of the store, compiled once. */
export function prepareStatements(db: Db) {
  const cols = 'id, name, created, deleted, create_revision, prev_revision, value';
  return {
    latest: db.prepare<[string], Row>(`SELECT ${cols} FROM kv WHERE name = ? ORDER BY id DESC LIMIT 1`),
    latestAt: db.prepare<[string, number], Row>(`SELECT ${cols} FROM kv WHERE name = ? AND id <= ? ORDER BY id DESC LIMIT 1`),
    insert: db.prepare<[number, string, number, number, number, number, string]>(
      'INSERT INTO kv (id, name, created, deleted, create_revision, prev_revision, value) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    // The newest row per key in [lo, hi) as of a revision, in key order. SQLite takes the bare
    // columns from the row holding MAX(id), and with the (name, id) index the groups stream in key
    // order, so the caller can stop after a page. Deletions are skipped by the caller so a deleted
    // key hides its older rows.
    listRange: db.prepare<[string, string, number], Row>(
      `SELECT MAX(id) AS id, name, created, deleted, create_revision, prev_revision, value
         FROM kv WHERE name >= ? AND name < ? AND id <= ? GROUP BY name ORDER BY name`,
    ),
    listFrom: db.prepare<[string, number], Row>(
      `SELECT MAX(id) AS id, name, created, deleted, create_revision, prev_revision, value
         FROM kv WHERE name >= ? AND id <= ? GROUP BY name ORDER BY name`,
    ),
    countRange: db.prepare<[string, string, number], { n: number }>(
      `SELECT COUNT(*) AS n FROM (
         SELECT MAX(id), deleted FROM kv WHERE name >= ? AND name < ? AND id <= ? GROUP BY name
       ) WHERE deleted = 0`,
    ),
    countFrom: db.prepare<[string, number], { n: number }>(
      `SELECT COUNT(*) AS n FROM (
         SELECT MAX(id), deleted FROM kv WHERE name >= ? AND id <= ? GROUP BY name
       ) WHERE deleted = 0`,
    ),
    historyRange: db.prepare<[number, number, string, string, number], HistoryRow>(
      `SELECT c.id, c.name, c.created, c.deleted, c.create_revision, c.prev_revision, c.value,
              p.value AS prev_value, p.create_revision AS prev_create_revision
         FROM kv c LEFT JOIN kv p ON p.id = c.prev_revision
        WHERE c.id > ? AND c.id <= ? AND c.name >= ? AND c.name < ? ORDER BY c.id LIMIT ?`,
    ),
    historyFrom: db.prepare<[number, number, string, number], HistoryRow>(
      `SELECT c.id, c.name, c.created, c.deleted, c.create_revision, c.prev_revision, c.value,
              p.value AS prev_value, p.create_revision AS prev_create_revision
         FROM kv c LEFT JOIN kv p ON p.id = c.prev_revision
        WHERE c.id > ? AND c.id <= ? AND c.name >= ? ORDER BY c.id LIMIT ?`,
    ),
    // Drops, within an id window at or below the compact revision, every row that is not the
    // newest row of its key at that revision, and deletion rows (whose key is gone).
    compactWindow: db.prepare<{ lo: number; hi: number; rev: number }>(
      `DELETE FROM kv WHERE id >= @lo AND id < @hi AND id <= @rev AND (
         deleted = 1 OR id < (SELECT MAX(k.id) FROM kv k WHERE k.name = kv.name AND k.id <= @rev)
       )`,
    ),
    minId: db.prepare<[], { id: number | null }>('SELECT MIN(id) AS id FROM kv'),
    maxId: db.prepare<[], { id: number | null }>('SELECT MAX(id) AS id FROM kv'),
    sequence: db.prepare<[], { seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'kv'"),
    getMeta: db.prepare<[string], { value: number }>('SELECT value FROM meta WHERE name = ?'),
    setMeta: db.prepare<[string, number]>('INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value'),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;
