//! Access tokens as Nacos issues them: a JWT signed with HMAC-SHA256 (`{"alg":"HS256"}`),
//! whose claims are the user (`sub`) and the expiry (`exp`, seconds since the epoch), under a
//! key every member shares ([`TokenKey`], Nacos' `token.secret.key`: base64 of at least 32
//! bytes).
//!
//! Verification is strict where Nacos' history shows it must be: the header must say HS256
//! and nothing else (`alg: none` and every other algorithm are refused), the signature is
//! compared in constant time, the token must not be expired, and there is no default key. The
//! clock is a parameter, so expiry is tested without waiting.

use super::AuthError;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The shortest key accepted, in bytes (Nacos requires 32).
pub const MIN_KEY_BYTES: usize = 32;

/// The header every token carries.
const HEADER: &str = r#"{"alg":"HS256"}"#;

/// The key tokens are signed with (kept as the keyed MAC). Its bytes are never printed.
#[derive(Clone)]
pub struct TokenKey(Hmac<Sha256>);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

impl TokenKey {
    /// The key written as base64 (as in Nacos' `token.secret.key`), at least
    /// [`MIN_KEY_BYTES`] once decoded.
    pub fn from_base64(text: &str) -> Result<Self, AuthError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| AuthError::BadKey("it is not base64".into()))?;
        if bytes.len() < MIN_KEY_BYTES {
            return Err(AuthError::BadKey(format!(
                "it holds {} bytes, at least {MIN_KEY_BYTES} are needed",
                bytes.len()
            )));
        }
        <Hmac<Sha256> as Mac>::new_from_slice(&bytes)
            .map(Self)
            .map_err(|_| AuthError::BadKey("HMAC refused it".into()))
    }

    /// The key in the file at `path` (base64, surrounding whitespace ignored), as
    /// [`TokenKey::from_base64`] reads it; the error names the file.
    pub fn from_file(path: &std::path::Path) -> Result<Self, AuthError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| AuthError::BadKey(format!("{} cannot be read: {e}", path.display())))?;
        Self::from_base64(&text).map_err(|e| match e {
            AuthError::BadKey(why) => AuthError::BadKey(format!("{}: {why}", path.display())),
            other => other,
        })
    }

    fn mac(&self) -> Hmac<Sha256> {
        self.0.clone()
    }

    /// A token for `username`, valid until `expires` (seconds since the epoch).
    pub fn issue(&self, username: &str, expires: u64) -> String {
        let claims = Claims {
            sub: username.to_owned(),
            exp: expires,
        };
        let payload = serde_json::to_vec(&claims).unwrap_or_default();
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(HEADER),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let mut mac = self.mac();
        mac.update(signed.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signed}.{signature}")
    }

    /// The user `token` was issued to, if it was signed with this key and has not expired at
    /// `now` (seconds since the epoch).
    pub fn verify(&self, token: &str, now: u64) -> Result<String, AuthError> {
        let token = token.trim();
        let Some((signed, signature)) = token.rsplit_once('.') else {
            return Err(AuthError::BadToken("not a signed token"));
        };
        let Some((header, payload)) = signed.split_once('.') else {
            return Err(AuthError::BadToken("not a signed token"));
        };
        if payload.contains('.') {
            return Err(AuthError::BadToken("not a signed token"));
        }
        let header: Header = decode_json(header)?;
        if header.alg != "HS256" {
            return Err(AuthError::BadToken("not signed with HS256"));
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| AuthError::BadToken("the signature is not base64url"))?;
        let mut mac = self.mac();
        mac.update(signed.as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| AuthError::BadToken("the signature does not match this server's key"))?;
        let claims: Claims = decode_json(payload)?;
        if claims.exp <= now {
            return Err(AuthError::Expired);
        }
        if claims.sub.is_empty() {
            return Err(AuthError::BadToken("it names no user"));
        }
        Ok(claims.sub)
    }
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, AuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| AuthError::BadToken("a part is not base64url"))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| AuthError::BadToken("a part is not the JSON expected"))
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> TokenKey {
        TokenKey::from_base64(&STANDARD.encode([byte; 32])).unwrap()
    }

    #[test]
    fn a_token_names_its_user_until_it_expires() {
        let k = key(1);
        let token = k.issue("nacos", 1_000);
        assert_eq!(k.verify(&token, 999).unwrap(), "nacos");
        assert_eq!(k.verify(&token, 1_000), Err(AuthError::Expired));
    }

    #[test]
    fn a_token_of_another_key_or_forged_is_refused() {
        let token = key(1).issue("nacos", 1_000);
        assert!(matches!(
            key(2).verify(&token, 0),
            Err(AuthError::BadToken(_))
        ));
        // alg: none, with no signature or with the old one.
        let payload = URL_SAFE_NO_PAD.encode(r#"{"sub":"nacos","exp":1000}"#);
        for header in [
            r#"{"alg":"none"}"#,
            r#"{"alg":"HS512"}"#,
            r#"{"typ":"JWT"}"#,
        ] {
            let h = URL_SAFE_NO_PAD.encode(header);
            for forged in [format!("{h}.{payload}."), format!("{h}.{payload}")] {
                assert!(key(1).verify(&forged, 0).is_err(), "{forged}");
            }
        }
        // Another user put into a validly signed token.
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let (header, _) = signed.split_once('.').unwrap();
        let admin = URL_SAFE_NO_PAD.encode(r#"{"sub":"admin","exp":1000}"#);
        let swapped = format!("{header}.{admin}.{signature}");
        assert!(matches!(
            key(1).verify(&swapped, 0),
            Err(AuthError::BadToken(_))
        ));
        for garbage in ["", "a.b", "a.b.c.d", "...", "é.é.é"] {
            assert!(key(1).verify(garbage, 0).is_err(), "{garbage}");
        }
    }

    #[test]
    fn a_key_is_base64_of_at_least_32_bytes() {
        assert!(TokenKey::from_base64(&STANDARD.encode([0u8; 31])).is_err());
        assert!(TokenKey::from_base64("not base64!").is_err());
        assert!(TokenKey::from_base64(&STANDARD.encode([7u8; 48])).is_ok());
        assert_eq!(format!("{:?}", key(3)), "TokenKey(..)");
    }
}
