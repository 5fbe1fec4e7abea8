//! The server: one glommio executor per shard, each pinned to its core and
//! owning its own engine (`DATA_DIR/shard-<i>/`), listeners and connections.
//!
//! Every shard binds the client port (SO_REUSEPORT: the kernel spreads new
//! connections over the shards). A request for a key that another shard owns
//! crosses the mesh (see `mesh`) and is answered on the connection it came in on.
//!
//! Shutdown (SIGTERM/SIGINT): every shard stops accepting, lets its
//! connections finish the requests they have read, waits until all shards are
//! there (a remote shard may still be forwarding to us), then closes its engine
//! (which syncs the WAL) and the process exits 0.

pub mod cluster;
pub mod connection;
pub mod handler;
pub mod lock;
pub mod mesh;
pub mod resp_conn;
pub mod shard_op;
pub mod stop;

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::ServeConfig;
use crate::storage::{wal_segments_at_bound, DmaDisk, Engine, Options};
use mesh::{Mesh, MeshEnds};

/// io_uring registered-buffer memory per shard. Small enough that two shards
/// start within the default 8 MiB `ulimit -l` (see tuning/README.md).
pub const SHARD_IO_MEMORY_BYTES: usize = 2 << 20;

/// Process-wide shutdown state shared by the shard threads.
#[derive(Default)]
pub struct Shutdown {
    requested: AtomicBool,
    /// Shards that have stopped accepting and drained their connections.
    drained: AtomicUsize,
    /// Shards that have failed to start or crashed.
    failed: AtomicBool,
}

impl Shutdown {
    pub fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
    }
    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }
    /// Resolves once shutdown is requested (polled: signals arrive on another thread).
    pub async fn wait_requested(&self) {
        while !self.is_requested() {
            glommio::timer::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// What every shard knows about the node, for handshakes.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    pub node_id: String,
    pub shards: usize,
    pub listen: SocketAddr,
    pub max_in_flight_per_connection: usize,
    pub sync: crate::storage::SyncMode,
}

/// The direct address of every shard, filled in as the shards bind.
type ShardAddrs = Arc<Mutex<Vec<Option<SocketAddr>>>>;

/// Run the server until SIGTERM/SIGINT. Returns when every shard has stopped.
pub fn serve(cfg: ServeConfig) -> Result<(), String> {
    cfg.validate()?;
    let _lock = lock::DirLock::acquire(&cfg.data_dir)?;
    check_ports_free(&cfg)?;
    let shutdown = Arc::new(Shutdown::default());
    install_signal_handlers(shutdown.clone())?;
    let mut ends = MeshEnds::new(cfg.shards);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let info = NodeInfo {
        node_id: cfg.node_id.clone(),
        shards: cfg.shards,
        listen: cfg.listen,
        max_in_flight_per_connection: cfg.max_in_flight_per_connection,
        sync: cfg.sync,
    };
    let addrs: ShardAddrs = Arc::new(Mutex::new(vec![None; cfg.shards]));
    let members = Arc::new(cluster::SharedMembers::open(&cfg.data_dir));
    let mut handles = Vec::new();
    for i in 0..cfg.shards {
        let (senders, receivers) = ends.take(i);
        let placement = cfg.placement(i, cpus).map_or(glommio::Placement::Unbound, glommio::Placement::Fixed);
        let (cfg, info, shutdown, addrs) = (cfg.clone(), info.clone(), shutdown.clone(), addrs.clone());
        let members = members.clone();
        let h = glommio::LocalExecutorBuilder::new(placement)
            .name(&format!("shard-{i}"))
            .io_memory(SHARD_IO_MEMORY_BYTES)
            // With RINGKV_DETECT_STALLS set, glommio logs (at WARN) a backtrace of
            // any task that runs well past its time slice (tuning/README.md).
            .detect_stalls(
                std::env::var_os("RINGKV_DETECT_STALLS")
                    .map(|_| Box::new(glommio::DefaultStallDetectionHandler {}) as _),
            )
            .spawn(move || async move {
                let r = shard_main(i, cfg, info, senders, receivers, shutdown.clone(), addrs, members).await;
                if let Err(e) = &r {
                    tracing::error!(shard = i, error = %e, "shard failed");
                    shutdown.failed.store(true, Ordering::SeqCst);
                    shutdown.request();
                }
                r
            })
            .map_err(|e| format!("cannot start shard {i}: {e} (io_uring and locked memory: see tuning/README.md)"))?;
        handles.push(h);
    }
    let mut first_err = None;
    for h in handles {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(e) => {
                first_err.get_or_insert(format!("shard thread panicked: {e:?}"));
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// A listener on `addr`, bound as servers bind: SO_REUSEPORT (the shards
/// share the client ports) and SO_REUSEADDR, so that a port another server
/// used a moment ago can be bound while its closed connections sit in
/// TIME_WAIT. glommio's own `TcpListener::bind` sets only SO_REUSEPORT, which
/// lets ringkv bind over its own TIME_WAIT sockets but not over another
/// program's (a Redis on the same port before it, in loadgen/compare.sh).
fn listen(addr: SocketAddr) -> std::io::Result<glommio::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    use std::os::fd::{FromRawFd, IntoRawFd};
    let sk = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sk.set_reuse_address(true)?;
    sk.set_reuse_port(true)?;
    sk.bind(&addr.into())?;
    sk.listen(1024)?;
    // SAFETY: the fd is a bound, listening TCP socket that we own, and
    // `into_raw_fd` gives up that ownership to the listener.
    Ok(unsafe { glommio::net::TcpListener::from_raw_fd(sk.into_raw_fd()) })
}

/// Refuse to start on a port that something already listens on. The shards
/// bind with SO_REUSEPORT, to share the client ports among themselves, and
/// Linux lets any socket of the same user with that option join the group:
/// a second ringkv on the same ports would silently take half the
/// connections, and its writes would seem lost to clients of the first. So
/// each port is probed with a connect first. (A plain bind cannot be the
/// probe: it also fails on the TIME_WAIT sockets a restarted server leaves.)
/// A process killed a moment ago may still accept for a few milliseconds
/// (its io_uring is torn down asynchronously), so the probe gives it a second.
fn check_ports_free(cfg: &ServeConfig) -> Result<(), String> {
    let mut addrs = vec![cfg.listen];
    addrs.extend(cfg.resp_listen);
    if let Some(base) = cfg.shard_port_base {
        addrs.extend((0..cfg.shards).map(|i| SocketAddr::new(cfg.listen.ip(), base.saturating_add(i as u16))));
    }
    for addr in addrs.into_iter().filter(|a| a.port() != 0) {
        let mut target = addr;
        if addr.ip().is_unspecified() {
            target.set_ip(match addr {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(1);
        while std::net::TcpStream::connect_timeout(&target, Duration::from_millis(200)).is_ok() {
            if std::time::Instant::now() > deadline {
                return Err(format!("cannot listen on {addr}: address in use (another server listens there)"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(())
}

fn install_signal_handlers(shutdown: Arc<Shutdown>) -> Result<(), String> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).map_err(|e| e.to_string())?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                tracing::info!(signal = sig, "shutting down");
                shutdown.request();
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Bind shard `i`'s own listener and wait until every shard has bound its own,
/// so the handshake can advertise them all.
async fn bind_shard_listener(
    i: usize,
    cfg: &ServeConfig,
    addrs: &ShardAddrs,
    shutdown: &Shutdown,
) -> Result<(glommio::net::TcpListener, Vec<String>), String> {
    let port = cfg.shard_port_base.map_or(0, |b| b + i as u16);
    let bind = SocketAddr::new(cfg.listen.ip(), port);
    let l = listen(bind).map_err(|e| format!("bind shard {i} at {bind}: {e}"))?;
    let local = l.local_addr().map_err(|e| e.to_string())?;
    addrs.lock().map_err(|e| e.to_string())?[i] = Some(local);
    loop {
        let all: Option<Vec<SocketAddr>> = addrs.lock().map_err(|e| e.to_string())?.iter().copied().collect();
        if let Some(all) = all {
            let host = cfg.advertise_host.clone().unwrap_or_else(|| match cfg.listen.ip() {
                ip if ip.is_unspecified() => "127.0.0.1".to_string(),
                ip => ip.to_string(),
            });
            let list =
                all.iter().map(|a| SocketAddr::new(host.parse().unwrap_or(a.ip()), a.port()).to_string()).collect();
            return Ok((l, list));
        }
        if shutdown.is_requested() {
            return Err(format!("shard {i}: shutdown before all shards started"));
        }
        glommio::timer::sleep(Duration::from_millis(2)).await;
    }
}

async fn accept_loop(
    listener: &glommio::net::TcpListener,
    stop: &Rc<stop::ShardStop>,
    on_accept: impl Fn(glommio::net::TcpStream),
) {
    loop {
        let accept = async { Some(listener.accept().await) };
        let stop = async {
            stop.stopped().await;
            None
        };
        match futures_lite::future::or(accept, stop).await {
            Some(Ok(stream)) => on_accept(stream),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "accept failed");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
            None => break,
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn shard_main(
    i: usize,
    cfg: ServeConfig,
    info: NodeInfo,
    senders: Vec<Option<glommio::channels::shared_channel::SharedSender<mesh::MeshMsg>>>,
    receivers: Vec<Option<glommio::channels::shared_channel::SharedReceiver<mesh::MeshMsg>>>,
    shutdown: Arc<Shutdown>,
    addrs: ShardAddrs,
    members: Arc<cluster::SharedMembers>,
) -> Result<(), String> {
    let mut opts = Options::new(cfg.data_dir.join(format!("shard-{i}")));
    opts.sync = cfg.sync;
    opts.memtable_bytes_max = cfg.memtable_bytes();
    opts.compaction = cfg.compaction_for(opts.memtable_bytes_max);
    opts.block_cache_bytes = cfg.block_cache_bytes / cfg.shards.max(1);
    opts.wal_zero_ahead_bytes = cfg.wal_zero_ahead_bytes;
    opts.wal_recycle_segments = wal_segments_at_bound(opts.memtable_bytes_max, opts.wal_segment_bytes);
    opts.prefault_memory = cfg.prefault_memory;
    opts.flush_fills_block_cache = cfg.flush_fills_block_cache;
    opts.wal_group_grow = std::time::Duration::from_micros(cfg.wal_group_grow_micros);
    let engine = Engine::open(DmaDisk, opts).await.map_err(|e| format!("shard {i}: {e}"))?;
    let node = cluster::node_id_of(&cfg.node_id);
    let shard = shard_op::Shard::open(engine.clone(), node).await.map_err(|e| format!("shard {i}: {e}"))?;
    let mesh = Mesh::connect(i, senders, receivers, Rc::new(shard)).await;
    let advertise = match &cfg.advertise_host {
        Some(h) => format!("{h}:{}", cfg.listen.port()),
        None if cfg.listen.ip().is_unspecified() => format!("127.0.0.1:{}", cfg.listen.port()),
        None => cfg.listen.to_string(),
    };
    let cluster = cluster::Cluster::new(
        cluster::ClusterConfig {
            node_name: cfg.node_id.clone(),
            advertise,
            seeds: cfg.seeds.clone(),
            replication: cfg.replication,
            vnodes: cfg.vnodes,
            request_timeout_ms: cfg.request_timeout_ms,
            lww: cfg.lww,
        },
        mesh.clone(),
        members,
    );
    // One gossip loop per node is enough: the member table is shared.
    if !cfg.seeds.is_empty() && i == 0 {
        glommio::spawn_local(cluster.clone().gossip_loop(shutdown.clone())).detach();
    }
    let listener = listen(cfg.listen).map_err(|e| format!("bind {}: {e}", cfg.listen))?;
    let (shard_listener, shard_addrs) = bind_shard_listener(i, &cfg, &addrs, &shutdown).await?;
    if i == 0 {
        tracing::info!(
            addr = %cfg.listen,
            shards = cfg.shards,
            data_dir = %cfg.data_dir.display(),
            sync = %cfg.sync,
            memtable_bytes = cfg.memtable_bytes(),
            "ringkv serving"
        );
        println!(
            "ringkv listening on {} (RESP: {}) with {} shards (shard ports: {}), data in {}, sync {}",
            cfg.listen,
            cfg.resp_listen.map_or("off".to_string(), |a| a.to_string()),
            cfg.shards,
            shard_addrs.join(" "),
            cfg.data_dir.display(),
            cfg.sync
        );
    }
    let info = Rc::new(info);
    let handler = Rc::new(handler::Handler::new(mesh.clone(), info.clone(), shard_addrs, cluster.clone()));
    let conns = connection::Connections::default();
    let stop = stop::ShardStop::watch(shutdown.clone());
    let native = |stream| conns.spawn(stream, handler.clone(), stop.clone());
    let resp_listener = match cfg.resp_listen {
        Some(addr) => Some(listen(addr).map_err(|e| format!("bind RESP port {addr}: {e}"))?),
        None => None,
    };
    let resp_ctx = Rc::new(resp_conn::RespCtx {
        mesh: mesh.clone(),
        cluster: cluster.clone(),
        info: info.clone(),
        started: std::time::Instant::now(),
        next_client_id: std::cell::Cell::new(1 + i as i64),
        port: resp_listener.as_ref().and_then(|l| l.local_addr().ok()).map_or(0, |a| a.port()),
    });
    let resp = |stream: glommio::net::TcpStream| {
        let _ = stream.set_nodelay(true);
        conns.track(resp_conn::serve(stream, resp_ctx.clone(), stop.clone()));
    };
    let resp_accept = async {
        if let Some(l) = &resp_listener {
            accept_loop(l, &stop, resp).await;
        }
    };
    futures_lite::future::zip(
        futures_lite::future::zip(accept_loop(&listener, &stop, native), accept_loop(&shard_listener, &stop, native)),
        resp_accept,
    )
    .await;
    drop(resp_listener);
    drop(listener);
    drop(shard_listener);
    conns.drain().await;
    // Wait for every shard to drain: until then another shard may still forward requests here.
    shutdown.drained.fetch_add(1, Ordering::SeqCst);
    while shutdown.drained.load(Ordering::SeqCst) < cfg.shards && !shutdown.failed.load(Ordering::SeqCst) {
        glommio::timer::sleep(Duration::from_millis(5)).await;
    }
    engine.close().await.map_err(|e| format!("shard {i}: closing engine: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::time::Duration;

    #[test]
    fn a_stream_gets_every_byte_sent_in_pieces_then_the_close() {
        // The vendored glommio waits for a stream's data with one multishot
        // poll (vendor/README.md): no byte or wake-up may be lost whether a
        // read drains the socket, fills the buffer, or finds nothing yet.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let sent: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let expect = sent.clone();
        let client = std::thread::spawn(move || {
            let mut s = (0..400)
                .find_map(|_| {
                    std::net::TcpStream::connect(addr).map_err(|_| std::thread::sleep(Duration::from_millis(5))).ok()
                })
                .expect("the test server never listened");
            s.set_nodelay(true).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut reader = s.try_clone().unwrap();
            let echo = std::thread::spawn(move || {
                let mut echoed = Vec::new();
                reader.read_to_end(&mut echoed).unwrap();
                echoed
            });
            // Pieces of 1 byte to 16 KiB, now and then after a pause (the
            // server then waits on an empty socket).
            let (mut at, mut n) = (0, 0usize);
            while at < sent.len() {
                let len = [1, 5, 64, 700, 4096, 16384][n % 6].min(sent.len() - at);
                s.write_all(&sent[at..at + len]).unwrap();
                at += len;
                n += 1;
                if n % 7 == 0 {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            s.shutdown(std::net::Shutdown::Write).unwrap();
            echo.join().unwrap()
        });
        let got = crate::rt::block_on(async move {
            use futures_lite::{AsyncReadExt, AsyncWriteExt};
            let listener = super::listen(addr).unwrap();
            let mut stream = listener.accept().await.unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let (mut got, mut small) = (Vec::new(), true);
            loop {
                // Alternately a buffer reads fill (7 bytes) and one they do not.
                let mut buf = vec![0u8; if small { 7 } else { 65536 }];
                small = !small;
                let n = stream.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                stream.write_all(&buf[..n]).await.unwrap();
            }
            assert_eq!(stream.read(&mut [0u8; 16]).await.unwrap(), 0, "the close is seen again");
            stream.close().await.unwrap();
            // A read with a timeout on a connection that sends nothing ends.
            let _idle = std::net::TcpStream::connect(addr).unwrap();
            let mut idle = listener.accept().await.unwrap();
            idle.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
            let err = idle.read(&mut [0u8; 16]).await.unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
            got
        });
        assert!(got == expect, "the server got {} of {} bytes, or not in order", got.len(), expect.len());
        assert!(client.join().unwrap() == expect, "the echo came back whole");
    }

    #[test]
    fn a_port_another_server_just_closed_connections_on_can_be_listened_on() {
        // Another server (std's listener, like Redis's: SO_REUSEADDR, no
        // SO_REUSEPORT) closes a connection first, so its end of it stays in
        // TIME_WAIT on the port after the listener is gone.
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = other.local_addr().unwrap();
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        let (served, _) = other.accept().unwrap();
        drop(served);
        client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(client.read(&mut [0u8; 1]).unwrap(), 0, "the server's close reached the client");
        drop(client);
        drop(other);
        std::thread::sleep(std::time::Duration::from_millis(20)); // the client's FIN, acknowledged
        crate::rt::block_on(async move {
            // What glommio's bind does (SO_REUSEPORT alone) fails here...
            assert!(glommio::net::TcpListener::bind(addr).is_err(), "no TIME_WAIT socket on {addr}?");
            // ...and a server's bind does not.
            let l = super::listen(addr).unwrap_or_else(|e| panic!("listen on {addr}: {e}"));
            assert_eq!(l.local_addr().unwrap(), addr);
        });
    }
}
