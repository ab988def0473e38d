//! A TCP proxy between the exporter and a database, for the network's bad days: it
//! adds latency to every byte, or freezes (keeps every socket open and forwards
//! nothing, as a path that went silent without a reset), and counts the client
//! connections it holds, so a test can check that the exporter never opens two.
//!
//! It runs on a thread of its own with its own runtime, so that a busy test runtime
//! cannot delay it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

#[derive(Default)]
struct State {
    latency_ms: AtomicU64,
    frozen: AtomicBool,
    open: AtomicUsize,
    peak: AtomicUsize,
    accepted: AtomicUsize,
    stop: AtomicBool,
}

pub struct Proxy {
    port: u16,
    state: Arc<State>,
}

impl Proxy {
    /// Starts a proxy on a free local port forwarding to `127.0.0.1:upstream`.
    pub fn start(upstream: u16) -> Proxy {
        let state = Arc::new(State::default());
        let (tx, rx) = std::sync::mpsc::channel();
        let st = Arc::clone(&state);
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("proxy runtime");
            rt.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
                tx.send(listener.local_addr().expect("proxy address").port())
                    .expect("report the port");
                let upstream: SocketAddr = ([127, 0, 0, 1], upstream).into();
                loop {
                    let accepted =
                        tokio::time::timeout(Duration::from_millis(100), listener.accept()).await;
                    if st.stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(Ok((client, _))) = accepted else {
                        continue;
                    };
                    st.accepted.fetch_add(1, Ordering::SeqCst);
                    let n = st.open.fetch_add(1, Ordering::SeqCst) + 1;
                    st.peak.fetch_max(n, Ordering::SeqCst);
                    let st = Arc::clone(&st);
                    tokio::spawn(async move {
                        if let Ok(server) = TcpStream::connect(upstream).await {
                            relay(client, server, &st).await;
                        }
                        st.open.fetch_sub(1, Ordering::SeqCst);
                    });
                }
            });
        });
        let port = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the proxy did not start");
        Proxy { port, state }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Delays every chunk by this much, in each direction.
    pub fn set_latency(&self, latency: Duration) {
        self.state
            .latency_ms
            .store(latency.as_millis() as u64, Ordering::SeqCst);
    }

    /// Stops forwarding (sockets stay open) or resumes.
    pub fn set_frozen(&self, frozen: bool) {
        self.state.frozen.store(frozen, Ordering::SeqCst);
    }

    /// Client connections open now (until the client closes its side).
    pub fn open(&self) -> usize {
        self.state.open.load(Ordering::SeqCst)
    }

    /// The most client connections open at once so far.
    pub fn peak(&self) -> usize {
        self.state.peak.load(Ordering::SeqCst)
    }

    /// Client connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.state.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
    }
}

/// Relays both directions until the client closes its side (or the server does,
/// while not frozen). A frozen proxy still notices a client that closes, so that
/// `open` counts what the exporter holds.
async fn relay(client: TcpStream, server: TcpStream, st: &Arc<State>) {
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = pump(client_read, server_write, Arc::clone(st));
    let down = pump(server_read, client_write, Arc::clone(st));
    // The connection counts as open until the client side has closed.
    let mut up = tokio::spawn(up);
    let down = tokio::spawn(down);
    let _ = (&mut up).await;
    down.abort();
}

/// Copies one direction through a queue that releases each chunk after the
/// latency, and holds everything while frozen. Ends when the reading side closes.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    st: Arc<State>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer_state = Arc::clone(&st);
    let writer = tokio::spawn(async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            while writer_state.frozen.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let latency = Duration::from_millis(st.latency_ms.load(Ordering::SeqCst));
                if tx
                    .send((Instant::now() + latency, buf[..n].to_vec()))
                    .is_err()
                {
                    break;
                }
            }
        }
    }
    drop(tx);
    if st.frozen.load(Ordering::SeqCst) {
        // A frozen path delivers nothing more.
        writer.abort();
    } else {
        let _ = writer.await;
    }
}
