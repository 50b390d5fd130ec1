//! Client authentication at the token and revocation endpoints (RFC 6749 §2.3):
//! HTTP Basic, secret in the form body, or a public client naming itself.

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::client::Client;
use crate::error::OAuthError;
use crate::params::Params;
use crate::secret::{hash, hashes_equal};
use crate::state::{ClientLookupError, Shared};

/// How the client proved (or did not prove) its identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proof {
    /// A public client: it only named itself.
    None,
    /// A secret via HTTP Basic.
    Basic,
    /// A secret in the form body.
    Post,
}

/// An identified client.
#[derive(Debug)]
pub(crate) struct Authenticated {
    pub(crate) client: Client,
    pub(crate) proof: Proof,
}

/// Identifies the client of a token or revocation request.
///
/// A confidential client must present its secret by either method (the one it
/// registered is not enforced: being strict here buys a dev server nothing). A
/// public client must not present one.
pub(crate) async fn authenticate(
    state: &Shared,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Authenticated, OAuthError> {
    let basic = basic_credentials(headers)?;
    let (client_id, secret, proof) = match (basic, params.get("client_secret")) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not two",
            ));
        }
        (Some((id, secret)), None) => {
            if params.get("client_id").is_some_and(|form_id| form_id != id) {
                return Err(OAuthError::invalid_client(
                    "client_id does not match the Basic credentials",
                    true,
                ));
            }
            (id, Some(secret), Proof::Basic)
        }
        (None, secret) => {
            let Some(id) = params.get("client_id") else {
                return Err(OAuthError::invalid_client(
                    "client authentication is required",
                    false,
                ));
            };
            let proof = if secret.is_some() {
                Proof::Post
            } else {
                Proof::None
            };
            (id.to_owned(), secret.map(str::to_owned), proof)
        }
    };
    let used_basic = proof == Proof::Basic;
    let client = match state.resolve_client(&client_id).await {
        Ok(c) => c,
        Err(ClientLookupError::Store(e)) => return Err(e.into()),
        Err(e) => {
            return Err(OAuthError::invalid_client(
                format!("client {client_id}: {e}"),
                used_basic,
            ));
        }
    };
    let mut proof = proof;
    match (&client.secret_hash, secret) {
        (Some(expected), Some(given)) if hashes_equal(expected, &hash(&given)) => {}
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_client(
                "client authentication failed",
                used_basic,
            ));
        }
        (Some(_), None) => {
            return Err(OAuthError::invalid_client(
                "this client must authenticate with its secret",
                false,
            ));
        }
        // Some public clients send Basic with an empty password; that is no proof at all.
        (None, Some(given)) if given.is_empty() => proof = Proof::None,
        (None, Some(_)) => {
            return Err(OAuthError::invalid_client(
                "this public client has no secret",
                used_basic,
            ));
        }
        (None, None) => {}
    }
    Ok(Authenticated { client, proof })
}

/// The `(client_id, client_secret)` of an `Authorization: Basic` header.
/// Both halves are form-urlencoded before base64 (RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = || OAuthError::invalid_client("malformed Basic credentials", true);
    let value = value.to_str().map_err(|_| malformed())?;
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Err(malformed());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        // A Bearer header at the token endpoint is not client authentication.
        return Ok(None);
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let (id, secret) = (
        form_decode(id).ok_or_else(malformed)?,
        form_decode(secret).ok_or_else(malformed)?,
    );
    if id.is_empty() {
        return Err(malformed());
    }
    Ok(Some((id, secret)))
}

fn form_decode(s: &str) -> Option<String> {
    let plus_as_space = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_as_space)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}
