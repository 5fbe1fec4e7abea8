//! Whole-table tests: build an image, write it to a `SimDisk` (or a real
//! `DmaDisk`), open, read, scan, and corrupt it.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::path::{Path, PathBuf};
use std::rc::Rc;

use futures_lite::future::block_on;
use proptest::prelude::*;

use super::*;
use crate::storage::disk::{Disk, DiskFile, DmaDisk, SimDisk, ALIGN};
use crate::storage::error::Error;
use crate::storage::types::{Entry, SeqNo, ValueKind};

fn entry(key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) -> Entry {
    Entry { key: key.to_vec(), seq, kind, value: value.to_vec() }
}

/// ~10k entries: every 7th key has 3 versions, every 11th newest version is a
/// tombstone, some values are empty, one is large, and one key has enough
/// versions to span several blocks.
fn sample() -> Vec<Entry> {
    let mut v = Vec::new();
    for i in 0..9000u64 {
        let key = format!("key{i:06}").into_bytes();
        if i == 4242 {
            for s in (1..=300).rev() {
                v.push(entry(&key, s, ValueKind::Value, &[b'v'; 100]));
            }
            continue;
        }
        let versions = if i % 7 == 0 { 3 } else { 1 };
        for n in 0..versions {
            let seq = 1000 + i * 4 - n;
            let tomb = n == 0 && i % 11 == 0;
            let value = match i {
                _ if tomb => Vec::new(),
                13 => vec![b'L'; 100_000],
                _ if i % 5 == 0 => Vec::new(),
                _ => format!("value-{i}-{n}").into_bytes(),
            };
            let kind = if tomb { ValueKind::Tombstone } else { ValueKind::Value };
            v.push(Entry { key: key.clone(), seq, kind, value });
        }
    }
    v
}

fn build(entries: &[Entry], opts: &TableOptions) -> (Vec<u8>, TableMeta) {
    let mut b = TableBuilder::new(opts);
    for e in entries {
        b.add(&e.key, e.seq, e.kind, &e.value);
    }
    b.finish()
}

#[test]
fn a_table_finished_in_steps_is_the_same_file() {
    // The filter and hash index are built a few keys at a time between the
    // engine's slices (`prepare_finish`); the file must not depend on how.
    let entries = sample();
    for opts in [TableOptions::default(), TableOptions { hash_index: false, ..TableOptions::default() }] {
        let (whole, meta) = build(&entries, &opts);
        for step in [1, 7, 1000, 100_000] {
            let mut b = TableBuilder::new(&opts);
            for e in &entries {
                b.add(&e.key, e.seq, e.kind, &e.value);
            }
            let mut calls = 1;
            while !b.prepare_finish(step) {
                calls += 1;
            }
            assert_eq!(calls, 9000usize.div_ceil(step).max(1), "steps of {step}");
            let (image, m) = b.finish();
            assert!(image == whole, "steps of {step}, hash index {}", opts.hash_index);
            assert_eq!(m, meta);
        }
    }
}

async fn write<D: Disk>(disk: &D, path: &Path, image: &[u8]) {
    let f = disk.create(path).await.unwrap();
    f.write_at(0, image).await.unwrap();
    f.sync_data().await.unwrap();
    f.close().await.unwrap();
}

async fn open<D: Disk>(disk: &D, path: &Path) -> crate::storage::error::Result<Rc<Table<D::File>>> {
    let file = disk.open(path).await.unwrap();
    Table::open(7, path.to_path_buf(), file, Rc::new(BlockCache::new(1 << 20))).await.map(Rc::new)
}

/// A point read, hashing the key as the engine does.
async fn get<F: DiskFile>(
    t: &Table<F>,
    key: &[u8],
) -> crate::storage::error::Result<Option<(SeqNo, ValueKind, Vec<u8>)>> {
    t.get(key, hash_key(key)).await
}

fn sim_table(entries: &[Entry]) -> (SimDisk, PathBuf, Vec<u8>, TableMeta) {
    let (image, meta) = build(entries, &TableOptions::default());
    let disk = SimDisk::new();
    let path = PathBuf::from("/db/000007.sst");
    block_on(write(&disk, &path, &image));
    (disk, path, image, meta)
}

async fn scan<F: DiskFile>(it: &mut TableIter<F>) -> Vec<Entry> {
    let mut out = Vec::new();
    while let Some(e) = it.next().await.unwrap() {
        out.push(e);
    }
    out
}

fn footer_of(image: &[u8]) -> Footer {
    let off = image.len() - FOOTER_LEN;
    Footer::decode(&image[off..], off as u64).unwrap()
}

/// The data block handles, read from the image's index block.
fn data_handles(image: &[u8]) -> Vec<BlockHandle> {
    let h = footer_of(image).index;
    let raw = image[h.offset as usize..][..h.size as usize].to_vec();
    let mut it = BlockIter::new(Rc::new(Block::decode(raw).unwrap()));
    it.seek_to_first().unwrap();
    let mut v = Vec::new();
    while it.valid() {
        v.push(BlockHandle::decode_varint(it.value()).unwrap());
        it.advance().unwrap();
    }
    v
}

#[track_caller]
fn assert_corruption<T>(r: crate::storage::error::Result<T>, path: &Path, offsets: std::ops::Range<u64>) {
    match r {
        Err(Error::Corruption { file, offset, .. }) => {
            assert_eq!(file, path.display().to_string());
            assert!(offsets.contains(&offset), "offset {offset} not in {offsets:?}");
        }
        Err(e) => panic!("expected corruption, got {e}"),
        Ok(_) => panic!("expected corruption, got Ok"),
    }
}

#[test]
fn build_open_get_scan() {
    for hash_index in [true, false] {
        build_open_get_scan_with(&TableOptions { hash_index, ..TableOptions::default() });
    }
}

fn build_open_get_scan_with(opts: &TableOptions) {
    let entries = sample();
    let (image, meta) = build(&entries, opts);
    let disk = SimDisk::new();
    let path = PathBuf::from("/db/000007.sst");
    block_on(write(&disk, &path, &image));
    assert_eq!(image.len() % ALIGN, 0);
    assert_eq!(meta.file_size, image.len() as u64);
    assert_eq!(
        (meta.entries, meta.smallest.as_slice(), meta.largest.as_slice()),
        (entries.len() as u64, &b"key000000"[..], &b"key008999"[..])
    );
    assert_eq!(meta.tombstones, entries.iter().filter(|e| e.kind == ValueKind::Tombstone).count() as u64);
    assert_eq!((meta.min_seq, meta.max_seq), (1, entries.iter().map(|e| e.seq).max().unwrap()));
    block_on(async {
        let t = open(&disk, &path).await.unwrap();
        assert_eq!(t.meta(), &meta);
        assert_eq!(t.path(), path);
        assert_eq!(t.id(), 7);
        // Newest version of every key.
        let mut prev: &[u8] = b"";
        for e in &entries {
            if e.key != prev {
                let got = get(&t, &e.key).await.unwrap().unwrap();
                assert_eq!(got, (e.seq, e.kind, e.value.clone()), "{:?}", String::from_utf8_lossy(&e.key));
                // Its block is cached now: the lookup without awaiting answers the same.
                assert_eq!(t.get_now(&e.key, hash_key(&e.key)).unwrap().unwrap(), Some(got));
                assert!(t.may_contain(&e.key));
            }
            prev = &e.key;
        }
        for absent in [&b""[..], b"a", b"key", b"key0000005", b"key004242x", b"key009000", b"zzz"] {
            assert_eq!(get(&t, absent).await.unwrap(), None, "{absent:?}");
            assert!(matches!(t.get_now(absent, hash_key(absent)), None | Some(Ok(None))), "{absent:?}");
        }
        assert_eq!(scan(&mut t.iter()).await, entries);
        t.verify().await.unwrap();
    });
}

#[test]
fn seek_positions() {
    let entries = sample();
    let (disk, path, ..) = sim_table(&entries);
    block_on(async {
        let t = open(&disk, &path).await.unwrap();
        let mut it = t.iter();
        for probe in [&b""[..], b"key000007", b"key0000071", b"key004242", b"key008999", b"key009", b"z"] {
            it.seek(probe).await.unwrap();
            let want: Vec<Entry> = entries.iter().filter(|e| e.key.as_slice() >= probe).cloned().collect();
            assert_eq!(scan(&mut it).await, want, "{probe:?}");
        }
        // All 300 versions of the multi-block key, newest first.
        it.seek(b"key004242").await.unwrap();
        for s in (1..=300).rev() {
            let e = it.next().await.unwrap().unwrap();
            assert_eq!((e.key.as_slice(), e.seq), (&b"key004242"[..], s));
        }
        it.seek_to_first().await.unwrap();
        assert_eq!(it.next().await.unwrap().as_ref(), entries.first());
    });
}

#[test]
fn versions_span_blocks_and_blocks_are_aligned() {
    let (.., image, _) = sim_table(&sample());
    let handles = data_handles(&image);
    assert!(handles.len() > 50);
    let aligned = handles.iter().filter(|h| h.offset % ALIGN as u64 == 0).count();
    // Small entries: nearly every block starts on a page and fits in it.
    assert!(aligned * 10 >= handles.len() * 9, "{aligned} of {}", handles.len());
    for w in handles.windows(2) {
        assert!(w[0].end().unwrap() <= w[1].offset);
    }
}

#[test]
fn a_table_opened_from_its_image_is_the_table_read_back() {
    // A flush or compaction opens the table it just wrote from the image in
    // memory (`open_written`) instead of reading its meta blocks back.
    let entries = sample();
    let (disk, path, image, meta) = sim_table(&entries);
    block_on(async {
        let cache = Rc::new(BlockCache::new(1 << 20));
        let file = disk.open(&path).await.unwrap();
        let t = Table::open_written(7, path.clone(), file, cache, &image).unwrap();
        let back = open(&disk, &path).await.unwrap();
        assert_eq!(t.meta(), back.meta());
        assert_eq!(*t.meta(), TableMeta { file_size: image.len() as u64, ..meta });
        assert_eq!(t.data_blocks(), back.data_blocks());
        for e in entries.iter().step_by(37) {
            assert_eq!(get(&t, &e.key).await.unwrap(), get(&back, &e.key).await.unwrap());
        }
        for k in ["key999999", "kex", "a"] {
            assert!(get(&t, k.as_bytes()).await.unwrap().is_none());
        }
        // Its meta blocks are checked as when read back: a flipped byte in
        // the index (or a truncated image) is corruption, not a panic.
        let h = footer_of(&image).index;
        let mut bad = image.clone();
        bad[h.offset as usize + 3] ^= 0x40;
        for img in [&bad[..], &image[..image.len() - 4096]] {
            let file = disk.open(&path).await.unwrap();
            let r = Table::open_written(7, path.clone(), file, Rc::new(BlockCache::new(1 << 20)), img);
            assert!(matches!(r, Err(Error::Corruption { .. })), "{:?}", r.err());
        }
    });
}

#[test]
fn point_reads_use_cache_scans_do_not_fill_it() {
    let (disk, path, ..) = sim_table(&sample());
    block_on(async {
        let file = disk.open(&path).await.unwrap();
        let cache = Rc::new(BlockCache::new(1 << 20));
        let t = Rc::new(Table::open(1, path.clone(), file, cache.clone()).await.unwrap());
        scan(&mut t.iter()).await;
        assert_eq!(cache.stats(), (0, 0, 0));
        get(&t, b"key000100").await.unwrap().unwrap();
        get(&t, b"key000100").await.unwrap().unwrap();
        let (hits, misses, bytes) = cache.stats();
        assert_eq!((hits, misses), (1, 1));
        assert!(bytes > 0);
        // Scans use cached blocks without counting them.
        t.iter().seek(b"key000100").await.unwrap();
        assert_eq!(cache.stats().0, 1);
        Rc::try_unwrap(t).ok().unwrap().close().await.unwrap();
        assert_eq!(cache.stats().2, 0, "close drops the table's blocks");
    });
}

#[test]
fn kept_blocks_are_the_image_blocks_and_warm_the_cache() {
    let entries = sample();
    let kept = || {
        let mut b = TableBuilder::new(&TableOptions::default()).keeping_blocks();
        for e in &entries {
            b.add(&e.key, e.seq, e.kind, &e.value);
        }
        b.finish_with_blocks()
    };
    let (image, meta, blocks) = kept();
    assert_eq!((image.clone(), meta.clone()), build(&entries, &TableOptions::default()), "the same image");
    let handles = data_handles(&image);
    assert_eq!(blocks.len(), handles.len());
    for (block, h) in blocks.iter().zip(&handles) {
        let contents = &image[h.offset as usize..][..h.size as usize];
        assert_eq!(&*block.shared_data().0, contents);
    }
    // Without asking, none are kept.
    assert!(TableBuilder::new(&TableOptions::default()).finish_with_blocks().2.is_empty());

    let disk = SimDisk::new();
    let path = PathBuf::from("/t/kept.sst");
    block_on(async {
        write(&disk, &path, &image).await;
        let cache = Rc::new(BlockCache::new(64 << 20));
        let t = Table::open(1, path.clone(), disk.open(&path).await.unwrap(), cache.clone()).await.unwrap();
        // A count that does not match is left out.
        let mut short = kept().2;
        short.pop();
        t.cache_blocks(short).await;
        assert_eq!(cache.stats().2, 0);
        t.cache_blocks(blocks).await;
        assert!(cache.stats().2 > 0);
        // Every point read is a hit, nothing is read from the disk, and each
        // finds what the same table read cold does.
        let cold = open(&disk, &path).await.unwrap();
        for e in entries.iter().step_by(97) {
            assert_eq!(get(&t, &e.key).await.unwrap(), get(&cold, &e.key).await.unwrap());
        }
        let (hits, misses, _) = cache.stats();
        assert_eq!(misses, 0);
        assert!(hits > 0);
    });
}

#[test]
fn a_lent_image_serves_reads_until_taken_back() {
    // A flushed table is lent its image (`keep_image`): blocks the cache
    // lacks are decoded from it, not read from the disk. Every data block on
    // this disk is damaged, so a read that went there would fail; the
    // cache takes nothing (capacity 0), so every read needs a block.
    let entries = sample();
    let (disk, path, image, _) = sim_table(&entries);
    let clean = SimDisk::new();
    block_on(write(&clean, &path, &image));
    for h in data_handles(&image) {
        disk.corrupt(&path, (h.offset + 10) as usize);
    }
    block_on(async {
        let cold = open(&clean, &path).await.unwrap();
        let cache = Rc::new(BlockCache::new(0));
        let file = disk.open(&path).await.unwrap();
        let t = Rc::new(Table::open_written(7, path.clone(), file, cache.clone(), &image).unwrap());
        // An image of another length is not kept.
        t.keep_image(image[..4096].to_vec());
        assert!(t.take_image().is_none());
        t.keep_image(image.clone());
        for e in entries.iter().step_by(97) {
            let want = get(&cold, &e.key).await.unwrap();
            assert_eq!(get(&t, &e.key).await.unwrap(), want);
            // The read that takes no disk read finds it too.
            let now = t.get_now(&e.key, hash_key(&e.key)).unwrap().unwrap(); // None: it wanted the disk
            assert_eq!(now, want);
        }
        assert!(get(&t, b"key999999").await.unwrap().is_none());
        assert_eq!(scan(&mut t.iter()).await, scan(&mut cold.iter()).await);
        let (hits, misses, _) = cache.stats();
        assert_eq!(hits, 0);
        assert!(misses > 0, "a block from the image is a cache miss");
        // Taken back, reads go to the (damaged) disk.
        assert_eq!(t.take_image(), Some(image.clone()));
        assert!(t.get_now(b"key000100", hash_key(b"key000100")).is_none(), "needs the disk");
        let h = data_handles(&image)[0];
        assert_corruption(get(&t, b"key000000").await, &path, h.offset..h.end().unwrap());
    });
}

#[test]
fn empty_table() {
    let (disk, path, image, meta) = sim_table(&[]);
    assert_eq!(image.len(), ALIGN);
    assert_eq!(meta.entries, 0);
    block_on(async {
        let t = open(&disk, &path).await.unwrap();
        assert_eq!(get(&t, b"x").await.unwrap(), None);
        assert_eq!(get(&t, b"").await.unwrap(), None);
        assert!(scan(&mut t.iter()).await.is_empty());
        t.iter().seek(b"a").await.unwrap();
        t.verify().await.unwrap();
    });
}

#[test]
fn corrupt_data_block() {
    let (disk, path, image, _) = sim_table(&sample());
    let h = data_handles(&image)[0];
    disk.corrupt(&path, (h.offset + 10) as usize);
    let len = image.len() as u64;
    block_on(async {
        let t = open(&disk, &path).await.unwrap(); // data blocks are not read by open
        assert_corruption(t.verify().await, &path, h.offset..h.end().unwrap());
        assert_corruption(get(&t, b"key000000").await, &path, h.offset..h.end().unwrap());
        assert_corruption(t.iter().next().await, &path, 0..len);
        assert!(get(&t, b"key008000").await.unwrap().is_some(), "other blocks still readable");
    });
}

#[test]
fn corrupt_index_footer_meta() {
    let (_, path, image, _) = sim_table(&sample());
    let f = footer_of(&image);
    let footer_off = (image.len() - FOOTER_LEN) as u64;
    let cases = [
        (f.index.offset + 3, f.index.offset),
        (f.index.offset + f.index.size, f.index.offset), // the type tag
        (f.filter.offset + 100, f.filter.offset),
        (f.index.end().unwrap() + 100, f.index.end().unwrap()), // the hash index, after the index
        (f.properties.offset, f.properties.offset),
        (footer_off + 1, footer_off),
        (footer_off + 60, footer_off), // the footer CRC
    ];
    for (byte, want) in cases {
        let disk = SimDisk::new();
        block_on(write(&disk, &path, &image));
        disk.corrupt(&path, byte as usize);
        assert_corruption(block_on(open(&disk, &path)), &path, want..want + 1);
    }
}

#[test]
fn every_tail_byte_flip_fails_or_is_padding() {
    let entries: Vec<Entry> =
        (0..300).map(|i| entry(format!("k{i:04}").as_bytes(), 5, ValueKind::Value, b"v")).collect();
    for hash_index in [true, false] {
        tail_byte_flips(&entries, &TableOptions { hash_index, ..TableOptions::default() });
    }
}

fn tail_byte_flips(entries: &[Entry], opts: &TableOptions) {
    let (image, _) = build(entries, opts);
    let f = footer_of(&image);
    assert!(f.filter.size > 0, "a filter, with a hash index or not");
    let path = PathBuf::from("/db/1.sst");
    // Filter, index, hash index and properties follow each other.
    let checked = |b: u64| (f.meta_start()..f.properties.end().unwrap()).contains(&b);
    for byte in f.meta_start()..image.len() as u64 {
        let disk = SimDisk::new();
        block_on(write(&disk, &path, &image));
        disk.corrupt(&path, byte as usize);
        let r = block_on(open(&disk, &path));
        let footer = byte >= (image.len() - FOOTER_LEN) as u64;
        if checked(byte) || footer {
            assert_corruption(r, &path, 0..image.len() as u64);
        } else {
            r.unwrap(); // zero padding before the footer is not covered
        }
    }
}

#[test]
fn truncated_file() {
    let (_, path, image, _) = sim_table(&sample());
    for keep in [0, 10, ALIGN, image.len() - ALIGN, image.len() - 1] {
        let disk = SimDisk::new();
        block_on(async {
            write(&disk, &path, &image).await;
            disk.open(&path).await.unwrap().truncate(keep as u64).await.unwrap();
        });
        assert_corruption(block_on(open(&disk, &path)), &path, 0..image.len() as u64 + 1);
    }
}

#[test]
fn data_truncated_after_open() {
    let (disk, path, image, _) = sim_table(&sample());
    block_on(async {
        let t = open(&disk, &path).await.unwrap();
        disk.open(&path).await.unwrap().truncate(image.len() as u64 / 2).await.unwrap();
        assert!(matches!(t.verify().await, Err(Error::Corruption { .. })));
        assert!(matches!(get(&t, b"key008500").await, Err(Error::Corruption { .. })));
    });
}

#[test]
fn dma_disk_real_io() {
    let dir = std::env::temp_dir().join(format!(
        "ringkv-sstable-test-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("000001.sst");
    let entries = sample();
    let (image, meta) = build(&entries, &TableOptions::default());
    let p = path.clone();
    crate::rt::block_on(async move {
        let disk = DmaDisk;
        // No priming here: DmaDisk must make glommio's iopoll probe meaningful itself.
        write(&disk, &p, &image).await;
        let t = open(&disk, &p).await.unwrap();
        assert_eq!(t.meta(), &meta);
        t.verify().await.unwrap();
        assert_eq!(get(&t, b"key000001").await.unwrap().unwrap().2, b"value-1-0");
        assert_eq!(get(&t, b"key000013").await.unwrap().unwrap().2.len(), 100_000);
        assert_eq!(get(&t, b"key0000015").await.unwrap(), None);
        assert_eq!(scan(&mut t.iter()).await, entries);
        Rc::try_unwrap(t).ok().unwrap().close().await.unwrap();
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn prop_table_roundtrip(
        keys in proptest::collection::btree_map(
            proptest::collection::vec(prop_oneof![Just(b'k'), any::<u8>()], 0..10),
            (1..4usize, proptest::collection::vec(any::<u8>(), 0..300), any::<bool>()),
            0..400,
        ),
        block_size in prop_oneof![Just(64usize), Just(512), Just(4096), Just(1 << 17)],
        restart_interval in 1..20usize,
        hash_index in any::<bool>(),
    ) {
        let mut entries = Vec::new();
        for (i, (k, (versions, value, tomb))) in keys.iter().enumerate() {
            for n in 0..*versions {
                let kind = if *tomb && n == 0 { ValueKind::Tombstone } else { ValueKind::Value };
                entries.push(entry(k, (i * 10 + 5 - n) as SeqNo, kind, value));
            }
        }
        let opts = TableOptions { block_size, restart_interval, bloom_bits_per_key: 10, hash_index };
        let (image, meta) = build(&entries, &opts);
        prop_assert_eq!(image.len() % ALIGN, 0);
        prop_assert_eq!(meta.entries, entries.len() as u64);
        let disk = SimDisk::new();
        let path = PathBuf::from("/p.sst");
        block_on(async {
            write(&disk, &path, &image).await;
            let t = open(&disk, &path).await.unwrap();
            assert_eq!(scan(&mut t.iter()).await, entries);
            for (k, (versions, value, tomb)) in &keys {
                let (_, kind, v) = get(&t, k).await.unwrap().unwrap();
                let _ = versions;
                assert_eq!(kind == ValueKind::Tombstone, *tomb);
                assert_eq!(&v, value);
            }
            for k in keys.keys() {
                let mut absent = k.clone();
                absent.push(0);
                if !keys.contains_key(&absent) {
                    assert_eq!(get(&t, &absent).await.unwrap(), None);
                }
            }
            t.verify().await.unwrap();
        });
    }
}

/// `image` with the contents of the meta block at `h` replaced by `contents`
/// (resealed with a good trailer); the footer is rewritten to `footer`.
/// The block must be the last before the footer's padding, or keep its size.
fn reseal(image: &[u8], h: BlockHandle, contents: &[u8], footer: Footer) -> Vec<u8> {
    let mut out = image[..h.offset as usize].to_vec();
    out.extend_from_slice(contents);
    super::format::put_block_trailer(&mut out, h.offset as usize);
    if contents.len() as u64 == h.size {
        out.extend_from_slice(&image[out.len()..image.len() - FOOTER_LEN]);
    } else {
        out.resize(image.len() - FOOTER_LEN, 0);
    }
    out.extend_from_slice(&footer.encode());
    out
}

#[test]
fn reads_format_version_1() {
    // A version 1 table: no hash index, and properties without its handle.
    let entries = sample();
    let (image, _) = build(&entries, &TableOptions { hash_index: false, ..TableOptions::default() });
    let f = footer_of(&image);
    let p = f.properties;
    let props = &image[p.offset as usize..][..p.size as usize];
    assert_eq!(&props[props.len() - 2..], &[0, 0]);
    let v1_props = BlockHandle { size: p.size - 2, ..p };
    let v1 = reseal(&image, p, &props[..props.len() - 2], Footer { properties: v1_props, version: 1, ..f });
    assert_eq!(footer_of(&v1).version, 1);
    let disk = SimDisk::new();
    let path = PathBuf::from("/db/1.sst");
    block_on(async {
        write(&disk, &path, &v1).await;
        let t = open(&disk, &path).await.unwrap();
        assert_eq!(get(&t, b"key000001").await.unwrap().unwrap().2, b"value-1-0");
        assert_eq!(get(&t, b"key0000011").await.unwrap(), None);
        assert_eq!(scan(&mut t.iter()).await, entries);
        t.verify().await.unwrap();
    });
    // Version 3 is not known.
    let v3 = reseal(&image, p, props, Footer { version: 3, ..f });
    let disk = SimDisk::new();
    block_on(write(&disk, &path, &v3));
    assert_corruption(block_on(open(&disk, &path)), &path, 0..v3.len() as u64);
}

#[test]
fn verify_finds_a_hash_index_leading_elsewhere() {
    // A hash index whose checksum is good but which sends a key to the wrong
    // block (a writer bug): verify says so.
    let entries: Vec<Entry> =
        (0..2000).map(|i| entry(format!("k{i:05}").as_bytes(), 5, ValueKind::Value, &[b'v'; 40])).collect();
    let (image, _) = build(&entries, &TableOptions::default());
    let f = footer_of(&image);
    // The hash index ends where the properties start; it is the only block
    // of whole u64 slots between the index and the properties.
    let start = (f.index.end().unwrap()) as usize;
    let h = BlockHandle { offset: start as u64, size: f.properties.offset - start as u64 - BLOCK_TRAILER_LEN as u64 };
    let mut slots = image[start..][..h.size as usize].to_vec();
    let slot = slots
        .chunks_exact_mut(8)
        .find(|c| u64::from_le_bytes(c.to_vec().try_into().unwrap()) >> 24 & 0xff_ffff > 1)
        .unwrap();
    slot[3] = 1; // block number + 1 = 1: block 0
    slot[4] = 0;
    slot[5] = 0;
    let bad = reseal(&image, h, &slots, f);
    let disk = SimDisk::new();
    let path = PathBuf::from("/db/1.sst");
    block_on(async {
        write(&disk, &path, &bad).await;
        let t = open(&disk, &path).await.unwrap();
        assert_corruption(t.verify().await, &path, 0..bad.len() as u64);
    });
}
