//! Leveled compaction, RocksDB-like: L0 holds flushed tables (overlapping,
//! newest first); every lower level is one sorted run about `level_size_ratio`
//! times bigger than the level above.
//!
//! Every level has a score, and the highest score of at least 1 is compacted
//! (ties go to the upper level), as RocksDB picks:
//! - L0: its table count over `l0_trigger_files`. Compacting it merges all of
//!   L0 with the L1 tables overlapping it, into L1. Taking *all* of L0 keeps
//!   the rule simple and always correct (a subset would have to be the oldest
//!   tables).
//! - Ln (1 <= n < last): `bytes / target(Ln)`, counted only above 1, where
//!   target(L1) = `base_level_bytes` and target(Ln+1) = target(Ln) *
//!   `level_size_ratio`. Compacting it merges one table of Ln with the Ln+1
//!   tables overlapping it, into Ln+1.
//!
//! L0 does not simply come first. Under a steady stream of writes L0 is
//! always due again, L1 would then never move down, and each L0 compaction
//! would rewrite all of an ever larger L1.
//!
//! Which table of Ln: the one with the least Ln+1 overlap per byte of its own
//! (RocksDB's `kMinOverlappingRatio`), ties to the lowest (oldest) id. It
//! moves the most data down per byte rewritten and needs no state; a
//! round-robin cursor would have to live in the Version and the manifest.
//! The last level never compacts downwards.

use std::cmp::Ordering;
use std::rc::Rc;

use super::{is_bottommost, ramp, CompactionChoice};
use crate::storage::version::{key_range, TableInfo, Version};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

#[derive(Clone, Debug, PartialEq)]
pub struct LeveledOptions {
    /// L0 table count that triggers an L0 -> L1 compaction.
    pub l0_trigger_files: usize,
    /// L0 table count at which write pressure starts to rise above 0.
    pub l0_slowdown_files: usize,
    /// L0 table count at which write pressure reaches 1 (writes stop).
    pub l0_stop_files: usize,
    /// Target size of L1.
    pub base_level_bytes: u64,
    /// Each level's target is this many times the one above.
    pub level_size_ratio: u64,
    /// Compaction outputs are split at about this size.
    pub target_file_bytes: u64,
    /// Levels including L0.
    pub num_levels: usize,
    /// Pending compaction bytes (bytes over level targets, see
    /// [`pending_compaction_bytes`]) at which write pressure starts to rise.
    pub pending_slowdown_bytes: u64,
    /// Pending compaction bytes at which write pressure reaches 1.
    pub pending_stop_bytes: u64,
}

impl Default for LeveledOptions {
    fn default() -> Self {
        LeveledOptions {
            l0_trigger_files: 4,
            l0_slowdown_files: 12,
            l0_stop_files: 20,
            base_level_bytes: 256 * MIB,
            level_size_ratio: 10,
            target_file_bytes: 16 * MIB,
            num_levels: 7,
            // RocksDB's soft/hard pending-compaction-bytes limits.
            pending_slowdown_bytes: 64 * GIB,
            pending_stop_bytes: 256 * GIB,
        }
    }
}

impl LeveledOptions {
    /// Target size of `level` (>= 1); saturates instead of overflowing.
    pub fn level_target_bytes(&self, level: usize) -> u64 {
        let mut target = self.base_level_bytes;
        for _ in 1..level {
            target = target.saturating_mul(self.level_size_ratio);
        }
        target
    }

    pub fn validate(&self) -> Result<(), &'static str> {
        if self.num_levels < 2 {
            return Err("leveled compaction needs num_levels >= 2");
        }
        if self.l0_trigger_files == 0 {
            return Err("l0_trigger_files must be >= 1");
        }
        // If writes stopped before L0 could trigger a compaction, nothing
        // would ever resume them.
        if self.l0_trigger_files > self.l0_stop_files || self.l0_slowdown_files > self.l0_stop_files {
            return Err("need l0_trigger_files <= l0_stop_files and l0_slowdown_files <= l0_stop_files");
        }
        if self.pending_slowdown_bytes > self.pending_stop_bytes {
            return Err("need pending_slowdown_bytes <= pending_stop_bytes");
        }
        if self.level_size_ratio < 2 || self.base_level_bytes == 0 || self.target_file_bytes == 0 {
            return Err("need level_size_ratio >= 2, base_level_bytes > 0, target_file_bytes > 0");
        }
        Ok(())
    }
}

/// The next leveled compaction, if any is due.
pub fn pick(o: &LeveledOptions, v: &Version) -> Option<CompactionChoice> {
    if last_level(o, v) == 0 {
        return None;
    }
    let l0_score = v.level(0).len() as f64 / o.l0_trigger_files as f64;
    match best_level(o, v) {
        Some((level, score)) if score > l0_score => pick_level(o, v, level),
        best => pick_l0(o, v).or_else(|| pick_level(o, v, best?.0)),
    }
}

/// Write pressure: the worse of L0 table count and pending compaction bytes.
pub fn write_pressure(o: &LeveledOptions, v: &Version) -> f64 {
    let l0 = ramp(v.level(0).len() as f64, o.l0_slowdown_files as f64, o.l0_stop_files as f64);
    let pending = pending_compaction_bytes(o, v) as f64;
    let bytes = ramp(pending, o.pending_slowdown_bytes as f64, o.pending_stop_bytes as f64);
    l0.max(bytes)
}

/// Bytes that must move down a level before every level is within target:
/// all of L0 once it is due, plus each non-last level's excess over target.
pub fn pending_compaction_bytes(o: &LeveledOptions, v: &Version) -> u64 {
    let last = last_level(o, v);
    if last == 0 {
        return 0;
    }
    let l0 = if v.level(0).len() >= o.l0_trigger_files { v.level_bytes(0) } else { 0 };
    let excess = (1..last).map(|l| v.level_bytes(l).saturating_sub(o.level_target_bytes(l)));
    excess.fold(l0, u64::saturating_add)
}

/// The bottom level: the smaller of what the options and the Version have.
fn last_level(o: &LeveledOptions, v: &Version) -> usize {
    o.num_levels.min(v.num_levels()).saturating_sub(1)
}

/// L0 into L1 whatever its count, while the engine is idle.
pub fn pick_idle(o: &LeveledOptions, v: &Version) -> Option<CompactionChoice> {
    if last_level(o, v) == 0 || v.level(0).is_empty() {
        return None;
    }
    merge_l0(o, v, "idle_l0")
}

fn pick_l0(o: &LeveledOptions, v: &Version) -> Option<CompactionChoice> {
    if v.level(0).len() < o.l0_trigger_files {
        return None;
    }
    merge_l0(o, v, "l0_file_count")
}

fn merge_l0(o: &LeveledOptions, v: &Version, reason: &'static str) -> Option<CompactionChoice> {
    let l0 = v.level(0);
    let (smallest, largest) = key_range(l0)?;
    let l1 = v.overlapping(1, smallest, largest);
    Some(choice(o, v, 0, l0, &l1, reason))
}

/// The level below L0 (and above the last) with the highest score over 1.
fn best_level(o: &LeveledOptions, v: &Version) -> Option<(usize, f64)> {
    (1..last_level(o, v))
        .map(|l| (l, v.level_bytes(l) as f64 / o.level_target_bytes(l) as f64))
        .filter(|&(_, score)| score > 1.0)
        // max_by keeps the last of equal maxima; reversing the level order on
        // ties makes the upper level win.
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
}

fn pick_level(o: &LeveledOptions, v: &Version, level: usize) -> Option<CompactionChoice> {
    let table = choose_table(v, level)?;
    let below = v.overlapping(level + 1, &table.smallest, &table.largest);
    Some(choice(o, v, level, &[table], &below, "level_size_score"))
}

/// The table of `level` with the least next-level overlap per byte of its own.
fn choose_table(v: &Version, level: usize) -> Option<Rc<TableInfo>> {
    let overlap_bytes =
        |t: &TableInfo| -> u64 { v.overlapping(level + 1, &t.smallest, &t.largest).iter().map(|n| n.file_size).sum() };
    v.level(level)
        .iter()
        .map(|t| (t, overlap_bytes(t)))
        .min_by(|(a, a_over), (b, b_over)| cmp_ratio(*a_over, a.file_size, *b_over, b.file_size).then(a.id.cmp(&b.id)))
        .map(|(t, _)| Rc::clone(t))
}

/// Compare `a_num / a_den` with `b_num / b_den` exactly (no float rounding, so
/// the choice is deterministic); a zero size counts as one byte.
fn cmp_ratio(a_num: u64, a_den: u64, b_num: u64, b_den: u64) -> Ordering {
    let lhs = u128::from(a_num) * u128::from(b_den.max(1));
    let rhs = u128::from(b_num) * u128::from(a_den.max(1));
    lhs.cmp(&rhs)
}

/// A choice merging `upper` (from `level`) with `lower` (from `level + 1`) into `level + 1`.
fn choice(
    o: &LeveledOptions,
    v: &Version,
    level: usize,
    upper: &[Rc<TableInfo>],
    lower: &[Rc<TableInfo>],
    reason: &'static str,
) -> CompactionChoice {
    let output_level = level + 1;
    let drop_tombstones = match key_range(upper.iter().chain(lower)) {
        Some((smallest, largest)) => is_bottommost(v, output_level, smallest, largest),
        None => false,
    };
    let ids = |tables: &[Rc<TableInfo>]| tables.iter().map(|t| t.id).collect::<Vec<_>>();
    let inputs = [(level as u32, ids(upper)), (output_level as u32, ids(lower))]
        .into_iter()
        .filter(|(_, ids)| !ids.is_empty())
        .collect();
    CompactionChoice {
        inputs,
        output_level: output_level as u32,
        drop_tombstones,
        target_file_bytes: o.target_file_bytes,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::version::test_util::{table, version};
    use crate::storage::version::TableInfo;

    /// Small numbers so made-up levels are easy to size: L1 target 100, L2 1000, L3 10000.
    fn opts() -> LeveledOptions {
        LeveledOptions {
            l0_trigger_files: 4,
            l0_slowdown_files: 8,
            l0_stop_files: 12,
            base_level_bytes: 100,
            level_size_ratio: 10,
            target_file_bytes: 50,
            num_levels: 4,
            pending_slowdown_bytes: 1000,
            pending_stop_bytes: 3000,
        }
    }

    /// `n` L0 tables over `[a, c]`, newest (highest seq) first.
    fn l0_tables(n: u64) -> Vec<(u32, TableInfo)> {
        (0..n).map(|i| (0, table(100 + i, 10, "a", "c", 100 + i))).collect()
    }

    #[test]
    fn target_sizes_grow_by_ratio_and_saturate() {
        let o = opts();
        assert_eq!((o.level_target_bytes(1), o.level_target_bytes(2), o.level_target_bytes(3)), (100, 1000, 10000));
        let huge = LeveledOptions { base_level_bytes: u64::MAX / 2, ..opts() };
        assert_eq!(huge.level_target_bytes(5), u64::MAX);
    }

    #[test]
    fn nothing_below_the_l0_trigger() {
        let v = version(4, l0_tables(3));
        assert_eq!(pick(&opts(), &v), None);
    }

    #[test]
    fn l0_trigger_takes_all_l0_and_only_overlapping_l1() {
        let mut tables = l0_tables(4);
        tables.push((0, table(1, 10, "m", "n", 50))); // widens L0's range to [a, n]
        tables.push((1, table(2, 10, "b", "d", 1)));
        tables.push((1, table(3, 10, "e", "f", 1)));
        tables.push((1, table(4, 10, "x", "z", 1)));
        let v = version(4, tables);
        let c = pick(&opts(), &v).unwrap();
        assert_eq!(c.inputs, vec![(0, vec![103, 102, 101, 100, 1]), (1, vec![2, 3])]);
        assert_eq!((c.output_level, c.target_file_bytes, c.reason), (1, 50, "l0_file_count"));
    }

    #[test]
    fn l0_trigger_without_l1_overlap_lists_only_l0() {
        let v = version(4, l0_tables(4));
        let c = pick(&opts(), &v).unwrap();
        assert_eq!(c.inputs, vec![(0, vec![103, 102, 101, 100])]);
        assert!(c.drop_tombstones, "nothing at all below L1");
    }

    #[test]
    fn the_higher_score_of_l0_and_a_level_wins() {
        let mut tables = l0_tables(8); // L0 score 2
        tables.push((1, table(1, 300, "x", "z", 1))); // L1 score 3
        let c = pick(&opts(), &version(4, tables.clone())).unwrap();
        assert_eq!(c.reason, "level_size_score");
        tables[8] = (1, table(1, 150, "x", "z", 1)); // L1 score 1.5
        let c = pick(&opts(), &version(4, tables)).unwrap();
        assert_eq!(c.reason, "l0_file_count");
    }

    #[test]
    fn a_pick_is_a_move_only_for_tables_apart_over_nothing() {
        // The test tables hold a tombstone each.
        let clean = |id, size, a, b| TableInfo { tombstones: 0, ..table(id, size, a, b, id) };
        let lone_l1 = vec![(1, clean(1, 300, "a", "c")), (2, table(2, 10, "x", "z", 1))];
        let edit = pick(&opts(), &version(4, lone_l1.clone())).unwrap().as_move(&version(4, lone_l1)).unwrap();
        assert_eq!((edit.deleted, edit.added.len(), edit.added[0].0, edit.added[0].1.id), (vec![(1, 1)], 1, 2, 1));
        let over_l2 = vec![(1, clean(1, 300, "a", "c")), (2, table(2, 10, "b", "z", 1))];
        assert_eq!(pick(&opts(), &version(4, over_l2.clone())).unwrap().as_move(&version(4, over_l2)), None);
        // L0 tables that overlap each other are merged; side by side, they move.
        let l0 = l0_tables(4);
        assert_eq!(pick(&opts(), &version(4, l0.clone())).unwrap().as_move(&version(4, l0)), None);
        let apart: Vec<_> = ["a", "c", "e", "g"].iter().zip(10..).map(|(k, id)| (0, clean(id, 10, k, k))).collect();
        let edit = pick(&opts(), &version(4, apart.clone())).unwrap().as_move(&version(4, apart)).unwrap();
        assert_eq!(edit.deleted, vec![(0, 10), (0, 11), (0, 12), (0, 13)]);
        assert!(edit.added.iter().all(|(level, _)| *level == 1));
        let touching = vec![(0, clean(10, 10, "a", "c")), (0, clean(11, 10, "c", "e"))];
        let o = LeveledOptions { l0_trigger_files: 2, ..opts() };
        assert_eq!(pick(&o, &version(4, touching.clone())).unwrap().as_move(&version(4, touching)), None);
        // Its tombstones would be dropped by a rewrite into the last level.
        let last = vec![(2, table(1, 3000, "a", "c", 1))];
        let c = pick(&opts(), &version(4, last.clone())).unwrap();
        assert!(c.drop_tombstones);
        assert_eq!(c.as_move(&version(4, last)), None);
    }

    #[test]
    fn a_tie_between_l0_and_a_level_goes_to_l0() {
        let mut tables = l0_tables(8); // L0 score 2
        tables.push((1, table(1, 200, "x", "z", 1))); // L1 score 2
        assert_eq!(pick(&opts(), &version(4, tables)).unwrap().reason, "l0_file_count");
    }

    #[test]
    fn idle_takes_l0_below_its_trigger_and_nothing_else() {
        let mut tables = l0_tables(1);
        tables.push((1, table(2, 10, "b", "d", 1)));
        let c = pick_idle(&opts(), &version(4, tables)).unwrap();
        assert_eq!((c.inputs, c.output_level, c.reason), (vec![(0, vec![100]), (1, vec![2])], 1, "idle_l0"));
        let deeper_only = version(4, vec![(1, table(2, 10_000, "b", "d", 1))]);
        assert_eq!(pick_idle(&opts(), &deeper_only), None, "only L0 is merged when idle");
        assert_eq!(pick_idle(&LeveledOptions { num_levels: 1, ..opts() }, &version(1, l0_tables(2))), None);
    }

    #[test]
    fn level_within_target_is_left_alone() {
        let v = version(4, vec![(1, table(1, 100, "a", "c", 1)), (2, table(2, 1000, "a", "z", 1))]);
        assert_eq!(pick(&opts(), &v), None, "score exactly 1 is not over target");
    }

    #[test]
    fn highest_score_level_wins() {
        // L1: 150/100 = 1.5; L2: 3000/1000 = 3.0.
        let v = version(
            4,
            vec![
                (1, table(1, 150, "a", "c", 1)),
                (2, table(2, 1500, "a", "f", 1)),
                (2, table(3, 1500, "g", "k", 1)),
                (3, table(4, 10, "h", "i", 1)),
            ],
        );
        let c = pick(&opts(), &v).unwrap();
        assert_eq!(c.reason, "level_size_score");
        assert_eq!(c.output_level, 3);
        // Table 2 overlaps nothing in L3, table 3 overlaps table 4: pick 2.
        assert_eq!(c.inputs, vec![(2, vec![2])]);
        assert!(c.drop_tombstones);
    }

    #[test]
    fn equal_scores_go_to_the_upper_level() {
        let v = version(4, vec![(1, table(1, 200, "a", "c", 1)), (2, table(2, 2000, "x", "z", 1))]);
        assert_eq!(pick(&opts(), &v).unwrap().output_level, 2);
    }

    #[test]
    fn chosen_table_minimises_overlap_ratio_and_takes_its_overlap() {
        let v = version(
            4,
            vec![
                // L1 over target (300 > 100).
                (1, table(1, 100, "a", "c", 1)), // overlaps 500 bytes: ratio 5
                (1, table(2, 100, "d", "f", 1)), // overlaps 100 bytes: ratio 1
                (1, table(3, 100, "g", "i", 1)), // overlaps 300 bytes: ratio 3
                (2, table(10, 500, "b", "c", 1)),
                (2, table(11, 50, "d", "d", 1)),
                (2, table(12, 50, "e", "e", 1)),
                (2, table(13, 300, "h", "z", 1)),
            ],
        );
        let c = pick(&opts(), &v).unwrap();
        assert_eq!(c.inputs, vec![(1, vec![2]), (2, vec![11, 12])]);
        assert_eq!(c.output_level, 2);
    }

    #[test]
    fn overlap_ratio_ties_go_to_the_oldest_id() {
        let v = version(4, vec![(1, table(7, 100, "a", "c", 1)), (1, table(5, 100, "d", "f", 1))]);
        assert_eq!(pick(&opts(), &v).unwrap().inputs, vec![(1, vec![5])]);
    }

    #[test]
    fn last_level_never_compacts_down() {
        let v = version(4, vec![(3, table(1, 1 << 40, "a", "z", 1))]);
        assert_eq!(pick(&opts(), &v), None);
        assert_eq!(pick(&LeveledOptions { num_levels: 1, ..opts() }, &version(1, l0_tables(9))), None);
    }

    #[test]
    fn tombstones_kept_while_a_lower_level_overlaps() {
        let v = version(
            4,
            vec![(1, table(1, 500, "a", "c", 1)), (2, table(2, 10, "a", "b", 1)), (3, table(3, 10, "c", "d", 1))],
        );
        let c = pick(&opts(), &v).unwrap();
        assert_eq!(c.inputs, vec![(1, vec![1]), (2, vec![2])]);
        assert!(!c.drop_tombstones, "L3 table 3 overlaps the inputs' range [a, c]");

        let v = version(4, vec![(1, table(1, 500, "a", "c", 1)), (3, table(3, 10, "d", "e", 1))]);
        assert!(pick(&opts(), &v).unwrap().drop_tombstones, "L3 table is outside [a, c]");
    }

    #[test]
    fn l0_tombstones_kept_when_l2_overlaps() {
        let mut tables = l0_tables(4);
        tables.push((2, table(1, 10, "b", "b", 1)));
        assert!(!pick(&opts(), &version(4, tables)).unwrap().drop_tombstones);
    }

    #[test]
    fn into_the_last_level_drops_tombstones() {
        let v = version(3, vec![(1, table(1, 500, "a", "c", 1)), (2, table(2, 10, "a", "z", 1))]);
        let c = pick(&LeveledOptions { num_levels: 3, ..opts() }, &v).unwrap();
        assert_eq!((c.output_level, c.drop_tombstones), (2, true));
    }

    #[test]
    fn l0_pressure_zero_below_slowdown_one_at_stop_monotone() {
        let o = opts();
        let mut last = 0.0;
        for n in 0..=16 {
            let p = write_pressure(&o, &version(4, l0_tables(n)));
            assert!(p >= last, "monotone at {n}");
            if n <= 8 {
                assert_eq!(p, 0.0, "at {n} files");
            }
            if n >= 12 {
                assert!(p >= 1.0, "at {n} files");
            }
            last = p;
        }
        assert_eq!(write_pressure(&o, &version(4, l0_tables(10))), 0.5);
    }

    #[test]
    fn pending_bytes_pressure() {
        let o = opts();
        // L1 excess 900 + L2 excess 1100 = 2000, halfway from 1000 to 3000.
        let v = version(4, vec![(1, table(1, 1000, "a", "b", 1)), (2, table(2, 2100, "a", "b", 1))]);
        assert_eq!(pending_compaction_bytes(&o, &v), 2000);
        assert_eq!(write_pressure(&o, &v), 0.5);
        // The last level's size is never debt.
        let v = version(4, vec![(3, table(1, 1 << 40, "a", "b", 1))]);
        assert_eq!(write_pressure(&o, &v), 0.0);
        // L0 counts once it is due.
        assert_eq!(pending_compaction_bytes(&o, &version(4, l0_tables(3))), 0);
        assert_eq!(pending_compaction_bytes(&o, &version(4, l0_tables(4))), 40);
    }

    #[test]
    fn validate_rejects_deadlocking_options() {
        assert!(LeveledOptions::default().validate().is_ok());
        assert!(LeveledOptions { l0_trigger_files: 30, ..opts() }.validate().is_err());
        assert!(LeveledOptions { num_levels: 1, ..opts() }.validate().is_err());
        assert!(LeveledOptions { level_size_ratio: 1, ..opts() }.validate().is_err());
    }
}
