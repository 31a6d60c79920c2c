//! An upstream file's bytes and the text the NGINX editor works on. A file that is not UTF-8
//! (a Latin-1 comment, say) is edited all the same: its text holds one char per byte, so
//! writing it back changes no byte the editor did not touch.

use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawText {
    pub bytes: Vec<u8>,
    pub text: String,
    utf8: bool,
}

impl RawText {
    pub fn new(bytes: Vec<u8>) -> RawText {
        match String::from_utf8(bytes) {
            Ok(text) => RawText {
                bytes: text.clone().into_bytes(),
                text,
                utf8: true,
            },
            Err(e) => {
                let bytes = e.into_bytes();
                RawText {
                    text: bytes.iter().map(|&b| char::from(b)).collect(),
                    bytes,
                    utf8: false,
                }
            }
        }
    }

    /// The bytes of an edited text, in the file's own encoding; `None` when the edit put in a
    /// char the file cannot hold (never for the editor's ASCII addresses and weights).
    pub fn encode(&self, text: &str) -> Option<Vec<u8>> {
        if self.utf8 {
            return Some(text.as_bytes().to_vec());
        }
        text.chars()
            .map(|c| u8::try_from(u32::from(c)).ok())
            .collect()
    }

    /// SHA-256 of the bytes, in hex, as `sha256sum` prints it.
    pub fn sha256(&self) -> String {
        sha256_hex(&self.bytes)
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_utf8_bytes_survive_an_edit() {
        let raw = RawText::new(b"# caf\xe9\nweight=1;\n".to_vec());
        let edited = raw.text.replace("weight=1", "weight=50");
        assert_eq!(
            raw.encode(&edited).unwrap(),
            b"# caf\xe9\nweight=50;\n".to_vec()
        );
        let utf8 = RawText::new("# café\n".as_bytes().to_vec());
        assert_eq!(utf8.text, "# café\n");
        assert_eq!(utf8.encode(&utf8.text).unwrap(), utf8.bytes);
    }

    #[test]
    fn sha_is_over_bytes() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
