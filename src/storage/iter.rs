//! Merging iteration over memtables and tables, in internal order.
//!
//! All sources yield entries in internal order (key ascending, seq descending);
//! [`MergeIter`] interleaves them with a heap. The layers above decide what to
//! keep: a user scan keeps the newest version of each key and hides
//! tombstones; compaction keeps the newest version and drops tombstones only
//! where nothing older can be shadowed.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::rc::Rc;

use crate::storage::disk::DiskFile;
use crate::storage::error::Result;
use crate::storage::memtable::{Cursor, Memtable, Reading};
use crate::storage::sstable::{Table, TableIter};
use crate::storage::types::{cmp_internal, Entry, SeqNo};

/// Entries a memtable source takes per B-tree search: the first run, and
/// the most (see `Source::Mem`).
const MEM_RUN_MIN: usize = 4;
const MEM_RUN_MAX: usize = 128;

/// One ordered stream of entries.
pub enum Source<F: DiskFile> {
    Mem {
        /// Held for the scan's life: the versions at its barrier stay.
        mem: Reading,
        /// Where the next run starts: after the last entry taken.
        cursor: Cursor,
        visible: SeqNo,
        /// Entries taken and not yet returned, in order (reversed: next last).
        run: Vec<Entry>,
        /// Length of the next run: doubles from [`MEM_RUN_MIN`] to
        /// [`MEM_RUN_MAX`], so a short scan copies out little.
        run_len: usize,
        /// The last run came up short: nothing follows it.
        exhausted: bool,
    },
    Table(TableIter<F>),
    /// Non-overlapping tables sorted by key (a level >= 1): opened one at a time.
    Level {
        tables: Vec<Rc<Table<F>>>,
        next: usize,
        cur: Option<TableIter<F>>,
    },
}

impl<F: DiskFile> Source<F> {
    pub fn mem(mem: Rc<Memtable>, visible: SeqNo) -> Self {
        Source::Mem {
            mem: Reading::new(mem),
            cursor: Cursor::Start,
            visible,
            run: Vec::new(),
            run_len: MEM_RUN_MIN,
            exhausted: false,
        }
    }
    pub fn table(t: &Rc<Table<F>>) -> Self {
        Source::Table(Table::iter(t))
    }
    pub fn level(tables: Vec<Rc<Table<F>>>) -> Self {
        Source::Level { tables, next: 0, cur: None }
    }

    /// Position before the first entry with key >= `key` (None: the start).
    async fn seek(&mut self, key: Option<&[u8]>) -> Result<()> {
        match self {
            Source::Mem { cursor, run, run_len, exhausted, .. } => {
                *cursor = key.map_or(Cursor::Start, |k| Cursor::AtOrAfter(k.to_vec()));
                run.clear();
                *run_len = MEM_RUN_MIN;
                *exhausted = false;
            }
            Source::Table(it) => match key {
                Some(k) => it.seek(k).await?,
                None => it.seek_to_first().await?,
            },
            Source::Level { tables, next, cur } => {
                // First table whose largest key >= key.
                let i = key.map_or(0, |k| tables.partition_point(|t| t.meta().largest.as_slice() < k));
                *next = i + 1;
                *cur = None;
                if let Some(t) = tables.get(i) {
                    let mut it = Table::iter(t);
                    match key {
                        Some(k) => it.seek(k).await?,
                        None => it.seek_to_first().await?,
                    }
                    *cur = Some(it);
                }
            }
        }
        Ok(())
    }

    async fn next(&mut self) -> Result<Option<Entry>> {
        match self {
            Source::Mem { mem, cursor, visible, run, run_len, exhausted } => {
                if run.is_empty() && !*exhausted {
                    *run = mem.next_entries(cursor, *visible, *run_len);
                    *exhausted = run.len() < *run_len;
                    *run_len = (*run_len * 2).min(MEM_RUN_MAX);
                    if let Some(e) = run.last() {
                        *cursor = Cursor::After(e.key.clone(), e.seq);
                    }
                    run.reverse();
                }
                Ok(run.pop())
            }
            Source::Table(it) => it.next().await,
            Source::Level { tables, next, cur } => loop {
                let Some(it) = cur.as_mut() else { return Ok(None) };
                if let Some(e) = it.next().await? {
                    return Ok(Some(e));
                }
                *cur = None;
                if let Some(t) = tables.get(*next) {
                    let mut it = Table::iter(t);
                    it.seek_to_first().await?;
                    *cur = Some(it);
                    *next += 1;
                }
            },
        }
    }
}

struct HeapItem {
    entry: Entry,
    source: usize,
}

impl PartialEq for HeapItem {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for HeapItem {}
impl PartialOrd for HeapItem {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for HeapItem {
    // BinaryHeap is a max-heap: reverse so the smallest internal key pops first.
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_internal(&other.entry.key, other.entry.seq, &self.entry.key, self.entry.seq)
            .then(other.source.cmp(&self.source))
    }
}

/// All sources merged into one stream in internal order.
pub struct MergeIter<F: DiskFile> {
    sources: Vec<Source<F>>,
    heap: BinaryHeap<HeapItem>,
}

impl<F: DiskFile> MergeIter<F> {
    /// Merge `sources`, starting at the first entry with key >= `from`.
    pub async fn new(mut sources: Vec<Source<F>>, from: Option<&[u8]>) -> Result<Self> {
        let mut heap = BinaryHeap::with_capacity(sources.len());
        for (i, s) in sources.iter_mut().enumerate() {
            s.seek(from).await?;
            if let Some(entry) = s.next().await? {
                heap.push(HeapItem { entry, source: i });
            }
        }
        Ok(MergeIter { sources, heap })
    }

    pub async fn next(&mut self) -> Result<Option<Entry>> {
        let Some(mut top) = self.heap.peek_mut() else { return Ok(None) };
        let next = match self.sources.get_mut(top.source) {
            Some(s) => s.next().await?,
            None => None,
        };
        // The source's next entry takes the top's place and sinks as far as
        // it must: one sift instead of a pop and a push, and none at all
        // while one source holds a run of the smallest keys.
        Ok(Some(match next {
            Some(entry) => std::mem::replace(&mut top.entry, entry),
            None => std::collections::binary_heap::PeekMut::pop(top).entry,
        }))
    }
}

/// Keeps the newest version of each key from an internal-order stream.
#[derive(Default)]
pub struct NewestOnly {
    /// The last key admitted, in a buffer reused from key to key.
    last_key: Option<Vec<u8>>,
}

impl NewestOnly {
    /// True if `key` (of the next entry in internal order) is the newest
    /// version of its key seen so far (the first one).
    pub fn admit(&mut self, key: &[u8]) -> bool {
        if self.last_key.as_deref() == Some(key) {
            return false;
        }
        let last = self.last_key.get_or_insert_with(Vec::new);
        last.clear();
        last.extend_from_slice(key);
        true
    }
}
