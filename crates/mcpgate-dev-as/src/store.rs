//! Persistent state in SQLite: registered clients, signing keys, refresh-token
//! families and a few named values (resource id, dev user, organization).
//!
//! Short-lived state (pending consents, authorization codes, the metadata
//! document cache) stays in memory; losing it on restart only means a user
//! clicks "Approve" again.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};

use crate::config::Storage;
use crate::error::{Error, StoreError};

/// The database file's name inside the data directory.
pub(crate) const DB_FILE: &str = "dev-as.sqlite3";

const SCHEMA_VERSION: i64 = 1;
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS clients (
    client_id   TEXT PRIMARY KEY,
    secret_hash TEXT,
    metadata    TEXT NOT NULL,
    issued_at   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS signing_keys (
    kid           TEXT PRIMARY KEY,
    pkcs8         BLOB NOT NULL,
    created_at_ms INTEGER NOT NULL,
    retired_at_ms INTEGER
);
CREATE TABLE IF NOT EXISTS refresh_families (
    family_id  TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    subject    TEXT NOT NULL,
    scope      TEXT NOT NULL,
    session_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    family_id  TEXT NOT NULL REFERENCES refresh_families(family_id),
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX IF NOT EXISTS refresh_tokens_by_family ON refresh_tokens(family_id);
";

/// The SQLite connection behind a std `Mutex`.
///
/// Every query is a primary-key lookup or a single-row write on a local file, so
/// holding the lock briefly on a runtime thread costs less than a
/// `spawn_blocking` hop per query; the guard is never held across an `.await`
/// (which a std guard, being `!Send`, would refuse to compile anyway).
#[derive(Debug)]
pub(crate) struct Store {
    conn: Mutex<Connection>,
    location: String,
}

/// A signing key row.
#[derive(Debug)]
pub(crate) struct StoredKey {
    pub(crate) kid: String,
    pub(crate) pkcs8: Vec<u8>,
    pub(crate) created_at_ms: i64,
    pub(crate) retired_at_ms: Option<i64>,
}

/// A registered client row: secret hash and metadata JSON object.
#[derive(Debug)]
pub(crate) struct StoredClient {
    pub(crate) secret_hash: Option<String>,
    pub(crate) metadata: Map<String, Value>,
}

/// A refresh-token family: every refresh token descended from one authorization.
#[derive(Debug, Clone)]
pub(crate) struct Family {
    pub(crate) family_id: String,
    pub(crate) client_id: String,
    pub(crate) subject: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) session_id: String,
}

/// What presenting a refresh token led to.
#[derive(Debug)]
pub(crate) enum RefreshOutcome {
    /// The token was valid; it is now spent and its successor stored.
    Rotated(Family),
    /// The token had already been spent: its whole family is now revoked.
    Reused,
    /// Unknown, expired, revoked, or another client's token.
    Invalid(&'static str),
    /// The request asked for this scope, which the family was never granted;
    /// the token is left unspent.
    ScopeNotGranted(String),
}

/// What revoking a refresh token did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RevokeOutcome {
    /// The token's family is revoked (or already was).
    Revoked,
    /// No such refresh token (RFC 7009: still a success for the caller).
    Unknown,
    /// The token belongs to another client; nothing was done.
    OtherClient,
}

impl Store {
    /// Opens (creating if needed) the store and brings its schema up to date.
    pub(crate) fn open(storage: &Storage) -> Result<Self, Error> {
        let (conn, location) = match storage {
            Storage::Memory => {
                let conn = Connection::open_in_memory().map_err(|e| store_error(":memory:", e))?;
                (conn, ":memory:".to_owned())
            }
            Storage::Sqlite(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| Error::DataDir {
                    path: dir.clone(),
                    source,
                })?;
                let path = dir.join(DB_FILE);
                let location = path.display().to_string();
                let conn = Connection::open(&path).map_err(|e| store_error(&location, e))?;
                restrict_permissions(&path);
                // WAL lets a second process (say `mcpgate token` next to `mcpgate dev`)
                // read while this one writes.
                conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0))
                    .map_err(|e| store_error(&location, e))?;
                (conn, location)
            }
        };
        conn.execute_batch("PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000;")
            .map_err(|e| store_error(&location, e))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| store_error(&location, e))?;
        if version > SCHEMA_VERSION {
            return Err(Error::Config(format!(
                "{location} was written by a newer mcpgate (schema {version}, this one knows {SCHEMA_VERSION})"
            )));
        }
        conn.execute_batch(SCHEMA)
            .map_err(|e| store_error(&location, e))?;
        conn.execute_batch(&format!("PRAGMA user_version={SCHEMA_VERSION}"))
            .map_err(|e| store_error(&location, e))?;
        Ok(Self {
            conn: Mutex::new(conn),
            location,
        })
    }

    /// The database file (or `:memory:`), for error messages.
    pub(crate) fn location(&self) -> &str {
        &self.location
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (an open
        // transaction rolls back when dropped), so a poisoned lock is still usable.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The value stored under `key`, storing `init()` first if there is none.
    pub(crate) fn meta_get_or_init(
        &self,
        key: &str,
        init: impl FnOnce() -> String,
    ) -> Result<String, StoreError> {
        let conn = self.conn();
        if let Some(v) = conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| {
                r.get::<_, String>(0)
            })
            .optional()?
        {
            return Ok(v);
        }
        let value = init();
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)",
            params![key, value],
        )?;
        Ok(value)
    }

    /// Stores a client unless `max_clients` are stored already; `Ok(false)` then.
    /// Counting and inserting happen under one lock of the connection, so
    /// concurrent registrations cannot overshoot.
    pub(crate) fn insert_client(
        &self,
        client_id: &str,
        secret_hash: Option<&str>,
        metadata: &Map<String, Value>,
        issued_at: i64,
        max_clients: usize,
    ) -> Result<bool, StoreError> {
        let json = Value::Object(metadata.clone()).to_string();
        let conn = self.conn();
        let count: i64 = conn.query_row("SELECT COUNT(*) FROM clients", [], |r| r.get(0))?;
        if usize::try_from(count).unwrap_or(usize::MAX) >= max_clients {
            return Ok(false);
        }
        conn.execute(
            "INSERT INTO clients (client_id, secret_hash, metadata, issued_at) VALUES (?1, ?2, ?3, ?4)",
            params![client_id, secret_hash, json, issued_at],
        )?;
        Ok(true)
    }

    pub(crate) fn get_client(&self, client_id: &str) -> Result<Option<StoredClient>, StoreError> {
        let row = self
            .conn()
            .query_row(
                "SELECT secret_hash, metadata FROM clients WHERE client_id = ?1",
                [client_id],
                |r| Ok((r.get::<_, Option<String>>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()?;
        Ok(
            row.and_then(|(secret_hash, json)| match serde_json::from_str(&json) {
                Ok(Value::Object(metadata)) => Some(StoredClient {
                    secret_hash,
                    metadata,
                }),
                _ => {
                    tracing::warn!(
                        client_id,
                        "stored client metadata is not a JSON object; ignoring the client"
                    );
                    None
                }
            }),
        )
    }

    pub(crate) fn load_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT kid, pkcs8, created_at_ms, retired_at_ms FROM signing_keys ORDER BY created_at_ms")?;
        let rows = stmt.query_map([], |r| {
            Ok(StoredKey {
                kid: r.get(0)?,
                pkcs8: r.get(1)?,
                created_at_ms: r.get(2)?,
                retired_at_ms: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stores `new_kid` as the signing key and retires every other key at `now_ms`,
    /// in one transaction so a crash never leaves two current keys or none.
    pub(crate) fn install_key(
        &self,
        new_kid: &str,
        pkcs8: &[u8],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE signing_keys SET retired_at_ms = ?1 WHERE retired_at_ms IS NULL",
            [now_ms],
        )?;
        tx.execute(
            "INSERT INTO signing_keys (kid, pkcs8, created_at_ms, retired_at_ms) VALUES (?1, ?2, ?3, NULL)",
            params![new_kid, pkcs8, now_ms],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Deletes keys retired at or before `cutoff_ms`.
    pub(crate) fn delete_keys_retired_before(&self, cutoff_ms: i64) -> Result<usize, StoreError> {
        Ok(self.conn().execute(
            "DELETE FROM signing_keys WHERE retired_at_ms IS NOT NULL AND retired_at_ms <= ?1",
            [cutoff_ms],
        )?)
    }

    /// Starts a family with its first refresh token.
    pub(crate) fn create_family(
        &self,
        family: &Family,
        token_hash: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO refresh_families (family_id, client_id, subject, scope, session_id, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![family.family_id, family.client_id, family.subject, family.scopes.join(" "), family.session_id, now],
        )?;
        tx.execute(
            "INSERT INTO refresh_tokens (token_hash, family_id, issued_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
            params![token_hash, family.family_id, now, expires_at],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Spends the refresh token hashed as `old_hash` and stores `new_hash` as its
    /// successor. A token spent twice means it leaked (or a client raced itself):
    /// OAuth 2.1 §4.3.1 then asks to revoke the whole family.
    /// `requested` scopes, if given, must all have been granted to the family; a
    /// request that fails on scope must not spend the token (RFC 6749 §6 makes it
    /// an error of the request, not a use of the grant).
    pub(crate) fn rotate_refresh(
        &self,
        old_hash: &str,
        client_id: &str,
        requested: Option<&[String]>,
        new_hash: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<RefreshOutcome, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let row = tx
            .query_row(
                "SELECT f.family_id, f.client_id, f.subject, f.scope, f.session_id, f.revoked_at, t.expires_at, t.used_at
                 FROM refresh_tokens t JOIN refresh_families f ON f.family_id = t.family_id
                 WHERE t.token_hash = ?1",
                [old_hash],
                |r| {
                    let family = Family {
                        family_id: r.get(0)?,
                        client_id: r.get(1)?,
                        subject: r.get(2)?,
                        scopes: r.get::<_, String>(3)?.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
                        session_id: r.get(4)?,
                    };
                    Ok((family, r.get::<_, Option<i64>>(5)?, r.get::<_, i64>(6)?, r.get::<_, Option<i64>>(7)?))
                },
            )
            .optional()?;
        let Some((family, revoked_at, token_expires_at, used_at)) = row else {
            return Ok(RefreshOutcome::Invalid("unknown refresh token"));
        };
        if family.client_id != client_id {
            return Ok(RefreshOutcome::Invalid(
                "refresh token was issued to another client",
            ));
        }
        if revoked_at.is_some() {
            return Ok(RefreshOutcome::Invalid("refresh token has been revoked"));
        }
        if used_at.is_some() {
            tx.execute(
                "UPDATE refresh_families SET revoked_at = ?1 WHERE family_id = ?2",
                params![now, family.family_id],
            )?;
            tx.commit()?;
            return Ok(RefreshOutcome::Reused);
        }
        if token_expires_at <= now {
            return Ok(RefreshOutcome::Invalid("refresh token has expired"));
        }
        if let Some(bad) = requested.and_then(|r| r.iter().find(|s| !family.scopes.contains(s))) {
            return Ok(RefreshOutcome::ScopeNotGranted(bad.clone()));
        }
        tx.execute(
            "UPDATE refresh_tokens SET used_at = ?1 WHERE token_hash = ?2",
            params![now, old_hash],
        )?;
        tx.execute(
            "INSERT INTO refresh_tokens (token_hash, family_id, issued_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
            params![new_hash, family.family_id, now, expires_at],
        )?;
        tx.commit()?;
        Ok(RefreshOutcome::Rotated(family))
    }

    /// Revokes the family of the refresh token hashed as `token_hash`, if it is `client_id`'s.
    pub(crate) fn revoke_refresh(
        &self,
        token_hash: &str,
        client_id: &str,
        now: i64,
    ) -> Result<RevokeOutcome, StoreError> {
        let conn = self.conn();
        let owner = conn
            .query_row(
                "SELECT f.family_id, f.client_id FROM refresh_tokens t
                 JOIN refresh_families f ON f.family_id = t.family_id WHERE t.token_hash = ?1",
                [token_hash],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()?;
        match owner {
            None => Ok(RevokeOutcome::Unknown),
            Some((_, owner)) if owner != client_id => Ok(RevokeOutcome::OtherClient),
            Some((family_id, _)) => {
                conn.execute(
                    "UPDATE refresh_families SET revoked_at = ?1 WHERE family_id = ?2 AND revoked_at IS NULL",
                    params![now, family_id],
                )?;
                Ok(RevokeOutcome::Revoked)
            }
        }
    }

    /// Revokes a family by id (a replayed authorization code kills what it issued).
    pub(crate) fn revoke_family(&self, family_id: &str, now: i64) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE refresh_families SET revoked_at = ?1 WHERE family_id = ?2 AND revoked_at IS NULL",
            params![now, family_id],
        )?;
        Ok(())
    }
}

fn store_error(location: &str, e: rusqlite::Error) -> Error {
    Error::Store {
        location: location.to_owned(),
        source: StoreError(e),
    }
}

/// The database holds private signing keys: keep it readable by its owner only.
fn restrict_permissions(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            tracing::warn!(path = %path.display(), error = %e, "cannot restrict database permissions");
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn family(id: &str) -> Family {
        Family {
            family_id: id.into(),
            client_id: "m2m_1".into(),
            subject: "usr_1".into(),
            scopes: vec!["openid".into(), "offline_access".into()],
            session_id: "ses_1".into(),
        }
    }

    #[test]
    fn refresh_rotation_then_reuse_revokes_the_family() {
        let store = Store::open(&Storage::Memory).unwrap();
        store.create_family(&family("f1"), "h1", 0, 100).unwrap();
        assert!(matches!(
            store
                .rotate_refresh("h1", "m2m_other", None, "h2", 1, 100)
                .unwrap(),
            RefreshOutcome::Invalid(_)
        ));
        let RefreshOutcome::Rotated(f) = store
            .rotate_refresh("h1", "m2m_1", None, "h2", 1, 100)
            .unwrap()
        else {
            panic!("first use rotates")
        };
        assert_eq!(f.scopes, ["openid", "offline_access"]);
        assert!(matches!(
            store
                .rotate_refresh("h1", "m2m_1", None, "h3", 2, 100)
                .unwrap(),
            RefreshOutcome::Reused
        ));
        assert!(matches!(
            store
                .rotate_refresh("h2", "m2m_1", None, "h4", 3, 100)
                .unwrap(),
            RefreshOutcome::Invalid(_)
        ));
    }

    #[test]
    fn asking_for_an_ungranted_scope_leaves_the_token_unspent() {
        let store = Store::open(&Storage::Memory).unwrap();
        store.create_family(&family("f1"), "h1", 0, 100).unwrap();
        let wide = ["email".to_owned()];
        assert!(matches!(
            store.rotate_refresh("h1", "m2m_1", Some(&wide), "h2", 1, 100).unwrap(),
            RefreshOutcome::ScopeNotGranted(s) if s == "email"
        ));
        let narrow = ["openid".to_owned()];
        assert!(matches!(
            store
                .rotate_refresh("h1", "m2m_1", Some(&narrow), "h2", 1, 100)
                .unwrap(),
            RefreshOutcome::Rotated(_)
        ));
    }

    #[test]
    fn expired_refresh_token_is_invalid() {
        let store = Store::open(&Storage::Memory).unwrap();
        store.create_family(&family("f1"), "h1", 0, 10).unwrap();
        assert!(matches!(
            store
                .rotate_refresh("h1", "m2m_1", None, "h2", 10, 20)
                .unwrap(),
            RefreshOutcome::Invalid(_)
        ));
    }
}
