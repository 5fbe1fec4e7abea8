//! Which tables make up the tree: immutable [`Version`] snapshots, changed only
//! by applying a [`VersionEdit`] (which yields a new `Version`).
//!
//! Readers and compactions hold an old `Version` while a new one is installed;
//! tables are shared through `Rc`, so a clone costs one pointer per table and
//! a table file may be deleted only once no live `Version` names it.
//!
//! Invariants, checked by [`Version::apply`] (an edit that would break one is
//! rejected whole, so a bad manifest record can never yield a tree that reads
//! return wrong answers from):
//! - L0 is ordered newest first (`max_seq` descending) and the tables'
//!   sequence ranges are disjoint. Reads consult L0 in that order and stop at
//!   the first hit, which is only correct if every version of a key in an
//!   earlier table is newer than every version in a later one.
//! - L1 and below: sorted by `smallest`, key ranges disjoint (a user key lives in
//!   at most one table per level, so a point read looks at one table per level).
//! - Table ids are unique across the whole version.

use std::collections::HashSet;
use std::rc::Rc;

use super::error::DecodeError;
use super::types::SeqNo;

/// What the tree needs to know about one table file without opening it.
#[derive(Clone, Debug, PartialEq)]
pub struct TableInfo {
    pub id: u64,
    pub file_size: u64,
    /// Smallest user key in the table (inclusive).
    pub smallest: Vec<u8>,
    /// Largest user key in the table (inclusive).
    pub largest: Vec<u8>,
    pub entries: u64,
    pub tombstones: u64,
    pub min_seq: SeqNo,
    pub max_seq: SeqNo,
}

impl TableInfo {
    /// Whether the table's key range intersects `[smallest, largest]` (both inclusive).
    pub fn overlaps(&self, smallest: &[u8], largest: &[u8]) -> bool {
        self.smallest.as_slice() <= largest && smallest <= self.largest.as_slice()
    }

    /// Whether `key` lies within the table's key range (it may still be absent).
    pub fn may_contain(&self, key: &[u8]) -> bool {
        self.overlaps(key, key)
    }
}

/// The smallest and largest user key over `tables`, or `None` if there are none.
pub fn key_range<'a, I>(tables: I) -> Option<(&'a [u8], &'a [u8])>
where
    I: IntoIterator<Item = &'a Rc<TableInfo>>,
{
    tables.into_iter().fold(None, |acc, t| {
        let (s, l) = (t.smallest.as_slice(), t.largest.as_slice());
        Some(match acc {
            None => (s, l),
            Some((a, b)) => (a.min(s), b.max(l)),
        })
    })
}

/// Immutable snapshot of which tables make up the tree. Cheap to clone.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Version {
    levels: Vec<Vec<Rc<TableInfo>>>,
}

/// A change to the tree, as logged in the manifest (see `manifest.rs` for its
/// encoding). Deletions are applied before additions, so one edit can move a
/// table between levels by deleting and re-adding the same id.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VersionEdit {
    /// `(level, table)`.
    pub added: Vec<(u32, TableInfo)>,
    /// `(level, table id)`.
    pub deleted: Vec<(u32, u64)>,
    /// All writes with seq <= flushed_seq are in tables; WAL segments holding only such writes can go.
    pub flushed_seq: Option<SeqNo>,
    pub next_file_id: Option<u64>,
    pub last_seq: Option<SeqNo>,
}

impl Version {
    /// An empty tree with `num_levels` levels (L0 included).
    pub fn new(num_levels: usize) -> Self {
        Version { levels: vec![Vec::new(); num_levels] }
    }

    pub fn num_levels(&self) -> usize {
        self.levels.len()
    }

    /// L0 newest first (by max_seq desc, may overlap); L1.. sorted by smallest, non-overlapping.
    pub fn levels(&self) -> &[Vec<Rc<TableInfo>>] {
        &self.levels
    }

    /// The tables of one level; empty if the level does not exist.
    pub fn level(&self, level: usize) -> &[Rc<TableInfo>] {
        self.levels.get(level).map_or(&[], Vec::as_slice)
    }

    /// A new Version with `edit` applied; `self` is unchanged. Errors if the
    /// edit names a level that does not exist, deletes a table that is not
    /// there, adds an id already present, or breaks a level's order invariant.
    pub fn apply(&self, edit: &VersionEdit) -> Result<Version, DecodeError> {
        let mut levels = self.levels.clone();
        for &(level, id) in &edit.deleted {
            let tables = &mut levels[level_index(self.levels.len(), level)?];
            let pos = tables
                .iter()
                .position(|t| t.id == id)
                .ok_or(DecodeError::Invalid("edit deletes a table not in that level"))?;
            tables.remove(pos);
        }
        let mut ids: HashSet<u64> = levels.iter().flatten().map(|t| t.id).collect();
        let mut touched = vec![false; levels.len()];
        for (level, table) in &edit.added {
            let index = level_index(levels.len(), *level)?;
            check_table(table)?;
            if !ids.insert(table.id) {
                return Err(DecodeError::Invalid("edit adds a table id already in the version"));
            }
            levels[index].push(Rc::new(table.clone()));
            touched[index] = true;
        }
        // Deletions cannot break an order, so only levels that gained tables are re-checked.
        for (index, tables) in levels.iter_mut().enumerate() {
            if touched[index] {
                order_level(index, tables)?;
            }
        }
        Ok(Version { levels })
    }

    /// Total file bytes in `level` (0 if the level does not exist).
    pub fn level_bytes(&self, level: usize) -> u64 {
        self.level(level).iter().map(|t| t.file_size).sum()
    }

    pub fn total_bytes(&self) -> u64 {
        (0..self.levels.len()).map(|l| self.level_bytes(l)).sum()
    }

    /// Tables of `level` whose key range intersects `[smallest, largest]`, in level order.
    pub fn overlapping(&self, level: usize, smallest: &[u8], largest: &[u8]) -> Vec<Rc<TableInfo>> {
        let tables = self.level(level);
        if level == 0 {
            return tables.iter().filter(|t| t.overlaps(smallest, largest)).cloned().collect();
        }
        // Sorted and disjoint: skip the tables entirely left of the range, then
        // take while they start inside it.
        let start = tables.partition_point(|t| t.largest.as_slice() < smallest);
        tables[start..].iter().take_while(|t| t.smallest.as_slice() <= largest).cloned().collect()
    }

    /// Tables that may hold `key`, in the order a read must consult them (L0 newest first, then one per level).
    pub fn tables_for_key<'a>(&'a self, key: &'a [u8]) -> impl Iterator<Item = &'a Rc<TableInfo>> + 'a {
        let deeper = self.levels.iter().skip(1).filter_map(move |tables| {
            let i = tables.partition_point(|t| t.largest.as_slice() < key);
            tables.get(i).filter(|t| t.may_contain(key))
        });
        self.level(0).iter().filter(move |t| t.may_contain(key)).chain(deeper)
    }

    /// Ids of every table in the version (L0 first, then by level and key).
    pub fn all_table_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.levels.iter().flatten().map(|t| t.id)
    }

    pub fn table_count(&self) -> usize {
        self.levels.iter().map(Vec::len).sum()
    }

    /// The level and info of table `id`, if it is in this version.
    pub fn find(&self, id: u64) -> Option<(u32, &Rc<TableInfo>)> {
        self.levels
            .iter()
            .enumerate()
            .find_map(|(level, tables)| tables.iter().find(|t| t.id == id).map(|t| (level as u32, t)))
    }
}

fn level_index(num_levels: usize, level: u32) -> Result<usize, DecodeError> {
    let index = level as usize;
    if index < num_levels {
        Ok(index)
    } else {
        Err(DecodeError::Invalid("edit names a level beyond the tree's num_levels"))
    }
}

/// Sanity of one table's own metadata; a violation means a corrupt or buggy edit.
fn check_table(t: &TableInfo) -> Result<(), DecodeError> {
    if t.smallest > t.largest {
        return Err(DecodeError::Invalid("table smallest key > largest key"));
    }
    if t.min_seq > t.max_seq {
        return Err(DecodeError::Invalid("table min_seq > max_seq"));
    }
    if t.tombstones > t.entries {
        return Err(DecodeError::Invalid("table has more tombstones than entries"));
    }
    Ok(())
}

/// Restore and check the order invariant of a level that gained tables.
fn order_level(index: usize, tables: &mut [Rc<TableInfo>]) -> Result<(), DecodeError> {
    if index == 0 {
        // Newest first. The id tie-break only makes the sort total: equal
        // max_seqs mean overlapping seq ranges, which the check rejects.
        tables.sort_by(|a, b| b.max_seq.cmp(&a.max_seq).then(b.id.cmp(&a.id)));
        let disjoint = tables.windows(2).all(|w| w[1].max_seq < w[0].min_seq);
        if !disjoint {
            return Err(DecodeError::Invalid("L0 tables' sequence ranges overlap"));
        }
    } else {
        tables.sort_by(|a, b| a.smallest.cmp(&b.smallest));
        // Strict: one user key in two tables of a level would make point reads
        // pick one table and miss the other.
        let disjoint = tables.windows(2).all(|w| w[0].largest < w[1].smallest);
        if !disjoint {
            return Err(DecodeError::Invalid("key ranges overlap within a level below L0"));
        }
    }
    Ok(())
}

/// Helpers for building made-up Versions in tests (here and in `compaction`).
#[cfg(test)]
pub(crate) mod test_util {
    use super::*;

    /// A table over `[smallest, largest]` with sequence range `[seq, seq]`.
    pub fn table(id: u64, file_size: u64, smallest: &str, largest: &str, seq: SeqNo) -> TableInfo {
        TableInfo {
            id,
            file_size,
            smallest: smallest.as_bytes().to_vec(),
            largest: largest.as_bytes().to_vec(),
            entries: 10,
            tombstones: 1,
            min_seq: seq,
            max_seq: seq,
        }
    }

    /// A Version holding `tables` as `(level, table)`, built through `apply`
    /// so every made-up Version satisfies the real invariants.
    pub fn version(num_levels: usize, tables: Vec<(u32, TableInfo)>) -> Version {
        let edit = VersionEdit { added: tables, ..Default::default() };
        Version::new(num_levels).apply(&edit).expect("made-up version must be valid")
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::{table, version};
    use super::*;

    fn ids(tables: &[Rc<TableInfo>]) -> Vec<u64> {
        tables.iter().map(|t| t.id).collect()
    }

    fn add(tables: Vec<(u32, TableInfo)>) -> VersionEdit {
        VersionEdit { added: tables, ..Default::default() }
    }

    #[test]
    fn l0_is_kept_newest_first() {
        let v = version(3, vec![(0, table(1, 10, "a", "z", 5)), (0, table(2, 10, "a", "z", 9))]);
        let v = v.apply(&add(vec![(0, table(3, 10, "a", "z", 7))])).unwrap();
        assert_eq!(ids(v.level(0)), vec![2, 3, 1]);
    }

    #[test]
    fn l0_overlapping_seq_ranges_rejected() {
        let mut t = table(2, 10, "a", "b", 4);
        t.max_seq = 6;
        let v = version(2, vec![(0, table(1, 10, "a", "z", 5))]);
        assert!(v.apply(&add(vec![(0, t)])).is_err());
    }

    #[test]
    fn lower_levels_sorted_and_overlap_rejected() {
        let v = version(3, vec![(1, table(1, 10, "m", "p", 1)), (1, table(2, 10, "a", "c", 1))]);
        assert_eq!(ids(v.level(1)), vec![2, 1]);
        assert!(v.apply(&add(vec![(1, table(3, 10, "c", "d", 1))])).is_err(), "shared boundary key");
        assert!(v.apply(&add(vec![(1, table(3, 10, "b", "n", 1))])).is_err());
        assert!(v.apply(&add(vec![(1, table(3, 10, "d", "l", 1))])).is_ok());
    }

    #[test]
    fn delete_of_unknown_or_misplaced_id_rejected() {
        let v = version(3, vec![(1, table(1, 10, "a", "c", 1))]);
        let del = |level, id| VersionEdit { deleted: vec![(level, id)], ..Default::default() };
        assert!(v.apply(&del(1, 99)).is_err());
        assert!(v.apply(&del(2, 1)).is_err(), "right id, wrong level");
        assert!(v.apply(&del(1, 1)).unwrap().level(1).is_empty());
        let twice = VersionEdit { deleted: vec![(1, 1), (1, 1)], ..Default::default() };
        assert!(v.apply(&twice).is_err());
    }

    #[test]
    fn duplicate_ids_rejected_but_move_allowed() {
        let v = version(3, vec![(1, table(1, 10, "a", "c", 1))]);
        assert!(v.apply(&add(vec![(2, table(1, 10, "x", "y", 1))])).is_err());
        let same_edit = add(vec![(2, table(7, 10, "a", "b", 1)), (2, table(7, 10, "x", "y", 1))]);
        assert!(v.apply(&same_edit).is_err());
        let moved =
            VersionEdit { deleted: vec![(1, 1)], added: vec![(2, table(1, 10, "a", "c", 1))], ..Default::default() };
        let v2 = v.apply(&moved).unwrap();
        assert_eq!(v2.find(1).map(|(l, _)| l), Some(2));
    }

    #[test]
    fn bad_level_or_table_rejected() {
        let v = Version::new(2);
        assert!(v.apply(&add(vec![(2, table(1, 10, "a", "b", 1))])).is_err());
        assert!(v.apply(&add(vec![(1, table(1, 10, "b", "a", 1))])).is_err());
        let mut t = table(1, 10, "a", "b", 5);
        t.min_seq = 6;
        assert!(v.apply(&add(vec![(1, t)])).is_err());
        assert!(Version::default().apply(&add(vec![(0, table(1, 1, "a", "a", 1))])).is_err());
    }

    #[test]
    fn apply_leaves_the_old_version_alone() {
        let v = version(2, vec![(1, table(1, 10, "a", "c", 1))]);
        let before = v.clone();
        let _ = v.apply(&add(vec![(1, table(2, 10, "d", "e", 1))])).unwrap();
        let _ = v.apply(&add(vec![(1, table(3, 10, "b", "e", 1))])).unwrap_err();
        assert_eq!(v, before);
    }

    #[test]
    fn sizes_counts_and_ids() {
        let v = version(
            3,
            vec![(0, table(1, 5, "a", "z", 9)), (1, table(2, 7, "a", "c", 1)), (2, table(3, 11, "a", "z", 1))],
        );
        assert_eq!((v.level_bytes(0), v.level_bytes(1), v.level_bytes(2), v.level_bytes(9)), (5, 7, 11, 0));
        assert_eq!(v.total_bytes(), 23);
        assert_eq!(v.table_count(), 3);
        assert_eq!(v.all_table_ids().collect::<Vec<_>>(), vec![1, 2, 3]);
    }

    #[test]
    fn overlapping_selects_exactly_intersecting_tables() {
        let v = version(
            2,
            vec![
                (1, table(1, 1, "a", "c", 1)),
                (1, table(2, 1, "e", "g", 1)),
                (1, table(3, 1, "i", "k", 1)),
                (0, table(4, 1, "f", "h", 5)),
                (0, table(5, 1, "x", "y", 6)),
            ],
        );
        assert_eq!(ids(&v.overlapping(1, b"c", b"e")), vec![1, 2]);
        assert_eq!(ids(&v.overlapping(1, b"d", b"d")), Vec::<u64>::new());
        assert_eq!(ids(&v.overlapping(1, b"h", b"z")), vec![3]);
        assert_eq!(ids(&v.overlapping(0, b"a", b"z")), vec![5, 4]);
        assert_eq!(ids(&v.overlapping(0, b"a", b"e")), Vec::<u64>::new());
    }

    #[test]
    fn tables_for_key_in_read_order() {
        let v = version(
            3,
            vec![
                (0, table(1, 1, "a", "m", 10)),
                (0, table(2, 1, "k", "z", 20)),
                (0, table(3, 1, "n", "z", 30)),
                (1, table(4, 1, "a", "f", 2)),
                (1, table(5, 1, "g", "m", 2)),
                (2, table(6, 1, "a", "z", 1)),
            ],
        );
        let for_key = |k: &[u8]| v.tables_for_key(k).map(|t| t.id).collect::<Vec<_>>();
        assert_eq!(for_key(b"l"), vec![2, 1, 5, 6]);
        assert_eq!(for_key(b"b"), vec![1, 4, 6]);
        assert_eq!(for_key(b"0"), Vec::<u64>::new());
    }
}
