//! Every limit the server enforces, in one place. docs/LIMITS.md lists them with their
//! reasons; the ones an operator may need to change have command-line flags (cli.rs).

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Limits {
    /// Bytes of an HTTP request head (request line and headers). Browsers send < 2 KiB.
    pub max_head_bytes: usize,
    /// Headers in one request head.
    pub max_headers: usize,
    /// Time a connection has to send a complete request head, from its accept or from
    /// the previous response (slowloris).
    pub head_timeout: Duration,
    /// Time to complete a TLS handshake.
    pub handshake_timeout: Duration,
    /// Payload bytes of one WebSocket message (and of one frame). The largest legitimate
    /// frame is a version-2 message with a text of `max_text_bytes`: base64 makes it
    /// about 88 KiB, so 128 KiB leaves room for the JSON escapes of its text (up to ~45%
    /// more). A join with an 8192-bit key is under 2 KiB.
    pub max_message_bytes: usize,
    /// UTF-8 bytes of the text of one version-2 envelope (`max-text` in the v2 `config`).
    pub max_text_bytes: usize,
    /// Key IDs one `chat-getkeys` may ask for; the rest of that frame is ignored.
    pub max_keyids_per_request: usize,
    /// 0.9 group keys before the current one still taken on input (0.9 clients have no
    /// epochs: a frame made before their new `config` arrived is relayed re-encrypted).
    pub legacy_keys_kept: usize,
    /// Silence on a WebSocket before the server sends a ping.
    pub ping_after: Duration,
    /// Further silence after that ping before the connection is declared dead.
    pub pong_timeout: Duration,
    /// Time from the WebSocket upgrade to the join frame.
    pub join_timeout: Duration,
    /// Time a closing connection gets to take its last bytes.
    pub close_timeout: Duration,
    /// Open connections of all kinds.
    pub max_connections: usize,
    /// Open connections from one remote address (connections from this machine itself,
    /// e.g. through the SSH tunnel, are exempt).
    pub max_connections_per_address: usize,
    /// New connections one remote address may open per second, sustained, and in a
    /// burst (this machine itself: ten times more).
    pub connections_per_second_per_address: f64,
    pub connection_burst_per_address: f64,
    /// With the SSH tunnel on, the connections that come through it (they all come from
    /// this machine): how many may be open at once, and how many new ones per second,
    /// sustained and in a burst. Default: a quarter of `max_connections`.
    pub tunnel_max_connections: usize,
    pub tunnel_connections_per_second: f64,
    pub tunnel_connection_burst: f64,
    /// Messages a key may send per second, sustained, and in a burst; past it the
    /// connection is not read until the budget refills (nothing is dropped).
    pub messages_per_second: f64,
    pub message_burst: f64,
    /// Joins one key may make per second, sustained, and in a burst: reconnecting
    /// does not refill a key's budgets, and cannot be used to flood joins.
    pub rejoins_per_second: f64,
    pub rejoin_burst: f64,
    /// Keys whose budgets are remembered after they leave, and for how long.
    pub remembered_keys: usize,
    pub remember_for: Duration,
    /// Welcome signatures (one per part of the welcome; a private-key operation, about
    /// 13 ms each for RSA-4096 here, far more on a Pi) per second, server-wide, and in a
    /// burst. Welcomes beyond it wait their turn.
    pub welcome_signatures_per_second: f64,
    pub welcome_signature_burst: f64,
    /// Private-key jobs (decryptions for the console, trials of 0.9 frames, signatures)
    /// handed to the worker threads and not done yet. Client-caused work beyond it is not
    /// taken: a message to the administrator is refused, a 0.9 frame is relayed untried,
    /// a welcome waits. The administrator's own console messages are always taken.
    pub max_private_jobs: usize,
    /// Messages from one connection waiting to be decrypted for the administrator.
    pub max_waiting_for_admin_per_sender: usize,
    /// Bytes queued for one reader beyond the frame it is being sent; past it the reader
    /// is disconnected (never the sender, never everybody). Holds eight frames of the
    /// largest size: a few long messages arriving in one turn do not cut a reader.
    pub max_queued_bytes: usize,
    /// Bytes of one console line.
    pub max_console_line: usize,
    /// How long a key that `/kick` disconnected is refused (`/ban`: for the whole run).
    pub kick_for: Duration,
    /// Bytes of one file (`--max-file-size`). The server never holds a file whole; this
    /// caps how long one transfer may occupy its recipients.
    pub max_file_bytes: u64,
    /// Raw bytes of one file chunk: its frame (base64, AES-GCM tag, JSON) stays under
    /// `max_message_bytes`.
    pub max_file_chunk_bytes: u64,
    /// Chunks a sender may be ahead of the slowest recipient still in a transfer. The
    /// window times a chunk frame stays well under `max_queued_bytes`.
    pub file_window: u32,
    /// Silence from a recipient that has chunks waiting for its ack before it is removed
    /// from that transfer (never from the chat).
    pub file_ack_timeout: Duration,
    /// File-frame bytes one connection may send per second, and in a burst, apart from
    /// its message budget; each file frame counts at least `file_frame_min_cost`.
    pub file_bytes_per_second: f64,
    pub file_byte_burst: f64,
    pub file_frame_min_cost: usize,
    /// Declared bytes of all transfers in progress, server-wide: new offers beyond it
    /// are refused (`file-busy`).
    pub max_file_bytes_in_flight: u64,
    /// Transfers one connection may have in progress as their sender.
    pub max_transfers_per_connection: usize,
    /// Names whose last key the console remembers (`/verify`, the warning when a name
    /// comes back with another key); past it the longest unseen is forgotten.
    pub remembered_names: usize,
    /// How long a version-2 1:1 message to a user who left is held for its key to come
    /// back (`--hold-for`; zero: not held). Memory only.
    pub hold_for: Duration,
    /// Frames and bytes held for one departed key: one absence cannot take the whole hold.
    pub held_per_user_frames: usize,
    pub held_per_user_bytes: usize,
    /// Bytes held from one sending key, for all recipients: one sender cannot take the
    /// whole hold either.
    pub held_per_sender_bytes: usize,
    /// Bytes held for all departed keys together.
    pub held_total_bytes: usize,
    /// Departed keys remembered for the hold; past it the one that left first is
    /// forgotten (its senders are told, as when its window ends).
    pub held_departed_keys: usize,
    /// Version-2 users listed to everybody (`--list-size`); the others are found by
    /// name. Telling everybody of every join costs O(N²) over N joins (PROTOCOL.md,
    /// "Large rooms").
    pub list_size: usize,
    /// Unlisted users one member follows (found or asked the key of): their departures
    /// are announced to it; past it the oldest is no longer followed.
    pub looked_up_per_member: usize,
    /// Users one `chat-find` answer lists.
    pub found_per_request: usize,
    /// Least time between two announcements of a changed room size alone: joins of
    /// unlisted users change nothing else, and one frame to everybody per join would
    /// be the O(N²) again.
    pub count_every: Duration,
}

/// Bytes of the text of one `/qr.svg` QR code, after percent-decoding: a link with its
/// fingerprint is ~120; 256 keeps the code small (version 10 at most) and its encoding
/// ~3 ms of the event loop (1,024 bytes would cost ~10 ms).
pub const MAX_QR_TEXT_BYTES: usize = 256;

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_head_bytes: 8 * 1024,
            max_headers: 32,
            head_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            max_message_bytes: 128 * 1024,
            max_text_bytes: 64 * 1024,
            max_keyids_per_request: 64,
            legacy_keys_kept: 8,
            ping_after: Duration::from_secs(30),
            pong_timeout: Duration::from_secs(30),
            join_timeout: Duration::from_secs(30),
            close_timeout: Duration::from_secs(5),
            max_connections: 16_384,
            max_connections_per_address: 64,
            connections_per_second_per_address: 20.0,
            connection_burst_per_address: 50.0,
            tunnel_max_connections: 16_384 / 4,
            tunnel_connections_per_second: 50.0,
            tunnel_connection_burst: 125.0,
            messages_per_second: 5.0,
            message_burst: 20.0,
            rejoins_per_second: 0.2,
            rejoin_burst: 5.0,
            remembered_keys: 4096,
            remember_for: Duration::from_secs(600),
            welcome_signatures_per_second: 20.0,
            welcome_signature_burst: 20.0,
            max_private_jobs: 512,
            max_waiting_for_admin_per_sender: 20,
            max_queued_bytes: 1024 * 1024,
            max_console_line: 16 * 1024,
            kick_for: Duration::from_secs(600),
            max_file_bytes: 25 * 1024 * 1024,
            max_file_chunk_bytes: 48 * 1024,
            file_window: 4,
            file_ack_timeout: Duration::from_secs(20),
            file_bytes_per_second: 4.0 * 1024.0 * 1024.0,
            file_byte_burst: 256.0 * 1024.0,
            file_frame_min_cost: 1024,
            max_file_bytes_in_flight: 64 * 1024 * 1024,
            max_transfers_per_connection: 8,
            remembered_names: 4096,
            hold_for: Duration::from_secs(600),
            held_per_user_frames: 50,
            held_per_user_bytes: 1024 * 1024,
            held_per_sender_bytes: 2 * 1024 * 1024,
            held_total_bytes: 16 * 1024 * 1024,
            held_departed_keys: 4096,
            list_size: 256,
            looked_up_per_member: 256,
            found_per_request: 20,
            count_every: Duration::from_millis(500),
        }
    }
}
