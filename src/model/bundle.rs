//! Model bundles: an ONNX model with the SHA-256 of its bytes and, optionally, an Ed25519
//! signature of that digest. A ranker configured with trusted public keys loads only bundles
//! signed by one of them; without trusted keys it also loads a bare ONNX file.
//!
//! Layout (integers little-endian):
//!
//! ```text
//! "LRMODEL1"                      8 bytes, magic
//! sha256(model)                  32 bytes
//! signed                          1 byte, 0 or 1
//! if signed: public key          32 bytes
//!            signature           64 bytes, Ed25519 over SIGNATURE_CONTEXT ‖ sha256(model)
//! model length                    4 bytes, u32
//! model                          the ONNX file
//! ```

pub use ed25519_dalek::SigningKey;
use ed25519_dalek::{Signature, Signer, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"LRMODEL1";
/// Domain separation: a localrank model signature can never be replayed as another message.
const SIGNATURE_CONTEXT: &[u8] = b"localrank model signature v1\0";
const DIGEST_LEN: usize = 32;
const KEY_LEN: usize = 32;
const SIGNATURE_LEN: usize = 64;

/// A public key whose signatures the ranker trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey(VerifyingKey);

impl TrustedKey {
    /// From the key's 64 hex digits.
    pub fn from_hex(hex: &str) -> Result<TrustedKey> {
        let bytes = decode_hex::<KEY_LEN>(hex)
            .ok_or_else(|| Error::InvalidOptions(format!("trusted key `{hex}` is not 64 hex digits")))?;
        VerifyingKey::from_bytes(&bytes)
            .map(TrustedKey)
            .map_err(|_| Error::InvalidOptions(format!("trusted key `{hex}` is not an Ed25519 public key")))
    }
}

/// What a model's bytes were checked to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// SHA-256 of the ONNX bytes, hex.
    pub sha256: String,
    /// The public key (hex) whose valid signature the bundle carries, if any.
    pub signed_by: Option<String>,
}

/// The ONNX bytes inside `bytes` (a bundle or a bare ONNX file), once they pass the checks:
/// a bundle's digest must match and its signature, if any, must verify; with `trusted` keys
/// the model must be a bundle signed by one of them.
pub fn open<'a>(bytes: &'a [u8], trusted: &[TrustedKey]) -> Result<(&'a [u8], Provenance)> {
    let Some(bundle) = bytes.strip_prefix(MAGIC) else {
        if !trusted.is_empty() {
            return Err(Error::ModelUnsigned("a bare ONNX file, not a signed localrank bundle".into()));
        }
        return Ok((bytes, Provenance { sha256: encode_hex(&Sha256::digest(bytes)), signed_by: None }));
    };
    let mut reader = Reader(bundle);
    let digest: [u8; DIGEST_LEN] = reader.take()?;
    let [signed]: [u8; 1] = reader.take()?;
    let signature = match signed {
        0 => None,
        1 => Some((reader.take::<KEY_LEN>()?, reader.take::<SIGNATURE_LEN>()?)),
        other => return Err(truncated(&format!("signature flag {other}"))),
    };
    let length = u32::from_le_bytes(reader.take()?) as usize;
    let model = reader.0;
    if model.len() != length {
        return Err(truncated(&format!("model of {} bytes, header says {length}", model.len())));
    }
    if Sha256::digest(model).as_slice() != digest {
        return Err(Error::ModelTampered("the model's SHA-256 differs from the bundle's".into()));
    }
    let signed_by = match signature {
        Some((key, signature)) => Some(verify(&digest, &key, &signature, trusted)?),
        None if trusted.is_empty() => None,
        None => return Err(Error::ModelUnsigned("the bundle carries no signature".into())),
    };
    Ok((model, Provenance { sha256: encode_hex(&digest), signed_by }))
}

/// Checks a bundle's signature; returns the signer's key in hex.
fn verify(
    digest: &[u8; DIGEST_LEN],
    key: &[u8; KEY_LEN],
    signature: &[u8; SIGNATURE_LEN],
    trusted: &[TrustedKey],
) -> Result<String> {
    let key_hex = encode_hex(key);
    let key = VerifyingKey::from_bytes(key)
        .map_err(|_| Error::ModelTampered(format!("signer key {key_hex} is not an Ed25519 public key")))?;
    if !trusted.is_empty() && !trusted.iter().any(|t| t.0 == key) {
        return Err(Error::ModelUntrustedKey(format!("signed by {key_hex}, which is not a trusted key")));
    }
    // Strict verification rejects malleable signatures and weak keys.
    key.verify_strict(&signed_message(digest), &Signature::from_bytes(signature))
        .map_err(|_| Error::ModelTampered(format!("the signature by {key_hex} does not verify")))?;
    Ok(key_hex)
}

fn signed_message(digest: &[u8; DIGEST_LEN]) -> Vec<u8> {
    [SIGNATURE_CONTEXT, digest].concat()
}

/// Wraps ONNX bytes into a bundle, signed when a key is given.
pub fn seal(model: &[u8], signing_key: Option<&SigningKey>) -> Result<Vec<u8>> {
    let length = u32::try_from(model.len())
        .map_err(|_| Error::InvalidModel(format!("a model of {} bytes is too large", model.len())))?;
    let digest: [u8; DIGEST_LEN] = Sha256::digest(model).into();
    let mut bundle = Vec::with_capacity(model.len() + 160);
    bundle.extend_from_slice(MAGIC);
    bundle.extend_from_slice(&digest);
    match signing_key {
        Some(key) => {
            bundle.push(1);
            bundle.extend_from_slice(key.verifying_key().as_bytes());
            bundle.extend_from_slice(&key.sign(&signed_message(&digest)).to_bytes());
        }
        None => bundle.push(0),
    }
    bundle.extend_from_slice(&length.to_le_bytes());
    bundle.extend_from_slice(model);
    Ok(bundle)
}

fn truncated(what: &str) -> Error {
    Error::InvalidModel(format!("malformed localrank bundle: {what}"))
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>().ok_or_else(|| truncated("truncated header"))?;
        self.0 = rest;
        Ok(*head)
    }
}

pub fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn decode_hex<const N: usize>(hex: &str) -> Option<[u8; N]> {
    let hex = hex.trim().as_bytes();
    if hex.len() != 2 * N || !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut bytes = [0u8; N];
    for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
        let digits = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(digits, 16).ok()?;
    }
    Some(bytes)
}

#[cfg(test)]
mod tests;
