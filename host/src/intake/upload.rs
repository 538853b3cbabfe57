//! A report and its photos read from a request, every part bounded before it is parsed: the
//! `report` (JSON) within [`MAX_REPORT_BYTES`], as on the JSON route; each photo within the
//! attachment limit, read chunk by chunk into a buffer charged to one [`UploadBudget`] shared by
//! every request, so that parallel uploads never hold more than the budget. Over the budget the
//! request is 503 with `Retry-After`; it was never acknowledged, so nothing is lost. The parser's
//! own buffer (a part's headers, what lies between parts) is held to [`MAX_UNREAD`].

use super::{NewReport, Upload};
use crate::api_error::ApiError;
use crate::server::{ApiJson, AppState};
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::multipart::Field;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{StatusCode, header};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::task::{Context, Poll};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A report as JSON, on its own or as the `report` part: the JSON route's body limit.
pub const MAX_REPORT_BYTES: usize = 1 << 20;
/// What the multipart parser may hold that is not yet a part's data.
pub const MAX_UNREAD: usize = 1 << 20;
/// The parser is made to hand on what it holds after this much is read at once.
const READ_AT_ONCE: usize = 64 << 10;
/// Seconds a caller is told to wait when the budget is spent.
const RETRY_AFTER_SECS: u64 = 5;

/// The bytes of uploaded files held in memory at once, across all requests.
#[derive(Debug)]
pub struct UploadBudget {
    permits: Arc<Semaphore>,
}

impl UploadBudget {
    pub fn new(bytes: usize) -> Self {
        Self { permits: Arc::new(Semaphore::new(bytes.min(Semaphore::MAX_PERMITS))) }
    }

    /// The bytes not held by any request now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }

    /// Charges `n` more bytes to `held`: 503 with `Retry-After` when the budget has not that many.
    fn charge(&self, held: &mut Held, n: usize) -> Result<(), ApiError> {
        let busy = || {
            let mut e = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "uploads-busy",
                "too many photos are being received now; nothing was kept, send the report again shortly",
            )
            .field("photos");
            e.retry_after = Some(RETRY_AFTER_SECS);
            e
        };
        let n = u32::try_from(n).map_err(|_| busy())?;
        let permit = self.permits.clone().try_acquire_many_owned(n).map_err(|_| busy())?;
        match &mut held.0 {
            Some(p) => p.merge(permit),
            none => *none = Some(permit),
        }
        Ok(())
    }
}

/// The share of the [`UploadBudget`] a request's files hold, given back when it is dropped.
#[derive(Debug, Default)]
pub struct Held(Option<OwnedSemaphorePermit>);

impl Held {
    pub fn bytes(&self) -> usize {
        self.0.as_ref().map_or(0, |p| p.num_permits())
    }
}

/// A report read from a request, with its files and the budget they hold.
pub struct Read {
    pub report: NewReport,
    pub uploads: Vec<Upload>,
    /// Kept until the report is stored or refused.
    pub held: Held,
}

/// The report and its files, from a multipart or a JSON body.
pub async fn read_report(state: &AppState, req: Request) -> Result<Read, ApiError> {
    let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if ct.starts_with("multipart/form-data") {
        return read_multipart(state, req).await;
    }
    // The route admits bodies big enough for nine photos; a JSON report is held to 1 MiB.
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, MAX_REPORT_BYTES).await {
        Ok(bytes) => {
            let req = Request::from_parts(parts, Body::from(bytes));
            let ApiJson(report) = ApiJson::<NewReport>::from_request(req, state).await?;
            Ok(Read { report, uploads: Vec::new(), held: Held::default() })
        }
        Err(_) => Err(too_large()),
    }
}

fn too_large() -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "input-too-large", "a JSON report is at most 1 MiB")
}

fn bad(m: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid-multipart", m)
}

/// Reads the parts; on a refusal, reads the rest of the body unkept, so that the caller gets the
/// answer rather than a reset connection.
async fn read_multipart(state: &AppState, req: Request) -> Result<Read, ApiError> {
    let counts = Arc::new(Counts::default());
    let req = req.map(|b| Body::new(Metered { inner: b, at_once: 0, counts: counts.clone() }));
    let mut mp = Multipart::from_request(req, state).await.map_err(|e| bad(e.body_text()))?;
    let mut files = Files { state, counts: &counts, report: None, uploads: Vec::new(), held: Held::default() };
    if let Err(e) = files.parts(&mut mp).await {
        drop(files);
        if counts.over.load(Relaxed) {
            return Err(bad(format!("a part's headers, or what lies between parts, are at most {MAX_UNREAD} bytes")));
        }
        while let Ok(Some(mut f)) = mp.next_field().await {
            while let Ok(Some(c)) = f.chunk().await {
                counts.handed.fetch_add(c.len(), Relaxed);
            }
        }
        return Err(e);
    }
    let report = files.report.take().ok_or_else(|| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "required", "a `report` part with the report as JSON")
            .field("report")
    })?;
    Ok(Read { report, uploads: files.uploads, held: files.held })
}

/// What a multipart body has given so far.
struct Files<'a> {
    state: &'a AppState,
    counts: &'a Counts,
    report: Option<NewReport>,
    uploads: Vec<Upload>,
    held: Held,
}

impl Files<'_> {
    async fn parts(&mut self, mp: &mut Multipart) -> Result<(), ApiError> {
        let state = self.state;
        let settings = &state.intake.settings;
        while let Some(mut field) = mp.next_field().await.map_err(|e| self.multipart(e))? {
            let name = field.name().map(str::to_string);
            match name.as_deref() {
                Some("report") if self.report.is_some() => return Err(bad("one `report` part")),
                Some("report") => {
                    let text = self.read(&mut field, MAX_REPORT_BYTES, None).await?.ok_or_else(|| {
                        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "input-too-large", "the report is at most 1 MiB")
                            .field("report")
                    })?;
                    let r: NewReport = serde_json::from_slice(&text).map_err(|e| {
                        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-body", format!("report: {e}"))
                            .field("report")
                    })?;
                    self.report = Some(r);
                }
                Some("photos") => {
                    let i = self.uploads.len();
                    if i >= settings.max_attachments {
                        return Err(ApiError::new(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "too-many",
                            format!("at most {} files", settings.max_attachments),
                        )
                        .field("photos"));
                    }
                    let file_name = field.file_name().unwrap_or("photo").chars().take(256).collect();
                    let media_type =
                        field.content_type().unwrap_or("application/octet-stream").chars().take(128).collect();
                    let budget = &state.intake.uploads;
                    let bytes =
                        self.read(&mut field, settings.max_attachment_bytes, Some(budget)).await?.ok_or_else(|| {
                            ApiError::new(
                                StatusCode::PAYLOAD_TOO_LARGE,
                                "attachment-too-large",
                                format!("each file at most {} bytes", settings.max_attachment_bytes),
                            )
                            .field(format!("photos[{i}]"))
                        })?;
                    self.uploads.push(Upload { file_name, media_type, bytes: Bytes::from(bytes) });
                }
                other => {
                    return Err(bad(format!("unexpected part {:?}: send `report` and `photos`", other.unwrap_or(""))));
                }
            }
        }
        Ok(())
    }

    /// A part's bytes, at most `limit` of them (none when it is longer), the buffer charged to
    /// `budget` before it grows.
    async fn read(
        &mut self,
        field: &mut Field<'_>,
        limit: usize,
        budget: Option<&UploadBudget>,
    ) -> Result<Option<Vec<u8>>, ApiError> {
        let mut buf: Vec<u8> = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|e| self.multipart(e))? {
            self.counts.handed.fetch_add(chunk.len(), Relaxed);
            let len = buf.len() + chunk.len();
            if len > limit {
                return Ok(None);
            }
            if len > buf.capacity() {
                let want = len.max(buf.capacity() * 2).min(limit);
                if let Some(b) = budget {
                    b.charge(&mut self.held, want - buf.capacity())?;
                }
                buf.reserve_exact(want - buf.len());
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(Some(buf))
    }

    fn multipart(&self, e: axum::extract::multipart::MultipartError) -> ApiError {
        if self.counts.over.load(Relaxed) {
            bad(format!("a part's headers, or what lies between parts, are at most {MAX_UNREAD} bytes"))
        } else {
            e.into()
        }
    }
}

/// What the parser has read of the body, and what it has handed on as parts' data.
#[derive(Default)]
struct Counts {
    read: AtomicUsize,
    handed: AtomicUsize,
    over: AtomicBool,
}

/// The request body as the multipart parser reads it. The parser reads all it can at once and
/// keeps it until a part's end is found; this body makes it stop every [`READ_AT_ONCE`] bytes to
/// hand on what it has, and fails once it holds more than [`MAX_UNREAD`] it has not handed on.
struct Metered {
    inner: Body,
    at_once: usize,
    counts: Arc<Counts>,
}

impl HttpBody for Metered {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if this.at_once >= READ_AT_ONCE {
            this.at_once = 0;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                let n = frame.data_ref().map_or(0, Bytes::len);
                this.at_once += n;
                let read = this.counts.read.fetch_add(n, Relaxed) + n;
                if read.saturating_sub(this.counts.handed.load(Relaxed)) > MAX_UNREAD {
                    this.counts.over.store(true, Relaxed);
                    return Poll::Ready(Some(Err(axum::Error::new("the multipart body holds too much between parts"))));
                }
            }
            Poll::Pending => this.at_once = 0,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_shared_and_given_back_when_a_request_is_done() {
        let b = UploadBudget::new(100);
        let (mut one, mut two) = (Held::default(), Held::default());
        b.charge(&mut one, 60).unwrap();
        b.charge(&mut one, 30).unwrap();
        assert_eq!((one.bytes(), b.available()), (90, 10));
        let e = b.charge(&mut two, 20).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code, e.retry_after), (503, "uploads-busy", Some(RETRY_AFTER_SECS)));
        drop(one);
        b.charge(&mut two, 20).unwrap();
        assert_eq!(b.available(), 80);
    }
}
