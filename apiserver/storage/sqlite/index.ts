export { SqliteStore, openSqliteStore, type SqliteStoreStats } from './sqlite-store.js';
