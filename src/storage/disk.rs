//! The engine's view of storage: a [`Disk`] of files addressed by path.
//!
//! Two implementations: [`DmaDisk`] (glommio O_DIRECT files on io_uring, for
//! production) and [`SimDisk`] (in memory, with a crash model and injected
//! faults, for tests). The engine is generic over it (`Engine<D: Disk>`), as
//! TigerBeetle's trees are generic over their Storage.
//!
//! Contract (the same for both, so tests of one say something about the other):
//! - `write_at` takes offsets and lengths that are multiples of [`ALIGN`]
//!   (O_DIRECT); reads may be unaligned and are short at end of file.
//! - Data written is *volatile* until `sync_data` returns Ok; a crash may lose or
//!   tear any volatile write (see docs/FORMAT.md, "Assumptions about the media").
//! - Creating, renaming and removing files is durable only after `sync_dir` of
//!   the parent directory.
#![allow(async_fn_in_trait)]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// I/O alignment for direct I/O, in bytes.
pub const ALIGN: usize = 4096;

/// Round `v` up to a multiple of [`ALIGN`].
pub const fn align_up(v: usize) -> usize {
    (v + ALIGN - 1) & !(ALIGN - 1)
}

pub trait Disk: Clone + 'static {
    type File: DiskFile;
    /// Create (or truncate) a file, open for reading and writing.
    async fn create(&self, path: &Path) -> io::Result<Self::File>;
    /// Open an existing file for reading and writing.
    async fn open(&self, path: &Path) -> io::Result<Self::File>;
    /// Open an existing file whose writes are durable when they complete
    /// (`O_DSYNC`): `write_at` then also does what `sync_data` would for the
    /// bytes it wrote, in the same operation.
    async fn open_dsync(&self, path: &Path) -> io::Result<Self::File>;
    async fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    async fn remove(&self, path: &Path) -> io::Result<()>;
    /// Remove a large file that nothing has open any more, shrinking it in
    /// steps first, off the shard: on a file system that discards freed
    /// blocks at once (ext4 mounted `discard`), freeing 64 MiB in one go
    /// queued a synchronous discard of all of it ahead of the WAL's writes
    /// (RocksDB's `bytes_max_delete_chunk` for the same). Truncating a file
    /// still open would cut its reader short: callers close it first.
    async fn remove_closed(&self, path: &Path) -> io::Result<()>;
    /// Make creations, renames and removals in `dir` durable.
    async fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    async fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// File names (not paths) in `dir`, sorted.
    async fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>>;
    async fn exists(&self, path: &Path) -> io::Result<bool>;
}

// `len` is the file's size, an I/O call; an `is_empty` beside it would only
// be `len() == 0`, which no caller asks.
#[allow(clippy::len_without_is_empty)]
pub trait DiskFile: 'static {
    /// A whole file's bytes, in the buffer they were read into
    /// ([`read_whole`](Self::read_whole)).
    type Bytes: std::ops::Deref<Target = [u8]>;
    /// Read up to `len` bytes at `pos`; fewer only at end of file.
    async fn read_at(&self, pos: u64, len: usize) -> io::Result<Vec<u8>>;
    /// The whole file, left in the buffer it was read into. Recovery reads
    /// every log file whole: for a direct-I/O file, copying each out of its
    /// buffer (as `read_at` does, to give the executor's registered memory
    /// back at once) took 0.3 of the shard's 1.1 s of CPU at a restart that
    /// read 1.4 GB of segments, with the page faults of a second buffer.
    async fn read_whole(&self) -> io::Result<Self::Bytes>;
    /// Write `data` at `pos`; both must be multiples of [`ALIGN`].
    async fn write_at(&self, pos: u64, data: &[u8]) -> io::Result<()>;
    /// Write `len` bytes at `pos` (both multiples of [`ALIGN`]): the
    /// concatenation of `parts`, then zeros. A direct-I/O file copies the
    /// parts once, straight into the buffers the device reads; a caller
    /// need not join them first (the WAL's partial block, a record header
    /// and its payload).
    async fn write_parts_at(&self, pos: u64, len: usize, parts: &[&[u8]]) -> io::Result<()> {
        let mut data = vec![0; len];
        gather(parts, 0, &mut data);
        self.write_at(pos, &data).await
    }
    /// fdatasync: on Ok, everything written before is durable.
    async fn sync_data(&self) -> io::Result<()>;
    async fn len(&self) -> io::Result<u64>;
    /// Reserve space up to `len` bytes without changing the file's size.
    async fn preallocate(&self, len: u64) -> io::Result<()>;
    async fn truncate(&self, len: u64) -> io::Result<()>;
    async fn close(self) -> io::Result<()>;
}

/// Fill `out` with the bytes of the concatenation of `parts` from offset
/// `from` on, and zeros past its end.
pub fn gather(parts: &[&[u8]], from: usize, out: &mut [u8]) {
    let (mut skip, mut at) = (from, 0);
    for part in parts {
        if at == out.len() {
            return;
        }
        if skip >= part.len() {
            skip -= part.len();
            continue;
        }
        let take = &part[skip..];
        let n = take.len().min(out.len() - at);
        copy_for_device(&mut out[at..at + n], &take[..n]);
        at += n;
        skip = 0;
    }
    out[at..].fill(0);
}

/// Copies at least this long go around the CPU's caches
/// ([`copy_for_device`]).
const STREAM_COPY_MIN: usize = 4096;

/// Copy `src` into `dst` (as long). A buffer the device is about to read
/// need not be in this CPU's caches: a long copy is written with
/// non-temporal stores, which neither read the buffer's lines in first nor
/// evict what the shard works on (the WAL's next group, the memtable).
fn copy_for_device(dst: &mut [u8], src: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    if src.len() >= STREAM_COPY_MIN && dst.len() == src.len() {
        // SAFETY: `dst` and `src` are valid for `src.len()` bytes and do not
        // overlap (one is borrowed mutably); SSE2 is part of x86-64.
        unsafe { stream_copy(dst.as_mut_ptr(), src.as_ptr(), src.len()) };
        return;
    }
    dst.copy_from_slice(src);
}

/// `len` bytes from `src` to `dst` with non-temporal stores where `dst` is
/// 16-aligned, then a store fence, so the bytes are visible to whatever
/// reads them after (the kernel handing the buffer to the device).
///
/// # Safety
/// `dst` and `src` valid for `len` bytes, not overlapping.
#[cfg(target_arch = "x86_64")]
unsafe fn stream_copy(dst: *mut u8, src: *const u8, len: usize) {
    use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_sfence, _mm_stream_si128};
    let head = (dst as usize).wrapping_neg() % 16;
    let head = head.min(len);
    std::ptr::copy_nonoverlapping(src, dst, head);
    let mut i = head;
    while i + 64 <= len {
        let (s, d) = (src.add(i).cast::<__m128i>(), dst.add(i).cast::<__m128i>());
        let (a, b, c, e) =
            (_mm_loadu_si128(s), _mm_loadu_si128(s.add(1)), _mm_loadu_si128(s.add(2)), _mm_loadu_si128(s.add(3)));
        _mm_stream_si128(d, a);
        _mm_stream_si128(d.add(1), b);
        _mm_stream_si128(d.add(2), c);
        _mm_stream_si128(d.add(3), e);
        i += 64;
    }
    while i + 16 <= len {
        _mm_stream_si128(dst.add(i).cast::<__m128i>(), _mm_loadu_si128(src.add(i).cast::<__m128i>()));
        i += 16;
    }
    std::ptr::copy_nonoverlapping(src.add(i), dst.add(i), len - i);
    _mm_sfence();
}

fn check_aligned(pos: u64, len: usize) -> io::Result<()> {
    if !pos.is_multiple_of(ALIGN as u64) || !len.is_multiple_of(ALIGN) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unaligned direct write: pos {pos} len {len}"),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// DmaDisk: glommio O_DIRECT files.

/// Real storage: glommio `DmaFile`s (O_DIRECT, io_uring). Must be used from
/// inside a glommio executor.
#[derive(Clone, Debug, Default)]
pub struct DmaDisk;

/// Largest single direct write (see `DmaDiskFile::write_at`).
const DMA_WRITE_PIECE_BYTES: usize = 512 << 10;
/// Pieces of one `DmaDiskFile::write_at` in flight at once: 2 MiB, the
/// executor's registered buffer memory (`server::SHARD_IO_MEMORY_BYTES`).
/// One at a time, a WAL group commit of a few MiB took ~8 ms under SETs of
/// 1 KiB, as long as the writes beside it let it (docs/benchmarks.md,
/// twenty-second pass).
const DMA_WRITE_PIECES_IN_FLIGHT: usize = 4;

/// How much of a file `DmaDisk::remove_closed` frees at a time, and how long
/// it waits between steps. Under `--sync always` at 50k SETs/s of 1 KiB on
/// a volume mounted `discard`, a compaction's removals put WAL writes 9 ms
/// behind the discards; in 8 MiB steps, the p99.9 of those runs fell from
/// 11–38 ms to 7.7–9.9 ms (5 pairs; docs/benchmarks.md, twenty-fifth pass).
const REMOVE_STEP_BYTES: u64 = 8 << 20;
const REMOVE_STEP_PAUSE: std::time::Duration = std::time::Duration::from_millis(1);

/// Shrink the file at `path` by `step` bytes at a time, pausing between
/// steps, then remove it. Blocking: for a helper thread.
fn remove_in_steps(path: &Path, step: u64, pause: std::time::Duration) -> io::Result<()> {
    let f = std::fs::OpenOptions::new().write(true).open(path)?;
    let mut len = f.metadata()?.len();
    while len > step {
        len -= step;
        f.set_len(len)?;
        std::thread::sleep(pause);
    }
    drop(f);
    std::fs::remove_file(path)
}

pub struct DmaDiskFile {
    file: glommio::io::DmaFile,
}

/// glommio opens directories with `openat(-1, path)`, which fails with EBADF
/// for a relative path (-1 is not AT_FDCWD): give it absolute paths only.
fn abs(path: &Path) -> io::Result<PathBuf> {
    if path.is_absolute() {
        Ok(path.to_path_buf())
    } else {
        Ok(std::env::current_dir()?.join(path))
    }
}

fn gio(e: glommio::GlommioError<()>) -> io::Error {
    match e {
        glommio::GlommioError::IoError(e) => e,
        glommio::GlommioError::EnhancedIoError { source, .. } => source,
        other => io::Error::other(other.to_string()),
    }
}

thread_local! {
    /// Devices (st_dev) whose iopoll support glommio has probed on this thread.
    static PROBED_DEVICES: RefCell<std::collections::HashSet<u64>> = RefCell::new(Default::default());
}

/// glommio decides once per thread and device whether the device supports
/// polled I/O, by reading the first `DmaFile` opened on it. If that file is
/// empty the read "succeeds" without touching the device, glommio picks polled
/// I/O, and on devices without it (virtio disks, `queue/io_poll = 0`) every later
/// read fails with EOPNOTSUPP. So, before the first real file on a device, open
/// a small file with data in it to make the probe meaningful.
async fn probe_device_once(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let dev = std::fs::metadata(dir)?.dev();
    if PROBED_DEVICES.with(|s| s.borrow().contains(&dev)) {
        return Ok(());
    }
    let probe = dir.join(format!(".iopoll-probe-{}", std::process::id()));
    std::fs::write(&probe, vec![0xa5u8; ALIGN])?;
    std::fs::File::open(&probe)?.sync_all()?;
    let res = glommio::io::DmaFile::open(&probe).await;
    let _ = std::fs::remove_file(&probe);
    res.map_err(gio)?.close().await.map_err(gio)?;
    PROBED_DEVICES.with(|s| s.borrow_mut().insert(dev));
    Ok(())
}

/// Open `path` for reading and writing with O_DIRECT, plus what `opts` asks.
async fn open_dma(path: &Path, opts: &mut glommio::io::OpenOptions) -> io::Result<DmaDiskFile> {
    let path = &abs(path)?;
    probe_device_once(path).await?;
    let file = opts.read(true).write(true).dma_open(path).await.map_err(gio)?;
    Ok(DmaDiskFile { file })
}

impl Disk for DmaDisk {
    type File = DmaDiskFile;
    async fn create(&self, path: &Path) -> io::Result<DmaDiskFile> {
        open_dma(path, glommio::io::OpenOptions::new().create(true).truncate(true)).await
    }
    async fn open(&self, path: &Path) -> io::Result<DmaDiskFile> {
        open_dma(path, &mut glommio::io::OpenOptions::new()).await
    }
    async fn open_dsync(&self, path: &Path) -> io::Result<DmaDiskFile> {
        open_dma(path, glommio::io::OpenOptions::new().custom_flags(libc::O_DSYNC)).await
    }
    async fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        glommio::io::rename(abs(from)?, abs(to)?).await.map_err(gio)
    }
    async fn remove(&self, path: &Path) -> io::Result<()> {
        glommio::io::remove(abs(path)?).await.map_err(gio)
    }
    async fn remove_closed(&self, path: &Path) -> io::Result<()> {
        let path = abs(path)?;
        glommio::executor().spawn_blocking(move || remove_in_steps(&path, REMOVE_STEP_BYTES, REMOVE_STEP_PAUSE)).await
    }
    async fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let d = glommio::io::Directory::open(abs(dir)?).await.map_err(gio)?;
        d.sync().await.map_err(gio)?;
        d.close().await.map_err(gio)
    }
    async fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }
    async fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for e in std::fs::read_dir(dir)? {
            if let Some(n) = e?.file_name().to_str() {
                names.push(n.to_string());
            }
        }
        names.sort();
        Ok(names)
    }
    async fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }
}

/// Await `futs` together; the first error among them once all are done.
async fn all_of<F: std::future::Future<Output = io::Result<()>>>(futs: Vec<F>) -> io::Result<()> {
    let mut futs: Vec<Option<std::pin::Pin<Box<F>>>> = futs.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut result = Ok(());
    futures_lite::future::poll_fn(|cx| {
        for slot in &mut futs {
            let Some(f) = slot else { continue };
            if let std::task::Poll::Ready(r) = f.as_mut().poll(cx) {
                if result.is_ok() {
                    result = r;
                }
                *slot = None;
            }
        }
        if futs.iter().all(Option::is_none) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    result
}

/// A [`DmaDiskFile`]'s bytes read whole: the direct-I/O buffer itself
/// (None: an empty file).
pub struct DmaBytes(Option<glommio::io::ReadResult>);

impl std::ops::Deref for DmaBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.0.as_deref().unwrap_or(&[])
    }
}

impl DiskFile for DmaDiskFile {
    type Bytes = DmaBytes;
    async fn read_at(&self, pos: u64, len: usize) -> io::Result<Vec<u8>> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let r = self.file.read_at(pos, len).await.map_err(gio)?;
        Ok(r.to_vec())
    }
    async fn read_whole(&self) -> io::Result<DmaBytes> {
        let len = self.len().await?;
        let len = usize::try_from(len).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "file too large"))?;
        if len == 0 {
            return Ok(DmaBytes(None));
        }
        Ok(DmaBytes(Some(self.file.read_at(0, len).await.map_err(gio)?)))
    }
    async fn write_at(&self, pos: u64, data: &[u8]) -> io::Result<()> {
        self.write_parts_at(pos, data.len(), &[data]).await
    }
    async fn write_parts_at(&self, pos: u64, len: usize, parts: &[&[u8]]) -> io::Result<()> {
        check_aligned(pos, len)?;
        if parts.iter().map(|p| p.len()).sum::<usize>() > len {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{len} bytes cannot hold the parts")));
        }
        // In pieces that fit the executor's registered buffer memory: a buffer
        // past it is fresh memory from the allocator, and a table image's
        // worth of page faults and zeroing was a tenth of the server's CPU
        // under SET. A write of one piece costs nothing extra. Up to
        // DMA_WRITE_PIECES_IN_FLIGHT pieces go to the disk together; they
        // may land in any order, as the sectors of one write may
        // (docs/FORMAT.md, assumption 3), and all have when this returns.
        let piece = |i: usize| {
            let from = i * DMA_WRITE_PIECE_BYTES;
            let want = DMA_WRITE_PIECE_BYTES.min(len - from);
            let mut buf = self.file.alloc_dma_buffer(want);
            gather(parts, from, buf.as_bytes_mut());
            let at = pos + from as u64;
            async move {
                let n = self.file.write_at(buf, at).await.map_err(gio)?;
                if n != want {
                    return Err(io::Error::new(io::ErrorKind::WriteZero, format!("short write {n} of {want}")));
                }
                Ok(())
            }
        };
        let pieces = len.div_ceil(DMA_WRITE_PIECE_BYTES);
        for first in (0..pieces).step_by(DMA_WRITE_PIECES_IN_FLIGHT) {
            let window = first..pieces.min(first + DMA_WRITE_PIECES_IN_FLIGHT);
            all_of(window.map(piece).collect()).await?;
        }
        Ok(())
    }
    async fn sync_data(&self) -> io::Result<()> {
        self.file.fdatasync().await.map_err(gio)
    }
    async fn len(&self) -> io::Result<u64> {
        self.file.file_size().await.map_err(gio)
    }
    async fn preallocate(&self, len: u64) -> io::Result<()> {
        self.file.pre_allocate(len, true).await.map_err(gio)
    }
    async fn truncate(&self, len: u64) -> io::Result<()> {
        self.file.truncate(len).await.map_err(gio)
    }
    async fn close(self) -> io::Result<()> {
        self.file.close().await.map_err(gio)
    }
}

// ---------------------------------------------------------------------------
// SimDisk: in-memory files with a crash model and fault injection.

#[derive(Default, Clone)]
struct SimFileData {
    /// What a reader sees now.
    current: Vec<u8>,
    /// What survives a crash: the contents as of the last successful sync.
    durable: Vec<u8>,
    /// Open `SimFile`s of it.
    handles: usize,
}

#[derive(Default)]
struct SimState {
    /// The namespace as the running process sees it.
    files: BTreeMap<PathBuf, Rc<RefCell<SimFileData>>>,
    /// The namespace as it survives a crash (updated by `sync_dir`).
    durable_names: BTreeMap<PathBuf, Rc<RefCell<SimFileData>>>,
    dirs: std::collections::BTreeSet<PathBuf>,
    /// When set, every `sync_data` fails (models a dying disk).
    fail_syncs: bool,
    /// Number of writes after which writes fail with ENOSPC (None: never).
    writes_until_full: Option<u64>,
    /// Files removed while still open: a real file system frees their
    /// blocks when the last descriptor closes, in the thread that closes it.
    removed_while_open: u64,
}

/// In-memory disk for tests. Cloning shares the same disk.
///
/// `crash()` models a power cut: each file keeps only what was synced, and the
/// namespace keeps only what a `sync_dir` made durable.
#[derive(Clone, Default)]
pub struct SimDisk {
    state: Rc<RefCell<SimState>>,
}

pub struct SimFile {
    path: PathBuf,
    data: Rc<RefCell<SimFileData>>,
    disk: SimDisk,
    /// Opened with `open_dsync`: each write is durable when it returns.
    dsync: bool,
}

impl SimDisk {
    pub fn new() -> Self {
        Self::default()
    }
    /// Lose everything not made durable, as a power cut would.
    pub fn crash(&self) {
        let mut st = self.state.borrow_mut();
        let names = st.durable_names.clone();
        for data in names.values() {
            let mut d = data.borrow_mut();
            d.current = d.durable.clone();
        }
        st.files = names;
    }
    /// Make every later `sync_data` fail with EIO.
    pub fn fail_syncs(&self, on: bool) {
        self.state.borrow_mut().fail_syncs = on;
    }
    /// After `n` more writes, writes fail with ENOSPC.
    pub fn fill_after_writes(&self, n: Option<u64>) {
        self.state.borrow_mut().writes_until_full = n;
    }
    /// Flip one byte of a file, both in its current and durable contents.
    pub fn corrupt(&self, path: &Path, offset: usize) {
        let st = self.state.borrow();
        if let Some(f) = st.files.get(path) {
            let mut d = f.borrow_mut();
            if let Some(b) = d.current.get_mut(offset) {
                *b ^= 0x5a;
            }
            if let Some(b) = d.durable.get_mut(offset) {
                *b ^= 0x5a;
            }
        }
    }
    /// How many files were removed while a `SimFile` of theirs was open.
    pub fn removed_while_open(&self) -> u64 {
        self.state.borrow().removed_while_open
    }
    /// Current size of a file, if it exists.
    pub fn file_len(&self, path: &Path) -> Option<usize> {
        self.state.borrow().files.get(path).map(|f| f.borrow().current.len())
    }
    fn not_found(path: &Path) -> io::Error {
        io::Error::new(io::ErrorKind::NotFound, format!("{}: not found", path.display()))
    }
    fn file(&self, path: &Path, data: Rc<RefCell<SimFileData>>, dsync: bool) -> SimFile {
        data.borrow_mut().handles += 1;
        SimFile { path: path.to_path_buf(), data, disk: self.clone(), dsync }
    }
}

impl Drop for SimFile {
    fn drop(&mut self) {
        self.data.borrow_mut().handles -= 1;
    }
}

impl Disk for SimDisk {
    type File = SimFile;
    async fn create(&self, path: &Path) -> io::Result<SimFile> {
        let data = Rc::new(RefCell::new(SimFileData::default()));
        self.state.borrow_mut().files.insert(path.to_path_buf(), data.clone());
        Ok(self.file(path, data, false))
    }
    async fn open(&self, path: &Path) -> io::Result<SimFile> {
        let data = self.state.borrow().files.get(path).cloned().ok_or_else(|| Self::not_found(path))?;
        Ok(self.file(path, data, false))
    }
    async fn open_dsync(&self, path: &Path) -> io::Result<SimFile> {
        let mut f = self.open(path).await?;
        f.dsync = true;
        Ok(f)
    }
    async fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = self.state.borrow_mut();
        let data = st.files.remove(from).ok_or_else(|| Self::not_found(from))?;
        st.files.insert(to.to_path_buf(), data);
        Ok(())
    }
    async fn remove(&self, path: &Path) -> io::Result<()> {
        let mut st = self.state.borrow_mut();
        let data = st.files.remove(path).ok_or_else(|| Self::not_found(path))?;
        if data.borrow().handles > 0 {
            st.removed_while_open += 1;
        }
        Ok(())
    }
    async fn remove_closed(&self, path: &Path) -> io::Result<()> {
        let open = self.state.borrow().files.get(path).is_some_and(|d| d.borrow().handles > 0);
        if open {
            self.state.borrow_mut().removed_while_open += 1;
            return Err(io::Error::other(format!(
                "{}: still open; shrinking it would cut its reader short",
                path.display()
            )));
        }
        self.remove(path).await
    }
    async fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.state.borrow_mut();
        if st.fail_syncs {
            return Err(io::Error::other("injected sync failure"));
        }
        st.durable_names.retain(|p, _| p.parent() != Some(dir));
        let in_dir: Vec<_> =
            st.files.iter().filter(|(p, _)| p.parent() == Some(dir)).map(|(p, d)| (p.clone(), d.clone())).collect();
        st.durable_names.extend(in_dir);
        Ok(())
    }
    async fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.state.borrow_mut().dirs.insert(dir.to_path_buf());
        Ok(())
    }
    async fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let st = self.state.borrow();
        Ok(st
            .files
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_string))
            .collect())
    }
    async fn exists(&self, path: &Path) -> io::Result<bool> {
        let st = self.state.borrow();
        Ok(st.files.contains_key(path) || st.dirs.contains(path))
    }
}

impl DiskFile for SimFile {
    type Bytes = Vec<u8>;
    async fn read_at(&self, pos: u64, len: usize) -> io::Result<Vec<u8>> {
        let d = self.data.borrow();
        let start = (pos as usize).min(d.current.len());
        let end = start.saturating_add(len).min(d.current.len());
        Ok(d.current[start..end].to_vec())
    }
    async fn read_whole(&self) -> io::Result<Vec<u8>> {
        Ok(self.data.borrow().current.clone())
    }
    async fn write_at(&self, pos: u64, data: &[u8]) -> io::Result<()> {
        check_aligned(pos, data.len())?;
        {
            let mut st = self.disk.state.borrow_mut();
            if let Some(n) = st.writes_until_full.as_mut() {
                if *n == 0 {
                    return Err(io::Error::new(io::ErrorKind::StorageFull, "injected ENOSPC"));
                }
                *n -= 1;
            }
            if self.dsync && st.fail_syncs {
                return Err(io::Error::other(format!("injected O_DSYNC write failure on {}", self.path.display())));
            }
        }
        let put = |bytes: &mut Vec<u8>| {
            let end = pos as usize + data.len();
            if bytes.len() < end {
                bytes.resize(end, 0);
            }
            bytes[pos as usize..end].copy_from_slice(data);
        };
        let mut d = self.data.borrow_mut();
        put(&mut d.current);
        if self.dsync {
            put(&mut d.durable);
        }
        Ok(())
    }
    async fn sync_data(&self) -> io::Result<()> {
        if self.disk.state.borrow().fail_syncs {
            return Err(io::Error::other(format!("injected fdatasync failure on {}", self.path.display())));
        }
        let mut d = self.data.borrow_mut();
        d.durable = d.current.clone();
        Ok(())
    }
    async fn len(&self) -> io::Result<u64> {
        Ok(self.data.borrow().current.len() as u64)
    }
    async fn preallocate(&self, _len: u64) -> io::Result<()> {
        Ok(())
    }
    async fn truncate(&self, len: u64) -> io::Result<()> {
        self.data.borrow_mut().current.resize(len as usize, 0);
        Ok(())
    }
    async fn close(self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gather_copies_any_span_of_the_parts_then_zeros() {
        let parts: [&[u8]; 4] = [b"abc", b"", b"defgh", b"i"];
        let all = b"abcdefghi";
        for from in 0..=all.len() + 2 {
            for len in 0..=all.len() + 3 {
                let mut out = vec![0xff; len];
                gather(&parts, from, &mut out);
                let mut want: Vec<u8> = all.iter().copied().skip(from).take(len).collect();
                want.resize(len, 0);
                assert_eq!(out, want, "from {from} len {len}");
            }
        }
    }

    /// Long copies (non-temporal stores on x86-64) land whole at any
    /// alignment of either side, with any tail.
    #[test]
    fn long_copies_for_the_device_land_whole() {
        let src: Vec<u8> = (0..STREAM_COPY_MIN * 2 + 200).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut out = vec![0u8; src.len() + 64];
        for s_off in [0, 1, 8, 15] {
            for d_off in [0, 3, 16, 31] {
                for len in [STREAM_COPY_MIN, STREAM_COPY_MIN + 1, STREAM_COPY_MIN + 63, STREAM_COPY_MIN * 2 + 17] {
                    out.fill(0xee);
                    copy_for_device(&mut out[d_off..d_off + len], &src[s_off..s_off + len]);
                    assert_eq!(
                        &out[d_off..d_off + len],
                        &src[s_off..s_off + len],
                        "src +{s_off} dst +{d_off} len {len}"
                    );
                    assert!(out[..d_off].iter().chain(&out[d_off + len..]).all(|&b| b == 0xee), "wrote outside");
                }
            }
        }
    }

    /// A write of several windows of pieces (the last one short) lands whole,
    /// each piece at its place; a failing piece fails the write.
    #[test]
    fn dma_writes_in_pieces_land_whole() {
        // Not /tmp: a tmpfs there refuses O_DIRECT.
        let dir = std::env::current_dir().unwrap().join(format!("target/tmp-dmapieces-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        let len = DMA_WRITE_PIECE_BYTES * (DMA_WRITE_PIECES_IN_FLIGHT + 1) + 3 * ALIGN;
        let data: Vec<u8> = (0..len).map(|i| (i / ALIGN) as u8 ^ (i as u8)).collect();
        let (p, d) = (path.clone(), data.clone());
        crate::rt::block_on(async move {
            let f = DmaDisk.create(&p).await.unwrap();
            f.write_at(ALIGN as u64, &d).await.unwrap();
            assert_eq!(f.read_at(ALIGN as u64, d.len()).await.unwrap(), d);
            assert_eq!(f.read_at(0, ALIGN).await.unwrap(), vec![0; ALIGN]);
            // The same bytes in parts that straddle pieces, then zeros.
            let cut = [7, DMA_WRITE_PIECE_BYTES + 5, 2 * DMA_WRITE_PIECE_BYTES + 9];
            let parts = [&d[..cut[0]], &d[cut[0]..cut[1]], &[][..], &d[cut[1]..cut[2]]];
            let span = 3 * DMA_WRITE_PIECE_BYTES;
            f.write_parts_at(ALIGN as u64, span, &parts).await.unwrap();
            let mut want = d[..cut[2]].to_vec();
            want.resize(span, 0);
            assert_eq!(f.read_at(ALIGN as u64, span).await.unwrap(), want);
            assert!(f.write_parts_at(0, ALIGN, &[&d[..ALIGN + 1]]).await.is_err(), "parts longer than the write");
            f.close().await.unwrap();
            // Read-only: every piece fails, and so does the write.
            let f = DmaDiskFile { file: glommio::io::DmaFile::open(&p).await.unwrap() };
            assert!(f.write_at(0, &d).await.is_err());
            f.close().await.unwrap();
        });
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The server's default data dir is relative (`./ringkv-data`).
    #[test]
    fn dma_disk_works_with_relative_paths() {
        let rel = PathBuf::from(format!("target/tmp-reldisk-{}", std::process::id()));
        let dir = rel.clone();
        crate::rt::block_on(async move {
            let e = crate::storage::Engine::open(DmaDisk, crate::storage::Options::new(&dir)).await.unwrap();
            e.put(b"k", b"v").await.unwrap();
            e.flush().await.unwrap();
            assert_eq!(e.get(b"k").await.unwrap().as_deref(), Some(&b"v"[..]));
            e.close().await.unwrap();
            let e = crate::storage::Engine::open(DmaDisk, crate::storage::Options::new(&dir)).await.unwrap();
            assert_eq!(e.get(b"k").await.unwrap().as_deref(), Some(&b"v"[..]));
            e.close().await.unwrap();
        });
        std::fs::remove_dir_all(&rel).unwrap();
    }

    /// A closed file is shrunk in steps and removed, a small one at once; one
    /// still open in `SimDisk` is refused, not cut short.
    #[test]
    fn remove_closed_shrinks_in_steps_and_refuses_an_open_file() {
        let dir = PathBuf::from(format!("target/tmp-remove-steps-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big");
        std::fs::write(&path, vec![7u8; (5 << 20) + 123]).unwrap();
        remove_in_steps(&path, 2 << 20, std::time::Duration::ZERO).unwrap();
        assert!(!path.exists());
        let small = dir.join("small");
        std::fs::write(&small, b"x").unwrap();
        crate::rt::block_on(async move {
            DmaDisk.remove_closed(&small).await.unwrap();
            assert!(!small.exists());
        });
        std::fs::remove_dir_all(&dir).unwrap();

        crate::rt::block_on(async {
            let disk = SimDisk::new();
            let p = Path::new("/d/t");
            let f = disk.create(p).await.unwrap();
            assert!(disk.remove_closed(p).await.is_err(), "open");
            assert_eq!((disk.removed_while_open(), disk.file_len(p)), (1, Some(0)), "kept");
            drop(f);
            disk.remove_closed(p).await.unwrap();
            assert_eq!(disk.file_len(p), None);
        });
    }
}
