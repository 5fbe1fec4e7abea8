//! The manifest on disk: `CURRENT` names the live `MANIFEST-<n>`, a log (see
//! `log::format`) of [`VersionEdit`] records.
//!
//! Opening replays the live manifest, then writes a fresh one holding a single
//! snapshot edit and switches `CURRENT` to it crash-safely: write and fsync the
//! new manifest, write and fsync `CURRENT.tmp`, rename it over `CURRENT`, fsync
//! the directory. A crash at any point leaves either the old or the new
//! manifest named by `CURRENT`, both complete.

use std::path::{Path, PathBuf};

use crate::storage::disk::{align_up, Disk, DiskFile};
use crate::storage::error::{DecodeError, Error, Result};
use crate::storage::log::{self, LogFileWriter};
use crate::storage::manifest::ManifestState;
use crate::storage::version::VersionEdit;

const CURRENT: &str = "CURRENT";
const CURRENT_TMP: &str = "CURRENT.tmp";
/// Rewrite the manifest as a snapshot once its log grows past this (smaller
/// under test, so that tests roll it).
const MANIFEST_ROLL_BYTES: u64 = if cfg!(test) { 64 << 10 } else { 8 << 20 };

pub struct ManifestFile<D: Disk> {
    disk: D,
    dir: PathBuf,
    writer: LogFileWriter<D::File>,
    next_record_no: u64,
}

fn manifest_name(id: u64) -> String {
    format!("MANIFEST-{id:06}")
}

fn parse_current(bytes: &[u8]) -> Option<String> {
    let end = bytes.iter().position(|&b| b == b'\n')?;
    let name = std::str::from_utf8(bytes.get(..end)?).ok()?;
    let id = name.strip_prefix("MANIFEST-")?;
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && bytes[end + 1..].iter().all(|&b| b == 0))
        .then(|| name.to_string())
}

impl<D: Disk> ManifestFile<D> {
    /// Load the state named by CURRENT (or start empty), then roll to a fresh manifest.
    pub async fn open(disk: D, dir: &Path, num_levels: usize) -> Result<(Self, ManifestState)> {
        let current = dir.join(CURRENT);
        let state = if disk.exists(&current).await.map_err(|e| Error::io(&current, e))? {
            Self::replay(&disk, dir, num_levels).await?
        } else {
            ManifestState::new(num_levels)
        };
        let mut state = state;
        let (me, old) = Self::roll(&disk, dir, &mut state).await?;
        me.remove_old(old).await;
        Ok((me, state))
    }

    async fn replay(disk: &D, dir: &Path, num_levels: usize) -> Result<ManifestState> {
        let current = dir.join(CURRENT);
        let f = disk.open(&current).await.map_err(|e| Error::io(&current, e))?;
        let bytes = log::read_whole(&f, &current).await?;
        f.close().await.map_err(|e| Error::io(&current, e))?;
        let name = parse_current(&bytes)
            .ok_or_else(|| Error::corruption(&current, 0, DecodeError::Invalid("CURRENT does not name a manifest")))?;
        let path = dir.join(&name);
        let f = disk.open(&path).await.map_err(|e| Error::io(&path, e))?;
        let buf = log::read_whole(&f, &path).await?;
        f.close().await.map_err(|e| Error::io(&path, e))?;
        let scan = log::scan(&buf, Some(1));
        if let Some((off, err)) = scan.damage.clone() {
            // Each edit is synced before it takes effect, and the files it
            // names are synced before it is written: a torn last edit never
            // took effect. Anything valid after damage means real corruption.
            if scan.valid_after_damage.is_some() || scan.records.is_empty() {
                return Err(Error::corruption(&path, off, err));
            }
            tracing::warn!(file = %path.display(), offset = off, error = %err, "manifest: torn last edit ignored");
        }
        let mut state = ManifestState::new(num_levels);
        for (off, _, payload) in &scan.records {
            let edit = VersionEdit::decode(payload).map_err(|e| Error::corruption(&path, *off, e))?;
            state.apply(&edit).map_err(|e| Error::corruption(&path, *off, e))?;
        }
        Ok(state)
    }

    /// Write a new manifest holding one snapshot of `state` and point CURRENT
    /// at it. Returns the manifest CURRENT named before, for the caller to
    /// remove once it has closed it ([`ManifestFile::remove_old`]).
    async fn roll(disk: &D, dir: &Path, state: &mut ManifestState) -> Result<(Self, Option<PathBuf>)> {
        let old = Self::current_name(disk, dir).await;
        let id = state.next_file_id.max(1);
        state.next_file_id = id + 1;
        let path = dir.join(manifest_name(id));
        let mut writer = log::create(disk, dir, &path, log::FileMode::default()).await?;
        let mut payload = Vec::new();
        state.snapshot_edit().encode(&mut payload);
        writer.write_record(1, &payload).await.map_err(|e| Error::io(&path, e))?;
        writer.sync().await.map_err(|e| Error::io(&path, e))?;
        Self::write_current(disk, dir, &manifest_name(id)).await?;
        let old = old.filter(|o| *o != manifest_name(id)).map(|o| dir.join(o));
        Ok((ManifestFile { disk: disk.clone(), dir: dir.to_path_buf(), writer, next_record_no: 2 }, old))
    }

    /// Remove a manifest CURRENT no longer names. Only once its writer is
    /// closed: the last of a file's name and descriptors to go frees its
    /// blocks, on the shard if that is the descriptor (docs/ARCHITECTURE.md,
    /// "Removing replaced tables"). Best effort: a leftover old manifest is
    /// harmless (CURRENT names the live one).
    async fn remove_old(&self, old: Option<PathBuf>) {
        if let Some(p) = old {
            if let Err(e) = self.disk.remove(&p).await {
                tracing::warn!(file = %p.display(), error = %e, "could not remove old manifest");
            }
        }
    }

    async fn current_name(disk: &D, dir: &Path) -> Option<String> {
        let current = dir.join(CURRENT);
        let f = disk.open(&current).await.ok()?;
        let bytes = log::read_whole(&f, &current).await.ok()?;
        let _ = f.close().await;
        parse_current(&bytes)
    }

    async fn write_current(disk: &D, dir: &Path, name: &str) -> Result<()> {
        let tmp = dir.join(CURRENT_TMP);
        let mut content = format!("{name}\n").into_bytes();
        content.resize(align_up(content.len()), 0);
        let f = disk.create(&tmp).await.map_err(|e| Error::io(&tmp, e))?;
        f.write_at(0, &content).await.map_err(|e| Error::io(&tmp, e))?;
        f.sync_data().await.map_err(|e| Error::io(&tmp, e))?;
        f.close().await.map_err(|e| Error::io(&tmp, e))?;
        let current = dir.join(CURRENT);
        disk.rename(&tmp, &current).await.map_err(|e| Error::io(&current, e))?;
        disk.sync_dir(dir).await.map_err(|e| Error::io(dir, e))
    }

    /// Append one edit and make it durable. The caller serialises calls.
    /// The edit is applied to a copy of `state` first: one that does not
    /// apply (a table deleted that is not there, overlapping tables in a
    /// level) is refused before it is written, where a replay would find it
    /// at the next open and refuse to open the store.
    pub async fn append(&mut self, edit: &VersionEdit, state: &mut ManifestState) -> Result<()> {
        let mut next = state.clone();
        next.apply(edit).map_err(|e| Error::InvalidArgument(format!("bad version edit: {e}")))?;
        if self.writer.end() > MANIFEST_ROLL_BYTES {
            let (fresh, old) = Self::roll(&self.disk, &self.dir, &mut next).await?;
            let replaced = std::mem::replace(self, fresh);
            *state = next;
            // Nothing more is written to it: a failed close loses nothing.
            let path = replaced.writer.path().to_path_buf();
            if let Err(e) = replaced.writer.close().await {
                tracing::warn!(file = %path.display(), error = %e, "closing the old manifest failed");
            }
            self.remove_old(old).await;
            return Ok(());
        }
        let mut payload = Vec::new();
        edit.encode(&mut payload);
        let path = self.writer.path().to_path_buf();
        self.writer.write_record(self.next_record_no, &payload).await.map_err(|e| Error::io(&path, e))?;
        self.writer.sync().await.map_err(|e| Error::io(&path, e))?;
        self.next_record_no += 1;
        *state = next;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        self.writer.path()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::disk::SimDisk;
    use crate::storage::version::test_util::table;

    #[test]
    fn an_edit_that_does_not_apply_is_refused_before_it_is_written() {
        crate::rt::block_on(async {
            let (disk, dir) = (SimDisk::new(), Path::new("/m"));
            let (mut m, mut state) = ManifestFile::open(disk.clone(), dir, 3).await.unwrap();
            let add = |level, t| VersionEdit { added: vec![(level, t)], ..Default::default() };
            m.append(&add(1, table(7, 100, "a", "m", 1)), &mut state).await.unwrap();
            let before = state.clone();
            // Overlaps table 7 in L1; then a delete of a table that is not there.
            let overlapping = add(1, table(8, 100, "k", "z", 2));
            let missing = VersionEdit { deleted: vec![(1, 9)], ..Default::default() };
            for bad in [overlapping, missing] {
                assert!(matches!(m.append(&bad, &mut state).await, Err(Error::InvalidArgument(_))));
                assert_eq!(state, before);
            }
            m.append(&add(0, table(10, 100, "b", "c", 3)), &mut state).await.unwrap();
            drop(m);
            // The store opens again, with exactly the edits that applied.
            let (_, reopened) = ManifestFile::open(disk, dir, 3).await.unwrap();
            assert_eq!(reopened.version, state.version);
        });
    }

    #[test]
    fn a_rolled_manifest_is_closed_before_it_is_removed() {
        crate::rt::block_on(async {
            let (disk, dir) = (SimDisk::new(), Path::new("/m"));
            let (mut m, mut state) = ManifestFile::open(disk.clone(), dir, 3).await.unwrap();
            let first = m.path().to_path_buf();
            let mut id = 1;
            while m.path() == first {
                let edit = VersionEdit { added: vec![(0, table(id, 100, "a", "b", id))], ..Default::default() };
                m.append(&edit, &mut state).await.unwrap();
                id += 1;
            }
            assert!(disk.file_len(&first).is_none(), "the old manifest is removed");
            assert_eq!(disk.removed_while_open(), 0, "after its writer closed");
            drop(m);
            let (_, reopened) = ManifestFile::open(disk, dir, 3).await.unwrap();
            assert_eq!(reopened.version, state.version);
        });
    }

    #[test]
    fn current_parsing() {
        let mut b = b"MANIFEST-000012\n".to_vec();
        b.resize(4096, 0);
        assert_eq!(parse_current(&b).as_deref(), Some("MANIFEST-000012"));
        assert_eq!(parse_current(b"MANIFEST-\n"), None);
        assert_eq!(parse_current(b"MANIFEST-12"), None);
        assert_eq!(parse_current(b"MANIFEST-1x\n"), None);
        assert_eq!(parse_current(b"MANIFEST-1\nz"), None);
    }
}
