use std::time::{Duration, Instant};

use super::*;

const ALICE: ConnId = 1;
const BOB: ConnId = 2;
const CAROL: ConnId = 3;

fn offer(tid: &str, size: u64, chunks: u64) -> Offer {
    Offer {
        tid: tid.to_string(),
        size,
        chunks,
    }
}

fn frame(seq: u32) -> FrameText {
    FrameText::from(format!("chunk {seq}"))
}

/// A transfer of `chunks` 1 KiB chunks from alice to bob and carol.
fn started(chunks: u64, now: Instant) -> (Transfers, Limits) {
    let limits = Limits::default();
    let mut t = Transfers::default();
    let o = offer("f1", chunks * 1024, chunks);
    t.check_offer(ALICE, "alice", &o, &limits).unwrap();
    let to = vec![(BOB, "bob".to_string()), (CAROL, "carol".to_string())];
    t.start(ALICE, "alice", &o, to, &limits, now);
    (t, limits)
}

fn send(t: &mut Transfers, limits: &Limits, seq: u32, now: Instant) -> Chunk {
    t.chunk(
        ALICE,
        "alice",
        "f1",
        u64::from(seq),
        100,
        frame(seq),
        limits,
        now,
    )
}

fn notes(t: &mut Transfers) -> Vec<Note> {
    t.drain_notes().collect()
}

#[test]
fn offers_over_the_cap_or_with_impossible_chunks_are_refused() {
    let limits = Limits::default();
    let t = Transfers::default();
    let cap = limits.max_file_bytes;
    let chunk = limits.max_file_chunk_bytes;
    let check = |o: Offer| t.check_offer(ALICE, "alice", &o, &limits);
    assert_eq!(check(offer("a", cap, cap.div_ceil(chunk))), Ok(()));
    assert_eq!(
        check(offer("a", cap + 1, (cap + 1).div_ceil(chunk))),
        Err(Refusal::TooLarge)
    );
    // Fewer chunks than the largest chunk size allows, more chunks than bytes.
    assert_eq!(check(offer("a", 10 * chunk, 9)), Err(Refusal::TooLarge));
    assert_eq!(check(offer("a", 3, 4)), Err(Refusal::TooLarge));
    assert_eq!(check(offer("a", 0, 1)), Ok(()));
    assert_eq!(check(offer("a", 0, 0)), Err(Refusal::TooLarge));
    assert_eq!(check(offer("a b", 1, 1)), Err(Refusal::Tid));
    assert_eq!(check(offer("", 1, 1)), Err(Refusal::Tid));
}

#[test]
fn bytes_in_flight_and_transfers_per_sender_are_bounded() {
    let now = Instant::now();
    let limits = Limits {
        max_file_bytes_in_flight: 4000,
        max_file_chunk_bytes: 1000,
        max_transfers_per_connection: 2,
        ..Limits::default()
    };
    let mut t = Transfers::default();
    let bob = || vec![(BOB, "bob".to_string())];
    let o = offer("f1", 2000, 2);
    assert_eq!(t.check_offer(ALICE, "alice", &o, &limits), Ok(()));
    t.start(ALICE, "alice", &o, bob(), &limits, now);
    assert_eq!(
        t.check_offer(ALICE, "alice", &o, &limits),
        Err(Refusal::Tid),
        "a tid in progress"
    );
    let big = offer("f2", 2001, 3);
    assert_eq!(
        t.check_offer(CAROL, "carol", &big, &limits),
        Err(Refusal::Busy)
    );
    let small = offer("f2", 1000, 1);
    t.start(ALICE, "alice", &small, bob(), &limits, now);
    // An empty file counts as a chunk.
    let third = offer("f3", 0, 1);
    assert_eq!(
        t.check_offer(ALICE, "alice", &third, &limits),
        Err(Refusal::Busy)
    );
    assert_eq!(t.check_offer(CAROL, "carol", &third, &limits), Ok(()));
    assert_eq!(
        t.check_offer(CAROL, "carol", &offer("c", 3000, 3), &limits),
        Err(Refusal::Busy)
    );
    // Delivered: its bytes are free again.
    for seq in 0..2 {
        assert!(matches!(send(&mut t, &limits, seq, now), Chunk::Relay(_)));
        t.ack(BOB, "alice", "f1", u64::from(seq), &limits, now);
    }
    assert_eq!(
        t.check_offer(CAROL, "carol", &offer("c", 3000, 3), &limits),
        Ok(())
    );
}

#[test]
fn the_sender_is_held_to_the_slowest_recipient_by_the_window() {
    let now = Instant::now();
    let (mut t, limits) = started(10, now);
    let window = limits.file_window;
    for seq in 0..window {
        assert_eq!(
            send(&mut t, &limits, seq, now),
            Chunk::Relay(vec![BOB, CAROL])
        );
    }
    assert_eq!(send(&mut t, &limits, window, now), Chunk::Held);
    assert!(t.is_holding(ALICE));
    // Bob keeps up; carol does not: nothing moves.
    for seq in 0..window {
        t.ack(BOB, "alice", "f1", u64::from(seq), &limits, now);
    }
    assert_eq!(notes(&mut t), vec![]);
    // Carol acks one: the window moves by one and the held chunk goes out.
    t.ack(CAROL, "alice", "f1", 0, &limits, now);
    assert_eq!(
        notes(&mut t),
        vec![
            Note::Window {
                sender: ALICE,
                tid: "f1".into(),
                acked: 1
            },
            Note::Relay {
                to: vec![BOB, CAROL],
                frame: frame(window)
            },
            Note::Resume { conn: ALICE },
        ]
    );
    assert!(!t.is_holding(ALICE));
}

#[test]
fn acks_out_of_order_or_for_chunks_not_relayed_are_ignored() {
    let now = Instant::now();
    let (mut t, limits) = started(3, now);
    send(&mut t, &limits, 0, now);
    t.ack(BOB, "alice", "f1", 1, &limits, now);
    t.ack(BOB, "alice", "f1", 0, &limits, now);
    t.ack(BOB, "alice", "f1", 0, &limits, now);
    t.ack(BOB, "alice", "f1", 1, &limits, now);
    t.ack(CAROL, "mallory", "f1", 0, &limits, now);
    t.ack(7, "alice", "f1", 0, &limits, now);
    assert_eq!(notes(&mut t), vec![]);
    t.ack(CAROL, "alice", "f1", 0, &limits, now);
    assert_eq!(
        notes(&mut t),
        vec![Note::Window {
            sender: ALICE,
            tid: "f1".into(),
            acked: 1
        }]
    );
}

#[test]
fn the_last_ack_delivers_and_the_transfer_ends_with_its_last_recipient() {
    let now = Instant::now();
    let (mut t, limits) = started(2, now);
    send(&mut t, &limits, 0, now);
    send(&mut t, &limits, 1, now);
    for seq in 0..2 {
        t.ack(BOB, "alice", "f1", seq, &limits, now);
    }
    let delivered = |to: &str| Note::Status {
        sender: ALICE,
        tid: "f1".into(),
        to: to.into(),
        state: State::Delivered,
        reason: None,
    };
    assert_eq!(notes(&mut t), vec![delivered("bob")]);
    for seq in 0..2 {
        t.ack(CAROL, "alice", "f1", seq, &limits, now);
    }
    let window = Note::Window {
        sender: ALICE,
        tid: "f1".into(),
        acked: 1,
    };
    assert_eq!(notes(&mut t), vec![window, delivered("carol")]);
    assert_eq!(t.count(), 0);
    assert_eq!(send(&mut t, &limits, 2, now), Chunk::Dropped);
}

#[test]
fn a_recipient_that_stops_acking_is_removed_and_the_others_go_on() {
    let now = Instant::now();
    let (mut t, limits) = started(10, now);
    for seq in 0..limits.file_window {
        send(&mut t, &limits, seq, now);
    }
    assert_eq!(send(&mut t, &limits, limits.file_window, now), Chunk::Held);
    let later = now + Duration::from_secs(5);
    for seq in 0..limits.file_window {
        t.ack(BOB, "alice", "f1", u64::from(seq), &limits, later);
    }
    notes(&mut t);
    let due = t.poll_timeout(&limits).unwrap();
    assert_eq!(
        due,
        now + limits.file_ack_timeout,
        "carol owes since the start"
    );
    t.handle_timeout(&limits, due - Duration::from_millis(1));
    assert_eq!(notes(&mut t), vec![]);
    t.handle_timeout(&limits, due);
    let got = notes(&mut t);
    assert!(matches!(&got[0], Note::Cancel { to: CAROL, from, .. } if from == "alice"));
    assert!(matches!(
        &got[1],
        Note::Status { to, state: State::Failed, reason: Some(r), .. }
            if to == "carol" && r == "carol did not keep up: the file was not delivered to carol."
    ));
    // Carol's departure from the transfer moves the window to bob's pace.
    assert!(got.contains(&Note::Window {
        sender: ALICE,
        tid: "f1".into(),
        acked: limits.file_window
    }));
    assert!(got.contains(&Note::Relay {
        to: vec![BOB],
        frame: frame(limits.file_window)
    }));
    assert!(got.contains(&Note::Resume { conn: ALICE }));
}

#[test]
fn a_chunk_out_of_order_or_too_large_ends_the_transfer_for_everybody() {
    let now = Instant::now();
    let (mut t, limits) = started(4, now);
    send(&mut t, &limits, 0, now);
    assert_eq!(send(&mut t, &limits, 2, now), Chunk::Ended);
    let got = notes(&mut t);
    assert_eq!(got.len(), 4, "two cancels, two statuses: {got:?}");
    assert!(
        got.iter()
            .any(|n| matches!(n, Note::Cancel { to: BOB, .. }))
    );
    assert!(
        got.iter()
            .any(|n| matches!(n, Note::Status { to, state: State::Failed, .. } if to == "carol"))
    );
    assert_eq!(t.count(), 0);

    let (mut t, limits) = started(4, now);
    let too_long = max_chunk_b64(&limits) + 1;
    let got = t.chunk(ALICE, "alice", "f1", 0, too_long, frame(0), &limits, now);
    assert_eq!(got, Chunk::Ended);
}

#[test]
fn only_the_sender_sends_and_cancels_its_chunks() {
    let now = Instant::now();
    let (mut t, limits) = started(4, now);
    let got = t.chunk(BOB, "alice", "f1", 0, 10, frame(0), &limits, now);
    assert_eq!(got, Chunk::Dropped);
    t.cancel_by_sender(BOB, "alice", "f1", "no");
    assert_eq!(t.count(), 1);
    t.cancel_by_sender(ALICE, "alice", "f1", "changed my mind");
    let got = notes(&mut t);
    assert_eq!(got.len(), 2);
    assert!(
        got.iter()
            .all(|n| matches!(n, Note::Cancel { reason, .. } if reason == "changed my mind"))
    );
    assert_eq!(t.count(), 0);
}

#[test]
fn a_recipient_cancels_for_itself_only() {
    let now = Instant::now();
    let (mut t, limits) = started(4, now);
    send(&mut t, &limits, 0, now);
    t.ack(BOB, "alice", "f1", 0, &limits, now);
    t.cancel_by_recipient(CAROL, "alice", "f1", &limits, now);
    let got = notes(&mut t);
    assert_eq!(
        got[0],
        Note::Status {
            sender: ALICE,
            tid: "f1".into(),
            to: "carol".into(),
            state: State::Cancelled,
            reason: Some("carol cancelled the file.".into())
        }
    );
    assert_eq!(
        got[1],
        Note::Window {
            sender: ALICE,
            tid: "f1".into(),
            acked: 1
        }
    );
    assert_eq!(send(&mut t, &limits, 1, now), Chunk::Relay(vec![BOB]));
}

#[test]
fn departures_cancel_what_was_sent_and_leave_what_was_received() {
    let now = Instant::now();
    let (mut t, limits) = started(4, now);
    t.gone(BOB, Some("bob"), &limits, now);
    let got = notes(&mut t);
    assert!(matches!(
        &got[0],
        Note::Status { to, state: State::Failed, reason: Some(r), .. }
            if to == "bob" && r == "bob left: the file was not delivered to bob."
    ));
    assert_eq!(t.count(), 1);
    send(&mut t, &limits, 0, now);
    for seq in 1..=limits.file_window {
        send(&mut t, &limits, seq, now);
    }
    assert!(t.is_holding(ALICE));
    t.gone(ALICE, Some("alice"), &limits, now);
    let got = notes(&mut t);
    assert_eq!(
        got,
        vec![
            Note::Cancel {
                to: CAROL,
                from: "alice".into(),
                tid: "f1".into(),
                reason: "alice left before the file was sent.".into()
            },
            Note::Resume { conn: ALICE },
        ]
    );
    assert_eq!(t.count(), 0);
}

#[test]
fn the_file_budget_pauses_a_connection_that_sends_faster_than_it() {
    let now = Instant::now();
    let limits = Limits::default();
    let mut t = Transfers::default();
    assert_eq!(t.budget_ready_at(ALICE, now), None);
    let burst = limits.file_byte_burst as usize;
    t.charge(ALICE, burst, &limits, now);
    let at = t.budget_ready_at(ALICE, now).expect("empty");
    assert!(at > now && at < now + Duration::from_millis(10), "{at:?}");
    // Tiny frames count as at least the minimum cost.
    let mut t = Transfers::default();
    for _ in 0..burst / limits.file_frame_min_cost {
        t.charge(BOB, 1, &limits, now);
    }
    assert!(t.budget_ready_at(BOB, now).is_some());
}

#[test]
fn a_sender_that_stops_sending_ends_its_transfer_but_not_while_the_window_is_full() {
    let now = Instant::now();
    let (mut t, limits) = started(10, now);
    let timeout = limits.file_ack_timeout;
    assert_eq!(t.poll_timeout(&limits), Some(now + timeout));
    for seq in 0..limits.file_window {
        send(&mut t, &limits, seq, now);
    }
    // The window is full: only the recipients are due.
    let later = now + timeout / 2;
    for seq in 0..limits.file_window {
        t.ack(BOB, "alice", "f1", u64::from(seq), &limits, later);
        t.ack(CAROL, "alice", "f1", u64::from(seq), &limits, later);
    }
    notes(&mut t);
    // The window moved at `later`: the sender may send, and has until then + timeout.
    assert_eq!(t.poll_timeout(&limits), Some(later + timeout));
    t.handle_timeout(&limits, later + timeout);
    let got = notes(&mut t);
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(
        got.iter()
            .any(|n| matches!(n, Note::Cancel { to: BOB, reason, .. }
        if reason == "alice's client stopped sending the file."))
    );
    assert_eq!(t.count(), 0);
}

#[test]
fn empty_files_count_as_a_chunk_in_flight() {
    let now = Instant::now();
    let limits = Limits {
        max_file_bytes_in_flight: 2 * 48 * 1024,
        ..Limits::default()
    };
    let mut t = Transfers::default();
    for (i, who) in [(ALICE, "alice"), (BOB, "bob")] {
        let o = offer("e", 0, 1);
        assert_eq!(t.check_offer(i, who, &o, &limits), Ok(()));
        t.start(i, who, &o, vec![(CAROL, "carol".into())], &limits, now);
    }
    let o = offer("e", 0, 1);
    assert_eq!(
        t.check_offer(CAROL, "carol", &o, &limits),
        Err(Refusal::Busy)
    );
}
