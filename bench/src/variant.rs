//! Unique versions of one component, for cold-start measurements.
//!
//! Caches key compiled code by content digest, so a "first call" measured on
//! bytes the platform has seen before would measure a cache hit. Appending a
//! custom section with a fresh tag changes the digest while leaving the code,
//! and so the cost of compiling it, exactly the same.

/// Name of the custom section carrying the tag.
const SECTION: &str = "faas-bench-variant";

/// `component` with a custom section holding `tag` appended.
///
/// A custom section (id 0, then its size, then a name and any payload) may
/// appear at the end of a component, and runtimes ignore its contents.
pub fn with_tag(component: &[u8], tag: &str) -> Vec<u8> {
    let mut payload = Vec::new();
    leb128(&mut payload, len_u32(SECTION.len()));
    payload.extend_from_slice(SECTION.as_bytes());
    payload.extend_from_slice(tag.as_bytes());

    let mut out = Vec::with_capacity(component.len() + payload.len() + 6);
    out.extend_from_slice(component);
    out.push(0);
    leb128(&mut out, len_u32(payload.len()));
    out.extend_from_slice(&payload);
    out
}

fn len_u32(len: usize) -> u32 {
    u32::try_from(len).expect("a tag is far shorter than 4 GiB")
}

fn leb128(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_one_well_formed_custom_section() {
        let component = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
        let tag = "x".repeat(200);
        let out = with_tag(&component, &tag);
        assert_eq!(&out[..8], &component);
        assert_eq!(out[8], 0, "custom section id");
        // 1 byte name length + 18 name bytes + 200 tag bytes = 219: two LEB128 bytes.
        assert_eq!(&out[9..11], &[0xdb, 0x01]);
        assert_eq!(out.len() - 11, 219);
        assert_eq!(out[11] as usize, SECTION.len());
        assert_eq!(&out[12..12 + SECTION.len()], SECTION.as_bytes());
        assert_ne!(with_tag(&component, "a"), with_tag(&component, "b"));
    }
}
