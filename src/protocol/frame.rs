//! The fixed frame header and the two steps every decode starts with: validating the
//! header (fatal errors) and finding where the frame ends. Body layouts live in
//! `request.rs` and `response.rs`.

use std::mem::{align_of, offset_of, size_of};

use bytemuck::{Pod, Zeroable};

use super::error::{BodyError, DecodeError, FrameError};
use super::limits::Limits;

/// `"RKVP"`: the first four bytes of every frame.
pub const MAGIC: [u8; 4] = *b"RKVP";
/// The major version this code speaks (header byte 4).
pub const VERSION_MAJOR: u8 = 1;
/// The minor version this code speaks (negotiated in HANDSHAKE).
pub const VERSION_MINOR: u16 = 1;
/// Size of [`FrameHeader`] on the wire.
pub const HEADER_LEN: usize = 24;

/// Flag bits a receiver may ignore when it does not know them.
pub const FLAGS_OPTIONAL_MASK: u16 = 0x00FF;
/// Flag bits a receiver must refuse (recoverably) when it does not know them.
pub const FLAGS_REQUIRED_MASK: u16 = 0xFF00;
/// Flag bits defined by this version (1.1: FORWARDED, OVERWRITE).
pub const FLAGS_KNOWN: u16 = FLAG_FORWARDED | FLAG_OVERWRITE;

const OFFSET_VERSION: usize = 4;
const OFFSET_BODY_LEN: usize = 16;

/// The 24-byte frame header. In memory the fields hold native values; [`FrameHeader::to_bytes`]
/// and [`FrameHeader::from_bytes`] convert to and from the little-endian wire layout.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct FrameHeader {
    pub magic: [u8; 4],
    /// Major protocol version.
    pub version: u8,
    pub opcode: u8,
    pub flags: u16,
    pub request_id: u64,
    /// Bytes of body after the header.
    pub body_len: u32,
    /// Sent as 0, ignored on receipt in version 1.
    pub reserved: u32,
}

const _: () = assert!(size_of::<FrameHeader>() == HEADER_LEN);
const _: () = assert!(align_of::<FrameHeader>() == 8);
const _: () = assert!(offset_of!(FrameHeader, version) == OFFSET_VERSION);
const _: () = assert!(offset_of!(FrameHeader, opcode) == 5);
const _: () = assert!(offset_of!(FrameHeader, flags) == 6);
const _: () = assert!(offset_of!(FrameHeader, request_id) == 8);
const _: () = assert!(offset_of!(FrameHeader, body_len) == OFFSET_BODY_LEN);
const _: () = assert!(offset_of!(FrameHeader, reserved) == 20);
const _: () = assert!(FLAGS_OPTIONAL_MASK & FLAGS_REQUIRED_MASK == 0);
const _: () = assert!(FLAGS_OPTIONAL_MASK | FLAGS_REQUIRED_MASK == u16::MAX);

impl FrameHeader {
    pub fn new(opcode: u8, flags: u16, request_id: u64, body_len: u32) -> Self {
        FrameHeader { magic: MAGIC, version: VERSION_MAJOR, opcode, flags, request_id, body_len, reserved: 0 }
    }

    fn swap_to_or_from_le(self) -> Self {
        FrameHeader {
            magic: self.magic,
            version: self.version,
            opcode: self.opcode,
            flags: self.flags.to_le(),
            request_id: self.request_id.to_le(),
            body_len: self.body_len.to_le(),
            reserved: self.reserved.to_le(),
        }
    }

    /// The wire bytes of this header.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        bytemuck::cast(self.swap_to_or_from_le())
    }

    /// Reads a header from its wire bytes. Checks nothing: see [`peek_frame`].
    pub fn from_bytes(bytes: &[u8; HEADER_LEN]) -> Self {
        bytemuck::cast::<[u8; HEADER_LEN], FrameHeader>(*bytes).swap_to_or_from_le()
    }

    /// Header plus body, in bytes.
    pub fn frame_len(&self) -> usize {
        HEADER_LEN.saturating_add(self.body_len as usize)
    }
}

/// A decoded frame: the header fields a handler needs plus the decoded body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<T> {
    pub request_id: u64,
    pub flags: u16,
    pub body: T,
}

/// Validates what is there of a header and returns it once all 24 bytes are.
///
/// Fatal errors are reported as early as the bytes allow: the magic is checked on any
/// prefix, the version as soon as byte 4 is there, `body_len` once the header is complete.
/// `Ok(None)` means more bytes are needed. The I/O shell can use the returned header's
/// [`FrameHeader::frame_len`] to reserve exactly the room the frame needs.
pub fn peek_frame(buf: &[u8], limits: &Limits) -> Result<Option<FrameHeader>, FrameError> {
    let seen = buf.get(..MAGIC.len()).unwrap_or(buf);
    if MAGIC.get(..seen.len()) != Some(seen) {
        let mut got = [0u8; 4];
        for (g, b) in got.iter_mut().zip(seen) {
            *g = *b;
        }
        return Err(FrameError::BadMagic(got));
    }
    if let Some(&version) = buf.get(OFFSET_VERSION) {
        if version != VERSION_MAJOR {
            return Err(FrameError::UnsupportedVersion(version));
        }
    }
    let Some(bytes) = buf.get(..HEADER_LEN).and_then(|b| <&[u8; HEADER_LEN]>::try_from(b).ok()) else {
        return Ok(None);
    };
    let header = FrameHeader::from_bytes(bytes);
    if header.body_len as usize > limits.body_bytes_max() {
        return Err(FrameError::FrameTooLarge { len: header.frame_len() as u64, limit: limits.frame_bytes_max });
    }
    Ok(Some(header))
}

/// The shared decode path: header checks, then completeness, then flags, then the body.
pub(crate) fn decode_frame<'a, T>(
    buf: &'a [u8],
    limits: &Limits,
    decode_body: impl FnOnce(u8, &'a [u8], &Limits) -> Result<T, BodyError>,
) -> Result<Option<(Frame<T>, usize)>, DecodeError> {
    let Some(header) = peek_frame(buf, limits)? else {
        return Ok(None);
    };
    let consumed = header.frame_len();
    let Some(body) = buf.get(HEADER_LEN..consumed) else {
        return Ok(None);
    };
    let recoverable =
        |error| DecodeError::Recoverable { request_id: header.request_id, opcode: header.opcode, consumed, error };
    let unknown_required = header.flags & FLAGS_REQUIRED_MASK & !FLAGS_KNOWN;
    if unknown_required != 0 {
        return Err(recoverable(BodyError::UnsupportedFlags(unknown_required)));
    }
    let body = decode_body(header.opcode, body, limits).map_err(recoverable)?;
    Ok(Some((Frame { request_id: header.request_id, flags: header.flags, body }, consumed)))
}

/// Appends one frame: a header whose `body_len` is patched after `write_body` ran.
pub(crate) fn encode_frame(
    opcode: u8,
    flags: u16,
    request_id: u64,
    out: &mut Vec<u8>,
    write_body: impl FnOnce(&mut Vec<u8>),
) {
    let start = out.len();
    out.extend_from_slice(&[0u8; HEADER_LEN]);
    write_body(out);
    let body_len = out.len().saturating_sub(start).saturating_sub(HEADER_LEN);
    // A body over 4 GiB cannot be expressed; announcing u32::MAX makes every decoder
    // refuse the frame as too large instead of misreading it.
    let body_len = u32::try_from(body_len).unwrap_or(u32::MAX);
    let header = FrameHeader::new(opcode, flags, request_id, body_len);
    if let Some(slot) = out.get_mut(start..start.saturating_add(HEADER_LEN)) {
        slot.copy_from_slice(&header.to_bytes());
    }
}

/// Optional flag: this request was forwarded by another node (which found it
/// was not a replica of the key); the receiver must not forward it again.
pub const FLAG_FORWARDED: u16 = 0x0001;
/// Required flag on PUT/DELETE: supersede every sibling the coordinating
/// replica holds (last-writer-wins for this write), whatever the context.
pub const FLAG_OVERWRITE: u16 = 0x0100;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn header_bytes_are_little_endian() {
        let h = FrameHeader::new(0x11, 0x0102, 7, 17);
        let b = h.to_bytes();
        assert_eq!(&b[..4], b"RKVP");
        assert_eq!(b[4], 1);
        assert_eq!(b[5], 0x11);
        assert_eq!(&b[6..8], &[0x02, 0x01]);
        assert_eq!(&b[8..16], &7u64.to_le_bytes());
        assert_eq!(&b[16..20], &17u32.to_le_bytes());
        assert_eq!(&b[20..24], &[0; 4]);
        assert_eq!(FrameHeader::from_bytes(&b), h);
    }

    #[test]
    fn peek_checks_magic_and_version_early() {
        let l = Limits::DEFAULT;
        assert_eq!(peek_frame(b"", &l), Ok(None));
        assert_eq!(peek_frame(b"RK", &l), Ok(None));
        assert_eq!(peek_frame(b"*1\r\n", &l), Err(FrameError::BadMagic(*b"*1\r\n")));
        assert_eq!(peek_frame(b"G", &l), Err(FrameError::BadMagic([b'G', 0, 0, 0])));
        assert_eq!(peek_frame(b"RKVP\x02", &l), Err(FrameError::UnsupportedVersion(2)));
        assert_eq!(peek_frame(b"RKVP\x01\x02", &l), Ok(None));
    }

    #[test]
    fn peek_refuses_oversized_body_len() {
        let l = Limits::DEFAULT;
        let max = l.body_bytes_max() as u32;
        let ok = FrameHeader::new(0x11, 0, 1, max).to_bytes();
        assert!(peek_frame(&ok, &l).unwrap().is_some());
        let big = FrameHeader::new(0x11, 0, 1, max + 1).to_bytes();
        assert!(matches!(peek_frame(&big, &l), Err(FrameError::FrameTooLarge { .. })));
        let huge = FrameHeader::new(0x11, 0, 1, u32::MAX).to_bytes();
        assert!(matches!(peek_frame(&huge, &l), Err(FrameError::FrameTooLarge { .. })));
    }
}
