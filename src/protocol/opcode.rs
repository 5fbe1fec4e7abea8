//! Opcodes: what a frame's body is. Requests use `0x01..=0x7F`; the response to opcode
//! `op` is `op | 0x80`; ERROR (`0xFF`) answers any request.

/// Every opcode of protocol version 1.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Opcode {
    Handshake = 0x01,
    Ping = 0x02,
    Get = 0x10,
    Put = 0x11,
    Delete = 0x12,
    Scan = 0x13,
    MGet = 0x20,
    MPut = 0x21,
    /// Node to node: one replication message (docs/REPLICATION.md).
    Replica = 0x30,
    /// Node to node: exchange member lists.
    Members = 0x31,
    HandshakeReply = 0x81,
    Pong = 0x82,
    GetReply = 0x90,
    PutReply = 0x91,
    DeleteReply = 0x92,
    ScanReply = 0x93,
    MGetReply = 0xA0,
    MPutReply = 0xA1,
    ReplicaReply = 0xB0,
    MembersReply = 0xB1,
    Error = 0xFF,
}

/// The bit that turns a request opcode into its response opcode.
pub const RESPONSE_BIT: u8 = 0x80;

const _: () = assert!(Opcode::Get as u8 | RESPONSE_BIT == Opcode::GetReply as u8);
const _: () = assert!(Opcode::MPut as u8 | RESPONSE_BIT == Opcode::MPutReply as u8);
const _: () = assert!(Opcode::Error as u8 & RESPONSE_BIT != 0);

impl Opcode {
    pub fn is_request(self) -> bool {
        (self as u8) & RESPONSE_BIT == 0
    }

    /// The opcode of a successful response to this request opcode (`None` for responses).
    pub fn reply(self) -> Option<Opcode> {
        if self.is_request() {
            Opcode::try_from(self as u8 | RESPONSE_BIT).ok()
        } else {
            None
        }
    }
}

impl TryFrom<u8> for Opcode {
    /// The unknown byte.
    type Error = u8;
    fn try_from(b: u8) -> Result<Self, u8> {
        use Opcode::*;
        Ok(match b {
            0x01 => Handshake,
            0x02 => Ping,
            0x10 => Get,
            0x11 => Put,
            0x12 => Delete,
            0x13 => Scan,
            0x20 => MGet,
            0x21 => MPut,
            0x30 => Replica,
            0x31 => Members,
            0x81 => HandshakeReply,
            0x82 => Pong,
            0x90 => GetReply,
            0x91 => PutReply,
            0x92 => DeleteReply,
            0x93 => ScanReply,
            0xA0 => MGetReply,
            0xA1 => MPutReply,
            0xB0 => ReplicaReply,
            0xB1 => MembersReply,
            0xFF => Error,
            other => return Err(other),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_roundtrips_or_is_unknown() {
        let mut known = 0;
        for b in 0..=u8::MAX {
            if let Ok(op) = Opcode::try_from(b) {
                assert_eq!(op as u8, b);
                known += 1;
                if let Some(r) = op.reply() {
                    assert!(!r.is_request());
                }
            }
        }
        assert_eq!(known, 21);
        assert_eq!(Opcode::Scan.reply(), Some(Opcode::ScanReply));
        assert_eq!(Opcode::Error.reply(), None);
    }
}
