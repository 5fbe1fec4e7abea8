//! Size-tiered compaction (Cassandra STCS, RocksDB universal flavour): every
//! table is a sorted run in L0, newest first, and similar-sized runs are
//! merged into one bigger run.
//!
//! Only runs *contiguous in age order* (adjacent in L0) are ever merged:
//! reads consult L0 newest first and stop at the first hit, so a merged run
//! holding data from both sides of a run it skipped would sit either in front
//! of newer data or behind older data. Because L0's sequence ranges are
//! disjoint and a contiguous window's union range lies between its
//! neighbours', `Version::apply` files the output exactly where the window was.
//!
//! Rules, in priority order:
//! 1. Space amplification: if the bytes of all runs but the oldest exceed
//!    `max_space_amp_percent` of the oldest, merge everything (the newer runs
//!    may be mostly overwrites of the oldest; only a full merge reclaims them).
//! 2. Similar sizes: the longest contiguous window of at least
//!    `min_merge_width` runs (capped at `max_merge_width`) whose largest run is
//!    at most `100 + size_ratio_percent` percent of its smallest. Comparing
//!    against the window's smallest run (not its mean) makes the test
//!    independent of order and true of every sub-window. Ties: fewest bytes,
//!    then newest.
//! 3. Too many runs: once there are `slowdown_runs`, merge the contiguous
//!    window with the fewest bytes that brings the count back below it,
//!    whatever the sizes. Without this, runs of steadily growing size (never
//!    similar, never enough to trip rule 1) could reach `stop_runs` with no
//!    compaction to pick, and writes would stop for good.

use std::ops::Range;
use std::rc::Rc;

use super::{is_bottommost, ramp, CompactionChoice};
use crate::storage::version::{key_range, TableInfo, Version};

#[derive(Clone, Debug, PartialEq)]
pub struct TieredOptions {
    /// Fewest similar runs worth merging.
    pub min_merge_width: usize,
    /// Most runs merged at once (bounds a compaction's open files and memory).
    pub max_merge_width: usize,
    /// Runs are similar when the largest is at most this many percent bigger
    /// than the smallest.
    pub size_ratio_percent: u64,
    /// Sorted-run count at which write pressure starts to rise above 0 (and
    /// rule 3 starts merging regardless of size).
    pub slowdown_runs: usize,
    /// Sorted-run count at which write pressure reaches 1 (writes stop).
    pub stop_runs: usize,
    /// Full merge when sum(all runs but the oldest) > this percent of the oldest.
    pub max_space_amp_percent: u64,
}

impl Default for TieredOptions {
    fn default() -> Self {
        TieredOptions {
            min_merge_width: 4,
            max_merge_width: 32,
            // Flushes vary in size (compression, overwrites); 2x still counts as similar.
            size_ratio_percent: 100,
            // RocksDB's level0 slowdown/stop triggers.
            slowdown_runs: 20,
            stop_runs: 36,
            max_space_amp_percent: 200,
        }
    }
}

impl TieredOptions {
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.min_merge_width < 2 || self.max_merge_width < self.min_merge_width {
            return Err("need 2 <= min_merge_width <= max_merge_width");
        }
        // With stop_runs < 2 a single run would stop writes and no merge could help.
        if self.stop_runs < 2 || self.slowdown_runs > self.stop_runs {
            return Err("need slowdown_runs <= stop_runs and stop_runs >= 2");
        }
        Ok(())
    }
}

/// The next tiered compaction, if any is due.
pub fn pick(o: &TieredOptions, v: &Version) -> Option<CompactionChoice> {
    let runs = v.level(0);
    if runs.len() < 2 {
        return None;
    }
    let (window, reason) = space_amp_window(o, runs)
        .map(|w| (w, "space_amplification"))
        .or_else(|| similar_window(o, runs).map(|w| (w, "size_tiered_window")))
        .or_else(|| run_count_window(o, runs).map(|w| (w, "run_count")))?;
    Some(choice(v, window, reason))
}

/// Write pressure from the number of sorted runs (each L0 table, plus each
/// non-empty lower level, should the Version have any).
pub fn write_pressure(o: &TieredOptions, v: &Version) -> f64 {
    let lower = v.levels().iter().skip(1).filter(|l| !l.is_empty()).count();
    let runs = v.level(0).len() + lower;
    ramp(runs as f64, o.slowdown_runs as f64, o.stop_runs as f64)
}

/// Rule 1: all runs, if the newer ones are too big next to the oldest.
fn space_amp_window(o: &TieredOptions, runs: &[Rc<TableInfo>]) -> Option<Range<usize>> {
    let (oldest, newer) = runs.split_last()?;
    let newer_bytes: u128 = newer.iter().map(|t| u128::from(t.file_size)).sum();
    let limit = u128::from(oldest.file_size) * u128::from(o.max_space_amp_percent);
    (newer_bytes * 100 > limit).then_some(0..runs.len())
}

/// Rule 2: the longest window of similar-sized runs.
fn similar_window(o: &TieredOptions, runs: &[Rc<TableInfo>]) -> Option<Range<usize>> {
    let mut best: Option<(Range<usize>, u64)> = None;
    for start in 0..runs.len() {
        let window = start..similar_end(o, runs, start);
        if window.len() < o.min_merge_width {
            continue;
        }
        let bytes = window_bytes(runs, &window);
        // Strict comparisons keep the earlier (newer) window on a full tie.
        let better = match &best {
            None => true,
            Some((b, b_bytes)) => window.len() > b.len() || (window.len() == b.len() && bytes < *b_bytes),
        };
        if better {
            best = Some((window, bytes));
        }
    }
    best.map(|(w, _)| w)
}

/// End (exclusive) of the longest similar window starting at `start`, at most
/// `max_merge_width` wide.
fn similar_end(o: &TieredOptions, runs: &[Rc<TableInfo>], start: usize) -> usize {
    let (mut smallest, mut largest) = (u64::MAX, 0);
    let mut end = start;
    for t in runs.iter().skip(start).take(o.max_merge_width) {
        smallest = smallest.min(t.file_size);
        largest = largest.max(t.file_size);
        if !similar(smallest, largest, o.size_ratio_percent) {
            break;
        }
        end += 1;
    }
    end
}

fn similar(smallest: u64, largest: u64, size_ratio_percent: u64) -> bool {
    u128::from(largest) * 100 <= u128::from(smallest) * (100 + u128::from(size_ratio_percent))
}

/// Rule 3: once at `slowdown_runs`, the cheapest window that gets back below it.
fn run_count_window(o: &TieredOptions, runs: &[Rc<TableInfo>]) -> Option<Range<usize>> {
    if runs.len() < o.slowdown_runs.max(2) {
        return None;
    }
    // Merging w runs removes w - 1 of them.
    let needed = runs.len() + 2 - o.slowdown_runs.max(2);
    let width = needed.max(o.min_merge_width).min(o.max_merge_width).min(runs.len()).max(2);
    (0..=runs.len() - width).map(|start| start..start + width).min_by_key(|w| (window_bytes(runs, w), w.start))
}

fn window_bytes(runs: &[Rc<TableInfo>], window: &Range<usize>) -> u64 {
    runs.get(window.clone()).unwrap_or_default().iter().map(|t| t.file_size).fold(0, u64::saturating_add)
}

fn choice(v: &Version, window: Range<usize>, reason: &'static str) -> CompactionChoice {
    let runs = v.level(0);
    let merged = runs.get(window.clone()).unwrap_or_default();
    // Only a window that includes the oldest run has no older version of its
    // keys left in L0 for a tombstone to shadow; lower levels exist only if the
    // tree was once leveled, and are checked all the same.
    let includes_oldest = window.end == runs.len();
    let drop_tombstones =
        includes_oldest && key_range(merged).is_some_and(|(smallest, largest)| is_bottommost(v, 0, smallest, largest));
    CompactionChoice {
        inputs: vec![(0, merged.iter().map(|t| t.id).collect())],
        output_level: 0,
        drop_tombstones,
        // A sorted run is one table: L0 is ordered by seq range, and split
        // outputs would share one.
        target_file_bytes: u64::MAX,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::version::test_util::{table, version};
    use crate::storage::version::VersionEdit;

    /// Space amplification out of the way unless a test wants it.
    fn opts() -> TieredOptions {
        TieredOptions { max_space_amp_percent: 1_000_000, ..TieredOptions::default() }
    }

    /// L0 runs with the given sizes, newest first; run i has id i + 1 and
    /// seq range [10 * (n - i), 10 * (n - i) + 9], all over keys [a, z].
    fn runs(sizes: &[u64]) -> Version {
        let n = sizes.len() as u64;
        let tables = sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| {
                let i = i as u64;
                let mut t = table(i + 1, size, "a", "z", 10 * (n - i));
                t.max_seq += 9;
                (0, t)
            })
            .collect();
        version(1, tables)
    }

    fn picked_ids(c: &CompactionChoice) -> Vec<u64> {
        c.input_ids().collect()
    }

    #[test]
    fn too_few_similar_runs_pick_nothing() {
        assert_eq!(pick(&opts(), &runs(&[10, 10, 10])), None);
        assert_eq!(pick(&opts(), &runs(&[10])), None);
    }

    #[test]
    fn similar_runs_merge_and_drop_tombstones_with_the_oldest() {
        let c = pick(&opts(), &runs(&[10, 12, 9, 11])).unwrap();
        assert_eq!(picked_ids(&c), vec![1, 2, 3, 4]);
        assert_eq!((c.output_level, c.target_file_bytes, c.reason), (0, u64::MAX, "size_tiered_window"));
        assert!(c.drop_tombstones);
    }

    #[test]
    fn similar_but_non_adjacent_runs_are_not_merged() {
        // Four 10-byte runs, but a 100-byte run separates them into pairs.
        assert_eq!(pick(&opts(), &runs(&[10, 10, 100, 10, 10, 1000])), None);
        // Four adjacent 10s are merged; the 10 beyond the 100 is not.
        let c = pick(&opts(), &runs(&[10, 10, 10, 10, 100, 10, 1000])).unwrap();
        assert_eq!(picked_ids(&c), vec![1, 2, 3, 4]);
        assert!(!c.drop_tombstones, "older runs remain behind the window");
    }

    #[test]
    fn size_ratio_is_against_the_windows_smallest_run() {
        // 10 and 20 are within 100%; 21 is not within 100% of 10.
        assert!(pick(&opts(), &runs(&[10, 20, 20, 20, 5000])).is_some());
        assert_eq!(pick(&opts(), &runs(&[10, 21, 21, 21, 5000])), None);
        let strict = TieredOptions { size_ratio_percent: 0, ..opts() };
        assert_eq!(pick(&strict, &runs(&[10, 10, 10, 11, 5000])), None);
    }

    #[test]
    fn longest_window_wins_then_fewest_bytes() {
        let c = pick(&opts(), &runs(&[10, 10, 10, 10, 100, 100, 100, 100, 100, 1_000_000])).unwrap();
        assert_eq!(picked_ids(&c), vec![5, 6, 7, 8, 9]);
        let c = pick(&opts(), &runs(&[100, 100, 100, 100, 10, 10, 10, 10, 1_000_000])).unwrap();
        assert_eq!(picked_ids(&c), vec![5, 6, 7, 8]);
    }

    #[test]
    fn window_capped_at_max_merge_width_newest_first() {
        let o = TieredOptions { max_merge_width: 4, ..opts() };
        let c = pick(&o, &runs(&[10, 10, 10, 10, 10, 10, 10, 1_000_000])).unwrap();
        assert_eq!(picked_ids(&c), vec![1, 2, 3, 4]);
    }

    #[test]
    fn space_amplification_merges_everything() {
        let o = TieredOptions::default(); // 200%
        let c = pick(&o, &runs(&[10, 10, 10, 10])).unwrap(); // 30 > 2 * 10
        assert_eq!(picked_ids(&c), vec![1, 2, 3, 4]);
        assert_eq!(c.reason, "space_amplification");
        assert!(c.drop_tombstones);
        // Exactly at the limit is not over it.
        assert_eq!(pick(&o, &runs(&[10, 10, 10])), None);
        // Dissimilar runs too: the rule is about bytes, not shape.
        let c = pick(&o, &runs(&[500, 50, 5, 100])).unwrap();
        assert_eq!((picked_ids(&c).len(), c.reason), (4, "space_amplification"));
    }

    #[test]
    fn growing_runs_are_merged_once_too_many() {
        let o = TieredOptions { slowdown_runs: 6, stop_runs: 10, ..TieredOptions::default() };
        // Doubling sizes: never similar enough for width 4, never space-amplified.
        let five = runs(&[1, 2, 4, 8, 16]);
        assert_eq!(pick(&o, &five), None);
        let eight = runs(&[1, 2, 4, 8, 16, 32, 64, 128]);
        let c = pick(&o, &eight).unwrap();
        assert_eq!(c.reason, "run_count");
        // 8 runs, slowdown at 6: merge 4 (the cheapest 4) to get to 5.
        assert_eq!(picked_ids(&c), vec![1, 2, 3, 4]);
    }

    #[test]
    fn merged_run_takes_the_windows_place_in_l0() {
        let v = runs(&[10, 10, 10, 10, 100, 10, 1000]);
        let c = pick(&opts(), &v).unwrap();
        let merged: Vec<_> = c.input_ids().filter_map(|id| v.find(id).map(|(_, t)| t.clone())).collect();
        let output = TableInfo {
            id: 99,
            file_size: 40,
            smallest: b"a".to_vec(),
            largest: b"z".to_vec(),
            entries: 40,
            tombstones: 0,
            min_seq: merged.iter().map(|t| t.min_seq).min().unwrap(),
            max_seq: merged.iter().map(|t| t.max_seq).max().unwrap(),
        };
        let edit = VersionEdit { deleted: c.deletions(), added: vec![(0, output)], ..Default::default() };
        let after = v.apply(&edit).unwrap();
        let order: Vec<u64> = after.level(0).iter().map(|t| t.id).collect();
        assert_eq!(order, vec![99, 5, 6, 7]);
    }

    #[test]
    fn pressure_zero_below_slowdown_one_at_stop_monotone() {
        let o = TieredOptions { slowdown_runs: 4, stop_runs: 8, ..opts() };
        let mut last = 0.0;
        for n in 0..=12 {
            let p = write_pressure(&o, &runs(&vec![10; n]));
            assert!(p >= last, "monotone at {n}");
            if n <= 4 {
                assert_eq!(p, 0.0);
            }
            if n >= 8 {
                assert!(p >= 1.0);
            }
            last = p;
        }
        assert_eq!(write_pressure(&o, &runs(&[10; 6])), 0.5);
    }

    #[test]
    fn validate_rejects_unworkable_options() {
        assert!(TieredOptions::default().validate().is_ok());
        assert!(TieredOptions { min_merge_width: 1, ..opts() }.validate().is_err());
        assert!(TieredOptions { max_merge_width: 3, ..opts() }.validate().is_err());
        assert!(TieredOptions { slowdown_runs: 40, ..opts() }.validate().is_err());
        assert!(TieredOptions { stop_runs: 1, slowdown_runs: 1, ..opts() }.validate().is_err());
    }
}
