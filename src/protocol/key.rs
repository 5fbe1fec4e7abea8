//! Keys and scan bounds as they appear in bodies.

use std::ops::Bound;

use super::error::{BodyError, Field};
use super::limits::Limits;
use super::wire::{put_bytes, Reader};

/// A key: a partition key (1..=1 KiB) and a sort key (0..=1 KiB). An empty sort key means
/// "no sort key": `Key::new(p, [])` and a key with no sort key are the same key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Key {
    pub partition: Vec<u8>,
    pub sort: Vec<u8>,
}

impl Key {
    pub fn new(partition: impl Into<Vec<u8>>, sort: impl Into<Vec<u8>>) -> Self {
        Key { partition: partition.into(), sort: sort.into() }
    }

    /// A key without a sort key.
    pub fn partition(partition: impl Into<Vec<u8>>) -> Self {
        Key { partition: partition.into(), sort: Vec::new() }
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        encode_parts(out, &self.partition, &self.sort);
    }

    pub(crate) fn decode(r: &mut Reader<'_>, limits: &Limits) -> Result<Self, BodyError> {
        KeyRef::decode(r, limits).map(|k| k.to_key())
    }
}

/// A [`Key`] borrowed from the body it was decoded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRef<'a> {
    pub partition: &'a [u8],
    pub sort: &'a [u8],
}

impl<'a> KeyRef<'a> {
    pub(crate) fn decode(r: &mut Reader<'a>, limits: &Limits) -> Result<Self, BodyError> {
        let partition = partition_key_ref(r, limits)?;
        let sort = r.bytes(limits.sort_key_bytes_max, Field::SortKey)?;
        Ok(KeyRef { partition, sort })
    }

    pub fn to_key(&self) -> Key {
        Key::new(self.partition, self.sort)
    }
}

fn partition_key_ref<'a>(r: &mut Reader<'a>, limits: &Limits) -> Result<&'a [u8], BodyError> {
    let p = r.bytes(limits.partition_key_bytes_max, Field::PartitionKey)?;
    if p.is_empty() {
        return Err(BodyError::EmptyPartitionKey);
    }
    Ok(p)
}

pub(crate) fn partition_key(r: &mut Reader<'_>, limits: &Limits) -> Result<Vec<u8>, BodyError> {
    partition_key_ref(r, limits).map(<[u8]>::to_vec)
}

const BOUND_UNBOUNDED: u8 = 0;
const BOUND_INCLUDED: u8 = 1;
const BOUND_EXCLUDED: u8 = 2;

/// A key's encoding from its parts (what [`Key::encode`] writes), for a
/// client that has them as slices.
pub(crate) fn encode_parts(out: &mut Vec<u8>, partition: &[u8], sort: &[u8]) {
    put_bytes(out, partition);
    put_bytes(out, sort);
}

pub(crate) fn encode_bound(b: &Bound<Vec<u8>>, out: &mut Vec<u8>) {
    match b {
        Bound::Unbounded => out.push(BOUND_UNBOUNDED),
        Bound::Included(k) => {
            out.push(BOUND_INCLUDED);
            put_bytes(out, k);
        }
        Bound::Excluded(k) => {
            out.push(BOUND_EXCLUDED);
            put_bytes(out, k);
        }
    }
}

pub(crate) fn decode_bound(r: &mut Reader<'_>, limits: &Limits) -> Result<Bound<Vec<u8>>, BodyError> {
    match r.u8()? {
        BOUND_UNBOUNDED => Ok(Bound::Unbounded),
        BOUND_INCLUDED => Ok(Bound::Included(r.vec(limits.sort_key_bytes_max, Field::SortKey)?)),
        BOUND_EXCLUDED => Ok(Bound::Excluded(r.vec(limits.sort_key_bytes_max, Field::SortKey)?)),
        _ => Err(BodyError::Invalid("bound kind")),
    }
}
