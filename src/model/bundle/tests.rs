use super::*;

/// RFC 8032, section 7.1, test 1.
const RFC_SECRET: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const RFC_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn trusted(key: &SigningKey) -> TrustedKey {
    TrustedKey::from_hex(&encode_hex(key.verifying_key().as_bytes())).unwrap()
}

const MODEL: &[u8] = b"pretend these are ONNX bytes";

fn code(result: Result<(&[u8], Provenance)>) -> &'static str {
    result.map(|_| ()).unwrap_err().code()
}

#[test]
fn the_rfc_8032_key_pair_matches() {
    let secret = decode_hex::<32>(RFC_SECRET).unwrap();
    let signing = SigningKey::from_bytes(&secret);
    assert_eq!(encode_hex(signing.verifying_key().as_bytes()), RFC_PUBLIC);
    // RFC 8032 test 1 signs the empty message.
    let signature = signing.sign(b"");
    assert!(encode_hex(&signature.to_bytes()).starts_with("e5564300c360ac729086e2cc806e828a"));
}

#[test]
fn a_bare_model_loads_without_trusted_keys_with_its_digest() {
    let (model, provenance) = open(MODEL, &[]).unwrap();
    assert_eq!(model, MODEL);
    assert_eq!(provenance.sha256, encode_hex(&Sha256::digest(MODEL)));
    assert_eq!(provenance.signed_by, None);
}

#[test]
fn a_signed_bundle_opens_with_its_signer() {
    let signer = key(7);
    let bundle = seal(MODEL, Some(&signer)).unwrap();
    for keys in [vec![], vec![trusted(&key(1)), trusted(&signer)]] {
        let (model, provenance) = open(&bundle, &keys).unwrap();
        assert_eq!(model, MODEL);
        assert_eq!(provenance.signed_by, Some(encode_hex(signer.verifying_key().as_bytes())));
    }
}

#[test]
fn trusted_keys_refuse_unsigned_and_foreign_models() {
    let keys = [trusted(&key(1))];
    assert_eq!(code(open(MODEL, &keys)), "MODEL_UNSIGNED");
    assert_eq!(code(open(&seal(MODEL, None).unwrap(), &keys)), "MODEL_UNSIGNED");
    assert_eq!(code(open(&seal(MODEL, Some(&key(2))).unwrap(), &keys)), "MODEL_UNTRUSTED_KEY");
}

#[test]
fn any_flipped_byte_is_refused() {
    let signer = key(7);
    let keys = [trusted(&signer)];
    let bundle = seal(MODEL, Some(&signer)).unwrap();
    for position in 0..bundle.len() {
        let mut tampered = bundle.clone();
        tampered[position] ^= 0x01;
        let error = open(&tampered, &keys).map(|_| ()).unwrap_err();
        let expected: &[&str] = match position {
            0..8 => &["MODEL_UNSIGNED"], // no longer a bundle: a bare file
            40 => &["INVALID_MODEL"],    // signature flag 0 → 1 is not a valid flag
            41..73 => &["MODEL_UNTRUSTED_KEY", "MODEL_TAMPERED"], // another (or no) key
            137..141 => &["INVALID_MODEL"], // length
            _ => &["MODEL_TAMPERED"],    // digest, signature, model
        };
        assert!(expected.contains(&error.code()), "byte {position}: {error}");
    }
    // Unsigned bundles are checked against their digest too.
    let unsigned = seal(MODEL, None).unwrap();
    let mut tampered = unsigned.clone();
    *tampered.last_mut().unwrap() ^= 0x80;
    assert_eq!(code(open(&tampered, &[])), "MODEL_TAMPERED");
}

#[test]
fn truncated_bundles_are_malformed() {
    let bundle = seal(MODEL, Some(&key(7))).unwrap();
    for length in 8..bundle.len() {
        assert_eq!(code(open(&bundle[..length], &[])), "INVALID_MODEL", "length {length}");
    }
}

#[test]
fn trusted_keys_must_be_ed25519_public_keys_in_hex() {
    assert!(TrustedKey::from_hex(RFC_PUBLIC).is_ok());
    assert!(TrustedKey::from_hex(&RFC_PUBLIC.to_uppercase()).is_ok());
    for bad in
        ["", "00", &RFC_PUBLIC[1..], &format!("+{}", &RFC_PUBLIC[1..]), &format!("{}zz", &RFC_PUBLIC[2..])]
    {
        assert_eq!(TrustedKey::from_hex(bad).unwrap_err().code(), "INVALID_OPTIONS", "{bad}");
    }
}
