//! Which HTTP connections live, and for how long.
//!
//! A few Prometheus servers scrape the exporter every 15 s to 1 min, but anyone who can
//! open a socket reaches it. Unbounded, idle or slow sockets pile up until the process
//! runs out of descriptors, and then the scrape that matters cannot get in: `accept`
//! fails with EMFILE for as long as they stay open. So every connection is bounded:
//!
//! - A request's header must be complete within [`HEADER_TIMEOUT`] of the accept or,
//!   on a kept-alive connection, of the request's first byte. hyper's own
//!   `header_read_timeout` starts when hyper begins to wait, so it would also close
//!   every kept-alive connection idle between two scrapes; the timing lives here.
//! - A kept-alive connection may wait [`IDLE_TIMEOUT`] for its next request: longer
//!   than the usual scrape interval, so Prometheus keeps reusing its connection.
//! - A response write that makes no progress for [`WRITE_TIMEOUT`] ends the connection.
//! - At most `max_connections` are open. When full, the connection that has waited
//!   longest for a request (idle, or with its header unfinished) is closed to let the
//!   new one in; one whose request is being answered is never chosen. The cap stays
//!   below the open-file limit, leaving descriptors for database sessions, the
//!   listener and logs, and EMFILE from `accept` is met the same way.
//! - On SIGTERM, idle and half-sent connections close at once; requests being
//!   answered get [`SHUTDOWN_GRACE`] to finish.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::{Instant, Sleep};

use crate::web::Web;

/// From the accept, or from a kept-alive request's first byte, to the header's end.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a kept-alive connection may wait for its next request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a response write may make no progress (a client that stopped reading).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long requests being answered at SIGTERM may take to finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Default of `--web.max-connections`.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 512;

/// Descriptors kept out of the connection cap: stdio, the runtime's epoll and
/// wake-ups, the listener, signal pipes, files read at start.
const RESERVED_FILES: u64 = 64;
/// Per target: its session, plus a reconnect or DNS lookup in flight.
const RESERVED_FILES_PER_TARGET: u64 = 4;
/// Request headers larger than this are answered 431; scrapes send a few hundred bytes.
const MAX_HEADER_SIZE: usize = 32 * 1024;
/// hyper's per-connection buffer limit (its default is ~400 kB): with the cap, it
/// bounds what slow or hostile connections can make the exporter hold.
const MAX_BUF_SIZE: usize = 64 * 1024;
/// A recurring problem (accept failing, the cap reached) is logged at most this often.
const LOG_EVERY: Duration = Duration::from_secs(30);
/// Pause after an accept error that closing a connection could not cure.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Raises the soft open-file limit to the hard one (a service manager or shell often
/// leaves the soft one at 1,024) and returns `(soft, hard)` as now in effect.
pub fn raise_open_file_limit() -> io::Result<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into `limit`, which we own and which outlives the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit only reads `raised`, which outlives the call.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        } else {
            tracing::warn!(
                error = %io::Error::last_os_error(),
                soft = limit.rlim_cur,
                hard = limit.rlim_max,
                "cannot raise the open file limit to the hard limit"
            );
        }
    }
    Ok((limit.rlim_cur, limit.rlim_max))
}

/// The descriptors kept out of the connection cap for `targets` targets.
fn reserved_files(targets: usize) -> u64 {
    let targets = u64::try_from(targets).unwrap_or(u64::MAX);
    RESERVED_FILES.saturating_add(RESERVED_FILES_PER_TARGET.saturating_mul(targets))
}

/// The connection cap: as asked, but leaving descriptors for everything else.
pub fn connection_cap(requested: usize, open_files: u64, targets: usize) -> usize {
    let fits =
        usize::try_from(open_files.saturating_sub(reserved_files(targets))).unwrap_or(usize::MAX);
    requested.min(fits).max(1)
}

/// The open-file budget decided at start: the soft limit, and the connection cap
/// fitted under it. The cap stays as it was (connections already open are not cut),
/// so a reload may bring only as many targets as still fit beside it; more would
/// let the sessions and the HTTP connections together run out of descriptors, and
/// then the scrape that matters cannot get in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileBudget {
    open_files: u64,
    max_connections: usize,
    /// The most targets served: those that fit beside the cap, and never fewer
    /// than at start (a start whose cap fell to its floor still reloads its own
    /// file).
    max_targets: usize,
}

impl FileBudget {
    /// The budget of a start with `targets` targets, `max_connections` the cap in
    /// effect under the soft limit `open_files`.
    pub fn new(open_files: u64, max_connections: usize, targets: usize) -> FileBudget {
        let cap = u64::try_from(max_connections).unwrap_or(u64::MAX);
        let spare = open_files
            .saturating_sub(RESERVED_FILES)
            .saturating_sub(cap)
            / RESERVED_FILES_PER_TARGET;
        let fit = usize::try_from(spare).unwrap_or(usize::MAX);
        FileBudget {
            open_files,
            max_connections,
            max_targets: fit.max(targets),
        }
    }

    /// Whether `targets` targets fit; if not, why, and what to do about it.
    pub fn admit(&self, targets: usize) -> Result<(), String> {
        if targets <= self.max_targets {
            return Ok(());
        }
        Err(format!(
            "{targets} targets do not fit the open file limit: {} HTTP connections \
             (--web.max-connections, as fitted at start), {RESERVED_FILES} descriptors \
             for the exporter and {RESERVED_FILES_PER_TARGET} per target need {} of \
             {} open files, which leaves room for at most {} targets; raise the open \
             file limit (ulimit -n, LimitNOFILE=) and restart, lower \
             --web.max-connections and restart, or shard the targets across exporters",
            self.max_connections,
            u64::try_from(self.max_connections)
                .unwrap_or(u64::MAX)
                .saturating_add(reserved_files(targets)),
            self.open_files,
            self.max_targets,
        ))
    }
}

/// Serves `router` on `listener` until the first of `stops` (a signal's name), then
/// drains: idle connections close at once, requests being answered get
/// [`SHUTDOWN_GRACE`] (cut short by a second signal).
pub async fn run(
    listener: TcpListener,
    router: Router,
    web: Arc<Web>,
    max_connections: usize,
    mut stops: mpsc::UnboundedReceiver<&'static str>,
) {
    let registry = Arc::new(Registry::default());
    let (shutdown, shutdown_seen) = watch::channel(false);
    let mut accept_errors = Throttle::default();
    let mut evictions = Throttle::default();

    let signal = 'accept: loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            signal = next_stop(&mut stops) => break signal,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            // The client gave up before we took its connection: nothing to do.
            Err(e) if peer_gone(&e) => continue,
            Err(e) => {
                if let Some(suppressed) = accept_errors.due() {
                    tracing::warn!(
                        error = %e,
                        open_connections = registry.len(),
                        suppressed,
                        "cannot accept a connection; retrying"
                    );
                }
                if out_of_descriptors(&e) && registry.evict_longest_waiting() {
                    // Let the evicted connection's task run and release its descriptor.
                    tokio::task::yield_now().await;
                    continue;
                }
                tokio::select! {
                    () = tokio::time::sleep(ACCEPT_RETRY) => continue,
                    signal = next_stop(&mut stops) => break signal,
                }
            }
        };
        while registry.len() >= max_connections {
            if registry.evict_longest_waiting() {
                if let Some(suppressed) = evictions.due() {
                    tracing::warn!(
                        max_connections,
                        suppressed,
                        "connection limit reached: closed the connection that waited longest for a request"
                    );
                }
                break;
            }
            // Every connection is being answered: wait for one to finish.
            tokio::select! {
                () = registry.wait_until(|r| r.len() < max_connections || r.has_waiting()) => {}
                signal = next_stop(&mut stops) => break 'accept signal,
            }
        }
        // Responses go out in one write; Nagle would only delay them.
        let _ = stream.set_nodelay(true);
        let conn = registry.register();
        tokio::spawn(serve_connection(
            stream,
            conn,
            Arc::clone(&registry),
            router.clone(),
            Arc::clone(&web),
            shutdown_seen.clone(),
        ));
    };

    drop(listener);
    let _ = shutdown.send(true);
    tracing::info!(
        signal,
        open_connections = registry.len(),
        grace = ?SHUTDOWN_GRACE,
        "shutting down: no new connections, closing idle ones, letting requests finish"
    );
    tokio::select! {
        () = registry.wait_until(|r| r.len() == 0) => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => tracing::warn!(
            cut = registry.len(),
            "requests still unanswered after the shutdown grace; closing them"
        ),
        signal = next_stop(&mut stops) => tracing::warn!(
            signal,
            cut = registry.len(),
            "second signal; closing every connection now"
        ),
    }
}

async fn next_stop(stops: &mut mpsc::UnboundedReceiver<&'static str>) -> &'static str {
    match stops.recv().await {
        Some(signal) => signal,
        // Nobody can send a stop any more: keep serving.
        None => std::future::pending().await,
    }
}

fn peer_gone(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

fn out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// Says when a recurring event is due to be logged again, and how many were not.
#[derive(Default)]
struct Throttle {
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    fn due(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self.last.is_some_and(|t| now < t + LOG_EVERY) {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// The open connections, for the cap, eviction and the drain at shutdown.
#[derive(Default)]
struct Registry {
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    /// Fired when a connection closes or finishes answering.
    changed: Arc<Notify>,
    next_id: AtomicU64,
    /// Rejected client certificates, logged at most every [`LOG_EVERY`].
    rejected_certificates: Mutex<Throttle>,
}

impl Registry {
    fn conns(&self) -> MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn len(&self) -> usize {
        self.conns().len()
    }

    fn has_waiting(&self) -> bool {
        self.conns().values().any(|c| c.waiting_since().is_some())
    }

    fn register(&self) -> Arc<Conn> {
        let conn = Arc::new(Conn {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            phase: Mutex::new(Phase::Header(Instant::now())),
            close: Notify::new(),
            changed: Arc::clone(&self.changed),
        });
        self.conns().insert(conn.id, Arc::clone(&conn));
        conn
    }

    fn remove(&self, id: u64) {
        if self.conns().remove(&id).is_some() {
            self.changed.notify_waiters();
        }
    }

    /// Closes the connection that has waited longest for a request; false if every
    /// connection is being answered. It leaves the registry now, its socket as soon
    /// as its task runs.
    fn evict_longest_waiting(&self) -> bool {
        let mut conns = self.conns();
        let longest = conns
            .values()
            .filter_map(|c| c.waiting_since().map(|since| (since, c.id)))
            .min();
        let Some((_, id)) = longest else {
            return false;
        };
        if let Some(conn) = conns.remove(&id) {
            conn.close.notify_one();
        }
        drop(conns);
        self.changed.notify_waiters();
        true
    }

    async fn wait_until(&self, ready: impl Fn(&Registry) -> bool) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if ready(self) {
                return;
            }
            changed.await;
        }
    }
}

/// Removes a connection from the registry when its task ends, however it ends.
struct Registered {
    registry: Arc<Registry>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.remove(self.id);
    }
}

/// One connection's place in the request cycle, set by its socket (bytes read, all
/// written) and its service (request in, response body done).
#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Waiting for a header to finish, since the accept or the request's first byte.
    Header(Instant),
    /// Kept alive, waiting for the next request since the last response went out.
    Idle(Instant),
    /// A request is being answered.
    Busy,
    /// The response body is done; hyper may still be writing it out.
    Flushing,
}

struct Conn {
    id: u64,
    phase: Mutex<Phase>,
    /// Eviction: the connection's task drops it at once.
    close: Notify,
    changed: Arc<Notify>,
}

impl Conn {
    fn phase(&self) -> MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Since when the connection has waited for a request; `None` while answering.
    fn waiting_since(&self) -> Option<Instant> {
        match *self.phase() {
            Phase::Header(since) | Phase::Idle(since) => Some(since),
            Phase::Busy | Phase::Flushing => None,
        }
    }

    /// When a read still pending now must give up, and why; `None` while answering.
    fn read_deadline(&self) -> Option<(Instant, &'static str)> {
        match *self.phase() {
            Phase::Header(since) => Some((
                since + HEADER_TIMEOUT,
                "request header not complete within the header timeout",
            )),
            Phase::Idle(since) => Some((since + IDLE_TIMEOUT, "idle keep-alive timeout")),
            Phase::Busy | Phase::Flushing => None,
        }
    }

    fn bytes_read(&self) {
        let mut phase = self.phase();
        if let Phase::Idle(_) = *phase {
            *phase = Phase::Header(Instant::now());
        }
    }

    fn request_started(&self) {
        *self.phase() = Phase::Busy;
    }

    fn response_done(&self) {
        let mut phase = self.phase();
        if let Phase::Busy = *phase {
            *phase = Phase::Flushing;
        }
    }

    fn flushed(&self) {
        let mut phase = self.phase();
        if let Phase::Flushing = *phase {
            *phase = Phase::Idle(Instant::now());
            drop(phase);
            self.changed.notify_waiters();
        }
    }
}

async fn serve_connection(
    stream: TcpStream,
    conn: Arc<Conn>,
    registry: Arc<Registry>,
    router: Router,
    web: Arc<Web>,
    mut shutdown: watch::Receiver<bool>,
) {
    let registered = Registered {
        registry,
        id: conn.id,
    };
    // Until its first byte, a connection costs a task and a descriptor, not hyper's
    // buffers: thousands of silent sockets stay cheap.
    let first_byte_by = Instant::now() + HEADER_TIMEOUT;
    tokio::select! {
        readable = stream.readable() => if readable.is_err() { return },
        () = tokio::time::sleep_until(first_byte_by) => {
            tracing::debug!("closed a connection that sent no request within the header timeout");
            return;
        }
        () = conn.close.notified() => return,
        _ = shutdown.wait_for(|stop| *stop) => return,
    }

    let tls = web.tls_config();
    if tls.is_some() && sent_plain_http(&stream, first_byte_by).await {
        answer_plain_http(stream).await;
        return;
    }
    let timed = Timed {
        stream,
        conn: Arc::clone(&conn),
        read_timer: None,
        write_timer: None,
    };
    let Some(tls) = tls else {
        serve_http(timed, conn, router, shutdown).await;
        return;
    };
    // The handshake counts against the header timeout, from the accept: a client
    // that trickles its handshake is closed as one that trickles its header.
    let handshake = tokio_rustls::TlsAcceptor::from(tls).accept(timed);
    let stream = tokio::select! {
        done = tokio::time::timeout_at(first_byte_by, handshake) => match done {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                log_failed_handshake(&e, &registered.registry);
                return;
            }
            Err(_) => {
                tracing::debug!("closed a connection whose TLS handshake did not finish within the header timeout");
                return;
            }
        },
        () = conn.close.notified() => return,
        _ = shutdown.wait_for(|stop| *stop) => return,
    };
    serve_http(stream, conn, router, shutdown).await;
}

/// A client certificate refused (unverifiable, expired, X.509 v1, missing where
/// required) is logged as a warning with rustls' reason, at most every
/// [`LOG_EVERY`]: it is a Prometheus that cannot scrape, and nothing else would say
/// why. Other failed handshakes (scanners, clients that gave up) stay at debug.
fn log_failed_handshake(e: &io::Error, registry: &Registry) {
    let certificate = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|e| {
            matches!(
                e,
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
            )
        });
    if !certificate {
        tracing::debug!(error = %e, "TLS handshake failed");
        return;
    }
    let due = registry
        .rejected_certificates
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .due();
    match due {
        Some(suppressed) => tracing::warn!(
            error = %e,
            suppressed,
            "TLS handshake failed: client certificate refused"
        ),
        None => tracing::debug!(error = %e, "TLS handshake failed: client certificate refused"),
    }
}

/// Whether a client sent plain HTTP to the TLS listener: a TLS connection starts
/// with a handshake record (0x16), a request with its method's capital letters.
/// The first byte has arrived (the socket was readable); peeking consumes nothing.
async fn sent_plain_http(stream: &TcpStream, by: Instant) -> bool {
    let mut first = [0u8; 1];
    matches!(
        tokio::time::timeout_at(by, stream.peek(&mut first)).await,
        Ok(Ok(1))
    ) && first[0].is_ascii_uppercase()
}

/// Answers as Go's TLS servers do ("Client sent an HTTP request to an HTTPS
/// server.", 400) and closes, reading what the client sent first so the close does
/// not reset the connection before the answer is read.
async fn answer_plain_http(mut stream: TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut sink = [0u8; 4096];
    let _ = stream.try_read(&mut sink);
    let answer = async {
        stream
            .write_all(
                b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n",
            )
            .await?;
        stream.shutdown().await?;
        // Until the client closes (or the bound below): its unread bytes would
        // otherwise turn the close into a reset.
        while stream.read(&mut sink).await? > 0 {}
        Ok::<(), io::Error>(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), answer).await;
    tracing::debug!("answered plain HTTP sent to the TLS listener");
}

/// Serves HTTP/1.1 on `io` (the timed socket, or TLS over it) until it ends, the
/// connection is evicted, or the exporter shuts down.
async fn serve_http<S>(io: S, conn: Arc<Conn>, router: Router, mut shutdown: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    let mut builder = http1::Builder::new();
    builder
        .keep_alive(true)
        .header_read_timeout(None)
        .max_header_size(MAX_HEADER_SIZE)
        .max_buf_size(MAX_BUF_SIZE);
    let connection = builder.serve_connection(io, Tracked::new(router, Arc::clone(&conn)));
    tokio::pin!(connection);
    let mut stopping = false;
    loop {
        tokio::select! {
            ended = connection.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!(error = %e, "HTTP connection ended");
                }
                return;
            }
            () = conn.close.notified() => return,
            _ = shutdown.wait_for(|stop| *stop), if !stopping => {
                stopping = true;
                if conn.waiting_since().is_some() {
                    return;
                }
                // Finish this answer, then close.
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// The router as a hyper service that tells the connection when a request starts
/// and when its response body is done.
struct Tracked {
    router: TowerToHyperService<Router>,
    conn: Arc<Conn>,
}

impl Tracked {
    fn new(router: Router, conn: Arc<Conn>) -> Tracked {
        Tracked {
            router: TowerToHyperService::new(router),
            conn,
        }
    }
}

impl Service<hyper::Request<Incoming>> for Tracked {
    type Response = hyper::Response<Answer>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        self.conn.request_started();
        let done = AnswerDone(Arc::clone(&self.conn));
        let response = self.router.call(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| Answer { body, _done: done }))
        })
    }
}

/// A response body that marks the end of the answer when hyper drops it (after its
/// last frame, or when the connection fails).
struct Answer {
    body: axum::body::Body,
    _done: AnswerDone,
}

struct AnswerDone(Arc<Conn>);

impl Drop for AnswerDone {
    fn drop(&mut self) {
        self.0.response_done();
    }
}

impl Body for Answer {
    type Data = <axum::body::Body as Body>::Data;
    type Error = <axum::body::Body as Body>::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The socket, with the connection's read deadlines and a write-stall timeout: a
/// read pending past its deadline, or a write stuck for [`WRITE_TIMEOUT`], fails
/// with `TimedOut` and hyper closes the connection.
struct Timed<S> {
    stream: S,
    conn: Arc<Conn>,
    read_timer: Option<Pin<Box<Sleep>>>,
    write_timer: Option<Pin<Box<Sleep>>>,
}

fn expired(timer: &mut Option<Pin<Box<Sleep>>>, deadline: Instant, cx: &mut Context<'_>) -> bool {
    let sleep = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
    if sleep.deadline() != deadline {
        sleep.as_mut().reset(deadline);
    }
    sleep.as_mut().poll(cx).is_ready()
}

impl<S> Timed<S> {
    fn write_pending<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let deadline = match &self.write_timer {
            Some(sleep) => sleep.deadline(),
            None => Instant::now() + WRITE_TIMEOUT,
        };
        if expired(&mut self.write_timer, deadline, cx) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading the response",
            )));
        }
        Poll::Pending
    }

    fn wrote<T>(
        &mut self,
        result: Poll<io::Result<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<T>> {
        match result {
            Poll::Pending => self.write_pending(cx),
            done => {
                self.write_timer = None;
                done
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Timed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.conn.bytes_read();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => match this.conn.read_deadline() {
                Some((deadline, why)) if expired(&mut this.read_timer, deadline, cx) => {
                    Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, why)))
                }
                _ => Poll::Pending,
            },
            failed => failed,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Timed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_write(cx, data);
        this.wrote(result, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.wrote(result, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_flush(cx);
        if let Poll::Ready(Ok(())) = result {
            // hyper flushes the socket only once its own buffer is written out.
            this.conn.flushed();
        }
        result
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_descriptors_for_everything_else() {
        assert_eq!(connection_cap(512, 1024, 1), 512);
        assert_eq!(connection_cap(512, 256, 1), 256 - 64 - 4);
        assert_eq!(connection_cap(512, 10, 1), 1);
        assert_eq!(connection_cap(100_000, u64::MAX, 3), 100_000);
    }

    #[test]
    fn a_reload_may_bring_only_the_targets_that_fit_beside_the_cap() {
        // 400 files, a cap of 100: 64 + 100 leave 236, room for 59 targets.
        let b = FileBudget::new(400, connection_cap(100, 400, 1), 1);
        assert_eq!(b.admit(59), Ok(()));
        let e = b.admit(60).unwrap_err();
        assert!(
            e.starts_with("60 targets do not fit the open file limit: 100 HTTP connections"),
            "{e}"
        );
        assert!(e.contains("need 404 of 400 open files"), "{e}");
        assert!(e.contains("at most 59 targets"), "{e}");
        // A cap lowered to fit at start leaves no room for more targets, but the
        // same number still reloads, even when the cap fell to its floor.
        let lowered = FileBudget::new(300, connection_cap(512, 300, 2), 2);
        assert_eq!(
            (lowered.admit(2), lowered.admit(3).is_err()),
            (Ok(()), true)
        );
        let floor = FileBudget::new(10, connection_cap(512, 10, 3), 3);
        assert_eq!((floor.admit(3), floor.admit(4).is_err()), (Ok(()), true));
        let unbounded = FileBudget::new(u64::MAX, 512, 1);
        assert_eq!(unbounded.admit(1_000_000), Ok(()));
    }

    #[tokio::test(start_paused = true)]
    async fn throttled_events_are_counted_between_logs() {
        let mut t = Throttle::default();
        assert_eq!(t.due(), Some(0));
        assert_eq!(t.due(), None);
        assert_eq!(t.due(), None);
        tokio::time::advance(LOG_EVERY).await;
        assert_eq!(t.due(), Some(2));
    }

    #[tokio::test(start_paused = true)]
    async fn the_longest_waiting_connection_is_evicted_never_a_busy_one() {
        let r = Registry::default();
        let busy = r.register();
        busy.request_started();
        tokio::time::advance(Duration::from_secs(1)).await;
        let old = r.register();
        tokio::time::advance(Duration::from_secs(1)).await;
        let young = r.register();
        assert!(r.evict_longest_waiting());
        assert!(!r.conns().contains_key(&old.id));
        assert!(r.evict_longest_waiting());
        assert!(!r.conns().contains_key(&young.id));
        assert!(!r.evict_longest_waiting(), "the busy one stays");
        busy.response_done();
        assert!(!r.evict_longest_waiting(), "still flushing");
        busy.flushed();
        assert!(r.evict_longest_waiting());
        assert_eq!(r.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_kept_alive_connection_gets_the_header_timeout_from_its_first_byte() {
        let r = Registry::default();
        let c = r.register();
        let accepted = Instant::now();
        assert_eq!(
            c.read_deadline().map(|d| d.0),
            Some(accepted + HEADER_TIMEOUT)
        );
        c.request_started();
        assert_eq!(c.read_deadline(), None);
        c.response_done();
        c.flushed();
        let idle = Instant::now();
        assert_eq!(c.read_deadline().map(|d| d.0), Some(idle + IDLE_TIMEOUT));
        tokio::time::advance(Duration::from_secs(60)).await;
        c.bytes_read();
        assert_eq!(
            c.read_deadline().map(|d| d.0),
            Some(Instant::now() + HEADER_TIMEOUT)
        );
    }

    fn timed_pair(conn: &Arc<Conn>) -> (Timed<tokio::io::DuplexStream>, tokio::io::DuplexStream) {
        let (ours, theirs) = tokio::io::duplex(1024);
        let timed = Timed {
            stream: ours,
            conn: Arc::clone(conn),
            read_timer: None,
            write_timer: None,
        };
        (timed, theirs)
    }

    #[tokio::test(start_paused = true)]
    async fn a_header_that_does_not_arrive_in_time_fails_the_read() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let r = Registry::default();
        let c = r.register();
        let (mut timed, mut client) = timed_pair(&c);
        client.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        let started = Instant::now();
        let mut buf = [0u8; 64];
        assert!(timed.read(&mut buf).await.unwrap() > 0);
        let e = timed.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), HEADER_TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_stops_reading_fails_the_write() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let r = Registry::default();
        let c = r.register();
        c.request_started();
        let (mut timed, _client) = timed_pair(&c);
        let started = Instant::now();
        let e = timed.write_all(&[b'x'; 4096]).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), WRITE_TIMEOUT);

        // A slow reader is not a stalled one: each bit of progress restarts the clock.
        let (mut timed, mut client) = timed_pair(&c);
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 512];
            let mut total = 0;
            while total < 4096 {
                tokio::time::sleep(WRITE_TIMEOUT / 2).await;
                total += client.read(&mut buf).await.unwrap();
            }
        });
        let started = Instant::now();
        timed.write_all(&[b'x'; 4096]).await.unwrap();
        assert!(started.elapsed() > WRITE_TIMEOUT * 2);
        reader.await.unwrap();
    }
}
