//! Compaction policy: which tables to merge next, and how far behind the
//! tree is. Pure functions of a [`Version`]: the picker never touches a file,
//! so every rule is unit-tested on made-up Versions.
//!
//! The engine's loop: `pick` on the current Version; merge the chosen tables
//! (splitting outputs at `target_file_bytes`); log a [`VersionEdit`] deleting
//! [`CompactionChoice::deletions`] and adding the outputs at `output_level`;
//! install the new Version; pick again. The picker knows nothing of
//! compactions in flight, so the engine runs one compaction per shard at a
//! time (flushes may run alongside: they only add newer L0 tables, which no
//! choice ever depends on).
//!
//! [`VersionEdit`]: super::version::VersionEdit

pub mod leveled;
pub mod tiered;

pub use leveled::LeveledOptions;
pub use tiered::TieredOptions;

use super::version::{Version, VersionEdit};

/// How the tree is shaped and compacted. Default: leveled.
#[derive(Clone, Debug, PartialEq)]
pub enum CompactionStrategy {
    Leveled(LeveledOptions),
    Tiered(TieredOptions),
}

impl Default for CompactionStrategy {
    fn default() -> Self {
        CompactionStrategy::Leveled(LeveledOptions::default())
    }
}

/// One compaction to run.
#[derive(Clone, Debug, PartialEq)]
pub struct CompactionChoice {
    /// `(level, table ids)`, upper level first; levels with no input are left
    /// out. Within a level, ids are in that level's order (L0 newest first).
    pub inputs: Vec<(u32, Vec<u64>)>,
    pub output_level: u32,
    /// True when no table below `output_level` overlaps the inputs' key range,
    /// so a tombstone has nothing left to shadow and may be dropped. The
    /// executor must still keep tombstones (and shadowed versions) that a live
    /// snapshot can see.
    pub drop_tombstones: bool,
    /// Split outputs at this size; u64::MAX = one file.
    pub target_file_bytes: u64,
    /// Which rule fired, for logs and metrics.
    pub reason: &'static str,
}

impl CompactionChoice {
    /// Every input table id, for marking or resolving them.
    pub fn input_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.inputs.iter().flat_map(|(_, ids)| ids.iter().copied())
    }

    /// The `VersionEdit::deleted` entries that retire the inputs.
    pub fn deletions(&self) -> Vec<(u32, u64)> {
        self.inputs.iter().flat_map(|(level, ids)| ids.iter().map(move |id| (*level, *id))).collect()
    }

    /// The edit that moves the input tables down to the output level as they
    /// are, if that is all this compaction would do: every input from one
    /// level above the output level (the pickers list every output-level
    /// table the inputs overlap, so none does), no two of them overlapping
    /// (L0 tables may), and no tombstone that a rewrite would drop. A
    /// rewrite would copy such tables entry for entry, as a table holds one
    /// version of each key. Keys written in order (times, counters) then
    /// reach the last level without being rewritten at all.
    pub fn as_move(&self, v: &Version) -> Option<VersionEdit> {
        let [(level, ids)] = self.inputs.as_slice() else { return None };
        if *level >= self.output_level {
            return None;
        }
        let mut tables =
            ids.iter().map(|id| v.level(*level as usize).iter().find(|t| t.id == *id)).collect::<Option<Vec<_>>>()?;
        if self.drop_tombstones && tables.iter().any(|t| t.tombstones > 0) {
            return None;
        }
        tables.sort_by(|a, b| a.smallest.cmp(&b.smallest));
        if tables.windows(2).any(|w| w[0].largest >= w[1].smallest) {
            return None;
        }
        Some(VersionEdit {
            deleted: tables.iter().map(|t| (*level, t.id)).collect(),
            added: tables.iter().map(|t| (self.output_level, (***t).clone())).collect(),
            ..Default::default()
        })
    }
}

impl CompactionStrategy {
    /// The next compaction to run, if any is due.
    pub fn pick(&self, v: &Version) -> Option<CompactionChoice> {
        match self {
            CompactionStrategy::Leveled(o) => leveled::pick(o, v),
            CompactionStrategy::Tiered(o) => tiered::pick(o, v),
        }
    }

    /// What to compact while no writes arrive, once [`Self::pick`] has
    /// nothing: leveled merges L0 into L1 below its trigger, so that reads
    /// after a load consult one table fewer per L0 table left. Tiered: nothing.
    pub fn pick_idle(&self, v: &Version) -> Option<CompactionChoice> {
        match self {
            CompactionStrategy::Leveled(o) => leveled::pick_idle(o, v),
            CompactionStrategy::Tiered(_) => None,
        }
    }

    /// How far behind compaction is, for write pacing: 0.0 = no debt, 1.0 =
    /// writes must stop until compaction catches up (the value is capped
    /// there). Grows linearly between the slowdown and stop thresholds.
    pub fn write_pressure(&self, v: &Version) -> f64 {
        match self {
            CompactionStrategy::Leveled(o) => leveled::write_pressure(o, v),
            CompactionStrategy::Tiered(o) => tiered::write_pressure(o, v),
        }
    }

    /// Levels the engine should create its Version with. Tiered keeps every
    /// sorted run in L0, so it needs one.
    pub fn num_levels(&self) -> usize {
        match self {
            CompactionStrategy::Leveled(o) => o.num_levels,
            CompactionStrategy::Tiered(_) => 1,
        }
    }

    /// Reject options the pickers cannot work with (for `Error::InvalidArgument`).
    pub fn validate(&self) -> Result<(), &'static str> {
        match self {
            CompactionStrategy::Leveled(o) => o.validate(),
            CompactionStrategy::Tiered(o) => o.validate(),
        }
    }
}

/// 0.0 at or below `slowdown`, 1.0 at or above `stop`, linear in between.
fn ramp(value: f64, slowdown: f64, stop: f64) -> f64 {
    if value >= stop {
        1.0
    } else if value <= slowdown {
        0.0
    } else {
        (value - slowdown) / (stop - slowdown)
    }
}

/// Whether any level below `output_level` holds a table overlapping
/// `[smallest, largest]`: if none does, the output is bottommost for that
/// range and tombstones in it shadow nothing.
fn is_bottommost(v: &Version, output_level: usize, smallest: &[u8], largest: &[u8]) -> bool {
    (output_level + 1..v.num_levels()).all(|l| v.overlapping(l, smallest, largest).is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::version::test_util::{table, version};
    use crate::storage::version::{key_range, TableInfo, VersionEdit};

    #[test]
    fn ramp_is_zero_below_one_at_stop_and_monotone() {
        assert_eq!(ramp(3.0, 4.0, 8.0), 0.0);
        assert_eq!(ramp(4.0, 4.0, 8.0), 0.0);
        assert_eq!(ramp(6.0, 4.0, 8.0), 0.5);
        assert_eq!(ramp(8.0, 4.0, 8.0), 1.0);
        assert_eq!(ramp(80.0, 4.0, 8.0), 1.0);
        assert_eq!(ramp(5.0, 5.0, 5.0), 1.0, "slowdown == stop is a step");
    }

    #[test]
    fn strategy_dispatch_and_defaults() {
        let s = CompactionStrategy::default();
        assert_eq!(s.num_levels(), 7);
        assert!(s.validate().is_ok());
        let t = CompactionStrategy::Tiered(TieredOptions::default());
        assert_eq!(t.num_levels(), 1);
        assert!(t.validate().is_ok());
        assert_eq!(s.pick(&Version::new(7)), None);
        assert_eq!(t.pick(&Version::new(1)), None);
        assert_eq!(s.write_pressure(&Version::new(7)), 0.0);
        assert_eq!(t.write_pressure(&Version::new(1)), 0.0);
    }

    #[test]
    fn choice_deletions_cover_all_inputs() {
        let c = CompactionChoice {
            inputs: vec![(0, vec![3, 2]), (1, vec![7])],
            output_level: 1,
            drop_tombstones: false,
            target_file_bytes: 1,
            reason: "test",
        };
        assert_eq!(c.deletions(), vec![(0, 3), (0, 2), (1, 7)]);
        assert_eq!(c.input_ids().collect::<Vec<_>>(), vec![3, 2, 7]);
    }

    /// Run a choice the way the engine would, with one output table spanning
    /// the inputs' keys and seqs and keeping their bytes.
    fn execute(v: &Version, c: &CompactionChoice, id: u64) -> Version {
        let inputs: Vec<_> = c.input_ids().map(|i| v.find(i).expect("input in version").1.clone()).collect();
        let (smallest, largest) = key_range(&inputs).unwrap();
        let out = TableInfo {
            id,
            file_size: inputs.iter().map(|t| t.file_size).sum(),
            smallest: smallest.to_vec(),
            largest: largest.to_vec(),
            entries: inputs.iter().map(|t| t.entries).sum(),
            tombstones: 0,
            min_seq: inputs.iter().map(|t| t.min_seq).min().unwrap(),
            max_seq: inputs.iter().map(|t| t.max_seq).max().unwrap(),
        };
        let edit = VersionEdit { deleted: c.deletions(), added: vec![(c.output_level, out)], ..Default::default() };
        v.apply(&edit).expect("a picked compaction must apply")
    }

    /// Flush tables over pseudo-random key ranges, compacting until idle after
    /// each: every choice applies, bytes are conserved, and idle means no debt.
    fn simulate(s: &CompactionStrategy) -> Version {
        let mut v = Version::new(s.num_levels());
        let mut rng = 12345u64;
        let mut next_id = 1;
        for flush in 1..=300u64 {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let lo = (rng >> 33) % 900;
            let key = |k: u64| format!("{k:04}");
            let mut t = table(next_id, 10 + (rng >> 50) % 20, &key(lo), &key(lo + 100), flush * 10);
            t.max_seq += 9;
            next_id += 1;
            v = v.apply(&VersionEdit { added: vec![(0, t)], ..Default::default() }).unwrap();
            let before = v.total_bytes();
            let mut rounds = 0;
            while let Some(c) = s.pick(&v) {
                v = execute(&v, &c, next_id);
                next_id += 1;
                rounds += 1;
                assert!(rounds < 100, "compaction does not converge");
            }
            assert_eq!(v.total_bytes(), before);
            assert_eq!(s.write_pressure(&v), 0.0, "idle with debt after flush {flush}: {v:?}");
        }
        v
    }

    #[test]
    fn simulated_leveled_workload_converges() {
        let v = simulate(&CompactionStrategy::Leveled(LeveledOptions {
            base_level_bytes: 100,
            pending_slowdown_bytes: 1,
            pending_stop_bytes: 2,
            num_levels: 4,
            ..LeveledOptions::default()
        }));
        let per_level: Vec<usize> = v.levels().iter().map(Vec::len).collect();
        assert!(per_level[0] < 4 && per_level[3] > 0, "data reached the last level: {per_level:?}");
    }

    #[test]
    fn simulated_tiered_workload_converges() {
        let few = simulate(&CompactionStrategy::Tiered(TieredOptions {
            slowdown_runs: 6,
            stop_runs: 10,
            ..Default::default()
        }));
        assert!(few.table_count() < 6);
        let v = simulate(&CompactionStrategy::Tiered(TieredOptions::default()));
        assert!(v.table_count() < 20, "runs stay below slowdown_runs");
    }

    #[test]
    fn bottommost_looks_only_below_the_output_level() {
        let v = version(4, vec![(1, table(1, 1, "a", "c", 1)), (3, table(2, 1, "m", "p", 1))]);
        assert!(is_bottommost(&v, 1, b"a", b"l"));
        assert!(!is_bottommost(&v, 1, b"a", b"m"));
        assert!(!is_bottommost(&v, 0, b"a", b"b"), "L1 is below L0");
        assert!(is_bottommost(&v, 3, b"a", b"z"), "nothing is below the last level");
    }
}
