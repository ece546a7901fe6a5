//! Threaded S2 decoding: one thread reads frames, two decode them, and the chunks
//! come back in order through [`ThreadedSource`]. `format` owns no threads, so this
//! lives here and plugs into `format::s2::DecodedStream` as a `ChunkSource`.

use crate::format::s2::{
    decode_chunk, ChunkEvent, ChunkLog, ChunkSource, DecodedChunk, DecodedStream, Frame,
    FrameReader, RawChunk, S2Problem, CHUNK_HEADROOM, MAX_S2_BLOCK,
};
use std::io::Read;

/// A decoded stream whose chunks are read and decoded on background threads.
pub fn threaded_stream<R: Read + Send + 'static>(inner: R) -> DecodedStream<ThreadedSource> {
    DecodedStream::with_source(ThreadedSource::spawn(inner))
}

/// A frame or a decoded chunk, numbered so the consumer can put them back in order.
enum Piece {
    Data {
        file_offset: u64,
        body_len: usize,
        decoded: DecodedChunk,
        bytes: Vec<u8>,
    },
    Problem {
        problem: S2Problem,
        lost: bool,
    },
    End(Option<S2Problem>),
}

/// Leaves exactly [`CHUNK_HEADROOM`] bytes in `bytes`. A reused buffer keeps its old
/// bytes there: the stream overwrites the part it reads before reading it, and
/// zeroing 64 KiB for every chunk made a file of tiny chunks cost 64 KiB a chunk.
fn prepare_headroom(bytes: &mut Vec<u8>) {
    if bytes.len() >= CHUNK_HEADROOM {
        bytes.truncate(CHUNK_HEADROOM);
    } else {
        bytes.clear();
        crate::format::s2::zero_extend(bytes, CHUNK_HEADROOM);
    }
}

/// Reads frames on one thread and decodes them on two more; hands chunks back in order.
pub struct ThreadedSource {
    /// Spent chunk buffers, reused by the decoders (saves page faults and zeroing).
    pool: std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
    results: std::sync::mpsc::Receiver<(u64, Piece)>,
    tokens: std::sync::mpsc::SyncSender<()>,
    waiting: std::collections::BTreeMap<u64, Piece>,
    next_piece: u64,
    file_pos: std::sync::Arc<std::sync::atomic::AtomicU64>,
    finished: bool,
}

/// Chunks decoded ahead of the parser at most (bounds memory to a few blocks).
const CHUNKS_IN_FLIGHT: usize = 6;
const DECODER_THREADS: usize = 2;

impl ThreadedSource {
    pub fn spawn<R: Read + Send + 'static>(inner: R) -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        use std::sync::mpsc::{channel, sync_channel};
        use std::sync::{Arc, Mutex};
        let (result_tx, results) = channel::<(u64, Piece)>();
        let (token_tx, token_rx) = sync_channel::<()>(CHUNKS_IN_FLIGHT);
        for _ in 0..CHUNKS_IN_FLIGHT {
            // The channel has room for exactly CHUNKS_IN_FLIGHT tokens: this cannot fail.
            let _ = token_tx.try_send(());
        }
        let (job_tx, job_rx) = channel::<(u64, RawChunk)>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let file_pos = Arc::new(AtomicU64::new(0));
        let pool: Arc<Mutex<Vec<Vec<u8>>>> = Arc::new(Mutex::new(Vec::new()));
        for _ in 0..DECODER_THREADS {
            let job_rx = Arc::clone(&job_rx);
            let result_tx = result_tx.clone();
            let pool = Arc::clone(&pool);
            std::thread::spawn(move || loop {
                let job = match job_rx.lock() {
                    Ok(receiver) => receiver.recv(),
                    Err(_) => return,
                };
                let Ok((number, raw)) = job else { return };
                let reused = pool.lock().ok().and_then(|mut spare| spare.pop());
                let mut bytes = reused.unwrap_or_else(|| {
                    Vec::with_capacity(CHUNK_HEADROOM + raw.max_block.min(MAX_S2_BLOCK))
                });
                prepare_headroom(&mut bytes);
                let decoded = decode_chunk(&raw, &mut bytes);
                let piece = Piece::Data {
                    file_offset: raw.file_offset,
                    body_len: raw.body.len(),
                    decoded,
                    bytes,
                };
                if result_tx.send((number, piece)).is_err() {
                    return;
                }
            });
        }
        let reader_pos = Arc::clone(&file_pos);
        std::thread::spawn(move || {
            let mut frames = FrameReader::new(inner);
            let mut number = 0u64;
            loop {
                // Wait for room: the consumer returns a token per chunk it takes.
                if token_rx.recv().is_err() {
                    return;
                }
                let frame = frames.next_frame(Vec::new());
                reader_pos.store(frames.file_pos(), Ordering::Relaxed);
                let sent = match frame {
                    Frame::Data(raw) => job_tx.send((number, raw)).is_ok(),
                    Frame::Problem { problem, lost } => result_tx
                        .send((number, Piece::Problem { problem, lost }))
                        .is_ok(),
                    Frame::End(problem) => {
                        // The reader thread ends here either way; a failed send means the consumer is gone.
                        let _ = result_tx.send((number, Piece::End(problem)));
                        return;
                    }
                };
                if !sent {
                    return;
                }
                number += 1;
            }
        });
        Self {
            pool,
            results,
            tokens: token_tx,
            waiting: std::collections::BTreeMap::new(),
            next_piece: 0,
            file_pos,
            finished: false,
        }
    }

    fn take_next(&mut self) -> Option<Piece> {
        loop {
            if let Some(piece) = self.waiting.remove(&self.next_piece) {
                self.next_piece += 1;
                // Full means the reader already has every token it may hold; disconnected means it ended.
                let _ = self.tokens.try_send(());
                return Some(piece);
            }
            match self.results.recv() {
                Ok((number, piece)) => {
                    self.waiting.insert(number, piece);
                }
                Err(_) => return None,
            }
        }
    }
}

impl ChunkSource for ThreadedSource {
    fn next_chunk(&mut self, log: &mut ChunkLog, out: &mut Vec<u8>) -> ChunkEvent {
        loop {
            if self.finished {
                return ChunkEvent::End;
            }
            let Some(piece) = self.take_next() else {
                self.finished = true;
                return log.record_end(Some(S2Problem::Io {
                    file_offset: self.file_pos(),
                    message: "the decoder thread stopped".into(),
                }));
            };
            match piece {
                Piece::Data {
                    file_offset,
                    body_len,
                    decoded,
                    bytes,
                } => {
                    out.extend_from_slice(bytes.get(CHUNK_HEADROOM..).unwrap_or_default());
                    return log.record_data(file_offset, body_len, &decoded);
                }
                Piece::Problem { problem, lost } => {
                    if let Some(event) = log.record_frame_problem(problem, lost) {
                        return event;
                    }
                }
                Piece::End(problem) => {
                    self.finished = true;
                    return log.record_end(problem);
                }
            }
        }
    }

    fn next_chunk_owned(&mut self, log: &mut ChunkLog) -> (ChunkEvent, Vec<u8>) {
        loop {
            if self.finished {
                return (ChunkEvent::End, Vec::new());
            }
            let Some(piece) = self.take_next() else {
                self.finished = true;
                let event = log.record_end(Some(S2Problem::Io {
                    file_offset: self.file_pos(),
                    message: "the decoder thread stopped".into(),
                }));
                return (event, Vec::new());
            };
            match piece {
                Piece::Data {
                    file_offset,
                    body_len,
                    decoded,
                    bytes,
                } => return (log.record_data(file_offset, body_len, &decoded), bytes),
                Piece::Problem { problem, lost } => {
                    if let Some(event) = log.record_frame_problem(problem, lost) {
                        return (event, Vec::new());
                    }
                }
                Piece::End(problem) => {
                    self.finished = true;
                    return (log.record_end(problem), Vec::new());
                }
            }
        }
    }

    fn recycle(&mut self, buffer: Vec<u8>) {
        if let Ok(mut spare) = self.pool.lock() {
            // A few buffers are enough to cover the chunks in flight.
            // An empty buffer (the end, a framing problem) is not worth keeping.
            if spare.len() < CHUNKS_IN_FLIGHT + DECODER_THREADS
                && buffer.capacity() >= CHUNK_HEADROOM
            {
                spare.push(buffer);
            }
        }
    }

    fn file_pos(&self) -> u64 {
        self.file_pos.load(std::sync::atomic::Ordering::Relaxed)
    }
}
