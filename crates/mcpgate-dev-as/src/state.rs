//! The state every endpoint shares, and how it is assembled at start.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::cimd::{CimdError, CimdResolver, is_metadata_url};
use crate::client::{Client, MetadataError};
use crate::config::{DevAuthServerConfig, IssuerForm, normalize_origin};
use crate::error::{Error, StoreError};
use crate::keyring::KeyRing;
use crate::keys::{KeyError, SigningKey, random_digits_id};
use crate::limits::Limiters;
use crate::mint::{MintContext, TokenRequest, claims};
use crate::pending::Pending;
use crate::store::Store;

pub(crate) type AppState = Arc<Shared>;

/// Everything the endpoints share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: DevAuthServerConfig,
    /// `http://host:port`, no trailing slash.
    pub(crate) env_url: String,
    pub(crate) resource_id: String,
    /// The canonical MCP URL (see [`DevAuthServerConfig::canonical_mcp_url`]).
    pub(crate) mcp_url: String,
    pub(crate) store: Store,
    /// std `RwLock`: signing takes the read side for about a millisecond and
    /// rotation the write side for a database write; neither spans an `.await`.
    keys: RwLock<KeyRing>,
    pub(crate) pending: Pending,
    pub(crate) cimd: CimdResolver,
    /// Per-IP rate limiters of the unauthenticated endpoints.
    pub(crate) limiters: Limiters,
    /// [`DevAuthServerConfig::allowed_origins`], normalized.
    pub(crate) allowed_origins: Vec<String>,
    /// This server's own origin (the consent page's), always allowed.
    pub(crate) own_origin: String,
    pub(crate) dev_user_id: String,
    pub(crate) dev_client_id: String,
    pub(crate) org_id: String,
    issued: AtomicU64,
}

/// Why a `client_id` does not lead to a usable client.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientLookupError {
    #[error("unknown client")]
    Unknown,
    #[error("client metadata documents are not enabled on this server")]
    CimdDisabled,
    /// Only what the client may be told; the resolver logs the details.
    #[error("{}", .0.public_description())]
    Cimd(#[from] CimdError),
    #[error("stored client is invalid: {}", .0.description)]
    Corrupt(MetadataError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

pub(crate) fn unix_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Shared {
    /// Opens storage, loads or creates the signing key and fixes the identifiers.
    /// Blocking: SQLite I/O and, on first start, RSA key generation.
    pub(crate) fn open(config: DevAuthServerConfig, env_url: String) -> Result<Self, Error> {
        config.validate()?;
        let store = Store::open(&config.storage)?;
        let meta_err = |e: StoreError| Error::Store {
            location: store.location().to_owned(),
            source: e,
        };
        let resource_id = match &config.resource_id {
            Some(id) => id.clone(),
            None => store
                .meta_get_or_init("resource_id", || random_digits_id("res_"))
                .map_err(meta_err)?,
        };
        let dev_user_id = store
            .meta_get_or_init("dev_user_id", || random_digits_id("usr_"))
            .map_err(meta_err)?;
        let dev_client_id = store
            .meta_get_or_init("dev_client_id", || random_digits_id("skc_"))
            .map_err(meta_err)?;
        let org_id = store
            .meta_get_or_init("org_id", || random_digits_id("org_"))
            .map_err(meta_err)?;
        let keys = load_keys(&store, grace_ms(&config), config.signing_algorithm)?;
        let allowed_origins = config
            .allowed_origins
            .iter()
            .map(|o| normalize_origin(o))
            .collect::<Result<_, _>>()
            .map_err(Error::Config)?;
        let own_origin = url::Url::parse(&env_url)
            .map(|u| u.origin().ascii_serialization())
            .map_err(|_| Error::Config(format!("environment URL {env_url:?} is not a URL")))?;
        let cimd = CimdResolver::new(&config, &env_url)?;
        let limiters = Limiters::new(&config.rate_limits);
        Ok(Self {
            mcp_url: config.canonical_mcp_url(),
            config,
            env_url,
            resource_id,
            store,
            keys: RwLock::new(keys),
            pending: Pending::default(),
            cimd,
            limiters,
            allowed_origins,
            own_origin,
            dev_user_id,
            dev_client_id,
            org_id,
            issued: AtomicU64::new(0),
        })
    }

    /// `{env}/resources/{res_id}`: the issuer in the AS metadata.
    pub(crate) fn resource_issuer(&self) -> String {
        format!("{}/resources/{}", self.env_url, self.resource_id)
    }

    /// The `iss` of the next token, per [`IssuerForm`].
    fn next_issuer(&self) -> String {
        let use_env = match self.config.issuer_form {
            IssuerForm::Env => true,
            IssuerForm::Resource => false,
            IssuerForm::Alternate => self
                .issued
                .fetch_add(1, Ordering::Relaxed)
                .is_multiple_of(2),
        };
        if use_env {
            self.env_url.clone()
        } else {
            self.resource_issuer()
        }
    }

    pub(crate) fn keys(&self) -> RwLockReadGuard<'_, KeyRing> {
        // A key ring is replaced whole under the write lock; a panic elsewhere
        // cannot leave it half-updated.
        self.keys.read().unwrap_or_else(|p| p.into_inner())
    }

    fn keys_mut(&self) -> RwLockWriteGuard<'_, KeyRing> {
        self.keys.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Signs an access token for `req` with the current key.
    pub(crate) fn mint(&self, req: &TokenRequest) -> Result<String, KeyError> {
        let cx = MintContext {
            issuer: self.next_issuer(),
            mcp_url: &self.mcp_url,
            resource_id: &self.resource_id,
            default_subject: &self.dev_user_id,
            default_client_id: &self.dev_client_id,
            org_id: &self.org_id,
            default_lifetime: self.config.token_lifetime,
            now: unix_now(),
        };
        let claims = claims(req, &cx);
        self.keys().current().sign(&claims)
    }

    /// Makes `new` the signing key, in the database first so a restart agrees.
    pub(crate) fn install_key(&self, new: SigningKey) -> Result<(), Error> {
        let now = unix_now_ms();
        let mut ring = self.keys_mut();
        self.store
            .install_key(new.kid(), new.pkcs8_der(), now)
            .map_err(|e| self.store_error(e))?;
        ring.rotate(new, now);
        let cutoff = ring.prune(now);
        self.store
            .delete_keys_retired_before(cutoff)
            .map_err(|e| self.store_error(e))?;
        Ok(())
    }

    fn store_error(&self, source: StoreError) -> Error {
        Error::Store {
            location: self.store.location().to_owned(),
            source,
        }
    }

    /// The client `client_id` names: a registered one, or a metadata document.
    pub(crate) async fn resolve_client(
        &self,
        client_id: &str,
    ) -> Result<Client, ClientLookupError> {
        if is_metadata_url(client_id) {
            if !self.config.client_id_metadata_documents {
                return Err(ClientLookupError::CimdDisabled);
            }
            return Ok(self.cimd.resolve(client_id).await?);
        }
        let stored = self
            .store
            .get_client(client_id)?
            .ok_or(ClientLookupError::Unknown)?;
        Client::from_stored(client_id.to_owned(), stored.secret_hash, stored.metadata)
            .map_err(ClientLookupError::Corrupt)
    }
}

fn grace_ms(config: &DevAuthServerConfig) -> i64 {
    i64::try_from(config.key_rotation_grace.as_millis()).unwrap_or(i64::MAX)
}

/// Loads the stored keys, creating the first one on a fresh database. A key that
/// fails to load is an error, never a reason to make a new one: every token and
/// every verifier's cache would silently stop matching.
fn load_keys(
    store: &Store,
    grace_ms: i64,
    algorithm: Option<crate::keys::KeyAlgorithm>,
) -> Result<KeyRing, Error> {
    let location = || store.location().to_owned();
    let rows = store.load_keys().map_err(|source| Error::Store {
        location: location(),
        source,
    })?;
    if rows.is_empty() {
        let key = SigningKey::generate_for(algorithm.unwrap_or_default())?;
        store
            .install_key(key.kid(), key.pkcs8_der(), unix_now_ms())
            .map_err(|source| Error::Store {
                location: location(),
                source,
            })?;
        tracing::info!(kid = key.kid(), "created signing key");
        return Ok(KeyRing::new(key, grace_ms));
    }
    let mut current = None;
    let mut retired = Vec::new();
    for row in rows {
        let key =
            SigningKey::from_pkcs8(&row.kid, &row.pkcs8).map_err(|source| Error::LoadKey {
                location: location(),
                kid: row.kid.clone(),
                source,
            })?;
        match row.retired_at_ms {
            // Rows come oldest first, so the last current key wins if there are several.
            None => {
                if let Some(previous) = current.replace(key) {
                    retired.push((previous, row.created_at_ms));
                }
            }
            Some(at) => retired.push((key, at)),
        }
    }
    let Some(current) = current else {
        return Err(Error::Config(format!(
            "{} holds only retired signing keys; rotate or delete it",
            location()
        )));
    };
    let mut ring = KeyRing::new(current, grace_ms);
    for (key, at) in retired {
        ring.add_retired(key, at);
    }
    if let Some(algorithm) = algorithm
        && ring.current().algorithm() != algorithm
    {
        // Asked for another algorithm than the stored key signs with: rotate,
        // keeping the old key published for the grace period.
        let key = SigningKey::generate_for(algorithm)?;
        let now = unix_now_ms();
        store
            .install_key(key.kid(), key.pkcs8_der(), now)
            .map_err(|source| Error::Store {
                location: location(),
                source,
            })?;
        tracing::info!(kid = key.kid(), alg = %algorithm, "created signing key for the requested algorithm");
        ring.rotate(key, now);
    }
    let cutoff = ring.prune(unix_now_ms());
    store
        .delete_keys_retired_before(cutoff)
        .map_err(|source| Error::Store {
            location: location(),
            source,
        })?;
    Ok(ring)
}
